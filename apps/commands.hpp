#pragma once
// The subcommands of `plexus` that are not run kinds (those go through the run shell:
// train/shell.hpp): each in its own file.
#include <string>
#include <vector>

#include "plexus/comm/communicator.hpp"

namespace plexus::app {

struct ScaleArgs {
  std::string model;
  std::vector<std::string> sets;
  int threads = 0;
  int dry_ranks = 0, dry_rank = 0;
  double neurons = 0;
  std::string keep = "indegree";
  int steps = 300;
  std::string json;
};

// plexus scale-test (scale_test.cpp).
int scale_test(const ScaleArgs& a, comm::Communicator& world);
// plexus inspect FILE.h5 | MODEL.toml (inspect.cpp); rank 0 only.
int inspect(const std::string& path, const std::vector<std::string>& sets);
// plexus verify FILE... (verify.cpp): are the files' checksummed datasets intact? With `same_as`: do they
// hold the same record as that file (datasets outside /metadata equal)? rank 0 only.
int verify(const std::vector<std::string>& paths, const std::string& same_as = {});

}  // namespace plexus::app
