// plexus inspect: what a result file holds, or the network a model file describes.
#include <algorithm>
#include <filesystem>
#include <iostream>
#include <optional>

#include <fmt/format.h>

#include "commands.hpp"
#include "plexus/core/error.hpp"
#include "plexus/core/types.hpp"
#include "plexus/io/result_file.hpp"
#include "plexus/model/connectivity.hpp"
#include "plexus/model/network.hpp"
#include "plexus/model/scale.hpp"
#include "plexus/train/shell.hpp"

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

// An attribute as a number, or nothing if it is absent (Reader::attribute gives text).
std::optional<double> number(const io::Reader& r, const std::string& object, const std::string& name) {
  const std::string text = r.attribute(object, name);
  if (text.empty()) return std::nullopt;
  try {
    return std::stod(text);
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

// A dataset's values, or none if it is absent.
std::vector<double> values(const io::Reader& r, const std::string& path) {
  if (!r.exists(path) || r.is_group(path)) return {};
  return r.read_doubles(path);
}

std::string fixed(std::optional<double> v, int digits) {
  return v ? fmt::format("{:.{}f}", *v, digits) : std::string("?");
}

// What the run covered: simulated time, or for gradient training the trials (each iteration
// simulates a batch of them; /metadata duration_ms is absent there).
std::string span(const io::Reader& r, const std::string& experiment) {
  const auto dt = number(r, "/metadata", "dt_ms").value_or(0.0);
  if (experiment == "gradient") {
    const auto steps = number(r, "/metadata", "trial_steps");
    return steps ? fmt::format("trials of {:g} ms", *steps * dt) : std::string("trials");
  }
  const auto ms = number(r, "/metadata", "duration_ms");
  if (experiment == "equilibrium" || !ms) return "no simulated time";
  return fmt::format("{:g} ms", *ms);
}

// Synapses of the network: /metadata says so for runs; otherwise the sum over the projections.
std::string synapse_count(const io::Reader& r) {
  if (const auto n = number(r, "/metadata", "synapses")) return fmt::format("{:.0f} synapses", *n);
  if (!r.is_group("/network/projections")) return "";
  double sum = 0;
  for (const auto& p : r.children("/network/projections"))
    sum += number(r, "/network/projections/" + p, "synapses").value_or(0.0);
  return fmt::format("{:.0f} synapses", sum);
}

std::string seconds_text(double s) {
  return s < 60 ? fmt::format("{:.2f} s", s) : fmt::format("{:.0f} s ({})", s, train::human_seconds(s));
}

// `plexus train` with a gradient rule (e-prop, D-RTRL, ES-D-RTRL, reward-based e-prop): where the
// learning curve ended, the last validation and the test. A regression task has no accuracy (its
// curve holds zeros): its measure is the loss.
void summarise_gradient(const io::Reader& r) {
  const bool classification = number(r, "/metadata", "classification").value_or(1.0) != 0.0;
  const bool reward = r.attribute("/training", "mode") == "reward";
  const std::string correct = reward ? "success" : "accuracy";
  const auto iterations = number(r, "/training", "iterations");
  std::cout << fmt::format(
      "training ({}, task {}, {}): {} iteration(s) of {} trial(s), {} s per iteration, {} plastic synapses\n",
      r.attribute("/training", "rule"), r.attribute("/metadata", "task"),
      reward ? "reward" : (classification ? "classification" : "regression"),
      iterations ? fmt::format("{:.0f}", *iterations) : std::string("?"),
      r.attribute("/metadata", "batch_size"), fixed(number(r, "/training", "seconds_per_iteration"), 3),
      r.attribute("/training", "plastic_synapses"));
  const auto loss = values(r, "/training/loss"), acc = values(r, "/training/accuracy");
  if (!loss.empty())
    std::cout << fmt::format(
        "  last batch: loss {:.4f}{}{}\n", loss.back(),
        classification && !acc.empty() ? fmt::format(", {} {:.3f}", correct, acc.back()) : "",
        reward && !values(r, "/training/reward").empty()
            ? fmt::format(", reward {:.3f}", values(r, "/training/reward").back())
            : "");
  const auto vit = values(r, "/validation/iteration"), vacc = values(r, "/validation/accuracy"),
             vloss = values(r, "/validation/loss");
  if (!vit.empty() && !vloss.empty())
    std::cout << fmt::format(
        "  validation after iteration {:.0f}: {}loss {:.4f}{}\n", vit.back(),
        classification && !vacc.empty() ? fmt::format("{} {:.3f}, ", correct, vacc.back()) : "", vloss.back(),
        number(r, "/training", "reached_target").value_or(0.0) != 0.0 ? " (target reached)" : "");
  if (const auto it = number(r, "/training", "restored_iteration"))
    std::cout << fmt::format("  trained weights: those of iteration {:.0f}, the best validation\n", *it);
  if (r.exists("/test")) {
    const auto tacc = number(r, "/test", "accuracy"), tloss = number(r, "/test", "loss");
    std::cout << fmt::format("  test on {} fresh trials: {}{}\n", r.attribute("/test", "trials"),
                             tacc ? fmt::format("{} {:.3f}", correct, *tacc) : "",
                             tloss ? fmt::format("{}loss {:.4f}", tacc ? ", " : "", *tloss) : "");
  }
}

// FORCE: the phases, the rates before, during and after training, and per output how well the
// trained readout follows its target (RMS error at the end of training, the worst test window).
void summarise_force(const io::Reader& r) {
  const std::string g = "/force";
  std::cout << fmt::format(
      "FORCE training: population {} ({} neurons), {} output(s), target {}; training {}-{} ms, test to {} "
      "ms, "
      "{} RLS updates (every {} steps)\n",
      r.attribute(g, "population"), r.attribute(g, "neurons"), r.attribute(g, "outputs"),
      r.attribute(g, "target"), r.attribute(g, "train_begin_ms"), r.attribute(g, "train_end_ms"),
      r.attribute(g, "test_end_ms"), r.attribute(g, "rls_updates"), r.attribute(g, "rls_every_steps"));
  const auto rates = values(r, g + "/rates/mean_hz");
  if (rates.size() == 3)
    std::cout << fmt::format("  rate {:.2f} Hz before, {:.2f} Hz during, {:.2f} Hz after training\n",
                             rates[0], rates[1], rates[2]);
  const auto rms = values(r, g + "/metrics/train_rms");
  const auto corr = values(r, g + "/metrics/correlation"), amp = values(r, g + "/metrics/amplitude");
  std::string names = r.attribute(g, "output_names");
  const std::size_t outputs = rms.size();
  for (std::size_t k = 0; k < outputs; ++k) {
    // Output names are comma-separated; correlation and amplitude are window x output.
    const auto comma = names.find(',');
    const std::string name = names.substr(0, comma);
    names = comma == std::string::npos ? "" : names.substr(comma + 1);
    double worst_corr = 1.0, amp_lo = 0.0, amp_hi = 0.0;
    bool any = false;
    for (std::size_t i = k; i < corr.size() && i < amp.size(); i += outputs) {
      worst_corr = any ? std::min(worst_corr, corr[i]) : corr[i];
      amp_lo = any ? std::min(amp_lo, amp[i]) : amp[i];
      amp_hi = any ? std::max(amp_hi, amp[i]) : amp[i];
      any = true;
    }
    std::cout << fmt::format("  output {}: training RMS error {:.4f}{}\n",
                             name.empty() ? std::to_string(k) : name, rms[k],
                             any ? fmt::format("; test correlation >= {:.4f}, amplitude {:.3f} to {:.3f}",
                                               worst_corr, amp_lo, amp_hi)
                                 : std::string());
  }
}

void summarise_equilibrium(const io::Reader& r) {
  const auto acc = values(r, "/training/accuracy"), vacc = values(r, "/validation/accuracy");
  std::cout << fmt::format(
      "training (equilibrium): {} epoch(s), {} s per epoch{}{}{}\n", r.attribute("/training", "epochs"),
      fixed(number(r, "/training", "seconds_per_epoch"), 1),
      acc.empty() ? "" : fmt::format("; training accuracy {:.4f}", acc.back()),
      vacc.empty() ? "" : fmt::format(", validation {:.4f}", vacc.back()),
      r.exists("/test") ? fmt::format(", test {}", fixed(number(r, "/test", "accuracy"), 4)) : "");
}

void summarise_tempotron(const io::Reader& r) {
  const auto solved = values(r, "/tempotron/experiments/solved_epoch");
  const auto acc = values(r, "/tempotron/experiments/train_accuracy");
  double mean = 0;
  for (double a : acc) mean += a;
  std::cout << fmt::format(
      "training (tempotron): {} experiment(s) of at most {} epochs, {} solved; mean training accuracy "
      "{:.4f}\n",
      solved.size(), r.attribute("/tempotron", "epochs"),
      std::count_if(solved.begin(), solved.end(), [](double e) { return e >= 0; }),
      acc.empty() ? 0.0 : mean / static_cast<double>(acc.size()));
}

}  // namespace

int inspect(const std::string& path, const std::vector<std::string>& sets) {
  if (std::filesystem::path(path).extension() == ".toml") return inspect_model(path, sets);
  if (!sets.empty()) throw UserError("--set applies to model files (.toml), not to result files");
  // A damaged file is refused in one line before anything is printed. Files up to 1 GiB are checked
  // whole (every chunk's checksum); larger ones by what is read below, and whole by `plexus verify`.
  constexpr std::uintmax_t kCheckWhole = std::uintmax_t{1} << 30;
  std::error_code ec;
  const auto bytes = std::filesystem::file_size(path, ec);
  if (!ec && bytes <= kCheckWhole) {
    const auto v = io::verify(path);
    if (!v.intact()) throw UserError(fmt::format("{}: damaged: {}", path, v.damaged.front()));
  }
  io::Reader r(path);
  std::cout << path << "\n";
  const std::string experiment = r.attribute("/metadata", "experiment");
  if (r.exists("/metadata")) {
    std::cout << fmt::format(
        "  Plexus {} ({}), model '{}' ({}): {} rank(s) x {} thread(s), {} at dt = {} ms, seed {}\n",
        r.attribute("/metadata", "plexus_version"), r.attribute("/metadata", "git_hash"),
        r.attribute("/metadata", "model"), experiment.empty() ? "run" : experiment,
        r.attribute("/metadata", "ranks"), r.attribute("/metadata", "threads"), span(r, experiment),
        r.attribute("/metadata", "dt_ms"), r.attribute("/metadata", "seed"));
    // `resumes` is written only by a resumed run (ranks and threads are then those of its first part).
    const auto resumes = number(r, "/metadata", "resumes").value_or(0.0);
    const std::string synapses = synapse_count(r);
    const std::string resumed =
        resumes > 0 ? fmt::format("resumed {:.0f} time(s) from checkpoints", resumes) : "not resumed";
    if (const auto wall = number(r, "/metadata", "wall_time_s"))
      std::cout << fmt::format("  wall time {}{}{}; {}\n", seconds_text(*wall),
                               resumes > 0 ? " over all parts" : "", synapses.empty() ? "" : ", " + synapses,
                               resumed);
    else
      std::cout << fmt::format("  (incomplete: the run did not finish writing this file; {})\n", resumed);
  }
  if (experiment == "gradient" && r.is_group("/training")) summarise_gradient(r);
  if (experiment == "force" && r.is_group("/force")) summarise_force(r);
  if (experiment == "equilibrium" && r.is_group("/training")) summarise_equilibrium(r);
  if (experiment == "tempotron" && r.is_group("/tempotron")) summarise_tempotron(r);
  if (r.is_group("/network/populations")) {
    std::cout << "populations:\n";
    for (const auto& p : r.children("/network/populations")) {
      const std::string g = "/network/populations/" + p;
      const auto rate = number(r, g, "rate_hz");
      std::cout << fmt::format(
          "  {:<16} {:<14} size {:>8}  first gid {:>8}{}\n", p, r.attribute(g, "model"),
          r.attribute(g, "size"), r.attribute(g, "first_gid"),
          rate ? fmt::format("  spikes {:>10}  rate {:8.3f} Hz", r.attribute(g, "spikes"), *rate) : "");
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
