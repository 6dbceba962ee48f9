#include <array>
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

// SPEC 3.1: the T-maze cue task. Channels: [left cues | right cues | recall | noise], G each.
class Evidence final : public Task {
 public:
  Evidence(const Node& n, double dt, std::uint64_t seed) : seed_(seed) {
    n.allow_only({"kind", "profile", "group_size", "cues", "cue_start_ms", "cue_ms", "cue_gap_ms", "delay_ms",
                  "recall_ms", "cue_rate_hz", "recall_rate_hz", "noise_rate_hz", "majority_p"});
    const std::string profile = n.choice("profile", {"eprop", "cortex", "mouse"}, "eprop");
    // Profile defaults in ms (dt = 1 ms in the shipped models).
    double G = 10, start = 50, cue = 100, gap = 50, delay = 1050, recall = 150;
    if (profile == "cortex") {
      G = 25;
      delay = 1000;
    } else if (profile == "mouse") {
      start = 0, cue = 18, gap = 5, delay = 121, recall = 100;
    }
    G_ = static_cast<std::size_t>(
        n.integer_or("group_size", static_cast<std::int64_t>(G), Range::closed(1, 1e6)));
    cues_ = static_cast<int>(n.integer_or("cues", 7, Range::closed(1, 63)));
    if (cues_ % 2 == 0) n.at("cues").fail("must be odd, so that one side always has more cues");
    cue_start_ = steps_of(n, "cue_start_ms", start, dt);
    cue_ = steps_of(n, "cue_ms", cue, dt);
    gap_ = steps_of(n, "cue_gap_ms", gap, dt);
    const Step delay_s = steps_of(n, "delay_ms", delay, dt);
    recall_ = steps_of(n, "recall_ms", recall, dt);
    if (cue_ == 0) n.fail("cue_ms must be at least one step");
    if (recall_ == 0) n.fail("recall_ms must be at least one step");
    const double ms = dt * 1e-3;
    p_cue_ = n.number_or("cue_rate_hz", 40.0, Range::non_negative()) * ms;
    p_recall_ = n.number_or("recall_rate_hz", 40.0, Range::non_negative()) * ms;
    p_noise_ = n.number_or("noise_rate_hz", 10.0, Range::non_negative()) * ms;
    for (double p : {p_cue_, p_recall_, p_noise_})
      if (p > 1.0) n.fail("a rate times dt exceeds one spike per step");
    majority_p_ = n.number_or("majority_p", 0.7, Range::probability());
    const Step last_cue_end = cue_start_ + (cues_ - 1) * (cue_ + gap_) + cue_;
    recall_start_ = last_cue_end + delay_s;
    T_ = recall_start_ + recall_;
  }
  Step delay_steps() const override {
    return recall_start_ - (cue_start_ + (cues_ - 1) * (cue_ + gap_) + cue_);
  }
  bool set_delay_steps(Step delay) override {
    recall_start_ = cue_start_ + (cues_ - 1) * (cue_ + gap_) + cue_ + delay;
    T_ = recall_start_ + recall_;
    return true;
  }
  std::string kind() const override { return "evidence"; }
  std::size_t channels() const override { return 4 * G_; }
  std::size_t outputs() const override { return 2; }
  Step steps() const override { return T_; }
  bool classification() const override { return true; }
  Step window_begin() const override { return recall_start_; }

  void begin_trial(Stream stream, std::uint64_t trial) override {
    stream_ = static_cast<std::uint64_t>(stream);
    trial_ = trial;
    rng::Stream s(seed_, rng::Purpose::Task, stream_, trial_, 0);
    const int majority = s.uniform() < 0.5 ? 0 : 1;
    int left = 0;
    for (int k = 0; k < cues_; ++k) {
      const int side = s.uniform() < majority_p_ ? majority : 1 - majority;
      side_[static_cast<std::size_t>(k)] = side;
      left += side == 0;
    }
    label_ = 2 * left > cues_ ? 0 : 1;
  }
  int label() const override { return label_; }

  void input_spikes(Step t, std::size_t begin, std::size_t end, double* z) const override {
    // Which cue (if any) is on at step t.
    int side = -1;
    if (t >= cue_start_) {
      const Step k = (t - cue_start_) / (cue_ + gap_), in = (t - cue_start_) % (cue_ + gap_);
      if (k < cues_ && in < cue_) side = side_[static_cast<std::size_t>(k)];
    }
    const bool recall = t >= recall_start_;
    const std::size_t G = G_;
    bernoulli(seed_, stream_, trial_, t, begin, end, z, [&](std::size_t c) {
      const std::size_t group = c / G;
      if (group < 2) return static_cast<int>(group) == side ? p_cue_ : 0.0;
      if (group == 2) return recall ? p_recall_ : 0.0;
      return p_noise_;
    });
  }

  std::string describe_trial() const override {
    std::string cues;
    for (int k = 0; k < cues_; ++k) cues += side_[static_cast<std::size_t>(k)] ? 'R' : 'L';
    return fmt::format("cues {} -> {}", cues, label_ ? "right" : "left");
  }

 private:
  std::uint64_t seed_;
  std::size_t G_ = 10;
  int cues_ = 7;
  Step cue_start_ = 0, cue_ = 0, gap_ = 0, recall_ = 0, recall_start_ = 0, T_ = 0;
  double p_cue_ = 0, p_recall_ = 0, p_noise_ = 0, majority_p_ = 0.7;
  std::uint64_t stream_ = 0, trial_ = 0;
  std::array<int, 64> side_{};
  int label_ = 0;
};

const Registry::Add registered{{"evidence", "evidence accumulation in a T-maze (SPEC 3.1)",
                                [](const Node& n, double dt, std::uint64_t seed) -> std::unique_ptr<Task> {
                                  return std::make_unique<Evidence>(n, dt, seed);
                                }}};

}  // namespace
}  // namespace plexus::task
