#pragma once
// Target signals for FORCE training (SPEC 4.4): a pure function of time (and, for a trace, of the
// file it is read from), so every rank computes the same values. Read from `[task]` with
// `kind = "signal"`:
//   shape = "sine"          amplitude, frequency_hz, phase_deg, offset
//   shape = "sawtooth"      amplitude, frequency_hz, phase_deg, offset, width (rises from -A to A
//                           over `width` of the period, falls over the rest: 1 a ramp, 0.5 a triangle)
//   shape = "sine_product"  amplitude, frequencies_hz = [f1, f2, ...], offset: A prod sin(2 pi f_i t)
//   shape = "van_der_pol"   mu (0.3 harmonic, 5 relaxation), time_scale_ms, amplitude, components
//   shape = "lorenz"        sigma, rho, beta, time_scale_ms, amplitude, z_offset, components
//   shape = "file"          file (text: one row per sample, one column per output), sample_ms,
//                           columns, amplitude, periodic
// The value at step t is the signal at time (t + 1) dt, the time of the state after step t (as
// sampled traces are stamped; see docs/result-file.md).
#include <cstdint>
#include <string>
#include <vector>

#include "plexus/core/types.hpp"
#include "plexus/model/config.hpp"

namespace plexus::task {

class Signal {
 public:
  // Reads `node` ([task], kind = "signal") and computes the signal for steps [0, steps). Throws
  // ConfigError for a bad key or file.
  static Signal make(const model::Node& node, double dt_ms, Step steps);

  std::size_t outputs() const { return names_.size(); }
  Step steps() const { return steps_; }
  // outputs() values at step t (0 <= t < steps()).
  const double* at(Step t) const { return values_.data() + static_cast<std::size_t>(t) * outputs(); }
  const std::vector<std::string>& names() const { return names_; }
  const std::string& shape() const { return shape_; }
  std::string describe() const { return description_; }

 private:
  // The shapes (signal.cpp), each filling values_, names_ and description_.
  void periodic(const model::Node& n, double dt_ms);  // sine, sawtooth
  void sine_product(const model::Node& n, double dt_ms);
  void van_der_pol(const model::Node& n, double dt_ms);
  void lorenz(const model::Node& n, double dt_ms);
  void from_file(const model::Node& n, double dt_ms);
  std::string shape_, description_;
  std::vector<std::string> names_;
  Step steps_ = 0;
  std::vector<double> values_;  // steps x outputs, row-major
};

}  // namespace plexus::task
