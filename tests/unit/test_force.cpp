// FORCE (SPEC 4.4): the RLS update against its algebra, the double-exponential filter against its
// closed form, the FORCE neuron models, target signals, metrics, the zero-mean static weights and
// the configuration errors of [train] rule = "force".
#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <fstream>
#include <tuple>
#include <vector>

#include "helpers.hpp"
#include "plexus/core/rng.hpp"
#include "plexus/io/result_file.hpp"
#include "plexus/learning/force.hpp"
#include "plexus/neuron/double_exponential.hpp"
#include "plexus/task/signal.hpp"
#include "plexus/train/force.hpp"
#include "plexus/train/shell.hpp"
#include "support/plain_run.hpp"

using namespace plexus;
namespace force = plexus::learning::force;

namespace {

std::string one(const std::string& model, const std::string& params, const std::string& init, double dt) {
  return "[run]\nduration_ms = 100.0\ndt_ms = " + std::to_string(dt) + "\n[populations.P]\nmodel = \"" +
         model + "\"\nsize = 1\nparams = {" + params + "}\n" +
         (init.empty() ? "" : "init = {" + init + "}\n");
}

// P (n x n) of an Rls that holds all rows, after any pending update.
std::vector<double> full_P(force::Rls& rls) {
  const std::size_t n = rls.neurons();
  rls.apply_pending(0, n);
  rls.product_done();
  std::vector<double> P(n * n);
  for (std::size_t j = 0; j < n; ++j)
    for (std::size_t i = 0; i < n; ++i) P[j * n + i] = rls.row(j)[i];
  return P;
}

std::vector<double> matvec(const std::vector<double>& P, const std::vector<double>& r) {
  const std::size_t n = r.size();
  std::vector<double> out(n, 0.0);
  for (std::size_t j = 0; j < n; ++j)
    for (std::size_t i = 0; i < n; ++i) out[j] += P[j * n + i] * r[i];
  return out;
}

// Filtered-rate-like vectors: positive, of order 10 to 50 (Hz).
std::vector<double> rates(std::size_t n, std::uint64_t key) {
  rng::Stream s(7, rng::Purpose::Task, key);
  std::vector<double> r(n);
  for (auto& x : r) x = s.uniform(0.0, 50.0);
  return r;
}

// One RLS step in the trainer's order: c = P r over all rows, then the update.
std::vector<double> rls_step(force::Rls& rls, const std::vector<double>& r, const std::vector<double>& e) {
  std::vector<double> c(rls.neurons());
  rls.product(0, rls.neurons(), r.data(), c.data());
  rls.product_done();
  rls.update(r.data(), c.data(), e.data());
  return c;
}

}  // namespace

