#include "plexus/partition/partition.hpp"

#include <stdexcept>

namespace plexus::partition {

Partition::Partition(const model::Network& net, int n_ranks, std::vector<bool> replicated)
    : net_(&net), n_ranks_(n_ranks), replicated_(std::move(replicated)) {
  if (n_ranks < 1) throw std::invalid_argument("partition needs at least one rank");
  if (replicated_.size() != net.populations.size())
    throw std::invalid_argument("partition: one replicated flag per population expected");
}

IdRange Partition::local(int pop, int rank) const {
  const Gid n = net_->populations[pop].size;
  if (replicated_[pop]) return {0, n};
  return block(n, n_ranks_, rank);
}

int Partition::owner(Gid gid) const {
  const int pop = net_->population_of(gid);
  if (replicated_[pop]) return -1;
  const auto& p = net_->populations[pop];
  const std::uint64_t local = gid - p.first_gid;
  // Inverse of block(): the largest r with floor(n*r/R) <= local.
  int r = static_cast<int>((local * n_ranks_ + n_ranks_ - 1) / p.size);
  if (r >= n_ranks_) r = n_ranks_ - 1;
  while (r > 0 && block(p.size, n_ranks_, r).begin > local) --r;
  while (r + 1 < n_ranks_ && block(p.size, n_ranks_, r + 1).begin <= local) ++r;
  return r;
}

Gid Partition::owned_count(int rank) const {
  Gid total = 0;
  for (std::size_t p = 0; p < replicated_.size(); ++p)
    if (!replicated_[p]) total += local(static_cast<int>(p), rank).size();
  return total;
}

}  // namespace plexus::partition
