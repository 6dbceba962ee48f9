// D-RTRL and ES-D-RTRL (SPEC 4.2) as learning::Rules (shared part: plastic.hpp) with their Trials
// (per trial instance: the traces and the trial's gradient), for any target model with a state Jacobian
// (neuron/population.hpp: jacobian_state(), jacobian(); lif S = 1, alif S = 2, gif S = 3).
//
// Per step t, in the simulation's phase 7 (after the readouts):
//   serial   (once per step) the spikes of step t enter a short history; per plastic projection
//            the presynaptic input of this step x_i^t (spikes sent d steps ago) is formed:
//              D-RTRL     x_i^t itself (0 or 1);
//              ES-D-RTRL  the smoothed trace ex_i = lambda ex_i + x_i^t (one per source);
//            readout projections keep zhat_j = kappa zhat_j + (1 - kappa) z_j^t (exact gradient).
//   parallel (each thread block of target neurons) the model writes D_j^t, f_j, s_j^t
//            (s = dz_j^t/dh_j^t, so that the learning signal l_j^t = dE^t/dh_j^t = L_j^t s_j^t);
//              D-RTRL     every synapse: eps_ji = D_j eps_ji + f_j x_i^t (S values), its
//                         contribution e_ji = s_j . eps_ji, filtered like the readout
//                         ebar_ji = kappa ebar_ji + (1 - kappa) e_ji, and g_ji += L_j ebar_ji + R_j e_ji;
//              ES-D-RTRL  per neuron ef_j = lambda D_j ef_j + (1 - lambda) f_j, q_j = s_j . ef_j / c^t
//                         with c^t = 1 - lambda^(t+1), its filtered qbar_j, and the row signal
//                         w_j = L_j qbar_j + R_j q_j; the gradient is g_ji += sum_t ex_i^t w_j^t.
//                         That sum is added every 32 steps (and at the trial's end) from per-neuron
//                         and per-source values, exactly (finish_chunk): one multiply-add per synapse
//                         and one add per spike arrival, not one multiply-add per synapse and step.
// L is the learning signal of losses on the leaky readout (which depend on the cell's spikes of
// earlier steps too, through the readout's decay: hence the filter, as in e-prop); R that of losses
// on the spikes themselves (rate regularisation). With kappa = 0 both reduce to SPEC 4.2's
// g += l . eps. For ES-D-RTRL the filter acts on the per-neuron factor only (qbar), which is the
// rank-one approximation applied once more; it keeps the rule O(neurons + sources) in trace memory.
// Per-step work: D-RTRL O(synapses S^2) at every step; ES-D-RTRL O(neurons S^2 + sources), and per
// chunk of 32 steps one multiply-add per synapse of the rows whose signal was non-zero in it (the
// loss window; with rate regularisation, wherever the pseudo-derivative is non-zero) plus one add
// per arrival on them.
// Every rank forms the same values for the same synapses from the same gid-ordered spikes, and
// gradients are sums over time in step order: the results do not depend on the partition.
#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "plexus/learning/eprop_kernels.hpp"
#include "plexus/learning/plastic.hpp"
#include "plexus/learning/rule.hpp"

