#include "plexus/learning/force.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace plexus::learning::force {

namespace {

constexpr std::size_t kLanes = 8;

double combine(const double (&acc)[kLanes]) {
  return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}

// row <- row - sj s; returns row . r with the lanes of dot(), so that a fused update gives the
// same c as an update followed by dot().
double update_dot(double* __restrict row, const double* __restrict s, double sj, const double* __restrict r,
                  std::size_t n) {
  double acc[kLanes] = {};
  std::size_t i = 0;
  for (; i + kLanes <= n; i += kLanes)
    for (std::size_t l = 0; l < kLanes; ++l) {
      const double v = row[i + l] - sj * s[i + l];
      row[i + l] = v;
      acc[l] += v * r[i + l];
    }
  double tail = 0.0;
  for (; i < n; ++i) {
    const double v = row[i] - sj * s[i];
    row[i] = v;
    tail += v * r[i];
  }
  return combine(acc) + tail;
}

void update_row(double* __restrict row, const double* __restrict s, double sj, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) row[i] -= sj * s[i];
}

}  // namespace

double dot(const double* __restrict a, const double* __restrict b, std::size_t n) {
  double acc[kLanes] = {};
  std::size_t i = 0;
  for (; i + kLanes <= n; i += kLanes)
    for (std::size_t l = 0; l < kLanes; ++l) acc[l] += a[i + l] * b[i + l];
  double tail = 0.0;
  for (; i < n; ++i) tail += a[i] * b[i];
  return combine(acc) + tail;
}

Rls::Rls(std::size_t n, std::size_t k, std::size_t row_begin, std::size_t row_end, double p0)
    : n_(n), k_(k), begin_(row_begin), end_(row_end) {
  if (row_begin > row_end || row_end > n) throw std::logic_error("Rls: bad row range");
  P_.assign((end_ - begin_) * n_, 0.0);
  for (std::size_t j = begin_; j < end_; ++j) P_[(j - begin_) * n_ + j] = p0;
  phi_.assign(n_ * k_, 0.0);
  s_.assign(n_, 0.0);
}

void Rls::product(std::size_t b, std::size_t e, const double* r, double* c) {
  for (std::size_t j = b; j < e; ++j) {
    double* row = P_.data() + j * n_;
    c[j] = pending_ ? update_dot(row, s_.data(), s_[begin_ + j], r, n_) : dot(row, r, n_);
  }
}

void Rls::apply_pending(std::size_t b, std::size_t e) {
  if (!pending_) return;
  for (std::size_t j = b; j < e; ++j) update_row(P_.data() + j * n_, s_.data(), s_[begin_ + j], n_);
}

void Rls::update(const double* r, const double* c, const double* e) {
  if (pending_) throw std::logic_error("Rls::update: the previous update was not applied");
  const double d = 1.0 + dot(r, c, n_);
  const double q = 1.0 / std::sqrt(d);  // d >= 1: P stays positive definite
  for (std::size_t m = 0; m < k_; ++m) {
    double* phi = phi_.data() + m * n_;
    for (std::size_t i = 0; i < n_; ++i) phi[i] -= c[i] * e[m];
  }
  for (std::size_t i = 0; i < n_; ++i) s_[i] = c[i] * q;
  pending_ = true;
  ++updates_;
}

// ------------------------------------------------------------------------------------------------
double mean(const double* x, std::size_t n) {
  double s = 0.0;
  for (std::size_t i = 0; i < n; ++i) s += x[i];
  return n ? s / static_cast<double>(n) : 0.0;
}

double std_dev(const double* x, std::size_t n) {
  const double m = mean(x, n);
  double s = 0.0;
  for (std::size_t i = 0; i < n; ++i) s += (x[i] - m) * (x[i] - m);
  return n ? std::sqrt(s / static_cast<double>(n)) : 0.0;
}

double rms_difference(const double* a, const double* b, std::size_t n) {
  double s = 0.0;
  for (std::size_t i = 0; i < n; ++i) s += (a[i] - b[i]) * (a[i] - b[i]);
  return n ? std::sqrt(s / static_cast<double>(n)) : 0.0;
}

double correlation(const double* a, const double* b, std::size_t n) {
  const double ma = mean(a, n), mb = mean(b, n);
  double sab = 0.0, saa = 0.0, sbb = 0.0;
  for (std::size_t i = 0; i < n; ++i) {
    sab += (a[i] - ma) * (b[i] - mb);
    saa += (a[i] - ma) * (a[i] - ma);
    sbb += (b[i] - mb) * (b[i] - mb);
  }
  if (saa <= 0.0 || sbb <= 0.0) return 0.0;
  return sab / std::sqrt(saa * sbb);
}

LagCorrelation best_lag_correlation(const double* y, const double* x, std::size_t n, std::size_t max_lag) {
  LagCorrelation best{-2.0, 0};
  const auto L = static_cast<std::ptrdiff_t>(max_lag);
  for (std::ptrdiff_t lag = -L; lag <= L; ++lag) {
    const double c = correlation(y, x + lag, n);
    // Ties go to the smaller |lag|.
    if (c > best.correlation || (c == best.correlation && std::abs(lag) < std::abs(best.lag)))
      best = {c, lag};
  }
  return best;
}

double dominant_frequency(const double* y, std::size_t n, double dt_ms, double f_min, double f_max) {
  if (n < 4 || f_max <= f_min) return 0.0;
  const double m = mean(y, n);
  std::vector<double> w(n);
  for (std::size_t i = 0; i < n; ++i)
    w[i] =
        (y[i] - m) * 0.5 * (1.0 - std::cos(2.0 * M_PI * static_cast<double>(i) / static_cast<double>(n - 1)));
  const double dt_s = dt_ms * 1e-3;
  auto power = [&](double f) {
    // Rotating phasor instead of a sin/cos per sample; renormalised now and then.
    const double a = 2.0 * M_PI * f * dt_s;
    const double cr = std::cos(a), ci = -std::sin(a);
    double pr = 1.0, pi = 0.0, re = 0.0, im = 0.0;
    for (std::size_t i = 0; i < n; ++i) {
      re += w[i] * pr;
      im += w[i] * pi;
      const double nr = pr * cr - pi * ci;
      pi = pr * ci + pi * cr;
      pr = nr;
      if ((i & 255) == 255) {
        const double norm = 1.0 / std::sqrt(pr * pr + pi * pi);
        pr *= norm, pi *= norm;
      }
    }
    return re * re + im * im;
  };
  double best_f = f_min, best_p = -1.0;
  const double coarse = 0.05, fine = 0.001;
  for (double f = f_min; f <= f_max + 1e-12; f += coarse)
    if (const double p = power(f); p > best_p) best_p = p, best_f = f;
  const double lo = std::max(f_min, best_f - coarse), hi = std::min(f_max, best_f + coarse);
  for (double f = lo; f <= hi + 1e-12; f += fine)
    if (const double p = power(f); p > best_p) best_p = p, best_f = f;
  return best_f;
}

}  // namespace plexus::learning::force
