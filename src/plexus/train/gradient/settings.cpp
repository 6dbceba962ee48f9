#include "plexus/train/gradient/settings.hpp"

#include <fmt/format.h>

namespace plexus::train::gradient {

TrainSettings::TrainSettings(const model::Node& train, const std::vector<std::string>& keys) : top_(train) {
  const auto rules = learning::RuleRegistry::get().names();
  std::vector<std::string> allowed = keys;
  allowed.push_back("rule");
  allowed.insert(allowed.end(), rules.begin(), rules.end());
  top_.allow_only(allowed);
  rule_ = top_.choice("rule", rules, std::string(learning::kDefaultRule));
  for (const auto& r : rules)
    if (const auto t = top_.find(r)) {
      if (!t->is_table()) t->fail("must be a table of [train] settings for that rule");
      t->allow_only(keys);
    }
  own_ = top_.find(rule_);
}

const model::Node& TrainSettings::in(std::string_view key) const {
  const bool in_own = own_ && own_->has(key), in_top = top_.has(key);
  if (in_own && own_->at(key).from_override()) return *own_;
  if (in_top && top_.at(key).from_override()) return top_;
  return in_own ? *own_ : top_;
}

std::vector<std::string> TrainSettings::from_rule_table() const {
  std::vector<std::string> out;
  if (own_)
    for (const auto& k : own_->keys())
      if (&in(k) == &*own_) out.push_back(k);
  return out;
}

}  // namespace plexus::train::gradient
