#include "plexus/core/affinity.hpp"

#include <sched.h>

namespace plexus::core {

int allowed_cpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) != 0) return 0;
  return CPU_COUNT(&set);
}

}  // namespace plexus::core
