#pragma once
// `plexus train MODEL.toml` for models whose [train] rule is "tempotron" (sim/tempotron_trainer).
#include <string>

#include "plexus/comm/communicator.hpp"
#include "plexus/model/network.hpp"

namespace plexus::app {

struct TempotronCli {
  std::string model;   // the model file, for messages
  std::string output;  // empty: results/<model name>.h5
  int threads = 0;     // 0: OMP_NUM_THREADS if set, else 1
  bool quiet = false;
};

// Trains, prints the summary table on rank 0 and returns the exit code.
int train_tempotron(const model::Network& net, comm::Communicator& comm, const TempotronCli& cli);

}  // namespace plexus::app
