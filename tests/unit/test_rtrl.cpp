// D-RTRL and ES-D-RTRL (SPEC 4.2), and the state Jacobians they read (neuron/lif_learning.cpp).
//  - Jacobians D, f, s of lif, alif and gif cells against finite differences of their own kernels.
//  - D-RTRL equals BPTT (float64, < 1e-10) on networks without recurrent weights: 3 inputs, 8 cells
//    (lif, alif with 4 LIF cells, or gif), 2 leaky readouts, T = 60, mean squared error. The BPTT
//    reference is written here, independently of the engine, and differentiates everything: the
//    reset and the spike-triggered current of a cell's own spike included (with psi standing in for
//    the spike's derivative), the refractory gate held constant.
//  - ES-D-RTRL: with lambda = 0 it gives x_i f_j (times the learning signal), for any lambda the
//    first step's bias correction is 1 - lambda, and for lambda = 0.7 it equals SPEC 4.2's formulas
//    evaluated here directly.
//  - Its trace memory does not change with the trial length and grows with the neurons, not the
//    synapses.
#include <catch2/catch.hpp>
#include <cmath>
#include <functional>

#include <fmt/format.h>

#include "helpers.hpp"
#include "plexus/learning/loss.hpp"
#include "plexus/task/task.hpp"
#include "plexus/train/gradient/training.hpp"

using namespace plexus;

namespace {

// ---- Jacobians against finite differences -------------------------------------------------------

struct Kernel {
  std::string model, params;
  std::vector<std::string> h;  // state names as the model gives them
  double beta = 0.0;
};

const Kernel kKernels[] = {
    {"lif", "{ tau_m_ms = 20.0, v_th = 0.6, n_ref = 2 }", {"v"}, 0.0},
    {"alif", "{ tau_m_ms = 20.0, tau_a_ms = 80.0, beta = 0.3, v_th = 0.6, n_ref = 2 }", {"v", "a"}, 0.3},
    {"gif",
     "{ tau_m_ms = 20.0, tau_a_ms = 80.0, beta = 0.3, v_th = 0.6, n_ref = 2, tau_c_ms = 50.0, current_jump = "
     "-0.2 }",
     {"v", "a", "c"},
     0.3},
};

std::string one_cell(const Kernel& k) {
  return "[run]\ndt_ms = 1.0\nduration_ms = 1.0\n[populations.p]\nmodel = \"" + k.model +
         "\"\nsize = 1\nparams = " + k.params + "\n";
}

// One update of a fresh cell from state h with the previous spike z, input I and previous
// pseudo-derivative psi_prev.
struct After {
  std::vector<double> h;  // new state
  std::vector<double> D, f, s;
  double margin = 0.0, psi = 0.0;  // v - A and psi of the new step
};

After step_from(const Kernel& k, const std::vector<double>& h, double z, double I, double psi_prev) {
  test::Cells c(one_cell(k));
  for (auto& a : c.pop->state()) {
    auto& span = std::get<std::span<double>>(a.values);
    for (std::size_t i = 0; i < k.h.size(); ++i)
      if (a.name == k.h[i]) span[0] = h[i];
    if (a.name == "psi") span[0] = psi_prev;
    if (a.name == "refractory") span[0] = 0.0;
  }
  c.z[0] = z;
  c.in[0][0] = I;
  c.step();
  After r;
  for (const auto& name : k.h) r.h.push_back(c.var(name));
  const std::size_t S = k.h.size();
  REQUIRE(c.pop->jacobian_state() == k.h);
  r.D.resize(S * S);
  r.f.resize(S);
  r.s.resize(S);
  c.pop->jacobian(0, 1, r.D.data(), r.f.data(), r.s.data());
  r.margin = c.var("v") - (k.model == "lif" ? 0.6 : c.var("threshold"));
  r.psi = c.var("psi");
  return r;
}

}  // namespace

