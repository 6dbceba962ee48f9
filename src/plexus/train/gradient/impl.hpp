#pragma once
// The gradient driver's state, shared by its files: training.cpp (configuration, trials, batch
// ends), run.cpp (the iteration schedule, validation, the result file), state.cpp (checkpoints).
// Private to train/gradient.
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
  bool reached_target = false;
  std::int64_t resumed_from = -1;  // iteration this process started at after a resume (-1: none)
};

struct GradientTraining::Impl final : checkpoint::Component {
  const model::Network& net;
  comm::Communicator& comm;
  int threads = 1;
  std::ostream* log = nullptr;
  std::unique_ptr<sim::Simulation> sim;
  std::unique_ptr<task::Task> task;
  std::unique_ptr<TrainSettings> settings;
  std::unique_ptr<Objective> objective;
  const learning::RuleInfo* rule_info = nullptr;
  int readout_pop = -1;
  std::vector<int> plastic;  // projection indices
  learning::Context ctx;
  std::unique_ptr<learning::Rule> rule;
  learning::Optimizer optimizer;

  // Per non-readout target (same order as ctx.targets, readout entries unused).
  std::vector<learning::Feedback> feedback;
  std::vector<std::vector<double>> reg;  // rate-regularisation learning signal per local neuron
  std::vector<std::vector<double>> L;    // learning signal of the current step
  std::vector<std::vector<double>> LH;   // entropy bonus's learning signal (reward objective)
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
  // projection in target order (as checkpoints keep them).
  bool restore_best = false;
  double best_accuracy = -1.0;
  std::int64_t best_iteration = 0;
  std::vector<std::vector<synapse::Weight>> best_weights;

  // Per step and trial.
  std::size_t K = 0;
  Step T = 0;
  std::vector<Gid> step_spikes;
  learning::Signals signals;
  bool learning = false, reg_active = false;
  std::vector<std::uint64_t> counts;      // spikes per gid over the training trials of the current batch
  std::vector<std::uint8_t> trained_gid;  // 1 for the cells of trained (non-readout) populations
  std::uint64_t trained_cells = 0, trial_spikes = 0;
  std::uint64_t trials_in_batch = 0;
  double grad_norm = 0.0;  // of the last batch, before clipping
  std::unique_ptr<Examples> examples;

  // The schedule and the summary.
  Progress progress;
  double iter_seconds = 0.0, wall_seconds = 0.0, test_accuracy = -1.0;
  std::int64_t restored_iteration = 0;
  std::uint64_t plastic_synapses = 0, synapses = 0;
  std::vector<std::vector<SynapseValue>> initial_weights;  // per plastic projection
  io::ResultFile* file = nullptr;
  Shell* shell = nullptr;
  std::chrono::steady_clock::time_point started{};
  learning::MemoryUse memory_total;                                                   // the whole network's
  std::vector<std::uint64_t> state_bytes, index_bytes;                                // per rank
  std::vector<std::uint64_t> synapse_bytes, trace_bytes, neuron_bytes, source_bytes;  // per rank

  Impl(const model::Network& n, comm::Communicator& c) : net(n), comm(c) {}

  // Configuration (training.cpp).
  void configure();
  void read_settings();
  void make_task_and_objective();
  void check_populations();
  void choose_plastic();
  void make_context();
  void read_learning_rate_scale();
  void make_rule();
  int target_index(int pop);

  // Trials and batches (training.cpp).
  void serial(const sim::StepView& v);
  void parallel(const sim::StepView& v, int th);
  void refresh_feedback();
  TrialResult run_trial(task::Stream stream, std::uint64_t index, bool learning);
  void end_batch();
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
