#include "train_tempotron.hpp"

#include <omp.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <map>
#include <tuple>

#include <fmt/format.h>

#include "plexus/core/memory.hpp"
#include "plexus/core/types.hpp"
#include "plexus/core/version.hpp"
#include "plexus/sim/tempotron_trainer.hpp"

namespace plexus::app {

int train_tempotron(const model::Network& net, comm::Communicator& comm, const TempotronCli& cli) {
  const bool root = comm.rank() == 0;
  sim::TempotronOptions opt;
  opt.threads = cli.threads > 0 ? cli.threads : 1;
  if (cli.threads <= 0 && std::getenv("OMP_NUM_THREADS")) opt.threads = omp_get_max_threads();
  opt.progress = root && !cli.quiet;
  opt.log = &std::cerr;
  opt.output = cli.output.empty() ? std::filesystem::path("results") / (net.name + ".h5")
                                  : std::filesystem::path(cli.output);
  sim::TempotronTrainer trainer(net, comm, opt);
  if (root) {
    std::cout << fmt::format("plexus {} ({}): training '{}' (tempotron); {} rank(s) x {} thread(s)\n",
                             version::version(), version::git_hash(), net.name, comm.size(), opt.threads);
    std::cout << fmt::format("writing {}\n", opt.output->string());
    std::cout.flush();
  }
  const auto s = trainer.run();
  if (!root) return kExitOk;

  std::cout << fmt::format("{} afferents, {} tempotron(s) per experiment, at most {} epochs; {:.1f} s\n",
                           s.afferents, s.tempotrons, s.epochs, s.wall_seconds);
  const bool test = !s.experiments.empty() && s.experiments.front().test_accuracy >= 0.0;
  std::cout << fmt::format("| load P/N | patterns | repeat | epochs to zero errors | training accuracy |{}\n",
                           test ? " test accuracy |" : "");
  std::cout << fmt::format("| --- | --- | --- | --- | --- |{}\n", test ? " --- |" : "");
  for (const auto& x : s.experiments) {
    std::cout << fmt::format(
        "| {:g} | {} | {} | {} | {:.4f} |{}\n", x.load, x.patterns, x.repeat,
        x.solved_epoch > 0 ? std::to_string(x.solved_epoch) : fmt::format("not within {}", s.epochs),
        x.train_accuracy, test ? fmt::format(" {:.4f} |", x.test_accuracy) : "");
  }
  // Per load: how many repeats were solved, and the mean accuracy.
  std::map<double, std::tuple<int, int, double>> per_load;  // solved, total, accuracy sum
  for (const auto& x : s.experiments) {
    auto& [solved, total, acc] = per_load[x.load];
    solved += x.solved_epoch > 0;
    ++total;
    acc += x.train_accuracy;
  }
  for (const auto& [load, v] : per_load) {
    const auto& [solved, total, acc] = v;
    std::cout << fmt::format("load {:g}: {} of {} solved; mean training accuracy {:.4f}\n", load, solved,
                             total, acc / total);
  }
  std::cout << fmt::format("peak memory per rank: max {}\n",
                           memory::human_bytes(static_cast<double>(
                               *std::max_element(s.peak_rss_bytes.begin(), s.peak_rss_bytes.end()))));
  std::cout << fmt::format("wrote {}\n", opt.output->string());
  return kExitOk;
}

}  // namespace plexus::app
