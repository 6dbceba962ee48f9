#pragma once
// Tempotron patterns (SPEC 3.5): N afferents, each firing exactly one spike at a time drawn
// uniformly in [0, T), with a random class label; or, for generalisation, jittered copies of a few
// such templates, each template with its class.
//
// Every number is counter-based, keyed by (seed, experiment, stream, pattern or template, afferent),
// so any rank can make any pattern of any experiment, and pattern p is the same whatever else is
// asked for. Independent experiments (e.g. the repeats of a capacity sweep) use different
// `experiment` keys; the patterns of one experiment do not depend on how many are drawn, so a
// larger load extends the pattern set of a smaller one.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "plexus/model/config.hpp"
#include "plexus/task/task.hpp"

namespace plexus::task {

// One pattern: its input spikes in time order (ties by afferent) and its class.
struct SpikePattern {
  std::vector<double> time_ms;
  std::vector<std::uint32_t> afferent;
  int label = 0;  // class in [0, classes); for two classes, 1 is the "fire" class (+)
};

struct TempotronPatternSpec {
  std::uint32_t afferents = 500;
  double duration_ms = 500.0;
  int classes = 2;
  std::uint64_t templates = 0;  // 0: every pattern is drawn independently
  double jitter_ms = 0.0;       // std of the Gaussian jitter of template copies

  // Reads [task] with kind = "tempotron_patterns"; `afferents` is given by the network (the size
  // of the afferent population). Unknown keys and bad values are ConfigErrors.
  static TempotronPatternSpec read(const model::Node& task, std::uint32_t afferents);
};

class TempotronPatterns {
 public:
  TempotronPatterns(const TempotronPatternSpec& spec, std::uint64_t seed) : spec_(spec), seed_(seed) {}
  const TempotronPatternSpec& spec() const { return spec_; }
  // Pattern `index` of `stream` in experiment `experiment`.
  SpikePattern pattern(std::uint64_t experiment, Stream stream, std::uint64_t index) const;

 private:
  TempotronPatternSpec spec_;
  std::uint64_t seed_;
};

}  // namespace plexus::task
