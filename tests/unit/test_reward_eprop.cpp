// Reward-based e-prop (SPEC 4.3) on a hand-made episode: the TD errors, the sampled action, and
// the per-synapse accumulation g_ji = sum_t delta^t F_gamma(L_j ebar_ji)^t of the kernels
// (learning/eprop_kernels.hpp), which run it online with the TD error one step late, against the
// definition written out as explicit double sums (float64).
#include <catch2/catch.hpp>
#include <cmath>
#include <vector>

#include "plexus/core/rng.hpp"
#include "plexus/learning/eprop_kernels.hpp"
#include "plexus/learning/reward.hpp"

using namespace plexus;

namespace {

constexpr int kT = 40;  // steps of the episode; the decision at kT - 2, its TD error at kT - 1
constexpr double kKappa = 0.8, kGamma = 0.95, kAlpha = 0.9, kRho = 0.97, kBeta = 0.2;

struct Episode {
  std::vector<double> x, psi, L, V, r;  // presynaptic spikes, psi_j, L_j, V, r per step
};

Episode make_episode() {
  rng::Stream s(5, rng::Purpose::Synthetic, 1);
  Episode e;
  for (int t = 0; t < kT; ++t) {
    e.x.push_back(s.uniform() < 0.3 ? 1.0 : 0.0);
    e.psi.push_back(s.uniform() < 0.4 ? 0.0 : 0.3 * s.uniform());
    e.L.push_back(s.uniform(-1.0, 1.0));
    e.V.push_back(s.uniform(0.0, 1.0));
    e.r.push_back(t == kT - 2 ? 1.0 : -0.01);
  }
  return e;
}

}  // namespace

TEST_CASE("TD error, softmax sampling, policy and entropy errors", "[reward]") {
  CHECK(learning::td_error(0.5, 0.2, 0.4, 0.9, false) == Approx(0.5 + 0.9 * 0.4 - 0.2));
  CHECK(learning::td_error(1.0, 0.3, 7.0, 0.9, true) == Approx(0.7));  // terminal: no V^(t+1)
  const double y[2] = {0.3, -0.4};
  double pi[2];
  learning::softmax(y, 2, pi);
  CHECK(pi[0] == Approx(1.0 / (1.0 + std::exp(-0.7))));
  CHECK(pi[0] + pi[1] == Approx(1.0));
  CHECK(learning::sample_action(pi, 2, pi[0] - 1e-9) == 0);
  CHECK(learning::sample_action(pi, 2, pi[0] + 1e-9) == 1);
  double err[2];
  CHECK(learning::policy_error(pi, 2, 1, err) == Approx(-std::log(pi[1])));
  CHECK(err[0] == Approx(pi[0]));
  CHECK(err[1] == Approx(pi[1] - 1.0));
  // Entropy gradient against a central difference of -c_H H(softmax(y)).
  double eh[2];
  const double H = learning::entropy_error(pi, 2, 0.5, eh);
  CHECK(H == Approx(-pi[0] * std::log(pi[0]) - pi[1] * std::log(pi[1])));
  for (int k = 0; k < 2; ++k) {
    double yp[2] = {y[0], y[1]}, ym[2] = {y[0], y[1]}, p[2], m[2], dummy[2];
    yp[k] += 1e-6, ym[k] -= 1e-6;
    learning::softmax(yp, 2, p);
    learning::softmax(ym, 2, m);
    const double fd =
        -0.5 * (learning::entropy_error(p, 2, 0.5, dummy) - learning::entropy_error(m, 2, 0.5, dummy)) / 2e-6;
    CHECK(eh[k] == Approx(fd).margin(1e-8));
  }
}

