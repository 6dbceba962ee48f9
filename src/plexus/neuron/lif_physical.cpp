// Physical leaky integrate-and-fire neurons (SPEC 1.4): membrane in mV, currents in pA,
// conductances in nS, tau_m dV/dt = (E_L - V) + (I_syn + I_e) / g_L.
//
// Refractoriness: a neuron that spikes at step t is held at V_reset for steps t+1 .. t+n_ref-1 and
// may spike again at t+n_ref (n_ref = t_ref/dt), so the shortest interspike interval is t_ref (as
// in Brian2). Input that arrives during that time still enters the synaptic variables.
#include <array>
#include <cmath>

#include "plexus/core/fast_math.hpp"
#include "plexus/neuron/population.hpp"

namespace plexus::neuron {
namespace {

using model::Range;

struct Membrane {
  double tau_m, E_L, V_th, V_reset, g_L, I_e;
  double n_ref_after;  // refractory steps left after a spike: n_ref - 1 (0 if t_ref < 2 dt)

  static Membrane read(Params& p, double dt) {
    Membrane m{};
    m.tau_m = p.number("tau_m_ms", 20.0, Range::positive());
    m.E_L = p.number("E_L_mV", -60.0);
    m.V_th = p.number("V_th_mV", -50.0);
    m.V_reset = p.number("V_reset_mV", -60.0);
    m.g_L = p.number("g_L_nS", 10.0, Range::positive());
    m.I_e = p.number("I_e_pA", 0.0);
    const double t_ref = p.number("t_ref_ms", 5.0, Range::non_negative());
    const auto n_ref = steps_of(t_ref, dt);
    m.n_ref_after = n_ref > 0 ? static_cast<double>(n_ref - 1) : 0.0;
    if (m.V_reset >= m.V_th) p.fail("V_reset_mV", "must be below V_th_mV");
    return m;
  }
};

// --- conductance-based (COBA) ------------------------------------------------------------------
// Exponential integration over a step with the conductances held at their start-of-step values:
// V relaxes toward V_inf = (g_L E_L + g_e E_e + g_i E_i + I) / G with time constant tau_m g_L / G.
// The conductances then decay exactly by exp(-dt/tau).
// The kernel is a free function: GCC honours __restrict only on parameters, and without it the
// loop would not vectorise. Parameters are copied to locals and selects choose between values only.
void coba_kernel(const Membrane m, double E_e, double E_i, double dt_tau, double de, double di, std::size_t b,
                 std::size_t e, double* __restrict V, double* __restrict g_e, double* __restrict g_i,
                 double* __restrict ref, double* __restrict in_e, double* __restrict in_i,
                 const double* __restrict ext, double* __restrict z) {
  const double inv_gL = 1.0 / m.g_L, E_L = m.E_L, V_th = m.V_th, V_reset = m.V_reset, I_e = m.I_e;
  const double n_after = m.n_ref_after;
  for (std::size_t i = b; i < e; ++i) {
    const double ge = g_e[i] + in_e[i];
    const double gi = g_i[i] + in_i[i];
    in_e[i] = 0.0;
    in_i[i] = 0.0;
    const double G = 1.0 + (ge + gi) * inv_gL;
    const double v_inf = (E_L + (ge * E_e + gi * E_i + I_e + ext[i]) * inv_gL) / G;
    const double v_free = v_inf + (V[i] - v_inf) * exp_neg(G * dt_tau);
    const double r = ref[i];
    const double spike = ((r <= 0.0) & (v_free >= V_th)) ? 1.0 : 0.0;
    V[i] = ((r > 0.0) | (v_free >= V_th)) ? V_reset : v_free;
    const double r1 = r - 1.0;
    ref[i] = (r1 > 0.0 ? r1 : 0.0) + spike * n_after;  // exact: r is 0 whenever spike is 1
    g_e[i] = ge * de;
    g_i[i] = gi * di;
    z[i] = spike;
  }
}

class LifCoba final : public Population {
 public:
  explicit LifCoba(const Setup& s) : Population(s.local.size()) {
    Params p(s.spec);
    m_ = Membrane::read(p, s.dt_ms);
    E_e_ = p.number("E_e_mV", 0.0);
    E_i_ = p.number("E_i_mV", -80.0);
    const double tau_e = p.number("tau_e_ms", 5.0, Range::positive());
    const double tau_i = p.number("tau_i_ms", 10.0, Range::positive());
    p.finish();
    decay_e_ = std::exp(-s.dt_ms / tau_e);
    decay_i_ = std::exp(-s.dt_ms / tau_i);
    dt_tau_ = s.dt_ms / m_.tau_m;
    InitialState init(s, {"V_m", "g_e", "g_i"});
    init.fill("V_m", m_.E_L, V_);
    init.fill("g_e", 0.0, g_e_);
    init.fill("g_i", 0.0, g_i_);
    ref_.assign(n_, 0.0);
  }
  std::span<const Receptor> receptors() const override { return receptors_; }
  std::string current_unit() const override { return "pA"; }
  std::vector<std::string> variables() const override { return {"V_m", "g_e", "g_i"}; }
  std::string unit(std::string_view v) const override { return v == "V_m" ? "mV" : "nS"; }
  const double* variable(std::string_view v) const override {
    if (v == "V_m") return V_.data();
    if (v == "g_e") return g_e_.data();
    if (v == "g_i") return g_i_.data();
    return nullptr;
  }
  void update(Step, std::size_t b, std::size_t e, double* const* in, const double* i_ext,
              double* spikes) override {
    coba_kernel(m_, E_e_, E_i_, dt_tau_, decay_e_, decay_i_, b, e, V_.data(), g_e_.data(), g_i_.data(),
                ref_.data(), in[0], in[1], i_ext, spikes);
  }
  std::vector<StateArray> state() override {
    return {{"V_m", std::span(V_)},
            {"g_e", std::span(g_e_)},
            {"g_i", std::span(g_i_)},
            {"refractory", std::span(ref_)}};
  }
  std::size_t state_bytes() const override { return 4 * n_ * sizeof(double); }