namespace plexus::learning {
namespace {

// Traces that decay for long silent stretches (a cue channel during the delay) would become
// subnormal, and subnormal arithmetic is about a hundred times slower on x86: such values are set
// to zero. They are below 1e-30 of a spike's contribution, far under float rounding of any sum
// they enter.
template <class Real>
inline Real flush(Real x) {
  return std::fabs(x) < Real(1e-30) ? Real(0) : x;
}

// One D-RTRL row of n synapses for a neuron with S state variables: eps (S per synapse) advances
// through D and takes f where a spike arrives; ebar and g as in the header comment.
template <class Real, std::size_t S, bool kDense>
void d_rtrl_row(const double* D, const double* f, const double* s, double kappa, double L, double R,
                std::size_t n, const std::uint32_t* __restrict src, const Real* __restrict x,
                Real* __restrict eps, Real* __restrict eb, Real* __restrict g) {
  Real d[S * S], fs[S], ss[S];
  for (std::size_t a = 0; a < S * S; ++a) d[a] = static_cast<Real>(D[a]);
  for (std::size_t a = 0; a < S; ++a) {
    fs[a] = static_cast<Real>(f[a]);
    ss[a] = static_cast<Real>(s[a]);
  }
  const Real k = static_cast<Real>(kappa), one_minus_k = static_cast<Real>(1.0 - kappa);
  const Real l = static_cast<Real>(L), r = static_cast<Real>(R);
  if constexpr (kDense) x += src[0];
  for (std::size_t q = 0; q < n; ++q) {
    const Real xi = x[kDense ? q : src[q]];
    Real* e = eps + q * S;
    Real next[S];
    for (std::size_t a = 0; a < S; ++a) {
      Real v = fs[a] * xi;
      for (std::size_t b = 0; b < S; ++b) v += d[a * S + b] * e[b];
      next[a] = v;
    }
    Real c = 0;
    for (std::size_t a = 0; a < S; ++a) {
      e[a] = flush(next[a]);
      c += ss[a] * next[a];
    }
    const Real b = flush(k * eb[q] + one_minus_k * c);
    eb[q] = b;
    g[q] += l * b + r * c;
  }
}

template <class Real>
class RtrlTrial;

// The shared part: which variant, lambda, and the state size of each target's model.
template <class Real>
class Rtrl final : public PlasticRule<Real> {
 public:
  Rtrl(const Context& c, const Models& models, bool es, double lambda)
      : PlasticRule<Real>(c), es_(es), lambda_(lambda) {
    state_size_.assign(c.targets.size(), 0);
    for (std::size_t i = 0; i < c.targets.size(); ++i) {
      if (c.targets[i].readout) continue;
      const std::size_t S = models(c.targets[i].population).jacobian_state().size();
      if (S == 0 || S > 3)
        throw std::invalid_argument("D-RTRL: a target population's model has no state Jacobian");
      state_size_[i] = S;
    }
    for (const auto& pl : c.plastic)
      max_delay_ = std::max<std::size_t>(max_delay_, static_cast<std::size_t>(pl.delay));
  }
  std::unique_ptr<Trial> make_trial(const Models& models) const override {
    return std::make_unique<RtrlTrial<Real>>(*this, models);
  }

  bool es_;
  double lambda_;
  std::vector<std::size_t> state_size_;  // per target (0: readout)
  std::size_t max_delay_ = 0;
};

template <class Real>
class RtrlTrial final : public TrialGradient<Real> {
  using TrialGradient<Real>::g_;

 public:
  RtrlTrial(const Rtrl<Real>& rule, Models models)
      : rule_(rule),
        c_(rule.context()),
        layout_(rule.layout()),
        models_(std::move(models)),
        es_(rule.es_),
        lambda_(rule.lambda_) {
    targets_.resize(c_.targets.size());
    for (std::size_t i = 0; i < c_.targets.size(); ++i) {
      auto& tg = targets_[i];
      if (c_.targets[i].readout) continue;
      tg.S = rule.state_size_[i];
      const std::size_t n = c_.targets[i].local.size();
      tg.D.assign(n * tg.S * tg.S, 0.0);
      tg.f.assign(n * tg.S, 0.0);
      tg.s.assign(n * tg.S, 0.0);
      if (es_) {
        tg.ef.assign(n * tg.S, 0.0);
        tg.q.assign(n, 0.0);
        tg.qbar.assign(n, 0.0);
        tg.buf.assign(kChunk * n, 0.0);
        tg.active.assign(n, 0);
      }
    }
    for (const auto& lp : layout_.projs) {
      State p;
      const std::size_t S = targets_[static_cast<std::size_t>(lp.info.target)].S;
      for (const auto& b : lp.blocks) {
        // ES-D-RTRL keeps no per-synapse trace at all; D-RTRL its filtered one and S values.
        p.eb.emplace_back(es_ || lp.readout ? 0 : b.synapses(), Real(0));
        p.eps.emplace_back(es_ || lp.readout ? 0 : b.synapses() * S, Real(0));
      }
      p.trace.assign(lp.info.source_size, Real(0));
      if (es_ && !lp.readout) {
        p.trace0.assign(lp.info.source_size, Real(0));
        p.astart.assign(lp.info.source_size + 1, 0);
      }
      state_.push_back(std::move(p));
    }
    g_.assign(layout_.synapses, Real(0));
    history_.reset(rule.max_delay_);
  }

  void begin_trial() override {
    for (auto& tg : targets_) {
      std::fill(tg.ef.begin(), tg.ef.end(), 0.0);
      std::fill(tg.qbar.begin(), tg.qbar.end(), 0.0);
      std::fill(tg.active.begin(), tg.active.end(), 0);
    }
    last_step_ = -1;
    for (auto& p : state_) {
      std::fill(p.trace.begin(), p.trace.end(), Real(0));
      p.set.clear();
      for (auto& e : p.eps) std::fill(e.begin(), e.end(), Real(0));
      for (auto& e : p.eb) std::fill(e.begin(), e.end(), Real(0));
    }
    std::fill(g_.begin(), g_.end(), Real(0));
    history_.clear();
    lambda_power_ = 1.0;
  }

