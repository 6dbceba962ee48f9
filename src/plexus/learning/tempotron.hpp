#pragma once
// The tempotron (SPEC 4.5; Guetig & Sompolinsky 2006), event-based: the membrane potential is the
// exact sum of kernels
//     V(t) = sum_i w_i sum_{t_i < t} K(t - t_i),   K(t) = V0 (exp(-t/tau) - exp(-t/tau_s)),
// evaluated only at input spikes and at the one point between two input spikes where it can have a
// maximum, which is found in closed form. Nothing is put on a time grid.
//
// Between two input spikes V is  V0 (a e^{-u/tau} - b e^{-u/tau_s})  in the time u since the last
// input spike, with a = sum w_i e^{-(r - t_i)/tau} and b likewise with tau_s, both referred to the
// last input spike r. Referring them to r (and not to t = 0) keeps every exponent <= 0, so nothing
// overflows however long a pattern is. The interval has an interior maximum only if a > 0, b > 0
// and b tau > a tau_s, at u* = ln(b tau / (a tau_s)) / (1/tau_s - 1/tau); otherwise its largest
// value is at one of its ends.
//
// When V first reaches the threshold the tempotron spikes, and every later input is shunted: V goes
// on as the same two-exponential function of the inputs received before the spike, so its maximum
// after the spike is that function's peak (or the end of the pattern). Learning uses the time t_max
// of the largest value of this (shunted) potential: a missed positive pattern gets
//     dw_i = +lambda sum_{t_i < t_max, unshunted} K(t_max - t_i),
// a false alarm the same with -lambda, and nothing is learned from a correct answer. With momentum
// mu, each correction adds mu times the previous correction (Guetig & Sompolinsky's heuristic).
#include <cstddef>
#include <cstdint>
#include <vector>

namespace plexus::learning::tempotron {

// The normalised PSP kernel. tau_s < tau.
struct Kernel {
  double tau = 15.0, tau_s = 3.75;  // ms
  double v0 = 0.0;                  // normalisation: K(peak) = 1
  double peak = 0.0;                // ms, time of the kernel's maximum
  double inv_tau = 0.0, inv_tau_s = 0.0;

  // Throws std::invalid_argument unless 0 < tau_s < tau.
  static Kernel make(double tau_ms, double tau_s_ms);
  double operator()(double t) const;  // K(t); 0 for t <= 0
};

// Input spikes of one pattern in time order (ties: by afferent), times in [0, duration).
struct Pattern {
  std::vector<double> time;  // ms
  std::vector<std::uint32_t> afferent;
  std::size_t size() const { return time.size(); }
};

// A pattern with what depends only on it and the kernel precomputed: the decay factors from each
// input spike to the next (and from the last one to the end of the pattern).
struct Prepared {
  std::vector<double> time;
  std::vector<std::uint32_t> afferent;
  std::vector<double> gap;             // time to the next input spike (last: to the end), ms
  std::vector<double> decay, decay_s;  // exp(-gap/tau), exp(-gap/tau_s)
  double duration = 0.0;               // ms
  static Prepared make(const Kernel& k, const Pattern& p, double duration);
};

// What a tempotron does with one pattern.
struct Response {
  double v_max = 0.0;  // largest value of the (shunted) potential over [0, duration]
  double t_max = 0.0;  // ms, where it is reached (0 if V <= 0 throughout)
  bool fired = false;
  double t_spike = -1.0;  // ms, first threshold crossing (-1: none)
  // Inputs that act at t_max: the first `contributing` input spikes in time order (those before
  // t_max, and before the output spike when there is one; inputs after it are shunted).
  std::size_t contributing = 0;
};

// The tempotron's response to a prepared pattern with weights w (one per afferent).
Response respond(const Kernel& k, const Prepared& p, const double* w, double threshold);

// V(t) of the unshunted potential (every input before t counts), by direct summation. For tests
// and for checking a correction; O(inputs).
double potential(const Kernel& k, const Pattern& p, const double* w, double t);

// dV(t_max)/dw_i for the inputs that act at t_max, added into g (one value per afferent; g is not
// cleared).
void gradient(const Kernel& k, const Prepared& p, const Response& r, double* g);

// Learning state of one tempotron: weights and, with momentum, the previous correction.
struct Learner {
  double lambda = 1e-4;  // learning rate
  double mu = 0.0;       // momentum (0: none)
  double threshold = 1.0;
  std::vector<double> w, velocity, scratch;

  // Presents one pattern with its label (true: the tempotron should fire) and corrects the weights
  // if the answer was wrong. Returns true if the answer was right (nothing was learned).
  bool present(const Kernel& k, const Prepared& p, bool positive);
};

}  // namespace plexus::learning::tempotron
