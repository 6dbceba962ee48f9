#pragma once
// Trial generators (SPEC 3). A trial is a pure function of (seed, stream, trial index): inputs,
// labels and targets are drawn from counter-based numbers keyed by those and by step and channel,
// so any rank can make any trial bit for bit, and a resumed run sees the same trials.
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "plexus/core/registry.hpp"
#include "plexus/core/types.hpp"
#include "plexus/model/config.hpp"

namespace plexus::task {

// Independent sequences of trials: training, validation and test never share a trial.
enum class Stream : std::uint64_t { Train = 0, Validation = 1, Test = 2, Example = 3 };

class Task {
 public:
  virtual ~Task() = default;
  virtual std::string kind() const = 0;
  virtual std::size_t channels() const = 0;  // input channels (the task_input population's size)
  virtual std::size_t outputs() const = 0;   // readout neurons
  virtual Step steps() const = 0;            // steps per trial
  virtual bool classification() const = 0;   // softmax cross-entropy (else mean squared error)
  // Loss window [window_begin(), steps()).
  virtual Step window_begin() const = 0;

  // Selects the trial that the calls below describe.
  virtual void begin_trial(Stream stream, std::uint64_t trial) = 0;
  // Classification: the label of the current trial.
  virtual int label() const { return -1; }
  // Spikes (0/1) of channels [begin, end) at step t of the current trial.
  virtual void input_spikes(Step t, std::size_t begin, std::size_t end, double* z) const = 0;
  // Regression: target values of the outputs at step t (outputs() values).
  virtual void target(Step, double*) const {}
  // A short description of the current trial for logs and example records.
  virtual std::string describe_trial() const { return {}; }
  // Tasks with a delay period (evidence): its length in steps, and a new one for the trials that
  // follow (a curriculum; steps() and window_begin() change with it). -1 / false: no delay period.
  virtual Step delay_steps() const { return -1; }
  virtual bool set_delay_steps(Step) { return false; }
  // The trials a stream holds: a file's split is finite (and may be absent: 0); generated tasks make
  // as many as asked for. Lets a trainer refuse, before it runs, a split the task does not have.
  static constexpr std::uint64_t kUnlimited = ~std::uint64_t{0};
  virtual std::uint64_t trials(Stream) const { return kUnlimited; }
};

// Trial tasks register themselves from their own source file (core/registry.hpp): no list to
// edit elsewhere. docs/extending.md says how to add one.
struct TaskInfo {
  std::string name;  // [task] kind = "name"
  std::string summary;
  // Reads [task] (ConfigError for unknown keys or bad values) and makes the task; `dt_ms` is the
  // simulation step.
  std::function<std::unique_ptr<Task>(const model::Node& node, double dt_ms, std::uint64_t seed)> make;
};
using Registry = core::Registry<TaskInfo>;

// Reads [task] and makes the task of its kind.
std::unique_ptr<Task> make(const model::Node& node, double dt_ms, std::uint64_t seed);

}  // namespace plexus::task