TEST_CASE("state Jacobians match finite differences of the step kernels", "[rtrl][jacobian]") {
  for (const auto& k : kKernels) {
    INFO("model " << k.model);
    const std::size_t S = k.h.size();
    const std::vector<double> all{0.72, 0.7, -0.05};
    const std::vector<double> h0(all.begin(), all.begin() + static_cast<std::ptrdiff_t>(S));
    const double psi_prev = 0.27, I = 0.12, eps = 1e-6;
    for (double z : {0.0, 1.0}) {
      INFO("previous spike " << z);
      const After at = step_from(k, h0, z, I, psi_prev);
      if (z == 0.0) REQUIRE(at.psi > 0.0);  // near threshold, so s is not trivially zero
      // dz^(t-1)/dh^(t-1) through the pseudo-derivative: psi' (1, -beta, 0).
      std::vector<double> dz(S, 0.0);
      dz[0] = psi_prev;
      if (S > 1) dz[1] = -k.beta * psi_prev;
      const auto on = step_from(k, h0, 1.0, I, psi_prev).h, off = step_from(k, h0, 0.0, I, psi_prev).h;
      for (std::size_t b = 0; b < S; ++b) {
        auto hp = h0, hm = h0;
        hp[b] += eps;
        hm[b] -= eps;
        const After up = step_from(k, hp, z, I, psi_prev), dn = step_from(k, hm, z, I, psi_prev);
        double via_s = 0.0;  // (s / psi^t) . dF/dh_b: the margin's change through the new state
        for (std::size_t a = 0; a < S; ++a) {
          const double dF = (up.h[a] - dn.h[a]) / (2 * eps);
          INFO("D[" << a << "][" << b << "]");
          CHECK(at.D[a * S + b] == Approx(dF + (on[a] - off[a]) * dz[b]).margin(1e-8));
          if (at.psi > 0.0) via_s += at.s[a] / at.psi * dF;
        }
        INFO("s through h_" << b);
        if (at.psi > 0.0) CHECK((up.margin - dn.margin) / (2 * eps) == Approx(via_s).margin(1e-7));
      }
      const After ip = step_from(k, h0, z, I + eps, psi_prev), im = step_from(k, h0, z, I - eps, psi_prev);
      for (std::size_t a = 0; a < S; ++a)
        CHECK(at.f[a] == Approx((ip.h[a] - im.h[a]) / (2 * eps)).margin(1e-8));
    }
  }
}

// ---- D-RTRL against BPTT; ES-D-RTRL against its formulas ---------------------------------------

namespace {

std::string feedforward(const std::string& model, const std::string& params) {
  return R"(
[run]
dt_ms = 1.0
[network]
seed = 5
[task]
kind = "sine"
channels = 3
outputs = 2
duration_ms = 60.0
input_rate_hz = 250.0
periods_ms = [40.0, 23.0]
amplitude_range = [0.3, 0.8]
[train]
iterations = 1
batch_size = 1
optimizer = "sgd"
precision = "float64"
reg_coefficient = 0.0
validation_trials = 0
test_trials = 0
[populations.input]
model = "task_input"
size = 3
[populations.rec]
model = ")" +
         model + R"("
size = 8
params = )" +
         params + R"(
[populations.out]
model = "readout"
size = 2
params = { tau_out_ms = 10.0 }
[projections.in_rec]
source = "input"
target = "rec"
rule = "all_to_all"
weight = { dist = "normal", mean = 0.5, std = 0.5 }
delay_ms = 0.0
[projections.rec_out]
source = "rec"
target = "out"
rule = "all_to_all"
weight = { dist = "normal", mean = 0.0, std = 0.5 }
delay_ms = 0.0
)";
}

constexpr int kIn = 3, kN = 8, kK = 2, kT = 60;
using Matrix = std::vector<std::vector<double>>;

Matrix dense(const std::vector<learning::SynapseValue>& s, int rows, int cols) {
  Matrix m(rows, std::vector<double>(cols, 0.0));
  for (const auto& x : s) m[x.target][x.source] = x.value;
  return m;
}