TEST_CASE("RLS: each update satisfies the Sherman-Morrison identity and keeps P symmetric", "[force]") {
  const std::size_t n = 43, k = 2;  // not a multiple of the eight lanes of the dot product
  force::Rls rls(n, k, 0, n, 0.5);
  double worst_identity = 0.0, worst_symmetry = 0.0, worst_decoder = 0.0;
  for (int u = 0; u < 30; ++u) {
    const auto P_old = full_P(rls);
    const auto phi_old = rls.decoders();
    const auto r = rates(n, static_cast<std::uint64_t>(u));
    const std::vector<double> e{0.3 - 0.02 * u, -0.1 + 0.01 * u};
    const auto c = rls_step(rls, r, e);
    const auto P_new = full_P(rls);
    // Sherman-Morrison: P_new = (P_old^-1 + r r^T)^-1, i.e. P_new (P_old^-1 + r r^T) P_old = P_old:
    //   P_new + (P_new r)(P_old r)^T = P_old.
    const auto a = matvec(P_new, r), b = matvec(P_old, r);
    double scale = 0.0;
    for (double x : P_old) scale = std::max(scale, std::fabs(x));
    for (std::size_t i = 0; i < n; ++i)
      for (std::size_t j = 0; j < n; ++j) {
        worst_identity =
            std::max(worst_identity, std::fabs(P_new[i * n + j] + a[i] * b[j] - P_old[i * n + j]) / scale);
        worst_symmetry = std::max(worst_symmetry, std::fabs(P_new[i * n + j] - P_new[j * n + i]) / scale);
      }
    // c is P_old r, and phi <- phi - c e^T.
    for (std::size_t i = 0; i < n; ++i) {
      REQUIRE(c[i] == Approx(b[i]).epsilon(1e-12));
      for (std::size_t m = 0; m < k; ++m)
        worst_decoder = std::max(worst_decoder,
                                 std::fabs(rls.decoders()[m * n + i] - (phi_old[m * n + i] - b[i] * e[m])));
    }
  }
  INFO("identity " << worst_identity << ", symmetry " << worst_symmetry << ", decoders " << worst_decoder);
  CHECK(worst_identity < 1e-12);
  CHECK(worst_symmetry < 1e-12);
  CHECK(worst_decoder < 1e-12);
  // P is the inverse of the regularised correlation matrix I/p0 + sum r r^T (chained Sherman-Morrison).
  std::vector<double> R(n * n, 0.0);
  for (std::size_t i = 0; i < n; ++i) R[i * n + i] = 1.0 / 0.5;
  for (int u = 0; u < 30; ++u) {
    const auto r = rates(n, static_cast<std::uint64_t>(u));
    for (std::size_t i = 0; i < n; ++i)
      for (std::size_t j = 0; j < n; ++j) R[i * n + j] += r[i] * r[j];
  }
  const auto P = full_P(rls);
  double worst = 0.0;
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t j = 0; j < n; ++j) {
      double s = 0.0;
      for (std::size_t l = 0; l < n; ++l) s += P[i * n + l] * R[l * n + j];
      worst = std::max(worst, std::fabs(s - (i == j ? 1.0 : 0.0)));
    }
  CHECK(worst < 1e-9);
}

TEST_CASE("RLS: rows held in parts and the fused update give the same numbers as one whole P", "[force]") {
  const std::size_t n = 37, k = 1;
  force::Rls whole(n, k, 0, n, 2.0), lower(n, k, 0, 20, 2.0), upper(n, k, 20, n, 2.0);
  for (int u = 0; u < 12; ++u) {
    const auto r = rates(n, 100 + static_cast<std::uint64_t>(u));
    const std::vector<double> e{0.5 - 0.07 * u};
    std::vector<double> c_whole(n), c_parts(n);
    // Whole: pending update applied first, then the product; parts: fused, in two thread ranges.
    whole.apply_pending(0, n);
    whole.product_done();
    whole.product(0, n, r.data(), c_whole.data());
    whole.product_done();
    lower.product(0, 7, r.data(), c_parts.data());
    lower.product(7, 20, r.data(), c_parts.data());
    upper.product(0, n - 20, r.data(), c_parts.data() + 20);
    lower.product_done();
    upper.product_done();
    for (std::size_t i = 0; i < n; ++i) REQUIRE(c_whole[i] == c_parts[i]);  // bit for bit
    whole.update(r.data(), c_whole.data(), e.data());
    lower.update(r.data(), c_parts.data(), e.data());
    upper.update(r.data(), c_parts.data(), e.data());
  }
  CHECK(whole.decoders() == lower.decoders());
  CHECK(whole.decoders() == upper.decoders());
  CHECK(whole.updates() == 12);
  CHECK_THROWS_AS(whole.update(rates(n, 1).data(), rates(n, 2).data(), std::vector<double>{0.0}.data()),
                  std::logic_error);  // the previous update is still pending
}

TEST_CASE("RLS: the dot product does not depend on the alignment of the data", "[force]") {
  const auto a = rates(29, 1), b = rates(29, 2);
  double plain = 0.0;
  for (std::size_t i = 0; i < a.size(); ++i) plain += a[i] * b[i];
  CHECK(force::dot(a.data(), b.data(), a.size()) == Approx(plain).epsilon(1e-14));
  std::vector<double> a2(a.size() + 1), b2(b.size() + 1);
  std::copy(a.begin(), a.end(), a2.begin() + 1);
  std::copy(b.begin(), b.end(), b2.begin() + 1);
  CHECK(force::dot(a2.data() + 1, b2.data() + 1, a.size()) == force::dot(a.data(), b.data(), a.size()));
}