  void serial(Step t, std::span<const Gid> spikes) override;
  void parallel(Step t, int th, const Signals& sig) override;

  // The last, partial chunk of a trial (serially, every thread block in turn).
  void end_trial() override {
    if (!es_ || last_step_ < 0) return;
    const auto len = static_cast<std::size_t>(last_step_ % kChunk) + 1;
    if (len == kChunk) return;  // flushed at its last step
    for (std::size_t pi = 0; pi < state_.size(); ++pi)
      if (!layout_.projs[pi].readout) group_arrivals(state_[pi]);
    std::size_t blocks = 0;
    for (const auto& t : c_.targets) blocks = std::max(blocks, t.blocks.size());
    for (std::size_t th = 0; th < blocks; ++th) finish_chunk(th, len);
  }

  MemoryUse memory(bool replicated) const override {
    MemoryUse m;
    for (std::size_t pi = 0; pi < state_.size(); ++pi) {
      const auto& lp = layout_.projs[pi];
      if (lp.readout && !replicated) continue;
      const auto& p = state_[pi];
      std::size_t traces = 0;
      for (const auto* arrays : {&p.eb, &p.eps})
        for (const auto& e : *arrays) traces += e.capacity() * sizeof(Real);
      m.per_synapse += traces + lp.count * sizeof(Real);  // traces and the trial's gradient
      m.per_synapse_traces += traces;
      m.per_source += (p.trace.capacity() + p.trace0.capacity()) * sizeof(Real) +
                      (p.set.capacity() + p.astart.capacity() + p.arr_step.capacity() + p.arr_src.capacity() +
                       p.asteps.capacity()) *
                          sizeof(std::uint32_t);
    }
    // The Jacobian buffers are rewritten every step; counted with the per-neuron state.
    for (const auto& t : targets_)
      m.per_neuron += (t.D.capacity() + t.f.capacity() + t.s.capacity() + t.ef.capacity() + t.q.capacity() +
                       t.qbar.capacity() + t.buf.capacity()) *
                          sizeof(double) +
                      t.active.capacity();
    m.per_source += history_.bytes();
    return m;
  }

 private:
  struct TargetState {
    std::size_t S = 0;
    std::vector<double> D, f, s;  // this step's Jacobian, input sensitivity, spike sensitivity
    std::vector<double> ef;       // ES-D-RTRL: smoothed postsynaptic trace (S per neuron)
    std::vector<double> q, qbar;  // ES-D-RTRL: s . ef / c^t and its filtered value
    // ES-D-RTRL: w_j^t of the chunk's steps (step-major, kChunk x neurons), turned into B_j(u) by
    // finish_chunk; active: w_j was non-zero at some step of the chunk.
    std::vector<double> buf;
    std::vector<std::uint8_t> active;
  };
  // A trial's record of one plastic projection.
  struct State {
    // Per source: D-RTRL this step's arrivals x_i^t (and which are set); ES-D-RTRL the smoothed
    // presynaptic trace ex_i; readouts zhat_j.
    std::vector<Real> trace;
    std::vector<std::uint32_t> set;
    std::vector<std::vector<Real>> eps, eb;  // D-RTRL, per block: S values per synapse; the filtered trace
    // ES-D-RTRL's deferred accumulation: ex_i before the chunk's first step, and the chunk's
    // arrivals (step in the chunk, source), then grouped by source (astart, asteps).
    std::vector<Real> trace0;
    std::vector<std::uint32_t> arr_step, arr_src, astart, asteps;
  };
  void d_rtrl_rows(std::size_t pi, std::size_t thread, const Signals& sig);
  static void group_arrivals(State& p);
  void finish_chunk(std::size_t thread, std::size_t len);
  void smooth(TargetState& tg, const partition::IdRange& range) const;

