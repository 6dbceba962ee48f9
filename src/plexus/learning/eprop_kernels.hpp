#pragma once
// e-prop (SPEC 4.1): eligibility traces kept per synapse, advanced one step at a time, and the
// gradient g_ji = sum_t L_j^t ebar_ji^t accumulated online. Nothing here grows with trial length.
//
// Per synapse i -> j, with ev_i the presynaptic trace (shared by all targets of a source, because
// it depends only on the source and the target population's alpha):
//   ev_i^t   = alpha ev_i^(t-1) + x_i^t
//   ea_ji^t  = (rho - beta_j psi_j^(t-1)) ea_ji^(t-1) + psi_j^(t-1) ev_i^(t-1)     (ALIF only)
//   e_ji^t   = psi_j^t (ev_i^t - beta_j ea_ji^t)
//   eb_ji^t  = kappa eb_ji^(t-1) + (1 - kappa) e_ji^t                          (kappa = 0: eb = e)
//   g_ji    += L_j^t eb_ji^t + R_j^t e_ji^t
// L is the learning signal of losses on the (filtered) readout; R that of losses on the spikes
// themselves (rate regularisation), which reach z_j^t directly and so multiply the unfiltered trace.
// The kernels work on one row (all incoming synapses of one neuron of a projection), so the
// per-neuron factors are scalars and only the presynaptic trace is gathered; they are templates on
// the storage type (float in production, double for the exactness tests).
#include <cstddef>
#include <cstdint>

