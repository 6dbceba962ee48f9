// The MPI implementation: the only translation unit (with hdf5_access.cpp) that includes <mpi.h>.
#include <hdf5.h>
#include <mpi.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <stdexcept>
#include <string>

#include "plexus/comm/communicator.hpp"
#include "plexus/comm/watchdog.hpp"

namespace plexus::comm {

namespace {

void check(int rc, const char* what) {
  if (rc != MPI_SUCCESS) {
    char msg[MPI_MAX_ERROR_STRING];
    int len = 0;
    MPI_Error_string(rc, msg, &len);
    throw std::runtime_error(std::string("MPI failed in ") + what + ": " +
                             std::string(msg, static_cast<std::size_t>(len)));
  }
}

static_assert(sizeof(Gid) == 4, "spike exchange sends gids as MPI_UINT32_T");

class Mpi final : public Communicator {
 public:
  explicit Mpi(std::shared_ptr<Watchdog> watchdog) : Mpi(MPI_COMM_WORLD, true, std::move(watchdog)) {}
  // Takes `c` over (own = false: it is already this object's own, made by MPI_Comm_split).
  Mpi(MPI_Comm c, bool dup, std::shared_ptr<Watchdog> watchdog) : watchdog_(std::move(watchdog)) {
    if (dup)
      check(MPI_Comm_dup(c, &comm_), "MPI_Comm_dup");
    else
      comm_ = c;
    MPI_Comm_set_errhandler(comm_, MPI_ERRORS_RETURN);
    MPI_Comm_rank(comm_, &rank_);
    MPI_Comm_size(comm_, &size_);
  }
  ~Mpi() override {
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (!finalized) MPI_Comm_free(&comm_);
  }
  int rank() const override { return rank_; }
  int size() const override { return size_; }
  std::string kind() const override { return "mpi"; }
  bool parallel_io() const override { return true; }
  std::int64_t native_handle() const override { return static_cast<std::int64_t>(MPI_Comm_c2f(comm_)); }

  // One MPI_Allgather of fixed-size slots [count, gids...] per step. If some rank has more spikes
  // than fit, every rank sees that in the counts and a second, exact MPI_Allgatherv follows; the
  // slot then grows for later steps (all ranks grow it alike, since all saw the same counts).
  void exchange_spikes(std::span<const Gid> local, std::vector<Gid>& global) override {
    const auto t0 = std::chrono::steady_clock::now();
    const auto n = static_cast<std::uint32_t>(local.size());
    ++stats_.exchanges;
    stats_.spikes_sent += n;
    if (size_ == 1) {
      global.assign(local.begin(), local.end());
      stats_.spikes_received += n;
      stats_.seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      return;
    }
    send_.resize(slot_);
    send_[0] = n;
    const std::size_t fit = std::min<std::size_t>(n, slot_ - 1);
    std::copy(local.begin(), local.begin() + static_cast<std::ptrdiff_t>(fit), send_.begin() + 1);
    recv_.resize(slot_ * static_cast<std::size_t>(size_));
    const Watchdog::Wait wait(watch(), "the spike exchange (MPI_Allgather)");
    check(MPI_Allgather(send_.data(), static_cast<int>(slot_), MPI_UINT32_T, recv_.data(),
                        static_cast<int>(slot_), MPI_UINT32_T, comm_),
          "MPI_Allgather (spikes)");
    stats_.bytes_sent += slot_ * sizeof(Gid);
    stats_.bytes_received += recv_.size() * sizeof(Gid);

    std::uint32_t most = 0;
    counts_.resize(static_cast<std::size_t>(size_));
    for (int r = 0; r < size_; ++r) {
      counts_[r] = recv_[static_cast<std::size_t>(r) * slot_];
      most = std::max(most, counts_[r]);
    }
    global.clear();
    bounds_.assign(1, 0);
    if (most + 1 <= slot_) {
      for (int r = 0; r < size_; ++r) {
        const Gid* first = recv_.data() + static_cast<std::size_t>(r) * slot_ + 1;
        global.insert(global.end(), first, first + counts_[r]);
        bounds_.push_back(global.size());
      }
    } else {
      ++stats_.retries;
      displs_.resize(static_cast<std::size_t>(size_));
      icounts_.resize(static_cast<std::size_t>(size_));
      std::size_t total = 0;
      for (int r = 0; r < size_; ++r) {
        displs_[r] = static_cast<int>(total);
        icounts_[r] = static_cast<int>(counts_[r]);
        total += counts_[r];
        bounds_.push_back(total);
      }
      global.resize(total);
      check(MPI_Allgatherv(local.data(), static_cast<int>(n), MPI_UINT32_T, global.data(), icounts_.data(),
                           displs_.data(), MPI_UINT32_T, comm_),
            "MPI_Allgatherv (spikes)");
      stats_.bytes_sent += n * sizeof(Gid);
      stats_.bytes_received += total * sizeof(Gid);
      std::size_t want = slot_;
      while (want < most + 1) want *= 2;
      slot_ = want;
    }
    stats_.spikes_received += global.size();
    merge_sorted_runs(global, bounds_);
    stats_.seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  }

