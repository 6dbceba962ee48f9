#pragma once
// Which rank owns which neurons: a pure function of (network, number of ranks). Each population is
// cut into contiguous, nearly equal blocks, one per rank, so a rank's neurons of a population are a
// contiguous id range (which keeps recording and checkpoint offsets simple). Replicated populations
// (input generators, readouts) are computed in full on every rank and owned by none.
#include <vector>

#include "plexus/core/types.hpp"
#include "plexus/model/network.hpp"

namespace plexus::partition {

struct IdRange {
  Gid begin = 0;  // population-local ids [begin, end)
  Gid end = 0;
  Gid size() const { return end - begin; }
  bool contains(Gid i) const { return i >= begin && i < end; }
};

// The [begin, end) part `part` of `parts` equal contiguous parts of n items.
inline IdRange block(Gid n, int parts, int part) {
  const auto lo = static_cast<Gid>(static_cast<std::uint64_t>(n) * part / parts);
  const auto hi = static_cast<Gid>(static_cast<std::uint64_t>(n) * (part + 1) / parts);
  return {lo, hi};
}

class Partition {
 public:
  Partition(const model::Network& net, int n_ranks, std::vector<bool> replicated);

  int n_ranks() const { return n_ranks_; }
  bool replicated(int pop) const { return replicated_[pop]; }
  // Population-local ids that `rank` holds: its block, or everything for a replicated population.
  IdRange local(int pop, int rank) const;
  // Rank that owns `gid`, or -1 for a replicated population.
  int owner(Gid gid) const;
  // Neurons owned by `rank` (replicated ones not counted).
  Gid owned_count(int rank) const;

 private:
  const model::Network* net_;
  int n_ranks_;
  std::vector<bool> replicated_;
};

}  // namespace plexus::partition
