// The registry of objectives (objective.hpp): each adds itself from its own file.
#include <algorithm>
#include <stdexcept>

#include "plexus/train/gradient/objective.hpp"

namespace plexus::train::gradient {

ObjectiveRegistry& ObjectiveRegistry::mutable_instance() {
  static ObjectiveRegistry r;
  return r;
}

const ObjectiveRegistry& ObjectiveRegistry::get() {
  return mutable_instance();
}

ObjectiveRegistry::Add::Add(ObjectiveInfo info) {
  auto& r = mutable_instance();
  if (r.find(info.mode)) throw std::logic_error("objective '" + info.mode + "' registered twice");
  r.objectives_.push_back(std::move(info));
}

const ObjectiveInfo* ObjectiveRegistry::find(const std::string& mode) const {
  for (const auto& o : objectives_)
    if (o.mode == mode) return &o;
  return nullptr;
}

std::vector<std::string> ObjectiveRegistry::modes() const {
  std::vector<std::string> out;
  for (const auto& o : objectives_) out.push_back(o.mode);
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace plexus::train::gradient