  Watchdog* watchdog() const override { return watch(); }
  void note_step(std::uint64_t step) override {
    if (watchdog_) watchdog_->note_step(step);
  }

  std::size_t buffer_bytes() const override {
    return (send_.capacity() + recv_.capacity()) * sizeof(Gid) + counts_.capacity() * sizeof(std::uint32_t) +
           (displs_.capacity() + icounts_.capacity()) * sizeof(int) +
           bounds_.capacity() * sizeof(std::size_t);
  }

  std::vector<std::uint64_t> allgather(std::uint64_t v) override {
    std::vector<std::uint64_t> out(static_cast<std::size_t>(size_));
    const Watchdog::Wait wait(watch(), "MPI_Allgather");
    check(MPI_Allgather(&v, 1, MPI_UINT64_T, out.data(), 1, MPI_UINT64_T, comm_), "MPI_Allgather");
    return out;
  }
  std::vector<double> allgather(double v) override {
    std::vector<double> out(static_cast<std::size_t>(size_));
    const Watchdog::Wait wait(watch(), "MPI_Allgather");
    check(MPI_Allgather(&v, 1, MPI_DOUBLE, out.data(), 1, MPI_DOUBLE, comm_), "MPI_Allgather");
    return out;
  }
  // Sums in rank order after an allgather: MPI_Allreduce may associate differently per rank count.
  double sum(double v) override {
    double s = 0.0;
    for (double x : allgather(v)) s += x;
    return s;
  }
  std::uint64_t sum(std::uint64_t v) override {
    std::uint64_t s = 0;
    const Watchdog::Wait wait(watch(), "MPI_Allreduce");
    check(MPI_Allreduce(&v, &s, 1, MPI_UINT64_T, MPI_SUM, comm_), "MPI_Allreduce");
    return s;
  }
  int max(int v) override {
    int m = 0;
    const Watchdog::Wait wait(watch(), "MPI_Allreduce");
    check(MPI_Allreduce(&v, &m, 1, MPI_INT, MPI_MAX, comm_), "MPI_Allreduce");
    return m;
  }
  void barrier() override {
    const Watchdog::Wait wait(watch(), "MPI_Barrier");
    check(MPI_Barrier(comm_), "MPI_Barrier");
  }
  void broadcast(std::string& text, int root) override {
    std::uint64_t len = text.size();
    const Watchdog::Wait wait(watch(), "MPI_Bcast");
    check(MPI_Bcast(&len, 1, MPI_UINT64_T, root, comm_), "MPI_Bcast");
    text.resize(len);
    check(MPI_Bcast(text.data(), static_cast<int>(len), MPI_CHAR, root, comm_), "MPI_Bcast");
  }
  std::vector<std::vector<std::uint8_t>> allgather_bytes(std::span<const std::uint8_t> local) override {
    const auto lengths = allgather(static_cast<std::uint64_t>(local.size()));
    std::vector<int> counts(static_cast<std::size_t>(size_)), displs(static_cast<std::size_t>(size_));
    std::size_t total = 0;
    for (int r = 0; r < size_; ++r) {
      displs[static_cast<std::size_t>(r)] = static_cast<int>(total);
      counts[static_cast<std::size_t>(r)] = static_cast<int>(lengths[static_cast<std::size_t>(r)]);
      total += lengths[static_cast<std::size_t>(r)];
    }
    if (total > static_cast<std::size_t>(std::numeric_limits<int>::max()))
      throw std::runtime_error("allgather_bytes: more than 2 GiB in one collective");
    std::vector<std::uint8_t> all(total);
    const Watchdog::Wait wait(watch(), "MPI_Allgatherv");
    check(MPI_Allgatherv(local.data(), static_cast<int>(local.size()), MPI_BYTE, all.data(), counts.data(),
                         displs.data(), MPI_BYTE, comm_),
          "MPI_Allgatherv");
    std::vector<std::vector<std::uint8_t>> out(static_cast<std::size_t>(size_));
    for (int r = 0; r < size_; ++r) {
      const auto* first = all.data() + displs[static_cast<std::size_t>(r)];
      out[static_cast<std::size_t>(r)].assign(first, first + counts[static_cast<std::size_t>(r)]);
    }
    return out;
  }