 private:
  Membrane m_;
  double E_e_, E_i_, decay_e_, decay_i_, dt_tau_;
  std::vector<double> V_, g_e_, g_i_, ref_;
  std::array<Receptor, 2> receptors_{
      {{"exc", ReceptorKind::Excitatory, "nS"}, {"inh", ReceptorKind::Inhibitory, "nS"}}};
};

// --- current-based (CUBA), exponential synaptic currents ----------------------------------------
// Exact integration of the linear system: V and the two currents are propagated by their matrix
// exponential over one step (Rotter & Diesmann 1999).
struct CubaPropagators {
  double P_mm, P_ee, P_ii, c_e, c_i, c_ext;
};

void cuba_kernel(const Membrane m, const CubaPropagators P, std::size_t b, std::size_t e,
                 double* __restrict V, double* __restrict I_exc, double* __restrict I_inh,
                 double* __restrict ref, double* __restrict in_e, double* __restrict in_i,
                 const double* __restrict ext, double* __restrict z) {
  const double E_L = m.E_L, V_th = m.V_th, V_reset = m.V_reset, I_const = m.I_e, n_after = m.n_ref_after;
  const double P_mm = P.P_mm, P_ee = P.P_ee, P_ii = P.P_ii, c_e = P.c_e, c_i = P.c_i, c_ext = P.c_ext;
  for (std::size_t i = b; i < e; ++i) {
    const double ie = I_exc[i] + in_e[i];
    const double ii = I_inh[i] + in_i[i];
    in_e[i] = 0.0;
    in_i[i] = 0.0;
    const double v_free = E_L + (V[i] - E_L) * P_mm + (I_const + ext[i]) * c_ext + ie * c_e + ii * c_i;
    const double r = ref[i];
    const double spike = ((r <= 0.0) & (v_free >= V_th)) ? 1.0 : 0.0;
    V[i] = ((r > 0.0) | (v_free >= V_th)) ? V_reset : v_free;
    const double r1 = r - 1.0;
    ref[i] = (r1 > 0.0 ? r1 : 0.0) + spike * n_after;
    I_exc[i] = ie * P_ee;
    I_inh[i] = ii * P_ii;
    z[i] = spike;
  }
}

class LifCuba final : public Population {
 public:
  explicit LifCuba(const Setup& s) : Population(s.local.size()) {
    Params p(s.spec);
    m_ = Membrane::read(p, s.dt_ms);
    const double tau_e = p.number("tau_e_ms", 5.0, Range::positive());
    const double tau_i = p.number("tau_i_ms", 10.0, Range::positive());
    p.finish();
    const double dt = s.dt_ms, R = 1.0 / m_.g_L;
    P_mm_ = std::exp(-dt / m_.tau_m);
    P_ee_ = std::exp(-dt / tau_e);
    P_ii_ = std::exp(-dt / tau_i);
    c_e_ = coupling(R, m_.tau_m, tau_e, dt, P_mm_, P_ee_);
    c_i_ = coupling(R, m_.tau_m, tau_i, dt, P_mm_, P_ii_);
    c_ext_ = R * (1.0 - P_mm_);
    InitialState init(s, {"V_m", "I_exc", "I_inh"});
    init.fill("V_m", m_.E_L, V_);
    init.fill("I_exc", 0.0, I_e_);
    init.fill("I_inh", 0.0, I_i_);
    ref_.assign(n_, 0.0);
  }
  std::span<const Receptor> receptors() const override { return receptors_; }
  std::string current_unit() const override { return "pA"; }
  std::vector<std::string> variables() const override { return {"V_m", "I_exc", "I_inh"}; }
  std::string unit(std::string_view v) const override { return v == "V_m" ? "mV" : "pA"; }
  const double* variable(std::string_view v) const override {
    if (v == "V_m") return V_.data();
    if (v == "I_exc") return I_e_.data();
    if (v == "I_inh") return I_i_.data();
    return nullptr;
  }
  void update(Step, std::size_t b, std::size_t e, double* const* in, const double* i_ext,
              double* spikes) override {
    cuba_kernel(m_, {P_mm_, P_ee_, P_ii_, c_e_, c_i_, c_ext_}, b, e, V_.data(), I_e_.data(), I_i_.data(),
                ref_.data(), in[0], in[1], i_ext, spikes);
  }
  std::vector<StateArray> state() override {
    return {{"V_m", std::span(V_)},
            {"I_exc", std::span(I_e_)},
            {"I_inh", std::span(I_i_)},
            {"refractory", std::span(ref_)}};
  }
  std::size_t state_bytes() const override { return 4 * n_ * sizeof(double); }