double relative_error(const std::vector<learning::SynapseValue>& got, const Matrix& want) {
  double d = 0.0, n = 0.0;
  for (const auto& s : got) {
    const double w = want[s.target][s.source];
    d += (s.value - w) * (s.value - w);
    n += w * w;
  }
  return std::sqrt(d / n);
}

// Cells of the reference: v, a (threshold adaptation), c (spike-triggered current).
struct Cell {
  double alpha, rho = 0.0, rho_c = 0.0, b_c = 0.0, v_th = 0.6, gamma = 0.3, n_ref = 2.0;
  std::vector<double> beta;  // per cell
};

struct Reference {
  Cell cell;
  Matrix win, wout;
  double kappa = 0.0;
  std::vector<std::vector<double>> x, target, z, psi, y;
  int spikes = 0;
  Matrix g_in, g_out;

  void forward() {
    std::vector<double> v(kN, 0.0), a(kN, 0.0), c(kN, 0.0), r(kN, 0.0), zp(kN, 0.0), yk(kK, 0.0);
    z.assign(kT, std::vector<double>(kN, 0.0));
    psi = z;
    y.assign(kT, std::vector<double>(kK, 0.0));
    const Cell& P = cell;
    for (int t = 0; t < kT; ++t) {
      for (int j = 0; j < kN; ++j) {
        double I = 0.0;
        for (int i = 0; i < kIn; ++i) I += win[j][i] * x[t][i];
        c[j] = P.rho_c * c[j] + P.b_c * zp[j];
        v[j] = P.alpha * v[j] + I + c[j] - P.v_th * zp[j];
        a[j] = P.rho * a[j] + zp[j];
        const double A = P.v_th + P.beta[j] * a[j];
        const bool refractory = r[j] > 0.0;
        z[t][j] = (!refractory && v[j] >= A) ? 1.0 : 0.0;
        psi[t][j] = refractory ? 0.0 : P.gamma / P.v_th * std::max(0.0, 1.0 - std::fabs(v[j] - A) / P.v_th);
        r[j] = std::clamp(r[j] + P.n_ref * z[t][j] - 1.0, 0.0, P.n_ref);
        spikes += static_cast<int>(z[t][j]);
      }
      for (int k = 0; k < kK; ++k) {
        double s = 0.0;
        for (int j = 0; j < kN; ++j) s += wout[k][j] * z[t][j];
        yk[k] = kappa * yk[k] + (1.0 - kappa) * s;
        y[t][k] = yk[k];
      }
      zp = z[t];
    }
  }

  // Full BPTT (no recurrence to leave out): adjoints of v, a and c backwards in time, through
  // every path of a cell's own spike.
  void backward() {
    const Cell& P = cell;
    g_in.assign(kN, std::vector<double>(kIn, 0.0));
    g_out.assign(kK, std::vector<double>(kN, 0.0));
    std::vector<double> ybar(kK, 0.0), dv_n(kN, 0.0), da_n(kN, 0.0), dc_n(kN, 0.0);
    for (int t = kT - 1; t >= 0; --t) {
      std::vector<double> err(kK);
      learning::squared_error(y[t].data(), target[t].data(), kK, 1.0 / kT, err.data());
      for (int k = 0; k < kK; ++k) ybar[k] = err[k] + kappa * ybar[k];
      for (int j = 0; j < kN; ++j) {
        double l = 0.0;
        for (int k = 0; k < kK; ++k) l += (1.0 - kappa) * wout[k][j] * ybar[k];
        // z^t reaches v^(t+1) (reset), a^(t+1) and c^(t+1) (which enters v^(t+1): dc_n holds it).
        const double dz = l - P.v_th * dv_n[j] + da_n[j] + P.b_c * dc_n[j];
        const double dv = P.alpha * dv_n[j] + psi[t][j] * dz;
        const double da = P.rho * da_n[j] - P.beta[j] * psi[t][j] * dz;
        const double dc = dv + P.rho_c * dc_n[j];  // c^t enters v^t and c^(t+1)
        for (int i = 0; i < kIn; ++i) g_in[j][i] += dv * x[t][i];
        dv_n[j] = dv;
        da_n[j] = da;
        dc_n[j] = dc;
      }
      for (int k = 0; k < kK; ++k)
        for (int j = 0; j < kN; ++j) g_out[k][j] += ybar[k] * (1.0 - kappa) * z[t][j];
    }
  }
};

