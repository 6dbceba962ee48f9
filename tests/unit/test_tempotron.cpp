// The tempotron (SPEC 4.5) and its patterns (SPEC 3.5): kernel normalisation, analytic t_max against
// a 1-us grid search, the direction of one correction, the stepped neuron model against the exact
// potential, pattern generation, and learning a load of alpha = 1.
#include <catch2/catch.hpp>
#include <cmath>

#include "helpers.hpp"
#include "plexus/core/rng.hpp"
#include "plexus/learning/tempotron.hpp"
#include "plexus/task/tempotron_patterns.hpp"
#include "plexus/train/shell.hpp"
#include "plexus/train/tempotron.hpp"

using namespace plexus;
namespace tp = plexus::learning::tempotron;

namespace {

task::TempotronPatternSpec spec(std::uint32_t n, double T = 500.0) {
  task::TempotronPatternSpec s;
  s.afferents = n;
  s.duration_ms = T;
  return s;
}

tp::Pattern to_pattern(const task::SpikePattern& s) {
  tp::Pattern p;
  p.time = s.time_ms;
  p.afferent = s.afferent;
  return p;
}

std::vector<double> normal_weights(std::uint32_t n, double std, std::uint64_t key) {
  rng::Stream s(99, rng::Purpose::Weight, key);
  std::vector<double> w(n);
  for (auto& x : w) x = std * s.normal();
  return w;
}

// The potential on a grid of spacing h over [0, T], as the tempotron sees it: every input before t
// counts, or, with a threshold, only the inputs before the first grid point at or above it
// (shunting). Exponentials are referred to the current grid point, as in the event-based code.
struct Grid {
  double v_max = 0.0, t_max = 0.0, t_cross = -1.0;
};
Grid grid_search(const tp::Kernel& k, const tp::Pattern& p, const std::vector<double>& w, double T, double h,
                 double threshold) {
  Grid g;
  const double da = std::exp(-h / k.tau), db = std::exp(-h / k.tau_s);
  double a = 0.0, b = 0.0;
  std::size_t next = 0;
  bool shunted = false;
  const auto steps = static_cast<std::int64_t>(std::llround(T / h));
  for (std::int64_t s = 0; s <= steps; ++s) {
    const double t = static_cast<double>(s) * h;
    if (s > 0) a *= da, b *= db;
    while (next < p.size() && p.time[next] < t) {
      if (!shunted) {
        a += w[p.afferent[next]] * std::exp(-(t - p.time[next]) / k.tau);
        b += w[p.afferent[next]] * std::exp(-(t - p.time[next]) / k.tau_s);
      }
      ++next;
    }
    const double v = k.v0 * (a - b);
    if (v > g.v_max) g.v_max = v, g.t_max = t;
    if (!shunted && v >= threshold) shunted = true, g.t_cross = t;
  }
  return g;
}

}  // namespace

TEST_CASE("tempotron kernel: peak normalised to 1 at its analytic peak time", "[tempotron]") {
  for (auto [tau, tau_s] : {std::pair{15.0, 3.75}, std::pair{20.0, 2.0}, std::pair{10.0, 9.0}}) {
    INFO("tau " << tau << " tau_s " << tau_s);
    const auto k = tp::Kernel::make(tau, tau_s);
    const double peak = tau * tau_s * std::log(tau / tau_s) / (tau - tau_s);
    CHECK(k.peak == Approx(peak).epsilon(1e-14));
    CHECK(k(k.peak) == Approx(1.0).epsilon(1e-14));
    // Nothing on a 1-us grid over 10 tau is higher, and the grid maximum sits next to the peak.
    double best = 0.0, at = 0.0;
    for (int i = 1; i <= 10000 * static_cast<int>(tau); ++i) {
      const double t = i * 1e-3;
      if (k(t) > best) best = k(t), at = t;
    }
    CHECK(best <= 1.0 + 1e-15);
    CHECK(best > 1.0 - 1e-8);
    CHECK(std::fabs(at - k.peak) <= 1e-3);
    CHECK(k(0.0) == 0.0);
    CHECK(k(-1.0) == 0.0);
  }
  CHECK_THROWS(tp::Kernel::make(5.0, 5.0));
  CHECK_THROWS(tp::Kernel::make(5.0, 0.0));
}

