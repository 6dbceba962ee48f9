#pragma once
// Random (or constant) values read from a model file: `x = 1.5` or
// `x = { dist = "normal", mean = 1.5, std = 0.2, min = 0.0 }`.
#include <optional>
#include <string>

#include "plexus/core/rng.hpp"
#include "plexus/model/config.hpp"

namespace plexus::model {

struct Distribution {
  enum class Kind { Constant, Uniform, Normal, LogNormal };
  Kind kind = Kind::Constant;
  double a = 0.0;                  // constant value; uniform low; normal mean; lognormal mu (of the log)
  double b = 0.0;                  // uniform high; normal std; lognormal sigma
  std::optional<double> min, max;  // results are clipped to [min, max]

  static Distribution constant(double v) { return {Kind::Constant, v, 0.0, std::nullopt, std::nullopt}; }
  // Reads a number or a distribution table; every possible value must lie in `r`.
  static Distribution parse(const Node& n, Range r = Range::any());

  bool is_constant() const { return kind == Kind::Constant; }
  double sample(rng::Stream& s) const;
  // Bounds of the values sample() can return (may be infinite).
  double lowest() const;
  double highest() const;
  std::string describe() const;
};

}  // namespace plexus::model
