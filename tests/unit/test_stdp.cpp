// STDP (SPEC 4.6) with NEST stdp_synapse semantics: isolated pre->post and post->pre pairs give the
// closed-form weight changes (additive and multiplicative), the dendritic delay decides which way a
// pair counts, a pair that coincides at the synapse changes nothing, every pair counts (all-to-all),
// weights clip at 0 and W_max, and the weights do not depend on the number of threads.
#include <catch2/catch.hpp>
#include <cmath>

#include <fmt/format.h>

#include "helpers.hpp"
#include "plexus/io/result_file.hpp"
#include "support/plain_run.hpp"

using namespace plexus;

namespace {

struct Pair {
  std::vector<double> pre_ms;  // presynaptic spike times
  double drive_ms = 14.0;      // the postsynaptic neuron is made to spike one step (1 ms) later
  double delay_ms = 1.0;       // of the plastic synapse: all dendritic
  double w0 = 0.5, w_max = 1.0;
  double lambda = 0.01, alpha = 1.05, mu_plus = 0.0, mu_minus = 0.0;
  std::string dale = "none";
};

struct PairResult {
  std::vector<double> post_ms;
  double w_final = 0.0;
};

std::string list(const std::vector<double>& v) {
  std::string s;
  for (double x : v) s += (s.empty() ? "" : ", ") + fmt::format("{}", x);
  return "[" + s + "]";
}

// pre -> post (plastic, weak) and drive -> post (static, strong: post spikes 1 ms after the drive).
PairResult run_pair(const Pair& p) {
  const std::string toml =
      fmt::format(R"(
[run]
duration_ms = 100.0
dt_ms = 1.0
[populations.pre]
model = "spike_source"
size = 1
dale = "{}"
params = {{ spike_times_ms = [{}] }}
[populations.drive]
model = "spike_source"
size = 1
params = {{ spike_times_ms = [[{}]] }}
[populations.post]
model = "lif_delta"
size = 1
params = {{ E_L_mV = -70.0, V_reset_mV = -70.0, V_th_mV = -50.0, t_ref_ms = 2.0 }}
[projections.drive_post]
source = "drive"
target = "post"
rule = "all_to_all"
weight = 100.0
delay_ms = 1.0
[projections.syn]
source = "pre"
target = "post"
rule = "all_to_all"
weight = {}
delay_ms = {}
plasticity = {{ rule = "stdp", tau_plus_ms = 20.0, tau_minus_ms = 20.0, lambda = {}, alpha = {}, mu_plus = {}, mu_minus = {}, w_max = {} }}
[record]
spikes = ["post"]
[record.weights.syn]
times_ms = [0.0, 100.0]
)",
                  p.dale, list(p.pre_ms), p.drive_ms, p.dale == "inhibitory" ? -p.w0 : p.w0, p.delay_ms,
                  p.lambda, p.alpha, p.mu_plus, p.mu_minus, p.w_max);
  test::TempDir dir;
  const auto net = test::network(toml);
  auto comm = comm::make_single();
  test::PlainOptions opt;
  opt.output = dir.path / "pair.h5";
  test::run_plain(net, *comm, opt);
  io::Reader r(dir.path / "pair.h5");
  PairResult out;
  out.post_ms = r.read_doubles("/spikes/post/timestamps");
  const auto w = r.read_doubles("/weights/syn/values");
  REQUIRE(w.size() == 2);
  CHECK(w[0] == Approx(p.dale == "inhibitory" ? -p.w0 : p.w0));
  out.w_final = w[1];
  return out;
}

constexpr double kTau = 20.0;
constexpr double kFloat = 2e-7;  // weights are stored in single precision

}  // namespace