Reference reference_for(train::gradient::GradientTraining& tr, const Cell& cell) {
  Reference ref;
  ref.cell = cell;
  ref.win = dense(tr.weights("in_rec"), kN, kIn);
  ref.wout = dense(tr.weights("rec_out"), kK, kN);
  ref.kappa = std::exp(-1.0 / 10.0);
  auto& task = tr.task();
  task.begin_trial(task::Stream::Train, 0);
  ref.x.assign(kT, std::vector<double>(kIn, 0.0));
  ref.target.assign(kT, std::vector<double>(kK, 0.0));
  for (int t = 0; t < kT; ++t) {
    task.input_spikes(t, 0, kIn, ref.x[t].data());
    task.target(t, ref.target[t].data());
  }
  ref.forward();
  return ref;
}

struct Case {
  std::string model, params;
  Cell cell;
};

std::vector<Case> cases() {
  const double alpha = std::exp(-1.0 / 20.0), rho = std::exp(-1.0 / 60.0);
  Cell lif{alpha, 0.0, 0.0, 0.0, 0.6, 0.3, 2.0, {}};
  lif.beta.assign(kN, 0.0);
  Cell alif{alpha, rho, 0.0, 0.0, 0.6, 0.3, 2.0, {}};
  alif.beta.assign(kN, 0.15);
  for (int j = 0; j < 4; ++j) alif.beta[j] = 0.0;
  Cell gif{alpha, rho, std::exp(-1.0 / 30.0), -0.08, 0.6, 0.3, 2.0, {}};
  gif.beta.assign(kN, 0.15);
  return {{"lif", "{ tau_m_ms = 20.0, v_th = 0.6, n_ref = 2 }", lif},
          {"alif", "{ tau_m_ms = 20.0, tau_a_ms = 60.0, beta = 0.15, v_th = 0.6, n_ref = 2, lif_cells = 4 }",
           alif},
          {"gif",
           "{ tau_m_ms = 20.0, tau_a_ms = 60.0, beta = 0.15, v_th = 0.6, n_ref = 2, tau_c_ms = 30.0, "
           "current_jump = -0.08 }",
           gif}};
}

}  // namespace

TEST_CASE("D-RTRL equals BPTT without recurrent weights", "[rtrl][exact]") {
  for (const auto& c : cases()) {
    INFO("model " << c.model);
    auto single = comm::make_single();
    const auto net = test::network(feedforward(c.model, c.params), {"train.rule=d_rtrl"});
    train::gradient::GradientTraining tr({net, *single, 1, nullptr});
    Reference ref = reference_for(tr, c.cell);
    REQUIRE(ref.spikes >= 40);  // active: the comparison is not between zeros
    ref.backward();
    tr.trial(task::Stream::Train, 0, true);
    const double e_in = relative_error(tr.gradient("in_rec"), ref.g_in);
    const double e_out = relative_error(tr.gradient("rec_out"), ref.g_out);
    INFO("relative errors: in " << e_in << ", out " << e_out << "; spikes " << ref.spikes);
    CHECK(e_in < 1e-10);
    CHECK(e_out < 1e-10);
    if (c.model != "lif") {
      // e-prop's traces leave the reset path out, so on the same network it is not BPTT.
      if (c.model == "gif") continue;  // (e-prop does not train gif cells)
      const auto ep_net = test::network(feedforward(c.model, c.params));
      train::gradient::GradientTraining ep({ep_net, *single, 1, nullptr});
      ep.trial(task::Stream::Train, 0, true);
      CHECK(relative_error(ep.gradient("in_rec"), ref.g_in) > 1e-3);
    }
  }
}

