// e-prop against backpropagation through time (SPEC 4.1 "Exactness"), on a small float64 network:
// 3 inputs, 4 LIF + 4 ALIF cells (all-to-all recurrent, delay 1), 2 leaky readouts, T = 50, mean
// squared error through the filtered readout. The BPTT reference is written here, independently
// of the engine: a forward pass of SPEC 1.1-1.3 and 1.6, then the adjoint backwards in time.
//
// Conventions of the reference (those of Bellec et al. 2020, under which SPEC 4.1's traces are
// exact): the reset term -v_th z_j^(t-1) is treated as a constant (no gradient flows through it),
// and so is the refractory gate; the spike nonlinearity has the pseudo-derivative psi.
#include <catch2/catch.hpp>
#include <cmath>
#include <map>

#include "helpers.hpp"
#include "plexus/learning/loss.hpp"
#include "plexus/task/task.hpp"
#include "plexus/train/gradient/training.hpp"

using namespace plexus;

namespace {

const std::string kNet = R"(
[run]
dt_ms = 1.0
[network]
seed = 11
[task]
kind = "sine"
channels = 3
outputs = 2
duration_ms = 50.0
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
model = "alif"
size = 8
params = { tau_m_ms = 20.0, tau_a_ms = 60.0, beta = 0.15, v_th = 0.6, n_ref = 2, lif_cells = 4 }
[populations.out]
model = "readout"
size = 2
params = { tau_out_ms = 10.0 }
[projections.in_rec]
source = "input"
target = "rec"
rule = "all_to_all"
weight = { dist = "normal", mean = 0.6, std = 0.5 }
delay_ms = 0.0
[projections.rec_rec]
source = "rec"
target = "rec"
rule = "all_to_all"
weight = { dist = "normal", mean = 0.0, std = 0.4 }
delay_ms = 1.0
[projections.rec_out]
source = "rec"
target = "out"
rule = "all_to_all"
weight = { dist = "normal", mean = 0.0, std = 0.5 }
delay_ms = 0.0
)";

constexpr int kIn = 3, kN = 8, kK = 2, kT = 50, kLif = 4;
constexpr double kVth = 0.6, kGamma = 0.3, kNref = 2.0, kBeta = 0.15;

using Matrix = std::vector<std::vector<double>>;  // [row][column]

Matrix dense(const std::vector<learning::SynapseValue>& s, int rows, int cols) {
  Matrix m(rows, std::vector<double>(cols, 0.0));
  for (const auto& x : s) m[x.target][x.source] = x.value;
  return m;
}

struct Reference {
  Matrix win, wrec, wout;  // [target][source]
  double alpha = 0, rho = 0, kappa = 0;
  std::vector<std::vector<double>> x, target;  // [t][channel], [t][output]
  // Forward trajectory.
  std::vector<std::vector<double>> z, psi, y;
  int spikes = 0;
  // Results of the backward pass.
  Matrix g_in, g_rec, g_out;
  std::vector<std::vector<double>> L;  // dE/dz_j^t excluding the neuron's own state (see below)

  double beta(int j) const { return j < kLif ? 0.0 : kBeta; }

