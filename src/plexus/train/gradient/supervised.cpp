// The supervised objective ([train] mode = "supervised", the default): softmax cross-entropy on the
// label for classification tasks, squared error on the target signal for regression, summed over the
// loss window [window_begin, T) of every trial. E = (1 / (B T_w)) sum over the batch and the window of
// the per-step loss, so the errors dE/dy are scaled by 1 / (B T_w).
#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "plexus/learning/loss.hpp"
#include "plexus/train/gradient/objective.hpp"

namespace plexus::train::gradient {
namespace {

class Supervised final : public Objective {
 public:
  explicit Supervised(const ObjectiveSetup& s) : task_(s.task), batch_(s.batch), K_(s.task.outputs()) {
    err_.assign(K_, 0.0);
    ysum_.assign(K_, 0.0);
    target_.assign(K_, 0.0);
  }
  std::string mode() const override { return "supervised"; }
  std::size_t readouts() const override { return K_; }
  std::string readout_error(std::size_t size) const override {
    return fmt::format("the task '{}' has {} outputs; this readout has {}", task_.kind(), K_, size);
  }

  void begin_trial(task::Task& task, task::Stream, std::uint64_t, bool) override {
    label_ = task.label();
    T_ = task.steps();
    window_begin_ = task.window_begin();
    loss_sum_ = 0.0;
    std::fill(ysum_.begin(), ysum_.end(), 0.0);
  }

  void step(Step t, const double* y, learning::Signals& s, bool learning, bool override) override {
    const bool in_window = t >= window_begin_;
    const double scale = 1.0 / (static_cast<double>(batch_) * static_cast<double>(T_ - window_begin_));
    std::fill(err_.begin(), err_.end(), 0.0);
    if (in_window) {
      if (task_.classification()) {
        loss_sum_ += learning::softmax_cross_entropy(y, K_, label_, scale, err_.data());
        for (std::size_t k = 0; k < K_; ++k) ysum_[k] += y[k];
      } else {
        task_.target(t, target_.data());
        loss_sum_ += learning::squared_error(y, target_.data(), K_, scale, err_.data());
      }
    }
    if (!learning) std::fill(err_.begin(), err_.end(), 0.0);
    s.L_active = learning && (in_window || override);
  }

  TrialResult end_trial() override {
    TrialResult r;
    r.loss = loss_sum_ / static_cast<double>(T_ - window_begin_);  // window mean of the per-step loss
    // Outputs that are not finite decide nothing: max_element would take NaN for the first class.
    if (task_.classification())
      r.correct = std::all_of(ysum_.begin(), ysum_.end(), [](double v) { return std::isfinite(v); }) &&
                  std::max_element(ysum_.begin(), ysum_.end()) - ysum_.begin() == label_;
    return r;
  }

  const double* feedback_errors() const override { return err_.data(); }
  const double* readout_errors() const override { return err_.data(); }
  Step window_begin() const override { return window_begin_; }

  std::string progress(const BatchSums& b) const override {
    return task_.classification() ? fmt::format("  accuracy {:.3f}", b.correct / b.n) : std::string();
  }

 private:
  task::Task& task_;
  std::int64_t batch_;
  std::size_t K_;
  std::vector<double> err_, ysum_, target_;
  int label_ = -1;
  Step T_ = 0, window_begin_ = 0;
  double loss_sum_ = 0.0;
};

const ObjectiveRegistry::Add registered{
    {"supervised", {}, [](const ObjectiveSetup& s) { return std::make_unique<Supervised>(s); }}};

}  // namespace
}  // namespace plexus::train::gradient
