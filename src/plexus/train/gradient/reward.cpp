// The reward objective ([train] mode = "reward"; reward-based e-prop, SPEC 4.3) on tasks with
// discrete choices: the T-maze with reward (SPEC 3.4). The readout holds K = outputs + 1 neurons,
// the policy logits y_0..y_(K-2) and the value V = y_(K-1). At step t the TD error of step t - 1
// needs V^t, so it is formed now and the rule weights F^(t-1) with it (eprop_kernels.hpp,
// reward_row). Episode: steps 0..decision; the action is sampled from pi^decision, whose reward ends
// the episode (terminal: V^(decision+1) = 0). Every rank holds the readouts alike and draws the
// action from the same (seed, stream, trial) number, so every rank forms the same errors and takes
// the same turn.
//
// A delay curriculum: the delay of training trials grows linearly from curriculum_delay_start_ms to
// the task's delay over the first curriculum_iterations iterations; a function of the trial index,
// so the same after a resume. Validation, test and examples use the final delay.
#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "plexus/io/result_file.hpp"
#include "plexus/learning/reward.hpp"
#include "plexus/task/tmaze_reward.hpp"
#include "plexus/train/gradient/objective.hpp"

namespace plexus::train::gradient {
namespace {

using model::Range;

class Reward final : public Objective {
 public:
  explicit Reward(const ObjectiveSetup& s)
      : task_(s.task), net_(s.net), batch_(s.batch), dt_ms_(s.net.run.dt_ms) {
    const auto& tr = s.settings;
    gamma_ = tr.number_or("discount", 0.999, Range::probability());
    c_value_ = tr.number_or("value_coefficient", 0.01, Range::non_negative());
    c_entropy_ = tr.number_or("entropy_coefficient", 0.0, Range::non_negative());
    maze_.seed = s.net.run.seed;
    maze_.step_reward = tr.number_or("step_reward", 0.0, Range::closed(-1.0, 1.0));
    K_ = task_.outputs() + 1;  // one more readout neuron: the value
    if (!task_.classification())
      s.net.task->fail("mode = \"reward\" needs a task with discrete choices (evidence)");
    if (task_.steps() < 2) s.net.task->fail("mode = \"reward\" needs trials of at least two steps");
    read_curriculum(tr);
    pi_.assign(K_ - 1, 0.0);
    err_.assign(K_, 0.0);
    err_h_.assign(K_, 0.0);
    err_out_.assign(K_, 0.0);
  }

  std::string mode() const override { return "reward"; }
  std::size_t readouts() const override { return K_; }
  std::string readout_error(std::size_t size) const override {
    return fmt::format(
        "mode = \"reward\" needs {} readout neurons ({} policy outputs of the task '{}' and one value); this "
        "readout has {}",
        K_, K_ - 1, task_.kind(), size);
  }
  learning::Needs needs() const override { return {true, gamma_}; }

  void begin_trial(task::Task& task, task::Stream stream, std::uint64_t index, bool) override {
    label_ = task.label();
    if (curriculum_iterations_ > 0) {
      const auto it =
          stream == task::Stream::Train ? static_cast<std::int64_t>(index) / batch_ : curriculum_iterations_;
      const Step d = curriculum_start_ + (final_delay_ - curriculum_start_) *
                                             std::min(it, curriculum_iterations_) / curriculum_iterations_;
      task.set_delay_steps(d);
    }
    window_begin_ = task.window_begin();
    decision_ = task::TMazeReward::decision_step(task.steps());
    action_u_ = maze_.action_uniform(stream, index);
    action_ = -1;
    v_prev_ = r_prev_ = value_sum_ = return_sum_ = logp_ = 0.0;
  }

  void step(Step t, const double* y, learning::Signals& s, bool learning, bool) override;

  TrialResult end_trial() override {
    TrialResult r;  // a correct turn, the return, -log pi(action) as the loss
    r.correct = action_ == label_;
    r.action = action_;
    r.reward = return_sum_;
    r.value = value_sum_ / static_cast<double>(decision_ + 1);
    r.loss = logp_;
    return r;
  }

  const double* feedback_errors() const override { return err_.data(); }
  const double* readout_errors() const override { return err_out_.data(); }
  const double* entropy_errors() const override { return err_h_.data(); }
  Step window_begin() const override { return window_begin_; }