  std::unique_ptr<Communicator> split(int color, int key) override {
    MPI_Comm c = MPI_COMM_NULL;
    {
      const Watchdog::Wait wait(watch(), "MPI_Comm_split");
      check(MPI_Comm_split(comm_, color, key, &c), "MPI_Comm_split");
    }
    return std::make_unique<Mpi>(c, false, watchdog_);
  }

  int node_ranks() override {
    MPI_Comm node = MPI_COMM_NULL;
    const Watchdog::Wait wait(watch(), "MPI_Comm_split_type");
    check(MPI_Comm_split_type(comm_, MPI_COMM_TYPE_SHARED, rank_, MPI_INFO_NULL, &node),
          "MPI_Comm_split_type");
    int n = 1;
    MPI_Comm_size(node, &n);
    MPI_Comm_free(&node);
    return n;
  }

  void sum_in_rank_order(std::vector<double>& values) override {
    if (size_ == 1) return;
    const std::size_t n = values.size();
    std::vector<double> all(n * static_cast<std::size_t>(size_));
    const Watchdog::Wait wait(watch(), "MPI_Allgather (a sum in rank order)");
    check(MPI_Allgather(values.data(), static_cast<int>(n), MPI_DOUBLE, all.data(), static_cast<int>(n),
                        MPI_DOUBLE, comm_),
          "MPI_Allgather");
    for (std::size_t i = 0; i < n; ++i) {
      double s = 0.0;
      for (int r = 0; r < size_; ++r) s += all[static_cast<std::size_t>(r) * n + i];
      values[i] = s;
    }
  }

 private:
  Watchdog* watch() const { return watchdog_ && watchdog_->armed() ? watchdog_.get() : nullptr; }

  std::shared_ptr<Watchdog> watchdog_;
  MPI_Comm comm_ = MPI_COMM_NULL;
  int rank_ = 0, size_ = 1;
  std::size_t slot_ = 64;  // gids per rank per step before the exchange needs a second round
  std::vector<Gid> send_, recv_;
  std::vector<std::uint32_t> counts_;
  std::vector<int> displs_, icounts_;
  std::vector<std::size_t> bounds_;
};

}  // namespace

Environment::Environment(int& argc, char**& argv) {
  if (!launched_by_mpi()) return;
  int provided = 0;
  check(MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided), "MPI_Init_thread");
  if (provided < MPI_THREAD_FUNNELED) throw std::runtime_error("MPI does not support MPI_THREAD_FUNNELED");
  mpi_ = true;
  // MPI_Abort from the watchdog's thread: MPI is FUNNELED, but the main thread is then blocked in a
  // collective that will never end, and MPI_Abort only has to reach the launcher, which kills the job.
  watchdog_ = std::make_shared<Watchdog>([](int code) {
    MPI_Abort(MPI_COMM_WORLD, code);
    std::_Exit(code);
  });
}

Environment::~Environment() {
  // HDF5 closes what is still open at exit; a file whose close failed (a full disk) would then be
  // closed through MPI-IO after MPI_Finalize and crash. Shut HDF5 down while MPI is alive.
  H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
  H5close();
  watchdog_.reset();  // no MPI_Abort during or after MPI_Finalize
  if (mpi_) MPI_Finalize();
}

void Environment::exit_after_failure(int code) {
  std::fflush(stdout);
  std::fflush(stderr);
  watchdog_.reset();
  if (mpi_) MPI_Finalize();
  std::_Exit(code);
}

void Environment::arm_watchdog(double limit_seconds, int rank) {
  if (watchdog_ && limit_seconds > 0.0) watchdog_->arm(limit_seconds, rank);
}

double Environment::default_watchdog_seconds() {
  return std::getenv("SLURM_JOB_ID") != nullptr ? 600.0 : 0.0;
}

void Environment::abort(int code) const {
  if (mpi_) MPI_Abort(MPI_COMM_WORLD, code);
}

std::unique_ptr<Communicator> Environment::world() const {
  if (mpi_) return std::make_unique<Mpi>(watchdog_);
  return make_single();
}

}  // namespace plexus::comm