  void forward() {
    std::vector<double> v(kN, 0.0), a(kN, 0.0), r(kN, 0.0), zp(kN, 0.0), yk(kK, 0.0);
    z.assign(kT, std::vector<double>(kN, 0.0));
    psi = z;
    y.assign(kT, std::vector<double>(kK, 0.0));
    for (int t = 0; t < kT; ++t) {
      for (int j = 0; j < kN; ++j) {
        double I = 0.0;
        for (int i = 0; i < kIn; ++i) I += win[j][i] * x[t][i];
        for (int i = 0; i < kN; ++i) I += wrec[j][i] * zp[i];
        v[j] = alpha * v[j] + I - kVth * zp[j];
        a[j] = rho * a[j] + zp[j];
        const double A = kVth + beta(j) * a[j];
        const bool refractory = r[j] > 0.0;
        z[t][j] = (!refractory && v[j] >= A) ? 1.0 : 0.0;
        psi[t][j] = refractory ? 0.0 : kGamma / kVth * std::max(0.0, 1.0 - std::fabs(v[j] - A) / kVth);
        r[j] = std::clamp(r[j] + kNref * z[t][j] - 1.0, 0.0, kNref);
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

  // E = 1/(B T) sum_t 1/2 sum_k (y_k^t - y*_k^t)^2 with B = 1. With `recurrent` false, no gradient
  // flows through the recurrent weights (recurrent spikes held constant): what e-prop computes.
  void backward(bool recurrent) {
    const double scale = 1.0 / kT;
    g_in.assign(kN, std::vector<double>(kIn, 0.0));
    g_rec.assign(kN, std::vector<double>(kN, 0.0));
    g_out.assign(kK, std::vector<double>(kN, 0.0));
    L.assign(kT, std::vector<double>(kN, 0.0));
    std::vector<double> ybar(kK, 0.0), dv_next(kN, 0.0), da_next(kN, 0.0);
    for (int t = kT - 1; t >= 0; --t) {
      std::vector<double> err(kK);
      learning::squared_error(y[t].data(), target[t].data(), kK, scale, err.data());
      for (int k = 0; k < kK; ++k) ybar[k] = err[k] + kappa * ybar[k];  // dE/dy_k^t
      std::vector<double> dv(kN), da(kN);
      for (int j = 0; j < kN; ++j) {
        // Paths from z_j^t: the readout at t, the other neurons' membranes at t + 1, and the
        // neuron's own adaptation at t + 1 (that last one is what the eligibility trace covers).
        double l = 0.0;
        for (int k = 0; k < kK; ++k) l += (1.0 - kappa) * wout[k][j] * ybar[k];
        if (recurrent)
          for (int i = 0; i < kN; ++i) l += wrec[i][j] * dv_next[i];
        L[t][j] = l;
        const double dz = l + da_next[j];
        dv[j] = alpha * dv_next[j] + psi[t][j] * dz;
        da[j] = rho * da_next[j] - beta(j) * psi[t][j] * dz;
      }
      for (int j = 0; j < kN; ++j) {
        for (int i = 0; i < kIn; ++i) g_in[j][i] += dv[j] * x[t][i];
        if (t > 0)
          for (int i = 0; i < kN; ++i) g_rec[j][i] += dv[j] * z[t - 1][i];
      }
      for (int k = 0; k < kK; ++k)
        for (int j = 0; j < kN; ++j) g_out[k][j] += ybar[k] * (1.0 - kappa) * z[t][j];
      dv_next = dv;
      da_next = da;
    }
  }
};

Reference reference_for(train::gradient::GradientTraining& tr) {
  Reference ref;
  ref.win = dense(tr.weights("in_rec"), kN, kIn);
  ref.wrec = dense(tr.weights("rec_rec"), kN, kN);
  ref.wout = dense(tr.weights("rec_out"), kK, kN);
  ref.alpha = std::exp(-1.0 / 20.0);
  ref.rho = std::exp(-1.0 / 60.0);
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

// ||a - b|| / ||b|| over all synapses of a projection.
double relative_error(const std::vector<learning::SynapseValue>& got, const Matrix& want) {
  double d = 0.0, n = 0.0;
  for (const auto& s : got) {
    const double w = want[s.target][s.source];
    d += (s.value - w) * (s.value - w);
    n += w * w;
  }
  return std::sqrt(d / n);
}

double norm(const Matrix& m) {
  double n = 0.0;
  for (const auto& r : m)
    for (double x : r) n += x * x;
  return std::sqrt(n);
}

}  // namespace

TEST_CASE("e-prop with the total learning signal equals BPTT", "[eprop][exact]") {
  auto single = comm::make_single();
  const auto net = test::network(kNet, {"train.eligibility_filter=none"});
  train::gradient::GradientTraining tr({net, *single, 1, nullptr});
  Reference ref = reference_for(tr);
  REQUIRE(ref.spikes >= 40);  // the network is active: the comparison is not between zeros
  ref.backward(true);
  REQUIRE(norm(ref.g_rec) > 1e-4);
  REQUIRE(norm(ref.g_in) > 1e-4);

  // The engine's eligibility traces (unfiltered) times the reference's total dE/dz_j^t.
  tr.set_learning_signal([&](Step t, Gid gid) { return ref.L[t][gid - kIn]; });
  tr.trial(task::Stream::Train, 0, true);
  const double e_in = relative_error(tr.gradient("in_rec"), ref.g_in);
  const double e_rec = relative_error(tr.gradient("rec_rec"), ref.g_rec);
  const double e_out = relative_error(tr.gradient("rec_out"), ref.g_out);
  INFO("relative errors: in " << e_in << ", rec " << e_rec << ", out " << e_out << "; spikes " << ref.spikes);
  CHECK(e_in < 1e-10);
  CHECK(e_rec < 1e-10);
  CHECK(e_out < 1e-10);
}

TEST_CASE("online e-prop equals BPTT with recurrent spikes held constant", "[eprop][exact]") {
  auto single = comm::make_single();
  const auto net = test::network(kNet);
  train::gradient::GradientTraining tr({net, *single, 1, nullptr});
  Reference ref = reference_for(tr);
  REQUIRE(ref.spikes >= 40);
  ref.backward(false);
  tr.trial(task::Stream::Train, 0, true);
  const double e_in = relative_error(tr.gradient("in_rec"), ref.g_in);
  const double e_rec = relative_error(tr.gradient("rec_rec"), ref.g_rec);
  const double e_out = relative_error(tr.gradient("rec_out"), ref.g_out);
  INFO("relative errors: in " << e_in << ", rec " << e_rec << ", out " << e_out << "; spikes " << ref.spikes);
  CHECK(e_in < 1e-10);
  CHECK(e_rec < 1e-10);
  CHECK(e_out < 1e-10);

  // And it is not BPTT: the recurrent paths the online rule leaves out change the gradient.
  Reference full = ref;
  full.backward(true);
  CHECK(relative_error(tr.gradient("rec_rec"), full.g_rec) > 1e-3);
}
