#pragma once
// The [train] settings of gradient training, with the selected rule's own table over them:
// [train.eprop], [train.d_rtrl], [train.es_d_rtrl] (one per registered rule) may hold any [train]
// key but "rule" and override it when that rule runs, so one model file carries settings tuned for
// each rule and `--set train.rule=R` alone switches rules. A --set of a [train] key still wins over
// the file's rule table (users shorten runs that way). The keys allowed are the driver's and those
// that every registered rule and objective declare.
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "plexus/learning/rule.hpp"
#include "plexus/model/config.hpp"

namespace plexus::train::gradient {

class TrainSettings final : public learning::Settings {
 public:
  // `train` is [train]; `keys` every key allowed in it besides "rule" and the rule tables.
  TrainSettings(const model::Node& train, const std::vector<std::string>& keys);

  const std::string& rule() const { return rule_; }
  // The keys whose values come from the rule's own table (for the progress line).
  std::vector<std::string> from_rule_table() const;

  // The table `key` is read from: --set train.R.k, --set train.k, [train.R] k, [train] k.
  const model::Node& in(std::string_view key) const;
  bool has(std::string_view k) const { return in(k).has(k); }
  model::Node at(std::string_view k) const { return in(k).at(k); }
  double number_or(std::string_view k, double def, model::Range r) const override {
    return in(k).number_or(k, def, r);
  }
  std::int64_t integer_or(std::string_view k, std::int64_t def, model::Range r = model::Range::any()) const {
    return in(k).integer_or(k, def, r);
  }
  std::string choice(std::string_view k, std::initializer_list<std::string_view> c, std::string def) const {
    return in(k).choice(k, c, def);
  }
  bool boolean_or(std::string_view k, bool def) const { return in(k).boolean_or(k, def); }
  [[noreturn]] void fail(const std::string& m) const { top_.fail(m); }
  const model::Node& node() const { return top_; }

 private:
  model::Node top_;
  std::optional<model::Node> own_;
  std::string rule_;
};

}  // namespace plexus::train::gradient
