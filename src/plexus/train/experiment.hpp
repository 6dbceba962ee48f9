#pragma once
// Run kinds. Every run, whether it simulates or trains, is an Experiment driven by the one run shell
// (train/shell.hpp), which owns what all of them share: the result file and its /metadata, the
// progress line with its ETA, the peak-memory report, the checkpoint policy (--checkpoint-dir,
// --checkpoint-every, --stop-at-*, SIGTERM/SIGUSR1) and the threads setting. An experiment says how
// it advances (its positions), builds itself, runs from its current position, and keeps its state
// in checkpoint components.
//
// Experiments register themselves from their own source file (ExperimentRegistry::Add), so a new run
// kind is one file; docs/extending.md says how.
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "plexus/checkpoint/checkpoint.hpp"
#include "plexus/comm/communicator.hpp"
#include "plexus/core/registry.hpp"
#include "plexus/model/network.hpp"

namespace plexus::io {
class ResultFile;
}

namespace plexus::train {

class Shell;

// How an experiment advances. Checkpoints are taken at positions (between steps, or between
// iterations of the experiment's own kind), and progress and ETA are measured in them.
struct Positions {
  // Positions are simulation steps (checkpoint intervals in simulated time, --stop-at-ms); else they
  // are iterations of the experiment (checkpoint intervals in iterations, --stop-at-iteration).
  bool steps = false;
  std::string noun = "iteration";  // what one position is, for messages ("iteration", "batch", ...)
};

// What an experiment is built with.
struct Setup {
  const model::Network& net;
  comm::Communicator& comm;
  int threads = 1;
  std::ostream* log = nullptr;  // progress and notes on rank 0 (null: quiet)
  // Training: groups of ranks that each hold the whole network and run their share of a batch
  // (--batch-groups; 0: chosen by the experiment).
  int batch_groups = 1;
};

class Experiment {
 public:
  virtual ~Experiment() = default;

  // One line for the start of the run, after "plexus VERSION (HASH): " and before the ranks and
  // threads, e.g. "training 'cortex_ei800_evidence', 880 neurons".
  virtual std::string headline() const = 0;
  // Positions in the whole run, and done so far (after a resume: where the checkpoint was taken).
  virtual std::int64_t total() const = 0;
  virtual std::int64_t done() const = 0;

  // Result file, collective. A new run: its own /metadata attributes (the shell writes the common
  // ones), groups and datasets. A resumed run: the shell has reopened every extensible dataset at
  // its length at the checkpoint (`lengths`); experiments that record through the simulation pass
  // them on.
  virtual void start_file(io::ResultFile& file) = 0;
  virtual void resume_file(io::ResultFile& file, const std::map<std::string, std::uint64_t>& lengths) {
    (void)file;
    (void)lengths;
  }

  // Runs from done() to the end, calling shell.checkpoint_point() wherever its state is complete;
  // returns early when that says to stop (a checkpoint has then been written).
  virtual void run(Shell& shell) = 0;
  // After the last position (not after a stop), collective: the results into the file (null: no
  // file) as datasets and attributes.
  virtual void finish(io::ResultFile* file) = 0;
  // Rank 0, after finish(): the closing summary for the terminal.
  virtual void report(std::ostream& out) const = 0;

  // Checkpoint state, saved after the shell's own and loaded back in the same order.
  virtual std::vector<checkpoint::Component*> state() = 0;
  // Whether this rank's state is a copy of another rank's (batch groups after the first): it takes
  // part in checkpoints without writing, and its reads do not count in the checksums.
  virtual bool state_is_copy() const { return false; }
};

struct ExperimentInfo {
  std::string name;     // kept in checkpoints: which experiment `plexus resume` rebuilds
  std::string command;  // the plexus command that starts it: "run" or "train"
  std::string summary;
  Positions positions;
  // `plexus train`: the [train] rules this experiment drives (a function: the gradient experiment
  // drives whatever learning rules have registered).
  std::function<std::vector<std::string>()> rules;
  // Builds the experiment (collective). Throws ConfigError/UserError, on every rank alike, for a
  // bad model, before anything is written.
  std::function<std::unique_ptr<Experiment>(const Setup&)> make;
};

// Run kinds register themselves from their own file (core/registry.hpp).
using ExperimentRegistry = core::Registry<ExperimentInfo>;

// The experiment `plexus train` uses for a [train] rule (null: none drives it), and every rule some
// experiment drives, sorted (for messages).
const ExperimentInfo* experiment_for_rule(const std::string& rule);
std::vector<std::string> trainable_rules();
// The experiment a command starts for a model: "run" simulates it, "train" drives its [train] rule.
// Throws UserError for "train" of a model without [train].
const ExperimentInfo& experiment_for(const std::string& command, const model::Network& net);

}  // namespace plexus::train
