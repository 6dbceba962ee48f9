#pragma once
// The plastic synapses of a rank, laid out for learning, and the half of a rule that does not depend
// on how gradients are formed (the batch's gradient, the optimiser step, checkpoints).
//
// Layout: per plastic projection and thread block, the synapses in target-major rows (one row per
// postsynaptic neuron, sources ascending), so that per-neuron factors are scalars in the kernels;
// all of the rank's plastic synapses in one flat order (projections, blocks, rows), in which every
// per-synapse array is kept: each trial's traces and gradient, the optimiser's moments, the batch's
// partial sums. The weights themselves stay in the projection's source-major rows, which delivery
// needs; an update walks those rows with one cursor per target, which visits every target's synapses
// in the same ascending-source order as its learning row, so no per-synapse map is kept.
//
// Memory per synapse: 4 bytes source index (shared), in the rule's precision (4 bytes for float):
// per trial instance its traces (e-prop: the filtered trace, and the adaptation trace when the
// target adapts) and its gradient; shared, the optimiser's two moments (Adam) and the batch's partial
// sums (at most log2(B) + 1 of them, usually fewer; tree_sum.hpp).
#include <algorithm>
#include <cstdint>
#include <memory>
#include <mutex>
#include <numeric>
#include <span>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include "plexus/learning/optimizer.hpp"
#include "plexus/learning/rule.hpp"
#include "plexus/learning/tree_sum.hpp"
#include "plexus/synapse/projection.hpp"

namespace plexus::learning {

// The plastic synapses of one thread block of a projection, target-major.
struct BlockIndex {
  std::vector<std::uint32_t> row;  // per local target of the block, size targets + 1
  std::vector<std::uint32_t> src;  // per synapse: source (population-local id)
  // Per row: 1 if its sources are consecutive (all-to-all rows), so kernels read the presynaptic
  // traces contiguously instead of gathering them.
  std::vector<std::uint8_t> dense;
  std::size_t offset = 0;  // of the block's first synapse in the rank's flat order

  std::size_t synapses() const { return src.size(); }
  std::size_t rows() const { return row.size() - 1; }
  std::size_t bytes() const { return row.capacity() * 4 + src.capacity() * 4 + dense.capacity(); }

  static BlockIndex build(const synapse::Block& blk) {
    BlockIndex p;
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
      // A row without synapses is not dense: dense kernels read its first source (a rank may hold
      // none of a projection's synapses, or a target none of its own).
      bool consecutive = p.row[r + 1] > p.row[r];
      for (std::uint32_t k = p.row[r] + 1; k < p.row[r + 1] && consecutive; ++k)
        consecutive = p.src[k] == p.src[k - 1] + 1;
      p.dense[r] = consecutive;
    }
    return p;
  }
};

// A plastic projection as laid out.
struct ProjectionIndex {
  Plastic info;
  bool readout = false;
  std::vector<BlockIndex> blocks;
  std::size_t offset = 0, count = 0;  // its synapses in the flat order
};

// Every plastic synapse of the rank, in the flat order.
struct Layout {
  std::vector<ProjectionIndex> projs;
  std::size_t synapses = 0;

  explicit Layout(const Context& c) {
    for (const auto& pl : c.plastic) {
      ProjectionIndex p;
      p.info = pl;
      p.readout = c.targets[static_cast<std::size_t>(pl.target)].readout;
      p.offset = synapses;
      for (const auto& blk : pl.synapses->blocks()) {
        p.blocks.push_back(BlockIndex::build(blk));
        p.blocks.back().offset = synapses;
        synapses += p.blocks.back().synapses();
      }
      p.count = synapses - p.offset;
      projs.push_back(std::move(p));
    }
  }
  std::size_t bytes(bool replicated) const {
    std::size_t b = 0;
    for (const auto& p : projs)
      if (!p.readout || replicated)
        for (const auto& blk : p.blocks) b += blk.bytes();
    return b;
  }
  // Synapses of projections into replicated populations (readouts): every rank holds them.
  std::size_t replicated_synapses() const {
    std::size_t n = 0;
    for (const auto& p : projs)
      if (p.readout) n += p.count;
    return n;
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
  std::size_t bytes() const {
    std::size_t b = 0;
    for (const auto& s : slots_) b += s.capacity() * sizeof(Gid);
    return b;
  }

 private:
  std::vector<std::vector<Gid>> slots_;
};

// A trial's gradient, in the flat order. Rules' Trial classes derive from this so that the shared
// part can take it.
template <class Real>
class TrialGradient : public Trial {
 public:
  std::vector<Real>& gradient() { return g_; }
  const std::vector<Real>& gradient() const { return g_; }