TEST_CASE("tempotron: analytic t_max agrees with a 1-us grid search on random patterns", "[tempotron]") {
  const auto k = tp::Kernel::make(15.0, 3.75);
  const double T = 500.0;
  const std::uint32_t N = 500;
  const task::TempotronPatterns gen(spec(N, T), 7);
  int fired = 0, silent = 0;
  for (std::uint64_t i = 0; i < 24; ++i) {
    INFO("pattern " << i);
    const auto p = to_pattern(gen.pattern(0, task::Stream::Train, i));
    // Weights with a positive mean, so that the potential has real peaks; half the patterns are
    // judged against a threshold they cross (shunting), half against one they cannot reach.
    auto w = normal_weights(N, 0.02, i);
    for (auto& x : w) x += 0.004;
    const double threshold = i % 2 ? 1e9 : 0.25;
    const auto q = tp::Prepared::make(k, p, T);
    const auto r = tp::respond(k, q, w.data(), threshold);
    const auto g = grid_search(k, p, w, T, 1e-3, threshold);
    CHECK(r.fired == (g.t_cross >= 0.0));
    if (r.fired) {
      ++fired;
      CHECK(std::fabs(r.t_spike - g.t_cross) <= 1e-3);
      CHECK(g.t_cross >= r.t_spike);
    } else {
      ++silent;
    }
    CHECK(std::fabs(r.t_max - g.t_max) <= 1e-3);
    // v_max is the potential at t_max made of the contributing inputs only.
    auto v_at = [&](double t) {
      double v = 0.0;
      for (std::size_t m = 0; m < r.contributing; ++m) v += w[p.afferent[m]] * k(t - p.time[m]);
      return v;
    };
    CHECK(v_at(r.t_max) == Approx(r.v_max).epsilon(1e-12));
    // The analytic maximum is at least the grid's, and the grid's is at least the potential at the
    // grid point next to t_max (inputs up to that point count, unless they are shunted).
    CHECK(r.v_max >= g.v_max - 1e-12);
    const double nearest = std::round(r.t_max / 1e-3) * 1e-3;
    CHECK(g.v_max >= (r.fired ? v_at(nearest) : tp::potential(k, p, w.data(), nearest)) - 1e-12);
    if (!r.fired) CHECK(tp::potential(k, p, w.data(), r.t_max) == Approx(r.v_max).epsilon(1e-12));
  }
  CHECK(fired >= 6);
  CHECK(silent >= 12);  // the unreachable threshold, and some of the others
}

TEST_CASE("tempotron: one correction moves V(t_max) the right way, by the closed-form amount",
          "[tempotron]") {
  const auto k = tp::Kernel::make(15.0, 3.75);
  const double T = 500.0;
  const std::uint32_t N = 200;
  const task::TempotronPatterns gen(spec(N, T), 3);
  const auto p = to_pattern(gen.pattern(0, task::Stream::Train, 0));
  const auto q = tp::Prepared::make(k, p, T);
  for (double mean : {0.0, 0.02}) {
    INFO("mean weight " << mean);
    tp::Learner L;
    L.lambda = 1e-3;
    L.threshold = 1.0;
    L.w = normal_weights(N, 0.02, 1);
    for (auto& x : L.w) x += mean;
    const auto before = tp::respond(k, q, L.w.data(), L.threshold);
    const bool positive = !before.fired;  // the wrong answer, so that the tempotron learns
    auto v_at = [&](const std::vector<double>& w, const tp::Response& r) {
      double v = 0.0;
      for (std::size_t m = 0; m < r.contributing; ++m) v += w[p.afferent[m]] * k(r.t_max - p.time[m]);
      return v;
    };
    double sq = 0.0;
    for (std::size_t m = 0; m < before.contributing; ++m) sq += std::pow(k(before.t_max - p.time[m]), 2);
    const auto w0 = L.w;
    CHECK_FALSE(L.present(k, q, positive));
    const double change = v_at(L.w, before) - v_at(w0, before);
    CHECK(change == Approx((positive ? 1.0 : -1.0) * L.lambda * sq).epsilon(1e-9));
    CHECK((positive ? change > 0.0 : change < 0.0));
    const auto after = tp::respond(k, q, L.w.data(), 1e9);
    if (positive) CHECK(after.v_max > before.v_max);
    // A correct answer changes nothing.
    L.threshold = positive ? -1.0 : 1e9;
    const auto w1 = L.w;
    CHECK(L.present(k, q, positive));
    CHECK(L.w == w1);
  }
}

