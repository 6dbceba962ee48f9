#pragma once
// A simulation: the rank-local state built from a network description, stepped through time.
// Owns the populations, synapses, delay buffers, inputs and recorders of this rank.
//
// Drivers above the engine (the run kinds of train/: plain runs, gradient training, FORCE) use the
// public interface below only: the populations and projections as this rank holds them, a step
// hook that runs in phase 7 of every step (see step.cpp for the schedule) with a read-only view
// of the step, trials (back to the initial state with new per-trial noise and task input), and the
// simulation's state as a checkpoint component.
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "plexus/checkpoint/checkpoint.hpp"
#include "plexus/comm/communicator.hpp"
#include "plexus/core/memory.hpp"
#include "plexus/model/network.hpp"
#include "plexus/neuron/population.hpp"
#include "plexus/partition/partition.hpp"
#include "plexus/synapse/projection.hpp"

namespace plexus::io {
class ResultFile;
}
namespace plexus::task {
class Task;
}

namespace plexus::sim {

struct Options {
  int threads = 1;  // OpenMP threads, each advancing its own block of every population
  // Trial mode (0: off): this many instances of the network's state over the shared projections, each
  // advanced whole by one thread (run_trials()); every population and synapse store then has one
  // block. Off, one instance whose populations are split into `threads` blocks.
  int trial_instances = 0;
  // Called on the master thread with the number of steps done, at most every 256 steps and after
  // the last step of every run_until(); the run shell turns it into the progress line.
  std::function<void(Step)> progress;
};

// A population as this rank holds it (fixed for the run; the state is in model()).
struct PopulationInfo {
  const model::PopulationSpec* spec = nullptr;
  const neuron::ModelInfo* info = nullptr;
  partition::IdRange local;                // population-local ids held on this rank
  std::vector<partition::IdRange> blocks;  // local index ranges, one per thread block
  bool replicated = false;                 // every rank holds all of it (spike sources, readouts)
  bool generator() const { return info->phase == neuron::Phase::Generator; }
  bool readout() const { return info->phase == neuron::Phase::Readout; }
};

class Simulation;

// What a step hook sees of step t, after the readouts of the step (phase 7).
struct StepView {
  Step t = 0;
  // Spikes of step t, sorted by gid: of the updated populations (every rank's neurons: the
  // exchange gives every rank all of them), and of the spike sources (computed on every rank).
  std::span<const Gid> spikes;
  std::span<const Gid> source_spikes;
  const Simulation* simulation = nullptr;
  int instance = 0;  // which trial instance (trial mode; 0 otherwise)
};

// A learning driver's part of every step (phase 7): serial() on one thread once every readout value
// of the step is known, then parallel() for every block of every population (in neuron mode each
// thread its own block; in trial mode the instance's thread, one block). Each instance has its own
// hook. A hook may read the step and the populations' state, change the weights of the
// synapses onto its own block, and write the external current of its own block (read by the next
// step's update).
class StepHook {
 public:
  virtual ~StepHook() = default;
  virtual void serial(const StepView& step) = 0;
  virtual void parallel(const StepView& step, int block) = 0;
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
  double wall_seconds = 0.0;   // stepping only (rank 0), over all parts of a resumed run
  double build_seconds = 0.0;  // building the network (rank 0)
  std::uint64_t synapses = 0;  // whole network
  std::vector<PopulationSummary> populations;
  std::vector<std::uint64_t> synapse_bytes;   // per rank
  std::vector<std::uint64_t> local_synapses;  // per rank
  double exchange_seconds = 0.0;              // rank 0
  int ranks = 1;
  int threads = 1;
};

class Simulation {
 public:
  // Builds this rank's part of the network. Throws ConfigError/UserError, on every rank alike, for
  // anything wrong with the description (recording included), before any output is created.
  Simulation(const model::Network& net, comm::Communicator& comm, Options options);
  ~Simulation();
  Simulation(const Simulation&) = delete;
  Simulation& operator=(const Simulation&) = delete;