 protected:
  std::vector<Real> g_;
};

// The shared half of a rule, the same for every rule whose trials derive from TrialGradient<Real>:
// the layout, the optimiser's moments, and the batch's gradient. Rules supply only make_trial().
template <class Real>
class PlasticRule : public Rule {
 public:
  explicit PlasticRule(const Context& c) : c_(c), layout_(c) {
    if (c.adam) {
      m_.assign(layout_.synapses, Real(0));
      v_.assign(layout_.synapses, Real(0));
    }
    sum_.reset(1, layout_.synapses);
  }
  const Layout& layout() const { return layout_; }
  const Context& context() const { return c_; }

  void begin_batch(std::uint64_t trials) override {
    sum_.reset(std::max<std::uint64_t>(trials, 1), layout_.synapses);
  }

  // From any thread, in any order of trials (the tree fixes the order of the additions).
  void add(std::uint64_t k, Trial& trial) override {
    const std::lock_guard<std::mutex> lock(add_);
    sum_.push(k, static_cast<TrialGradient<Real>&>(trial).gradient());
  }

  void complete(comm::Communicator* across) override;
  void square_sums(std::vector<double>& per_gid, double& replicated) const override;
  void apply(const Optimizer::Step& step, double scale) override;
  void gradient(int projection, std::vector<SynapseValue>& out) const override;

  MemoryUse memory(bool replicated) const override {
    MemoryUse m;
    // Per synapse: the moments and the partial sums (their share of this rank's own synapses).
    const double share = replicated || layout_.synapses == 0
                             ? 1.0
                             : static_cast<double>(layout_.synapses - layout_.replicated_synapses()) /
                                   static_cast<double>(layout_.synapses);
    m.per_synapse = static_cast<std::uint64_t>(
        static_cast<double>((m_.capacity() + v_.capacity()) * sizeof(Real) + sum_.bytes()) * share);
    m.index = layout_.bytes(replicated);
    m.synapses = replicated ? layout_.synapses : layout_.synapses - layout_.replicated_synapses();
    return m;
  }

  std::vector<std::string> carried_arrays() const override {
    if (!c_.adam) return {};
    return {"adam_m", "adam_v"};
  }
  std::vector<double> export_array(int projection, const std::string& name) const override {
    const auto& p = projection_of(projection);
    const auto& a = moments(name);
    return std::vector<double>(a.begin() + static_cast<std::ptrdiff_t>(p.offset),
                               a.begin() + static_cast<std::ptrdiff_t>(p.offset + p.count));
  }
  void import_array(int projection, const std::string& name, std::span<const double> values) override {
    const auto& p = projection_of(projection);
    if (values.size() != p.count) throw std::logic_error("learning: checkpoint array of the wrong length");
    auto& a = const_cast<std::vector<Real>&>(moments(name));
    for (std::size_t i = 0; i < p.count; ++i) a[p.offset + i] = static_cast<Real>(values[i]);
  }

 protected:
  const ProjectionIndex& projection_of(int projection) const {
    for (const auto& p : layout_.projs)
      if (p.info.projection == projection) return p;
    throw std::logic_error("learning: not a plastic projection");
  }
  const std::vector<Real>& moments(const std::string& name) const {
    if (name == "adam_m") return m_;
    if (name == "adam_v") return v_;
    throw std::logic_error("learning: no array " + name);
  }

