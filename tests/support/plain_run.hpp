#pragma once
// A plain run as `plexus run` records it, for tests that drive the engine directly: the result file
// (with the run shell's /metadata), the recording, the summary. Without a path, nothing is written.
#include <filesystem>
#include <memory>
#include <optional>

#include "plexus/io/result_file.hpp"
#include "plexus/sim/simulation.hpp"
#include "plexus/train/shell.hpp"

namespace plexus::test {

struct PlainOptions : sim::Options {
  std::optional<std::filesystem::path> output;
};

inline sim::Summary run(sim::Simulation& s, const std::optional<std::filesystem::path>& out = std::nullopt) {
  auto& comm = s.comm();
  const auto& net = s.network();
  std::unique_ptr<io::ResultFile> f;
  if (out) {
    f = std::make_unique<io::ResultFile>(*out, comm);
    train::write_common_metadata(*f, net, comm, s.threads(), "simulate");
    f->attribute("/metadata", "duration_ms", net.run.duration_ms);
    s.record_into(*f);
  }
  s.run_until(net.run.steps);
  const auto sum = s.summary();
  if (f) {
    s.finish_recording(sum);
    f->attribute("/metadata", "wall_time_s", sum.wall_seconds);
    f->commit();
  }
  return sum;
}

inline sim::Summary run_plain(const model::Network& net, comm::Communicator& comm, const PlainOptions& opt) {
  sim::Simulation s(net, comm, opt);
  return run(s, opt.output);
}

}  // namespace plexus::test
