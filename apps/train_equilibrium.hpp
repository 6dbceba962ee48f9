#pragma once
// `plexus train` for models whose [train] rule is "equilibrium" (SPEC 4.7).
#include <string>

#include "plexus/comm/communicator.hpp"
#include "plexus/model/network.hpp"
#include "plexus/sim/equilibrium_training.hpp"  // sim::uses_equilibrium_rule

namespace plexus::app {

struct EquilibriumArgs {
  std::string output;  // empty: results/<model>.h5
  int threads = 0;     // 0: 1, or OMP_NUM_THREADS when set
  bool quiet = false;
};

// Trains, prints the summary on rank 0, and returns the exit code.
int train_equilibrium(const model::Network& net, const EquilibriumArgs& args, comm::Communicator& comm);

}  // namespace plexus::app