TEST_CASE("tempotron: with momentum, a correction adds mu times the previous one", "[tempotron]") {
  const auto k = tp::Kernel::make(15.0, 3.75);
  const std::uint32_t N = 100;
  const task::TempotronPatterns gen(spec(N), 4);
  const auto q = tp::Prepared::make(k, to_pattern(gen.pattern(0, task::Stream::Train, 1)), 500.0);
  tp::Learner L;
  L.lambda = 1e-3;
  L.mu = 0.9;
  L.threshold = 1e9;  // never fires: every positive presentation is a miss
  L.w = normal_weights(N, 0.02, 2);
  const auto w0 = L.w;
  L.present(k, q, true);
  std::vector<double> d1(N);
  for (std::uint32_t i = 0; i < N; ++i) d1[i] = L.w[i] - w0[i];
  const auto r = tp::respond(k, q, L.w.data(), L.threshold);
  std::vector<double> g(N, 0.0);
  tp::gradient(k, q, r, g.data());
  const auto w1 = L.w;
  L.present(k, q, true);
  for (std::uint32_t i = 0; i < N; i += 7)
    CHECK(L.w[i] - w1[i] == Approx(0.9 * d1[i] + 1e-3 * g[i]).margin(1e-15));
}

TEST_CASE("tempotron neuron model on the grid equals the exact potential at step times", "[tempotron]") {
  test::Cells c(R"(
[run]
duration_ms = 100.0
dt_ms = 0.5
[populations.t]
model = "tempotron"
size = 2
params = { tau_ms = 12.0, tau_s_ms = 3.0, threshold = 1.5 }
)");
  const auto k = tp::Kernel::make(12.0, 3.0);
  // Neuron 0 gets inputs on the grid; neuron 1 the same inputs doubled, so it crosses threshold.
  tp::Pattern p;
  std::vector<double> w;
  for (int i = 0; i < 12; ++i) {
    p.time.push_back(3.0 + 4.5 * i);
    p.afferent.push_back(static_cast<std::uint32_t>(i));
    w.push_back(0.15 + 0.05 * (i % 3));
  }
  bool spiked = false;
  double shunt_from = -1.0;
  for (int s = 0; s < 200; ++s) {
    const double t = s * 0.5;
    for (std::size_t i = 0; i < p.size(); ++i)
      if (p.time[i] == t) {
        c.in[0][0] += w[i];
        c.in[0][1] += 2.0 * w[i];
      }
    c.step();
    INFO("t = " << t);
    CHECK(c.var("V", 0) == Approx(tp::potential(k, p, w.data(), t)).margin(1e-12));
    if (c.z[1] != 0.0) {
      CHECK_FALSE(spiked);
      spiked = true;
      shunt_from = t;
    }
  }
  CHECK(spiked);
  CHECK(c.var("shunted", 1) == 1.0);
  // After the spike neuron 1 ignores its inputs: its potential is that of the inputs up to the spike.
  tp::Pattern before;
  for (std::size_t i = 0; i < p.size(); ++i)
    if (p.time[i] <= shunt_from) before.time.push_back(p.time[i]), before.afferent.push_back(p.afferent[i]);
  std::vector<double> w2(w.size());
  for (std::size_t i = 0; i < w.size(); ++i) w2[i] = 2.0 * w[i];
  CHECK(c.var("V", 1) == Approx(tp::potential(k, before, w2.data(), 99.5)).margin(1e-12));
}

