#pragma once
// Training with the equilibrium rule (SPEC 4.7; [train] rule = "equilibrium"): images of the task
// (Fashion-MNIST) presented in batches to a layered network (input -> hidden <-> output) that
// relaxes to equilibrium, is nudged toward the label and learns by differential STDP; per epoch the
// training and validation accuracy; at the end the test accuracy and confusion matrix, and the
// learning curve and trained weights in the result file (docs/result-file.md). The "equilibrium"
// experiment; it advances by batches of images, with a checkpoint point after each.
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <ostream>
#include <vector>

#include "plexus/comm/communicator.hpp"
#include "plexus/model/network.hpp"
#include "plexus/train/experiment.hpp"

namespace plexus::train {

struct EquilibriumSummary {
  int epochs = 0;
  std::size_t hidden = 0;
  std::size_t train_samples = 0, validation_samples = 0, test_samples = 0;
  std::vector<double> train_accuracy;       // per epoch, on the samples as they were presented
  std::vector<double> validation_accuracy;  // per epoch (empty without validation samples)
  double test_accuracy = -1.0;              // -1: no test samples
  std::vector<std::uint64_t> confusion;     // test: 10 x 10, row = label, column = prediction
  double wall_seconds = 0.0, seconds_per_epoch = 0.0;
  std::uint64_t synapses = 0;
  std::vector<std::uint64_t> state_bytes;     // per rank: weights and batch state
  std::vector<std::uint64_t> peak_rss_bytes;  // per rank
};

class EquilibriumTraining final : public Experiment {
 public:
  // Reads [task] and [train], loads the images and draws the initial weights. Throws ConfigError
  // or UserError (on every rank alike) before anything is written.
  explicit EquilibriumTraining(const Setup& setup);
  ~EquilibriumTraining() override;

  std::string headline() const override;
  std::int64_t total() const override;  // batches of all epochs
  std::int64_t done() const override;
  void start_file(io::ResultFile& file) override;
  void resume_file(io::ResultFile& file, const std::map<std::string, std::uint64_t>& lengths) override;
  void run(Shell& shell) override;
  void finish(io::ResultFile* file) override;
  void report(std::ostream& out) const override;
  std::vector<checkpoint::Component*> state() override;

  std::size_t hidden() const;
  int epochs() const;
  const EquilibriumSummary& summary() const;  // after finish()

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace plexus::train
