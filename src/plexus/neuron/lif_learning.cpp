// LIF, ALIF and GIF neurons in the dimensionless form of the e-prop literature (SPEC 1.1-1.3):
//   c_j^t = rho_c c_j^(t-1) + b_c z_j^(t-1)                        (GIF: spike-triggered current)
//   v_j^t = alpha v_j^(t-1) + I_j^t + c_j^t - v_th z_j^(t-1)        (soft reset by subtraction)
//   a_j^t = rho a_j^(t-1) + z_j^(t-1),  A_j^t = v_th + beta a_j^t   (ALIF, GIF; beta = 0 for LIF)
//   z_j^t = H(v_j^t - A_j^t) unless refractory
//   psi_j^t = gamma / v_th * max(0, 1 - |v_j^t - A_j^t| / v_th), 0 while refractory
// The pseudo-derivative psi is computed here, in the update, because the learning rules of the
// same step need it. Refractoriness follows Bellec et al.: r <- clip(r + n_ref z - 1, 0, n_ref),
// refractory while the previous r > 0, so a spike step is the first of n_ref silent steps.
// GIF (generalised integrate-and-fire, after the GIF cells of BrainScale) adds the adaptation
// current c with its own time constant, so that a cell's state is (v, a, c) and not just (v, a).
//
// State Jacobians (SPEC 4.2), h = (v), (v, a) or (v, a, c), with psi' = psi_j^(t-1) standing in
// for dz^(t-1)/d(v - A)^(t-1), so dz^(t-1)/dh^(t-1) = psi' (1, -beta, 0):
//   LIF   D = alpha - v_th psi'
//   ALIF  D = [[alpha - v_th psi', v_th beta psi'], [psi', rho - beta psi']]
//   GIF   D = [[alpha + (b_c - v_th) psi', -(b_c - v_th) beta psi', rho_c],
//              [psi',                      rho - beta psi',           0    ],
//              [b_c psi',                  -b_c beta psi',            rho_c]]
//   f = (1, 0, 0...),  s = dz^t/dh^t = psi (1, -beta, 0)
// These include the reset and jump paths through the cell's own spike, which e-prop's traces leave
// out; so D-RTRL is exact (equal to BPTT) on networks without recurrent weights.
#include <algorithm>
#include <array>
#include <cmath>

#include "plexus/neuron/population.hpp"

namespace plexus::neuron {
namespace {

using model::Range;

enum class Kind { Lif, Alif, Gif };

struct LearningParams {
  double v_th, alpha, rho, n_ref, gamma, rho_c, b_c;
};

template <Kind kKind>
void kernel(const LearningParams P, std::size_t b, std::size_t e, double* __restrict v, double* __restrict a,
            double* __restrict c, double* __restrict thr, double* __restrict psi, double* __restrict psi_prev,
            double* __restrict r, double* __restrict input, const double* __restrict ext,
            double* __restrict z, const double* __restrict beta) {
  constexpr bool kAdaptive = kKind != Kind::Lif;
  const double v_th = P.v_th, alpha = P.alpha, rho = P.rho, n_ref = P.n_ref, rho_c = P.rho_c, b_c = P.b_c;
  const double scale = P.gamma / P.v_th, inv_v_th = 1.0 / P.v_th;
  for (std::size_t i = b; i < e; ++i) {
    const double z_prev = z[i];
    double vi = alpha * v[i] + input[i] + ext[i] - v_th * z_prev;
    if constexpr (kKind == Kind::Gif) {
      const double ci = rho_c * c[i] + b_c * z_prev;
      c[i] = ci;
      vi += ci;
    }
    input[i] = 0.0;
    double A = v_th;
    if constexpr (kAdaptive) {
      const double ai = rho * a[i] + z_prev;
      a[i] = ai;
      A = v_th + beta[i] * ai;
      thr[i] = A;
    }
    const double ri = r[i];
    const double zi = ((ri <= 0.0) & (vi >= A)) ? 1.0 : 0.0;
    const double d = 1.0 - std::fabs(vi - A) * inv_v_th;
    psi_prev[i] = psi[i];
    psi[i] = ri > 0.0 ? 0.0 : scale * (d > 0.0 ? d : 0.0);
    const double rn = ri + zi * n_ref - 1.0;
    r[i] = rn > 0.0 ? (rn < n_ref ? rn : n_ref) : 0.0;
    v[i] = vi;
    z[i] = zi;
  }
}

template <Kind kKind>
class LifLearning final : public Population {
  static constexpr bool kAdaptive = kKind != Kind::Lif;
  static constexpr bool kCurrent = kKind == Kind::Gif;
  static constexpr std::size_t S = kKind == Kind::Lif ? 1 : kKind == Kind::Alif ? 2 : 3;

