#pragma once
// The double-exponential synaptic filter of the FORCE networks (SPEC 4.4): a spike at time 0
// contributes the kernel
//     k(t) = (exp(-t/tau_d) - exp(-t/tau_r)) / (tau_d - tau_r),   t >= 0,
// which has unit area when time is measured in the filter's rate unit (1 s for "Hz", 1 ms for
// "kHz"), so a filtered spike train is a firing rate in that unit. The state is a pair (h, s):
// per step, what arrives (weights of spikes) is added to h, then
//     s <- rise * s + c * h,   h <- fall * h,      rise = exp(-dt/tau_r), fall = exp(-dt/tau_d),
// with c = (fall - rise) / (tau_d - tau_r), so that n steps after a spike that arrives at step 0,
// s = k((n + 1) dt) exactly. With the shortest transmission delay (one step), the current m steps
// after the presynaptic spike is therefore k(m dt). The reference code (Nicola & Clopath 2017) uses c = dt /
// (tau_r tau_d) instead, which samples the same shape with an area larger by about
// dt (1/tau_r + 1/tau_d) / 2 (1.4 % at dt = 0.05 ms). tau_r = 0 is the single exponential
// k(t) = exp(-t/tau_d) / tau_d; tau_r = tau_d the alpha function t exp(-t/tau) / tau^2.
//
// Neuron kernels filter their synaptic input with it, and the FORCE rule filters the network's
// spikes with the very same coefficients to form r, so that the decoded output and the recurrent
// currents see one filter.
#include <cmath>
#include <optional>
#include <string>
#include <string_view>

namespace plexus::neuron {

struct DoubleExponential {
  double tau_rise_ms = 2.0, tau_decay_ms = 20.0;
  double unit_ms = 1000.0;  // the rate unit's time: 1000 ms (Hz) or 1 ms (kHz)
  double rise = 0.0, fall = 0.0, c = 0.0;

  static DoubleExponential make(double tau_rise_ms, double tau_decay_ms, double dt_ms, double unit_ms) {
    DoubleExponential f;
    f.tau_rise_ms = tau_rise_ms;
    f.tau_decay_ms = tau_decay_ms;
    f.unit_ms = unit_ms;
    f.rise = tau_rise_ms > 0.0 ? std::exp(-dt_ms / tau_rise_ms) : 0.0;
    f.fall = std::exp(-dt_ms / tau_decay_ms);
    // In units of 1/unit: c carries the normalisation (ms -> the rate unit).
    if (std::fabs(tau_decay_ms - tau_rise_ms) < 1e-12 * tau_decay_ms)
      f.c = dt_ms * f.fall / (tau_decay_ms * tau_decay_ms) * unit_ms;
    else
      f.c = (f.fall - f.rise) / (tau_decay_ms - tau_rise_ms) * unit_ms;
    return f;
  }

  // The kernel k(t) in 1/unit, for t in ms (closed form; for tests and documentation).
  double kernel(double t_ms) const {
    if (t_ms < 0.0) return 0.0;
    const double td = tau_decay_ms, tr = tau_rise_ms;
    if (std::fabs(td - tr) < 1e-12 * td) return t_ms * std::exp(-t_ms / td) / (td * td) * unit_ms;
    const double rise_part = tr > 0.0 ? std::exp(-t_ms / tr) : 0.0;
    return (std::exp(-t_ms / td) - rise_part) / (td - tr) * unit_ms;
  }

  // One step of the filter for one neuron: `x` is what arrived this step (weights or spikes).
  void step(double& s, double& h, double x) const {
    h += x;
    s = rise * s + c * h;
    h *= fall;
  }

  // "Hz" -> 1000 ms, "kHz" -> 1 ms; nullopt for anything else.
  static std::optional<double> unit_of(std::string_view rate_unit) {
    if (rate_unit == "Hz") return 1000.0;
    if (rate_unit == "kHz") return 1.0;
    return std::nullopt;
  }
};

}  // namespace plexus::neuron
