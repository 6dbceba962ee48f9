// Equilibrium learning with differential STDP: the kernels. See equilibrium.hpp for the equations
// and docs/decisions/0010-equilibrium-learning.md for the reasons behind them.
//
// Every loop over hidden cells runs over whole chunks of kChunk cells (OpenMP splits chunks, MPI
// splits chunks), and a cell's arithmetic does not depend on which thread or rank does it: inner
// loops are element-wise (vectorised; no FMA contraction, see the top CMakeLists) and the only sum
// over hidden cells (the output cells' input) is taken per chunk in fixed lanes and then added in
// fixed point. So results do not depend on the partition.
#include "plexus/learning/equilibrium.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

#include <fmt/format.h>

#include "plexus/core/rng.hpp"

namespace plexus::learning::equilibrium {
namespace {

constexpr std::size_t K = kChunk;
// Fixed point: chunk sums are rounded to multiples of 2^-kBits. A chunk sum must stay below
// 2^(52 - kBits) in magnitude and there are at most kMaxChunks chunks, so every integer partial sum
// fits in 63 bits.
constexpr double kScale = 0x1p40;  // 2^kBits, kBits = 40
constexpr double kLimit = 0x1p12;  // 2^(52 - kBits)
constexpr std::size_t kMaxChunks = std::size_t{1} << 11;
// Energies are larger than output drives and need less resolution.
constexpr double kEnergyScale = 0x1p30;  // 2^30
constexpr double kEnergyLimit = 0x1p22;
// Key of the weight streams (with the layer), apart from the engine's projection indices.
constexpr std::uint64_t kWeightKey = 0x4551'0000;

inline double clip01(double v) {
  return v < 0.0 ? 0.0 : (v > 1.0 ? 1.0 : v);
}

// Sum of a[k] * b[k] over one chunk, in eight fixed lanes combined in a fixed tree.
inline double dot_chunk(const double* __restrict a, const double* __restrict b) {
  double s[8] = {0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0};
  for (std::size_t k = 0; k < K; k += 8)
    for (std::size_t l = 0; l < 8; ++l) s[l] += a[k + l] * b[k + l];
  return ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
}

inline std::int64_t to_fixed(double v, double scale, double limit, const char* what) {
  if (!(std::fabs(v) < limit))
    throw std::runtime_error(fmt::format(
        "equilibrium network: {} of {} in one chunk of {} hidden cells is beyond +-{} (the weights "
        "diverged; lower the learning rates)",
        what, v, K, limit));
  return std::llrint(v * scale);
}

// Sums `parts` (chunks x m integers) over chunks and then over ranks, exactly, into `out` (m values,
// scaled back by 1/scale). Integers travel as two doubles each (high and low 32 bits), which the
// communicator adds exactly in any order.
void exact_total(const std::vector<std::int64_t>& parts, std::size_t chunks, std::size_t m, double scale,
                 comm::Communicator& comm, std::vector<double>& out) {
  std::vector<std::int64_t> local(m, 0);
  for (std::size_t c = 0; c < chunks; ++c)
    for (std::size_t k = 0; k < m; ++k) local[k] += parts[c * m + k];
  out.assign(m, 0.0);
  if (comm.size() == 1) {
    for (std::size_t k = 0; k < m; ++k) out[k] = static_cast<double>(local[k]) / scale;
    return;
  }
  std::vector<double> split(2 * m);
  for (std::size_t k = 0; k < m; ++k) {
    const auto u = static_cast<std::uint64_t>(local[k]);
    split[2 * k] = static_cast<double>(local[k] >> 32);          // floor(v / 2^32), |.| < 2^31
    split[2 * k + 1] = static_cast<double>(u & 0xffff'ffffULL);  // in [0, 2^32)
  }
  comm.sum_in_rank_order(split);
  for (std::size_t k = 0; k < m; ++k) {
    const auto hi = static_cast<std::int64_t>(split[2 * k]);
    const auto lo = static_cast<std::int64_t>(split[2 * k + 1]);
    const std::uint64_t v = (static_cast<std::uint64_t>(hi) << 32) + static_cast<std::uint64_t>(lo);
    out[k] = static_cast<double>(static_cast<std::int64_t>(v)) / scale;
  }
}

}  // namespace

Block block(std::size_t hidden, int ranks, int rank) {
  const std::size_t n = (hidden + K - 1) / K;
  Block b;
  b.chunk_begin = n * static_cast<std::size_t>(rank) / static_cast<std::size_t>(ranks);
  b.chunk_end = n * static_cast<std::size_t>(rank + 1) / static_cast<std::size_t>(ranks);
  b.hidden_begin = std::min(b.chunk_begin * K, hidden);
  b.hidden_end = std::min(b.chunk_end * K, hidden);
  return b;
}

Network::Network(Shape shape, Dynamics dynamics, comm::Communicator& comm, int threads, std::size_t max_batch)
    : shape_(shape), dyn_(dynamics), comm_(comm), threads_(threads), max_batch_(max_batch) {
  if (shape.inputs == 0 || shape.hidden == 0 || shape.outputs == 0)
    throw std::invalid_argument("equilibrium network: every layer needs at least one cell");
  if ((shape.hidden + K - 1) / K > kMaxChunks)
    throw std::invalid_argument(
        fmt::format("equilibrium network: at most {} hidden cells are supported", kMaxChunks * K));
  if (threads < 1 || max_batch < 1)
    throw std::invalid_argument("equilibrium network: threads and batch >= 1");
  if (!(dynamics.epsilon > 0.0 && dynamics.epsilon <= 1.0))
    throw std::invalid_argument("equilibrium network: epsilon must be in (0, 1]");
  if (!(dynamics.beta > 0.0 && dynamics.beta < 1.0))
    throw std::invalid_argument("equilibrium network: beta must be in (0, 1)");
  if (dynamics.free_steps < 0 || dynamics.nudge_steps < 1)
    throw std::invalid_argument("equilibrium network: free_steps >= 0 and nudge_steps >= 1");
  block_ = equilibrium::block(shape.hidden, comm.size(), comm.rank());
  hp_ = block_.chunks() * K;
  const std::size_t I = shape.inputs, O = shape.outputs, B = max_batch;
  w1_.assign(I * hp_, 0.0);
  w2_.assign(O * hp_, 0.0);
  bh_.assign(hp_, 0.0);
  bo_.assign(O, 0.0);
  x_.assign(B * I, 0.0);
  drive_.assign(B * hp_, 0.0);
  uh_.assign(B * hp_, 0.0);
  uh0_.assign(B * hp_, 0.0);
  trace_h_.assign(B * hp_, 0.0);
  uo_.assign(B * O, 0.0);
  uo0_.assign(B * O, 0.0);
  duo_.assign(B * O, 0.0);
  trace_o_.assign(B * O, 0.0);
  g2_.assign(O * hp_, 0.0);
  parts_.assign(block_.chunks() * B * O, 0);
}

void Network::init_glorot(std::uint64_t seed) {
  const std::size_t I = shape_.inputs, O = shape_.outputs;
  const double a1 = std::sqrt(6.0 / static_cast<double>(I + shape_.hidden));
  const double a2 = std::sqrt(6.0 / static_cast<double>(shape_.hidden + O));
  std::fill(w1_.begin(), w1_.end(), 0.0);
  std::fill(w2_.begin(), w2_.end(), 0.0);
  std::fill(bh_.begin(), bh_.end(), 0.0);
  std::fill(bo_.begin(), bo_.end(), 0.0);
  for (std::size_t i = 0; i < block_.cells(); ++i) {
    const std::uint64_t gid = block_.hidden_begin + i;
    rng::Stream s1(seed, rng::Purpose::Weight, kWeightKey + 0, gid);
    for (std::size_t j = 0; j < I; ++j) w1_[j * hp_ + i] = s1.uniform(-a1, a1);
    rng::Stream s2(seed, rng::Purpose::Weight, kWeightKey + 1, gid);
    for (std::size_t o = 0; o < O; ++o) w2_[o * hp_ + i] = s2.uniform(-a2, a2);
  }
}

double Network::input_hidden(std::size_t input, std::size_t h) const {
  return w1_[input * hp_ + h];
}
double Network::hidden_output(std::size_t output, std::size_t h) const {
  return w2_[output * hp_ + h];
}
double Network::hidden_bias(std::size_t h) const {
  return bh_[h];
}
void Network::set_input_hidden(std::size_t input, std::size_t h, double w) {
  w1_[input * hp_ + h] = w;
}
void Network::set_hidden_output(std::size_t output, std::size_t h, double w) {
  w2_[output * hp_ + h] = w;
}
void Network::set_hidden_bias(std::size_t h, double b) {
  bh_[h] = b;
}

// Each rank fills its own cells into a zero vector; adding zeros is exact, so the rank-order sum
// is a gather.
std::vector<double> Network::gather_input_hidden() const {
  const std::size_t I = shape_.inputs;
  std::vector<double> all(shape_.hidden * I, 0.0);
  for (std::size_t i = 0; i < block_.cells(); ++i)
    for (std::size_t j = 0; j < I; ++j) all[(block_.hidden_begin + i) * I + j] = w1_[j * hp_ + i];
  comm_.sum_in_rank_order(all);
  return all;
}

std::vector<double> Network::gather_hidden_output() const {
  const std::size_t H = shape_.hidden;
  std::vector<double> all(shape_.outputs * H, 0.0);
  for (std::size_t o = 0; o < shape_.outputs; ++o)
    for (std::size_t i = 0; i < block_.cells(); ++i) all[o * H + block_.hidden_begin + i] = w2_[o * hp_ + i];
  comm_.sum_in_rank_order(all);
  return all;
}

std::vector<double> Network::gather_hidden_bias() const {
  std::vector<double> all(shape_.hidden, 0.0);
  for (std::size_t i = 0; i < block_.cells(); ++i) all[block_.hidden_begin + i] = bh_[i];
  comm_.sum_in_rank_order(all);
  return all;
}

void Network::present(std::span<const double> x, std::size_t batch) {
  const std::size_t I = shape_.inputs, O = shape_.outputs;
  if (batch < 1 || batch > max_batch_ || x.size() != batch * I)
    throw std::invalid_argument(
        "equilibrium network: present() needs 1..max_batch samples of `inputs` values");
  batch_ = batch;
  std::copy(x.begin(), x.end(), x_.begin());
  const std::size_t hp = hp_, B = batch;
  const double* __restrict w1 = w1_.data();
  const double* __restrict bh = bh_.data();
  const double* __restrict xs = x_.data();
  double* __restrict d = drive_.data();
  const auto chunks = static_cast<std::ptrdiff_t>(block_.chunks());
  // Input weights are read once per batch: each row segment serves every sample. A cell's drive is
  // summed over inputs in input order, whatever the loop nesting.
#pragma omp parallel for num_threads(threads_) schedule(static)
  for (std::ptrdiff_t c = 0; c < chunks; ++c) {
    const std::size_t i0 = static_cast<std::size_t>(c) * K;
    for (std::size_t b = 0; b < B; ++b)
      for (std::size_t k = 0; k < K; ++k) d[b * hp + i0 + k] = bh[i0 + k];
    for (std::size_t j = 0; j < I; ++j) {
      const double* __restrict w = w1 + j * hp + i0;
      for (std::size_t b = 0; b < B; ++b) {
        const double xv = xs[b * I + j];
        if (xv == 0.0) continue;  // dark pixels: about half of each image
        double* __restrict db = d + b * hp + i0;
        for (std::size_t k = 0; k < K; ++k) db[k] += xv * w[k];
      }
    }
  }
  std::fill(trace_h_.begin(), trace_h_.begin() + static_cast<std::ptrdiff_t>(B * hp), 0.0);
  std::fill(trace_o_.begin(), trace_o_.begin() + static_cast<std::ptrdiff_t>(B * O), 0.0);
  std::fill(g2_.begin(), g2_.end(), 0.0);
  pending_ = false;
}

void Network::reduce_outputs(std::vector<double>& total) {
  const std::size_t O = shape_.outputs, B = batch_, hp = hp_;
  const double* __restrict w2 = w2_.data();
  const double* __restrict uh = uh_.data();
  std::int64_t* parts = parts_.data();
  const auto chunks = static_cast<std::ptrdiff_t>(block_.chunks());
#pragma omp parallel for num_threads(threads_) schedule(static)
  for (std::ptrdiff_t c = 0; c < chunks; ++c) {
    const std::size_t i0 = static_cast<std::size_t>(c) * K;
    for (std::size_t b = 0; b < B; ++b)
      for (std::size_t o = 0; o < O; ++o)
        parts[(static_cast<std::size_t>(c) * B + b) * O + o] = to_fixed(
            dot_chunk(w2 + o * hp + i0, uh + b * hp + i0), kScale, kLimit, "the output cells' input");
  }
  exact_total(parts_, block_.chunks(), B * O, kScale, comm_, total);
}

void Network::feed_forward() {
  const std::size_t O = shape_.outputs, n = batch_ * hp_;
  for (std::size_t k = 0; k < n; ++k) uh_[k] = clip01(drive_[k]);
  std::vector<double> total;
  reduce_outputs(total);
  for (std::size_t b = 0; b < batch_; ++b)
    for (std::size_t o = 0; o < O; ++o) uo_[b * O + o] = clip01(total[b * O + o] + bo_[o]);
}

// The last output change, as differential STDP of W2: presynaptic (hidden) rate times the change of
// the postsynaptic (output) potential, with the hidden rates at the time of the change.
void Network::flush_pending() {
  if (!pending_) return;
  const std::size_t O = shape_.outputs, B = batch_, hp = hp_;
  const double* __restrict uh = uh_.data();
  const double* __restrict duo = duo_.data();
  double* __restrict g2 = g2_.data();
  const auto chunks = static_cast<std::ptrdiff_t>(block_.chunks());
#pragma omp parallel for num_threads(threads_) schedule(static)
  for (std::ptrdiff_t c = 0; c < chunks; ++c) {
    const std::size_t i0 = static_cast<std::size_t>(c) * K;
    for (std::size_t b = 0; b < B; ++b)
      for (std::size_t o = 0; o < O; ++o) {
        const double d = duo[b * O + o];
        double* __restrict g = g2 + o * hp + i0;
        const double* __restrict u = uh + b * hp + i0;
        for (std::size_t k = 0; k < K; ++k) g[k] += u[k] * d;
      }
  }
  pending_ = false;
}

double Network::relax(int steps, double beta, std::span<const double> y, double gain) {
  const std::size_t O = shape_.outputs, B = batch_, hp = hp_;
  if (beta != 0.0 && y.size() != B * O)
    throw std::invalid_argument("equilibrium network: a nudged phase needs batch x outputs targets");
  if (!(beta > -1.0)) throw std::invalid_argument("equilibrium network: beta must be above -1");
  const double eps = dyn_.epsilon, keep = 1.0 - dyn_.epsilon;
  const bool learn = gain != 0.0;
  double change = 0.0;
  std::vector<double> total;
  const auto chunks = static_cast<std::ptrdiff_t>(block_.chunks());
  for (int s = 0; s < steps; ++s) {
    double hidden_change = 0.0;
    {
      const double* __restrict w2 = w2_.data();
      const double* __restrict drive = drive_.data();
      const double* __restrict uo = uo_.data();
      const double* __restrict duo = duo_.data();
      double* __restrict uh = uh_.data();
      double* __restrict th = trace_h_.data();
      double* __restrict g2 = g2_.data();
      const bool pending = pending_;
#pragma omp parallel for num_threads(threads_) schedule(static) reduction(max : hidden_change)
      for (std::ptrdiff_t c = 0; c < chunks; ++c) {
        const std::size_t i0 = static_cast<std::size_t>(c) * K;
        double target[K], delta[K];
        for (std::size_t b = 0; b < B; ++b) {
          double* __restrict u = uh + b * hp + i0;
          // The output change of the previous step meets the hidden rates it happened at.
          if (pending)
            for (std::size_t o = 0; o < O; ++o) {
              const double d = duo[b * O + o];
              double* __restrict g = g2 + o * hp + i0;
              for (std::size_t k = 0; k < K; ++k) g[k] += u[k] * d;
            }
          for (std::size_t k = 0; k < K; ++k) target[k] = drive[b * hp + i0 + k];
          for (std::size_t o = 0; o < O; ++o) {
            const double r = uo[b * O + o];
            const double* __restrict w = w2 + o * hp + i0;
            for (std::size_t k = 0; k < K; ++k) target[k] += w[k] * r;
          }
          double m = 0.0;
          for (std::size_t k = 0; k < K; ++k) {
            const double next = keep * u[k] + eps * clip01(target[k]);
            delta[k] = next - u[k];
            u[k] = next;
            m = std::max(m, std::fabs(delta[k]));
          }
          hidden_change = std::max(hidden_change, m);
          if (learn) {
            double* __restrict t = th + b * hp + i0;
            for (std::size_t k = 0; k < K; ++k) t[k] += gain * delta[k];
            // Hidden change times the presynaptic (output) rate.
            for (std::size_t o = 0; o < O; ++o) {
              const double r = gain * uo[b * O + o];
              double* __restrict g = g2 + o * hp + i0;
              for (std::size_t k = 0; k < K; ++k) g[k] += r * delta[k];
            }
          }
        }
      }
      pending_ = false;
    }
    reduce_outputs(total);
    double output_change = 0.0;
    const double inv = 1.0 / (1.0 + beta);
    for (std::size_t b = 0; b < B; ++b)
      for (std::size_t o = 0; o < O; ++o) {
        const std::size_t k = b * O + o;
        double a = total[k] + bo_[o];
        if (beta != 0.0) a = (a + beta * y[k]) * inv;
        const double next = keep * uo_[k] + eps * clip01(a);
        const double d = next - uo_[k];
        uo_[k] = next;
        output_change = std::max(output_change, std::fabs(d));
        if (learn) {
          trace_o_[k] += gain * d;
          duo_[k] = gain * d;
        }
      }
    pending_ = learn;
    change = std::max(hidden_change, output_change);
  }
  flush_pending();
  // The largest change of the last step anywhere: the same on every rank.
  double worst = 0.0;
  for (double v : comm_.allgather(change)) worst = std::max(worst, v);
  return worst;
}

void Network::nudge(std::span<const double> y) {
  const Dynamics& dyn = dyn_;
  const std::size_t n = batch_ * hp_, no = batch_ * shape_.outputs;
  std::copy(uh_.begin(), uh_.begin() + static_cast<std::ptrdiff_t>(n), uh0_.begin());
  std::copy(uo_.begin(), uo_.begin() + static_cast<std::ptrdiff_t>(no), uo0_.begin());
  auto restore = [&] {
    std::copy(uh0_.begin(), uh0_.begin() + static_cast<std::ptrdiff_t>(n), uh_.begin());
    std::copy(uo0_.begin(), uo0_.begin() + static_cast<std::ptrdiff_t>(no), uo_.begin());
  };
  if (dyn.nudge == Nudge::Positive) {
    relax(dyn.nudge_steps, dyn.beta, y, 1.0 / dyn.beta);
  } else {
    relax(dyn.nudge_steps, dyn.beta, y, 0.5 / dyn.beta);
    restore();
    relax(dyn.nudge_steps, -dyn.beta, y, -0.5 / dyn.beta);
  }
  restore();
}

void Network::apply(const LearningRates& lr) {
  const std::size_t I = shape_.inputs, O = shape_.outputs, B = batch_, hp = hp_;
  const double c1 = lr.input_hidden / static_cast<double>(B);
  const double c2 = lr.hidden_output / static_cast<double>(B);
  double* __restrict w1 = w1_.data();
  double* __restrict w2 = w2_.data();
  double* __restrict bh = bh_.data();
  const double* __restrict xs = x_.data();
  const double* __restrict th = trace_h_.data();
  const double* __restrict g2 = g2_.data();
  // Inputs that are dark in every sample of the batch leave their weights unchanged.
  std::vector<char> active(I, 0);
  for (std::size_t j = 0; j < I; ++j)
    for (std::size_t b = 0; b < B; ++b)
      if (xs[b * I + j] != 0.0) active[j] = 1;
  const auto chunks = static_cast<std::ptrdiff_t>(block_.chunks());
#pragma omp parallel for num_threads(threads_) schedule(static)
  for (std::ptrdiff_t c = 0; c < chunks; ++c) {
    const std::size_t i0 = static_cast<std::size_t>(c) * K;
    double acc[K];
    for (std::size_t j = 0; j < I; ++j) {
      if (!active[j]) continue;
      for (std::size_t k = 0; k < K; ++k) acc[k] = 0.0;
      for (std::size_t b = 0; b < B; ++b) {
        const double xv = xs[b * I + j];
        if (xv == 0.0) continue;
        const double* __restrict t = th + b * hp + i0;
        for (std::size_t k = 0; k < K; ++k) acc[k] += xv * t[k];
      }
      double* __restrict w = w1 + j * hp + i0;
      for (std::size_t k = 0; k < K; ++k) w[k] += c1 * acc[k];
    }
    for (std::size_t k = 0; k < K; ++k) acc[k] = 0.0;
    for (std::size_t b = 0; b < B; ++b)
      for (std::size_t k = 0; k < K; ++k) acc[k] += th[b * hp + i0 + k];
    for (std::size_t k = 0; k < K; ++k) bh[i0 + k] += c1 * acc[k];
    for (std::size_t o = 0; o < O; ++o)
      for (std::size_t k = 0; k < K; ++k) w2[o * hp + i0 + k] += c2 * g2[o * hp + i0 + k];
  }
  for (std::size_t o = 0; o < O; ++o) {
    double acc = 0.0;
    for (std::size_t b = 0; b < B; ++b) acc += trace_o_[b * O + o];
    bo_[o] += c2 * acc;
  }
  // Cells past the last hidden cell (padding of the last chunk) have zero traces and stay zero.
}

std::vector<double> Network::estimate_input_hidden() const {
  const std::size_t I = shape_.inputs, n = block_.cells();
  std::vector<double> g(I * n, 0.0);
  for (std::size_t j = 0; j < I; ++j)
    for (std::size_t i = 0; i < n; ++i) {
      double acc = 0.0;
      for (std::size_t b = 0; b < batch_; ++b) acc += x_[b * I + j] * trace_h_[b * hp_ + i];
      g[j * n + i] = acc;
    }
  return g;
}

std::vector<double> Network::estimate_hidden_output() const {
  const std::size_t O = shape_.outputs, n = block_.cells();
  std::vector<double> g(O * n);
  for (std::size_t o = 0; o < O; ++o)
    for (std::size_t i = 0; i < n; ++i) g[o * n + i] = g2_[o * hp_ + i];
  return g;
}

std::vector<double> Network::estimate_hidden_bias() const {
  const std::size_t n = block_.cells();
  std::vector<double> g(n, 0.0);
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t b = 0; b < batch_; ++b) g[i] += trace_h_[b * hp_ + i];
  return g;
}

std::vector<double> Network::estimate_output_bias() const {
  const std::size_t O = shape_.outputs;
  std::vector<double> g(O, 0.0);
  for (std::size_t o = 0; o < O; ++o)
    for (std::size_t b = 0; b < batch_; ++b) g[o] += trace_o_[b * O + o];
  return g;
}

std::vector<double> Network::energy(double beta, std::span<const double> y) const {
  const std::size_t O = shape_.outputs, B = batch_, hp = hp_;
  const auto chunks = block_.chunks();
  // Hidden terms, per chunk: 1/2 u^2 - u (W1 x + b_h) - u (W2^T u_o).
  std::vector<std::int64_t> parts(chunks * B, 0);
  for (std::size_t c = 0; c < chunks; ++c) {
    const std::size_t i0 = c * K;
    for (std::size_t b = 0; b < B; ++b) {
      double e[K];
      for (std::size_t k = 0; k < K; ++k) {
        const std::size_t i = i0 + k;
        double fb = 0.0;
        for (std::size_t o = 0; o < O; ++o) fb += w2_[o * hp + i] * uo_[b * O + o];
        const double u = uh_[b * hp + i];
        e[k] = 0.5 * u * u - u * (drive_[b * hp + i] + fb);
      }
      double s[8] = {0, 0, 0, 0, 0, 0, 0, 0};
      for (std::size_t k = 0; k < K; k += 8)
        for (std::size_t l = 0; l < 8; ++l) s[l] += e[k + l];
      parts[c * B + b] = to_fixed(((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7])),
                                  kEnergyScale, kEnergyLimit, "the energy");
    }
  }
  std::vector<double> total;
  exact_total(parts, chunks, B, kEnergyScale, comm_, total);
  for (std::size_t b = 0; b < B; ++b) {
    double out = 0.0, c = 0.0;
    for (std::size_t o = 0; o < O; ++o) {
      const double u = uo_[b * O + o];
      out += 0.5 * u * u - bo_[o] * u;
      if (beta != 0.0) c += 0.5 * (y[b * O + o] - u) * (y[b * O + o] - u);
    }
    total[b] += out + beta * c;
  }
  return total;
}

