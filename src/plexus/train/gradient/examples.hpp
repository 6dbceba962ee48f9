#pragma once
// Example trials for the figures (plexus-plot): one trial of the example stream before and one after
// training, with every spike, the readout values and the membrane potential of a few cells of each
// trained population (evenly spaced), written under /examples/<name> (docs/result-file.md).
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "plexus/core/types.hpp"
#include "plexus/sim/simulation.hpp"
#include "plexus/task/task.hpp"
#include "plexus/train/gradient/objective.hpp"

namespace plexus::io {
class ResultFile;
}

namespace plexus::train::gradient {

class Examples {
 public:
  // `populations`: the trained populations; `cells`: how many of each to keep the potential of;
  // `readouts`: values per step of the readout.
  Examples(const std::vector<int>& populations, std::int64_t cells, std::size_t readouts,
           const model::Network& net);

  bool capturing() const { return on_; }
  void begin();  // the next trial is captured
  // Step t of the captured trial: its spikes (by gid), the readout values, and the potentials.
  void step(Step t, std::span<const Gid> spikes, const double* y, const sim::Simulation& sim);
  // Collective, after the trial: each cell's values come from its own rank of the network's
  // communicator `comm`; then (if `file`) the group /examples/<name>, with rank 0 of the file's
  // communicator (`root`) writing the tables.
  void write(io::ResultFile* file, comm::Communicator& comm, bool root, const std::string& name,
             const sim::Simulation& sim, task::Task& task, const Objective& objective,
             const TrialResult& result, Step steps);

 private:
  const model::Network& net_;
  std::size_t K_;
  bool on_ = false;
  std::vector<std::pair<int, Gid>> cells_;  // (population, population-local id)
  std::vector<double> times_, y_, v_;       // v: steps x cells, own cells only (others zero)
  std::vector<Gid> gids_;
};

}  // namespace plexus::train::gradient
