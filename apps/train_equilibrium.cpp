// `plexus train` with [train] rule = "equilibrium": equilibrium learning with differential STDP on
// Fashion-MNIST images (sim/equilibrium_training.hpp).
#include "train_equilibrium.hpp"

#include <omp.h>

#include <cstdlib>
#include <filesystem>
#include <iostream>

#include <fmt/format.h>

#include "plexus/core/memory.hpp"
#include "plexus/core/types.hpp"
#include "plexus/core/version.hpp"
#include "plexus/sim/equilibrium_training.hpp"

namespace plexus::app {

int train_equilibrium(const model::Network& net, const EquilibriumArgs& a, comm::Communicator& comm) {
  const bool root = comm.rank() == 0;
  sim::EquilibriumOptions opt;
  opt.threads = a.threads > 0 ? a.threads : 1;
  if (a.threads <= 0 && std::getenv("OMP_NUM_THREADS")) opt.threads = omp_get_max_threads();
  opt.progress = root && !a.quiet;
  opt.log = &std::cerr;
  opt.output = a.output.empty() ? std::filesystem::path("results") / (net.name + ".h5")
                                : std::filesystem::path(a.output);
  sim::EquilibriumTrainer trainer(net, comm, opt);
  if (root) {
    std::cout << fmt::format(
        "plexus {} ({}): training '{}' with the equilibrium rule, {} hidden cells, {} epoch(s); {} rank(s) x "
        "{} "
        "thread(s)\n",
        version::version(), version::git_hash(), net.name, trainer.hidden(), trainer.epochs(), comm.size(),
        opt.threads);
    std::cout << fmt::format("writing {}\n", opt.output->string());
    std::cout.flush();
  }
  const auto s = trainer.run();
  if (root) {
    std::cout << fmt::format("trained {} epoch(s) on {} images in {:.1f} s ({:.1f} s per epoch)", s.epochs,
                             s.train_samples, s.wall_seconds, s.seconds_per_epoch);
    if (!s.train_accuracy.empty())
      std::cout << fmt::format("; last training accuracy {:.4f}", s.train_accuracy.back());
    std::cout << "\n";
    if (!s.validation_accuracy.empty())
      std::cout << fmt::format("validation accuracy {:.4f} on {} images\n", s.validation_accuracy.back(),
                               s.validation_samples);
    if (s.test_accuracy >= 0)
      std::cout << fmt::format("test accuracy {:.4f} on {} images\n", s.test_accuracy, s.test_samples);
    std::uint64_t lo = s.peak_rss_bytes.empty() ? 0 : s.peak_rss_bytes[0], hi = lo;
    for (auto b : s.peak_rss_bytes) lo = std::min(lo, b), hi = std::max(hi, b);
    std::cout << fmt::format("{} synapses; peak memory per rank: min {} / max {}\n", s.synapses,
                             memory::human_bytes(static_cast<double>(lo)),
                             memory::human_bytes(static_cast<double>(hi)));
    std::cout << fmt::format("wrote {}\n", opt.output->string());
  }
  return kExitOk;
}

}  // namespace plexus::app
