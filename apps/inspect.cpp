// plexus inspect: what a result file holds, or the network a model file describes.
#include <algorithm>
#include <filesystem>
#include <iostream>

#include <fmt/format.h>

#include "commands.hpp"
#include "plexus/core/error.hpp"
#include "plexus/core/types.hpp"
#include "plexus/io/result_file.hpp"
#include "plexus/model/connectivity.hpp"
#include "plexus/model/network.hpp"
#include "plexus/model/scale.hpp"

namespace plexus::app {

namespace {

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

}  // namespace

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
        const auto info = r.info(fmt::format("{}/{}", g, v));
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

}  // namespace plexus::app