TEST_CASE("double-exponential filter: one spike against the closed form", "[force][neuron]") {
  for (const auto& [tr, td, unit] : std::vector<std::tuple<double, double, double>>{
           {2.0, 20.0, 1000.0}, {2.0, 20.0, 1.0}, {0.0, 20.0, 1.0}, {5.0, 5.0, 1.0}}) {
    INFO("tau_r " << tr << ", tau_d " << td << ", unit " << unit);
    const double dt = 0.05;
    const auto f = neuron::DoubleExponential::make(tr, td, dt, unit);
    double s = 0.0, h = 0.0, area = 0.0;
    // The spike arrives at step 0; n steps later s = k((n + 1) dt).
    for (int n = 0; n < 4000; ++n) {
      f.step(s, h, n == 0 ? 1.0 : 0.0);
      REQUIRE(s == Approx(f.kernel((n + 1) * dt)).epsilon(1e-11).margin(1e-14 * unit));
      area += s * dt / unit;
    }
    // Unit area in the rate unit (the kernel's tail beyond 200 ms and the Riemann sum aside).
    CHECK(area == Approx(1.0).epsilon(td == 5.0 ? 1e-3 : 2e-3));
  }
  // The closed form itself: k(t) = (exp(-t/td) - exp(-t/tr)) / (td - tr), in 1/s for "Hz".
  const auto f = neuron::DoubleExponential::make(2.0, 20.0, 0.05, 1000.0);
  CHECK(f.kernel(10.0) == Approx((std::exp(-0.5) - std::exp(-5.0)) / 18.0 * 1000.0).epsilon(1e-14));
  CHECK(f.kernel(-1.0) == 0.0);
}

TEST_CASE("lif_force: a spike of weight w gives the synaptic current w k(t)", "[force][neuron]") {
  test::Cells c(one("lif_force", "bias_mV = -70.0", "v = -70.0", 0.05));
  const auto filter = *c.pop->synaptic_filter();
  CHECK(c.pop->receptors()[0].weight_unit == "mV*s");
  const double w = 0.37;
  c.in[0][0] = w;  // arrives at step 0 (sent at step -1 with the one-step delay)
  for (int n = 0; n < 2000; ++n) {
    c.step();
    REQUIRE(c.var("I_syn") == Approx(w * filter.kernel((n + 1) * 0.05)).epsilon(1e-11));
  }
}

TEST_CASE("izhikevich with double-exponential synapses: the same filter, in pA ms", "[force][neuron]") {
  test::Cells c(one("izhikevich", "synapse = \"double_exponential\", I_bias_pA = 0.0", "v = -60.0", 0.04));
  const auto filter = *c.pop->synaptic_filter();
  CHECK(c.pop->receptors()[0].weight_unit == "pA*ms");
  CHECK(filter.c == Approx((std::exp(-0.04 / 20.0) - std::exp(-0.04 / 2.0)) / 18.0).epsilon(1e-14));
  c.in[0][0] = 100.0;
  for (int n = 0; n < 500; ++n) {
    c.step();
    REQUIRE(c.var("I_syn") == Approx(100.0 * filter.kernel((n + 1) * 0.04)).epsilon(1e-11));
  }
  // The single-exponential synapse is still the default, and it has no FORCE filter.
  test::Cells plain(one("izhikevich", "", "", 0.04));
  CHECK(!plain.pop->synaptic_filter());
}

TEST_CASE("lif_force: forward Euler towards the bias, spike at v_peak, held for t_ref", "[force][neuron]") {
  test::Cells c(one("lif_force", "bias_mV = -30.0", "v = -65.0", 0.05));
  const double a = 0.05 / 10.0;
  double v = -65.0;
  std::vector<int> spikes;
  for (int n = 0; n < 3000; ++n) {
    const bool spiked = c.step();
    if (spiked) {
      spikes.push_back(n);
      CHECK(c.var("v") == -65.0);
      v = -65.0;
      continue;
    }
    if (!spikes.empty() && n - spikes.back() <= 40) {  // held at v_reset for 2 ms after the spike step
      REQUIRE(c.var("v") == -65.0);
      continue;
    }
    v = v + a * (-30.0 - v);
    REQUIRE(c.var("v") == Approx(v).epsilon(1e-12));
  }
  REQUIRE(spikes.size() >= 3);
  // From v_reset, v(n) = -30 - 35 (1 - a)^n reaches -40 after ceil(log(10/35) / log(1 - a)) steps.
  const int climb = static_cast<int>(std::ceil(std::log(10.0 / 35.0) / std::log(1.0 - a)));
  CHECK(spikes[0] == climb - 1);
  for (std::size_t i = 1; i < spikes.size(); ++i) CHECK(spikes[i] - spikes[i - 1] == 40 + climb);
}

