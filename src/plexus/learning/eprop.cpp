// e-prop (SPEC 4.1) as a learning::Rule (shared: layout, moments, the batch gradient; plastic.hpp)
// and its Trial (per trial instance: traces and the trial's gradient).
//
// Per step t (the order inside the step is the simulation's phase 7, after every readout value
// of the step is known):
//   serial   (once per step) the spikes of step t enter a short history; every plastic
//            projection's presynaptic trace ev_i^t = decay ev_i^(t-1) + gain x_i^t takes the
//            spikes that arrive now (sent d steps ago). ev depends only on the source and the
//            target population's decay, so one value serves all targets of a source. Readout
//            projections keep zhat_j^t = kappa zhat_j^(t-1) + (1 - kappa) z_j^t instead.
//   parallel (each thread block of target neurons) the eligibility traces of every
//            incoming synapse of the block advance (eprop_kernels.hpp) and, where the learning
//            signals are non-zero, g_ji += L_j^t ebar_ji^t + R_j^t e_ji^t; readout synapses get the
//            exact gradient
//            g_kj += err_k^t zhat_j^t. Then psi^t is kept as the next step's psi^(t-1).
// Idle rows: while psi_j^(t-1) = psi_j^t = 0 and nothing accumulates, a row's update is a pure
// decay (ea *= rho, ebar *= kappa). Membranes sit below A - v_th much of the time, so such rows
// are common (about four rows in five at each step in the cortex model); they are skipped and the
// decay they owe is folded into the row's next update as factors rho^n, kappa^n (from tables of
// squares). This rounds differently from n single steps, but depends only on the neuron's own
// history, so it is the same on every partition.
// Every rank computes the same traces for the same synapses from the same gid-ordered spikes,
// and each gradient is a sum over time in step order, so results do not depend on the partition.
#include <algorithm>
#include <array>
#include <cmath>
#include <stdexcept>

#include "plexus/learning/eprop_kernels.hpp"
#include "plexus/learning/plastic.hpp"
#include "plexus/learning/rule.hpp"

namespace plexus::learning {
namespace {

// x^n from the table of x^(2^k): a few multiplications, exact to rounding, cheaper than pow().
double power(const std::array<double, 32>& squares, std::uint32_t n) {
  double r = 1.0;
  for (int k = 0; n; ++k, n >>= 1)
    if (n & 1u) r *= squares[static_cast<std::size_t>(k)];
  return r;
}

std::array<double, 32> squares_of(double x) {
  std::array<double, 32> s{};
  s[0] = x;
  for (std::size_t k = 1; k < s.size(); ++k) s[k] = s[k - 1] * s[k - 1];
  return s;
}

// What e-prop keeps per plastic projection beyond the layout (the same for every trial).
struct EpropProjection {
  bool adaptive = false;
  double decay = 0.0, gain = 1.0;  // of the presynaptic trace
};

template <class Real>
class EpropTrial;

template <class Real>
class Eprop final : public PlasticRule<Real> {
 public:
  using Base = PlasticRule<Real>;
  Eprop(const Context& c, const Models& models, const Needs& needs)
      : Base(c), reward_(needs.reward), gamma_(needs.discount) {
    kappa_squares_ = squares_of(c.filter_kappa);
    for (const auto& pl : c.plastic) {
      EpropProjection p;
      const auto& tgt = c.targets[static_cast<std::size_t>(pl.target)];
      const auto view = *models(tgt.population).learning_view();
      if (tgt.readout) {
        p.decay = c.readout_kappa;
        p.gain = 1.0 - c.readout_kappa;
      } else {
        p.adaptive = view.beta != nullptr;
        p.decay = view.alpha;
      }
      max_delay_ = std::max<std::size_t>(max_delay_, static_cast<std::size_t>(pl.delay));
      projs_.push_back(p);
    }
  }
  std::unique_ptr<Trial> make_trial(const Models& models) const override {
    return std::make_unique<EpropTrial<Real>>(*this, models);
  }

  bool reward_ = false;  // reward mode (SPEC 4.3): F_gamma-filtered traces, reward_parallel()
  double gamma_ = 0.0;
  std::array<double, 32> kappa_squares_{};  // filter_kappa^(2^k)
  std::vector<EpropProjection> projs_;      // parallel to the layout's projections
  std::size_t max_delay_ = 0;
};

template <class Real>
class EpropTrial final : public TrialGradient<Real> {
  using TrialGradient<Real>::g_;

