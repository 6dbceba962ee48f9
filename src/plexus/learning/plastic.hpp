#pragma once
// Learning state of the synapses of one thread block of a projection, in target-major order (one
// row per postsynaptic neuron, sources ascending) so that per-neuron factors are scalars in the
// kernels. The weights themselves stay in the projection's source-major rows, which delivery
// needs; an update walks those rows with one cursor per target, which visits every target's
// synapses in the same ascending-source order as its learning row, so no per-synapse map is kept.
//
// Memory per synapse: 4 bytes source index, plus in the rule's precision (4 bytes for float):
// filtered trace, gradient, and the optimiser's two moments (Adam), and the adaptation trace when
// the target adapts (ALIF) -- 20 bytes for an ALIF synapse with Adam in float.
#include <algorithm>
#include <cstdint>
#include <numeric>
#include <span>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include "plexus/learning/optimizer.hpp"
#include "plexus/learning/rule.hpp"
#include "plexus/synapse/projection.hpp"

namespace plexus::learning {

template <class Real>
struct PlasticBlock {
  std::vector<std::uint32_t> row;  // per local target of the block, size targets + 1
  std::vector<std::uint32_t> src;  // per synapse: source (population-local id)
  // Per row: 1 if its sources are consecutive (all-to-all rows), so kernels read the presynaptic
  // traces contiguously instead of gathering them.
  std::vector<std::uint8_t> dense;
  std::vector<Real> ea, eb, g, m, v;
  std::vector<Real> f;  // reward mode: F_gamma(L ebar) (learning/eprop_kernels.hpp, reward_row)

  std::size_t synapses() const { return src.size(); }
  std::size_t bytes() const {
    return row.capacity() * 4 + src.capacity() * 4 + dense.capacity() +
           (ea.capacity() + eb.capacity() + g.capacity() + m.capacity() + v.capacity() + f.capacity()) *
               sizeof(Real);
  }
  // Bytes of learning state only (traces, gradient, moments), without the index.
  std::size_t state_bytes() const {
    return bytes() - row.capacity() * 4 - src.capacity() * 4 - dense.capacity();
  }
  // Of which eligibility traces (the rest, gradient and moments, every rule needs alike).
  std::size_t trace_bytes() const { return (ea.capacity() + eb.capacity() + f.capacity()) * sizeof(Real); }

  static PlasticBlock build(const synapse::Block& blk, bool adaptive, bool adam, bool readout,
                            bool reward = false) {
    PlasticBlock p;
    const std::size_t nt = blk.targets.size();
    p.row.assign(nt + 1, 0);
    for (auto t : blk.target) ++p.row[t - blk.targets.begin + 1];
    std::partial_sum(p.row.begin(), p.row.end(), p.row.begin());
    p.src.resize(blk.target.size());
    std::vector<std::uint32_t> cur(p.row.begin(), p.row.end() - 1);
    const std::size_t n_source = blk.offset.size() - 1;
    for (std::size_t s = 0; s < n_source; ++s)
      for (std::uint32_t k = blk.offset[s]; k < blk.offset[s + 1]; ++k)
        p.src[cur[blk.target[k] - blk.targets.begin]++] = static_cast<std::uint32_t>(s);
    p.dense.assign(nt, 0);
    for (std::size_t r = 0; r < nt; ++r) {
      bool consecutive = true;
      for (std::uint32_t k = p.row[r] + 1; k < p.row[r + 1] && consecutive; ++k)
        consecutive = p.src[k] == p.src[k - 1] + 1;
      p.dense[r] = consecutive;
    }
    const std::size_t n = p.src.size();
    if (adaptive) p.ea.assign(n, Real(0));
    if (!readout) p.eb.assign(n, Real(0));
    p.g.assign(n, Real(0));
    if (reward) p.f.assign(n, Real(0));
    if (adam) {
      p.m.assign(n, Real(0));
      p.v.assign(n, Real(0));
    }
    return p;
  }

  // Traces back to zero at the start of a trial (the gradient is kept over the batch).
  void reset_traces() {
    std::fill(ea.begin(), ea.end(), Real(0));
    std::fill(eb.begin(), eb.end(), Real(0));
    std::fill(f.begin(), f.end(), Real(0));
  }