  const Rtrl<Real>& rule_;
  const Context& c_;
  const Layout& layout_;
  Models models_;
  bool es_;
  double lambda_;
  double lambda_power_ = 1.0, bias_ = 1.0;
  Step last_step_ = -1;                      // the last step seen by serial() in this trial
  static constexpr std::size_t kChunk = 32;  // steps per deferred accumulation (ES-D-RTRL)
  std::vector<TargetState> targets_;
  std::vector<State> state_;
  SpikeHistory history_;
};

template <class Real>
void RtrlTrial<Real>::serial(Step t, std::span<const Gid> spikes) {
  history_.record(t, spikes);
  last_step_ = t;
  lambda_power_ *= lambda_;
  bias_ = 1.0 - lambda_power_;  // c^t = 1 - lambda^(t+1)
  for (std::size_t pi = 0; pi < state_.size(); ++pi) {
    auto& p = state_[pi];
    const auto& lp = layout_.projs[pi];
    Real* tr = p.trace.data();
    const auto arrive = [&](auto&& add) {
      history_.arrived(t, lp.info.delay, lp.info.source_first_gid, lp.info.source_size, add);
    };
    if (lp.readout) {
      const Real k = static_cast<Real>(c_.readout_kappa), gain = static_cast<Real>(1.0 - c_.readout_kappa);
      for (auto& x : p.trace) x = flush(x * k);
      arrive([&](std::size_t i) { tr[i] += gain; });
    } else if (es_) {
      const auto u = static_cast<std::uint32_t>(t % kChunk);
      if (u == 0) {  // a chunk begins: keep ex_i as it was before this step
        p.trace0.assign(p.trace.begin(), p.trace.end());
        p.arr_step.clear();
        p.arr_src.clear();
      }
      const Real l = static_cast<Real>(lambda_);
      for (auto& x : p.trace) x = flush(x * l);
      arrive([&](std::size_t i) {
        tr[i] += Real(1);
        p.arr_step.push_back(u);
        p.arr_src.push_back(static_cast<std::uint32_t>(i));
      });
      if (u == kChunk - 1) group_arrivals(p);
    } else {  // this step's arrivals only: clear the last step's
      for (auto i : p.set) tr[i] = Real(0);
      p.set.clear();
      arrive([&](std::size_t i) {
        tr[i] = Real(1);
        p.set.push_back(static_cast<std::uint32_t>(i));
      });
    }
  }
}

template <class Real>
void RtrlTrial<Real>::parallel(Step t, int th, const Signals& sig) {
  const auto thread = static_cast<std::size_t>(th);
  for (std::size_t i = 0; i < targets_.size(); ++i) {
    if (c_.targets[i].readout) continue;
    auto& tg = targets_[i];
    const auto& range = c_.targets[i].blocks[thread];
    const std::size_t S = tg.S;
    models_(c_.targets[i].population)
        .jacobian(range.begin, range.end, tg.D.data() + range.begin * S * S, tg.f.data() + range.begin * S,
                  tg.s.data() + range.begin * S);
    if (es_) smooth(tg, range);
  }
  if (es_) {
    const auto u = static_cast<std::size_t>(t % kChunk);
    for (std::size_t i = 0; i < targets_.size(); ++i) {
      if (c_.targets[i].readout) continue;
      auto& tg = targets_[i];
      const auto& range = c_.targets[i].blocks[thread];
      const double* L = sig.L_active ? (*sig.L)[i].data() : nullptr;
      const double* R = sig.R_active ? (*sig.R)[i].data() : nullptr;
      double* w = tg.buf.data() + u * tg.q.size();
      for (Gid j = range.begin; j < range.end; ++j) {
        w[j] = (L ? L[j] * tg.qbar[j] : 0.0) + (R ? R[j] * tg.q[j] : 0.0);
        if (w[j] != 0.0) tg.active[j] = 1;
      }
    }
    if (u == kChunk - 1) finish_chunk(thread, kChunk);
  }
  for (std::size_t pi = 0; pi < state_.size(); ++pi) {
    const auto& lp = layout_.projs[pi];
    const auto& blk = lp.blocks[thread];
    const auto ti = static_cast<std::size_t>(lp.info.target);
    const auto& range = c_.targets[ti].blocks[thread];
    if (lp.readout) {
      if (!sig.L_active) continue;
      Real* g = g_.data() + blk.offset;
      for (std::size_t r = 0; r < blk.rows(); ++r) {
        const double e = sig.err[range.begin + r];
        if (e == 0.0) continue;
        const std::uint32_t a = blk.row[r];
        readout_row<Real>(e, blk.row[r + 1] - a, blk.src.data() + a, state_[pi].trace.data(), g + a);
      }
      continue;
    }
    if (es_) continue;  // accumulated per chunk (finish_chunk)
    d_rtrl_rows(pi, thread, sig);
  }
}

// D-RTRL: every synapse of the block's rows, every step.
template <class Real>
void RtrlTrial<Real>::d_rtrl_rows(std::size_t pi, std::size_t thread, const Signals& sig) {
  const auto& lp = layout_.projs[pi];
  const auto& blk = lp.blocks[thread];
  const auto ti = static_cast<std::size_t>(lp.info.target);
  const auto& range = c_.targets[ti].blocks[thread];
  const auto& tg = targets_[ti];
  auto& st = state_[pi];
  const double* L = sig.L_active ? (*sig.L)[ti].data() : nullptr;
  const double* R = sig.R_active ? (*sig.R)[ti].data() : nullptr;
  auto& eps = st.eps[thread];
  Real* eb = st.eb[thread].data();
  Real* g = g_.data() + blk.offset;
  const std::size_t S = tg.S;
  for (std::size_t r = 0; r < blk.rows(); ++r) {
    const std::size_t j = range.begin + r;
    const std::uint32_t a = blk.row[r];
    const std::size_t n = blk.row[r + 1] - a;
    const double* D = tg.D.data() + j * S * S;
    const double* f = tg.f.data() + j * S;
    const double* s = tg.s.data() + j * S;
    const double l = L ? L[j] : 0.0, q = R ? R[j] : 0.0;
    auto run = [&]<std::size_t kS>() {
      if (blk.dense[r])
        d_rtrl_row<Real, kS, true>(D, f, s, c_.filter_kappa, l, q, n, blk.src.data() + a, st.trace.data(),
                                   eps.data() + a * kS, eb + a, g + a);
      else
        d_rtrl_row<Real, kS, false>(D, f, s, c_.filter_kappa, l, q, n, blk.src.data() + a, st.trace.data(),
                                    eps.data() + a * kS, eb + a, g + a);
    };
    if (S == 1)
      run.template operator()<1>();
    else if (S == 2)
      run.template operator()<2>();
    else
      run.template operator()<3>();
  }
}

// Groups the chunk's arrivals by source (a counting sort; steps stay in order per source). astart
// serves as the placing cursor and is shifted back afterwards, so nothing is allocated.
template <class Real>
void RtrlTrial<Real>::group_arrivals(State& p) {
  std::fill(p.astart.begin(), p.astart.end(), 0u);
  for (auto i : p.arr_src) ++p.astart[i + 1];
  for (std::size_t i = 1; i < p.astart.size(); ++i) p.astart[i] += p.astart[i - 1];
  p.asteps.resize(p.arr_src.size());
  for (std::size_t a = 0; a < p.arr_src.size(); ++a) p.asteps[p.astart[p.arr_src[a]]++] = p.arr_step[a];
  for (std::size_t i = p.astart.size() - 1; i > 0; --i) p.astart[i] = p.astart[i - 1];
  p.astart[0] = 0;
}

// The chunk's contribution sum_t ex_i^t w_j^t for the rows of one thread block, exactly, from
// per-neuron and per-source quantities. With t0 the chunk's first step and ex0_i = ex_i^(t0-1),
//   ex_i^t = lambda^(t-t0+1) ex0_i + sum_{s=t0..t} lambda^(t-s) x_i^s, so
//   sum_t ex_i^t w_j^t = lambda B_j(t0) ex0_i + sum_{arrivals s of i} B_j(s),
//   B_j(s) = sum_{t>=s} lambda^(t-s) w_j^t  (backwards: B(s) = w(s) + lambda B(s+1)).
// One multiply-add per synapse and one add per arrival, instead of one multiply-add per synapse
// and step; rows whose w_j was zero throughout are skipped.
template <class Real>
void RtrlTrial<Real>::finish_chunk(std::size_t thread, std::size_t len) {
  const double lam = lambda_;
  for (std::size_t i = 0; i < targets_.size(); ++i) {
    if (c_.targets[i].readout || thread >= c_.targets[i].blocks.size()) continue;
    auto& tg = targets_[i];
    const std::size_t n = tg.q.size();
    const auto& range = c_.targets[i].blocks[thread];
    for (Gid j = range.begin; j < range.end; ++j) {
      if (!tg.active[j]) continue;
      double b = 0.0;
      for (std::size_t u = len; u-- > 0;) {
        b = tg.buf[u * n + j] + lam * b;
        tg.buf[u * n + j] = b;
      }
    }
  }
  for (std::size_t pi = 0; pi < state_.size(); ++pi) {
    const auto& lp = layout_.projs[pi];
    if (lp.readout || thread >= lp.blocks.size()) continue;
    const auto& blk = lp.blocks[thread];
    const auto& p = state_[pi];
    const auto ti = static_cast<std::size_t>(lp.info.target);
    const auto& tg = targets_[ti];
    const std::size_t n = tg.q.size();
    const auto& range = c_.targets[ti].blocks[thread];
    Real* g = g_.data() + blk.offset;
    for (std::size_t r = 0; r < blk.rows(); ++r) {
      const std::size_t j = range.begin + r;
      if (!tg.active[j]) continue;
      const double* B = tg.buf.data() + j;  // B[u * n]
      const double head = lam * B[0];
      for (std::uint32_t k = blk.row[r]; k < blk.row[r + 1]; ++k) {
        const std::uint32_t src = blk.src[k];
        double v = head * static_cast<double>(p.trace0[src]);
        for (std::uint32_t a = p.astart[src]; a < p.astart[src + 1]; ++a) v += B[p.asteps[a] * n];
        g[k] += static_cast<Real>(v);
      }
    }
  }
  for (std::size_t i = 0; i < targets_.size(); ++i) {
    if (c_.targets[i].readout || thread >= c_.targets[i].blocks.size()) continue;
    const auto& range = c_.targets[i].blocks[thread];
    std::fill(targets_[i].active.begin() + range.begin, targets_[i].active.begin() + range.end, 0);
  }
}

// ES-D-RTRL's per-neuron factors for the rows of one thread block.
template <class Real>
void RtrlTrial<Real>::smooth(TargetState& tg, const partition::IdRange& range) const {
  const std::size_t S = tg.S;
  const double lam = lambda_, inv_c = 1.0 / bias_, kappa = c_.filter_kappa;
  for (Gid j = range.begin; j < range.end; ++j) {
    const double* D = tg.D.data() + j * S * S;
    const double* f = tg.f.data() + j * S;
    const double* s = tg.s.data() + j * S;
    double* ef = tg.ef.data() + j * S;
    double next[3];
    for (std::size_t a = 0; a < S; ++a) {
      double v = 0.0;
      for (std::size_t b = 0; b < S; ++b) v += D[a * S + b] * ef[b];
      next[a] = lam * v + (1.0 - lam) * f[a];
    }
    double q = 0.0;
    for (std::size_t a = 0; a < S; ++a) {
      ef[a] = next[a];
      q += s[a] * next[a];
    }
    q *= inv_c;
    tg.q[j] = q;
    tg.qbar[j] = kappa * tg.qbar[j] + (1.0 - kappa) * q;
  }
}

// Any learning-form model with a state Jacobian (neuron/population.hpp): lif, alif, gif.
std::string check_jacobian(const neuron::Population& m, const std::string& name, const char* rule) {
  if (!m.jacobian_state().empty()) return {};
  return "'" + name + "' cells have no state Jacobian for " + rule;
}

template <bool kEs>
std::unique_ptr<Rule> make(const Context& c, const Models& models, const Settings& settings) {
  // ES-D-RTRL's smoothing factor (SPEC 4.2: 0.9 for evidence accumulation, 0.99 for DMS). D-RTRL
  // ignores it, so that a model file can carry it and switch rules with one --set.
  const double lambda = settings.number_or("lambda", 0.9, {0.0, 1.0, true, false});
  if (c.precision == Precision::Float64) return std::make_unique<Rtrl<double>>(c, models, kEs, lambda);
  return std::make_unique<Rtrl<float>>(c, models, kEs, lambda);
}

const RuleRegistry::Add d_rtrl{
    {"d_rtrl",
     "D-RTRL (SPEC 4.2): the state Jacobian's influence per synapse",
     {"lambda"},
     false,
     [](const neuron::Population& m, const std::string& name) { return check_jacobian(m, name, "d_rtrl"); },
     [](const Context& c, const Models& models, const Settings& s, const Needs&) {
       return make<false>(c, models, s);
     }}};

const RuleRegistry::Add es_d_rtrl{{"es_d_rtrl",
                                   "ES-D-RTRL (SPEC 4.2): rank-one factors per neuron and per source",
                                   {"lambda"},
                                   false,
                                   [](const neuron::Population& m, const std::string& name) {
                                     return check_jacobian(m, name, "es_d_rtrl");
                                   },
                                   [](const Context& c, const Models& models, const Settings& s,
                                      const Needs&) { return make<true>(c, models, s); }}};

}  // namespace
}  // namespace plexus::learning