 public:
  EpropTrial(const Eprop<Real>& rule, Models models)
      : rule_(rule), c_(rule.context()), layout_(rule.layout()), models_(std::move(models)) {
    targets_.resize(c_.targets.size());
    for (std::size_t i = 0; i < c_.targets.size(); ++i) {
      const auto n = c_.targets[i].local.size();
      targets_[i].psi_prev.assign(n, 0.0);
      targets_[i].busy.assign(n, 0);
      targets_[i].idle.assign(n, 0);
      targets_[i].view = *models_(c_.targets[i].population).learning_view();
      targets_[i].rho_squares = squares_of(targets_[i].view.rho);
    }
    for (std::size_t pi = 0; pi < layout_.projs.size(); ++pi) {
      const auto& lp = layout_.projs[pi];
      const auto& ep = rule_.projs_[pi];
      State p;
      p.ev.assign(lp.info.source_size, Real(0));
      p.ev_prev.assign(lp.info.source_size, Real(0));
      for (const auto& b : lp.blocks) {
        p.ea.emplace_back(ep.adaptive ? b.synapses() : 0, Real(0));
        p.eb.emplace_back(lp.readout ? 0 : b.synapses(), Real(0));
        p.f.emplace_back(rule_.reward_ ? b.synapses() : 0, Real(0));
      }
      state_.push_back(std::move(p));
    }
    g_.assign(layout_.synapses, Real(0));
    history_.reset(rule_.max_delay_);
  }

  void begin_trial() override {
    for (std::size_t i = 0; i < targets_.size(); ++i) {
      targets_[i].view = *models_(c_.targets[i].population).learning_view();
      std::fill(targets_[i].psi_prev.begin(), targets_[i].psi_prev.end(), 0.0);
      std::fill(targets_[i].idle.begin(), targets_[i].idle.end(), 0u);
    }
    for (auto& p : state_) {
      std::fill(p.ev.begin(), p.ev.end(), Real(0));
      std::fill(p.ev_prev.begin(), p.ev_prev.end(), Real(0));
      for (auto* arrays : {&p.ea, &p.eb, &p.f})
        for (auto& a : *arrays) std::fill(a.begin(), a.end(), Real(0));
    }
    std::fill(g_.begin(), g_.end(), Real(0));
    history_.clear();
  }

  void serial(Step t, std::span<const Gid> spikes) override {
    history_.record(t, spikes);
    for (std::size_t pi = 0; pi < state_.size(); ++pi) {
      auto& p = state_[pi];
      const auto& info = layout_.projs[pi].info;
      const auto& ep = rule_.projs_[pi];
      std::swap(p.ev, p.ev_prev);
      const Real d = static_cast<Real>(ep.decay);
      const std::size_t n = p.ev.size();
      Real* __restrict ev = p.ev.data();
      const Real* __restrict prev = p.ev_prev.data();
      for (std::size_t i = 0; i < n; ++i) ev[i] = d * prev[i];
      const Real gain = static_cast<Real>(ep.gain);
      history_.arrived(t, info.delay, info.source_first_gid, info.source_size,
                       [&](std::size_t i) { ev[i] += gain; });
    }
  }

  void parallel(Step, int th, const Signals& s) override;

  MemoryUse memory(bool replicated) const override {
    MemoryUse m;
    for (std::size_t pi = 0; pi < state_.size(); ++pi) {
      const auto& lp = layout_.projs[pi];
      if (lp.readout && !replicated) continue;
      const auto& p = state_[pi];
      std::size_t traces = 0;
      for (const auto* arrays : {&p.ea, &p.eb, &p.f})
        for (const auto& a : *arrays) traces += a.capacity() * sizeof(Real);
      m.per_synapse += traces + lp.count * sizeof(Real);  // traces and the trial's gradient
      m.per_synapse_traces += traces;
      m.per_source += (p.ev.capacity() + p.ev_prev.capacity()) * sizeof(Real);
    }
    for (const auto& t : targets_)
      m.per_neuron += t.psi_prev.capacity() * sizeof(double) + t.busy.capacity() + t.idle.capacity() * 4;
    m.per_source += history_.bytes();
    return m;
  }

 private:
  struct TargetState {
    neuron::LearningView view;
    std::vector<double> psi_prev;          // psi_j^(t-1) per local neuron
    std::vector<std::uint8_t> busy;        // the neuron's rows need updating this step
    std::vector<std::uint32_t> idle;       // steps of decay its rows owe
    std::array<double, 32> rho_squares{};  // rho^(2^k)
  };
  struct State {                               // per projection
    std::vector<Real> ev, ev_prev;             // presynaptic traces, per source
    std::vector<std::vector<Real>> ea, eb, f;  // per block, per synapse (empty where unused)
  };
  void advance(std::size_t pi, std::size_t thread, const double* L, const double* R);
  void reward_parallel(int th, const Signals& s);

