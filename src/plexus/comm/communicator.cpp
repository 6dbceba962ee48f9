#include "plexus/comm/communicator.hpp"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <stdexcept>

namespace plexus::comm {

void merge_sorted_runs(std::vector<Gid>& v, const std::vector<std::size_t>& bounds) {
  std::vector<std::size_t> b = bounds;
  while (b.size() > 2) {
    std::vector<std::size_t> next;
    for (std::size_t i = 0; i + 2 < b.size(); i += 2) {
      std::inplace_merge(v.begin() + static_cast<std::ptrdiff_t>(b[i]),
                         v.begin() + static_cast<std::ptrdiff_t>(b[i + 1]),
                         v.begin() + static_cast<std::ptrdiff_t>(b[i + 2]));
      next.push_back(b[i]);
    }
    if (b.size() % 2 == 0) next.push_back(b[b.size() - 2]);
    next.push_back(b.back());
    b.swap(next);
  }
}

bool launched_by_mpi() {
  for (const char* var :
       {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK", "SLURM_STEP_NUM_TASKS", "MPI_LOCALNRANKS"})
    if (std::getenv(var)) return true;
  return false;
}

namespace {

class Single final : public Communicator {
 public:
  int rank() const override { return 0; }
  int size() const override { return 1; }
  std::string kind() const override { return "single"; }
  void exchange_spikes(std::span<const Gid> local, std::vector<Gid>& global) override {
    global.assign(local.begin(), local.end());
    ++stats_.exchanges;
    stats_.spikes_sent += local.size();
    stats_.spikes_received += local.size();
  }
  std::vector<std::uint64_t> allgather(std::uint64_t v) override { return {v}; }
  std::vector<double> allgather(double v) override { return {v}; }
  double sum(double v) override { return v; }
  std::uint64_t sum(std::uint64_t v) override { return v; }
  int max(int v) override { return v; }
  void barrier() override {}
  void broadcast(std::string&, int) override {}
  void sum_in_rank_order(std::vector<double>&) override {}
  std::vector<std::vector<std::uint8_t>> allgather_bytes(std::span<const std::uint8_t> local) override {
    return {std::vector<std::uint8_t>(local.begin(), local.end())};
  }
  std::unique_ptr<Communicator> split(int, int) override { return std::make_unique<Single>(); }
};

class DryRun final : public Communicator {
 public:
  DryRun(int rank, int size, Synthesiser s) : rank_(rank), size_(size), synth_(std::move(s)) {
    if (size < 1 || rank < 0 || rank >= size)
      throw std::invalid_argument("dry run: rank must be in [0, size)");
  }
  int rank() const override { return rank_; }
  int size() const override { return size_; }
  std::string kind() const override { return "dry-run"; }
  void set_synthesiser(const Synthesiser& s) override { synth_ = s; }
  void exchange_spikes(std::span<const Gid> local, std::vector<Gid>& global) override {
    const auto t0 = std::chrono::steady_clock::now();
    global.clear();
    bounds_.assign(1, 0);
    for (int r = 0; r < size_; ++r) {
      if (r == rank_)
        global.insert(global.end(), local.begin(), local.end());
      else if (synth_)
        synth_(r, global);
      bounds_.push_back(global.size());
    }
    merge_sorted_runs(global, bounds_);
    ++stats_.exchanges;
    stats_.spikes_sent += local.size();
    stats_.spikes_received += global.size();
    // Traffic and buffers as the MPI implementation would have them (mpi_communicator.cpp): one
    // allgather of fixed slots, a second exact round when a rank overflows its slot, which then grows.
    std::size_t most = 0;
    for (std::size_t r = 0; r + 1 < bounds_.size(); ++r) most = std::max(most, bounds_[r + 1] - bounds_[r]);
    const auto R = static_cast<std::size_t>(size_);
    if (size_ > 1) {  // one rank exchanges nothing
      stats_.bytes_sent += slot_ * sizeof(Gid);
      stats_.bytes_received += slot_ * R * sizeof(Gid);
    }
    if (size_ > 1 && most + 1 > slot_) {
      ++stats_.retries;
      stats_.bytes_sent += local.size() * sizeof(Gid);
      stats_.bytes_received += global.size() * sizeof(Gid);
      while (slot_ < most + 1) slot_ *= 2;
    }
    stats_.seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  }
  std::size_t buffer_bytes() const override {
    if (size_ == 1) return 0;
    const auto R = static_cast<std::size_t>(size_);
    return (slot_ + slot_ * R) * sizeof(Gid) + R * (sizeof(std::uint32_t) + 2 * sizeof(int)) +
           (R + 1) * sizeof(std::size_t);
  }
  // Collectives answer as if every rank contributed the same value as this one.
  std::vector<std::uint64_t> allgather(std::uint64_t v) override {
    return std::vector<std::uint64_t>(size_, v);
  }
  std::vector<double> allgather(double v) override { return std::vector<double>(size_, v); }
  double sum(double v) override { return v * size_; }
  std::uint64_t sum(std::uint64_t v) override { return v * static_cast<std::uint64_t>(size_); }
  int max(int v) override { return v; }
  void barrier() override {}
  void broadcast(std::string&, int) override {}
  void sum_in_rank_order(std::vector<double>& values) override {
    for (auto& x : values) x *= size_;
  }
  std::vector<std::vector<std::uint8_t>> allgather_bytes(std::span<const std::uint8_t> local) override {
    return std::vector<std::vector<std::uint8_t>>(static_cast<std::size_t>(size_),
                                                  std::vector<std::uint8_t>(local.begin(), local.end()));
  }
  // A dry run plays one rank of one communicator; it is never split (training refuses dry runs).
  std::unique_ptr<Communicator> split(int, int) override {
    throw std::logic_error("a dry-run communicator cannot be split");
  }

 private:
  int rank_, size_;
  Synthesiser synth_;
  std::vector<std::size_t> bounds_;
  std::size_t slot_ = 64;  // as in the MPI implementation
};

}  // namespace

std::unique_ptr<Communicator> make_single() {
  return std::make_unique<Single>();
}

std::unique_ptr<Communicator> make_dry_run(int rank, int size, Synthesiser synthesise) {
  return std::make_unique<DryRun>(rank, size, std::move(synthesise));
}

}  // namespace plexus::comm
