#include "plexus/core/rng.hpp"

#include <cmath>

namespace plexus::rng {

std::uint32_t poisson(double lambda, double u, Stream& more) {
  if (lambda <= 0.0) return 0;
  if (lambda < 12.0) {
    // Inversion: walk the cumulative distribution until it passes u.
    double p = std::exp(-lambda);
    double cdf = p;
    std::uint32_t k = 0;
    while (u > cdf && k < 1000) {
      ++k;
      p *= lambda / k;
      cdf += p;
    }
    return k;
  }
  // PTRS: transformed rejection with squeeze.
  const double slam = std::sqrt(lambda);
  const double loglam = std::log(lambda);
  const double b = 0.931 + 2.53 * slam;
  const double a = -0.059 + 0.02483 * b;
  const double invalpha = 1.1239 + 1.1328 / (b - 3.4);
  const double vr = 0.9277 - 3.6224 / (b - 2.0);
  double uu = u - 0.5;
  double v = more.open_uniform();
  for (;;) {
    const double us = 0.5 - std::fabs(uu);
    const double k = std::floor((2.0 * a / us + b) * uu + lambda + 0.43);
    if (us >= 0.07 && v <= vr) return static_cast<std::uint32_t>(k);
    if (k >= 0.0 && !(us < 0.013 && v > us)) {
      const double lhs = std::log(v) + std::log(invalpha) - std::log(a / (us * us) + b);
      const double rhs = -lambda + k * loglam - std::lgamma(k + 1.0);
      if (lhs <= rhs) return static_cast<std::uint32_t>(k);
    }
    uu = more.uniform() - 0.5;
    v = more.open_uniform();
  }
}

}  // namespace plexus::rng