  // Sum of g^2 of each row (per target), added to out[target - blk.targets.begin]... in `out`.
  void row_square_sums(double* out) const {
    for (std::size_t j = 0; j + 1 < row.size(); ++j) {
      double s = 0.0;
      for (std::uint32_t k = row[j]; k < row[j + 1]; ++k)
        s += static_cast<double>(g[k]) * static_cast<double>(g[k]);
      out[j] += s;
    }
  }

  // Applies the optimiser to every synapse with gradient scale * g, writes the weights of `blk`,
  // keeps their sign as `sign` says, and clears the gradient.
  void apply(synapse::Block& blk, const Optimizer::Step& step, double scale, SignRule sign) {
    std::vector<std::uint32_t> cur(row.begin(), row.end() - 1);
    const std::size_t n_source = blk.offset.size() - 1;
    const bool adam = !m.empty();
    Real dummy_m(0), dummy_v(0);
    for (std::size_t s = 0; s < n_source; ++s)
      for (std::uint32_t k = blk.offset[s]; k < blk.offset[s + 1]; ++k) {
        const std::uint32_t pos = cur[blk.target[k] - blk.targets.begin]++;
        const double grad = scale * static_cast<double>(g[pos]);
        const double d = adam ? Optimizer::delta(step, grad, m[pos], v[pos])
                              : Optimizer::delta(step, grad, dummy_m, dummy_v);
        double w = static_cast<double>(blk.weight[k]) + d;
        if (sign == SignRule::NonNegative) w = std::max(w, 0.0);
        if (sign == SignRule::NonPositive) w = std::min(w, 0.0);
        blk.weight[k] = static_cast<synapse::Weight>(w);
        g[pos] = Real(0);
      }
  }
};

// The spikes of the last D + 1 steps (slot t mod (D + 1)), sorted by gid, so that a projection
// with delay d sees at step t the spikes sent at t - d.
class SpikeHistory {
 public:
  void reset(std::size_t max_delay) { slots_.assign(max_delay + 1, {}); }
  void clear() {
    for (auto& h : slots_) h.clear();
  }
  void record(Step t, std::span<const Gid> spikes) {
    slots_[static_cast<std::size_t>(t) % slots_.size()].assign(spikes.begin(), spikes.end());
  }
  // Calls f(source index) for every spike of sources [first, first + size) arriving at t.
  template <class F>
  void arrived(Step t, Step delay, Gid first, Gid size, F&& f) const {
    if (t < delay) return;
    const auto& a = slots_[static_cast<std::size_t>(t - delay) % slots_.size()];
    for (auto it = std::lower_bound(a.begin(), a.end(), first); it != a.end() && *it < first + size; ++it)
      f(static_cast<std::size_t>(*it - first));
  }

