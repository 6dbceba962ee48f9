#pragma once
// Things of one kind that register themselves from their own source file (neuron models, learning
// rules, tasks, objectives, run kinds): a file adds its entry with a static `Registry<Info>::Add`
// object, so there is no central list to edit. Entries are added during static initialisation and
// only read afterwards. `Info` has a `name`; a second entry of the same name is a programming error.
// The libraries that hold registering files are linked whole, so that files nobody names are kept
// (src/plexus/CMakeLists.txt).
#include <algorithm>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace plexus::core {

template <class Info>
class Registry {
 public:
  static const Registry& get() { return instance(); }

  const Info* find(std::string_view name) const {
    for (const auto& i : items_)
      if (i.name == name) return &i;
    return nullptr;
  }
  // Names, sorted (for messages and listings).
  std::vector<std::string> names() const {
    std::vector<std::string> out;
    for (const auto& i : items_) out.push_back(i.name);
    std::sort(out.begin(), out.end());
    return out;
  }
  const std::vector<Info>& all() const { return items_; }

  struct Add {
    explicit Add(Info info) {
      auto& r = instance();
      if (r.find(info.name)) throw std::logic_error("'" + info.name + "' registered twice");
      r.items_.push_back(std::move(info));
    }
  };

 private:
  static Registry& instance() {
    static Registry r;
    return r;
  }
  std::vector<Info> items_;
};

}  // namespace plexus::core
