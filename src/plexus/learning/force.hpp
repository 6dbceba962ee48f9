#pragma once
// FORCE learning (SPEC 4.4; Sussillo & Abbott 2009, Nicola & Clopath 2017): a spiking reservoir with
// weights  omega = G omega0 + Q eta phi^T  is trained by recursive least squares on the decoders
// phi so that its decoded output x_hat = phi^T r follows a target x. The static part G omega0 is an
// ordinary sparse projection of the network (its rows shifted to zero mean for LIF,
// `zero_mean_rows`); the rank-k part acts as the current Q eta x_hat fed back into every neuron,
// which is what the encoders below are for; the decoders and the inverse correlation matrix P are
// learned here. Every `step` steps inside the training window, with e = x_hat - x:
//     c = P r,   phi <- phi - c e^T,   P <- P - c c^T / (1 + r^T c),      P(0) = p0 I.
//
// Distribution: each rank holds the rows of P of its own neurons (P is N x N, the only large
// state); c is formed row by row where the rows are and gathered in neuron order. The decoders
// (N x k, small) are replicated: every rank applies the same update to them, so that x_hat, which
// is needed every step, costs no communication. See docs/decisions/0007-force-distribution.md.
#include <cstddef>
#include <cstdint>
#include <vector>

namespace plexus::learning::force {

// Sum of a[i] b[i] in a fixed order (eight interleaved partial sums, combined pairwise, then the
// tail): it vectorises without reassociation by the compiler, and the same vectors give the same
// result on every rank and thread.
double dot(const double* a, const double* b, std::size_t n);

class Rls {
 public:
  // `n` neurons, `k` outputs; this rank holds rows [row_begin, row_end) of P. P(0) = p0 I,
  // decoders zero.
  Rls(std::size_t n, std::size_t k, std::size_t row_begin, std::size_t row_end, double p0);

  // c[j] = (P r)_{row_begin + j} for local rows j in [b, e), after adding the pending update into
  // those rows (so each update reads and writes P once). Threads call it for disjoint ranges.
  void product(std::size_t b, std::size_t e, const double* r, double* c);
  // Called once after every range's product(): the pending update is now part of P.
  void product_done() { pending_ = false; }
  // The update, given this step's r, the whole c = P r (n values, in neuron order) and the error e
  // (k values): phi <- phi - c e^T now; P <- P - s s^T with s = c / sqrt(1 + r^T c) deferred to the
  // next product() or apply_pending(). (s s^T is exactly symmetric, as c c^T / d would not be.)
  void update(const double* r, const double* c, const double* e);
  // Adds the pending update into rows [b, e) (local indices); then call product_done().
  void apply_pending(std::size_t b, std::size_t e);
  bool pending() const { return pending_; }

  std::size_t neurons() const { return n_; }
  std::size_t outputs() const { return k_; }
  std::size_t row_begin() const { return begin_; }
  std::size_t row_end() const { return end_; }
  // Local row j of P (n values); valid when nothing is pending.
  const double* row(std::size_t j) const { return P_.data() + j * n_; }
  // Decoders, k x n (one row of n per output), the same on every rank.
  const std::vector<double>& decoders() const { return phi_; }
  std::uint64_t updates() const { return updates_; }
  std::size_t bytes() const { return (P_.capacity() + phi_.capacity() + s_.capacity()) * sizeof(double); }

  // Checkpoints: the state as it is held (rows of P, decoders, the deferred update and whether it
  // is pending; a row may already hold the pending update when a product() has run since update()).
  std::vector<double>& rows() { return P_; }
  std::vector<double>& decoder_values() { return phi_; }
  std::vector<double>& pending_update() { return s_; }
  void set_pending(bool p) { pending_ = p; }
  void set_updates(std::uint64_t n) { updates_ = n; }

 private:
  std::size_t n_, k_, begin_, end_;
  std::vector<double> P_;    // (end - begin) x n, row-major
  std::vector<double> phi_;  // k x n: x_hat_m = phi_m . r is one contiguous dot product
  std::vector<double> s_;    // the pending rank-one update (n values)
  bool pending_ = false;
  std::uint64_t updates_ = 0;
};

// --- phase-invariant measures of a generated signal (SPEC 4.4: a free-running network drifts in
// phase, so success is judged by correlation at the best lag, amplitude and frequency) -----------

double mean(const double* x, std::size_t n);
double std_dev(const double* x, std::size_t n);
double rms_difference(const double* a, const double* b, std::size_t n);
// Pearson correlation (0 if either is constant).
double correlation(const double* a, const double* b, std::size_t n);

struct LagCorrelation {
  double correlation = 0.0;
  std::ptrdiff_t lag = 0;  // samples; y[i] best matches x[i + lag]
};
// Best correlation of y[0..n) with x[lag .. lag + n) over lags in [-max_lag, max_lag]; `x` points
// at the sample aligned with y[0] and must be readable from x - max_lag to x + n + max_lag.
LagCorrelation best_lag_correlation(const double* y, const double* x, std::size_t n, std::size_t max_lag);

// Frequency (Hz) of the highest peak of the power spectrum of y (mean removed, Hann window),
// sampled every dt_ms, searched in [f_min, f_max] on a 0.05 Hz grid and refined to 0.001 Hz (finer
// than the 1/T spacing of a plain FFT, which for a 1-s window is 1 Hz).
double dominant_frequency(const double* y, std::size_t n, double dt_ms, double f_min, double f_max);

}  // namespace plexus::learning::force
