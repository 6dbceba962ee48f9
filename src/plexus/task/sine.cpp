#include <cmath>

#include <fmt/format.h>

#include "plexus/core/rng.hpp"
#include "plexus/task/common.hpp"
#include "plexus/task/task.hpp"

namespace plexus::task {
namespace {

using detail::bernoulli;
using detail::steps_of;
using model::Node;
using model::Range;

// SPEC 3.3: pattern generation. Targets are sums of sines; inputs are frozen Poisson noise (the
// same in every trial unless frozen_inputs = false).
class Sine final : public Task {
 public:
  Sine(const Node& n, double dt, std::uint64_t seed) : seed_(seed), dt_(dt) {
    n.allow_only({"kind", "channels", "outputs", "duration_ms", "input_rate_hz", "periods_ms",
                  "amplitude_range", "random_per_trial", "frozen_inputs"});
    channels_ = static_cast<std::size_t>(n.integer_or("channels", 100, Range::closed(1, 1e6)));
    outputs_ = static_cast<std::size_t>(n.integer_or("outputs", 1, Range::closed(1, 1e4)));
    T_ = steps_of(n, "duration_ms", 1000.0, dt);
    if (T_ == 0) n.at("duration_ms").fail("must be at least one step");
    p_in_ = n.number_or("input_rate_hz", 50.0, Range::non_negative()) * dt * 1e-3;
    if (p_in_ > 1.0) n.at("input_rate_hz").fail("rate times dt exceeds one spike per step");
    periods_ = n.has("periods_ms") ? n.at("periods_ms").as_number_array(Range::positive())
                                   : std::vector<double>{1000.0, 500.0, 333.0};
    if (periods_.empty()) n.at("periods_ms").fail("needs at least one period");
    std::vector<double> ar =
        n.has("amplitude_range") ? n.at("amplitude_range").as_number_array() : std::vector<double>{0.5, 2.0};
    if (ar.size() != 2 || ar[0] > ar[1]) n.at("amplitude_range").fail("must be [low, high]");
    amp_lo_ = ar[0], amp_hi_ = ar[1];
    per_trial_ = n.boolean_or("random_per_trial", false);
    frozen_ = n.boolean_or("frozen_inputs", true);
    begin_trial(Stream::Train, 0);
  }
  std::string kind() const override { return "sine"; }
  std::size_t channels() const override { return channels_; }
  std::size_t outputs() const override { return outputs_; }
  Step steps() const override { return T_; }
  bool classification() const override { return false; }
  Step window_begin() const override { return 0; }

  void begin_trial(Stream stream, std::uint64_t trial) override {
    stream_ = static_cast<std::uint64_t>(stream);
    trial_ = trial;
    amp_.assign(outputs_ * periods_.size(), 0.0);
    phase_.assign(outputs_ * periods_.size(), 0.0);
    rng::Stream s(seed_, rng::Purpose::Task, per_trial_ ? stream_ : 0, per_trial_ ? trial_ : 0, 1u << 20);
    for (std::size_t i = 0; i < amp_.size(); ++i) {
      amp_[i] = s.uniform(amp_lo_, amp_hi_);
      phase_[i] = s.uniform(0.0, 2.0 * M_PI);
    }
  }

  void input_spikes(Step t, std::size_t begin, std::size_t end, double* z) const override {
    const double p = p_in_;
    bernoulli(seed_, frozen_ ? 0 : stream_, frozen_ ? 0 : trial_, t, begin, end, z,
              [p](std::size_t) { return p; });
  }
  void target(Step t, double* y) const override {
    const double ms = static_cast<double>(t) * dt_;
    for (std::size_t k = 0; k < outputs_; ++k) {
      double sum = 0.0;
      for (std::size_t m = 0; m < periods_.size(); ++m) {
        const std::size_t i = k * periods_.size() + m;
        sum += amp_[i] * std::sin(2.0 * M_PI * ms / periods_[m] + phase_[i]);
      }
      y[k] = sum;
    }
  }

 private:
  std::uint64_t seed_;
  double dt_;
  std::size_t channels_ = 100, outputs_ = 1;
  Step T_ = 1000;
  double p_in_ = 0.05, amp_lo_ = 0.5, amp_hi_ = 2.0;
  std::vector<double> periods_, amp_, phase_;
  bool per_trial_ = false, frozen_ = true;
  std::uint64_t stream_ = 0, trial_ = 0;
};

const Registry::Add registered{{"sine", "pattern generation: sums of sines from frozen noise (SPEC 3.3)",
                                [](const Node& n, double dt, std::uint64_t seed) -> std::unique_ptr<Task> {
                                  return std::make_unique<Sine>(n, dt, seed);
                                }}};

}  // namespace
}  // namespace plexus::task
