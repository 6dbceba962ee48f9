#pragma once
// Training with the equilibrium rule (SPEC 4.7; [train] rule = "equilibrium"): images of the task
// (Fashion-MNIST) presented in batches to a layered network (input -> hidden <-> output) that
// relaxes to equilibrium, is nudged toward the label and learns by differential STDP; per epoch the
// training and validation accuracy; at the end the test accuracy and confusion matrix, and the
// learning curve and trained weights in the result file (docs/result-file.md).
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <ostream>
#include <vector>

#include "plexus/comm/communicator.hpp"
#include "plexus/model/network.hpp"

namespace plexus::sim {

// True if the model's [train] section selects the equilibrium rule.
bool uses_equilibrium_rule(const model::Network& net);

struct EquilibriumOptions {
  int threads = 1;
  std::optional<std::filesystem::path> output;  // none: nothing is written
  bool progress = false;                        // lines per epoch (and within long epochs) on rank 0
  double progress_seconds = 15.0;               // within an epoch, at most this often
  std::ostream* log = nullptr;
};

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

class EquilibriumTrainer {
 public:
  // Reads [task] and [train], loads the images and draws the initial weights. Throws ConfigError
  // or UserError (on every rank alike) before anything is written.
  EquilibriumTrainer(const model::Network& net, comm::Communicator& comm, EquilibriumOptions options);
  ~EquilibriumTrainer();
  EquilibriumTrainer(const EquilibriumTrainer&) = delete;
  EquilibriumTrainer& operator=(const EquilibriumTrainer&) = delete;

  std::size_t hidden() const;
  int epochs() const;
  // Every epoch, validation, test and the result file.
  EquilibriumSummary run();

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace plexus::sim
