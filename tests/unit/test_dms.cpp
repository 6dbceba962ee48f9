// The delayed match-to-sample task (SPEC 3.2): trial statistics, input rates per phase, purity.
#include <catch2/catch.hpp>
#include <cmath>
#include <memory>
#include <vector>

#include "helpers.hpp"
#include "plexus/task/dms.hpp"

using namespace plexus;

namespace {

std::unique_ptr<task::Dms> dms(const std::vector<std::string>& sets = {}, std::uint64_t seed = 5) {
  const auto net = test::network(R"(
[run]
dt_ms = 1.0
duration_ms = 10.0
[task]
kind = "dms"
[populations.x]
model = "lif"
size = 1
)",
                                 sets);
  auto t = task::make(*net.task, 1.0, seed);
  auto* d = dynamic_cast<task::Dms*>(t.get());
  REQUIRE(d);
  t.release();
  return std::unique_ptr<task::Dms>(d);
}

}  // namespace

TEST_CASE("DMS: phases, channels and labels", "[task][dms]") {
  auto d = dms();
  CHECK(d->channels() == 100);
  CHECK(d->outputs() == 2);
  CHECK(d->classification());
  CHECK(d->sample_start() == 10);
  CHECK(d->delay_start() == 510);
  CHECK(d->test_start() == 1510);
  CHECK(d->window_begin() == 1510);
  CHECK(d->steps() == 2010);
  d->begin_trial(task::Stream::Train, 0);
  CHECK(d->label() == (d->sample_direction() == d->test_direction() ? 1 : 0));
  CHECK(d->describe_trial().find("sample ") == 0);
  // Phases are whole steps.
  CHECK_THROWS_AS(dms({"task.delay_ms=10.5"}), ConfigError);
  CHECK_THROWS_AS(dms({"task.test_ms=0"}), ConfigError);
  CHECK_THROWS_AS(dms({"task.peak_rate_hz=2000"}), ConfigError);
}

TEST_CASE("DMS: half the trials match, and non-matches are uniform over the other directions",
          "[task][dms]") {
  auto d = dms();
  const int n = 40000;
  int matches = 0;
  std::vector<int> sample(8, 0), offset(8, 0);
  for (int i = 0; i < n; ++i) {
    d->begin_trial(task::Stream::Train, static_cast<std::uint64_t>(i));
    const int s = d->sample_direction(), t = d->test_direction();
    REQUIRE(s >= 0);
    REQUIRE(s < 8);
    REQUIRE(t >= 0);
    REQUIRE(t < 8);
    ++sample[static_cast<std::size_t>(s)];
    if (d->label() == 1) {
      REQUIRE(s == t);
      ++matches;
    } else {
      REQUIRE(s != t);
      ++offset[static_cast<std::size_t>((t - s + 8) % 8)];
    }
  }
  // Binomial(n, 1/2): 4.5 standard deviations.
  CHECK(std::fabs(matches - n / 2.0) < 4.5 * std::sqrt(n * 0.25));
  // Chi-square goodness of fit (7 degrees of freedom for the samples, 6 for the non-match offsets);
  // 24.3 and 22.5 are the 0.1 % critical values.
  double chi_s = 0, chi_o = 0;
  for (int k = 0; k < 8; ++k) {
    const double e = n / 8.0;
    chi_s += (sample[static_cast<std::size_t>(k)] - e) * (sample[static_cast<std::size_t>(k)] - e) / e;
  }
  const double e = (n - matches) / 7.0;
  CHECK(offset[0] == 0);
  for (int k = 1; k < 8; ++k)
    chi_o += (offset[static_cast<std::size_t>(k)] - e) * (offset[static_cast<std::size_t>(k)] - e) / e;
  CHECK(chi_s < 24.3);
  CHECK(chi_o < 22.5);
}

