#include "plexus/synapse/stdp.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include <fmt/format.h>

#include "plexus/core/error.hpp"

namespace plexus::synapse {

namespace {

using model::Range;
constexpr Step kNever = std::numeric_limits<Step>::min();

// Below this a trace is set to zero: its effect on a weight is far below float resolution, and
// it keeps a long-silent neuron's trace out of the slow denormal range.
constexpr double kNegligible = 1e-30;

}  // namespace

StdpParams StdpParams::read(const model::Node& n) {
  if (!n.is_table()) n.fail("expected a table, e.g. { rule = \"stdp\", lambda = 0.01, w_max = 1.0 }");
  n.allow_only({"rule", "tau_plus_ms", "tau_minus_ms", "lambda", "alpha", "mu_plus", "mu_minus", "w_max"});
  n.choice("rule", {"stdp"});
  StdpParams p;
  p.tau_plus_ms = n.number_or("tau_plus_ms", 20.0, Range::positive());
  p.tau_minus_ms = n.number_or("tau_minus_ms", 20.0, Range::positive());
  p.lambda = n.number_or("lambda", 0.01, Range::non_negative());
  p.alpha = n.number_or("alpha", 1.0, Range::non_negative());
  p.mu_plus = n.number_or("mu_plus", 0.0, Range::non_negative());
  p.mu_minus = n.number_or("mu_minus", 0.0, Range::non_negative());
  p.w_max = n.number("w_max", Range::positive());
  return p;
}

Stdp Stdp::build(const StdpParams& p, Projection& proj, Gid n_source, WeightSign sign, double dt_ms,
                 const model::Node& where) {
  Stdp s;
  s.proj_ = &proj;
  s.projection_ = proj.index();
  s.p_ = p;
  s.dt_ = dt_ms;
  s.decay_minus_ = std::exp(-dt_ms / p.tau_minus_ms);
  if (proj.count() > 0 && proj.min_delay() < 1)
    (where.has("delay_ms") ? where.at("delay_ms") : where)
        .fail(
            fmt::format("plastic synapses need delays of at least one step (dt = {} ms): the whole delay is "
                        "dendritic, and a postsynaptic spike must reach the synapse after it happened",
                        dt_ms));
  const std::size_t D = proj.max_delay();
  s.slots_ = D + 2;
  s.post_slots_ = D + 1;

  // The sign of the weights: set by the receptor or Dale's law, else by the weights themselves.
  bool any_pos = false, any_neg = false;
  for (const auto& blk : proj.blocks())
    for (Weight w : blk.weight) any_pos |= w > 0, any_neg |= w < 0;
  switch (sign) {
    case WeightSign::Magnitude:
      s.sign_ = 1.0;
      break;
    case WeightSign::NegativeMagnitude:
      s.sign_ = -1.0;
      break;
    case WeightSign::AsDrawn:
      if (any_pos && any_neg)
        (where.has("weight") ? where.at("weight") : where)
            .fail("plastic weights keep their sign: draw them all >= 0 or all <= 0 (clip the distribution)");
      s.sign_ = any_neg ? -1.0 : 1.0;
      break;
  }
  for (const auto& blk : proj.blocks())
    for (Weight w : blk.weight)
      if (std::fabs(static_cast<double>(w)) > p.w_max * (1.0 + 1e-6))
        (where.has("weight") ? where.at("weight") : where)
            .fail(fmt::format(
                "initial weight {} is outside [0, w_max = {}] in magnitude; clip the distribution "
                "(min/max) or raise plasticity.w_max",
                w, p.w_max));

  for (const auto& blk : proj.blocks()) {
    BlockState b;
    const std::size_t nt = blk.targets.size();
    b.row.assign(nt + 1, 0);
    for (auto t : blk.target) ++b.row[t - blk.targets.begin + 1];
    std::partial_sum(b.row.begin(), b.row.end(), b.row.begin());
    b.syn.resize(blk.target.size());
    b.src.resize(blk.target.size());
    std::vector<std::uint32_t> cur(b.row.begin(), b.row.end() - 1);
    for (Gid src = 0; src + 1 < blk.offset.size(); ++src)
      for (std::uint32_t k = blk.offset[src]; k < blk.offset[src + 1]; ++k) {
        const std::uint32_t e = cur[blk.target[k] - blk.targets.begin]++;
        b.syn[e] = k;
        b.src[e] = src;
      }
    if (!proj.constant_delay()) {
      // Within a row, entries by delay, so that a postsynaptic spike finds the synapses it reaches
      // at a given step by bisection (the order of updates within a row does not matter: each
      // entry is its own synapse).
      std::vector<std::uint32_t> idx;
      for (std::size_t j = 0; j < nt; ++j) {
        idx.resize(b.row[j + 1] - b.row[j]);
        std::iota(idx.begin(), idx.end(), b.row[j]);
        std::stable_sort(idx.begin(), idx.end(), [&](std::uint32_t x, std::uint32_t y) {
          return blk.delay[b.syn[x]] < blk.delay[b.syn[y]];
        });
        std::vector<std::uint32_t> syn(idx.size()), src(idx.size());
        for (std::size_t m = 0; m < idx.size(); ++m) syn[m] = b.syn[idx[m]], src[m] = b.src[idx[m]];
        std::copy(syn.begin(), syn.end(), b.syn.begin() + b.row[j]);
        std::copy(src.begin(), src.end(), b.src.begin() + b.row[j]);
      }
    }
    b.k_minus.assign(s.slots_ * nt, 0.0);
    b.post.resize(s.post_slots_);
    b.k_plus.assign(n_source, 0.0);
    b.last_pre.assign(n_source, kNever);
    s.blocks_.push_back(std::move(b));
  }
  return s;
}

double Stdp::facilitate(double m, double k) const {
  const double x = std::clamp(m / p_.w_max, 0.0, 1.0);
  const double dep = p_.mu_plus == 0.0 ? 1.0 : p_.mu_plus == 1.0 ? 1.0 - x : std::pow(1.0 - x, p_.mu_plus);
  const double y = x + p_.lambda * dep * k;
  return y < 1.0 ? y * p_.w_max : p_.w_max;
}

double Stdp::depress(double m, double k) const {
  const double x = std::clamp(m / p_.w_max, 0.0, 1.0);
  const double dep = p_.mu_minus == 0.0 ? 1.0 : p_.mu_minus == 1.0 ? x : std::pow(x, p_.mu_minus);
  const double y = x - p_.alpha * p_.lambda * dep * k;
  return y > 0.0 ? y * p_.w_max : 0.0;
}

void Stdp::post_step(std::size_t bi, Step t, const double* z) {
  BlockState& B = blocks_[bi];
  Block& blk = proj_->blocks()[bi];
  const std::size_t nt = B.row.size() - 1;
  const Gid first = blk.targets.begin;
  const auto S = static_cast<Step>(slots_), PS = static_cast<Step>(post_slots_);
  // K- at step t + 1: this step's spikes added, one step of decay.
  const double* now = B.k_minus.data() + static_cast<std::size_t>(t % S) * nt;
  double* next = B.k_minus.data() + static_cast<std::size_t>((t + 1) % S) * nt;
  auto& spiked = B.post[static_cast<std::size_t>(t % PS)];
  spiked.clear();
  for (std::size_t j = 0; j < nt; ++j) {
    const double zj = z[first + j];
    const double k = (now[j] + zj) * decay_minus_;
    next[j] = k < kNegligible ? 0.0 : k;
    if (zj != 0.0) spiked.push_back(static_cast<std::uint32_t>(j));
  }
  // Potentiation by the postsynaptic spikes that reach their synapses now (sent d steps ago).
  const Step d_lo = proj_->min_delay(), d_hi = proj_->max_delay();
  const double inv_tau = dt_ / p_.tau_plus_ms;
  for (Step d = d_lo; d <= d_hi; ++d) {
    if (t - d < 0) break;
    for (std::uint32_t j : B.post[static_cast<std::size_t>((t - d) % PS)]) {
      std::uint32_t e0 = B.row[j], e1 = B.row[j + 1];
      if (!proj_->constant_delay()) {
        // The entries of delay d (rows are sorted by delay).
        auto first_above = [&](std::uint32_t lo, std::uint32_t hi, Step limit) {
          while (lo < hi) {
            const std::uint32_t mid = lo + (hi - lo) / 2;
            if (static_cast<Step>(blk.delay[B.syn[mid]]) <= limit)
              lo = mid + 1;
            else
              hi = mid;
          }
          return lo;
        };
        e0 = first_above(e0, e1, d - 1);
        e1 = first_above(e0, e1, d);
      }
      for (std::uint32_t e = e0; e < e1; ++e) {
        const std::uint32_t k = B.syn[e];
        const std::uint32_t s = B.src[e];
        if (B.last_pre[s] == kNever) continue;
        const double kp = B.k_plus[s] * std::exp(static_cast<double>(B.last_pre[s] - t) * inv_tau);
        if (kp == 0.0) continue;
        blk.weight[k] =
            static_cast<Weight>(sign_ * facilitate(sign_ * static_cast<double>(blk.weight[k]), kp));
      }
    }
  }
}

void Stdp::pre_spike(std::size_t bi, Gid s, Step t, RingBuffer& ring) {
  BlockState& B = blocks_[bi];
  Block& blk = proj_->blocks()[bi];
  const std::size_t nt = B.row.size() - 1;
  const Gid first = blk.targets.begin;
  const auto S = static_cast<Step>(slots_);
  const bool constant = proj_->constant_delay();
  for (std::uint32_t k = blk.offset[s]; k < blk.offset[s + 1]; ++k) {
    const Step d = constant ? proj_->delay() : blk.delay[k];
    const std::uint32_t j = blk.target[k];
    // Postsynaptic spikes that reached the synapse before now: K- at step t - d.
    const double km = t - d >= 0 ? B.k_minus[static_cast<std::size_t>((t - d) % S) * nt + (j - first)] : 0.0;
    if (km > 0.0)
      blk.weight[k] = static_cast<Weight>(sign_ * depress(sign_ * static_cast<double>(blk.weight[k]), km));
    ring.slot(t + d)[j] += blk.weight[k];
  }
  const double decayed =
      B.last_pre[s] == kNever
          ? 0.0
          : B.k_plus[s] * std::exp(static_cast<double>(B.last_pre[s] - t) * dt_ / p_.tau_plus_ms);
  B.k_plus[s] = decayed + 1.0;
  B.last_pre[s] = t;
}

void Stdp::reset_traces() {
  for (auto& b : blocks_) {
    std::fill(b.k_minus.begin(), b.k_minus.end(), 0.0);
    for (auto& l : b.post) l.clear();
    std::fill(b.k_plus.begin(), b.k_plus.end(), 0.0);
    std::fill(b.last_pre.begin(), b.last_pre.end(), kNever);
  }
}

Stdp::Traces Stdp::traces(Step t, std::size_t history, std::size_t spikes) const {
  Traces tr;
  tr.history = history;
  tr.spikes = spikes;
  const auto S = static_cast<Step>(slots_), PS = static_cast<Step>(post_slots_);
  for (const auto& B : blocks_) {
    const std::size_t nt = B.row.size() - 1;
    const std::size_t base_km = tr.k_minus.size(), base_sp = tr.spiked.size();
    tr.k_minus.resize(base_km + nt * history, 0.0);
    tr.spiked.resize(base_sp + nt * spikes, 0);
    // K- of step t - m (m = 0 is the newest), where this rank keeps it.
    for (std::size_t m = 0; m < std::min(history, slots_); ++m) {
      const Step s = t - static_cast<Step>(m);
      if (s < 0) break;
      const double* row = B.k_minus.data() + static_cast<std::size_t>(s % S) * nt;
      for (std::size_t j = 0; j < nt; ++j) tr.k_minus[base_km + j * history + (history - 1 - m)] = row[j];
    }
    for (std::size_t m = 1; m <= std::min(spikes, post_slots_ - 1); ++m) {
      const Step s = t - static_cast<Step>(m);
      if (s < 0) break;
      for (std::uint32_t j : B.post[static_cast<std::size_t>(s % PS)])
        tr.spiked[base_sp + j * spikes + (spikes - m)] = 1;
    }
  }
  if (!blocks_.empty()) {
    tr.k_plus = blocks_.front().k_plus;
    tr.last_pre.assign(blocks_.front().last_pre.begin(), blocks_.front().last_pre.end());
  }
  return tr;
}

void Stdp::set_traces(Step t, const Traces& tr) {
  const auto S = static_cast<Step>(slots_), PS = static_cast<Step>(post_slots_);
  std::size_t first = 0;  // local target index of the block's first target
  for (auto& B : blocks_) {
    const std::size_t nt = B.row.size() - 1;
    std::fill(B.k_minus.begin(), B.k_minus.end(), 0.0);
    for (auto& l : B.post) l.clear();
    for (std::size_t m = 0; m < std::min(tr.history, slots_); ++m) {
      const Step s = t - static_cast<Step>(m);
      if (s < 0) break;
      double* row = B.k_minus.data() + static_cast<std::size_t>(s % S) * nt;
      for (std::size_t j = 0; j < nt; ++j)
        row[j] = tr.k_minus[(first + j) * tr.history + (tr.history - 1 - m)];
    }
    for (std::size_t m = 1; m <= std::min(tr.spikes, post_slots_ - 1); ++m) {
      const Step s = t - static_cast<Step>(m);
      if (s < 0) break;
      auto& list = B.post[static_cast<std::size_t>(s % PS)];
      for (std::size_t j = 0; j < nt; ++j)
        if (tr.spiked[(first + j) * tr.spikes + (tr.spikes - m)])
          list.push_back(static_cast<std::uint32_t>(j));
    }
    std::copy(tr.k_plus.begin(), tr.k_plus.end(), B.k_plus.begin());
    std::copy(tr.last_pre.begin(), tr.last_pre.end(), B.last_pre.begin());
    first += nt;
  }
}

std::size_t Stdp::bytes() const {
  std::size_t n = 0;
  for (const auto& b : blocks_) {
    n += (b.row.capacity() + b.syn.capacity() + b.src.capacity()) * sizeof(std::uint32_t);
    n += (b.k_minus.capacity() + b.k_plus.capacity()) * sizeof(double) + b.last_pre.capacity() * sizeof(Step);
    for (const auto& l : b.post) n += l.capacity() * sizeof(std::uint32_t);
  }
  return n;
}

}  // namespace plexus::synapse