TEST_CASE("target signals: shapes, timing and the oscillators", "[force][task]") {
  auto make = [](const std::string& body, double dt, Step steps) {
    const auto net = test::network(
        "[run]\nduration_ms = 1.0\n[populations.P]\nmodel = \"lif_force\"\nsize = 1\n"
        "[task]\nkind = \"signal\"\n" +
        body + "\n[train]\nrule = \"force\"\nQ = 1.0\np0 = 1.0\n");
    return task::Signal::make(*net.task, dt, steps);
  };
  const auto sine = make("shape = \"sine\"\nfrequency_hz = 5.0\namplitude = 2.0", 0.05, 20000);
  REQUIRE(sine.outputs() == 1);
  for (Step t : {0, 17, 999, 19999})
    CHECK(*sine.at(t) == Approx(2.0 * std::sin(2 * M_PI * 5.0 * (t + 1) * 0.05e-3)).margin(1e-12));
  const auto saw = make("shape = \"sawtooth\"\nfrequency_hz = 2.0", 1.0, 1000);
  CHECK(*saw.at(124) == Approx(-0.5).margin(1e-12));   // t = 125 ms: a quarter of the 500-ms period
  CHECK(*saw.at(249) == Approx(0.0).margin(1e-12));    // half-way up
  CHECK(*saw.at(498) == Approx(0.996).margin(1e-12));  // just before the drop at 500 ms
  CHECK(*saw.at(500) == Approx(-0.996).margin(1e-12));
  const auto tri = make("shape = \"sawtooth\"\nfrequency_hz = 2.0\nwidth = 0.5\nphase_deg = 90.0", 1.0, 1000);
  CHECK(*tri.at(124) == Approx(1.0).margin(1e-12));   // t = 125 ms: the top of the triangle
  CHECK(*tri.at(249) == Approx(0.0).margin(1e-12));   // falling through zero
  CHECK(*tri.at(374) == Approx(-1.0).margin(1e-12));  // the bottom
  const auto prod = make("shape = \"sine_product\"\nfrequencies_hz = [4.0, 6.0]", 1.0, 500);
  CHECK(*prod.at(99) == Approx(std::sin(2 * M_PI * 0.4) * std::sin(2 * M_PI * 0.6)).margin(1e-12));

  // Van der Pol, harmonic (mu small): period 2 pi (1 + mu^2 / 16) time units, amplitude 2.
  const auto vdp =
      make("shape = \"van_der_pol\"\nmu = 0.3\ntime_scale_ms = 10.0\namplitude = 1.0", 0.05, 40000);
  std::vector<double> x(vdp.steps());
  for (Step t = 0; t < vdp.steps(); ++t) x[t] = *vdp.at(t);
  CHECK(force::dominant_frequency(x.data(), x.size(), 0.05, 1.0, 100.0) ==
        Approx(1000.0 / (10.0 * 2 * M_PI * (1 + 0.09 / 16))).epsilon(0.003));
  CHECK(*std::max_element(x.begin(), x.end()) == Approx(2.0).epsilon(0.01));
  // Relaxation (mu = 5) and Lorenz stay bounded and move.
  const auto relax = make("shape = \"van_der_pol\"\nmu = 5.0\ncomponents = [\"x\", \"y\"]", 0.05, 20000);
  CHECK(relax.outputs() == 2);
  const auto lorenz = make("shape = \"lorenz\"", 0.05, 40000);
  REQUIRE(lorenz.outputs() == 3);
  double lo = 1e9, hi = -1e9;
  for (Step t = 0; t < lorenz.steps(); ++t)
    lo = std::min(lo, lorenz.at(t)[0]), hi = std::max(hi, lorenz.at(t)[0]);
  CHECK(lo < -0.5);
  CHECK(hi > 0.5);
  CHECK(hi < 1.5);

  // A trace from a file, linearly interpolated, repeated if asked to.
  test::TempDir dir;
  const auto file = dir.path / "trace.txt";
  std::ofstream(file) << "# two columns\n0 1\n1, 3\n2 5\n3 7\n";
  const auto body = "shape = \"file\"\nfile = \"" + file.string() + "\"\nsample_ms = 2.0\ncolumns = [1]\n";
  const auto trace = make(body + "periodic = true", 0.5, 40);
  CHECK(*trace.at(0) == Approx(1.5));   // t = 0.5 ms: a quarter of the way from 1 to 3
  CHECK(*trace.at(11) == Approx(7.0));  // t = 6 ms: the last sample
  CHECK(*trace.at(13) == Approx(4.0));  // t = 7 ms: half-way from 7 back to the first sample, 1
  CHECK_THROWS_WITH(make(body, 0.5, 40), Catch::Contains("covers 6 ms") && Catch::Contains("periodic"));
  std::ofstream(dir.path / "bad.txt") << "1 2\n3 x\n";
  CHECK_THROWS_WITH(make("shape = \"file\"\nfile = \"" + (dir.path / "bad.txt").string() + "\"", 0.5, 4),
                    Catch::Contains("line 2") && Catch::Contains("'x' is not a number"));
  CHECK_THROWS_WITH(make("shape = \"square\"", 1.0, 10), Catch::Contains("shape"));
  CHECK_THROWS_WITH(make("shape = \"lorenz\"\ncomponents = [\"w\"]", 1.0, 10),
                    Catch::Contains("unknown component 'w'"));
}

