#pragma once
// Losses on the readout (SPEC 4.1) and their derivatives with respect to the readout values y^t.
// Pure functions of the readout values of one step, the same on every rank.
#include <algorithm>
#include <cmath>
#include <cstddef>

namespace plexus::learning {

// Softmax cross-entropy -log pi_label with pi = softmax(y); writes dloss/dy_k = pi_k - [k = label]
// times `scale` into err. Shifted by max(y) so that exp never overflows.
inline double softmax_cross_entropy(const double* y, std::size_t K, int label, double scale, double* err) {
  double mx = y[0];
  for (std::size_t k = 1; k < K; ++k) mx = std::max(mx, y[k]);
  double z = 0.0;
  for (std::size_t k = 0; k < K; ++k) z += std::exp(y[k] - mx);
  for (std::size_t k = 0; k < K; ++k) {
    const double pi = std::exp(y[k] - mx) / z;
    err[k] = (pi - (static_cast<int>(k) == label ? 1.0 : 0.0)) * scale;
  }
  return -(y[label] - mx - std::log(z));
}

// Squared error 1/2 sum_k (y_k - target_k)^2; writes (y_k - target_k) times `scale` into err.
inline double squared_error(const double* y, const double* target, std::size_t K, double scale, double* err) {
  double loss = 0.0;
  for (std::size_t k = 0; k < K; ++k) {
    const double d = y[k] - target[k];
    err[k] = d * scale;
    loss += 0.5 * d * d;
  }
  return loss;
}

}  // namespace plexus::learning
