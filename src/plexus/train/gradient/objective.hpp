#pragma once
// What gradient training minimises, and what it reports: the objective forms, at every step of a
// trial, the errors dE/dy of the readout values (which the driver turns into learning signals
// through the feedback weights, and the rule into gradients), and at the end of the trial its
// result. Objectives register themselves by [train] mode:
//   supervised  softmax cross-entropy on labels, or squared error on targets (supervised.cpp);
//   reward      the TD error of a value readout and a policy gradient (reward.cpp, SPEC 4.3).
// Each declares its own [train] keys and checks the task it is given.
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "plexus/core/registry.hpp"
#include "plexus/core/types.hpp"
#include "plexus/learning/rule.hpp"
#include "plexus/model/network.hpp"
#include "plexus/task/task.hpp"
#include "plexus/train/gradient/settings.hpp"

namespace plexus::io {
class ResultFile;
}

namespace plexus::train::gradient {

struct TrialResult {
  double loss = 0.0;     // task loss of the trial (cross-entropy or squared error, window mean)
  bool correct = false;  // classification: decision matches the label
  double rate_hz = 0.0;  // mean rate of the trained (learning-form) neurons
  // Reward objective: return of the episode, mean value estimate V^t over its steps up to the
  // decision, and the turn taken (-1: none).
  double reward = 0.0, value = 0.0;
  int action = -1;
};

// Sums over the trials of a batch (or of a validation round).
struct BatchSums {
  double n = 0.0, loss = 0.0, correct = 0.0, rate = 0.0, reward = 0.0, value = 0.0;
  void add(const TrialResult& r) {
    n += 1.0;
    loss += r.loss;
    correct += r.correct;
    rate += r.rate_hz;
    reward += r.reward;
    value += r.value;
  }
};

// Appends one value to a 1-D series of the result file (rank 0's value; collective).
using Append = std::function<void(const std::string& path, double value)>;

class Objective {
 public:
  virtual ~Objective() = default;
  virtual std::string mode() const = 0;
  // Readout neurons it needs; a readout of another size is refused with readout_error().
  virtual std::size_t readouts() const = 0;
  virtual std::string readout_error(std::size_t size) const = 0;
  // What it asks of the rule.
  virtual learning::Needs needs() const { return {}; }

  // A trial of `stream`, number `index`: may change the task for it (a curriculum) before the
  // driver reads its length.
  virtual void begin_trial(task::Task& task, task::Stream stream, std::uint64_t index, bool learning) = 0;
  // Step t with readout values y: the errors below, and which signals are active in `s` (L, reward,
  // entropy; the driver sets R). `override`: the learning signal is given from outside (tests).
  virtual void step(Step t, const double* y, learning::Signals& s, bool learning, bool override) = 0;
  // The trial's result (rate_hz is the driver's).
  virtual TrialResult end_trial() = 0;
  // dE/dy_k of step t: for the learning signals of the network's neurons (through the feedback),
  // for the readout synapses' own gradient, and of the entropy bonus (null: none).
  virtual const double* feedback_errors() const = 0;
  virtual const double* readout_errors() const = 0;
  virtual const double* entropy_errors() const { return nullptr; }

  // Reporting: its datasets and attributes in a new result file, its values per iteration and per
  // validation, its part of the progress line, and what an example trial records.
  virtual void start_file(io::ResultFile& f) const { (void)f; }
  virtual void record_batch(const Append& append, const BatchSums& b) const { (void)append, (void)b; }
  virtual void record_validation(const Append& append, const BatchSums& v) const { (void)append, (void)v; }
  virtual std::string progress(const BatchSums& b) const = 0;
  virtual void describe_example(io::ResultFile& f, const std::string& group, const TrialResult& r) const {
    (void)f, (void)group, (void)r;
  }
  // The trial's decision step (reward) or the start of the loss window, for example records.
  virtual Step window_begin() const = 0;
};

struct ObjectiveSetup {
  const TrainSettings& settings;
  task::Task& task;
  const model::Network& net;
  std::int64_t batch = 1;  // trials per batch: the loss is the batch mean
};

struct ObjectiveInfo {
  std::string name;               // [train] mode = "name"
  std::vector<std::string> keys;  // its own [train] keys, refused under another mode
  std::function<std::unique_ptr<Objective>(const ObjectiveSetup&)> make;
};

// Objectives register themselves from their own source file (core/registry.hpp).
using ObjectiveRegistry = core::Registry<ObjectiveInfo>;

}  // namespace plexus::train::gradient