TEST_CASE("metrics: best-lag correlation, amplitude and dominant frequency", "[force]") {
  const double dt = 1.0;  // ms
  const std::size_t n = 1000, L = 100;
  std::vector<double> x(n + 2 * L), y(n);
  for (std::size_t i = 0; i < x.size(); ++i)
    x[i] = std::sin(2 * M_PI * 5.0 * (static_cast<double>(i) - L) * 1e-3);
  rng::Stream s(3, rng::Purpose::Task, 0);
  for (std::size_t i = 0; i < n; ++i)  // y(t) = 0.8 x(t + 23 ms) + noise
    y[i] = 0.8 * std::sin(2 * M_PI * 5.0 * (static_cast<double>(i) + 23.0) * 1e-3) + 0.05 * s.normal();
  const auto best = force::best_lag_correlation(y.data(), x.data() + L, n, L);
  CHECK(best.lag == 23);
  CHECK(best.correlation > 0.99);
  CHECK(best.correlation < 1.0);
  CHECK(force::std_dev(y.data(), n) / force::std_dev(x.data() + L + 23, n) == Approx(0.8).epsilon(0.01));
  CHECK(force::dominant_frequency(y.data(), n, dt, 1.0, 100.0) == Approx(5.0).margin(0.02));
  CHECK(force::correlation(y.data(), y.data(), n) == Approx(1.0));
  std::vector<double> flat(n, 1.0);
  CHECK(force::correlation(flat.data(), y.data(), n) == 0.0);
}

TEST_CASE("zero_mean_rows: every neuron's incoming weights sum to zero", "[force][connectivity]") {
  const std::string toml = R"(
[run]
duration_ms = 1.0
dt_ms = 0.05
[populations.R]
model = "lif_force"
size = 300
[projections.static]
source = "R"
target = "R"
rule = "fixed_probability"
p = 0.1
weight = { dist = "normal", mean = 0.5, std = 1.0 }
zero_mean_rows = true
delay_ms = 0.05
)";
  // The weights as built (snapshot before the first step), by target.
  const auto net = test::network(toml + "[record.weights.static]\ntimes_ms = [0.0]\n");
  test::TempDir dir;
  auto single = comm::make_single();
  test::PlainOptions opt;
  opt.threads = 2;
  opt.output = dir.path / "w.h5";
  test::run_plain(net, *single, opt);
  io::Reader r(dir.path / "w.h5");
  const auto w = r.read_doubles("/weights/static/values");
  const auto tgt = r.read_u64("/weights/static/target_ids");
  REQUIRE(w.size() > 5000);
  std::vector<double> sum(300, 0.0), abs_sum(300, 0.0);
  for (std::size_t i = 0; i < w.size(); ++i) sum[tgt[i]] += w[i], abs_sum[tgt[i]] += std::fabs(w[i]);
  for (std::size_t t = 0; t < 300; ++t) REQUIRE(std::fabs(sum[t]) < 1e-5 * abs_sum[t]);
  CHECK_THROWS_WITH(
      test::network(toml + "[populations.E]\nmodel = \"lif_force\"\nsize = 2\ndale = \"excitatory\"\n"
                           "[projections.e]\nsource = \"E\"\ntarget = \"R\"\nrule = \"all_to_all\"\n"
                           "weight = 1.0\nzero_mean_rows = true\ndelay_ms = 0.05\n"),
      Catch::Contains("Dale") && Catch::Contains("zero_mean_rows"));
}

