#include "plexus/core/rng.hpp"

#include <cmath>

namespace plexus::rng {

Poisson::Poisson(double lambda) : lambda_(lambda) {
  if (lambda_ < kInversionLimit) {
    exp_neg_lambda_ = std::exp(-lambda_);
    return;
  }
  slam_ = std::sqrt(lambda_);
  loglam_ = std::log(lambda_);
  b_ = 0.931 + 2.53 * slam_;
  a_ = -0.059 + 0.02483 * b_;
  invalpha_ = 1.1239 + 1.1328 / (b_ - 3.4);
  vr_ = 0.9277 - 3.6224 / (b_ - 2.0);
}

std::uint32_t Poisson::operator()(double u, Stream& more) const {
  if (lambda_ <= 0.0) return 0;
  if (lambda_ < kInversionLimit) {
    // Inversion: walk the cumulative distribution until it passes u.
    double p = exp_neg_lambda_;
    double cdf = p;
    std::uint32_t k = 0;
    while (u > cdf && k < 1000) {
      ++k;
      p *= lambda_ / k;
      cdf += p;
    }
    return k;
  }
  // PTRS: transformed rejection with squeeze.
  double uu = u - 0.5;
  double v = more.open_uniform();
  for (;;) {
    const double us = 0.5 - std::fabs(uu);
    const double k = std::floor((2.0 * a_ / us + b_) * uu + lambda_ + 0.43);
    if (us >= 0.07 && v <= vr_) return static_cast<std::uint32_t>(k);
    if (k >= 0.0 && !(us < 0.013 && v > us)) {
      const double lhs = std::log(v) + std::log(invalpha_) - std::log(a_ / (us * us) + b_);
      const double rhs = -lambda_ + k * loglam_ - std::lgamma(k + 1.0);
      if (lhs <= rhs) return static_cast<std::uint32_t>(k);
    }
    uu = more.uniform() - 0.5;
    v = more.open_uniform();
  }
}

}  // namespace plexus::rng