TEST_CASE("stdp: a pre->post pair potentiates by lambda K+ at the synapse (additive and multiplicative)",
          "[stdp]") {
  Pair p;
  p.pre_ms = {10.0};
  const auto a = run_pair(p);
  REQUIRE(a.post_ms == std::vector<double>{15.0});
  // At the synapse: pre at 10 ms, post at 15 + 1 ms (the dendritic delay): dt = 6 ms.
  CHECK(a.w_final == Approx(0.5 + 0.01 * std::exp(-6.0 / kTau)).margin(kFloat));
  p.mu_plus = 1.0;  // multiplicative: scaled by (1 - w/W_max)
  p.w0 = 0.8;
  CHECK(run_pair(p).w_final == Approx(0.8 + 0.01 * 0.2 * std::exp(-6.0 / kTau)).margin(kFloat));
  p.mu_plus = 0.5;
  CHECK(run_pair(p).w_final == Approx(0.8 + 0.01 * std::sqrt(0.2) * std::exp(-6.0 / kTau)).margin(kFloat));
}

TEST_CASE("stdp: a post->pre pair depresses by alpha lambda K- at the synapse", "[stdp]") {
  Pair p;
  p.pre_ms = {30.0};
  const auto a = run_pair(p);
  REQUIRE(a.post_ms == std::vector<double>{15.0});
  // Post reaches the synapse at 16 ms, pre at 30 ms: dt = 14 ms.
  CHECK(a.w_final == Approx(0.5 - 1.05 * 0.01 * std::exp(-14.0 / kTau)).margin(kFloat));
  p.mu_minus = 1.0;
  p.w0 = 0.3;
  CHECK(run_pair(p).w_final == Approx(0.3 - 1.05 * 0.01 * 0.3 * std::exp(-14.0 / kTau)).margin(kFloat));
  // A weight unit other than 1: changes scale with W_max.
  p.mu_minus = 0.0;
  p.w_max = 4.0;
  p.w0 = 2.0;
  CHECK(run_pair(p).w_final == Approx(2.0 - 4.0 * 1.05 * 0.01 * std::exp(-14.0 / kTau)).margin(4 * kFloat));
}

TEST_CASE(
    "stdp: the dendritic delay decides how a pair counts, and a coincidence at the synapse changes nothing",
    "[stdp]") {
  Pair p;
  p.delay_ms = 3.0;
  p.pre_ms = {17.0};  // after the postsynaptic spike (15), but before it reaches the synapse (18)
  const auto a = run_pair(p);
  REQUIRE(a.post_ms == std::vector<double>{15.0});
  CHECK(a.w_final == Approx(0.5 + 0.01 * std::exp(-1.0 / kTau)).margin(kFloat));
  p.pre_ms = {18.0};  // arrives with the postsynaptic spike: neither potentiation nor depression
  CHECK(run_pair(p).w_final == Approx(0.5).margin(kFloat));
  p.pre_ms = {19.0};  // one step later: depression by one step of K-
  CHECK(run_pair(p).w_final == Approx(0.5 - 1.05 * 0.01 * std::exp(-1.0 / kTau)).margin(kFloat));
}

TEST_CASE("stdp: every pair counts (all-to-all), and the sign of inhibitory weights is kept", "[stdp]") {
  Pair p;
  p.pre_ms = {5.0, 10.0, 40.0};  // two before the postsynaptic spike, one after
  const auto a = run_pair(p);
  REQUIRE(a.post_ms == std::vector<double>{15.0});
  const double up = 0.01 * (std::exp(-11.0 / kTau) + std::exp(-6.0 / kTau));
  const double down = 1.05 * 0.01 * std::exp(-24.0 / kTau);
  CHECK(a.w_final == Approx(0.5 + up - down).margin(kFloat));
  p.pre_ms = {10.0};
  p.dale = "inhibitory";  // current receptor: weights -|w|, the magnitude is plastic
  CHECK(run_pair(p).w_final == Approx(-(0.5 + 0.01 * std::exp(-6.0 / kTau))).margin(kFloat));
}

