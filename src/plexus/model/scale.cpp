#include "plexus/model/scale.hpp"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "plexus/core/error.hpp"

namespace plexus::model {
namespace {

// The distribution times c > 0, as a TOML inline table.
std::string scaled(const Distribution& d, double c) {
  auto bounds = [&] {
    std::string s;
    if (d.min) s += fmt::format(", min = {}", *d.min * c);
    if (d.max) s += fmt::format(", max = {}", *d.max * c);
    return s;
  };
  switch (d.kind) {
    case Distribution::Kind::Constant:
      return fmt::format("{{dist = \"constant\", value = {}}}", d.a * c);
    case Distribution::Kind::Uniform:
      return fmt::format("{{dist = \"uniform\", low = {}, high = {}}}", d.a * c, d.b * c);
    case Distribution::Kind::Normal:
      return fmt::format("{{dist = \"normal\", mean = {}, std = {}{}}}", d.a * c, d.b * c, bounds());
    case Distribution::Kind::LogNormal:
      return fmt::format("{{dist = \"lognormal\", mu = {}, sigma = {}{}}}", d.a + std::log(c), d.b, bounds());
  }
  return {};
}

}  // namespace

bool scaled_model(std::string_view m) {
  return m != "task_input" && m != "poisson_source" && m != "spike_source" && m != "readout";
}

double scalable_neurons(const Network& net) {
  double n = 0;
  for (const auto& p : net.populations)
    if (scaled_model(p.model)) n += static_cast<double>(p.size);
  return n;
}

std::vector<std::string> scale_overrides(const Network& base, double f, ScaleKeep keep) {
  std::vector<std::string> sets;
  std::vector<bool> scaled_pop(base.populations.size(), false);
  for (const auto& p : base.populations) {
    if (!scaled_model(p.model)) continue;
    scaled_pop[static_cast<std::size_t>(p.index)] = true;
    sets.push_back(fmt::format("populations.{}.size={}", p.name,
                               std::max<long long>(1, std::llround(static_cast<double>(p.size) * f))));
  }
  for (const auto& pr : base.projections) {
    if (!scaled_pop[static_cast<std::size_t>(pr.source)]) continue;
    double growth = 1.0;  // of the mean in-degree
    switch (pr.rule) {
      case ConnectRule::AllToAll:
        growth = f;
        break;
      case ConnectRule::FixedProbability:
        if (keep == ScaleKeep::Indegree)
          sets.push_back(fmt::format("projections.{}.p={}", pr.name, std::min(1.0, pr.p / f)));
        else
          growth = f;
        break;
      case ConnectRule::FixedIndegree:
        if (keep == ScaleKeep::Probability)
          sets.push_back(
              fmt::format("projections.{}.indegree={}", pr.name,
                          std::max<long long>(1, std::llround(static_cast<double>(pr.indegree) * f))));
        break;
      case ConnectRule::FromFile:
        if (f != 1.0)
          throw UserError(fmt::format("projection '{}' is read from a file and cannot be scaled", pr.name));
        break;
    }
    if (growth != 1.0 && pr.weight)
      sets.push_back(
          fmt::format("projections.{}.weight={}", pr.name, scaled(*pr.weight, 1.0 / std::sqrt(growth))));
  }
  return sets;
}

}  // namespace plexus::model
