#pragma once
// Reward-based e-prop (SPEC 4.3, actor-critic): the per-step quantities the trainer forms from the
// readouts, pure functions of the readout values of one step (the same on every rank).
//   policy   pi = softmax(y_0 .. y_(K-1)), the action a sampled from it at the decision step;
//   value    V^t = y_K (one extra readout neuron);
//   TD error delta^t = r^t + gamma V^(t+1) - V^t  (V^(t+1) = 0 after the terminal step);
//   dE/dy    err_k = pi_k - 1[a = k] (policy, at the decision step), err_K = -c_V (value, every
//            step of the episode), so that L_j^t = sum_k B_jk err_k^t is SPEC 4.3's learning signal;
//   entropy  dE_H/dy_k = c_H pi_k (log pi_k + H), the gradient of -c_H H (H = -sum_k pi_k log pi_k).
// The update is g_ji = sum_t delta^t F_gamma(L_j ebar_ji)^t (learning/eprop_kernels.hpp).
#include <algorithm>
#include <cmath>
#include <cstddef>

namespace plexus::learning {

inline void softmax(const double* y, std::size_t K, double* pi) {
  double mx = y[0];
  for (std::size_t k = 1; k < K; ++k) mx = std::max(mx, y[k]);
  double z = 0.0;
  for (std::size_t k = 0; k < K; ++k) z += std::exp(y[k] - mx);
  for (std::size_t k = 0; k < K; ++k) pi[k] = std::exp(y[k] - mx) / z;
}

// The action for a uniform number u in [0, 1): the first k with pi_0 + ... + pi_k > u.
inline int sample_action(const double* pi, std::size_t K, double u) {
  double c = 0.0;
  for (std::size_t k = 0; k + 1 < K; ++k) {
    c += pi[k];
    if (u < c) return static_cast<int>(k);
  }
  return static_cast<int>(K) - 1;
}

inline double td_error(double r, double v, double v_next, double gamma, bool terminal) {
  return r + (terminal ? 0.0 : gamma * v_next) - v;
}

// Writes dE/dy of the policy term into err[0..K) and returns -log pi_a.
inline double policy_error(const double* pi, std::size_t K, int action, double* err) {
  for (std::size_t k = 0; k < K; ++k) err[k] = pi[k] - (static_cast<int>(k) == action ? 1.0 : 0.0);
  return -std::log(std::max(pi[action], 1e-300));
}

// Writes c_H dE_H/dy into err_h[0..K) (E_H = -H: the bonus raises the entropy); returns H.
inline double entropy_error(const double* pi, std::size_t K, double c_h, double* err_h) {
  double H = 0.0;
  for (std::size_t k = 0; k < K; ++k)
    if (pi[k] > 0.0) H -= pi[k] * std::log(pi[k]);
  for (std::size_t k = 0; k < K; ++k) err_h[k] = pi[k] > 0.0 ? c_h * pi[k] * (std::log(pi[k]) + H) : 0.0;
  return H;
}

}  // namespace plexus::learning
