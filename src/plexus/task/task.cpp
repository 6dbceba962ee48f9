// Making the task a model's [task] names, from the registered kinds (task.hpp).
#include "plexus/task/task.hpp"

namespace plexus::task {

std::unique_ptr<Task> make(const model::Node& node, double dt_ms, std::uint64_t seed) {
  const auto& r = Registry::get();
  const std::string kind = node.choice("kind", r.names());
  return r.find(kind)->make(node, dt_ms, seed);
}

}  // namespace plexus::task