TEST_CASE("tempotron patterns: one spike per afferent inside the pattern, keyed by experiment and pattern",
          "[tempotron]") {
  auto s = spec(300, 250.0);
  const task::TempotronPatterns gen(s, 11);
  int positives = 0;
  for (std::uint64_t i = 0; i < 200; ++i) {
    const auto p = gen.pattern(2, task::Stream::Train, i);
    REQUIRE(p.time_ms.size() == 300);
    std::vector<int> seen(300, 0);
    for (std::size_t m = 0; m < p.time_ms.size(); ++m) {
      ++seen[p.afferent[m]];
      CHECK((p.time_ms[m] >= 0.0 && p.time_ms[m] < 250.0));
      if (m) CHECK(p.time_ms[m] >= p.time_ms[m - 1]);
    }
    CHECK(std::count(seen.begin(), seen.end(), 1) == 300);
    positives += p.label;
  }
  CHECK(positives > 70);
  CHECK(positives < 130);
  const auto a = gen.pattern(2, task::Stream::Train, 5), b = gen.pattern(2, task::Stream::Train, 5);
  CHECK(a.time_ms == b.time_ms);
  CHECK(gen.pattern(3, task::Stream::Train, 5).time_ms != a.time_ms);
  CHECK(gen.pattern(2, task::Stream::Test, 5).time_ms != a.time_ms);
  // Jittered copies of templates stay close to their template, and share its label.
  s.templates = 4;
  s.jitter_ms = 2.0;
  const task::TempotronPatterns tgen(s, 11);
  const auto c0 = tgen.pattern(0, task::Stream::Train, 1), c1 = tgen.pattern(0, task::Stream::Test, 5);
  CHECK(c0.label == c1.label);
  std::vector<double> t0(300), t1(300);
  for (std::size_t m = 0; m < 300; ++m)
    t0[c0.afferent[m]] = c0.time_ms[m], t1[c1.afferent[m]] = c1.time_ms[m];
  double mean_abs = 0.0;
  for (std::size_t i = 0; i < 300; ++i) mean_abs += std::fabs(t0[i] - t1[i]) / 300.0;
  CHECK(mean_abs > 1.0);  // copies differ (2 sqrt(2/pi) ms expected for two jitters of 2 ms)
  CHECK(mean_abs < 4.0);
}

namespace {
const char* kCapacity = R"(
[run]
dt_ms = 0.1
[network]
seed = 1
[task]
kind = "tempotron_patterns"
duration_ms = 500.0
[train]
rule = "tempotron"
loads = [1.0]
repeats = 1
epochs = 300
learning_rate = 1e-4
momentum = 0.99
[populations.afferents]
model = "task_input"
size = 500
[populations.tempotron]
model = "tempotron"
size = 1
[projections.in]
source = "afferents"
target = "tempotron"
rule = "all_to_all"
weight = { dist = "normal", mean = 0.0, std = 0.001 }
delay_ms = 0.0
)";
}

// SPEC 4.5: with N = 500 afferents the tempotron learns P = N random patterns without an error
// (seed 1, repeat 0; the load alpha = 2 with 3 repeats is the long test below).
TEST_CASE("tempotron learns alpha = 1 (500 patterns, 500 afferents) without error", "[tempotron]") {
  const auto net = test::network(kCapacity);
  auto comm = comm::make_single();
  const train::Setup setup{net, *comm, 1, nullptr};
  train::TempotronTraining trainer(setup);
  train::run_to_end("tempotron", trainer, setup);
  const auto s = trainer.summary();
  REQUIRE(s.experiments.size() == 1);
  const auto& x = s.experiments[0];
  CHECK(x.patterns == 500);
  INFO("solved in epoch " << x.solved_epoch);
  CHECK(x.solved_epoch > 1);
  CHECK(x.solved_epoch <= 300);
  CHECK(x.train_accuracy == 1.0);
  // The error count of the solving epoch is zero and the one before it is not.
  const auto& err = trainer.errors();
  CHECK(err[static_cast<std::size_t>(x.solved_epoch - 1)] == 0);
  CHECK(err[static_cast<std::size_t>(x.solved_epoch - 2)] > 0);
  CHECK(err[0] > 100);  // untrained: about half wrong
}

