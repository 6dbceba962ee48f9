#pragma once
// `plexus train MODEL.toml` for models with [train] rule = "force" (sim/force_trainer.hpp).
#include <string>

#include "plexus/comm/communicator.hpp"
#include "plexus/model/network.hpp"

namespace plexus::app {

struct ForceArgs {
  std::string output;  // empty: results/<model>.h5
  int threads = 0;     // 0: OMP_NUM_THREADS if set, else 1
  bool quiet = false;
};

// Trains, prints the metrics on rank 0, writes the result file; returns the exit code.
int train_force(const model::Network& net, const ForceArgs& args, comm::Communicator& comm);

}  // namespace plexus::app
