#pragma once
// FORCE training (SPEC 4.4) of a spiking reservoir, the "force" experiment (`plexus train` with
// [train] rule = "force"): one continuous run in three phases (the untrained network, training with
// recursive least squares on the decoders, and a free-running test), driven through phase 7 of the
// ordinary step schedule; then the phase-invariant metrics, and a result file with the target and
// output traces, rasters before and after training, rates, encoders and decoders (docs/force.md,
// docs/result-file.md). Checkpoints are taken between steps, like a plain run's.
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "plexus/comm/communicator.hpp"
#include "plexus/model/network.hpp"
#include "plexus/train/experiment.hpp"

namespace plexus::learning::force {
class Rls;
}

namespace plexus::train {

// Measures of one test window, per output.
struct ForceWindow {
  double start_ms = 0.0, length_ms = 0.0;
  std::vector<double> correlation;          // at the best lag within +-max_lag_ms
  std::vector<double> lag_ms;               // that lag (output at t matches the target at t + lag)
  std::vector<double> amplitude;            // std of the output / std of the target (at that lag)
  std::vector<double> frequency_hz;         // dominant frequency of the output
  std::vector<double> target_frequency_hz;  // ... and of the target
};

struct ForceSummary {
  std::uint64_t neurons = 0;
  std::size_t outputs = 0;
  std::vector<std::string> output_names;
  std::string target;  // description of the target signal
  std::uint64_t rls_updates = 0;
  double rms_window_ms = 0.0;     // the last training second (or all of training, if shorter)
  std::vector<double> train_rms;  // per output, in that window
  std::vector<ForceWindow> windows;
  // Worst case over test windows and outputs (NaN if there is no test window).
  double min_correlation = 0.0, min_amplitude = 0.0, max_amplitude = 0.0;
  double min_frequency_hz = 0.0, max_frequency_hz = 0.0;
  double rate_hz[3] = {0.0, 0.0, 0.0};  // mean rate before, during and after training
  double simulated_ms = 0.0;
  double wall_seconds = 0.0;                  // the three phases (rank 0)
  std::vector<double> cpu_seconds;            // per rank: CPU time of the process (all threads) in the phases
  double build_seconds = 0.0;                 // network, encoders, P (rank 0)
  std::vector<std::uint64_t> peak_rss_bytes;  // per rank
  std::vector<std::uint64_t> rls_bytes;       // per rank: rows of P, decoders
  int ranks = 1, threads = 1;
};

class ForceTraining final : public Experiment {
 public:
  // Builds the network and the FORCE state. Throws ConfigError (every rank alike) for a bad
  // [train] (rule = "force") or [task] (kind = "signal").
  explicit ForceTraining(const Setup& setup);
  ~ForceTraining() override;

  std::string headline() const override;
  std::int64_t total() const override;
  std::int64_t done() const override;
  void start_file(io::ResultFile& file) override;
  void run(Shell& shell) override;
  void finish(io::ResultFile* file) override;
  void report(std::ostream& out) const override;
  std::vector<checkpoint::Component*> state() override;

  // After finish(): the metrics. For tests: the decoders (outputs x neurons, the same on every
  // rank) and the RLS state of this rank.
  const ForceSummary& summary() const;
  const std::vector<double>& decoders() const;
  const learning::force::Rls& rls() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace plexus::train