TEST_CASE("stdp: weights clip at W_max and at 0", "[stdp]") {
  Pair p;
  p.lambda = 0.5;
  p.pre_ms = {10.0};
  p.w0 = 0.9;  // +0.37 would exceed W_max
  CHECK(run_pair(p).w_final == 1.0);
  p.pre_ms = {30.0};
  p.w0 = 0.1;  // -0.26 would go below 0
  CHECK(run_pair(p).w_final == 0.0);
  // Once at 0, an additive potentiation starts again from 0.
  p.pre_ms = {30.0, 40.0};
  p.drive_ms = 44.0;
  const auto r = run_pair(p);
  REQUIRE(r.post_ms == std::vector<double>{45.0});
  // 30 -> post at 46: +0.5 (e^{-16/20} + e^{-6/20}) from 0.1 (no depression: no earlier post).
  CHECK(r.w_final ==
        Approx(std::min(1.0, 0.1 + 0.5 * (std::exp(-16.0 / kTau) + std::exp(-6.0 / kTau)))).margin(kFloat));
}

TEST_CASE("stdp: rejects what it cannot do, with located errors", "[stdp]") {
  auto comm = comm::make_single();
  auto fails = [&](const std::string& extra, const std::string& what) {
    const std::string toml = R"(
[run]
duration_ms = 10.0
[populations.a]
model = "poisson_source"
size = 10
[populations.b]
model = "lif_coba"
size = 2
[projections.ab]
source = "a"
target = "b"
rule = "all_to_all"
receptor = "exc"
)" + extra;
    try {
      const auto net = test::network(toml);
      sim::Simulation s(net, *comm, {});
      FAIL("no error for: " << extra);
    } catch (const UserError& e) {
      CHECK_THAT(e.what(), Catch::Contains(what));
    }
  };
  fails("weight = 1.0\ndelay_ms = 0.0\nplasticity = { rule = \"stdp\", w_max = 2.0 }",
        "projections.ab.delay_ms");
  fails("weight = 3.0\ndelay_ms = 0.1\nplasticity = { rule = \"stdp\", w_max = 2.0 }",
        "projections.ab.weight");
  fails("weight = 1.0\ndelay_ms = 0.1\nplasticity = { rule = \"stdp\" }", "w_max");
  fails("weight = 1.0\ndelay_ms = 0.1\nplasticity = { rule = \"stdp\", w_max = 2.0, lamda = 0.1 }", "lamda");
  fails("weight = 1.0\ndelay_ms = 0.1\nplasticity = { rule = \"hebb\", w_max = 2.0 }", "rule");
}

namespace {
const std::string kPlasticNet = R"(
[run]
duration_ms = 200.0
dt_ms = 0.1
[network]
seed = 3
[populations.in]
model = "poisson_source"
size = 300
params = { rate_hz = 20.0 }
[populations.E]
model = "lif_coba"
size = 61
dale = "excitatory"
params = { I_e_pA = 150.0 }
init = { V_m = { dist = "uniform", low = -60.0, high = -50.0 } }
[projections.inE]
source = "in"
target = "E"
rule = "fixed_probability"
p = 0.3
receptor = "exc"
weight = { dist = "uniform", low = 0.0, high = 3.0 }
delay_ms = { dist = "uniform", low = 0.1, high = 2.0 }
plasticity = { rule = "stdp", lambda = 0.05, alpha = 1.1, mu_plus = 0.4, mu_minus = 1.0, w_max = 3.0 }
[projections.EE]
source = "E"
target = "E"
rule = "fixed_probability"
p = 0.2
weight = { dist = "uniform", low = 0.0, high = 2.0 }
delay_ms = 0.5
plasticity = { rule = "stdp", lambda = 0.05, alpha = 1.05, w_max = 2.0 }
[record.weights.inE]
times_ms = [0.0, 100.0, 200.0]
[record.weights.EE]
times_ms = [0.0, 200.0]
)";
}

