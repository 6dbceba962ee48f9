#pragma once
// Arithmetic-only exp(-x) for the inner loops of neuron kernels. std::exp cannot be vectorised
// without -ffast-math, and a vectorised libm would round differently from the scalar one used in a
// loop's remainder, so a neuron's value would depend on where its thread's or rank's block starts.
// This function is made of min, + and * only, which round identically in vector and scalar code.

namespace plexus {

// exp(-x) for x >= 0: a degree-6 Taylor polynomial at y = min(x, 40) / 256, then eight squarings.
// Relative error below 2e-12 for x <= 8 and below 1e-7 up to 40; beyond 40 it returns about
// exp(-40) = 4e-18, which is zero for every use here.
inline double exp_neg(double x) {
  const double y = (x < 40.0 ? x : 40.0) * (1.0 / 256.0);
  double p =
      1.0 - y * (1.0 - y * (1.0 / 2 - y * (1.0 / 6 - y * (1.0 / 24 - y * (1.0 / 120 - y * (1.0 / 720))))));
  p *= p;  // 2
  p *= p;  // 4
  p *= p;  // 8
  p *= p;  // 16
  p *= p;  // 32
  p *= p;  // 64
  p *= p;  // 128
  p *= p;  // 256
  return p;
}

}  // namespace plexus
