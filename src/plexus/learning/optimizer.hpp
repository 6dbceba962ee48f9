#pragma once
// Optimisers for learning rules that produce gradients (SPEC 4.1): Adam and plain gradient
// descent, applied per synapse after each batch. Moments are stored in the rule's precision.
#include <cmath>
#include <cstdint>
#include <string>

namespace plexus::learning {

struct Optimizer {
  enum class Kind { Adam, Sgd };
  Kind kind = Kind::Adam;
  double learning_rate = 0.005;
  double beta1 = 0.9, beta2 = 0.999, epsilon = 1e-8;
  double decay = 1.0;              // learning rate multiplied by this ...
  std::int64_t decay_every = 100;  // ... after every this many updates
  std::int64_t steps = 0;          // updates done so far (Adam's bias correction, the schedule)

  // Per update: the bias corrections of step `steps + 1`.
  struct Step {
    Kind kind;
    double lr, beta1, beta2, epsilon, correction1, correction2;
  };
  Step next() const {
    const double n = static_cast<double>(steps + 1);
    const std::int64_t periods = steps / decay_every;  // whole periods: a step schedule
    const double lr = learning_rate * std::pow(decay, static_cast<double>(periods));
    return {kind, lr, beta1, beta2, epsilon, 1.0 - std::pow(beta1, n), 1.0 - std::pow(beta2, n)};
  }

  // The weight change for gradient g (already scaled), updating the moments m and v.
  template <class Real>
  static double delta(const Step& s, double g, Real& m, Real& v) {
    if (s.kind == Kind::Sgd) return -s.lr * g;
    const double mn = s.beta1 * static_cast<double>(m) + (1.0 - s.beta1) * g;
    const double vn = s.beta2 * static_cast<double>(v) + (1.0 - s.beta2) * g * g;
    m = static_cast<Real>(mn);
    v = static_cast<Real>(vn);
    return -s.lr * (mn / s.correction1) / (std::sqrt(vn / s.correction2) + s.epsilon);
  }
};

}  // namespace plexus::learning
