#pragma once
// SPEC 3.2: delayed match-to-sample. Input channels are tuned to a direction (von Mises); a sample
// direction is shown, then withheld through a delay, then a test direction is shown, and the network
// answers in the test phase whether the two were the same (label 1, match) or not (label 0).
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "plexus/task/task.hpp"

namespace plexus::task {

class Dms final : public Task {
 public:
  Dms(const model::Node& n, double dt_ms, std::uint64_t seed);
  std::string kind() const override { return "dms"; }
  std::size_t channels() const override { return channels_; }
  std::size_t outputs() const override { return 2; }
  Step steps() const override { return T_; }
  bool classification() const override { return true; }
  Step window_begin() const override { return test_start_; }

  void begin_trial(Stream stream, std::uint64_t trial) override;
  int label() const override { return sample_ == test_ ? 1 : 0; }
  void input_spikes(Step t, std::size_t begin, std::size_t end, double* z) const override;
  std::string describe_trial() const override;

  // The current trial's directions, as indices k of the angles k * 360° / directions.
  int sample_direction() const { return sample_; }
  int test_direction() const { return test_; }
  int directions() const { return directions_; }
  // Spike probability per step of channel c while direction k is shown (k < 0: background only).
  double probability(int k, std::size_t c) const;
  // First steps of the sample, delay and test phases.
  Step sample_start() const { return fixation_; }
  Step delay_start() const { return fixation_ + sample_len_; }
  Step test_start() const { return test_start_; }

 private:
  std::uint64_t seed_;
  std::size_t channels_ = 100;
  int directions_ = 8;
  Step fixation_ = 0, sample_len_ = 0, test_start_ = 0, T_ = 0;
  double match_p_ = 0.5, p_background_ = 0.0;
  std::vector<double> p_;  // directions x channels: probability per step while a direction is shown
  std::uint64_t stream_ = 0, trial_ = 0;
  int sample_ = 0, test_ = 0;
};

}  // namespace plexus::task