  // The learning curve of the agent: accuracy is its success rate.
  void start_file(io::ResultFile& f) const override {
    f.attribute("/training", "mode", std::string("reward"));
    for (const char* d : {"reward", "value"}) f.create_series<double>(std::string("/training/") + d, 1024);
    f.create_series<double>("/validation/reward", 256);
  }
  void record_batch(const Append& append, const BatchSums& b) const override {
    append("/training/reward", b.reward / b.n);
    append("/training/value", b.value / b.n);
  }
  void record_validation(const Append& append, const BatchSums& v) const override {
    append("/validation/reward", v.reward / std::max(v.n, 1.0));
  }
  std::string progress(const BatchSums& b) const override {
    return fmt::format("  success {:.3f}  reward {:.3f}  value {:.3f}", b.correct / b.n, b.reward / b.n,
                       b.value / b.n);
  }
  void describe_example(io::ResultFile& f, const std::string& g, const TrialResult& r) const override {
    f.attribute(g, "decision_ms", net_.step_to_ms(decision_));
    f.attribute(g, "action", static_cast<std::int64_t>(r.action));
    f.attribute(g, "reward", r.reward);
  }

 private:
  void read_curriculum(const TrainSettings& tr) {
    curriculum_iterations_ = tr.integer_or("curriculum_iterations", 0, Range::closed(0, 1e9));
    final_delay_ = task_.delay_steps();
    if (curriculum_iterations_ > 0) {
      if (final_delay_ < 0) tr.at("curriculum_iterations").fail("the task has no delay period to grow");
      const double start_ms = tr.number_or("curriculum_delay_start_ms", 0.0, Range::non_negative());
      curriculum_start_ = static_cast<Step>(std::llround(start_ms / dt_ms_));
      if (curriculum_start_ > final_delay_)
        tr.at("curriculum_delay_start_ms").fail("must not exceed the task's delay_ms");
    } else if (tr.has("curriculum_delay_start_ms")) {
      tr.at("curriculum_delay_start_ms").fail("needs curriculum_iterations > 0");
    }
  }

  task::Task& task_;
  const model::Network& net_;
  std::int64_t batch_;
  double dt_ms_;
  task::TMazeReward maze_;
  double gamma_ = 0.999, c_value_ = 0.01, c_entropy_ = 0.0;
  std::size_t K_ = 0;
  std::int64_t curriculum_iterations_ = 0;
  Step curriculum_start_ = 0, final_delay_ = 0;
  // err: dE/dy of the policy and value terms; err_h: of the entropy bonus; err_out: for the readout
  // synapses (as err, but -1 for the value: it learns by TD at full strength).
  std::vector<double> pi_, err_, err_h_, err_out_;
  int label_ = -1, action_ = -1;
  Step decision_ = 0, window_begin_ = 0;
  double action_u_ = 0.0, v_prev_ = 0.0, r_prev_ = 0.0, value_sum_ = 0.0, return_sum_ = 0.0, logp_ = 0.0;
};

void Reward::step(Step t, const double* y, learning::Signals& s, bool learning, bool) {
  const std::size_t P = K_ - 1;  // policy outputs
  const double V = y[P];
  std::fill(err_.begin(), err_.end(), 0.0);
  std::fill(err_h_.begin(), err_h_.end(), 0.0);
  double delta = 0.0;
  if (t >= 1 && t - 1 <= decision_)
    delta = learning::td_error(r_prev_, v_prev_, V, gamma_, t - 1 == decision_);
  const double per_trial = 1.0 / static_cast<double>(batch_);  // g is the batch mean
  s.delta = delta * per_trial;
  bool entropy = false;
  if (t <= decision_) {
    value_sum_ += V;
    err_[P] = -c_value_;
    double r = maze_.step_reward;
    if (t == decision_) {
      learning::softmax(y, P, pi_.data());
      action_ = learning::sample_action(pi_.data(), P, action_u_);
      r = maze_.reward(action_, label_);
      logp_ = learning::policy_error(pi_.data(), P, action_, err_.data());
      if (c_entropy_ > 0.0) {
        learning::entropy_error(pi_.data(), P, c_entropy_ * per_trial, err_h_.data());
        entropy = true;
      }
    }
    return_sum_ += r;
    r_prev_ = r;
    v_prev_ = V;
  }
  // The value readout's own weights learn by TD at full strength (dE/dV = -1); c_V weighs the value
  // term only in the learning signal of the network's neurons.
  std::copy(err_.begin(), err_.end(), err_out_.begin());
  if (t <= decision_) err_out_[P] = -1.0;
  s.L_active = learning && t <= decision_;
  s.reward_active = learning && t <= decision_ + 1;
  s.H_active = learning && entropy;
}

const ObjectiveRegistry::Add registered{
    {"reward",
     {"discount", "value_coefficient", "entropy_coefficient", "step_reward", "curriculum_delay_start_ms",
      "curriculum_iterations"},
     [](const ObjectiveSetup& s) { return std::make_unique<Reward>(s); }}};

}  // namespace
}  // namespace plexus::train::gradient
