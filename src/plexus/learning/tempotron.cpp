#include "plexus/learning/tempotron.hpp"

#include <cmath>
#include <stdexcept>
#include <string>

namespace plexus::learning::tempotron {

Kernel Kernel::make(double tau_ms, double tau_s_ms) {
  if (!(tau_s_ms > 0.0) || !(tau_ms > tau_s_ms) || !std::isfinite(tau_ms))
    throw std::invalid_argument("the tempotron kernel needs 0 < tau_s < tau (got tau = " +
                                std::to_string(tau_ms) + " ms, tau_s = " + std::to_string(tau_s_ms) + " ms)");
  Kernel k;
  k.tau = tau_ms;
  k.tau_s = tau_s_ms;
  k.inv_tau = 1.0 / tau_ms;
  k.inv_tau_s = 1.0 / tau_s_ms;
  // dK/dt = 0 where exp(t (1/tau_s - 1/tau)) = tau / tau_s.
  k.peak = std::log(tau_ms / tau_s_ms) / (k.inv_tau_s - k.inv_tau);
  k.v0 = 1.0 / (std::exp(-k.peak * k.inv_tau) - std::exp(-k.peak * k.inv_tau_s));
  return k;
}

double Kernel::operator()(double t) const {
  if (!(t > 0.0)) return 0.0;
  return v0 * (std::exp(-t * inv_tau) - std::exp(-t * inv_tau_s));
}

Prepared Prepared::make(const Kernel& k, const Pattern& p, double duration) {
  if (p.time.size() != p.afferent.size())
    throw std::invalid_argument("pattern: times and afferents differ in length");
  Prepared q;
  q.time = p.time;
  q.afferent = p.afferent;
  q.duration = duration;
  const std::size_t n = p.time.size();
  q.gap.resize(n);
  q.decay.resize(n);
  q.decay_s.resize(n);
  for (std::size_t i = 0; i < n; ++i) {
    if (!(p.time[i] >= 0.0) || !(p.time[i] < duration) || (i > 0 && p.time[i] < p.time[i - 1]))
      throw std::invalid_argument("pattern: input spike times must be sorted and inside [0, duration)");
    const double next = i + 1 < n ? p.time[i + 1] : duration;
    q.gap[i] = next - p.time[i];
    q.decay[i] = std::exp(-q.gap[i] * k.inv_tau);
    q.decay_s[i] = std::exp(-q.gap[i] * k.inv_tau_s);
  }
  return q;
}

namespace {

// V0 (a e^{-u/tau} - b e^{-u/tau_s})
inline double shape(const Kernel& k, double a, double b, double u) {
  return k.v0 * (a * std::exp(-u * k.inv_tau) - b * std::exp(-u * k.inv_tau_s));
}

// Time of the interior maximum of shape(a, b, .) on u > 0, or a negative value if it has none.
inline double peak_of(const Kernel& k, double a, double b) {
  if (!(a > 0.0) || !(b > 0.0)) return -1.0;
  const double q = (b * k.tau) / (a * k.tau_s);
  if (!(q > 1.0)) return -1.0;
  return std::log(q) / (k.inv_tau_s - k.inv_tau);
}

}  // namespace

Response respond(const Kernel& k, const Prepared& p, const double* w, double threshold) {
  Response r;
  const std::size_t n = p.time.size();
  double a = 0.0, b = 0.0;  // referred to the current input spike
  for (std::size_t i = 0; i < n; ++i) {
    const double wi = w[p.afferent[i]];
    a += wi;
    b += wi;
    const double gap = p.gap[i];
    // On (t_i, t_i + gap] the potential is shape(a, b, u). An interior maximum needs a, b > 0 and is
    // then below V0 a, so an interval whose V0 a cannot beat the best value so far (which is below
    // threshold) needs no logarithm; its left end is the previous interval's right end.
    double u_hi = -1.0, v_hi = 0.0;  // largest value in this interval, if it beats the best so far
    if (k.v0 * a > r.v_max) {
      const double u = peak_of(k, a, b);
      if (u > 0.0 && u < gap) {
        const double v = shape(k, a, b, u);
        if (v > r.v_max) u_hi = u, v_hi = v;
      }
    }
    const double a1 = a * p.decay[i], b1 = b * p.decay_s[i];
    if (u_hi < 0.0) {
      const double v_end = k.v0 * (a1 - b1);
      if (v_end > r.v_max) u_hi = gap, v_hi = v_end;
    }
    if (u_hi >= 0.0) {
      r.v_max = v_hi;
      r.t_max = p.time[i] + u_hi;
      r.contributing = i + 1;  // an input at exactly t_i + gap adds K(0) = 0
      if (v_hi >= threshold) {
        // The output spike: V rises monotonically from below threshold at u = 0 to v_hi at u_hi
        // (the only shape that can cross a positive threshold inside an interval), so bisect.
        double lo = 0.0, hi = u_hi;
        for (int it = 0; it < 200 && hi - lo > 1e-12; ++it) {
          const double mid = 0.5 * (lo + hi);
          (shape(k, a, b, mid) >= threshold ? hi : lo) = mid;
        }
        r.fired = true;
        r.t_spike = p.time[i] + hi;
        // Later inputs are shunted: V continues as shape(a, b, .) up to the end of the pattern.
        const double rest = p.duration - p.time[i];
        const double u = peak_of(k, a, b);
        if (u > 0.0 && u < rest) {
          r.t_max = p.time[i] + u;
          r.v_max = shape(k, a, b, u);
        } else {
          r.t_max = p.duration;
          r.v_max = shape(k, a, b, rest);
        }
        return r;
      }
    }
    a = a1;
    b = b1;
  }
  return r;
}

double potential(const Kernel& k, const Pattern& p, const double* w, double t) {
  double v = 0.0;
  for (std::size_t i = 0; i < p.time.size() && p.time[i] < t; ++i) v += w[p.afferent[i]] * k(t - p.time[i]);
  return v;
}

void gradient(const Kernel& k, const Prepared& p, const Response& r, double* g) {
  for (std::size_t i = 0; i < r.contributing; ++i) g[p.afferent[i]] += k(r.t_max - p.time[i]);
}

bool Learner::present(const Kernel& k, const Prepared& p, bool positive) {
  const Response r = respond(k, p, w.data(), threshold);
  if (r.fired == positive) return true;
  const double step = positive ? lambda : -lambda;
  if (mu == 0.0) {
    for (std::size_t i = 0; i < r.contributing; ++i) w[p.afferent[i]] += step * k(r.t_max - p.time[i]);
    return false;
  }
  const std::size_t n = w.size();
  scratch.assign(n, 0.0);
  velocity.resize(n, 0.0);
  gradient(k, p, r, scratch.data());
  for (std::size_t i = 0; i < n; ++i) {
    velocity[i] = mu * velocity[i] + step * scratch[i];
    w[i] += velocity[i];
  }
  return false;
}

}  // namespace plexus::learning::tempotron