  const Eprop<Real>& rule_;
  const Context& c_;
  const Layout& layout_;
  Models models_;
  std::vector<TargetState> targets_;
  std::vector<State> state_;
  SpikeHistory history_;
};

template <class Real>
void EpropTrial<Real>::parallel(Step, int th, const Signals& s) {
  if (rule_.reward_) return reward_parallel(th, s);
  const auto thread = static_cast<std::size_t>(th);
  for (std::size_t i = 0; i < targets_.size(); ++i) {
    if (c_.targets[i].readout) continue;
    auto& tg = targets_[i];
    const auto& range = c_.targets[i].blocks[thread];
    const double* L = s.L_active ? (*s.L)[i].data() : nullptr;
    for (Gid j = range.begin; j < range.end; ++j)
      tg.busy[j] = tg.psi_prev[j] != 0.0 || tg.view.psi[j] != 0.0 || (L && L[j] != 0.0);
  }
  for (std::size_t pi = 0; pi < state_.size(); ++pi) {
    const auto& lp = layout_.projs[pi];
    const auto& blk = lp.blocks[thread];
    const auto ti = static_cast<std::size_t>(lp.info.target);
    const auto& range = c_.targets[ti].blocks[thread];
    if (!lp.readout) {
      advance(pi, thread, s.L_active ? (*s.L)[ti].data() : nullptr, s.R_active ? (*s.R)[ti].data() : nullptr);
      continue;
    }
    if (!s.L_active) continue;
    Real* g = g_.data() + blk.offset;
    for (std::size_t r = 0; r < blk.rows(); ++r) {
      const double e = s.err[range.begin + r];
      if (e == 0.0) continue;
      const std::uint32_t a = blk.row[r];
      readout_row<Real>(e, blk.row[r + 1] - a, blk.src.data() + a, state_[pi].ev.data(), g + a);
    }
  }
  for (std::size_t i = 0; i < targets_.size(); ++i) {
    if (c_.targets[i].readout) continue;
    auto& tg = targets_[i];
    const auto& range = c_.targets[i].blocks[thread];
    for (Gid j = range.begin; j < range.end; ++j) {
      tg.idle[j] = tg.busy[j] ? 0u : tg.idle[j] + 1u;
      tg.psi_prev[j] = tg.view.psi[j];
    }
  }
}

// Advances the traces of the busy rows of one thread block of a projection onto learning-form
// neurons, first applying the decay they owe, and accumulates L_j ebar_ji + R_j e_ji where the
// signals (null: zero) are non-zero.
template <class Real>
void EpropTrial<Real>::advance(std::size_t pi, std::size_t thread, const double* L, const double* R) {
  const auto& lp = layout_.projs[pi];
  const auto& blk = lp.blocks[thread];
  auto& st = state_[pi];
  const auto& tg = targets_[static_cast<std::size_t>(lp.info.target)];
  const auto& range = c_.targets[static_cast<std::size_t>(lp.info.target)].blocks[thread];
  RowStep c;
  c.rho = tg.view.rho;
  c.kappa = c_.filter_kappa;
  const Real* ev = st.ev.data();
  const Real* ev_prev = st.ev_prev.data();
  Real* eb_all = st.eb[thread].data();
  Real* ea_all = st.ea[thread].data();
  Real* g_all = g_.data() + blk.offset;
  const bool adaptive_proj = rule_.projs_[pi].adaptive;
  for (std::size_t r = 0; r < blk.rows(); ++r) {
    const std::size_t j = range.begin + r;
    if (!tg.busy[j]) continue;
    c.psi_prev = tg.psi_prev[j];
    c.psi = tg.view.psi[j];
    c.beta = tg.view.beta ? tg.view.beta[j] : 0.0;
    c.L = L ? L[j] : 0.0;
    c.R = R ? R[j] : 0.0;
    const std::uint32_t a = blk.row[r];
    const std::size_t n = blk.row[r + 1] - a;
    const std::uint32_t* src = blk.src.data() + a;
    Real* eb = eb_all + a;
    Real* g = g_all + a;
    const bool adaptive = adaptive_proj && c.beta != 0.0;
    const auto owed = tg.idle[j];
    c.owed_b = owed ? power(rule_.kappa_squares_, owed) : 1.0;
    c.owed_a = owed && adaptive ? power(tg.rho_squares, owed) : 1.0;
    Real* ea = adaptive ? ea_all + a : nullptr;
    const bool l = c.L != 0.0, q = c.R != 0.0;
    // The kernel for this row's case: adaptive or not, which signals, contiguous sources or not.
    auto run = [&]<bool kA, bool kD>() {
      if (l && q)
        eprop_row<Real, kA, true, true, kD>(c, n, src, ev_prev, ev, ea, eb, g);
      else if (l)
        eprop_row<Real, kA, true, false, kD>(c, n, src, ev_prev, ev, ea, eb, g);
      else if (q)
        eprop_row<Real, kA, false, true, kD>(c, n, src, ev_prev, ev, ea, eb, g);
      else
        eprop_row<Real, kA, false, false, kD>(c, n, src, ev_prev, ev, ea, eb, g);
    };
    const bool dense = blk.dense[r];
    if (adaptive && dense)
      run.template operator()<true, true>();
    else if (adaptive)
      run.template operator()<true, false>();
    else if (dense)
      run.template operator()<false, true>();
    else
      run.template operator()<false, false>();
  }
}

// Reward mode (SPEC 4.3): every row advances every step (no idle skipping: f decays and g takes
// delta f even where psi is zero), with reward_row / reward_readout_row.
template <class Real>
void EpropTrial<Real>::reward_parallel(int th, const Signals& s) {
  const auto thread = static_cast<std::size_t>(th);
  const double gamma = rule_.gamma_;
  const double delta = s.reward_active ? s.delta : 0.0;
  for (std::size_t pi = 0; pi < state_.size(); ++pi) {
    const auto& lp = layout_.projs[pi];
    const auto& blk = lp.blocks[thread];
    auto& st = state_[pi];
    const auto ti = static_cast<std::size_t>(lp.info.target);
    const auto& range = c_.targets[ti].blocks[thread];
    Real* g_all = g_.data() + blk.offset;
    Real* f_all = st.f[thread].data();
    if (lp.readout) {
      for (std::size_t r = 0; r < blk.rows(); ++r) {
        const std::size_t k = range.begin + r;
        const double e = s.L_active ? s.err[k] : 0.0;
        const double eh = s.H_active ? s.err_h[k] : 0.0;
        const std::uint32_t a = blk.row[r];
        reward_readout_row<Real>(e, eh, delta, gamma, blk.row[r + 1] - a, blk.src.data() + a, st.ev.data(),
                                 f_all + a, g_all + a);
      }
      continue;
    }
    const auto& tg = targets_[ti];
    const double* L = s.L_active ? (*s.L)[ti].data() : nullptr;
    const double* R = s.R_active ? (*s.R)[ti].data() : nullptr;
    const double* H = s.H_active ? (*s.H)[ti].data() : nullptr;
    RowStep c;
    c.rho = tg.view.rho;
    c.kappa = c_.filter_kappa;
    for (std::size_t r = 0; r < blk.rows(); ++r) {
      const std::size_t j = range.begin + r;
      c.psi_prev = tg.psi_prev[j];
      c.psi = tg.view.psi[j];
      c.beta = tg.view.beta ? tg.view.beta[j] : 0.0;
      c.L = L ? L[j] : 0.0;
      c.R = R ? R[j] : 0.0;
      const double h = H ? H[j] : 0.0;
      const std::uint32_t a = blk.row[r];
      const std::size_t n = blk.row[r + 1] - a;
      const std::uint32_t* src = blk.src.data() + a;
      const bool adaptive = rule_.projs_[pi].adaptive && c.beta != 0.0;
      Real* ea = adaptive ? st.ea[thread].data() + a : nullptr;
      Real* eb = st.eb[thread].data() + a;
      Real* f = f_all + a;
      Real* g = g_all + a;
      const Real* ev = st.ev.data();
      const Real* evp = st.ev_prev.data();
      const bool dense = blk.dense[r];
      if (adaptive && dense)
        reward_row<Real, true, true>(c, delta, gamma, h, n, src, evp, ev, ea, eb, f, g);
      else if (adaptive)
        reward_row<Real, true, false>(c, delta, gamma, h, n, src, evp, ev, ea, eb, f, g);
      else if (dense)
        reward_row<Real, false, true>(c, delta, gamma, h, n, src, evp, ev, ea, eb, f, g);
      else
        reward_row<Real, false, false>(c, delta, gamma, h, n, src, evp, ev, ea, eb, f, g);
    }
  }
  for (std::size_t i = 0; i < targets_.size(); ++i) {
    if (c_.targets[i].readout) continue;
    auto& tg = targets_[i];
    const auto& range = c_.targets[i].blocks[thread];
    for (Gid j = range.begin; j < range.end; ++j) tg.psi_prev[j] = tg.view.psi[j];
  }
}

const RuleRegistry::Add registered{{"eprop",
                                    "e-prop (SPEC 4.1): eligibility traces per synapse; lif and alif cells",
                                    {},
                                    true,
                                    [](const neuron::Population& m, const std::string& name) -> std::string {
                                      if (m.learning_view()->eprop) return {};
                                      return "e-prop's traces cover lif and alif cells only; train '" + name +
                                             "' cells with rule = \"d_rtrl\" or \"es_d_rtrl\"";
                                    },
                                    [](const Context& c, const Models& models, const Settings&,
                                       const Needs& needs) -> std::unique_ptr<Rule> {
                                      if (c.precision == Precision::Float64)
                                        return std::make_unique<Eprop<double>>(c, models, needs);
                                      return std::make_unique<Eprop<float>>(c, models, needs);
                                    }}};

}  // namespace
}  // namespace plexus::learning