  Context c_;
  Layout layout_;
  std::vector<Real> m_, v_;  // Adam's moments, flat order
  TreeSum<Real> sum_;
  std::mutex add_;
};

// ------------------------------------------------------------------------------------------------

// The groups' partial sums: every rank sends its nodes (ranges and values), and every rank continues
// the tree with all of them in group order, which is trial order.
template <class Real>
void PlasticRule<Real>::complete(comm::Communicator* across) {
  if (across && across->size() > 1) {
    auto mine = sum_.take_nodes();
    std::vector<std::uint8_t> bytes;
    for (const auto& n : mine) {
      const std::uint64_t head[2] = {n.a, n.b};
      const auto* h = reinterpret_cast<const std::uint8_t*>(head);
      bytes.insert(bytes.end(), h, h + sizeof(head));
      const auto* v = reinterpret_cast<const std::uint8_t*>(n.v.data());
      bytes.insert(bytes.end(), v, v + n.v.size() * sizeof(Real));
    }
    const auto all = across->allgather_bytes(bytes);
    sum_.reset(sum_.trials(), layout_.synapses);
    const std::size_t node_bytes = 2 * sizeof(std::uint64_t) + layout_.synapses * sizeof(Real);
    for (const auto& part : all)
      for (std::size_t at = 0; at + node_bytes <= part.size(); at += node_bytes) {
        typename TreeSum<Real>::Node n;
        std::uint64_t head[2];
        std::copy(part.begin() + static_cast<std::ptrdiff_t>(at),
                  part.begin() + static_cast<std::ptrdiff_t>(at + sizeof(head)),
                  reinterpret_cast<std::uint8_t*>(head));
        n.a = head[0];
        n.b = head[1];
        n.v.resize(layout_.synapses);
        std::copy(part.begin() + static_cast<std::ptrdiff_t>(at + sizeof(head)),
                  part.begin() + static_cast<std::ptrdiff_t>(at + node_bytes),
                  reinterpret_cast<std::uint8_t*>(n.v.data()));
        sum_.push_node(std::move(n));
      }
  }
  if (!sum_.complete())
    throw std::logic_error("learning: the batch's gradient is incomplete (a trial was not added)");
}

// Sum of g^2 of each row (per target neuron), placed by gid; readout synapses (replicated) into one sum.
template <class Real>
void PlasticRule<Real>::square_sums(std::vector<double>& per_gid, double& replicated) const {
  const auto& g = sum_.result();
  for (const auto& p : layout_.projs) {
    const auto& tgt = c_.targets[static_cast<std::size_t>(p.info.target)];
    for (std::size_t bi = 0; bi < p.blocks.size(); ++bi) {
      const auto& b = p.blocks[bi];
      const Real* gb = g.data() + b.offset;
      if (p.readout) {
        for (std::size_t k = 0; k < b.synapses(); ++k)
          replicated += static_cast<double>(gb[k]) * static_cast<double>(gb[k]);
        continue;
      }
      double* out = per_gid.data() + tgt.first_gid + tgt.local.begin + tgt.blocks[bi].begin;
      for (std::size_t j = 0; j < b.rows(); ++j) {
        double s = 0.0;
        for (std::uint32_t k = b.row[j]; k < b.row[j + 1]; ++k)
          s += static_cast<double>(gb[k]) * static_cast<double>(gb[k]);
        out[j] += s;
      }
    }
  }
}

// The optimiser on every synapse with gradient scale * g, the weights of each block written, their
// sign kept as Dale's law says.
template <class Real>
void PlasticRule<Real>::apply(const Optimizer::Step& step, double scale) {
  const auto& g = sum_.result();
  const bool adam = !m_.empty();
  Real dummy_m(0), dummy_v(0);
  for (const auto& p : layout_.projs) {
    auto& blocks = p.info.synapses->blocks();
    Optimizer::Step own = step;
    own.lr *= p.info.lr_scale;
    for (std::size_t bi = 0; bi < p.blocks.size(); ++bi) {
      const auto& idx = p.blocks[bi];
      auto& blk = blocks[bi];
      std::vector<std::uint32_t> cur(idx.row.begin(), idx.row.end() - 1);
      const std::size_t n_source = blk.offset.size() - 1;
      for (std::size_t s = 0; s < n_source; ++s)
        for (std::uint32_t k = blk.offset[s]; k < blk.offset[s + 1]; ++k) {
          const std::size_t pos = idx.offset + cur[blk.target[k] - blk.targets.begin]++;
          const double grad = scale * static_cast<double>(g[pos]);
          const double d = adam ? Optimizer::delta(own, grad, m_[pos], v_[pos])
                                : Optimizer::delta(own, grad, dummy_m, dummy_v);
          double w = static_cast<double>(blk.weight[k]) + d;
          if (p.info.sign == SignRule::NonNegative) w = std::max(w, 0.0);
          if (p.info.sign == SignRule::NonPositive) w = std::min(w, 0.0);
          blk.weight[k] = static_cast<synapse::Weight>(w);
        }
    }
  }
}

// A projection's gradient so far in (target, source) order: the partial sums added in trial order.
template <class Real>
void PlasticRule<Real>::gradient(int projection, std::vector<SynapseValue>& out) const {
  const auto& p = projection_of(projection);
  const auto& tgt = c_.targets[static_cast<std::size_t>(p.info.target)];
  for (std::size_t bi = 0; bi < p.blocks.size(); ++bi) {
    const auto& b = p.blocks[bi];
    for (std::size_t r = 0; r < b.rows(); ++r)
      for (std::uint32_t k = b.row[r]; k < b.row[r + 1]; ++k) {
        double g = 0.0;
        for (const auto& n : sum_.nodes()) g += static_cast<double>(n.v[b.offset + k]);
        out.push_back({b.src[k], tgt.local.begin + tgt.blocks[bi].begin + r, g});
      }
  }
}

}  // namespace plexus::learning
