#pragma once
// The gradient driver's state, shared by its files: training.cpp (configuration, the step hook,
// trials), batches.cpp (running trials concurrently, batch groups, the end of a batch), run.cpp (the
// iteration schedule, validation, the result file), state.cpp (checkpoints). Private to
// train/gradient.
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "plexus/comm/communicator.hpp"
#include "plexus/learning/feedback.hpp"
#include "plexus/learning/optimizer.hpp"
#include "plexus/learning/rule.hpp"
#include "plexus/sim/simulation.hpp"
#include "plexus/task/task.hpp"
#include "plexus/train/gradient/examples.hpp"
#include "plexus/train/gradient/objective.hpp"
#include "plexus/train/gradient/settings.hpp"
#include "plexus/train/gradient/training.hpp"
#include "plexus/train/shell.hpp"

namespace plexus::train::gradient {

// Where the schedule is and what the summary says (checkpointed where it must survive a resume).
struct Progress {
  std::int64_t done = 0;  // iterations completed
  double last_loss = 0.0, last_accuracy = 0.0;
  double validation_accuracy = -1.0;  // last validation (-1: none)
  double validation_loss = -1.0;      // its mean loss (the measure of a regression task)
  bool reached_target = false;
  std::int64_t resumed_from = -1;  // iteration this process started at after a resume (-1: none)
};

// One trial to run: its stream and number, whether it learns, and (learning) its place in the batch.
struct Job {
  task::Stream stream = task::Stream::Train;
  std::uint64_t index = 0;
  bool learn = false;
  std::uint64_t k = 0;
};

// How a rank runs its trials (decisions/0016): several at once, one per thread (trials), or one at a
// time with its neurons split over the threads (neurons); and the batch groups.
struct Parallel {
  bool trials = false;
  int instances = 1;               // trial instances per rank
  int groups = 1;                  // batch groups
  int group = 0;                   // this rank's group
  std::string why;                 // how the choice was made (auto), for the log
  bool automatic = false;          // parallel = auto chose the mode and the instances
  std::uint64_t memory_limit = 0;  // bytes per rank for the trial instances' state
};

// One trial instance's part of the driver: its task, objective, the rule's trial state, signals and
// spike counts; and the step hook of its instance.
struct Worker final : sim::StepHook {
  GradientTraining::Impl& I;
  int instance = 0;
  std::unique_ptr<task::Task> task;
  std::unique_ptr<Objective> objective;
  std::unique_ptr<learning::Trial> trial;
  learning::Signals signals;
  std::vector<std::vector<double>> L, LH;  // learning signals of the current step, per target
  std::vector<Gid> step_spikes;
  std::vector<std::uint64_t> counts;  // spikes per gid over this worker's training trials of the batch
  std::uint64_t trial_spikes = 0, trials_learned = 0;
  bool learning = false;
  Step T = 0;
  std::unique_ptr<Examples> examples;  // worker 0: capture of example trials

  Worker(GradientTraining::Impl& impl, int index) : I(impl), instance(index) {}
  void serial(const sim::StepView& v) override;
  void parallel(const sim::StepView& v, int block) override;
  // Begins a trial in this worker's instance; returns its length in steps.
  Step begin(const Job& job);
  // After its last step: what the rule defers, and the trial's result.
  TrialResult end();
};

struct GradientTraining::Impl final : checkpoint::Component {
  const model::Network& net;
  comm::Communicator& world;
  std::unique_ptr<comm::Communicator> group_comm, across;  // batch groups (null: one group)
  comm::Communicator* comm = nullptr;                      // the network's ranks (the group's)
  int threads = 1;
  std::ostream* log = nullptr;
  Parallel par;
  std::unique_ptr<sim::Simulation> sim;
  std::unique_ptr<TrainSettings> settings;
  const learning::RuleInfo* rule_info = nullptr;
  std::string mode = "supervised";
  int readout_pop = -1;
  std::vector<int> plastic;  // projection indices
  learning::Context ctx;
  std::unique_ptr<learning::Rule> rule;
  learning::Optimizer optimizer;
  std::vector<std::unique_ptr<Worker>> workers;  // one per trial instance

  // Per non-readout target (same order as ctx.targets, readout entries unused).
  std::vector<learning::Feedback> feedback;
  std::vector<std::vector<double>> reg;  // rate-regularisation learning signal per local neuron
  std::function<double(Step, Gid)> signal_override;

