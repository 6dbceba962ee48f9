#include "train_force.hpp"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <iostream>

#include <fmt/format.h>

#include "plexus/core/memory.hpp"
#include "plexus/core/types.hpp"
#include "plexus/core/version.hpp"
#include "plexus/sim/force_trainer.hpp"

namespace plexus::app {

int train_force(const model::Network& net, const ForceArgs& a, comm::Communicator& comm) {
  const bool root = comm.rank() == 0;
  sim::ForceOptions opt;
  opt.threads = a.threads > 0 ? a.threads : 1;
  if (a.threads <= 0 && std::getenv("OMP_NUM_THREADS")) opt.threads = omp_get_max_threads();
  opt.progress = root && !a.quiet;
  opt.log = &std::cerr;
  opt.output = a.output.empty() ? std::filesystem::path("results") / (net.name + ".h5")
                                : std::filesystem::path(a.output);
  sim::ForceTrainer trainer(net, comm, opt);
  if (root) {
    std::cout << fmt::format("plexus {} ({}): FORCE training '{}', {} neurons; {} rank(s) x {} thread(s)\n",
                             version::version(), version::git_hash(), net.name, net.total_neurons,
                             comm.size(), opt.threads);
    std::cout << fmt::format("writing {}\n", opt.output->string());
    std::cout.flush();
  }
  const auto s = trainer.run();
  if (!root) return kExitOk;
  double cpu = 0.0;
  for (double c : s.cpu_seconds) cpu += c;
  std::cout << fmt::format(
      "simulated {:.1f} s in {:.2f} s wall ({:.3f} s per simulated second), {:.2f} s CPU over all ranks; "
      "build {:.2f} s; {} RLS updates\n",
      s.simulated_ms * 1e-3, s.wall_seconds, s.wall_seconds / (s.simulated_ms * 1e-3), cpu, s.build_seconds,
      s.rls_updates);
  std::cout << fmt::format("target: {}\n", s.target);
  std::cout << fmt::format("rates: {:.2f} Hz before, {:.2f} Hz during, {:.2f} Hz after training\n",
                           s.rate_hz[0], s.rate_hz[1], s.rate_hz[2]);
  for (std::size_t m = 0; m < s.outputs; ++m)
    std::cout << fmt::format("output {}: RMS error {:.4f} over the last {:.0f} ms of training\n",
                             s.output_names[m], s.train_rms[m], s.rms_window_ms);
  if (s.windows.empty()) {
    std::cout << "no complete test window: no test metrics\n";
  } else {
    std::cout << fmt::format(
        "test windows of {:.0f} ms (correlation at the best lag, amplitude ratio, dominant "
        "frequency of output / target):\n",
        s.windows.front().length_ms);
    for (const auto& w : s.windows)
      for (std::size_t m = 0; m < s.outputs; ++m)
        std::cout << fmt::format(
            "  {:7.0f} ms  {:<8} correlation {:.4f} (lag {:+.0f} ms)  amplitude {:.3f}  "
            "frequency {:.3f} / {:.3f} Hz\n",
            w.start_ms, s.output_names[m], w.correlation[m], w.lag_ms[m], w.amplitude[m], w.frequency_hz[m],
            w.target_frequency_hz[m]);
    std::cout << fmt::format(
        "worst window: correlation {:.4f}, amplitude {:.3f} .. {:.3f}, frequency {:.3f} .. {:.3f} "
        "Hz\n",
        s.min_correlation, s.min_amplitude, s.max_amplitude, s.min_frequency_hz, s.max_frequency_hz);
  }
  std::uint64_t rls = 0;
  for (auto b : s.rls_bytes) rls = std::max(rls, b);
  std::uint64_t peak = 0;
  for (auto b : s.peak_rss_bytes) peak = std::max(peak, b);
  std::cout << fmt::format("RLS state {} per rank (max); peak memory {} per rank (max)\n",
                           memory::human_bytes(static_cast<double>(rls)),
                           memory::human_bytes(static_cast<double>(peak)));
  std::cout << fmt::format("wrote {}\n", opt.output->string());
  return kExitOk;
}

}  // namespace plexus::app