TEST_CASE("tempotron learns alpha = 2 without error within 300 epochs for 3 repeats", "[tempotron][.long]") {
  const auto net = test::network(kCapacity, {"train.loads=[2.0]", "train.repeats=3"});
  auto comm = comm::make_single();
  const train::Setup setup{net, *comm, 2, nullptr};
  train::TempotronTraining trainer(setup);
  train::run_to_end("tempotron", trainer, setup);
  const auto s = trainer.summary();
  REQUIRE(s.experiments.size() == 3);
  for (const auto& x : s.experiments) {
    INFO("repeat " << x.repeat << ": solved in epoch " << x.solved_epoch);
    CHECK(x.patterns == 1000);
    CHECK(x.solved_epoch > 0);
    CHECK(x.train_accuracy == 1.0);
  }
}

TEST_CASE("tempotron training rejects malformed models with located errors", "[tempotron]") {
  auto comm = comm::make_single();
  auto fails = [&](const std::vector<std::string>& sets, const std::string& what) {
    const auto net = test::network(kCapacity, sets);
    try {
      train::TempotronTraining t({net, *comm, 1, nullptr});
      FAIL("no error for " << what);
    } catch (const UserError& e) {
      CHECK_THAT(e.what(), Catch::Contains(what));
    }
  };
  fails({"train.momentum=1.0"}, "train.momentum");
  fails({"train.bogus=1"}, "bogus");
  fails({"populations.tempotron.size=3"}, "populations.tempotron.size");
  fails({"projections.in.delay_ms=1.0"}, "projections.in.delay_ms");
  fails({"task.jitter_ms=1.0"}, "task.jitter_ms");
  fails({"train.test_patterns=10"}, "train.test_patterns");
  fails({"populations.tempotron.params={tau_ms = 5.0, tau_s_ms = 6.0}"}, "tau_s_ms");
}

// One tempotron per class, on jittered copies of templates: the units of one experiment share its
// patterns, and the experiment is scored on fresh copies (generalisation).
TEST_CASE("tempotron: one per class generalises to fresh jittered copies of templates", "[tempotron]") {
  std::string toml = kCapacity;
  toml.replace(toml.find("loads = [1.0]"), 13, "patterns = [120]");
  const auto net = test::network(
      toml, {"task.classes=3", "task.templates=6", "task.jitter_ms=2.0", "populations.afferents.size=100",
             "populations.tempotron.size=3", "train.test_patterns=120", "train.epochs=200",
             "train.learning_rate=1e-3", "train.momentum=0.9"});
  auto comm = comm::make_single();
  const train::Setup setup{net, *comm, 1, nullptr};
  train::TempotronTraining trainer(setup);
  train::run_to_end("tempotron", trainer, setup);
  const auto s = trainer.summary();
  REQUIRE(s.experiments.size() == 1);
  CHECK(s.tempotrons == 3);
  CHECK(trainer.weights().size() == 3 * 100);
  const auto& x = s.experiments[0];
  INFO("solved in epoch " << x.solved_epoch << ", test accuracy " << x.test_accuracy);
  CHECK(x.solved_epoch > 0);
  CHECK(x.train_accuracy == 1.0);
  CHECK(x.test_accuracy >= 0.9);  // seed 1: solved in epoch 4, test accuracy 0.983 (118 of 120)
}