 private:
  std::vector<std::vector<Gid>> slots_;
};

// One plastic projection's learning state on this rank: its thread blocks. Rules derive their own
// projection records from this, and share the batch-end work below (which does not depend on how
// the traces were formed).
template <class Real>
struct PlasticSynapses {
  Plastic info;
  bool readout = false;
  std::vector<PlasticBlock<Real>> blocks;
};

// Squared gradients per target neuron into per_gid[gid] (readout synapses into `replicated`).
template <class P>
void square_sums(const std::vector<P>& projs, const Context& c, std::vector<double>& per_gid,
                 double& replicated) {
  for (const auto& p : projs) {
    const auto& tgt = c.targets[static_cast<std::size_t>(p.info.target)];
    if (p.readout) {
      for (const auto& b : p.blocks)
        for (auto x : b.g) replicated += static_cast<double>(x) * static_cast<double>(x);
      continue;
    }
    for (std::size_t bi = 0; bi < p.blocks.size(); ++bi)
      p.blocks[bi].row_square_sums(per_gid.data() + tgt.first_gid + tgt.local.begin + tgt.blocks[bi].begin);
  }
}

template <class P>
void apply_all(std::vector<P>& projs, const Optimizer::Step& step, double scale) {
  for (auto& p : projs) {
    auto& blocks = p.info.synapses->blocks();
    Optimizer::Step own = step;
    own.lr *= p.info.lr_scale;
    for (std::size_t bi = 0; bi < p.blocks.size(); ++bi)
      p.blocks[bi].apply(blocks[bi], own, scale, p.info.sign);
  }
}

// A projection's gradient in (target, source) order.
template <class P>
void gradient_of(const std::vector<P>& projs, const Context& c, int projection,
                 std::vector<SynapseValue>& out) {
  for (const auto& p : projs) {
    if (p.info.projection != projection) continue;
    const auto& tgt = c.targets[static_cast<std::size_t>(p.info.target)];
    for (std::size_t bi = 0; bi < p.blocks.size(); ++bi) {
      const auto& b = p.blocks[bi];
      for (std::size_t r = 0; r + 1 < b.row.size(); ++r)
        for (std::uint32_t k = b.row[r]; k < b.row[r + 1]; ++k)
          out.push_back({b.src[k], tgt.local.begin + tgt.blocks[bi].begin + r, static_cast<double>(b.g[k])});
    }
  }
}

// The optimiser moments that carry over between batches (checkpoints), by name.
template <class Block>
auto& moments_of(Block& b, const std::string& name) {
  if (name == "adam_m") return b.m;
  if (name == "adam_v") return b.v;
  throw std::logic_error("learning: no array " + name);
}

inline std::vector<std::string> carried(const Context& c) {
  if (!c.adam) return {};
  return {"adam_m", "adam_v"};
}

template <class P>
std::vector<double> export_moments(const std::vector<P>& projs, int projection, const std::string& name) {
  std::vector<double> out;
  for (const auto& p : projs) {
    if (p.info.projection != projection) continue;
    for (const auto& b : p.blocks)  // blocks in order, rows target-major: (target, source) order
      for (auto x : moments_of(b, name)) out.push_back(static_cast<double>(x));
  }
  return out;
}

template <class P>
void import_moments(std::vector<P>& projs, int projection, const std::string& name,
                    std::span<const double> values) {
  std::size_t pos = 0;
  for (auto& p : projs) {
    if (p.info.projection != projection) continue;
    for (auto& b : p.blocks)
      for (auto& x : moments_of(b, name))
        x = static_cast<std::remove_reference_t<decltype(x)>>(values[pos++]);
  }
  if (pos != values.size()) throw std::logic_error("learning: checkpoint array of the wrong length");
}

// Per-synapse bytes of the blocks (readout synapses only if `replicated`: every rank holds them).
template <class P>
void count_blocks(const std::vector<P>& projs, bool replicated, MemoryUse& m) {
  for (const auto& p : projs) {
    if (p.readout && !replicated) continue;
    for (const auto& b : p.blocks) {
      m.per_synapse += b.state_bytes();
      m.per_synapse_traces += b.trace_bytes();
      m.index += b.bytes() - b.state_bytes();
      m.synapses += b.synapses();
    }
  }
}

// The batch-end half of a learning::Rule, the same for every rule whose projection records P derive
// from PlasticSynapses: the rules themselves supply only how traces and gradients are formed
// (begin_trial, serial, parallel, memory).
template <class P>
class PlasticRule : public Rule {
 public:
  explicit PlasticRule(const Context& c) : c_(c) {}
  void square_sums(std::vector<double>& per_gid, double& replicated) const override {
    learning::square_sums(projs_, c_, per_gid, replicated);
  }
  void apply(const Optimizer::Step& step, double scale) override { apply_all(projs_, step, scale); }
  void gradient(int projection, std::vector<SynapseValue>& out) const override {
    gradient_of(projs_, c_, projection, out);
  }
  std::vector<std::string> carried_arrays() const override { return carried(c_); }
  std::vector<double> export_array(int projection, const std::string& name) const override {
    return export_moments(projs_, projection, name);
  }
  void import_array(int projection, const std::string& name, std::span<const double> values) override {
    import_moments(projs_, projection, name, values);
  }

 protected:
  Context c_;
  std::vector<P> projs_;
};

}  // namespace plexus::learning