namespace plexus::learning {

// The factors of one row at one step.
struct RowStep {
  double psi_prev = 0.0;  // psi_j^(t-1)
  double psi = 0.0;       // psi_j^t
  double beta = 0.0;      // beta_j (0: LIF)
  double rho = 0.0;       // adaptation decay
  double kappa = 0.0;     // filter of the eligibility trace (readout decay)
  double L = 0.0;         // learning signal L_j^t (through the filtered trace)
  double R = 0.0;         // learning signal R_j^t (through the unfiltered trace)
  // Decay the row owes from steps it was skipped (idle rows, learning/eprop.cpp): the stored ea and
  // ebar are multiplied by these on load.
  double owed_a = 1.0, owed_b = 1.0;
};

// One row of e-prop synapses (n of them, sources src[0..n); with kDense the sources are src[0],
// src[0] + 1, ..., read without a gather). `ea` is unused when !kAdaptive; `g` is unused when
// neither kL nor kR (the signals are zero).
template <class Real, bool kAdaptive, bool kL, bool kR, bool kDense>
inline void eprop_row(const RowStep& c, std::size_t n, const std::uint32_t* __restrict src,
                      const Real* __restrict ev_prev, const Real* __restrict ev, Real* __restrict ea,
                      Real* __restrict eb, Real* __restrict g) {
  const Real psi = static_cast<Real>(c.psi), psi_prev = static_cast<Real>(c.psi_prev);
  const Real beta = static_cast<Real>(c.beta);
  const Real one_minus_kappa = static_cast<Real>(1.0 - c.kappa), L = static_cast<Real>(c.L);
  const Real R = static_cast<Real>(c.R);
  const Real decay_a = static_cast<Real>((c.rho - c.beta * c.psi_prev) * c.owed_a);
  const Real kappa_b = static_cast<Real>(c.kappa * c.owed_b);
  if constexpr (kDense) {
    ev += src[0];
    ev_prev += src[0];
  }
  for (std::size_t k = 0; k < n; ++k) {
    const std::size_t i = kDense ? k : src[k];
    Real e;
    if constexpr (kAdaptive) {
      const Real a = decay_a * ea[k] + psi_prev * ev_prev[i];  // (owed decay folded into decay_a)
      ea[k] = a;
      e = psi * (ev[i] - beta * a);
    } else {
      e = psi * ev[i];
    }
    const Real b = kappa_b * eb[k] + one_minus_kappa * e;
    eb[k] = b;
    if constexpr (kL && kR)
      g[k] += L * b + R * e;
    else if constexpr (kL)
      g[k] += L * b;
    else if constexpr (kR)
      g[k] += R * e;
  }
}

// A row of readout synapses: the exact gradient of the loss with respect to W_kj is
// sum_t err_k^t zt_j^t, with zt the presynaptic trace filtered like the readout itself.
template <class Real>
inline void readout_row(double err, std::size_t n, const std::uint32_t* __restrict src,
                        const Real* __restrict zt, Real* __restrict g) {
  const Real e = static_cast<Real>(err);
  for (std::size_t k = 0; k < n; ++k) g[k] += e * zt[src[k]];
}

// Reward-based e-prop (SPEC 4.3, learning/reward.hpp): the same traces, and a further per-synapse
// filter f_ji^t = gamma f_ji^(t-1) + L_j^t ebar_ji^t (F_gamma of the learning signal times the
// filtered trace). The TD error delta^t needs V^(t+1), so it is known one step late: at step t the
// row takes delta^(t-1) (`delta`, already scaled) times f^(t-1) before advancing f to f^t:
//   g_ji += delta^(t-1) f_ji^(t-1) + R_j^t e_ji^t + H_j^t ebar_ji^t
// (R: rate regularisation as in eprop_row; H: the entropy bonus, a direct gradient not weighted by
// the TD error). Rows are never skipped in this mode (f and g change even when psi is zero).
template <class Real, bool kAdaptive, bool kDense>
inline void reward_row(const RowStep& c, double delta, double gamma, double H, std::size_t n,
                       const std::uint32_t* __restrict src, const Real* __restrict ev_prev,
                       const Real* __restrict ev, Real* __restrict ea, Real* __restrict eb,
                       Real* __restrict f, Real* __restrict g) {
  const Real psi = static_cast<Real>(c.psi), psi_prev = static_cast<Real>(c.psi_prev);
  const Real beta = static_cast<Real>(c.beta);
  const Real one_minus_kappa = static_cast<Real>(1.0 - c.kappa), L = static_cast<Real>(c.L);
  const Real R = static_cast<Real>(c.R), Hs = static_cast<Real>(H);
  const Real d = static_cast<Real>(delta), gm = static_cast<Real>(gamma);
  const Real decay_a = static_cast<Real>(c.rho - c.beta * c.psi_prev);
  const Real kappa_b = static_cast<Real>(c.kappa);
  if constexpr (kDense) {
    ev += src[0];
    ev_prev += src[0];
  }
  for (std::size_t k = 0; k < n; ++k) {
    const std::size_t i = kDense ? k : src[k];
    Real e;
    if constexpr (kAdaptive) {
      const Real a = decay_a * ea[k] + psi_prev * ev_prev[i];
      ea[k] = a;
      e = psi * (ev[i] - beta * a);
    } else {
      e = psi * ev[i];
    }
    const Real b = kappa_b * eb[k] + one_minus_kappa * e;
    eb[k] = b;
    const Real fk = f[k];
    g[k] += d * fk + R * e + Hs * b;
    f[k] = gm * fk + L * b;
  }
}

// A row of readout synapses in reward mode: err is dL/dy_k^t of the policy and value terms (filtered
// by F_gamma and weighted by the TD error one step later), err_h that of the entropy bonus (direct).
template <class Real>
inline void reward_readout_row(double err, double err_h, double delta, double gamma, std::size_t n,
                               const std::uint32_t* __restrict src, const Real* __restrict zt,
                               Real* __restrict f, Real* __restrict g) {
  const Real e = static_cast<Real>(err), eh = static_cast<Real>(err_h);
  const Real d = static_cast<Real>(delta), gm = static_cast<Real>(gamma);
  for (std::size_t k = 0; k < n; ++k) {
    const Real z = zt[src[k]], fk = f[k];
    g[k] += d * fk + eh * z;
    f[k] = gm * fk + e * z;
  }
}

}  // namespace plexus::learning