TEST_CASE("FORCE: configuration errors name the key", "[force][config]") {
  const std::string base = R"(
[run]
dt_ms = 0.05
[populations.R]
model = "lif_force"
size = 50
[projections.static]
source = "R"
target = "R"
rule = "fixed_probability"
p = 0.1
weight = { dist = "normal", mean = 0.0, std = 0.04 }
delay_ms = 0.05
[task]
kind = "signal"
shape = "sine"
[train]
rule = "force"
Q = 10.0
p0 = 5e-6
before_ms = 10.0
train_ms = 10.0
test_ms = 10.0
)";
  auto single = comm::make_single();
  auto build = [&](const std::vector<std::string>& sets, const std::string& extra = "") {
    const auto net = test::network(base + extra, sets);
    train::ForceTraining t({net, *single, 1, nullptr});
  };
  CHECK_NOTHROW(build({}));
  CHECK_THROWS_WITH(build({"train.step=3"}), Catch::Contains("train.step"));
  CHECK_THROWS_WITH(build({"train.p0=0"}), Catch::Contains("train.p0"));
  CHECK_THROWS_WITH(build({"train.before_ms=10.01"}),
                    Catch::Contains("train.before_ms") && Catch::Contains("whole"));
  CHECK_THROWS_WITH(build({"task.kind=\"sine\""}), Catch::Contains("kind = \"signal\""));
  CHECK_THROWS_WITH(build({"train.population=\"X\""}), Catch::Contains("no population named 'X'"));
  CHECK_THROWS_WITH(build({"populations.R.model=\"izhikevich\""}), Catch::Contains("double-exponential"));
  CHECK_THROWS_WITH(build({}, "[inputs.i]\ntype = \"current\"\ntarget = \"R\"\namplitude = 1.0\n"),
                    Catch::Contains("inputs.i") && Catch::Contains("external current"));
}

TEST_CASE("FORCE: a short training run gives the same decoders with one or two threads", "[force]") {
  const std::string toml = R"(
[run]
dt_ms = 0.05
[network]
seed = 3
[populations.R]
model = "lif_force"
size = 120
init = { v = { dist = "uniform", low = -65.0, high = 30.0 } }
[projections.static]
source = "R"
target = "R"
rule = "fixed_probability"
p = 0.1
weight = { dist = "normal", mean = 0.0, std = 0.0365 }
zero_mean_rows = true
delay_ms = 0.05
[task]
kind = "signal"
shape = "sine"
[train]
rule = "force"
Q = 10.0
p0 = 5e-6
before_ms = 20.0
train_ms = 100.0
test_ms = 20.0
window_ms = 10.0
)";
  auto single = comm::make_single();
  const auto net = test::network(toml);
  const train::Setup one_thread{net, *single, 1, nullptr}, two_threads{net, *single, 2, nullptr};
  train::ForceTraining a(one_thread), b(two_threads);
  train::run_to_end("force", a, one_thread);
  train::run_to_end("force", b, two_threads);
  const auto sa = a.summary(), sb = b.summary();
  CHECK(sa.rls_updates == 40);
  REQUIRE(a.decoders().size() == 120);
  CHECK(a.decoders() == b.decoders());
  double norm = 0.0;
  for (double x : a.decoders()) norm += x * x;
  CHECK(norm > 0.0);
  CHECK(sa.rate_hz[0] > 1.0);  // the reservoir is active
  CHECK(sa.windows.size() == 2);
  CHECK(sa.windows[0].correlation == sb.windows[0].correlation);
}
