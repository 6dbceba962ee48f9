#pragma once
// How spikes and a few scalars cross ranks. Three implementations: MPI, single process, and a dry
// run in which one process plays one rank of a larger run and the other ranks' spikes are
// synthesised (to project memory and traffic before submitting a big job). Nothing outside this
// module includes <mpi.h> or calls MPI.
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "plexus/core/types.hpp"

namespace plexus::comm {

class Watchdog;

struct ExchangeStats {
  std::uint64_t exchanges = 0;        // spike exchange rounds
  std::uint64_t retries = 0;          // rounds that needed a second, larger collective
  std::uint64_t spikes_sent = 0;      // this rank's spikes sent
  std::uint64_t spikes_received = 0;  // spikes received from all ranks (including own)
  std::uint64_t bytes_sent = 0;       // bytes this rank contributed to collectives
  std::uint64_t bytes_received = 0;
  double seconds = 0.0;  // wall time inside spike exchange
};

// Dry runs: appends, sorted by gid, the spikes rank `other_rank` would send this step.
using Synthesiser = std::function<void(int other_rank, std::vector<Gid>& out)>;

// Where this rank's part goes when every rank's parts are concatenated in rank order.
struct Placement {
  std::uint64_t offset = 0;  // elements of lower ranks
  std::uint64_t total = 0;   // elements of all ranks
};

class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  virtual std::string kind() const = 0;  // "mpi", "single" or "dry-run"
  // True if ranks share files through MPI-IO (parallel HDF5).
  virtual bool parallel_io() const { return false; }

  // Gathers every rank's spikes of one step. `local` is sorted by gid; `global` receives the
  // spikes of all ranks sorted by gid, whatever the partition.
  virtual void exchange_spikes(std::span<const Gid> local, std::vector<Gid>& global) = 0;

  // Small collectives; every rank gets the same result.
  virtual std::vector<std::uint64_t> allgather(std::uint64_t value) = 0;
  virtual std::vector<double> allgather(double value) = 0;
  virtual double sum(double value) = 0;  // order of ranks fixed: identical on every rank
  virtual std::uint64_t sum(std::uint64_t value) = 0;
  virtual int max(int value) = 0;
  virtual void barrier() = 0;
  virtual void broadcast(std::string& text, int root) = 0;
  // Element-wise sum of equal-length vectors, reduced in rank order so that the result does not
  // depend on the reduction tree.
  virtual void sum_in_rank_order(std::vector<double>& values) = 0;
  // Every rank's bytes, in rank order (the lengths may differ).
  virtual std::vector<std::vector<std::uint8_t>> allgather_bytes(std::span<const std::uint8_t> local) = 0;

  // A communicator over the ranks that give the same `color`, ranked by `key` (then by rank here).
  // Collective. Training uses it for batch groups: the ranks of a group share a network, and the
  // ranks with the same place in every group exchange their parts of a batch's gradient.
  virtual std::unique_ptr<Communicator> split(int color, int key) = 0;
  // How many ranks of this communicator run on this rank's node (memory budgets). Collective.
  virtual int node_ranks() { return 1; }

  // The step the engine is at, for the progress watchdog's message (a relaxed store; no collective).
  virtual void note_step(std::uint64_t /*step*/) {}
  // The progress watchdog, if armed (else null): collectives made outside this module (parallel
  // HDF5's, through io) mark themselves with a Watchdog::Wait on it, as this module's own do.
  virtual Watchdog* watchdog() const { return nullptr; }

  // Dry runs only: how to make up the spikes of the ranks that are not there (see make_dry_run).
  virtual void set_synthesiser(const Synthesiser& /*synthesise*/) {}

  // MPI_Comm as an integer handle for libraries that take one (parallel HDF5); 0 if none.
  virtual std::int64_t native_handle() const { return 0; }

  // Collective: offset and total for `count` elements of this rank in a rank-ordered concatenation.
  Placement place(std::uint64_t count) {
    const auto counts = allgather(count);
    Placement pl;
    for (int r = 0; r < size(); ++r) {
      if (r < rank()) pl.offset += counts[r];
      pl.total += counts[r];
    }
    return pl;
  }

  const ExchangeStats& stats() const { return stats_; }
  // Bytes held in the communicator's own buffers (a dry run: what the MPI implementation would hold).
  virtual std::size_t buffer_bytes() const { return 0; }

 protected:
  ExchangeStats stats_;
};

// Initialises MPI if this program was started under mpiexec/srun (or always, if `force`), and
// finalises it when destroyed. Threads: MPI is called only from the main thread (FUNNELED).
class Environment {
 public:
  Environment(int& argc, char**& argv);
  ~Environment();
  Environment(const Environment&) = delete;
  Environment& operator=(const Environment&) = delete;
  bool mpi() const { return mpi_; }
  // A communicator over all processes of this job (single-process if MPI is not in use).
  std::unique_ptr<Communicator> world() const;
  // Ends every rank of the job (MPI_Abort) after a failure that the others cannot know of; without
  // it they would wait in the next collective for ever. Does nothing without MPI.
  void abort(int code) const;
  // Ends this process after a failed run: MPI is finalised, and the process exits at once with `code`,
  // without the exit handlers: HDF5's would close files left broken by the failure (a write to a full
  // disk whose close failed) and crash in doing so.
  [[noreturn]] void exit_after_failure(int code);
  // The progress watchdog (watchdog.hpp): from now on, a wait of more than `limit_seconds` in one
  // collective of any communicator of this process ends the job. No-op without MPI or for a limit of 0.
  void arm_watchdog(double limit_seconds, int rank);
  // Under Slurm: 10 minutes; elsewhere off (0). A command line's --watchdog overrides it.
  static double default_watchdog_seconds();

 private:
  bool mpi_ = false;
  std::shared_ptr<Watchdog> watchdog_;
};

// True when started by an MPI launcher (so MPI should be initialised).
bool launched_by_mpi();

std::unique_ptr<Communicator> make_single();

// One process playing rank `rank` of `size`; `synthesise` makes up the other ranks' spikes.
std::unique_ptr<Communicator> make_dry_run(int rank, int size, Synthesiser synthesise = {});

// Merges `parts` consecutive sorted runs of `v` (run i is [bounds[i], bounds[i+1])) in place.
void merge_sorted_runs(std::vector<Gid>& v, const std::vector<std::size_t>& bounds);

}  // namespace plexus::comm
