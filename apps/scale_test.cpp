// plexus scale-test: builds the model at another size, runs a few hundred steps and reports, per rank
// (min / mean / max), the bytes of each structure, peak memory, bytes per synapse and time per step;
// under --dry-run-ranks R one process plays one rank of an R-rank run.
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iostream>

#include <fmt/format.h>

#include "commands.hpp"
#include "plexus/core/error.hpp"
#include "plexus/core/memory.hpp"
#include "plexus/io/result_file.hpp"
#include "plexus/learning/rule.hpp"
#include "plexus/model/network.hpp"
#include "plexus/model/scale.hpp"
#include "plexus/sim/simulation.hpp"
#include "plexus/train/experiment.hpp"
#include "plexus/train/gradient/training.hpp"
#include "plexus/train/shell.hpp"

namespace plexus::app {

namespace {

struct Row {
  std::string name, unit;
  std::vector<double> v;
};

// The model scaled: the populations of ordinary neurons (not spike sources or readouts) to
// `neurons` in all, holding each projection's mean in-degree or its connection probability
// (network.scale and network.scale_keep, model/scale.hpp), with the factor counted from the file's
// sizes; `f` is set to that factor.
model::Network scaled(const ScaleArgs& a, double& f) {
  std::vector<std::string> sets = a.sets;
  sets.push_back("network.scale=1");
  const model::Network base = model::Network::from_config(model::Config::load(a.model, sets));
  const double scalable = model::scalable_neurons(base);
  if (scalable <= 0) throw UserError(a.model + ": no population of ordinary neurons to scale");
  f = a.neurons > 0 ? a.neurons / scalable : 1.0;
  sets.push_back(fmt::format("network.scale={:.17g}", f));
  sets.push_back(fmt::format("network.scale_keep={}", a.keep));
  sets.push_back(fmt::format("run.duration_ms={:.17g}", a.steps * base.run.dt_ms));
  return model::Network::from_config(model::Config::load(a.model, sets));
}

void print(const ScaleArgs& a, const model::Network& net, const sim::Summary& s, double f, int threads,
           bool dry, int ranks, const std::vector<Row>& rows) {
  std::cout << fmt::format(
      "scale test: model '{}', {} neurons ({} x the file's ordinary neurons, {} held), {} synapses; {} "
      "rank(s){} x {} "
      "thread(s); {} steps of {} ms\n",
      net.name, net.total_neurons, fmt::format("{:.4g}", f),
      a.keep == "p" ? "connection probability" : "mean in-degree", s.synapses, ranks,
      dry ? fmt::format(" (dry run: this process is rank {})", a.dry_rank) : "", threads, s.steps,
      net.run.dt_ms);
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
  if (a.json.empty()) return;
  std::ofstream j(a.json);
  j << fmt::format(
      "{{\"model\": \"{}\", \"neurons\": {}, \"synapses\": {}, \"ranks\": {}, \"threads\": {}, \"dry_run\": "
      "{}, "
      "\"rank\": {}, \"steps\": {}, \"keep\": \"{}\", \"per_rank\": {{",
      net.name, net.total_neurons, s.synapses, ranks, threads, dry ? "true" : "false", a.dry_rank, s.steps,
      a.keep);
  for (std::size_t i = 0; i < rows.size(); ++i) {
    j << fmt::format("{}\"{}\": [", i ? ", " : "", rows[i].name);
    for (std::size_t k = 0; k < (dry ? 1 : rows[i].v.size()); ++k)
      j << fmt::format("{}{:.17g}", k ? ", " : "", rows[i].v[k]);
    j << "]";
  }
  j << "}}\n";
}

}  // namespace

int scale_test(const ScaleArgs& a, comm::Communicator& world) {
  const bool root = world.rank() == 0;
  std::unique_ptr<comm::Communicator> dry;
  if (a.dry_ranks > 0) dry = comm::make_dry_run(a.dry_rank, a.dry_ranks);
  comm::Communicator& comm = dry ? *dry : world;
  double f = 1.0;
  const model::Network net = scaled(a, f);
  sim::Options opt;
  opt.threads = train::threads_of(a.threads);
  sim::Simulation simulation(net, comm, opt);
  // Record as the model says, into a file that is removed afterwards, so that recording buffers count.
  std::unique_ptr<io::ResultFile> file;
  if (!dry) {
    std::string name = fmt::format("plexus-scale-{}", ::getpid());
    comm.broadcast(name, 0);
    file = std::make_unique<io::ResultFile>(std::filesystem::temp_directory_path() / (name + ".h5"), comm);
    train::write_common_metadata(*file, net, comm, opt.threads, "scale-test");
    simulation.record_into(*file);
  }
  simulation.run_until(net.run.steps);
  const auto mem = simulation.memory();  // before the end of the run releases the recording buffers
  const auto s = simulation.summary();
  if (file) {
    simulation.finish_recording(s);
    const auto path = file->final_path();
    file->commit();
    file.reset();
    if (root) std::filesystem::remove(path);
  }

  auto get = [&](const char* k) -> std::uint64_t {
    auto it = mem.entries().find(k);
    return it == mem.entries().end() ? 0 : static_cast<std::uint64_t>(it->second);
  };
  const auto& st = comm.stats();
  const double steps = static_cast<double>(std::max<Step>(s.steps, 1));
  const double exch = st.seconds / steps, total = s.wall_seconds / steps;
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
  // A training model: the trial instances that `plexus train` with these threads (and --batch-groups
  // auto) would run on each rank, and their memory, from the training built as it would be.
  const auto* kind = net.train && net.task
                         ? train::experiment_for_rule(net.train->choice("rule", train::trainable_rules(),
                                                                        std::string(learning::kDefaultRule)))
                         : nullptr;
  if (kind && kind->name == "gradient" && !dry) {
    const train::gradient::GradientTraining training({net, comm, opt.threads, nullptr, 0});
    const auto m = training.instance_memory();
    rows.push_back({"trial instances", "", per_rank(static_cast<double>(m.instances))});
    rows.push_back({"  state per instance", "bytes", per_rank(static_cast<double>(m.per_instance))});
    rows.push_back({"  shared (synapses, rule)", "bytes", per_rank(static_cast<double>(m.shared))});
    rows.push_back({"  training total", "bytes", per_rank(static_cast<double>(m.total()))});
  }
  if (!root) return kExitOk;
  print(a, net, s, f, opt.threads, dry != nullptr, comm.size(), rows);
  return kExitOk;
}

}  // namespace plexus::app
