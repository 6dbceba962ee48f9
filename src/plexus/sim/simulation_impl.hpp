#pragma once
// The simulation's rank-local state, shared by the files of the sim module (building, the step
// schedule, checkpoints). Private to the sim module.
#include <atomic>
#include <chrono>
#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "plexus/comm/agree.hpp"
#include "plexus/comm/communicator.hpp"
#include "plexus/core/error.hpp"
#include "plexus/core/rng.hpp"
#include "plexus/io/recorder.hpp"
#include "plexus/io/result_file.hpp"
#include "plexus/model/network.hpp"
#include "plexus/neuron/population.hpp"
#include "plexus/partition/partition.hpp"
#include "plexus/sim/simulation.hpp"
#include "plexus/synapse/projection.hpp"
#include "plexus/synapse/stdp.hpp"

namespace plexus::sim {

constexpr std::size_t kMaxReceptors = 8;  // per neuron model

namespace detail {
// A population's state in one instance on this rank (its fixed part is the PopulationInfo of the
// same index).
struct PopState {
  std::unique_ptr<neuron::Population> model;
  std::vector<synapse::RingBuffer> rings;  // per receptor
  std::vector<double> spikes;              // z of the last step, per local neuron
  std::vector<double> i_ext;               // external current (zeros if none); empty if the model takes none
  std::uint64_t spikes_total = 0;
};

// What one trial owns (decisions/0016): the state of every population, the step's spikes, the
// position and the driver. Projections (topology and weights), inputs and the partition are shared
// by every instance.
struct Instance {
  int index = 0;
  std::vector<PopState> pops;
  std::vector<std::vector<std::vector<Gid>>> block_spikes;  // [block][population]
  std::vector<Gid> local_spikes, global_spikes, gen_spikes, all_spikes;
  Step t = 0;
  // Key of the current trial (0 outside training), mixed into the random numbers of spike sources
  // and Poisson drives so that each trial has its own noise; the task whose trial feeds
  // task_input populations; the driver's hook.
  std::uint64_t trial_key = 0;
  const task::Task* task = nullptr;
  StepHook* hook = nullptr;
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

struct Simulation::Impl {
  using PopState = detail::PopState;
  using Instance = detail::Instance;
  const model::Network& net;
  comm::Communicator& comm;
  Options opt;
  Simulation* self = nullptr;
  int threads = 1;      // OpenMP team
  int blocks = 1;       // thread blocks of every population and synapse store
  bool trials = false;  // trial mode: each thread advances an instance of its own, in one block
  std::unique_ptr<partition::Partition> part;
  std::vector<PopulationInfo> info;                  // per population
  std::vector<std::vector<int>> outgoing;            // per population: static projections whose source it is
  std::vector<char> has_current;                     // per population: [inputs] current steps act on it
  std::vector<std::unique_ptr<Instance>> instances;  // instance 0 always
  std::vector<synapse::Projection> projs;
  std::vector<synapse::Stdp> stdp;  // plastic projections (their own path in phase 5)
  std::vector<detail::Drive> drives;
  std::vector<detail::CurrentStep> currents;
  std::set<Step> current_changes;
  std::vector<int> gen_pops, update_pops, readout_pops;
  Step t = 0;
  double build_seconds = 0.0, wall_seconds = 0.0;
  double wall_before = 0.0;  // stepping time of the earlier parts of a resumed run

  io::ResultFile* file = nullptr;
  std::unique_ptr<io::Recorder> recorder;
  // Restored from a checkpoint, for the recorder that record_into() makes.
  bool resumed = false;
  std::vector<std::int64_t> weights_taken;

  // Dry runs: estimated spike probability per neuron and step, per population.
  std::vector<double> dry_rate;

  // The state as a checkpoint component (checkpointing.cpp).
  std::unique_ptr<checkpoint::Component> state_component;

  Impl(const model::Network& n, comm::Communicator& c, Options o) : net(n), comm(c), opt(std::move(o)) {}

  // Building (build.cpp).
  void build();
  void build_populations();
  void build_projections();
  void build_inputs();
  void add_input(const model::InputSpec& in);
  void check_recording() const;
  neuron::Setup setup_of(std::size_t p, Instance& in);
  std::unique_ptr<Instance> make_instance(int index);
  Instance& main() { return *instances.front(); }
  const Instance& main() const { return *instances.front(); }

  // Trials and currents.
  void reset_trial(Instance& in);
  void recompute_currents(Instance& in, Step at, int block);

  // The step schedule (step.cpp).
  void step_range(Step end, bool flush_at_end);
  void run_trials(const std::vector<int>& which, const std::function<Step(int)>& prepare);
  void run_queue(int count, const std::function<Step(int, int)>& prepare,
                 const std::function<void(int, int)>& finish);
  void synthesise(int other, std::vector<Gid>& out);
  struct Stepping;  // the shared state of one step_range() or run_trials() call
  void step(Stepping& s, Instance& in, Step now, int b);
  void step_trial(Stepping& s, Instance& in, Step now, const std::vector<int>& which);
  void phase_sources(Stepping& s, Instance& in, Step now, int b);
  void phase_drives(Instance& in, Step now, int b);
  void phase_update(Instance& in, Step now, int b);
  void phase_exchange(Stepping& s, Instance& in, Step now);
  void phase_enqueue(Instance& in, Step now, int b);
  bool phase_record(Stepping& s, Instance& in, Step now, int b);
  void enqueue(Instance& in, int b, const std::vector<Gid>& spikes, Step now);
  void advance(Instance& in, std::size_t p, Step now, int b);
  void report_progress(Stepping& s, Step now);

  // Recording.
  std::vector<io::RecordedPopulation> recorded_populations() const;
  void write_layout();

  // Checkpoints (checkpointing.cpp).
  checkpoint::Slice neuron_slice(int p) const;
  checkpoint::Slice synapse_slice(int proj) const;
  void save_state(checkpoint::Writer& w);
  void load_state(const checkpoint::Reader& r);
  void save_delays(checkpoint::Writer& w, std::size_t p);
  void load_delays(const checkpoint::Reader& r, std::size_t p);
};

}  // namespace plexus::sim
