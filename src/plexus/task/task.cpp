// The registry of trial tasks (task.hpp): each task adds itself from its own file.
#include "plexus/task/task.hpp"

#include <algorithm>
#include <stdexcept>

#include <fmt/format.h>

namespace plexus::task {

Registry& Registry::mutable_instance() {
  static Registry r;
  return r;
}

const Registry& Registry::get() {
  return mutable_instance();
}

Registry::Add::Add(Info info) {
  auto& r = mutable_instance();
  if (r.find(info.kind)) throw std::logic_error("task '" + info.kind + "' registered twice");
  r.tasks_.push_back(std::move(info));
}

const Registry::Info* Registry::find(std::string_view kind) const {
  for (const auto& t : tasks_)
    if (t.kind == kind) return &t;
  return nullptr;
}

std::vector<std::string> Registry::kinds() const {
  std::vector<std::string> out;
  for (const auto& t : tasks_) out.push_back(t.kind);
  std::sort(out.begin(), out.end());
  return out;
}

std::unique_ptr<Task> make(const model::Node& node, double dt_ms, std::uint64_t seed) {
  const auto& r = Registry::get();
  const auto kinds = r.kinds();
  const std::string kind = node.choice("kind", kinds);
  return r.find(kind)->make(node, dt_ms, seed);
}

}  // namespace plexus::task
