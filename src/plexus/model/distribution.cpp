#include "plexus/model/distribution.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include <fmt/format.h>

namespace plexus::model {

Distribution Distribution::parse(const Node& n, Range r) {
  Distribution d;
  if (n.is_number()) {
    d = constant(n.as_number(r));
    return d;
  }
  if (!n.is_table())
    n.fail(
        "expected a number or a distribution table such as {dist = \"normal\", mean = 1, std = 0.1}, found " +
        n.type_name());
  const std::string kind = n.choice("dist", {"constant", "uniform", "normal", "lognormal"});
  if (kind == "constant") {
    n.allow_only({"dist", "value"});
    return constant(n.number("value", r));
  }
  if (kind == "uniform") {
    n.allow_only({"dist", "low", "high"});
    d.kind = Kind::Uniform;
    d.a = n.number("low");
    d.b = n.number("high");
    if (!(d.b > d.a)) n.at("high").fail("must be greater than 'low'");
  } else if (kind == "normal") {
    n.allow_only({"dist", "mean", "std", "min", "max"});
    d.kind = Kind::Normal;
    d.a = n.number("mean");
    d.b = n.number("std", Range::non_negative());
  } else {
    n.allow_only({"dist", "mu", "sigma", "min", "max"});
    d.kind = Kind::LogNormal;
    d.a = n.number("mu");
    d.b = n.number("sigma", Range::non_negative());
  }
  if (auto m = n.find("min")) d.min = m->as_number();
  if (auto m = n.find("max")) d.max = m->as_number();
  if (d.min && d.max && *d.min > *d.max) n.at("max").fail("must not be less than 'min'");
  // Every value the distribution can produce must be allowed.
  const double lo = d.lowest(), hi = d.highest();
  if ((r.min && (r.min_inclusive ? lo < *r.min : lo <= *r.min)) ||
      (r.max && (r.max_inclusive ? hi > *r.max : hi >= *r.max)))
    n.fail(fmt::format("{} can produce values outside the allowed range ({}); add 'min'/'max' to clip it",
                       d.describe(), r.describe()));
  return d;
}

double Distribution::sample(rng::Stream& s) const {
  double x = a;
  switch (kind) {
    case Kind::Constant:
      return a;
    case Kind::Uniform:
      x = s.uniform(a, b);
      break;
    case Kind::Normal:
      x = a + b * s.normal();
      break;
    case Kind::LogNormal:
      x = std::exp(a + b * s.normal());
      break;
  }
  if (min) x = std::max(x, *min);
  if (max) x = std::min(x, *max);
  return x;
}

double Distribution::lowest() const {
  const double inf = std::numeric_limits<double>::infinity();
  double lo = -inf;
  switch (kind) {
    case Kind::Constant:
      return a;
    case Kind::Uniform:
      lo = a;
      break;
    case Kind::Normal:
      lo = b == 0.0 ? a : -inf;
      break;
    case Kind::LogNormal:
      lo = 0.0;
      break;
  }
  return min ? std::max(lo, *min) : lo;
}

double Distribution::highest() const {
  const double inf = std::numeric_limits<double>::infinity();
  double hi = inf;
  switch (kind) {
    case Kind::Constant:
      return a;
    case Kind::Uniform:
      hi = b;
      break;
    case Kind::Normal:
      hi = b == 0.0 ? a : inf;
      break;
    case Kind::LogNormal:
      hi = inf;
      break;
  }
  return max ? std::min(hi, *max) : hi;
}

std::string Distribution::describe() const {
  switch (kind) {
    case Kind::Constant:
      return fmt::format("constant {}", a);
    case Kind::Uniform:
      return fmt::format("uniform [{}, {})", a, b);
    case Kind::Normal:
      return fmt::format("normal(mean {}, std {})", a, b);
    case Kind::LogNormal:
      return fmt::format("lognormal(mu {}, sigma {})", a, b);
  }
  return "?";
}

}  // namespace plexus::model
