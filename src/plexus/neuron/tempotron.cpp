// The tempotron (SPEC 4.5) stepped on the time grid, for `plexus run`: V(t) = sum of weighted
// kernels K(t - t_i) = V0 (exp(-(t - t_i)/tau) - exp(-(t - t_i)/tau_s)), peak normalised to 1.
// The two exponentials are kept as two traces, so V is exact at every step for inputs on the grid
// (training uses the event-based form in learning/tempotron.cpp, which needs no grid at all).
// An input arriving at step t counts from step t on, where it adds K(0) = 0. When V reaches the
// threshold the neuron spikes once and shunts every later input, so it fires at most once per run
// or trial, as a tempotron does per pattern.
#include <array>
#include <cmath>

#include "plexus/neuron/population.hpp"

namespace plexus::neuron {
namespace {

using model::Range;

void tempotron_kernel(double da, double db, double v0, double theta, std::size_t b, std::size_t e,
                      double* __restrict a, double* __restrict bb, double* __restrict V,
                      double* __restrict shunted, double* __restrict in, double* __restrict z) {
  for (std::size_t i = b; i < e; ++i) {
    const double x = shunted[i] > 0.0 ? 0.0 : in[i];
    in[i] = 0.0;
    const double ai = a[i] * da + x;
    const double bi = bb[i] * db + x;
    a[i] = ai;
    bb[i] = bi;
    const double v = v0 * (ai - bi);
    V[i] = v;
    const double spike = (shunted[i] <= 0.0 && v >= theta) ? 1.0 : 0.0;
    shunted[i] = shunted[i] > 0.0 ? 1.0 : spike;
    z[i] = spike;
  }
}

class Tempotron final : public Population {
 public:
  explicit Tempotron(const Setup& s) : Population(s.local.size()) {
    Params p(s.spec);
    const double tau = p.number("tau_ms", 15.0, Range::positive());
    const double tau_s = p.number("tau_s_ms", tau / 4.0, Range::positive());
    theta_ = p.number("threshold", 1.0, Range::positive());
    if (!(tau_s < tau)) p.fail("tau_s_ms", "must be shorter than tau_ms");
    p.finish();
    const double peak = std::log(tau / tau_s) / (1.0 / tau_s - 1.0 / tau);
    v0_ = 1.0 / (std::exp(-peak / tau) - std::exp(-peak / tau_s));
    da_ = std::exp(-s.dt_ms / tau);
    db_ = std::exp(-s.dt_ms / tau_s);
    a_.assign(n_, 0.0);
    b_.assign(n_, 0.0);
    V_.assign(n_, 0.0);
    shunted_.assign(n_, 0.0);
  }
  std::span<const Receptor> receptors() const override { return receptors_; }
  std::vector<std::string> variables() const override { return {"V", "shunted"}; }
  std::string unit(std::string_view) const override { return "1"; }
  const double* variable(std::string_view v) const override {
    if (v == "V") return V_.data();
    if (v == "shunted") return shunted_.data();
    return nullptr;
  }
  void update(Step, std::size_t b, std::size_t e, double* const* in, const double*, double* spikes) override {
    tempotron_kernel(da_, db_, v0_, theta_, b, e, a_.data(), b_.data(), V_.data(), shunted_.data(), in[0],
                     spikes);
  }
  std::size_t state_bytes() const override { return 4 * n_ * sizeof(double); }
  std::vector<StateArray> state() override {
    return {
        {"a", std::span(a_)}, {"b", std::span(b_)}, {"V", std::span(V_)}, {"shunted", std::span(shunted_)}};
  }

 private:
  double theta_, v0_, da_, db_;
  std::vector<double> a_, b_, V_, shunted_;
  std::array<Receptor, 1> receptors_{{{"in", ReceptorKind::Current, "1"}}};
};

const Registry::Add tempotron{
    {"tempotron",
     "Tempotron on the time grid (tau_ms, tau_s_ms, threshold); trained event-based by "
     "[train] rule = \"tempotron\"",
     Phase::Update, true, [](const Setup& s) { return std::make_unique<Tempotron>(s); }}};

}  // namespace
}  // namespace plexus::neuron
