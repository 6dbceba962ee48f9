// Izhikevich (2007) neuron in the form used for FORCE training (SPEC 1.5):
//   C dv/dt = k (v - v_r)(v - v_t) - u + I,   du/dt = a (b (v_prev - v_r) - u)
//   v >= v_peak: v <- v_reset, u <- u + d
// Forward Euler; the u update uses the membrane value of the previous step. Synaptic input is a
// current (pA) that jumps by the weight and decays with tau_syn, or, with synapse =
// "double_exponential", the double-exponentially filtered input of the FORCE networks
// (double_exponential.hpp; weights in pA ms for rate unit "kHz", pA s for "Hz"), which takes effect
// from the step after its arrival, as in the reference code (Nicola & Clopath 2017).
#include <array>
#include <cmath>
#include <string>

#include <fmt/format.h>

#include "plexus/neuron/population.hpp"

namespace plexus::neuron {
namespace {

using model::Range;

struct IzhParams {
  double C, k, v_r, v_t, b, v_peak, v_reset, a, d, I_bias, dt, decay;
};

template <bool kDoubleExponential>
void kernel(const IzhParams P, const DoubleExponential F, std::size_t b, std::size_t e, double* __restrict v,
            double* __restrict u, double* __restrict syn, double* __restrict h, double* __restrict input,
            const double* __restrict ext, double* __restrict z) {
  const double dt_C = P.dt / P.C, dt = P.dt, k = P.k, v_r = P.v_r, v_t = P.v_t, a = P.a, bb = P.b, d = P.d;
  const double v_peak = P.v_peak, v_reset = P.v_reset, I_bias = P.I_bias, decay = P.decay;
  const double rise = F.rise, fall = F.fall, c = F.c;
  for (std::size_t i = b; i < e; ++i) {
    double s;
    if constexpr (kDoubleExponential) {
      const double hi = h[i] + input[i];
      s = syn[i];
      syn[i] = rise * s + c * hi;
      h[i] = fall * hi;
    } else {
      s = syn[i] + input[i];
      syn[i] = s * decay;
    }
    input[i] = 0.0;
    const double I = I_bias + s + ext[i];
    const double v0 = v[i];
    const double v1 = v0 + dt_C * (k * (v0 - v_r) * (v0 - v_t) - u[i] + I);
    const double u1 = u[i] + dt * a * (bb * (v0 - v_r) - u[i]);
    const double spike = v1 >= v_peak ? 1.0 : 0.0;
    v[i] = v1 >= v_peak ? v_reset : v1;
    u[i] = u1 + spike * d;
    z[i] = spike;
  }
}

class Izhikevich final : public Population {
 public:
  explicit Izhikevich(const Setup& s) : Population(s.local.size()) {
    Params p(s.spec);
    p_.C = p.number("C_pF", 250.0, Range::positive());
    p_.k = p.number("k_nS_per_mV", 2.5, Range::positive());
    p_.v_r = p.number("v_r_mV", -60.0);
    p_.b = p.number("b_nS", -2.0);
    p_.v_t = p.number("v_t_mV", p_.v_r + 40.0 - p_.b / p_.k);
    p_.v_peak = p.number("v_peak_mV", 30.0);
    p_.v_reset = p.number("v_reset_mV", -65.0);
    p_.a = p.number("a_per_ms", 0.01, Range::non_negative());
    p_.d = p.number("d_pA", 200.0);
    p_.I_bias = p.number("I_bias_pA", 1000.0);
    std::string synapse = "exponential";
    if (auto n = p.node("synapse")) synapse = n->as_string();
    if (synapse != "exponential" && synapse != "double_exponential")
      p.fail("synapse",
             fmt::format("must be \"exponential\" or \"double_exponential\", not \"{}\"", synapse));
    double_exp_ = synapse == "double_exponential";
    p_.dt = s.dt_ms;
    if (double_exp_) {
      const double tau_r = p.number("tau_rise_ms", 2.0, Range::non_negative());
      const double tau_d = p.number("tau_decay_ms", 20.0, Range::positive());
      std::string unit = "kHz";
      if (auto n = p.node("rate_unit")) unit = n->as_string();
      p.finish();
      if (tau_r > tau_d) p.fail("tau_rise_ms", "must not exceed tau_decay_ms");
      const auto unit_ms = DoubleExponential::unit_of(unit);
      if (!unit_ms) p.fail("rate_unit", fmt::format("must be \"Hz\" or \"kHz\", not \"{}\"", unit));
      filter_ = DoubleExponential::make(tau_r, tau_d, s.dt_ms, *unit_ms);
      receptors_[0].weight_unit = unit == "Hz" ? "pA*s" : "pA*ms";
    } else {
      const double tau_syn = p.number("tau_syn_ms", 20.0, Range::positive());
      p.finish();
      p_.decay = std::exp(-p_.dt / tau_syn);
    }
    if (p_.v_reset >= p_.v_peak) p.fail("v_reset_mV", "must be below v_peak_mV");
    InitialState init(s, {"v", "u", "I_syn"});
    init.fill("v", p_.v_r, v_);
    init.fill("u", 0.0, u_);
    init.fill("I_syn", 0.0, s_);
    if (double_exp_) h_.assign(n_, 0.0);
  }
  std::span<const Receptor> receptors() const override { return receptors_; }
  std::string current_unit() const override { return "pA"; }
  std::vector<std::string> variables() const override { return {"v", "u", "I_syn"}; }
  std::string unit(std::string_view v) const override { return v == "v" ? "mV" : "pA"; }
  const double* variable(std::string_view v) const override {
    if (v == "v") return v_.data();
    if (v == "u") return u_.data();
    if (v == "I_syn") return s_.data();
    return nullptr;
  }
  void update(Step, std::size_t b, std::size_t e, double* const* in, const double* i_ext,
              double* spikes) override {
    if (double_exp_)
      kernel<true>(p_, filter_, b, e, v_.data(), u_.data(), s_.data(), h_.data(), in[0], i_ext, spikes);
    else
      kernel<false>(p_, filter_, b, e, v_.data(), u_.data(), s_.data(), nullptr, in[0], i_ext, spikes);
  }
  std::size_t state_bytes() const override {
    return (v_.size() + u_.size() + s_.size() + h_.size()) * sizeof(double);
  }
  std::optional<DoubleExponential> synaptic_filter() const override {
    if (double_exp_) return filter_;
    return std::nullopt;
  }
  std::vector<StateArray> state() override {
    std::vector<StateArray> out{{"v", std::span(v_)}, {"u", std::span(u_)}, {"I_syn", std::span(s_)}};
    if (double_exp_) out.push_back({"h", std::span(h_)});  // the rise variable of the double exponential
    return out;
  }

 private:
  IzhParams p_{};
  bool double_exp_ = false;
  DoubleExponential filter_;
  std::vector<double> v_, u_, s_, h_;
  std::array<Receptor, 1> receptors_{{{"in", ReceptorKind::Current, "pA"}}};
};

const Registry::Add reg{{"izhikevich", "Izhikevich (2007) quadratic neuron, FORCE parameters by default",
                         Phase::Update, true,
                         [](const Setup& s) { return std::make_unique<Izhikevich>(s); }}};

}  // namespace
}  // namespace plexus::neuron
