#pragma once
// A simulation: the rank-local state built from a network description, stepped through time.
// Owns the populations, synapses, delay buffers, inputs and recorders of this rank.
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "plexus/checkpoint/checkpoint.hpp"
#include "plexus/comm/communicator.hpp"
#include "plexus/core/memory.hpp"
#include "plexus/model/network.hpp"

namespace plexus::sim {

// When a run writes checkpoints (docs/checkpoint.md).
struct CheckpointOptions {
  std::filesystem::path dir;
  Step every_steps = 0;             // 0: not by simulated time
  double every_wall_seconds = 0.0;  // 0: not by wall-clock time
  std::string every_text;           // as the user gave it, kept in the checkpoint for `resume`
  int keep = 2;                     // newest checkpoints kept
  // Checkpoint and stop at this step, as on a stop signal (-1: never); for splitting a run by hand.
  Step stop_at_step = -1;
  // Steps between the (collective) checks for stop signals and wall-clock checkpoints.
  Step poll_steps = 10;
  std::string command = "run";  // recorded in the checkpoint: which command resumes it
};

struct Options {
  int threads = 1;
  // Result file; none: nothing is written.
  std::optional<std::filesystem::path> output;
  // Progress line on rank 0 (to `log`) at most every `progress_seconds` of wall time.
  bool progress = false;
  double progress_seconds = 2.0;
  std::ostream* log = nullptr;
  // Checkpoints at step boundaries, and on SIGTERM/SIGUSR1 (see checkpoint::install_stop_handlers):
  // a checkpoint, then run() returns with Summary::stopped.
  std::optional<CheckpointOptions> checkpoint;
  // Continue from this checkpoint instead of starting at step 0; the result file (`output`) is taken
  // up where the checkpoint left it. Must stay alive while components are registered.
  const checkpoint::Snapshot* resume = nullptr;
};

struct PopulationSummary {
  std::string name;
  std::string model;
  Gid size = 0;
  bool spiking = true;
  std::uint64_t spikes = 0;  // over the whole network and run
  double rate_hz = 0.0;
};

struct Summary {
  Step steps = 0;
  double simulated_ms = 0.0;
  double wall_seconds = 0.0;   // stepping only (rank 0)
  double build_seconds = 0.0;  // building the network (rank 0)
  std::uint64_t synapses = 0;  // whole network
  std::vector<PopulationSummary> populations;
  std::vector<std::uint64_t> peak_rss_bytes;  // per rank
  std::vector<std::uint64_t> synapse_bytes;   // per rank
  std::vector<std::uint64_t> local_synapses;  // per rank
  double exchange_seconds = 0.0;              // rank 0
  int ranks = 1;
  int threads = 1;
  // Checkpoints.
  bool stopped = false;  // stopped by a signal after a checkpoint; the result file is not finished
  int stop_signal = 0;
  std::filesystem::path last_checkpoint;
  Step resumed_from = -1;  // step of the checkpoint this run continued from (-1: none)
};

class Simulation {
 public:
  // Builds this rank's part of the network. Throws ConfigError/UserError, on every rank alike, for
  // anything wrong with the description, before any output is created.
  Simulation(const model::Network& net, comm::Communicator& comm, Options options);
  ~Simulation();
  Simulation(const Simulation&) = delete;
  Simulation& operator=(const Simulation&) = delete;

  // Advances to step `end` (exclusive), recording as configured.
  void run_until(Step end);
  // Runs to the end of the configured duration, then writes the summary into the result file
  // and commits it (renames it to its final name).
  Summary run();

  Step now() const;
  Summary summary() const;
  // Bytes held by this rank, by kind.
  memory::Ledger memory() const;

  // Checkpoint extension point: `c` is saved and restored with the simulation's own state (after
  // it, in order of registration). If this simulation was resumed from a checkpoint, c.load() is
  // called at once.
  void add_checkpoint_component(checkpoint::Component& c);
  // This rank's part of a per-neuron array of a population (population-local ids) and of a
  // per-synapse array of a projection (synapses in (target, source) order), for Writer/Reader.
  checkpoint::Slice neuron_slice(int population) const;
  checkpoint::Slice synapse_slice(int projection) const;
  // Collective, between steps: writes a checkpoint now (needs Options::checkpoint).
  // `position` names the checkpoint and orders it among the others (default: the step; a trainer
  // gives the iteration, since every checkpoint of a training run is taken at the same step).
  checkpoint::Written write_checkpoint(const std::string& reason, std::int64_t position = -1);

  // Read access for tests: a state variable of the neurons this rank holds, and their local range.
  const double* variable(const std::string& population, const std::string& name) const;
  std::uint64_t spike_count(const std::string& population) const;

  struct Impl;

 private:
  friend class Trainer;
  friend class ForceTrainer;
  std::unique_ptr<Impl> impl_;
};

}  // namespace plexus::sim
