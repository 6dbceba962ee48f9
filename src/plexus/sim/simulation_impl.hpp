#pragma once
// The simulation's rank-local state, shared by the step loop (simulation.cpp) and the trainer
// (trainer.cpp). Private to the sim module.
#include <atomic>
#include <chrono>
#include <exception>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "plexus/comm/communicator.hpp"
#include "plexus/core/error.hpp"
#include "plexus/core/rng.hpp"
#include "plexus/io/result_file.hpp"
#include "plexus/model/network.hpp"
#include "plexus/neuron/population.hpp"
#include "plexus/partition/partition.hpp"
#include "plexus/sim/recorder.hpp"
#include "plexus/sim/simulation.hpp"
#include "plexus/synapse/projection.hpp"
#include "plexus/synapse/stdp.hpp"

namespace plexus::task {
class Task;
}

namespace plexus::sim {

constexpr std::size_t kMaxReceptors = 8;  // per neuron model

// Runs `f` on every rank; if it throws on any rank, every rank throws the first failing rank's
// error. Without this, a rank that failed alone would leave the others waiting in a collective.
template <class F>
inline void agree(comm::Communicator& comm, F&& f) {
  std::string message;
  int kind = 0;  // 0 ok, 1 user error, 2 other
  try {
    f();
  } catch (const UserError& e) {
    message = e.what();
    kind = 1;
  } catch (const std::exception& e) {
    message = e.what();
    kind = 2;
  }
  const auto kinds = comm.allgather(static_cast<std::uint64_t>(kind));
  int first = -1;
  for (int r = 0; r < comm.size(); ++r)
    if (kinds[r] != 0) {
      first = r;
      break;
    }
  if (first < 0) return;
  comm.broadcast(message, first);
  if (kinds[first] == 1) throw UserError(message);
  throw std::runtime_error(message);
}

namespace detail {
struct PopState {
  const model::PopulationSpec* spec = nullptr;
  const neuron::ModelInfo* info = nullptr;
  std::unique_ptr<neuron::Population> model;
  partition::IdRange local;
  std::vector<partition::IdRange> blocks;  // local index ranges per thread
  std::vector<synapse::RingBuffer> rings;  // per receptor
  std::vector<double> spikes;              // z of the last step, per local neuron
  std::vector<double> i_ext;               // external current (zeros if none); empty if the model takes none
  bool has_current = false;
  std::vector<int> outgoing;  // static projections whose source is this population
  std::uint64_t spikes_total = 0;
  bool generator() const { return info->phase == neuron::Phase::Generator; }
  bool readout() const { return info->phase == neuron::Phase::Readout; }
};

struct Drive {  // independent Poisson input per target neuron
  int index = 0;
  int pop = 0;
  int receptor = 0;
  rng::Poisson sampler{0.0};  // counts per step
  double weight = 0.0;
  Step start = 0, stop = 0;
  std::vector<std::uint8_t> mask;  // per local neuron; empty: all
};

struct CurrentStep {
  int pop = 0;
  double amplitude = 0.0;
  Step start = 0, stop = 0;
  std::vector<std::uint8_t> mask;
};
}  // namespace detail

// Learning rules hook into phase 7 of the step (see simulation.cpp): `serial` runs on the master
// thread once all readouts of the step are known, then `parallel` on every thread.
struct LearnHook {
  std::function<void(Step)> serial;
  std::function<void(Step, int)> parallel;
};

struct Simulation::Impl {
  using PopState = detail::PopState;
  using Drive = detail::Drive;
  using CurrentStep = detail::CurrentStep;
  const model::Network& net;
  comm::Communicator& comm;
  Options opt;
  int T = 1;
  std::unique_ptr<partition::Partition> part;
  std::vector<PopState> pops;
  std::vector<synapse::Projection> projs;
  std::vector<synapse::Stdp> stdp;  // plastic projections (their own path in phase 5)
  std::vector<Drive> drives;
  std::vector<CurrentStep> currents;
  std::set<Step> current_changes;
  std::vector<int> gen_pops, update_pops, readout_pops;
  Step t = 0;
  double build_seconds = 0.0, wall_seconds = 0.0;
  // Progress line over the whole run (stepped in pieces when checkpointing).
  Step progress_first = -1;
  std::chrono::steady_clock::time_point progress_start{}, progress_last{};

  // Per-step scratch.
  std::vector<std::vector<std::vector<Gid>>> thread_spikes;  // [thread][population]
  std::vector<Gid> local_spikes, global_spikes, gen_spikes, all_spikes;

  std::unique_ptr<io::ResultFile> file;
  std::unique_ptr<Recorder> recorder;

  // Dry runs: estimated spike probability per neuron and step, per population.
  std::vector<double> dry_rate;

  // Training: the task whose trial feeds task_input populations, and the learning rule's hook.
  task::Task* task = nullptr;
  LearnHook learn;
  // Key of the current trial (0 outside training), mixed into the random numbers of spike sources
  // and Poisson drives so that each trial has its own noise.
  std::uint64_t trial_key = 0;

  Impl(const model::Network& n, comm::Communicator& c, Options o) : net(n), comm(c), opt(std::move(o)) {}

  void build();
  neuron::Setup setup_of(std::size_t p);
  // Back to the initial state for a new trial: neuron state, delay buffers and spikes; t = 0.
  void reset_trial();
  void build_inputs();
  void setup_recording();
  void recompute_currents(Step at, int thread);
  // Steps up to `end`; `flush_at_end`: write the recording buffers after the last step.
  void step_range(Step end, bool flush_at_end = true);
  void synthesise(int other, std::vector<Gid>& out);

  // Checkpoints (sim/checkpointing.cpp).
  std::vector<checkpoint::Component*> checkpoint_components;
  double wall_before = 0.0;  // stepping time of the earlier parts of a resumed run
  std::int64_t resumes = 0;
  bool stopped = false;
  int stop_signal = 0;
  std::filesystem::path last_checkpoint;
  checkpoint::Slice neuron_slice(int p) const;
  checkpoint::Slice synapse_slice(int proj) const;
  void save_state(checkpoint::Writer& w);
  void load_state(const checkpoint::Reader& r);
  checkpoint::Written write_checkpoint(const std::string& reason, std::int64_t position = -1);
  // Runs to the end with checkpoints as configured; returns early (stopped) after a stop signal.
  void run_with_checkpoints();
};

}  // namespace plexus::sim
