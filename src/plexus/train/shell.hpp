#pragma once
// The run shell: what every run kind shares, written once. It
//   - picks the threads (--threads, else OMP_NUM_THREADS, else 1);
//   - builds the experiment, and only then creates the result file ("NAME.h5.partial", renamed when
//     the run has finished), writing the common /metadata (config, versions, model, ranks, threads,
//     seed, dt, experiment) before the experiment's own groups;
//   - prints the first line, the progress lines with their ETA, and at the end the peak memory per
//     rank and what was written;
//   - owns the checkpoint policy: --checkpoint-dir, --checkpoint-every (simulated time or iterations,
//     or wall-clock time), --stop-at-ms / --stop-at-iteration, SIGTERM and SIGUSR1; it writes the
//     manifest, the result file's dataset lengths and then each of the experiment's components;
//   - resumes any of them from a checkpoint on any number of ranks and threads.
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <iostream>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include "plexus/comm/communicator.hpp"
#include "plexus/model/network.hpp"
#include "plexus/train/experiment.hpp"

namespace plexus::io {
class ResultFile;
}

namespace plexus::train {

// The command line's part, as given.
struct ShellOptions {
  int threads = 0;  // 0: OMP_NUM_THREADS if it is set, else 1
  // Result file; none: nothing is written (dry runs). `plexus resume` takes the run's own by default.
  std::optional<std::filesystem::path> output;
  bool quiet = false;  // no progress lines
  // Start over although the output's .partial holds a run that can still be resumed (its checkpoints
  // stay where they are).
  bool replace = false;
  // Rank 0's first lines and closing summary (null: none; the Python interface's quiet).
  std::ostream* out = &std::cout;
  std::filesystem::path checkpoint_dir;
  std::string checkpoint_every;
  int checkpoint_keep = 0;              // 0: 2, or as the checkpoint says
  double stop_at_ms = -1.0;             // stepped experiments
  std::int64_t stop_at_iteration = -1;  // experiments that advance by iterations
  int batch_groups = 0;                 // training: --batch-groups (0: auto)
  // Called on every rank after each training iteration with what the progress line shows (name,
  // value); rank 0's answer counts on all ranks: false ends the training there, and the run finishes
  // with the iterations done so far (the Python interface's on_iteration).
  std::function<bool(std::int64_t iteration, const std::vector<std::pair<std::string, double>>& values)>
      on_iteration;
};

// Starts a new run of experiment `kind`. Returns the exit code: 0 when it finished or stopped at a
// checkpoint. Errors in the model or options are thrown (UserError/ConfigError) before anything is
// written.
int start(const ExperimentInfo& kind, const model::Network& net, comm::Communicator& comm,
          ShellOptions options);
// Continues the run of a checkpoint (`where`: a checkpoint, or a directory of them: its newest).
int resume(const std::filesystem::path& where, comm::Communicator& comm, ShellOptions options);

// Runs an experiment of kind `kind` from where it is to its end in this process, with no result
// file, checkpoints or terminal output (unless `setup.log`): for tests and benchmarks.
void run_to_end(const std::string& kind, Experiment& experiment, const Setup& setup);

// The /metadata every result file starts with (the shell writes it; experiments add their own).
void write_common_metadata(io::ResultFile& file, const model::Network& net, comm::Communicator& comm,
                           int threads, const std::string& experiment);

// Threads from the options or the environment.
int threads_of(int requested);
// "42s", "3m05s", "2h07m".
std::string human_seconds(double seconds);

class Shell {
 public:
  struct Impl;
  explicit Shell(Impl& impl) : impl_(impl) {}

  int threads() const;
  const model::Network& network() const;
  comm::Communicator& comm() const;
  // Rank 0's log for progress and notes; null on other ranks and when quiet.
  std::ostream* log() const;
  // "[plexus] " + line on the log.
  void say(const std::string& line) const;
  // A throttled progress line is due (at most one every `seconds`), or `force`.
  bool progress_due(bool force = false, double seconds = 2.0);
  // "ETA 3m05s" at `position`, from the pace of this process's positions so far.
  std::string eta(std::int64_t position) const;

  bool checkpointing() const;
  // Stepped experiments: the next position at or after `position` + 1 where checkpoint_point() must be
  // called (polls for signals, intervals, --stop-at-ms), at most `end`. Without checkpoints: `end`.
  std::int64_t next_point(std::int64_t position, std::int64_t end) const;
  // Collective, where the experiment's state is complete: writes a checkpoint if one is due (an
  // interval, the wall clock, a stop signal on any rank, --stop-at-*). Returns true if the run must
  // stop now; the shell then reports where the checkpoint is.
  bool checkpoint_point(std::int64_t position);
  // After a stop, or after a resume of a finished run.
  bool stopped() const;
  // Collective, after iteration `iteration` (counted from 1) of a training run: passes `values` to
  // the options' on_iteration, if any. Returns false if the training is to end now.
  bool iteration_done(std::int64_t iteration, const std::vector<std::pair<std::string, double>>& values);

 private:
  Impl& impl_;
};

}  // namespace plexus::train