  // [train]
  std::int64_t iterations = 100, batch = 64, validation_every = 10, validation_trials = 64, test_trials = 256;
  double target_accuracy = 2.0;  // > 1: no early stopping
  double reg_rate_hz = 10.0, reg_coefficient = 0.0, clip_norm = 0.0;
  bool random_feedback = false, filter = true, float64 = false;
  std::int64_t example_cells = 4;
  std::string rule_name = "eprop";
  std::vector<std::string> rule_settings;  // keys taken from [train.<rule>]
  // restore_best: the weights of the best validation so far (the earliest of equals), per plastic
  // projection in target order (as checkpoints keep them). Best is the highest accuracy, or for a
  // regression task (whose accuracy is always 0) the lowest loss: best_score is then minus the loss.
  bool restore_best = false;
  bool skip_nonfinite = false;       // on_nonfinite = "skip_batch"
  bool skipped_batch = false;        // the last batch was skipped
  std::int64_t skipped_batches = 0;  // in this process
  double best_score = -1.0;
  std::int64_t best_iteration = 0;
  std::vector<std::vector<synapse::Weight>> best_weights;

  // Per batch.
  std::size_t K = 0;
  Step T = 0;  // steps of the trials of the last batch
  bool reg_active = false;
  std::vector<std::uint8_t> trained_gid;  // 1 for the cells of trained (non-readout) populations
  std::uint64_t trained_cells = 0;
  double grad_norm = 0.0;  // of the last batch, before clipping

  // The schedule and the summary.
  Progress progress;
  double iter_seconds = 0.0, wall_seconds = 0.0;
  double test_accuracy = -1.0, test_loss = -1.0;  // -1: no test (accuracy: classification only)
  std::int64_t restored_iteration = 0;
  std::uint64_t plastic_synapses = 0, synapses = 0;
  std::vector<std::vector<SynapseValue>> initial_weights;  // per plastic projection
  io::ResultFile* file = nullptr;
  Shell* shell = nullptr;
  std::chrono::steady_clock::time_point started{};
  std::vector<std::uint64_t> state_bytes, index_bytes;                                // per rank
  std::vector<std::uint64_t> synapse_bytes, trace_bytes, neuron_bytes, source_bytes;  // per rank
  std::uint64_t bytes_per_instance = 0;                                               // this rank
  std::uint64_t shared_bytes = 0;  // this rank: synapses and the rule's shared state

  Impl(const model::Network& n, comm::Communicator& c) : net(n), world(c) {}

  // Configuration (training.cpp).
  void configure(const Setup& setup);
  void read_settings();
  void choose_mode();
  void check_populations(const task::Task& task, const Objective& objective);
  void check_splits(const task::Task& task) const;
  void choose_plastic();
  void make_context();
  void read_learning_rate_scale();
  void make_rule(const learning::Needs& needs);
  void make_workers();
  int target_index(int pop);

  // Parallel trials and groups (batches.cpp).
  void choose_parallel(const Setup& setup);
  void split_groups();
  void check_memory();
  std::string parallel_line() const;
  std::vector<TrialResult> run_jobs(const std::vector<Job>& jobs);
  std::vector<TrialResult> run_shared(std::uint64_t first, std::uint64_t count, task::Stream stream,
                                      bool learn, std::uint64_t batch_first);
  TrialResult run_trial(task::Stream stream, std::uint64_t index, bool learning);
  // Completes the batch: its gradient, and the update unless the batch was not finite (`finite_loss`
  // false, or a non-finite gradient): then the run stops, or skips the update (on_nonfinite).
  void end_batch(std::int64_t iteration, bool finite_loss);
  void refresh_feedback();
  std::vector<SynapseValue> gather(std::vector<SynapseValue> local) const;
  const model::ProjectionSpec& projection(const std::string& name) const;
  std::vector<SynapseValue> weights_of(int projection) const;
  void keep_best_weights();
  void put_back_best_weights();

  // The schedule (run.cpp).
  BatchSums run_batch(std::int64_t it);
  BatchSums validate(std::int64_t n, task::Stream stream);
  void example(const std::string& name);
  void append(const std::string& path, double x);
  void iteration_line(std::int64_t it, const BatchSums& b, double secs, const std::string& validation) const;
  void write_results(io::ResultFile& f, const std::vector<std::vector<std::vector<SynapseValue>>>& snaps);

  // Checkpoints (state.cpp).
  std::string name() const override { return "train"; }
  void save(checkpoint::Writer& w) const override;
  void load(const checkpoint::Reader& r) override;
};

}  // namespace plexus::train::gradient