 private:
  // Voltage change over one step caused by a unit synaptic current decaying with tau_s.
  static double coupling(double R, double tau_m, double tau_s, double dt, double P_mm, double P_ss) {
    if (std::fabs(tau_m - tau_s) < 1e-12 * tau_m) return R * (dt / tau_m) * P_mm;
    return R * tau_s / (tau_s - tau_m) * (P_ss - P_mm);
  }
  Membrane m_;
  double P_mm_, P_ee_, P_ii_, c_e_, c_i_, c_ext_;
  std::vector<double> V_, I_e_, I_i_, ref_;
  std::array<Receptor, 2> receptors_{
      {{"exc", ReceptorKind::Current, "pA"}, {"inh", ReceptorKind::Current, "pA"}}};
};

// --- delta synapses (Brunel 2000) ---------------------------------------------------------------
// Each input spike makes V jump by its weight (mV) at the end of the step it arrives in; input that
// arrives while the neuron is refractory is discarded (as NEST's iaf_psc_delta does by default).
void delta_kernel(const Membrane m, double P, double c_ext, std::size_t b, std::size_t e,
                  double* __restrict V, double* __restrict ref, double* __restrict jump,
                  const double* __restrict ext, double* __restrict z) {
  const double E_L = m.E_L, V_th = m.V_th, V_reset = m.V_reset, I_const = m.I_e, n_after = m.n_ref_after;
  for (std::size_t i = b; i < e; ++i) {
    const double v_free = E_L + (V[i] - E_L) * P + (I_const + ext[i]) * c_ext + jump[i];
    jump[i] = 0.0;
    const double r = ref[i];
    const double spike = ((r <= 0.0) & (v_free >= V_th)) ? 1.0 : 0.0;
    V[i] = ((r > 0.0) | (v_free >= V_th)) ? V_reset : v_free;
    const double r1 = r - 1.0;
    ref[i] = (r1 > 0.0 ? r1 : 0.0) + spike * n_after;
    z[i] = spike;
  }
}

class LifDelta final : public Population {
 public:
  explicit LifDelta(const Setup& s) : Population(s.local.size()) {
    Params p(s.spec);
    m_ = Membrane::read(p, s.dt_ms);
    p.finish();
    P_ = std::exp(-s.dt_ms / m_.tau_m);
    c_ext_ = (1.0 - P_) / m_.g_L;
    InitialState init(s, {"V_m"});
    init.fill("V_m", m_.E_L, V_);
    ref_.assign(n_, 0.0);
  }
  std::span<const Receptor> receptors() const override { return receptors_; }
  std::string current_unit() const override { return "pA"; }
  std::vector<std::string> variables() const override { return {"V_m"}; }
  std::string unit(std::string_view) const override { return "mV"; }
  const double* variable(std::string_view v) const override { return v == "V_m" ? V_.data() : nullptr; }
  void update(Step, std::size_t b, std::size_t e, double* const* in, const double* i_ext,
              double* spikes) override {
    delta_kernel(m_, P_, c_ext_, b, e, V_.data(), ref_.data(), in[0], i_ext, spikes);
  }
  std::vector<StateArray> state() override {
    return {{"V_m", std::span(V_)}, {"refractory", std::span(ref_)}};
  }
  std::size_t state_bytes() const override { return 2 * n_ * sizeof(double); }

 private:
  Membrane m_;
  double P_, c_ext_;
  std::vector<double> V_, ref_;
  std::array<Receptor, 1> receptors_{{{"in", ReceptorKind::Current, "mV"}}};
};

const Registry::Add coba{{"lif_coba", "LIF, conductance-based exponential synapses (mV, nS, pA)",
                          Phase::Update, true, [](const Setup& s) { return std::make_unique<LifCoba>(s); }}};
const Registry::Add cuba{{"lif_cuba", "LIF, current-based exponential synapses, exact integration (mV, pA)",
                          Phase::Update, true, [](const Setup& s) { return std::make_unique<LifCuba>(s); }}};
const Registry::Add delta{{"lif_delta", "LIF with delta synapses: input spikes make V jump (mV)",
                           Phase::Update, true,
                           [](const Setup& s) { return std::make_unique<LifDelta>(s); }}};

}  // namespace
}  // namespace plexus::neuron