TEST_CASE("reward e-prop: online filtered traces equal the direct sums on a hand-made episode", "[reward]") {
  const auto ep = make_episode();
  const int D = kT - 2;  // decision step: the episode is steps 0..D
  // TD errors delta^t for t = 0..D (terminal at D).
  std::vector<double> delta(kT, 0.0);
  for (int t = 0; t <= D; ++t)
    delta[t] = learning::td_error(ep.r[t], ep.V[t], t < D ? ep.V[t + 1] : 0.0, kGamma, t == D);

  for (const bool adaptive : {false, true}) {
    const double beta = adaptive ? kBeta : 0.0;
    // Direct computation. ev^t = sum_u alpha^(t-u) x^u; ea by its recursion (SPEC 4.1) written as a
    // sum over s < t of prod (rho - beta psi) ...; e^t = psi^t (ev^t - beta ea^t);
    // ebar^t = sum_u kappa^(t-u) (1 - kappa) e^u; F^t = sum_{s<=t} gamma^(t-s) L^s ebar^s;
    // g = sum_{t<=D} delta^t F^t.
    std::vector<double> ev(kT), ea(kT, 0.0), e(kT), eb(kT), F(kT);
    for (int t = 0; t < kT; ++t) {
      ev[t] = 0.0;
      for (int u = 0; u <= t; ++u) ev[t] += std::pow(kAlpha, t - u) * ep.x[u];
    }
    for (int t = 1; t < kT; ++t)
      for (int s = 1; s <= t; ++s) {  // contribution psi^(s-1) ev^(s-1) entered at s, decayed since
        double prod = 1.0;
        for (int q = s + 1; q <= t; ++q) prod *= kRho - beta * ep.psi[q - 1];
        ea[t] += prod * ep.psi[s - 1] * ev[s - 1];
      }
    for (int t = 0; t < kT; ++t) e[t] = ep.psi[t] * (ev[t] - beta * ea[t]);
    for (int t = 0; t < kT; ++t) {
      eb[t] = 0.0;
      for (int u = 0; u <= t; ++u) eb[t] += std::pow(kKappa, t - u) * (1.0 - kKappa) * e[u];
    }
    double g_direct = 0.0;
    for (int t = 0; t <= D; ++t) {
      F[t] = 0.0;
      for (int s = 0; s <= t; ++s) F[t] += std::pow(kGamma, t - s) * ep.L[s] * eb[s];
      g_direct += delta[t] * F[t];
    }

    // Online: the kernel at step t gets delta^(t-1) and L^t (L = 0 after the decision).
    double evp = 0.0, evc = 0.0, a = 0.0, b = 0.0, f = 0.0, g = 0.0;
    const std::uint32_t src = 0;
    for (int t = 0; t < kT; ++t) {
      evp = evc;
      evc = kAlpha * evp + ep.x[t];
      learning::RowStep c;
      c.psi_prev = t ? ep.psi[t - 1] : 0.0;
      c.psi = ep.psi[t];
      c.beta = beta;
      c.rho = kRho;
      c.kappa = kKappa;
      c.L = t <= D ? ep.L[t] : 0.0;
      const double d = t >= 1 ? delta[t - 1] : 0.0;
      if (adaptive)
        learning::reward_row<double, true, false>(c, d, kGamma, 0.0, 1, &src, &evp, &evc, &a, &b, &f, &g);
      else
        learning::reward_row<double, false, false>(c, d, kGamma, 0.0, 1, &src, &evp, &evc, &a, &b, &f, &g);
      if (t <= D) CHECK(b == Approx(eb[t]).epsilon(1e-12).margin(1e-15));
    }
    INFO("adaptive " << adaptive);
    CHECK(g_direct != 0.0);
    CHECK(g == Approx(g_direct).epsilon(1e-12));
  }

  // Readout synapses: g_kj = sum_t delta^t sum_{s<=t} gamma^(t-s) err^s zhat^s (zhat given).
  std::vector<double> zhat(kT), err(kT);
  rng::Stream s(6, rng::Purpose::Synthetic, 2);
  for (int t = 0; t < kT; ++t) zhat[t] = s.uniform(), err[t] = t <= D ? s.uniform(-1.0, 1.0) : 0.0;
  double g_direct = 0.0;
  for (int t = 0; t <= D; ++t) {
    double Ft = 0.0;
    for (int q = 0; q <= t; ++q) Ft += std::pow(kGamma, t - q) * err[q] * zhat[q];
    g_direct += delta[t] * Ft;
  }
  double f = 0.0, g = 0.0;
  const std::uint32_t src = 0;
  for (int t = 0; t < kT; ++t)
    learning::reward_readout_row<double>(err[t], 0.0, t >= 1 ? delta[t - 1] : 0.0, kGamma, 1, &src, &zhat[t],
                                         &f, &g);
  CHECK(g == Approx(g_direct).epsilon(1e-12));
}
