// The leaky integrate-and-fire neuron of the FORCE spiking networks (SPEC 4.4; Nicola & Clopath
// 2017), in mV with no separate resting potential:
//   tau_m dv/dt = -v + I,   I = bias + I_syn + I_ext,
// forward Euler with step dt (as in the reference code); v >= v_peak: spike, v <- v_reset, and v is
// held for t_ref after the spike step (so the shortest interval is t_ref + dt, as in the reference).
// I_syn is the double-exponentially filtered synaptic input (double_exponential.hpp): a spike of
// weight w adds w k(t), k of unit area in the rate unit, so weights are in mV s ("Hz") or mV ms
// ("kHz"). I_ext carries the decoded feedback Q eta x_hat during FORCE training.
#include <array>
#include <cmath>
#include <string>

#include <fmt/format.h>

#include "plexus/neuron/population.hpp"

namespace plexus::neuron {
namespace {

using model::Range;

struct LifForceParams {
  double dt_tau, v_reset, v_peak, bias, n_ref;
};

void kernel(const LifForceParams P, const DoubleExponential F, std::size_t b, std::size_t e,
            double* __restrict v, double* __restrict ref, double* __restrict syn, double* __restrict h,
            double* __restrict input, const double* __restrict ext, double* __restrict z) {
  const double dt_tau = P.dt_tau, v_reset = P.v_reset, v_peak = P.v_peak, bias = P.bias, n_ref = P.n_ref;
  const double rise = F.rise, fall = F.fall, c = F.c;
  for (std::size_t i = b; i < e; ++i) {
    const double hi = h[i] + input[i];
    input[i] = 0.0;
    const double vi = v[i];
    const double I = bias + syn[i] + ext[i];
    const double r = ref[i];
    const double v1 = r > 0.0 ? vi : vi + dt_tau * (I - vi);
    const double spike = v1 >= v_peak ? 1.0 : 0.0;  // never while refractory: v is v_reset then
    v[i] = v1 >= v_peak ? v_reset : v1;
    const double r1 = r - 1.0;
    ref[i] = (r1 > 0.0 ? r1 : 0.0) + spike * n_ref;
    syn[i] = rise * syn[i] + c * hi;
    h[i] = fall * hi;
    z[i] = spike;
  }
}

class LifForce final : public Population {
 public:
  explicit LifForce(const Setup& s) : Population(s.local.size()) {
    Params p(s.spec);
    const double tau_m = p.number("tau_m_ms", 10.0, Range::positive());
    const double t_ref = p.number("t_ref_ms", 2.0, Range::non_negative());
    p_.v_reset = p.number("v_reset_mV", -65.0);
    p_.v_peak = p.number("v_peak_mV", -40.0);
    p_.bias = p.number("bias_mV", -40.0);
    const double tau_r = p.number("tau_rise_ms", 2.0, Range::non_negative());
    const double tau_d = p.number("tau_decay_ms", 20.0, Range::positive());
    std::string unit = "Hz";
    if (auto n = p.node("rate_unit")) unit = n->as_string();
    p.finish();
    if (p_.v_reset >= p_.v_peak) p.fail("v_reset_mV", "must be below v_peak_mV");
    if (tau_r > tau_d) p.fail("tau_rise_ms", "must not exceed tau_decay_ms");
    const auto unit_ms = DoubleExponential::unit_of(unit);
    if (!unit_ms) p.fail("rate_unit", fmt::format("must be \"Hz\" or \"kHz\", not \"{}\"", unit));
    if (s.dt_ms >= tau_m) p.fail("tau_m_ms", "must be longer than the step dt (forward Euler)");
    p_.dt_tau = s.dt_ms / tau_m;
    p_.n_ref = static_cast<double>(steps_of(t_ref, s.dt_ms));
    filter_ = DoubleExponential::make(tau_r, tau_d, s.dt_ms, *unit_ms);
    receptors_[0] = {"in", ReceptorKind::Current, unit == "Hz" ? "mV*s" : "mV*ms"};
    InitialState init(s, {"v", "I_syn"});
    init.fill("v", p_.v_reset, v_);
    init.fill("I_syn", 0.0, syn_);
    h_.assign(n_, 0.0);
    ref_.assign(n_, 0.0);
  }
  std::span<const Receptor> receptors() const override { return receptors_; }
  std::string current_unit() const override { return "mV"; }
  std::vector<std::string> variables() const override { return {"v", "I_syn"}; }
  std::string unit(std::string_view) const override { return "mV"; }
  const double* variable(std::string_view v) const override {
    if (v == "v") return v_.data();
    if (v == "I_syn") return syn_.data();
    return nullptr;
  }
  void update(Step, std::size_t b, std::size_t e, double* const* in, const double* i_ext,
              double* spikes) override {
    kernel(p_, filter_, b, e, v_.data(), ref_.data(), syn_.data(), h_.data(), in[0], i_ext, spikes);
  }
  std::size_t state_bytes() const override { return 4 * n_ * sizeof(double); }
  std::vector<StateArray> state() override {
    return {{"v", std::span(v_)},
            {"refractory", std::span(ref_)},
            {"I_syn", std::span(syn_)},
            {"h", std::span(h_)}};
  }
  std::optional<DoubleExponential> synaptic_filter() const override { return filter_; }

 private:
  LifForceParams p_{};
  DoubleExponential filter_;
  std::vector<double> v_, ref_, syn_, h_;
  std::array<Receptor, 1> receptors_;
};

const Registry::Add reg{{"lif_force",
                         "LIF of FORCE networks (Nicola & Clopath 2017): Euler, double-exponential current "
                         "synapses",
                         Phase::Update, true, [](const Setup& s) { return std::make_unique<LifForce>(s); }}};

}  // namespace
}  // namespace plexus::neuron
