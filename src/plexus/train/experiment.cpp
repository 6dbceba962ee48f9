#include "plexus/train/experiment.hpp"

#include <algorithm>

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

}  // namespace plexus::train
