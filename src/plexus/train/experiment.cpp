#include "plexus/train/experiment.hpp"

#include <algorithm>
#include <stdexcept>

namespace plexus::train {

ExperimentRegistry& ExperimentRegistry::mutable_instance() {
  static ExperimentRegistry r;
  return r;
}

const ExperimentRegistry& ExperimentRegistry::get() {
  return mutable_instance();
}

ExperimentRegistry::Add::Add(ExperimentInfo info) {
  auto& r = mutable_instance();
  if (r.find(info.name)) throw std::logic_error("experiment '" + info.name + "' registered twice");
  r.experiments_.push_back(std::move(info));
}

const ExperimentInfo* ExperimentRegistry::find(const std::string& name) const {
  for (const auto& e : experiments_)
    if (e.name == name) return &e;
  return nullptr;
}

const ExperimentInfo* ExperimentRegistry::for_rule(const std::string& rule) const {
  for (const auto& e : experiments_) {
    if (!e.rules) continue;
    const auto rs = e.rules();
    if (std::find(rs.begin(), rs.end(), rule) != rs.end()) return &e;
  }
  return nullptr;
}

std::vector<std::string> ExperimentRegistry::rules() const {
  std::vector<std::string> out;
  for (const auto& e : experiments_)
    if (e.rules)
      for (auto& r : e.rules()) out.push_back(std::move(r));
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace plexus::train
