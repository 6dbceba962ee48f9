#include "plexus/train/experiment.hpp"

#include <algorithm>

#include <fmt/format.h>

#include "plexus/core/error.hpp"
#include "plexus/learning/rule.hpp"

namespace plexus::train {

const ExperimentInfo* experiment_for_rule(const std::string& rule) {
  for (const auto& e : ExperimentRegistry::get().all()) {
    if (!e.rules) continue;
    const auto rs = e.rules();
    if (std::find(rs.begin(), rs.end(), rule) != rs.end()) return &e;
  }
  return nullptr;
}

std::vector<std::string> trainable_rules() {
  std::vector<std::string> out;
  for (const auto& e : ExperimentRegistry::get().all())
    if (e.rules)
      for (auto& r : e.rules()) out.push_back(std::move(r));
  std::sort(out.begin(), out.end());
  return out;
}

const ExperimentInfo& experiment_for(const std::string& command, const model::Network& net) {
  const auto& registry = ExperimentRegistry::get();
  if (command == "run") return *registry.find("simulate");
  if (command != "train") throw std::logic_error("experiment_for: unknown command '" + command + "'");
  if (!net.train)
    throw UserError(fmt::format("{}: no [train] section; 'plexus run' simulates models without training",
                                net.config.source_name()));
  const std::string rule = net.train->choice("rule", trainable_rules(), std::string(learning::kDefaultRule));
  return *experiment_for_rule(rule);
}

}  // namespace plexus::train