std::vector<double> Network::cost(std::span<const double> y) const {
  const std::size_t O = shape_.outputs;
  std::vector<double> c(batch_, 0.0);
  for (std::size_t b = 0; b < batch_; ++b)
    for (std::size_t o = 0; o < O; ++o) {
      const double d = y[b * O + o] - uo_[b * O + o];
      c[b] += 0.5 * d * d;
    }
  return c;
}

std::vector<int> Network::predictions() const {
  const std::size_t O = shape_.outputs;
  std::vector<int> p(batch_, 0);
  for (std::size_t b = 0; b < batch_; ++b) {
    std::size_t best = 0;
    for (std::size_t o = 1; o < O; ++o)
      if (uo_[b * O + o] > uo_[b * O + best]) best = o;
    p[b] = static_cast<int>(best);
  }
  return p;
}

std::size_t Network::state_bytes() const {
  return sizeof(double) * (w1_.size() + w2_.size() + bh_.size() + bo_.size() + x_.size() + drive_.size() +
                           uh_.size() + uh0_.size() + trace_h_.size() + uo_.size() + uo0_.size() +
                           duo_.size() + trace_o_.size() + g2_.size()) +
         sizeof(std::int64_t) * parts_.size();
}

}  // namespace plexus::learning::equilibrium