namespace {

// g_ji of SPEC 4.2's ES-D-RTRL for lif and alif cells (gif: the same with b_c = rho_c = 0), from
// the reference's trajectory, with learning signal L(t, j) and no filter: ex_i = lambda ex_i + x_i,
// ef_j = lambda D_j ef_j + (1 - lambda) f_j with f = (1, 0), c = 1 - lambda^(t+1),
// g += ex_i L (s_j . ef_j) / c with s = psi (1, -beta), and D written out from SPEC 1.1-1.2.
Matrix es_formula(const Reference& ref, double lambda, const std::function<double(int, int)>& L) {
  const Cell& P = ref.cell;
  Matrix g(kN, std::vector<double>(kIn, 0.0));
  std::vector<double> ex(kIn, 0.0), ev(kN, 0.0), ea(kN, 0.0);
  for (int t = 0; t < kT; ++t) {
    for (int i = 0; i < kIn; ++i) ex[i] = lambda * ex[i] + ref.x[t][i];
    const double c = 1.0 - std::pow(lambda, t + 1);
    for (int j = 0; j < kN; ++j) {
      const double pp = t > 0 ? ref.psi[t - 1][j] : 0.0, b = P.beta[j];
      // v^t = alpha v + I - v_th z^(t-1), a^t = rho a + z^(t-1), dz^(t-1) = pp (dv - b da).
      const double nv = (P.alpha - P.v_th * pp) * ev[j] + P.v_th * b * pp * ea[j];
      const double na = pp * ev[j] + (P.rho - b * pp) * ea[j];
      ev[j] = lambda * nv + (1.0 - lambda);
      ea[j] = lambda * na;
      const double q = ref.psi[t][j] * (ev[j] - b * ea[j]) / c;
      for (int i = 0; i < kIn; ++i) g[j][i] += ex[i] * q * L(t, j);
    }
  }
  return g;
}

}  // namespace

TEST_CASE("ES-D-RTRL: x_i f_j at lambda 0, bias correction 1 - lambda, and SPEC 4.2's formulas",
          "[rtrl][es]") {
  const auto c = cases()[0];  // lif: one state variable
  auto single = comm::make_single();
  const auto signal = [](int t, int j) { return std::sin(0.37 * t + 1.3 * j) + 0.2; };
  auto run = [&](double lambda, const std::function<double(int, int)>& L) {
    const auto net = test::network(
        feedforward(c.model, c.params),
        {"train.rule=es_d_rtrl", fmt::format("train.lambda={}", lambda), "train.eligibility_filter=none"});
    auto tr = std::make_unique<train::gradient::GradientTraining>(train::Setup{net, *single, 1, nullptr});
    Reference ref = reference_for(*tr, c.cell);
    tr->set_learning_signal(
        [&](Step t, Gid gid) { return L(static_cast<int>(t), static_cast<int>(gid) - kIn); });
    tr->trial(task::Stream::Train, 0, true);
    return std::pair{ref, tr->gradient("in_rec")};
  };
  SECTION("lambda = 0: g_ji = sum_t x_i^t f_j l_j^t") {
    auto [ref, g] = run(0.0, signal);
    Matrix want(kN, std::vector<double>(kIn, 0.0));
    for (int t = 0; t < kT; ++t)
      for (int j = 0; j < kN; ++j)
        for (int i = 0; i < kIn; ++i) want[j][i] += ref.x[t][i] * 1.0 * ref.psi[t][j] * signal(t, j);
    CHECK(relative_error(g, want) < 1e-12);
  }
  SECTION("the first step's correction 1 - lambda undoes the (1 - lambda) of ef") {
    for (double lambda : {0.5, 0.9}) {
      // A signal at step 0 only: whatever lambda, g_ji = x_i^0 f_j psi_j^0.
      auto [ref, g] = run(lambda, [](int t, int) { return t == 0 ? 1.0 : 0.0; });
      Matrix want(kN, std::vector<double>(kIn, 0.0));
      double n = 0.0;
      for (int j = 0; j < kN; ++j)
        for (int i = 0; i < kIn; ++i) n += std::fabs(want[j][i] = ref.x[0][i] * ref.psi[0][j]);
      REQUIRE(n > 0.0);
      CHECK(relative_error(g, want) < 1e-12);
    }
  }
  SECTION("lambda = 0.7 follows SPEC 4.2 step by step") {
    auto [ref, g] = run(0.7, signal);
    CHECK(relative_error(g, es_formula(ref, 0.7, signal)) < 1e-12);
  }
}

