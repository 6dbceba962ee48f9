// plexus: command-line front end.
//   plexus run MODEL.toml [-o FILE.h5] [--threads N] [--set key=value]...   (under mpiexec -n R)
//   plexus train MODEL.toml [-o FILE.h5] [--threads N] [--set key=value]...  (under mpiexec -n R)
//   plexus train MODEL.toml --checkpoint-dir DIR [--checkpoint-every 10it|30min] [--stop-at-iteration N]
//   plexus run MODEL.toml --checkpoint-dir DIR [--checkpoint-every 100ms|2s|30min|1h] [--checkpoint-keep K]
//   plexus resume DIR [--threads N]        (a run or a training run; under mpiexec -n M, any M)
//   plexus scale-test MODEL.toml --neurons N [--keep indegree|p] [--dry-run-ranks R]
//   plexus inspect FILE.h5 | MODEL.toml [--set key=value]...
//   plexus models
// Exit codes: 0 success, 1 the run failed, 2 bad model file, input file or command line.
#include <omp.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "plexus/checkpoint/checkpoint.hpp"
#include "plexus/comm/communicator.hpp"
#include "plexus/core/error.hpp"
#include "plexus/core/memory.hpp"
#include "plexus/core/types.hpp"
#include "plexus/core/version.hpp"
#include "plexus/io/result_file.hpp"
#include "plexus/model/connectivity.hpp"
#include "plexus/model/network.hpp"
#include "plexus/model/scale.hpp"
#include "plexus/neuron/population.hpp"
#include "plexus/sim/simulation.hpp"
#include "plexus/sim/trainer.hpp"
#include "train_equilibrium.hpp"
#include "train_force.hpp"
#include "train_tempotron.hpp"