 public:
  explicit LifLearning(const Setup& s) : Population(s.local.size()) {
    Params p(s.spec);
    const double tau_m = p.number("tau_m_ms", 20.0, Range::positive());
    v_th_ = p.number("v_th", 0.6, Range::positive());
    n_ref_ = static_cast<double>(p.integer("n_ref", 5, Range::closed(0, 1e6)));
    gamma_ = p.number("gamma", 0.3, Range::non_negative());
    alpha_ = std::exp(-s.dt_ms / tau_m);
    std::int64_t lif_cells = 0;
    if constexpr (kAdaptive) {
      const double tau_a = p.number("tau_a_ms", 2000.0, Range::positive());
      rho_ = std::exp(-s.dt_ms / tau_a);
      beta_ = p.number("beta", 1.7 * (1.0 - rho_) / (1.0 - alpha_), Range::non_negative());
      // A population may mix LIF and ALIF cells (SPEC 1.2): its first `lif_cells` neurons have beta = 0.
      lif_cells = p.integer("lif_cells", 0, Range::closed(0, static_cast<double>(s.spec.size)));
    }
    if constexpr (kCurrent) {
      // The spike-triggered current: each spike adds b_c (negative: adapting, positive: bursting),
      // which decays with tau_c.
      rho_c_ = std::exp(-s.dt_ms / p.number("tau_c_ms", 200.0, Range::positive()));
      b_c_ = p.number("current_jump", -0.005);
    }
    p.finish();
    beta_of_.assign(n_, beta_);
    for (std::size_t i = 0; i < n_; ++i)
      if (static_cast<std::int64_t>(s.local.begin + i) < lif_cells) beta_of_[i] = 0.0;
    InitialState init(s, kCurrent    ? std::vector<std::string>{"v", "a", "c"}
                         : kAdaptive ? std::vector<std::string>{"v", "a"}
                                     : std::vector<std::string>{"v"});
    init.fill("v", 0.0, v_);
    if constexpr (kAdaptive) {
      init.fill("a", 0.0, a_);
      thr_.assign(n_, 0.0);
      for (std::size_t i = 0; i < n_; ++i) thr_[i] = v_th_ + beta_of_[i] * a_[i];
    }
    if constexpr (kCurrent) init.fill("c", 0.0, c_);
    psi_.assign(n_, 0.0);
    psi_prev_.assign(n_, 0.0);
    r_.assign(n_, 0.0);
  }
  std::span<const Receptor> receptors() const override { return receptors_; }
  std::string current_unit() const override { return "1"; }
  std::vector<std::string> variables() const override {
    if constexpr (kCurrent) return {"v", "a", "c", "threshold", "psi"};
    return kAdaptive ? std::vector<std::string>{"v", "a", "threshold", "psi"}
                     : std::vector<std::string>{"v", "psi"};
  }
  std::string unit(std::string_view) const override { return "1"; }
  const double* variable(std::string_view v) const override {
    if (v == "v") return v_.data();
    if (v == "psi") return psi_.data();
    if constexpr (kAdaptive) {
      if (v == "a") return a_.data();
      if (v == "threshold") return thr_.data();
    }
    if constexpr (kCurrent)
      if (v == "c") return c_.data();
    return nullptr;
  }
  void update(Step, std::size_t b, std::size_t e, double* const* in, const double* i_ext,
              double* spikes) override {
    kernel<kKind>({v_th_, alpha_, rho_, n_ref_, gamma_, rho_c_, b_c_}, b, e, v_.data(), a_.data(), c_.data(),
                  thr_.data(), psi_.data(), psi_prev_.data(), r_.data(), in[0], i_ext, spikes,
                  beta_of_.data());
  }
  std::vector<StateArray> state() override {
    std::vector<StateArray> s{{"v", std::span(v_)},
                              {"psi", std::span(psi_)},
                              {"psi_prev", std::span(psi_prev_)},
                              {"refractory", std::span(r_)}};
    if constexpr (kAdaptive) {
      s.push_back({"a", std::span(a_)});
      s.push_back({"threshold", std::span(thr_)});
    }
    if constexpr (kCurrent) s.push_back({"c", std::span(c_)});
    return s;
  }
  std::size_t state_bytes() const override {
    return ((kAdaptive ? 7 : 4) + (kCurrent ? 1 : 0)) * n_ * sizeof(double);
  }
  std::optional<LearningView> learning_view() const override {
    LearningView lv;
    lv.alpha = alpha_;
    lv.rho = rho_;
    lv.beta = kAdaptive ? beta_of_.data() : nullptr;
    lv.psi = psi_.data();
    lv.eprop = !kCurrent;
    return lv;
  }
  std::vector<std::string> jacobian_state() const override {
    if constexpr (kCurrent) return {"v", "a", "c"};
    return kAdaptive ? std::vector<std::string>{"v", "a"} : std::vector<std::string>{"v"};
  }
  void jacobian(std::size_t b, std::size_t e, double* D, double* f, double* s) const override {
    for (std::size_t i = b; i < e; ++i, D += S * S, f += S, s += S) {
      const double pp = psi_prev_[i], p = psi_[i];
      if constexpr (kKind == Kind::Lif) {
        D[0] = alpha_ - v_th_ * pp;
        f[0] = 1.0;
        s[0] = p;
      } else {
        const double beta = beta_of_[i];
        const double jump = (kCurrent ? b_c_ : 0.0) - v_th_;  // what z^(t-1) adds to v^t
        D[0] = alpha_ + jump * pp;
        D[1] = -jump * beta * pp;
        D[S] = pp;
        D[S + 1] = rho_ - beta * pp;
        f[0] = 1.0;
        f[1] = 0.0;
        s[0] = p;
        s[1] = -beta * p;
        if constexpr (kCurrent) {
          D[2] = rho_c_;
          D[5] = 0.0;
          D[6] = b_c_ * pp;
          D[7] = -b_c_ * beta * pp;
          D[8] = rho_c_;
          f[2] = 0.0;
          s[2] = 0.0;
        }
      }
    }
  }

 private:
  double v_th_, n_ref_, gamma_, alpha_, rho_ = 0.0, beta_ = 0.0, rho_c_ = 0.0, b_c_ = 0.0;
  std::vector<double> v_, a_, c_, thr_, psi_, psi_prev_, r_, beta_of_;
  std::array<Receptor, 1> receptors_{{{"in", ReceptorKind::Current, "1"}}};
};

const Registry::Add lif{{"lif", "LIF, dimensionless learning form (soft reset), with pseudo-derivative",
                         Phase::Update, true,
                         [](const Setup& s) { return std::make_unique<LifLearning<Kind::Lif>>(s); }}};
const Registry::Add alif{{"alif", "Adaptive-threshold LIF, learning form (Bellec et al. 2020)", Phase::Update,
                          true, [](const Setup& s) { return std::make_unique<LifLearning<Kind::Alif>>(s); }}};
const Registry::Add gif{
    {"gif", "Adaptive-threshold LIF with a spike-triggered adaptation current (GIF), learning form",
     Phase::Update, true, [](const Setup& s) { return std::make_unique<LifLearning<Kind::Gif>>(s); }}};

}  // namespace
}  // namespace plexus::neuron