  // --- structure --------------------------------------------------------------------------------
  const model::Network& network() const;
  comm::Communicator& comm() const;
  int threads() const;  // OpenMP threads
  int blocks() const;   // thread blocks of every population and synapse store (1 in trial mode)
  const std::vector<PopulationInfo>& populations() const;
  // The state of a population as it is now, in an instance. Trials make models anew: ask again after
  // begin_trial.
  const neuron::Population& model(int population, int instance = 0) const;
  // Trial mode: the number of instances (1 otherwise), and whether the simulation is in it.
  int instances() const;
  bool trial_mode() const;
  // This rank's synapses of a projection (a learning rule changes the weights between steps, or in
  // its hook for the synapses onto its own block).
  synapse::Projection& projection(int index);
  const synapse::Projection& projection(int index) const;
  // The external current of a population's local neurons (model with a current_unit()), read by the
  // update of the next step; empty if the model takes none. The current steps of [inputs] are
  // recomputed at their start and stop steps, so a driver that writes it must not add current steps
  // to the same population.
  std::span<double> external_current(int population, int instance = 0);

  // --- stepping ---------------------------------------------------------------------------------
  Step now() const;
  // Advances to step `end` (exclusive), recording as configured.
  void run_until(Step end);
  // The driver's part of phase 7 for an instance (none: nullptr).
  void set_hook(StepHook* hook, int instance = 0);
  // A new trial in an instance: every population back to its initial state (a function of the seed
  // and ids, so the same on any partition), delay buffers and spikes cleared, t = 0. Spike sources
  // and Poisson drives mix `trial_key` into their random numbers, so each trial has its own noise;
  // task_input populations read `input` (null: silent).
  void begin_trial(std::uint64_t trial_key, const task::Task* input, int instance = 0);
  // Trial mode: instances `which` (at most threads() of them) advanced concurrently, each by a thread
  // of its own, which first calls prepare(instance) (to begin its trial; it returns the step to run
  // to). Rethrows the first failure.
  void run_trials(const std::vector<int>& which, const std::function<Step(int instance)>& prepare);
  // Every instance back to its initial state (trial key 0, no task) with its spike counts zero: the
  // state between training iterations, which therefore does not depend on how trials were spread
  // over instances (checkpoints taken there are the same for any decomposition).
  void rest();
  // Trial mode on one rank: `count` trials taken by the instances as they become free (each thread
  // steps an instance of its own, and takes the next trial when its last one has ended): prepare(
  // instance, j) begins trial j and returns the step to run to; finish(instance, j) follows its last
  // step. Which instance runs which trial depends on timing: what a driver computes must not.
  void run_queue(int count, const std::function<Step(int instance, int job)>& prepare,
                 const std::function<void(int instance, int job)>& finish);
  // Trial mode: keeps instances [0, n) and releases the others (n >= 1; hooks of released ones go).
  void keep_instances(int n);
  // Bytes of one instance's state (neuron state, delay buffers, spikes), this rank.
  std::uint64_t instance_bytes() const;

  // --- results ----------------------------------------------------------------------------------
  // Records into `file` from now on (spikes, samples, weight snapshots as [record] says) and writes
  // the network's layout into it. Collective. `resume`: the file's datasets are taken up at these
  // lengths (from a checkpoint) instead of being created.
  void record_into(io::ResultFile& file,
                   const std::map<std::string, std::uint64_t>* resume_lengths = nullptr);
  // Collective: the network's layout in the result file (/network/populations/<name> with model,
  // size and first gid; /network/projections/<name> with source, target, synapses, plasticity).
  // record_into() writes it; drivers that record otherwise call it themselves.
  void describe_network(io::ResultFile& file) const;
  // Collective: flushes what the recorder holds, writes the run's summary (spike counts, rates,
  // synapses) into the result file and stops recording into it.
  void finish_recording(const Summary& s);
  // Collective.
  Summary summary() const;
  // Bytes held by this rank, by kind.
  memory::Ledger memory() const;

  // --- checkpoints (sim/checkpointing.cpp) --------------------------------------------------------
  // The simulation's state as a checkpoint component ("sim"): neuron state, delay buffers, spikes,
  // weights, STDP traces and the recorder's position.
  checkpoint::Component& checkpoint_state();
  // This rank's part of a per-neuron array of a population (population-local ids) and of a
  // per-synapse array of a projection (synapses in (target, source) order), for Writer/Reader.
  checkpoint::Slice neuron_slice(int population) const;
  checkpoint::Slice synapse_slice(int projection) const;

  // Read access for tests: a state variable of the neurons this rank holds, and their local range.
  const double* variable(const std::string& population, const std::string& name) const;
  std::uint64_t spike_count(const std::string& population) const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace plexus::sim
