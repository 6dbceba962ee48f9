// Leaky, non-spiking readout neurons (SPEC 1.6): y^t = kappa y^(t-1) + (1 - kappa) (sum_j W z_j^t + b).
// Readouts are advanced after the spike exchange (phase 6) on every rank, from the spikes of the
// same step arriving with delay 0, so every rank holds the same readout values without any further
// communication; learning signals can then be formed locally.
#include <array>
#include <cmath>

#include "plexus/neuron/population.hpp"

namespace plexus::neuron {
namespace {

using model::Range;

class Readout final : public Population {
 public:
  explicit Readout(const Setup& s) : Population(s.local.size()) {
    Params p(s.spec);
    const double tau = p.number("tau_out_ms", 20.0, Range::positive());
    bias_ = p.number("bias", 0.0);
    p.finish();
    kappa_ = std::exp(-s.dt_ms / tau);
    InitialState init(s, {"y"});
    init.fill("y", 0.0, y_);
  }
  std::span<const Receptor> receptors() const override { return receptors_; }
  std::string current_unit() const override { return "1"; }
  std::vector<std::string> variables() const override { return {"y"}; }
  std::string unit(std::string_view) const override { return "1"; }
  const double* variable(std::string_view v) const override { return v == "y" ? y_.data() : nullptr; }
  void update(Step, std::size_t b, std::size_t e, double* const* in, const double* i_ext,
              double* spikes) override {
    double* __restrict input = in[0];
    double* __restrict y = y_.data();
    const double* __restrict ext = i_ext;
    const double kappa = kappa_, bias = bias_;
    for (std::size_t i = b; i < e; ++i) {
      const double x = input[i] + bias + ext[i];
      input[i] = 0.0;
      y[i] = kappa * y[i] + (1.0 - kappa) * x;
      spikes[i] = 0.0;
    }
  }
  std::vector<StateArray> state() override { return {{"y", std::span(y_)}}; }
  std::size_t state_bytes() const override { return n_ * sizeof(double); }
  std::optional<LearningView> learning_view() const override {
    LearningView lv;
    lv.kappa = kappa_;
    lv.y = y_.data();
    return lv;
  }

 private:
  double kappa_, bias_;
  std::vector<double> y_;
  std::array<Receptor, 1> receptors_{{{"in", ReceptorKind::Current, "1"}}};
};

const Registry::Add reg{{"readout", "Leaky non-spiking readout (y = kappa y + (1 - kappa) W z)",
                         Phase::Readout, false, [](const Setup& s) { return std::make_unique<Readout>(s); }}};

}  // namespace
}  // namespace plexus::neuron
