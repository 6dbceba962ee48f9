#pragma once
// Training tempotrons (SPEC 4.5) on tempotron patterns (SPEC 3.5): `plexus train` with
// [train] rule = "tempotron". The model file describes one tempotron population (its size: one
// tempotron, or one per class) fed by an afferent population through one all-to-all projection
// (whose weight distribution gives the initial weights); [train] lists the loads alpha = P/N to
// train at and how many independent repeats of each. Every (load, repeat, tempotron) is an
// independent learner, so they are spread over ranks (contiguous blocks of nearly equal cost) and
// threads; each is computed whole by one thread, and results are gathered in a fixed order, so
// they are bit-identical for any number of ranks and threads. With checkpoints the learners are
// trained in chunks (as many as the job has threads) with a checkpoint point after each: the
// results so far are the state, and a resumed run trains the rest.
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <ostream>
#include <vector>

#include "plexus/comm/communicator.hpp"
#include "plexus/model/network.hpp"
#include "plexus/train/experiment.hpp"

namespace plexus::train {

struct TempotronExperiment {
  double load = 0.0;  // alpha = P / N
  std::uint64_t patterns = 0;
  std::int64_t repeat = 0;
  // First epoch (1-based) by which every tempotron of the experiment had a pass over all patterns
  // without an error; -1 if that did not happen within the epochs.
  std::int64_t solved_epoch = -1;
  double train_accuracy = 0.0;  // with the final weights: patterns every tempotron answers right
  double test_accuracy = -1.0;  // on fresh jittered copies of the templates (-1: no test patterns)
};

struct TempotronSummary {
  std::vector<TempotronExperiment> experiments;
  std::int64_t epochs = 0;  // the most any tempotron was given
  std::uint64_t afferents = 0, tempotrons = 0;
  double wall_seconds = 0.0;
  std::vector<std::uint64_t> peak_rss_bytes;  // per rank
};

class TempotronTraining final : public Experiment {
 public:
  // Reads and checks the model (ConfigError for a bad [task], [train] or tempotron population).
  explicit TempotronTraining(const Setup& setup);
  ~TempotronTraining() override;

  std::string headline() const override;
  std::int64_t total() const override;  // learners (units)
  std::int64_t done() const override;   // learners trained: the first done() of them
  void start_file(io::ResultFile& file) override;
  void run(Shell& shell) override;
  void finish(io::ResultFile* file) override;
  void report(std::ostream& out) const override;
  std::vector<checkpoint::Component*> state() override;

  // After finish(), on every rank: the summary, the final weights (tempotron-major: unit u,
  // afferent i at u * afferents + i) and the errors per epoch (unit-major, `epochs` per unit). Units
  // are ordered by experiment (loads in the order given, repeats within a load), then tempotron.
  const TempotronSummary& summary() const;
  const std::vector<double>& weights() const;
  const std::vector<std::int64_t>& errors() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace plexus::train
