#include "plexus/model/network.hpp"
#include "plexus/model/scale.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <set>

#include <fmt/format.h>

namespace plexus::model {

namespace {

const char* kNameChars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-";

void check_name(const Node& n, const std::string& name) {
  if (name.empty() || name.find_first_not_of(kNameChars) != std::string::npos)
    n.fail("names may use only letters, digits, '_' and '-'");
}

int population_index(const Network& net, const Node& n) {
  const std::string s = n.as_string();
  for (const auto& p : net.populations)
    if (p.name == s) return p.index;
  std::string list;
  for (const auto& p : net.populations) list += (list.empty() ? "" : ", ") + p.name;
  n.fail(fmt::format("no population named '{}' (populations: {})", s, list));
}

std::vector<Gid> node_id_list(const Node& n, Gid size) {
  std::vector<Gid> ids;
  for (auto v : n.as_integer_array(Range::closed(0, static_cast<double>(size) - 1)))
    ids.push_back(static_cast<Gid>(v));
  std::sort(ids.begin(), ids.end());
  if (std::adjacent_find(ids.begin(), ids.end()) != ids.end()) n.fail("node ids must not repeat");
  return ids;
}

}  // namespace

Step Network::ms_to_steps(double ms) const {
  return static_cast<Step>(std::llround(ms / run.dt_ms));
}

double Network::step_to_ms(Step t) const {
  const double per_ms = 1.0 / run.dt_ms;
  const double whole = std::round(per_ms);
  if (whole >= 1.0 && std::fabs(per_ms - whole) < 1e-9 * whole) return static_cast<double>(t) / whole;
  return static_cast<double>(t) * run.dt_ms;
}

int Network::population_of(Gid gid) const {
  // populations are in gid order
  auto it = std::upper_bound(populations.begin(), populations.end(), gid,
                             [](Gid g, const PopulationSpec& p) { return g < p.first_gid; });
  return static_cast<int>(it - populations.begin()) - 1;
}

const PopulationSpec* Network::find_population(const std::string& n) const {
  for (const auto& p : populations)
    if (p.name == n) return &p;
  return nullptr;
}

namespace {

// [populations.<name>], in the order of the file (or of network.population_order, which the
// resolved configuration records so that re-reading it gives the same gids).
void read_populations(Network& net, const Node& root) {
  const Node pops = root.at("populations");
  std::vector<std::string> order = pops.keys();
  if (auto nw = root.find("network"); nw && nw->has("population_order")) {
    const Node po = nw->at("population_order");
    std::vector<std::string> given = po.as_string_array();
    std::vector<std::string> a = given, b = order;
    std::sort(a.begin(), a.end());
    std::sort(b.begin(), b.end());
    if (a != b) po.fail("must list every population exactly once");
    order = given;
  }
  if (order.empty()) pops.fail("at least one population is required");
  std::uint64_t next_gid = 0;
  for (const auto& name : order) {
    const Node p = pops.at(name);
    check_name(p, name);
    if (!p.is_table()) p.fail("expected a table describing the population");
    p.allow_only({"model", "size", "dale", "params", "init"});
    PopulationSpec spec{static_cast<int>(net.populations.size()),
                        name,
                        p.string("model"),
                        0,
                        0,
                        Dale::None,
                        p.find("params"),
                        p.find("init"),
                        p};
    spec.size = static_cast<Gid>(p.integer("size", Range::closed(1, 1.0e9)));
    const std::string dale = p.choice("dale", {"none", "excitatory", "inhibitory"}, std::string("none"));
    spec.dale = dale == "excitatory"   ? Dale::Excitatory
                : dale == "inhibitory" ? Dale::Inhibitory
                                       : Dale::None;
    if (spec.params && !spec.params->is_table()) spec.params->fail("expected a table of parameters");
    if (spec.init && !spec.init->is_table())
      spec.init->fail("expected a table: variable = value or distribution");
    spec.first_gid = static_cast<Gid>(next_gid);
    next_gid += spec.size;
    if (next_gid > std::numeric_limits<Gid>::max())
      p.at("size").fail("the network has more neurons than gids can number");
    net.populations.push_back(std::move(spec));
  }
  net.total_neurons = static_cast<Gid>(next_gid);
  {
    std::vector<std::string> names;
    for (const auto& p : net.populations) names.push_back(p.name);
    net.config.set_string_array("network.population_order", names);
  }
}

// The connection rule of a projection and the keys that do not apply to it.
void read_connection_rule(const Network& net, const Node& pr, ProjectionSpec& spec) {
  const auto& src = net.populations[spec.source];
  const std::string rule =
      pr.choice("rule", {"all_to_all", "fixed_probability", "fixed_indegree", "from_file"});
  spec.autapses = pr.boolean_or("autapses", false);
  spec.multapses = pr.boolean_or("multapses", false);
  std::vector<std::string> needs, forbids;
  if (rule == "all_to_all") {
    spec.rule = ConnectRule::AllToAll;
    forbids = {"p", "indegree", "file", "multapses"};
  } else if (rule == "fixed_probability") {
    spec.rule = ConnectRule::FixedProbability;
    spec.p = pr.number("p", Range::probability());
    forbids = {"indegree", "file", "multapses"};
  } else if (rule == "fixed_indegree") {
    spec.rule = ConnectRule::FixedIndegree;
    spec.indegree = pr.integer("indegree", Range::closed(0, 1.0e9));
    const bool self = spec.source == spec.target && !spec.autapses;
    const std::int64_t available = static_cast<std::int64_t>(src.size) - (self ? 1 : 0);
    if (!spec.multapses && spec.indegree > available)
      pr.at("indegree")
          .fail(fmt::format("exceeds the {} available sources (allow multapses to draw with replacement)",
                            available));
    forbids = {"p", "file"};
  } else {
    spec.rule = ConnectRule::FromFile;
    spec.file = net.config.resolve_path(pr.string("file"));
    if (!std::filesystem::exists(spec.file))
      pr.at("file").fail(fmt::format("file '{}' does not exist", spec.file.string()));
    forbids = {"p", "indegree", "multapses", "autapses"};
  }
  for (const auto& f : forbids)
    if (pr.has(f)) pr.at(f).fail(fmt::format("does not apply to rule '{}'", rule));
}

// Weights and delays (from the file where it says so), receptor, plasticity.
void read_weights_and_delays(const Network& net, const Node& pr, ProjectionSpec& spec) {
  const auto& src = net.populations[spec.source];
  auto from_file_marker = [&](const char* key) {
    return spec.rule == ConnectRule::FromFile && pr.has(key) && pr.at(key).is_string() &&
           pr.at(key).as_string() == "from_file";
  };
  if (from_file_marker("weight") || (spec.rule == ConnectRule::FromFile && !pr.has("weight"))) {
    spec.weight.reset();
  } else {
    spec.weight = Distribution::parse(pr.at("weight"));
    // Dale's law: an excitatory population's weights are >= 0, an inhibitory one's <= 0 for
    // signed (current) receptors; conductance receptors take magnitudes (checked when built).
    if (spec.weight->is_constant()) {
      if (src.dale == Dale::Excitatory && spec.weight->a < 0)
        pr.at("weight").fail(
            fmt::format("population '{}' is excitatory (Dale's law): weights must be >= 0", src.name));
    }
  }
  if (from_file_marker("delay_ms") || (spec.rule == ConnectRule::FromFile && !pr.has("delay_ms"))) {
    spec.delay_ms.reset();
  } else {
    spec.delay_ms = Distribution::parse(pr.at("delay_ms"), Range::non_negative());
  }
  if (auto r = pr.find("receptor")) spec.receptor = r->as_string();
  spec.plasticity = pr.find("plasticity");
  // Each target's incoming weights shifted to zero mean (the FORCE LIF networks' static part).
  spec.zero_mean_rows = pr.boolean_or("zero_mean_rows", false);
  if (spec.zero_mean_rows && src.dale != Dale::None)
    pr.at("zero_mean_rows")
        .fail(fmt::format("population '{}' follows Dale's law: its weights cannot be shifted to zero mean",
                          src.name));
}

void read_projections(Network& net, const Node& root) {
  auto projs = root.find("projections");
  if (!projs) return;
  for (const auto& name : projs->keys()) {
    const Node pr = projs->at(name);
    check_name(pr, name);
    if (!pr.is_table()) pr.fail("expected a table describing the projection");
    pr.allow_only({"source", "target", "rule", "p", "indegree", "autapses", "multapses", "file", "weight",
                   "delay_ms", "receptor", "plasticity", "zero_mean_rows"});
    ProjectionSpec spec;
    spec.index = static_cast<int>(net.projections.size());
    spec.name = name;
    spec.node = pr;
    spec.source = population_index(net, pr.at("source"));
    spec.target = population_index(net, pr.at("target"));
    read_connection_rule(net, pr, spec);
    read_weights_and_delays(net, pr, spec);
    net.projections.push_back(std::move(spec));
  }
}

// [inputs.<name>]
void read_inputs(Network& net, const Node& root) {
  if (auto ins = root.find("inputs")) {
    for (const auto& name : ins->keys()) {
      const Node in = ins->at(name);
      check_name(in, name);
      if (!in.is_table()) in.fail("expected a table describing the input");
      InputSpec spec;
      spec.index = static_cast<int>(net.inputs.size());
      spec.name = name;
      spec.node = in;
      const std::string type = in.choice("type", {"poisson", "current"});
      spec.target = population_index(net, in.at("target"));
      const auto& tgt = net.populations[spec.target];
      if (type == "poisson") {
        in.allow_only({"type", "target", "node_ids", "rate_hz", "weight", "receptor", "start_ms", "stop_ms"});
        spec.kind = InputKind::Poisson;
        spec.rate_hz = in.number("rate_hz", Range::non_negative());
        if (spec.rate_hz * net.run.dt_ms * 1e-3 > 1e6) in.at("rate_hz").fail("is too high for one input");
        spec.weight = in.number("weight");
        spec.receptor = in.string_or("receptor", "");
      } else {
        in.allow_only({"type", "target", "node_ids", "amplitude", "start_ms", "stop_ms"});
        spec.kind = InputKind::Current;
        spec.amplitude = in.number("amplitude");
      }
      spec.start_ms = in.number_or("start_ms", 0.0, Range::non_negative());
      spec.stop_ms = in.number_or("stop_ms", 0.0, Range::non_negative());
      if (spec.stop_ms > 0 && spec.stop_ms <= spec.start_ms)
        in.at("stop_ms").fail("must be after start_ms (or 0 for 'until the end')");
      if (auto ids = in.find("node_ids")) spec.node_ids = node_id_list(*ids, tgt.size);
      net.inputs.push_back(std::move(spec));
    }
  }
}

void read_samples(Network& net, const Node& samples) {
  for (const auto& pname : samples.keys()) {
    const Node s = samples.at(pname);
    s.allow_only({"variables", "node_ids", "interval_ms"});
    SampleSpec spec;
    spec.node = s;
    const PopulationSpec* pop = net.find_population(pname);
    if (!pop) s.fail(fmt::format("no population named '{}'", pname));
    spec.population = pop->index;
    spec.variables = s.at("variables").as_string_array();
    if (spec.variables.empty()) s.at("variables").fail("list at least one variable");
    if (auto ids = s.find("node_ids")) {
      spec.node_ids = node_id_list(*ids, pop->size);
    } else {
      for (Gid i = 0; i < std::min<Gid>(pop->size, 10); ++i) spec.node_ids.push_back(i);
    }
    const double interval = s.number_or("interval_ms", net.run.dt_ms, Range::positive());
    spec.interval_steps = net.ms_to_steps(interval);
    if (spec.interval_steps < 1 ||
        std::fabs(static_cast<double>(spec.interval_steps) * net.run.dt_ms - interval) > 1e-9)
      s.at("interval_ms").fail(fmt::format("must be a whole number of steps of dt_ms = {}", net.run.dt_ms));
    net.record.samples.push_back(std::move(spec));
  }
}

void read_weight_records(Network& net, const Node& weights) {
  for (const auto& prname : weights.keys()) {
    const Node w = weights.at(prname);
    w.allow_only({"times_ms", "interval_ms"});
    WeightRecordSpec spec;
    spec.node = w;
    auto it = std::find_if(net.projections.begin(), net.projections.end(),
                           [&](const ProjectionSpec& p) { return p.name == prname; });
    if (it == net.projections.end()) w.fail(fmt::format("no projection named '{}'", prname));
    spec.projection = it->index;
    if (!w.has("times_ms") && !w.has("interval_ms")) w.fail("give 'times_ms', 'interval_ms' or both");
    if (w.has("times_ms"))
      for (double t : w.at("times_ms").as_number_array(Range::closed(0.0, net.run.duration_ms)))
        spec.steps.push_back(net.ms_to_steps(t));
    if (w.has("interval_ms")) {
      // Regular snapshots from the start, and one at the end, whatever the duration.
      const Step every = net.ms_to_steps(w.number("interval_ms", Range::positive()));
      if (every < 1)
        w.at("interval_ms").fail(fmt::format("must be at least one step (dt = {} ms)", net.run.dt_ms));
      for (Step t = 0; t < net.run.steps; t += every) spec.steps.push_back(t);
      spec.steps.push_back(net.run.steps);
    }
    std::sort(spec.steps.begin(), spec.steps.end());
    spec.steps.erase(std::unique(spec.steps.begin(), spec.steps.end()), spec.steps.end());
    net.record.weights.push_back(std::move(spec));
  }
}

// [record]
void read_record(Network& net, const Node& root) {
  auto rec = root.find("record");
  if (!rec) return;
  rec->allow_only({"spikes", "flush_interval_ms", "samples", "weights"});
  if (auto s = rec->find("spikes")) {
    if (s->is_string()) {
      const std::string v = rec->choice("spikes", {"all", "none"});
      net.record.spikes_all = v == "all";
    } else {
      net.record.spikes_all = false;
      std::set<int> seen;
      for (const auto& item : s->items()) {
        const int idx = population_index(net, item);
        if (!seen.insert(idx).second) item.fail("population listed twice");
        net.record.spike_populations.push_back(idx);
      }
      std::sort(net.record.spike_populations.begin(), net.record.spike_populations.end());
    }
  }
  const double flush_ms = rec->number_or("flush_interval_ms", 100.0, Range::positive());
  net.record.flush_interval_steps = std::max<Step>(1, net.ms_to_steps(flush_ms));
  if (auto samples = rec->find("samples")) read_samples(net, *samples);
  if (auto weights = rec->find("weights")) read_weight_records(net, *weights);
}

}  // namespace

Network Network::from_config(Config config) {
  Network net;
  net.config = config;
  const Node root = config.root();
  root.allow_only(
      {"model", "run", "network", "populations", "projections", "inputs", "record", "task", "train"});
  // network.scale = F (model/scale.hpp): read the network at the file's size, then again with the
  // overrides that resize it. The last override sets network.scale = 1, so that the recorded
  // configuration (file text plus overrides) reads back as the same scaled network.
  if (auto nw = root.find("network"); nw && nw->has("scale")) {
    const double f = nw->number("scale", Range::positive());
    const ScaleKeep keep = nw->choice("scale_keep", {"indegree", "p"}, std::string("indegree")) == "p"
                               ? ScaleKeep::Probability
                               : ScaleKeep::Indegree;
    if (f != 1.0) {
      auto reparse = [&](const std::vector<std::string>& sets) {
        Config c = Config::parse(config.source_text(), config.source_name(), sets);
        c.set_base_dir(config.base_dir());
        return c;
      };
      std::vector<std::string> sets = config.overrides();
      sets.push_back("network.scale=1");
      const Network base = from_config(reparse(sets));
      if (scalable_neurons(base) <= 0)
        nw->at("scale").fail("there is no population of ordinary neurons to scale");
      const auto made = scale_overrides(base, f, keep);
      sets.insert(sets.end() - 1, made.begin(), made.end());
      try {
        return from_config(reparse(sets));
      } catch (const ConfigError& e) {
        // A value the scaling made is wrong: say so at network.scale, not at a key the user never typed.
        for (const auto& s : made)
          if (e.file() == "--set " + s)
            nw->at("scale").fail(fmt::format("scaling by {} makes {} = {}: {}", f, e.key(),
                                             s.substr(s.find('=') + 1), e.message()));
        throw;
      }
    }
  }
  // [task] and [train] are read by the task and learning modules; here they are only kept.
  net.task = root.find("task");
  net.train = root.find("train");
  if (net.train && !net.task) root.at("train").fail("a [train] section needs a [task] section");

  // [model]
  net.name = std::filesystem::path(config.source_name()).stem().string();
  if (auto m = root.find("model")) {
    m->allow_only({"name", "description"});
    net.name = m->string_or("name", net.name);
    if (m->has("name")) check_name(m->at("name"), net.name);
    if (auto d = m->find("description")) d->as_string();
  }

  // [run]
  const Node run = root.at("run");
  run.allow_only({"duration_ms", "dt_ms"});
  net.run.dt_ms = run.number_or("dt_ms", 0.1, Range::positive());
  // Training runs take their length from the task (trials); a duration is then optional.
  net.run.duration_ms = net.train ? run.number_or("duration_ms", 0.0, Range::non_negative())
                                  : run.number("duration_ms", Range::non_negative());
  net.run.steps = static_cast<Step>(std::llround(net.run.duration_ms / net.run.dt_ms));
  if (std::fabs(static_cast<double>(net.run.steps) * net.run.dt_ms - net.run.duration_ms) >
      1e-9 * std::max(1.0, net.run.duration_ms))
    run.at("duration_ms").fail(fmt::format("must be a whole number of steps of dt_ms = {}", net.run.dt_ms));

  // [network]
  if (auto nw = root.find("network")) {
    nw->allow_only({"seed", "population_order", "scale", "scale_keep"});
    net.run.seed = static_cast<std::uint64_t>(nw->integer_or("seed", 0, Range::closed(0, 9.0e15)));
  }

  read_populations(net, root);
  read_projections(net, root);
  read_inputs(net, root);
  read_record(net, root);
  return net;
}

}  // namespace plexus::model