TEST_CASE("DMS: per-channel rates follow the von Mises tuning in each phase", "[task][dms]") {
  auto d = dms();
  const std::size_t C = 100;
  // The tuning as SPEC 3.2 states it: 100 Hz exp(3 (cos(theta - pref) - 1)) + 1 Hz, at dt = 1 ms.
  auto rate = [](int k, std::size_t c) {
    if (k < 0) return 1e-3;
    const double theta = k * M_PI / 4.0, pref = 2.0 * M_PI * static_cast<double>(c) / 100.0;
    return 0.1 * std::exp(3.0 * (std::cos(theta - pref) - 1.0)) + 1e-3;
  };
  for (int k = -1; k < 8; ++k)
    for (std::size_t c = 0; c < C; ++c) REQUIRE(d->probability(k, c) == Approx(rate(k, c)).epsilon(1e-12));
  CHECK(d->probability(2, 25) == Approx(0.101));  // channel 25 prefers 90 degrees: the peak

  // Observed spike counts per channel and phase against the expected counts, over many trials.
  enum { Fix, Sample, Delay, Test, Phases };
  std::vector<double> obs(Phases * C, 0.0), expect(Phases * C, 0.0), var(Phases * C, 0.0);
  std::vector<double> z(C);
  const int trials = 120;
  for (int i = 0; i < trials; ++i) {
    d->begin_trial(task::Stream::Validation, static_cast<std::uint64_t>(i));
    for (Step t = 0; t < d->steps(); ++t) {
      const int ph = t < d->sample_start()  ? Fix
                     : t < d->delay_start() ? Sample
                     : t < d->test_start()  ? Delay
                                            : Test;
      const int shown = ph == Sample ? d->sample_direction() : ph == Test ? d->test_direction() : -1;
      d->input_spikes(t, 0, C, z.data());
      for (std::size_t c = 0; c < C; ++c) {
        const double p = rate(shown, c);
        obs[ph * C + c] += z[c];
        expect[ph * C + c] += p;
        var[ph * C + c] += p * (1.0 - p);
      }
    }
  }
  // Each count within 5 standard deviations (400 counts: a false alarm has probability ~2e-4), and
  // each phase's total within 4.
  for (int ph = 0; ph < Phases; ++ph) {
    double o = 0, e = 0, v = 0;
    for (std::size_t c = 0; c < C; ++c) {
      const std::size_t i = ph * C + c;
      INFO("phase " << ph << ", channel " << c << ": " << obs[i] << " spikes, expected " << expect[i]);
      CHECK(std::fabs(obs[i] - expect[i]) < 5.0 * std::sqrt(var[i]) + 1.0);
      o += obs[i], e += expect[i], v += var[i];
    }
    INFO("phase " << ph << ": " << o << " spikes, expected " << e);
    CHECK(std::fabs(o - e) < 4.0 * std::sqrt(v));
  }
}

TEST_CASE("DMS: a trial is a pure function of seed, stream and index", "[task][dms]") {
  auto a = dms(), b = dms(), other_seed = dms({}, 6);
  const std::size_t C = 100;
  std::vector<double> za(C), zb(C), part(30);
  auto spikes = [&](task::Dms& d, task::Stream s, std::uint64_t trial) {
    d.begin_trial(s, trial);
    std::vector<double> all, z(C);
    for (Step t = 0; t < d.steps(); ++t) {
      d.input_spikes(t, 0, C, z.data());
      all.insert(all.end(), z.begin(), z.end());
    }
    return all;
  };
  a->begin_trial(task::Stream::Train, 11);
  b->begin_trial(task::Stream::Test, 2);
  b->begin_trial(task::Stream::Train, 11);  // the same trial, reached another way
  CHECK(a->sample_direction() == b->sample_direction());
  CHECK(a->test_direction() == b->test_direction());
  for (Step t = 0; t < a->steps(); ++t) {
    a->input_spikes(t, 0, C, za.data());
    b->input_spikes(t, 0, C, zb.data());
    REQUIRE(za == zb);
    b->input_spikes(t, 35, 65, part.data());  // any channel range alone gives the same spikes
    for (std::size_t c = 0; c < 30; ++c) REQUIRE(part[c] == za[35 + c]);
  }
  const auto train = spikes(*a, task::Stream::Train, 11);
  CHECK(train == spikes(*b, task::Stream::Train, 11));
  CHECK(train != spikes(*a, task::Stream::Validation, 11));
  CHECK(train != spikes(*a, task::Stream::Test, 11));
  CHECK(train != spikes(*a, task::Stream::Train, 12));
  CHECK(train != spikes(*other_seed, task::Stream::Train, 11));
  // Streams draw different directions: over 64 trials, train and validation disagree somewhere.
  int differ = 0;
  for (std::uint64_t i = 0; i < 64; ++i) {
    a->begin_trial(task::Stream::Train, i);
    b->begin_trial(task::Stream::Validation, i);
    differ += a->sample_direction() != b->sample_direction() || a->test_direction() != b->test_direction();
  }
  CHECK(differ > 32);
}
