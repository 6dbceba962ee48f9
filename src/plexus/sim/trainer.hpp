#pragma once
// Training: trials of a task run through the simulation with an online learning rule (e-prop) in
// phase 7 of every step, one optimiser step per batch, validation on fresh trials, and the
// learning curve, trained weights and example trials written to the result file.
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
#include "plexus/learning/rule.hpp"
#include "plexus/model/network.hpp"
#include "plexus/task/task.hpp"

namespace plexus::sim {

// Checkpoints of a training run are taken between iterations (a batch takes seconds; traces and
// gradients are then zero, so weights, optimiser moments and counters are the whole state).
struct TrainCheckpoint {
  std::filesystem::path dir;
  std::int64_t every_iterations = 0;  // 0: not by count
  double every_wall_seconds = 0.0;    // 0: not by wall-clock time
  std::string every_text;             // as given, kept in the checkpoint for `resume`
  int keep = 2;
  std::int64_t stop_at_iteration = -1;  // checkpoint and stop after this iteration (-1: never)
};

struct TrainOptions {
  int threads = 1;
  std::optional<std::filesystem::path> output;  // none: nothing is written
  bool progress = false;                        // a line per iteration on rank 0
  std::ostream* log = nullptr;
  std::optional<TrainCheckpoint> checkpoint;
  // Continue from this checkpoint (written by a training run of the same model); the result file
  // is taken up where the checkpoint left it. Must outlive the trainer.
  const checkpoint::Snapshot* resume = nullptr;
};

struct TrialResult {
  double loss = 0.0;     // task loss of the trial (cross-entropy or squared error, window mean)
  bool correct = false;  // classification: decision matches the label
  double rate_hz = 0.0;  // mean rate of the trained (learning-form) neurons
  // Reward mode ([train] mode = "reward"): return of the episode, mean value estimate V^t over its
  // steps up to the decision, and the turn taken (-1: none).
  double reward = 0.0, value = 0.0;
  int action = -1;
};

struct TrainSummary {
  std::int64_t iterations = 0;
  double last_loss = 0.0, last_accuracy = 0.0;
  double validation_accuracy = -1.0;  // last validation (-1: none)
  double test_accuracy = -1.0;        // -1: no test trials
  double seconds_per_iteration = 0.0;
  bool reached_target = false;
  std::int64_t restored_iteration = 0;  // restore_best: the iteration whose weights were tested (0: the last)
  double wall_seconds = 0.0;
  std::uint64_t synapses = 0, plastic_synapses = 0;
  std::vector<std::uint64_t> learning_state_bytes;  // per rank (traces, gradients, moments)
  std::vector<std::uint64_t> learning_index_bytes;  // per rank (target-major source index)
  // The learning state per rank split by what it scales with: per synapse (of which eligibility
  // traces), per neuron and per source.
  std::vector<std::uint64_t> learning_synapse_bytes, learning_trace_bytes, learning_neuron_bytes,
      learning_source_bytes;
  std::string rule;
  std::vector<std::uint64_t> peak_rss_bytes;  // per rank
  // Checkpoints: stopped early (on a signal, or at stop_at_iteration) after writing one.
  bool stopped = false;
  int stop_signal = 0;
  std::filesystem::path last_checkpoint;
  std::int64_t resumed_from = -1;  // iteration the run was resumed at (-1: not resumed)
};

using learning::SynapseValue;

class Trainer {
 public:
  // Builds the network and the learning rule. Throws ConfigError for a bad [task] or [train].
  Trainer(const model::Network& net, comm::Communicator& comm, TrainOptions options);
  ~Trainer();
  Trainer(const Trainer&) = delete;
  Trainer& operator=(const Trainer&) = delete;

  // The whole schedule of [train]: iterations, validation, early stopping, test, result file.
  TrainSummary run();

  // Pieces, for tests: one trial (learning = accumulate gradients), and the end of a batch
  // (optimiser step over the gradients accumulated since the last one).
  TrialResult trial(task::Stream stream, std::uint64_t index, bool learning);
  void end_batch();
  // Accumulated gradient (before end_batch clears it) and current weights of a projection, every
  // synapse of the network in (target, source) order, on every rank alike.
  std::vector<SynapseValue> gradient(const std::string& projection) const;
  std::vector<SynapseValue> weights(const std::string& projection) const;
  // Tests: use f(t, gid) as the learning signal of every trained neuron instead of the readout
  // errors (e.g. the total derivative from a BPTT reference).
  void set_learning_signal(std::function<double(Step, Gid)> f);
  // Learning state held by this rank (readout synapses counted on rank 0 only).
  learning::MemoryUse learning_memory() const;
  task::Task& task();
  int batch_size() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace plexus::sim