namespace {

using namespace plexus;

struct RunArgs {
  std::string model;
  std::string output;
  int threads = 0;
  std::vector<std::string> sets;
  bool quiet = false;
  int dry_ranks = 0;
  int dry_rank = 0;
  // Checkpoints (run and resume).
  std::string checkpoint_dir;
  std::string checkpoint_every;
  int checkpoint_keep = 0;  // 0: default (2, or as the checkpoint says)
  double stop_at_ms = -1.0;
  std::int64_t stop_at_iteration = -1;  // train, resume of a training run
};

int threads_of(const RunArgs& a) {
  if (a.threads > 0) return a.threads;
  return std::getenv("OMP_NUM_THREADS") ? omp_get_max_threads() : 1;
}

// A --checkpoint-every value: a positive number and a unit ("100ms", "10 it"). `forms` says what
// the command accepts, for the error.
struct Interval {
  double value;
  std::string unit;
};
Interval split_interval(const std::string& text, const std::string& forms) {
  std::size_t used = 0;
  double value = 0.0;
  try {
    value = std::stod(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  std::string unit = text.substr(used);
  unit.erase(0, unit.find_first_not_of(' '));
  if (used == 0 || !(value > 0.0)) throw UserError(fmt::format("--checkpoint-every '{}': {}", text, forms));
  return {value, unit};
}

// A new run must not prune (and so destroy) another run's checkpoints.
void refuse_used_checkpoint_dir(const std::filesystem::path& dir) {
  if (!checkpoint::list(dir).empty() || std::filesystem::exists(dir / "finished"))
    throw UserError(
        fmt::format("'{}' already holds checkpoints of a run; continue it with 'plexus resume {}', or "
                    "give another --checkpoint-dir",
                    dir.string(), dir.string()));
}

// --checkpoint-every: simulated time ("100ms", "2s") or wall-clock time ("30min", "1h").
void parse_checkpoint_every(const std::string& text, double dt_ms, sim::CheckpointOptions& c) {
  if (text.empty()) return;
  const std::string forms = "give simulated time ('100ms', '2s') or wall-clock time ('30min', '1h')";
  const auto [value, unit] = split_interval(text, forms);
  c.every_text = text;
  if (unit == "ms" || unit == "s") {
    const double ms = unit == "s" ? value * 1e3 : value;
    c.every_steps = std::max<Step>(1, static_cast<Step>(std::llround(ms / dt_ms)));
  } else if (unit == "min" || unit == "h") {
    c.every_wall_seconds = value * (unit == "h" ? 3600.0 : 60.0);
  } else if (unit == "trials" || unit == "iterations") {
    throw UserError(fmt::format(
        "--checkpoint-every '{}': counts of {} apply to training, not to 'plexus run'", text, unit));
  } else {
    throw UserError(fmt::format("--checkpoint-every '{}': unknown unit '{}'; {}", text, unit, forms));
  }
}

void print_run_summary(const sim::Simulation& simulation, const sim::Summary& s, const sim::Options& opt,
                       comm::Communicator& comm);
void parse_train_checkpoint_every(const std::string& text, sim::TrainCheckpoint& c);
int run_trainer(const model::Network& net, sim::TrainOptions opt, comm::Communicator& comm,
                const std::string& resumed_from);

std::string describe_minmax(const std::vector<std::uint64_t>& v, bool bytes) {
  std::uint64_t lo = v.empty() ? 0 : v[0], hi = lo, sum = 0;
  for (auto x : v) lo = std::min(lo, x), hi = std::max(hi, x), sum += x;
  const double mean = v.empty() ? 0.0 : static_cast<double>(sum) / static_cast<double>(v.size());
  if (bytes)
    return fmt::format("min {} / mean {} / max {}", memory::human_bytes(static_cast<double>(lo)),
                       memory::human_bytes(mean), memory::human_bytes(static_cast<double>(hi)));
  return fmt::format("min {} / mean {:.0f} / max {}", lo, mean, hi);
}

int run(const RunArgs& a, comm::Communicator& world) {
  const bool root = world.rank() == 0;
  std::unique_ptr<comm::Communicator> dry;
  if (a.dry_ranks > 0) dry = comm::make_dry_run(a.dry_rank, a.dry_ranks);
  comm::Communicator& comm = dry ? *dry : world;

  const model::Network net = model::Network::from_config(model::Config::load(a.model, a.sets));
  sim::Options opt;
  opt.threads = threads_of(a);
  opt.progress = root && !a.quiet;
  opt.log = &std::cerr;
  if (!dry)
    opt.output = a.output.empty() ? std::filesystem::path("results") / (net.name + ".h5")
                                  : std::filesystem::path(a.output);
  if (!a.checkpoint_dir.empty()) {
    if (dry) throw UserError("dry runs cannot write checkpoints (--checkpoint-dir)");
    // STDP traces (K+, the K- history, spikes on their way to the synapses) are not in the
    // checkpoint yet: a resumed run would differ, so refuse rather than resume inexactly.
    for (const auto& p : net.projections)
      if (p.plasticity)
        throw UserError(
            fmt::format("projection '{}' is plastic (STDP); runs with plastic synapses cannot be "
                        "checkpointed yet (--checkpoint-dir)",
                        p.name));
    sim::CheckpointOptions c;
    c.dir = a.checkpoint_dir;
    c.keep = a.checkpoint_keep > 0 ? a.checkpoint_keep : 2;
    parse_checkpoint_every(a.checkpoint_every, net.run.dt_ms, c);
    if (a.stop_at_ms > 0) c.stop_at_step = net.ms_to_steps(a.stop_at_ms);
    refuse_used_checkpoint_dir(c.dir);
    opt.checkpoint = c;
    checkpoint::install_stop_handlers();
  } else if (!a.checkpoint_every.empty()) {
    throw UserError("--checkpoint-every needs --checkpoint-dir");
  }

  sim::Simulation simulation(net, comm, opt);
  {
    const auto s = simulation.summary();
    if (root) {
      std::cout << fmt::format(
          "plexus {} ({}): model '{}', {} neurons, {} synapses; {} rank(s){} x {} thread(s); built in {:.2f} "
          "s\n",
          version::version(), version::git_hash(), net.name, net.total_neurons, s.synapses, comm.size(),
          dry ? fmt::format(" (dry run as rank {})", a.dry_rank) : "", opt.threads, s.build_seconds);
      if (opt.output) std::cout << fmt::format("writing {}\n", opt.output->string());
      if (opt.checkpoint)
        std::cout << fmt::format("checkpoints in {}{}\n", opt.checkpoint->dir.string(),
                                 opt.checkpoint->every_text.empty() ? " (on SIGTERM/SIGUSR1 only)"
                                                                    : " every " + opt.checkpoint->every_text);
      std::cout.flush();
    }
  }
  const auto s = simulation.run();
  print_run_summary(simulation, s, opt, comm);
  return kExitOk;
}

void print_run_summary(const sim::Simulation& simulation, const sim::Summary& s, const sim::Options& opt,
                       comm::Communicator& comm) {
  const auto mem = simulation.memory();
  if (comm.rank() != 0) return;
  if (s.stopped) {
    std::cout << fmt::format(
        "stopped {} at t = {:.1f} ms after writing checkpoint {}\nresume with: plexus resume {}   (under "
        "mpiexec/srun with any number of ranks)\n",
        s.stop_signal ? std::string("on ") + checkpoint::signal_name(s.stop_signal) : std::string("as asked"),
        s.simulated_ms, s.last_checkpoint.string(), opt.checkpoint->dir.string());
    std::cout.flush();
    return;
  }
  std::uint64_t total_spikes = 0;
  for (const auto& p : s.populations) total_spikes += p.spikes;
  std::cout << fmt::format(
      "simulated {:.1f} ms in {:.2f} s wall ({:.3f} s per simulated second); {} spikes\n", s.simulated_ms,
      s.wall_seconds, s.simulated_ms > 0 ? s.wall_seconds / (s.simulated_ms * 1e-3) : 0.0, total_spikes);
  for (const auto& p : s.populations) {
    if (!p.spiking) {
      std::cout << fmt::format("  {:<16} {:<14} {:>8} neurons  (non-spiking)\n", p.name, p.model, p.size);
      continue;
    }
    std::cout << fmt::format("  {:<16} {:<14} {:>8} neurons  {:>10} spikes  {:8.3f} Hz\n", p.name, p.model,
                             p.size, p.spikes, p.rate_hz);
  }
  std::cout << fmt::format("peak memory per rank: {}\n", describe_minmax(s.peak_rss_bytes, true));
  if (s.synapses > 0) {
    std::uint64_t bytes = 0, local = 0;
    for (auto b : s.synapse_bytes) bytes += b;
    for (auto l : s.local_synapses) local += l;
    std::cout << fmt::format("synapses per rank: {}; {:.2f} bytes per synapse\n",
                             describe_minmax(s.local_synapses, false),
                             local ? static_cast<double>(bytes) / static_cast<double>(local) : 0.0);
  }
  std::string parts;
  for (const auto& [k, b] : mem.entries())
    parts +=
        fmt::format("{}{} {}", parts.empty() ? "" : ", ", k, memory::human_bytes(static_cast<double>(b)));
  std::cout << fmt::format("rank {} holds: {}\n", comm.rank(), parts);
  if (opt.output) std::cout << fmt::format("wrote {}\n", opt.output->string());
}

// plexus resume PATH: continues a run from its newest checkpoint (or the one named), on any number
// of ranks and threads, appending to the same result file.
int resume(const RunArgs& a, comm::Communicator& comm) {
  const bool root = comm.rank() == 0;
  const std::filesystem::path given = a.model;  // the checkpoint path
  std::string located, error;
  if (root) {
    try {
      if (std::filesystem::exists(given / "finished")) {
        std::ifstream in(given / "finished");
        std::string result;
        std::getline(in, result);
        located = "finished:" + result;
      } else {
        located = checkpoint::locate(given).string();
      }
    } catch (const std::exception& e) {
      error = e.what();
    }
  }
  comm.broadcast(error, 0);
  if (!error.empty()) throw UserError(error);
  comm.broadcast(located, 0);
  if (located.rfind("finished:", 0) == 0) {
    if (root)
      std::cout << fmt::format("the run in {} has finished; its result is {}\n", given.string(),
                               located.substr(9));
    return kExitOk;
  }
  const std::filesystem::path ckpt = located;
  checkpoint::Snapshot snapshot(ckpt, comm);
  const auto& m = snapshot.manifest();
  if (m.command != "run" && m.command != "train")
    throw UserError(fmt::format("checkpoint '{}' was written by 'plexus {}', which cannot be resumed",
                                ckpt.string(), m.command));
  if (m.plexus_version != version::version())
    throw UserError(fmt::format("checkpoint '{}' was written by Plexus {}; this is Plexus {}", ckpt.string(),
                                m.plexus_version, version::version()));
  if (root && m.git_hash != version::git_hash())
    std::cerr << fmt::format(
        "plexus: warning: checkpoint written by build {}, this is build {}; the result may "
        "differ in the last bits from an uninterrupted run\n",
        m.git_hash, version::git_hash());
  auto config = model::Config::parse(m.config_text, m.config_source, m.config_overrides);
  config.set_base_dir(m.config_base_dir);
  const model::Network net = model::Network::from_config(config);
  if (net.run.steps != m.total_steps || net.config.to_toml() != m.config_toml)
    throw UserError(fmt::format("checkpoint '{}' is mismatched: its config does not reproduce its network",
                                ckpt.string()));

  if (m.command == "train") {
    sim::TrainOptions opt;
    opt.threads = threads_of(a);
    opt.progress = root && !a.quiet;
    opt.log = &std::cerr;
    const auto result = m.texts.find("train/result_file");
    if (result == m.texts.end()) throw UserError("the checkpointed training run wrote no result file");
    opt.output = std::filesystem::path(a.output.empty() ? result->second : a.output);
    sim::TrainCheckpoint c;
    c.dir = ckpt.parent_path();
    const auto keep = m.integers.find("run/checkpoint_keep");
    c.keep = a.checkpoint_keep > 0      ? a.checkpoint_keep
             : keep != m.integers.end() ? static_cast<int>(keep->second)
                                        : 2;
    const auto every = m.texts.find("run/checkpoint_every");
    parse_train_checkpoint_every(!a.checkpoint_every.empty() ? a.checkpoint_every
                                 : every != m.texts.end()    ? every->second
                                                             : "",
                                 c);
    if (a.stop_at_iteration > 0) c.stop_at_iteration = a.stop_at_iteration;
    opt.checkpoint = c;
    opt.resume = &snapshot;
    checkpoint::install_stop_handlers();
    return run_trainer(net, opt, comm, ckpt.string());
  }
  sim::Options opt;
  opt.threads = threads_of(a);
  opt.progress = root && !a.quiet;
  opt.log = &std::cerr;
  if (!m.result_file.empty()) opt.output = std::filesystem::path(a.output.empty() ? m.result_file : a.output);
  if (m.result_file.empty() && !a.output.empty())
    throw UserError("the checkpointed run wrote no result file; -o does not apply");
  sim::CheckpointOptions c;
  c.dir = ckpt.parent_path();
  const auto keep = m.integers.find("run/checkpoint_keep");
  c.keep = a.checkpoint_keep > 0      ? a.checkpoint_keep
           : keep != m.integers.end() ? static_cast<int>(keep->second)
                                      : 2;
  const auto every = m.texts.find("run/checkpoint_every");
  parse_checkpoint_every(!a.checkpoint_every.empty() ? a.checkpoint_every
                         : every != m.texts.end()    ? every->second
                                                     : "",
                         net.run.dt_ms, c);
  if (a.stop_at_ms > 0) c.stop_at_step = net.ms_to_steps(a.stop_at_ms);
  opt.checkpoint = c;
  opt.resume = &snapshot;
  checkpoint::install_stop_handlers();

  sim::Simulation simulation(net, comm, opt);
  if (root) {
    std::cout << fmt::format(
        "plexus {} ({}): resuming '{}' from {} at t = {:.1f} ms (written on {} rank(s)); {} rank(s) x {} "
        "thread(s)\n",
        version::version(), version::git_hash(), net.name, ckpt.string(), net.step_to_ms(m.step), m.ranks,
        comm.size(), opt.threads);
    if (opt.output) std::cout << fmt::format("appending to {}\n", opt.output->string());
    std::cout.flush();
  }
  const auto s = simulation.run();
  print_run_summary(simulation, s, opt, comm);
  return kExitOk;
}

// plexus scale-test: builds the model at another size, runs a few hundred steps and reports, per rank
// (min / mean / max), the bytes of each structure, peak memory, bytes per synapse and time per step;
// under --dry-run-ranks R one process plays one rank of an R-rank run.
struct ScaleArgs {
  RunArgs run;
  double neurons = 0;
  std::string keep = "indegree";
  int steps = 300;
  std::string json;
};

int scale_test(const ScaleArgs& a, comm::Communicator& world) {
  const bool root = world.rank() == 0;
  std::unique_ptr<comm::Communicator> dry;
  if (a.run.dry_ranks > 0) dry = comm::make_dry_run(a.run.dry_rank, a.run.dry_ranks);
  comm::Communicator& comm = dry ? *dry : world;

  // Scale the populations of ordinary neurons (not spike sources or readouts) to `neurons` in all,
  // holding each projection's mean in-degree or its connection probability: network.scale and
  // network.scale_keep (model/scale.hpp), with the factor counted from the file's sizes.
  std::vector<std::string> sets = a.run.sets;
  sets.push_back("network.scale=1");
  const model::Network base = model::Network::from_config(model::Config::load(a.run.model, sets));
  const double scalable = model::scalable_neurons(base);
  if (scalable <= 0) throw UserError(a.run.model + ": no population of ordinary neurons to scale");
  const double f = a.neurons > 0 ? a.neurons / scalable : 1.0;
  sets.push_back(fmt::format("network.scale={:.17g}", f));
  sets.push_back(fmt::format("network.scale_keep={}", a.keep));
  const double dt = base.run.dt_ms;
  sets.push_back(fmt::format("run.duration_ms={:.17g}", a.steps * dt));
  const model::Network net = model::Network::from_config(model::Config::load(a.run.model, sets));

  sim::Options opt;
  opt.threads = threads_of(a.run);
  opt.progress = false;
  std::filesystem::path tmp;
  if (!dry) {
    // Record as the model says, into a file that is removed afterwards, so that recording buffers count.
    std::string name = fmt::format("plexus-scale-{}", ::getpid());
    comm.broadcast(name, 0);
    tmp = std::filesystem::temp_directory_path() / (name + ".h5");
    opt.output = tmp;
  }
  sim::Simulation simulation(net, comm, opt);
  simulation.run_until(net.run.steps);
  const auto mem = simulation.memory();  // before the end of the run releases the recording buffers
  const auto s = simulation.run();
  if (!tmp.empty() && root) std::filesystem::remove(tmp);

  auto get = [&](const char* k) -> std::uint64_t {
    auto it = mem.entries().find(k);
    return it == mem.entries().end() ? 0 : static_cast<std::uint64_t>(it->second);
  };
  const auto& st = comm.stats();
  const double steps = static_cast<double>(std::max<Step>(s.steps, 1));
  const double exch = st.seconds / steps, total = s.wall_seconds / steps;
  struct Row {
    std::string name, unit;
    std::vector<double> v;
  };
  auto per_rank = [&](double x) { return comm.allgather(x); };
  std::vector<Row> rows = {
      {"neuron state", "bytes", per_rank(static_cast<double>(get("neuron state")))},
      {"synapses", "bytes", per_rank(static_cast<double>(get("synapses")))},
      {"learning state", "bytes", per_rank(static_cast<double>(get("learning state")))},
      {"delay buffers", "bytes", per_rank(static_cast<double>(get("delay buffers")))},
      {"communication buffers", "bytes", per_rank(static_cast<double>(get("communication buffers")))},
      {"HDF5 buffers (recorder)", "bytes", per_rank(static_cast<double>(get("recording buffers")))},
      {"peak RSS", "bytes", per_rank(static_cast<double>(memory::peak_rss_bytes()))},
      {"local synapses", "",
       per_rank(static_cast<double>(s.local_synapses[static_cast<std::size_t>(comm.rank())]))},
      {"bytes per synapse", "",
       per_rank(s.local_synapses[static_cast<std::size_t>(comm.rank())]
                    ? static_cast<double>(get("synapses")) /
                          static_cast<double>(s.local_synapses[static_cast<std::size_t>(comm.rank())])
                    : 0.0)},
      {"time per step: compute", "ms", per_rank(1e3 * std::max(0.0, total - exch))},
      {"time per step: exchange", "ms", per_rank(1e3 * exch)},
      {"spikes received per step", "", per_rank(static_cast<double>(st.spikes_received) / steps)},
      {"bytes sent per step", "bytes", per_rank(static_cast<double>(st.bytes_sent) / steps)},
      {"bytes received per step", "bytes", per_rank(static_cast<double>(st.bytes_received) / steps)},
  };
  if (!root) return kExitOk;
  std::cout << fmt::format(
      "scale test: model '{}', {} neurons ({} x the file's ordinary neurons, {} held), {} synapses; {} "
      "rank(s){} x {} "
      "thread(s); {} steps of {} ms\n",
      net.name, net.total_neurons, fmt::format("{:.4g}", f),
      a.keep == "p" ? "connection probability" : "mean in-degree", s.synapses, comm.size(),
      dry ? fmt::format(" (dry run: this process is rank {})", a.run.dry_rank) : "", opt.threads, s.steps,
      dt);
  std::cout << fmt::format("{:<26} {:>14} {:>14} {:>14}\n", "per rank", "min", "mean", "max");
  for (const auto& r : rows) {
    double lo = r.v[0], hi = r.v[0], sum = 0;
    for (double x : r.v) lo = std::min(lo, x), hi = std::max(hi, x), sum += x;
    const double mean = sum / static_cast<double>(r.v.size());
    auto show = [&](double x) {
      return r.unit == "bytes" ? memory::human_bytes(x)
                               : fmt::format("{:.3g}{}", x, r.unit.empty() ? "" : " " + r.unit);
    };
    std::cout << fmt::format("{:<26} {:>14} {:>14} {:>14}\n", r.name, show(lo), show(mean), show(hi));
  }
  if (dry)
    std::cout << "(dry run: the other ranks are synthesised, so min = mean = max = this rank's values)\n";
  if (!a.json.empty()) {
    std::ofstream j(a.json);
    j << fmt::format(
        "{{\"model\": \"{}\", \"neurons\": {}, \"synapses\": {}, \"ranks\": {}, \"threads\": {}, "
        "\"dry_run\": {}, "
        "\"rank\": {}, \"steps\": {}, \"keep\": \"{}\", \"per_rank\": {{",
        net.name, net.total_neurons, s.synapses, comm.size(), opt.threads, dry ? "true" : "false",
        a.run.dry_rank, s.steps, a.keep);
    for (std::size_t i = 0; i < rows.size(); ++i) {
      j << fmt::format("{}\"{}\": [", i ? ", " : "", rows[i].name);
      for (std::size_t k = 0; k < (dry ? 1 : rows[i].v.size()); ++k)
        j << fmt::format("{}{:.17g}", k ? ", " : "", rows[i].v[k]);
      j << "]";
    }
    j << "}}\n";
  }
  return kExitOk;
}

// --checkpoint-every for training: iterations ("10it", "10iterations") or wall-clock time ("30min").
void parse_train_checkpoint_every(const std::string& text, sim::TrainCheckpoint& c) {
  if (text.empty()) return;
  const std::string forms = "give iterations ('10it') or wall-clock time ('30min', '1h')";
  const auto [value, unit] = split_interval(text, forms);
  c.every_text = text;
  if (unit == "it" || unit == "iterations") {
    c.every_iterations = std::max<std::int64_t>(1, std::llround(value));
  } else if (unit == "min" || unit == "h") {
    c.every_wall_seconds = value * (unit == "h" ? 3600.0 : 60.0);
  } else if (unit == "ms" || unit == "s" || unit == "trials") {
    throw UserError(fmt::format(
        "--checkpoint-every '{}': training checkpoints are taken between iterations; {}", text, forms));
  } else {
    throw UserError(fmt::format("--checkpoint-every '{}': unknown unit '{}'; {}", text, unit, forms));
  }
}

int run_trainer(const model::Network& net, sim::TrainOptions opt, comm::Communicator& comm,
                const std::string& resumed_from) {
  const bool root = comm.rank() == 0;
  sim::Trainer trainer(net, comm, opt);
  if (root) {
    std::cout << fmt::format("plexus {} ({}): {} '{}', {} neurons; {} rank(s) x {} thread(s)\n",
                             version::version(), version::git_hash(),
                             resumed_from.empty() ? "training" : "resuming the training of", net.name,
                             net.total_neurons, comm.size(), opt.threads);
    if (!resumed_from.empty()) std::cout << fmt::format("from {}\n", resumed_from);
    std::cout << fmt::format("{} {}\n", resumed_from.empty() ? "writing" : "appending to",
                             opt.output->string());
    if (opt.checkpoint)
      std::cout << fmt::format("checkpoints in {}{}\n", opt.checkpoint->dir.string(),
                               opt.checkpoint->every_text.empty() ? " (on SIGTERM/SIGUSR1 only)"
                                                                  : " every " + opt.checkpoint->every_text);
    std::cout.flush();
  }
  const auto s = trainer.run();
  if (!root) return kExitOk;
  if (s.stopped) {
    std::cout << fmt::format(
        "stopped {} after iteration {} and wrote checkpoint {}\nresume with: plexus resume {}   (under "
        "mpiexec -n M for any M)\n",
        s.stop_signal ? std::string("on ") + checkpoint::signal_name(s.stop_signal) : std::string("as asked"),
        s.iterations, s.last_checkpoint.string(), opt.checkpoint->dir.string());
    return kExitOk;
  }
  std::cout << fmt::format(
      "trained {} iteration(s) in {:.1f} s ({:.3f} s per iteration); last batch: loss {:.4f}, "
      "accuracy {:.3f}\n",
      s.iterations, s.wall_seconds, s.seconds_per_iteration, s.last_loss, s.last_accuracy);
  if (s.validation_accuracy >= 0)
    std::cout << fmt::format("validation accuracy {:.3f}{}\n", s.validation_accuracy,
                             s.reached_target ? " (target reached)" : "");
  if (s.test_accuracy >= 0)
    std::cout << fmt::format(
        "test accuracy {:.3f} on fresh trials{}\n", s.test_accuracy,
        s.restored_iteration > 0
            ? fmt::format(" (the weights of iteration {}, the best validation)", s.restored_iteration)
            : std::string());
  std::uint64_t state = 0, index = 0;
  for (auto b : s.learning_state_bytes) state += b;
  for (auto b : s.learning_index_bytes) index += b;
  const double n = static_cast<double>(std::max<std::uint64_t>(s.plastic_synapses, 1));
  std::cout << fmt::format(
      "{} plastic synapses; learning state {:.1f} bytes per synapse (+ {:.1f} bytes index); peak memory per "
      "rank: {}\n",
      s.plastic_synapses, static_cast<double>(state) / n, static_cast<double>(index) / n,
      describe_minmax(s.peak_rss_bytes, true));
  auto most = [](const std::vector<std::uint64_t>& v) {  // the largest rank's share
    return memory::human_bytes(static_cast<double>(v.empty() ? 0 : *std::max_element(v.begin(), v.end())));
  };
  std::cout << fmt::format(
      "learning state per rank, largest ({}): per synapse {} (of which eligibility traces {}; the rest is "
      "gradient and optimiser moments), per neuron {}, per source {}\n",
      s.rule, most(s.learning_synapse_bytes), most(s.learning_trace_bytes), most(s.learning_neuron_bytes),
      most(s.learning_source_bytes));
  std::cout << fmt::format("wrote {}\n", opt.output->string());
  return kExitOk;
}

int train(const RunArgs& a, comm::Communicator& comm) {
  const bool root = comm.rank() == 0;
  const model::Network net = model::Network::from_config(model::Config::load(a.model, a.sets));
  if (!net.train)
    throw UserError(
        fmt::format("{}: no [train] section; 'plexus run' simulates models without training", a.model));
  const std::string rule = net.train->string_or("rule", "eprop");
  const bool gradient_rule = rule == "eprop" || rule == "d_rtrl" || rule == "es_d_rtrl";
  if (!gradient_rule && (!a.checkpoint_dir.empty() || !a.checkpoint_every.empty() || a.stop_at_iteration > 0))
    throw UserError(
        "checkpoints of training runs are implemented for the gradient rules ([train] rule = \"eprop\", "
        "\"d_rtrl\" or \"es_d_rtrl\") only");
  if (net.train->string_or("rule", "") == "tempotron")
    return app::train_tempotron(net, comm, {a.model, a.output, a.threads, a.quiet});
  if (sim::uses_equilibrium_rule(net))
    return app::train_equilibrium(net, {a.output, a.threads, a.quiet}, comm);
  if (net.train->has("rule") && net.train->at("rule").is_string() && net.train->string("rule") == "force")
    return app::train_force(net, {a.output, a.threads, a.quiet}, comm);
  sim::TrainOptions opt;
  opt.threads = threads_of(a);
  opt.progress = root && !a.quiet;
  opt.log = &std::cerr;
  opt.output = a.output.empty() ? std::filesystem::path("results") / (net.name + ".h5")
                                : std::filesystem::path(a.output);
  if (!a.checkpoint_dir.empty()) {
    sim::TrainCheckpoint c;
    c.dir = a.checkpoint_dir;
    c.keep = a.checkpoint_keep > 0 ? a.checkpoint_keep : 2;
    parse_train_checkpoint_every(a.checkpoint_every, c);
    if (a.stop_at_iteration > 0) c.stop_at_iteration = a.stop_at_iteration;
    refuse_used_checkpoint_dir(c.dir);
    opt.checkpoint = c;
    checkpoint::install_stop_handlers();
  } else if (!a.checkpoint_every.empty() || a.stop_at_iteration > 0) {
    throw UserError("--checkpoint-every and --stop-at-iteration need --checkpoint-dir");
  }
  return run_trainer(net, opt, comm, "");
}

// plexus inspect MODEL.toml [--set ...]: the network a model file describes (after overrides, e.g.
// network.scale), without building it: populations, and per projection the mean in-degree counted
// from the connection generator itself (model/connectivity.hpp: each target's sources are a pure
// function of seed, projection and target, so counting them costs no memory).
int inspect_model(const std::string& path, const std::vector<std::string>& sets) {
  const model::Network net = model::Network::from_config(model::Config::load(path, sets));
  std::cout << fmt::format("model '{}' ({}): {} neurons, dt = {} ms, seed {}\n", net.name, path,
                           net.total_neurons, net.run.dt_ms, net.run.seed);
  std::cout << "populations:\n";
  Gid ordinary = 0;
  for (const auto& p : net.populations) {
    const bool scaled = model::scaled_model(p.model);
    if (scaled) ordinary += p.size;
    std::cout << fmt::format("  {:<16} {:<14} size {:>10}  first gid {:>10}{}\n", p.name, p.model, p.size,
                             p.first_gid, scaled ? "" : "  (not scaled by network.scale)");
  }
  std::cout << "projections (mean in-degree counted over all targets):\n";
  double recurrent = 0, synapses = 0;
  for (const auto& pr : net.projections) {
    const auto& src = net.populations[static_cast<std::size_t>(pr.source)];
    const auto& tgt = net.populations[static_cast<std::size_t>(pr.target)];
    const char* rule = pr.rule == model::ConnectRule::AllToAll           ? "all_to_all"
                       : pr.rule == model::ConnectRule::FixedProbability ? "fixed_probability"
                       : pr.rule == model::ConnectRule::FixedIndegree    ? "fixed_indegree"
                                                                         : "from_file";
    if (pr.rule == model::ConnectRule::FromFile) {
      std::cout << fmt::format("  {:<16} {} -> {}  from_file\n", pr.name, src.name, tgt.name);
      continue;
    }
    std::uint64_t count = 0;
    for (Gid t = 0; t < tgt.size; ++t)
      model::for_each_source(pr, net.run.seed, src.size, t, nullptr, [&](Gid) { ++count; });
    const double mean = static_cast<double>(count) / static_cast<double>(tgt.size);
    synapses += static_cast<double>(count);
    if (model::scaled_model(src.model) && model::scaled_model(tgt.model))
      recurrent += static_cast<double>(count);
    std::cout << fmt::format(
        "  {:<16} {} -> {}  {:<17} {}in-degree {:.4f}  synapses {}  weight {}\n", pr.name, src.name, tgt.name,
        rule, pr.rule == model::ConnectRule::FixedProbability ? fmt::format("p {:.6g}  ", pr.p) : "", mean,
        count, pr.weight ? pr.weight->describe() : "from file");
  }
  std::cout << fmt::format(
      "ordinary neurons {}; mean recurrent in-degree {:.4f} (synapses between ordinary neurons per ordinary "
      "neuron); {:.0f} synapses in all\n",
      ordinary, ordinary ? recurrent / static_cast<double>(ordinary) : 0.0, synapses);
  return kExitOk;
}

int inspect(const std::string& path, const std::vector<std::string>& sets) {
  if (std::filesystem::path(path).extension() == ".toml") return inspect_model(path, sets);
  if (!sets.empty()) throw UserError("--set applies to model files (.toml), not to result files");
  io::Reader r(path);
  std::cout << path << "\n";
  if (r.exists("/metadata")) {
    std::cout << fmt::format(
        "  Plexus {} ({}), model '{}': {} rank(s) x {} thread(s), {} ms at dt = {} ms, seed {}\n",
        r.attribute("/metadata", "plexus_version"), r.attribute("/metadata", "git_hash"),
        r.attribute("/metadata", "model"), r.attribute("/metadata", "ranks"),
        r.attribute("/metadata", "threads"), r.attribute("/metadata", "duration_ms"),
        r.attribute("/metadata", "dt_ms"), r.attribute("/metadata", "seed"));
    const auto wall = r.attribute("/metadata", "wall_time_s");
    if (!wall.empty())
      std::cout << fmt::format("  wall time {} s, {} synapses\n", wall, r.attribute("/metadata", "synapses"));
    else
      std::cout << "  (incomplete: the run did not finish writing this file)\n";
  }
  if (r.is_group("/network/populations")) {
    std::cout << "populations:\n";
    for (const auto& p : r.children("/network/populations")) {
      const std::string g = "/network/populations/" + p;
      const auto rate = r.attribute(g, "rate_hz");
      std::cout << fmt::format(
          "  {:<16} {:<14} size {:>8}  first gid {:>8}{}\n", p, r.attribute(g, "model"),
          r.attribute(g, "size"), r.attribute(g, "first_gid"),
          rate.empty() ? "" : fmt::format("  spikes {:>10}  rate {} Hz", r.attribute(g, "spikes"), rate));
    }
  }
  if (r.is_group("/spikes")) {
    std::cout << "spikes (SONATA):\n";
    for (const auto& p : r.children("/spikes")) {
      const std::string g = "/spikes/" + p;
      const auto times = r.read_doubles(g + "/timestamps");
      std::cout << fmt::format("  {:<16} {:>10} spikes", p, times.size());
      if (!times.empty()) std::cout << fmt::format("  from {} to {} ms", times.front(), times.back());
      std::cout << fmt::format("  sorting {}\n", r.attribute(g, "sorting"));
    }
  }
  if (r.is_group("/samples")) {
    std::cout << "samples:\n";
    for (const auto& p : r.children("/samples")) {
      const std::string g = "/samples/" + p;
      for (const auto& v : r.children(g)) {
        if (v == "node_ids" || v == "times_ms") continue;
        const auto info = r.info(g + "/" + v);
        std::cout << fmt::format("  {}/{}: {} times x {} neurons\n", p, v,
                                 info.shape.size() > 0 ? info.shape[0] : 0,
                                 info.shape.size() > 1 ? info.shape[1] : 0);
      }
    }
  }
  if (r.is_group("/weights")) {
    std::cout << "weights:\n";
    for (const auto& p : r.children("/weights")) {
      const auto info = r.info("/weights/" + p + "/values");
      std::cout << fmt::format("  {}: {} snapshot(s) of {} synapses\n", p,
                               info.shape.size() > 0 ? info.shape[0] : 0,
                               info.shape.size() > 1 ? info.shape[1] : 0);
    }
  }
  std::cout << "datasets:\n";
  std::vector<std::string> stack{"/"};
  std::vector<std::string> lines;
  while (!stack.empty()) {
    const std::string g = stack.back();
    stack.pop_back();
    for (const auto& c : r.children(g)) {
      const std::string path = (g == "/" ? "" : g) + "/" + c;
      if (r.is_group(path)) {
        stack.push_back(path);
      } else {
        const auto info = r.info(path);
        std::string shape;
        for (auto d : info.shape) shape += (shape.empty() ? "" : " x ") + std::to_string(d);
        lines.push_back(fmt::format("  {:<48} {:<8} {}", path, info.type, shape.empty() ? "scalar" : shape));
      }
    }
  }
  std::sort(lines.begin(), lines.end());
  for (const auto& l : lines) std::cout << l << "\n";
  return kExitOk;
}

}  // namespace

int main(int argc, char** argv) {
  std::unique_ptr<plexus::comm::Environment> env;
  try {
    env = std::make_unique<plexus::comm::Environment>(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "plexus: cannot start MPI: %s\n", e.what());
    return plexus::kExitFailure;
  }
  auto world = env->world();
  const bool root = world->rank() == 0;

  CLI::App app{"Plexus: distributed spiking-network simulation with online learning"};
  app.set_version_flag("--version",
                       std::string(plexus::version::version()) + " (" + plexus::version::git_hash() + ")");
  app.require_subcommand(1);
  RunArgs ra;
  auto* run_cmd = app.add_subcommand("run", "Simulate a model (run under mpiexec -n R for R ranks)");
  run_cmd->add_option("model", ra.model, "Model file (TOML)")->required();
  run_cmd->add_option("-o,--output", ra.output, "Result file (default: results/<model>.h5)");
  run_cmd->add_option("--threads", ra.threads, "OpenMP threads per rank (default 1, or OMP_NUM_THREADS)")
      ->check(CLI::Range(1, 1024));
  run_cmd->add_option("--set", ra.sets, "Override a model key: --set run.duration_ms=500 (repeatable)");
  run_cmd->add_flag("-q,--quiet", ra.quiet, "No progress line");
  auto* dr =
      run_cmd
          ->add_option(
              "--dry-run-ranks", ra.dry_ranks,
              "Play one rank of an R-rank run in this process (others' spikes synthesised; no result file)")
          ->check(CLI::Range(1, 1 << 20));
  run_cmd->add_option("--dry-run-rank", ra.dry_rank, "Which rank to play in a dry run (default 0)")
      ->needs(dr)
      ->check(CLI::NonNegativeNumber);
  auto* ckdir = run_cmd->add_option(
      "--checkpoint-dir", ra.checkpoint_dir,
      "Write checkpoints here (periodically with --checkpoint-every, and on SIGTERM/SIGUSR1)");
  run_cmd
      ->add_option("--checkpoint-every", ra.checkpoint_every,
                   "Simulated time ('100ms', '2s') or wall-clock time ('30min', '1h') between checkpoints")
      ->needs(ckdir);
  run_cmd->add_option("--checkpoint-keep", ra.checkpoint_keep, "Newest checkpoints kept (default 2)")
      ->needs(ckdir)
      ->check(CLI::Range(1, 1000000));
  run_cmd
      ->add_option("--stop-at-ms", ra.stop_at_ms,
                   "Checkpoint and stop at this simulated time (as on SIGUSR1)")
      ->needs(ckdir)
      ->check(CLI::PositiveNumber);
  RunArgs rsa;
  auto* resume_cmd = app.add_subcommand(
      "resume",
      "Continue a run from its newest checkpoint (under mpiexec -n M, any M), appending to its result file");
  resume_cmd
      ->add_option("checkpoint", rsa.model,
                   "Checkpoint directory (--checkpoint-dir of the run) or one checkpoint")
      ->required();
  resume_cmd->add_option(
      "-o,--output", rsa.output,
      "Result file to continue (its NAME.h5.partial must be there; default: the run's own)");
  resume_cmd->add_option("--threads", rsa.threads, "OpenMP threads per rank (default 1, or OMP_NUM_THREADS)")
      ->check(CLI::Range(1, 1024));
  resume_cmd->add_option("--checkpoint-every", rsa.checkpoint_every, "Change the checkpoint interval");
  resume_cmd->add_option("--checkpoint-keep", rsa.checkpoint_keep, "Change how many checkpoints are kept")
      ->check(CLI::Range(1, 1000000));
  resume_cmd->add_flag("-q,--quiet", rsa.quiet, "No progress line");
  resume_cmd->add_option("--stop-at-ms", rsa.stop_at_ms, "Checkpoint and stop again at this simulated time")
      ->check(CLI::PositiveNumber);
  resume_cmd
      ->add_option("--stop-at-iteration", rsa.stop_at_iteration,
                   "Training runs: checkpoint and stop again after this iteration")
      ->check(CLI::PositiveNumber);
  RunArgs ta;
  auto* train_cmd =
      app.add_subcommand("train", "Train a model with its [train] rule on its [task] (under mpiexec -n R)");
  train_cmd->add_option("model", ta.model, "Model file (TOML) with [task] and [train]")->required();
  train_cmd->add_option("-o,--output", ta.output, "Result file (default: results/<model>.h5)");
  train_cmd->add_option("--threads", ta.threads, "OpenMP threads per rank (default 1, or OMP_NUM_THREADS)")
      ->check(CLI::Range(1, 1024));
  train_cmd->add_option(
      "--set", ta.sets,
      "Override a model key: --set train.iterations=50 --set train.batch_size=32 (repeatable)");
  train_cmd->add_flag("-q,--quiet", ta.quiet, "No progress lines");
  train_cmd->add_option("--checkpoint-dir", ta.checkpoint_dir,
                        "Write checkpoints here (between iterations: periodically with --checkpoint-every, "
                        "and on SIGTERM/SIGUSR1)");
  train_cmd->add_option("--checkpoint-every", ta.checkpoint_every,
                        "Iterations ('10it') or wall-clock time ('30min', '1h') between checkpoints");
  train_cmd->add_option("--checkpoint-keep", ta.checkpoint_keep, "Newest checkpoints kept (default 2)")
      ->check(CLI::Range(1, 1000000));
  train_cmd
      ->add_option("--stop-at-iteration", ta.stop_at_iteration,
                   "Checkpoint and stop after this iteration (to split a run by hand)")
      ->check(CLI::PositiveNumber);
  ScaleArgs sa;
  auto* scale_cmd = app.add_subcommand(
      "scale-test",
      "Build a model at another size, run a few hundred steps, report memory and time per rank");
  scale_cmd->add_option("model", sa.run.model, "Model file (TOML)")->required();
  scale_cmd
      ->add_option("--neurons", sa.neurons,
                   "Neurons in the populations of ordinary neurons (default: as in the file)")
      ->check(CLI::PositiveNumber);
  scale_cmd
      ->add_option("--keep", sa.keep, "Hold each projection's mean in-degree (default) or its probability p")
      ->check(CLI::IsMember({"indegree", "p"}));
  scale_cmd->add_option("--steps", sa.steps, "Steps to run (default 300)")->check(CLI::Range(1, 100000000));
  scale_cmd->add_option("--threads", sa.run.threads, "OpenMP threads per rank")->check(CLI::Range(1, 1024));
  scale_cmd->add_option("--set", sa.run.sets, "Override a model key (repeatable)");
  scale_cmd->add_option("--json", sa.json, "Also write the figures to this file (JSON)");
  auto* sdr = scale_cmd
                  ->add_option("--dry-run-ranks", sa.run.dry_ranks,
                               "Play one rank of an R-rank run in this process (others' spikes synthesised)")
                  ->check(CLI::Range(1, 1 << 20));
  scale_cmd->add_option("--dry-run-rank", sa.run.dry_rank, "Which rank to play (default 0)")
      ->needs(sdr)
      ->check(CLI::NonNegativeNumber);
  std::string inspect_path;
  auto* inspect_cmd = app.add_subcommand("inspect", "Describe what a result file holds");
  inspect_cmd->add_option("file", inspect_path, "Result file (HDF5), or a model file (TOML)")->required();
  std::vector<std::string> inspect_sets;
  inspect_cmd->add_option("--set", inspect_sets, "Override a model key (repeatable; model files only)");
  auto* models_cmd = app.add_subcommand("models", "List the neuron models");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = 0;
    if (root)
      rc = app.exit(e);
    else
      rc = e.get_exit_code();
    return rc == 0 ? plexus::kExitOk : plexus::kExitUsage;
  }

  try {
    if (*run_cmd) {
      if (ra.dry_ranks > 0 && ra.dry_rank >= ra.dry_ranks)
        throw plexus::UserError("--dry-run-rank must be below --dry-run-ranks");
      return run(ra, *world);
    }
    if (*resume_cmd) return resume(rsa, *world);
    if (*scale_cmd) {
      if (sa.run.dry_ranks > 0 && sa.run.dry_rank >= sa.run.dry_ranks)
        throw plexus::UserError("--dry-run-rank must be below --dry-run-ranks");
      if (sa.run.dry_ranks > 0 && world->size() > 1)
        throw plexus::UserError("a dry run is one process: start it without mpiexec");
      return scale_test(sa, *world);
    }
    if (*train_cmd) return train(ta, *world);
    if (*inspect_cmd) return root ? inspect(inspect_path, inspect_sets) : plexus::kExitOk;
    if (*models_cmd) {
      if (root)
        for (const auto& n : plexus::neuron::Registry::get().names())
          std::cout << fmt::format("{:<16} {}\n", n, plexus::neuron::Registry::get().find(n)->summary);
      return plexus::kExitOk;
    }
  } catch (const plexus::UserError& e) {
    if (root) std::fprintf(stderr, "plexus: error: %s\n", e.what());
    return plexus::kExitUsage;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "plexus: rank %d failed: %s\n", world->rank(), e.what());
    // The other ranks may be waiting in a collective: end the job rather than hang.
    if (world->size() > 1) env->abort(plexus::kExitFailure);
    return plexus::kExitFailure;
  }
  return plexus::kExitOk;
}