TEST_CASE("ES-D-RTRL on alif cells (two state variables) follows SPEC 4.2 step by step", "[rtrl][es]") {
  const auto c = cases()[1];
  auto single = comm::make_single();
  const auto signal = [](int t, int j) { return std::cos(0.21 * t + 0.7 * j) - 0.1; };
  for (double lambda : {0.7, 0.99}) {
    const auto net = test::network(
        feedforward(c.model, c.params),
        {"train.rule=es_d_rtrl", fmt::format("train.lambda={}", lambda), "train.eligibility_filter=none"});
    train::gradient::GradientTraining tr({net, *single, 1, nullptr});
    Reference ref = reference_for(tr, c.cell);
    tr.set_learning_signal(
        [&](Step t, Gid gid) { return signal(static_cast<int>(t), static_cast<int>(gid) - kIn); });
    tr.trial(task::Stream::Train, 0, true);
    INFO("lambda " << lambda);
    CHECK(relative_error(tr.gradient("in_rec"), es_formula(ref, lambda, signal)) < 1e-12);
  }
}

TEST_CASE("ES-D-RTRL trace memory: independent of trial length, linear in neurons, not synapses",
          "[rtrl][memory]") {
  auto single = comm::make_single();
  auto memory = [&](const std::string& rule, int T, int cells, double p) {
    const auto net = test::network(
        feedforward("alif", "{ tau_m_ms = 20.0, tau_a_ms = 60.0, beta = 0.15 }"),
        {"train.rule=" + rule, fmt::format("task.duration_ms={}", T),
         fmt::format("populations.rec.size={}", cells), "projections.in_rec.rule=\"fixed_probability\"",
         fmt::format("projections.in_rec.p={}", p), "populations.input.size=200", "task.channels=200"});
    train::gradient::GradientTraining tr({net, *single, 1, nullptr});
    return tr.learning_memory();
  };
  const auto short_trial = memory("es_d_rtrl", 500, 100, 0.5),
             long_trial = memory("es_d_rtrl", 5000, 100, 0.5);
  CHECK(short_trial.total() == long_trial.total());
  CHECK(short_trial.per_synapse_traces == 0);
  const auto sparse = memory("es_d_rtrl", 500, 100, 0.1), dense_ = memory("es_d_rtrl", 500, 100, 0.9);
  REQUIRE(dense_.synapses > 5 * sparse.synapses);
  // Traces live per neuron and per source: the same whatever the synapse count.
  CHECK(sparse.per_neuron == dense_.per_neuron);
  CHECK(sparse.per_source == dense_.per_source);
  CHECK(dense_.per_synapse_traces == 0);
  const auto twice = memory("es_d_rtrl", 500, 200, 0.5);
  CHECK(twice.per_neuron == 2 * short_trial.per_neuron);
  // D-RTRL's traces, by contrast, scale with the synapses (S = 2 values each, and the filtered one).
  const auto d = memory("d_rtrl", 500, 100, 0.5);
  CHECK(d.per_synapse_traces >= 3 * 4 * (d.synapses - 200));
}
