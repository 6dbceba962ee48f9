#pragma once
// The CPUs this process may run on.

namespace plexus::core {

// The number of CPUs in this process's affinity mask: what Slurm (or taskset) gave the rank, which on
// a cluster that binds tasks is --cpus-per-task, not the node's count. 0 if it cannot be read.
int allowed_cpus();

}  // namespace plexus::core