TEST_CASE("stdp: weights do not depend on the number of threads", "[stdp]") {
  const auto net = test::network(kPlasticNet);
  std::vector<std::vector<double>> runs;
  std::uint64_t spikes = 0;
  std::size_t n_in = 0;
  for (int threads : {1, 2}) {
    test::TempDir dir;
    auto comm = comm::make_single();
    test::PlainOptions opt;
    opt.threads = threads;
    opt.output = dir.path / "w.h5";
    sim::Simulation s(net, *comm, opt);
    test::run(s, opt.output);
    spikes = s.spike_count("E");
    io::Reader r(dir.path / "w.h5");
    n_in = r.info("/weights/inE/values").shape[1];
    auto w = r.read_doubles("/weights/inE/values");
    const auto ee = r.read_doubles("/weights/EE/values");
    w.insert(w.end(), ee.begin(), ee.end());
    runs.push_back(w);
  }
  CHECK(spikes > 200);
  CHECK(runs[1] == runs[0]);
  // The weights did change: the first and last inE snapshots differ for most synapses.
  std::size_t changed = 0;
  for (std::size_t i = 0; i < n_in; ++i) changed += runs[0][i] != runs[0][2 * n_in + i];
  CHECK(n_in > 2000);
  CHECK(changed > n_in / 2);
}

// Per-synapse delays (from a connection file): each synapse pairs with its own dendritic delay.
TEST_CASE("stdp: with per-synapse delays each synapse counts with its own delay", "[stdp]") {
  test::TempDir dir;
  {
    auto comm = comm::make_single();
    io::ResultFile f(dir.path / "conn.h5", *comm);
    const std::vector<std::uint64_t> src{0, 1, 2, 3}, tgt{0, 0, 0, 0};
    const std::vector<double> w{0.5, 0.5, 0.5, 0.5}, d{1.0, 3.0, 3.0, 4.0};
    f.write_replicated<std::uint64_t>("/source", src);
    f.write_replicated<std::uint64_t>("/target", tgt);
    f.write_replicated<double>("/weight", w);
    f.write_replicated<double>("/delay_ms", d);
    f.commit();
  }
  const std::string toml = fmt::format(R"(
[run]
duration_ms = 60.0
dt_ms = 1.0
[populations.pre]
model = "spike_source"
size = 4
params = {{ spike_times_ms = [[10.0], [10.0], [17.0], [30.0]] }}
[populations.drive]
model = "spike_source"
size = 1
params = {{ spike_times_ms = [[14.0]] }}
[populations.post]
model = "lif_delta"
size = 1
params = {{ E_L_mV = -70.0, V_reset_mV = -70.0, V_th_mV = -50.0, t_ref_ms = 2.0 }}
[projections.drive_post]
source = "drive"
target = "post"
rule = "all_to_all"
weight = 100.0
delay_ms = 1.0
[projections.syn]
source = "pre"
target = "post"
rule = "from_file"
file = "{}"
plasticity = {{ rule = "stdp", lambda = 0.01, alpha = 1.05, w_max = 1.0 }}
[record]
spikes = ["post"]
[record.weights.syn]
times_ms = [60.0]
)",
                                       (dir.path / "conn.h5").string());
  const auto net = test::network(toml);
  auto comm = comm::make_single();
  test::PlainOptions opt;
  opt.output = dir.path / "run.h5";
  test::run_plain(net, *comm, opt);
  io::Reader r(dir.path / "run.h5");
  REQUIRE(r.read_doubles("/spikes/post/timestamps") == std::vector<double>{15.0});
  const auto w = r.read_doubles("/weights/syn/values");  // by target, then source
  REQUIRE(w.size() == 4);
  // The postsynaptic spike (15 ms) reaches the synapses at 16, 18, 18 and 19 ms.
  CHECK(w[0] == Approx(0.5 + 0.01 * std::exp(-6.0 / kTau)).margin(kFloat));
  CHECK(w[1] == Approx(0.5 + 0.01 * std::exp(-8.0 / kTau)).margin(kFloat));
  CHECK(w[2] == Approx(0.5 + 0.01 * std::exp(-1.0 / kTau)).margin(kFloat));
  CHECK(w[3] == Approx(0.5 - 1.05 * 0.01 * std::exp(-11.0 / kTau)).margin(kFloat));
}
