// The registry of gradient-based learning rules (rule.hpp): each rule adds itself from its own file.
#include <algorithm>
#include <stdexcept>

#include "plexus/learning/rule.hpp"

namespace plexus::learning {

RuleRegistry& RuleRegistry::mutable_instance() {
  static RuleRegistry r;
  return r;
}

const RuleRegistry& RuleRegistry::get() {
  return mutable_instance();
}

RuleRegistry::Add::Add(RuleInfo info) {
  auto& r = mutable_instance();
  if (r.find(info.name)) throw std::logic_error("learning rule '" + info.name + "' registered twice");
  r.rules_.push_back(std::move(info));
}

const RuleInfo* RuleRegistry::find(std::string_view name) const {
  for (const auto& r : rules_)
    if (r.name == name) return &r;
  return nullptr;
}

std::vector<std::string> RuleRegistry::names() const {
  std::vector<std::string> out;
  for (const auto& r : rules_) out.push_back(r.name);
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace plexus::learning
