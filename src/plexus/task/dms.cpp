#include "plexus/task/dms.hpp"

#include <cmath>

#include <fmt/format.h>

#include "plexus/core/rng.hpp"
#include "plexus/task/common.hpp"

namespace plexus::task {

using model::Range;

Dms::Dms(const model::Node& n, double dt, std::uint64_t seed) : seed_(seed) {
  n.allow_only({"kind", "channels", "directions", "kappa", "peak_rate_hz", "background_rate_hz",
                "fixation_ms", "sample_ms", "delay_ms", "test_ms", "match_p"});
  channels_ = static_cast<std::size_t>(n.integer_or("channels", 100, Range::closed(1, 1e6)));
  directions_ = static_cast<int>(n.integer_or("directions", 8, Range::closed(2, 3600)));
  const double kappa = n.number_or("kappa", 3.0, Range::non_negative());
  const double ms = dt * 1e-3;
  const double peak = n.number_or("peak_rate_hz", 100.0, Range::non_negative()) * ms;
  p_background_ = n.number_or("background_rate_hz", 1.0, Range::non_negative()) * ms;
  if (peak + p_background_ > 1.0)
    n.fail("peak_rate_hz + background_rate_hz times dt exceeds one spike per step");
  fixation_ = detail::steps_of(n, "fixation_ms", 10.0, dt);
  sample_len_ = detail::steps_of(n, "sample_ms", 500.0, dt);
  const Step delay = detail::steps_of(n, "delay_ms", 1000.0, dt);
  const Step test = detail::steps_of(n, "test_ms", 500.0, dt);
  if (sample_len_ == 0) n.fail("sample_ms must be at least one step");
  if (test == 0) n.fail("test_ms must be at least one step");
  match_p_ = n.number_or("match_p", 0.5, Range::probability());
  test_start_ = fixation_ + sample_len_ + delay;
  T_ = test_start_ + test;

  // Channel c prefers the direction 2 pi c / channels; its rate while direction theta is shown is
  // peak * exp(kappa (cos(theta - pref) - 1)) + background (the tuning curve peaks at 1).
  p_.resize(static_cast<std::size_t>(directions_) * channels_);
  for (int k = 0; k < directions_; ++k) {
    const double theta = 2.0 * M_PI * k / directions_;
    for (std::size_t c = 0; c < channels_; ++c) {
      const double pref = 2.0 * M_PI * static_cast<double>(c) / static_cast<double>(channels_);
      p_[static_cast<std::size_t>(k) * channels_ + c] =
          peak * std::exp(kappa * (std::cos(theta - pref) - 1.0)) + p_background_;
    }
  }
}

double Dms::probability(int k, std::size_t c) const {
  return k < 0 ? p_background_ : p_[static_cast<std::size_t>(k) * channels_ + c];
}

void Dms::begin_trial(Stream stream, std::uint64_t trial) {
  stream_ = static_cast<std::uint64_t>(stream);
  trial_ = trial;
  rng::Stream s(seed_, rng::Purpose::Task, stream_, trial_, 0);
  const bool match = s.uniform() < match_p_;
  const auto D = static_cast<std::uint64_t>(directions_);
  sample_ = static_cast<int>(s.below(D));
  // A non-match draws uniformly from the other directions.
  test_ = match ? sample_ : static_cast<int>((static_cast<std::uint64_t>(sample_) + 1 + s.below(D - 1)) % D);
}

void Dms::input_spikes(Step t, std::size_t begin, std::size_t end, double* z) const {
  // Fixation and delay: background only; sample and test: the shown direction's tuning.
  const int shown = t >= test_start_ ? test_ : (t >= fixation_ && t < fixation_ + sample_len_) ? sample_ : -1;
  detail::bernoulli(seed_, stream_, trial_, t, begin, end, z,
                    [&](std::size_t c) { return probability(shown, c); });
}

std::string Dms::describe_trial() const {
  const double step = 360.0 / directions_;
  return fmt::format("sample {:g} deg, test {:g} deg -> {}", sample_ * step, test_ * step,
                     sample_ == test_ ? "match" : "non-match");
}

namespace {
const Registry::Add registered{
    {"dms", "delayed match-to-sample with direction-tuned inputs (SPEC 3.2)",
     [](const model::Node& n, double dt, std::uint64_t seed) -> std::unique_ptr<Task> {
       return std::make_unique<Dms>(n, dt, seed);
     }}};
}  // namespace

}  // namespace plexus::task
