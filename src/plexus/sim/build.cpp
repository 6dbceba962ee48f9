// Building a simulation from its description: models and the partition, synapses (generated per
// local target, or read from a file), spike sources' trains, Poisson drives and current steps, and the
// checks of everything the description can get wrong (with the file, line and key of the mistake).
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <numeric>

#include <fmt/format.h>

#include "plexus/core/error.hpp"
#include "plexus/io/result_file.hpp"
#include "plexus/sim/simulation_impl.hpp"
#include "plexus/task/task.hpp"

namespace plexus::sim {

namespace {

using Clock = std::chrono::steady_clock;

neuron::SpikeTrains load_spike_trains(const model::Config& cfg, const std::string& file,
                                      const std::string& pop, const model::Node& where) {
  const auto path = cfg.resolve_path(file);
  if (!std::filesystem::exists(path)) where.fail(fmt::format("file '{}' does not exist", path.string()));
  io::Reader r(path);
  std::string base;
  if (r.exists("/spikes/" + pop + "/timestamps"))
    base = "/spikes/" + pop;
  else if (r.exists("/timestamps"))
    base = "";
  else
    where.fail(fmt::format("'{}' has neither /spikes/{}/timestamps nor /timestamps", path.string(), pop));
  const auto times = r.read_doubles(base + "/timestamps");
  const auto ids = r.read_u64(base + "/node_ids");
  if (times.size() != ids.size())
    where.fail(fmt::format("'{}': timestamps and node_ids differ in length", path.string()));
  neuron::SpikeTrains out;
  for (std::size_t i = 0; i < ids.size(); ++i) {
    if (ids[i] > 100000000)
      where.fail(fmt::format("'{}': node id {} is implausibly large", path.string(), ids[i]));
    if (!(times[i] >= 0)) where.fail(fmt::format("'{}': negative or invalid spike time", path.string()));
    if (ids[i] >= out.times_ms.size()) out.times_ms.resize(ids[i] + 1);
    out.times_ms[ids[i]].push_back(times[i]);
  }
  return out;
}

model::ConnectionList load_connections(const model::ProjectionSpec& p, Gid n_source, Gid n_target) {
  io::Reader r(p.file);
  for (const char* d : {"/source", "/target"})
    if (!r.exists(d)) p.node.at("file").fail(fmt::format("'{}' has no dataset {}", p.file.string(), d));
  const auto src = r.read_u64("/source");
  const auto tgt = r.read_u64("/target");
  if (src.size() != tgt.size())
    p.node.at("file").fail(fmt::format("'{}': source and target differ in length", p.file.string()));
  std::vector<double> w, d;
  if (r.exists("/weight")) w = r.read_doubles("/weight");
  if (r.exists("/delay_ms")) d = r.read_doubles("/delay_ms");
  if ((!w.empty() && w.size() != src.size()) || (!d.empty() && d.size() != src.size()))
    p.node.at("file").fail(
        fmt::format("'{}': weight/delay_ms must have one entry per connection", p.file.string()));
  std::vector<std::size_t> order(src.size());
  std::iota(order.begin(), order.end(), 0);
  for (std::size_t i = 0; i < src.size(); ++i)
    if (src[i] >= n_source || tgt[i] >= n_target)
      p.node.at("file").fail(
          fmt::format("'{}': connection {} ({} -> {}) is outside the populations ({} x {})", p.file.string(),
                      i, src[i], tgt[i], n_source, n_target));
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    return tgt[a] != tgt[b] ? tgt[a] < tgt[b] : src[a] < src[b];
  });
  model::ConnectionList list;
  list.row_begin.assign(static_cast<std::size_t>(n_target) + 1, 0);
  for (auto i : order) ++list.row_begin[tgt[i] + 1];
  std::partial_sum(list.row_begin.begin(), list.row_begin.end(), list.row_begin.begin());
  for (auto i : order) {
    list.source.push_back(static_cast<Gid>(src[i]));
    if (!w.empty()) list.weight.push_back(w[i]);
    if (!d.empty()) list.delay_ms.push_back(d[i]);
  }
  return list;
}

// The receptor a projection acts on: as named, else the target's only one, else the one that
// matches the source population's sign (Dale's law).
int choose_receptor(const model::ProjectionSpec& spec, const PopulationInfo& src, const PopulationInfo& tgt,
                    std::span<const neuron::Receptor> receptors) {
  const auto& node = spec.node;
  auto names = [&] {
    std::string list;
    for (const auto& x : receptors) list += (list.empty() ? "" : ", ") + x.name;
    return list;
  };
  if (!spec.receptor.empty()) {
    for (std::size_t i = 0; i < receptors.size(); ++i)
      if (receptors[i].name == spec.receptor) return static_cast<int>(i);
    node.at("receptor")
        .fail(fmt::format("model '{}' has no receptor '{}' (it has: {})", tgt.spec->model, spec.receptor,
                          names()));
  }
  if (receptors.size() == 1) return 0;
  for (std::size_t i = 0; i < receptors.size(); ++i) {
    const auto& x = receptors[i];
    if ((src.spec->dale == model::Dale::Excitatory &&
         (x.kind == neuron::ReceptorKind::Excitatory || x.name == "exc")) ||
        (src.spec->dale == model::Dale::Inhibitory &&
         (x.kind == neuron::ReceptorKind::Inhibitory || x.name == "inh")))
      return static_cast<int>(i);
  }
  node.fail(fmt::format("model '{}' has several receptors ({}); say which with 'receptor'", tgt.spec->model,
                        names()));
}

// How drawn weights become stored ones. Current receptors take signed weights, and Dale's law sets
// the sign; conductance receptors take magnitudes, and the receptor must match the source's sign.
synapse::WeightSign weight_sign(const model::ProjectionSpec& spec, const PopulationInfo& src,
                                const neuron::Receptor& rec) {
  const auto& node = spec.node;
  const bool constant = spec.weight && spec.weight->is_constant();
  if (rec.kind != neuron::ReceptorKind::Current) {
    if ((src.spec->dale == model::Dale::Excitatory && rec.kind != neuron::ReceptorKind::Excitatory) ||
        (src.spec->dale == model::Dale::Inhibitory && rec.kind != neuron::ReceptorKind::Inhibitory))
      node.fail(fmt::format("population '{}' is {} (Dale's law) but receptor '{}' is {}", src.spec->name,
                            src.spec->dale == model::Dale::Excitatory ? "excitatory" : "inhibitory", rec.name,
                            rec.kind == neuron::ReceptorKind::Excitatory ? "excitatory" : "inhibitory"));
    if (constant && spec.weight->a < 0)
      node.at("weight").fail(fmt::format("receptor '{}' is a conductance: weights must be >= 0", rec.name));
    return synapse::WeightSign::Magnitude;
  }
  if (src.spec->dale == model::Dale::Excitatory) return synapse::WeightSign::Magnitude;
  if (src.spec->dale == model::Dale::Inhibitory) {
    if (constant && spec.weight->a > 0)
      node.at("weight").fail(
          fmt::format("population '{}' is inhibitory (Dale's law): weights must be <= 0", src.spec->name));
    return synapse::WeightSign::NegativeMagnitude;
  }
  return synapse::WeightSign::AsDrawn;
}

}  // namespace

void Simulation::Impl::build() {
  const auto t0 = Clock::now();
  threads = std::max(1, opt.threads);
  trials = opt.trial_instances > 0;
  // Trial mode: each thread advances a whole instance, so populations and synapse stores have one
  // block (results do not depend on the blocks: every neuron's inputs arrive in the same order).
  blocks = trials ? 1 : threads;
  if (trials && comm.kind() == "dry-run") throw UserError("dry runs step one instance (no trial mode)");
  instances.push_back(std::make_unique<Instance>());
  build_populations();
  build_projections();
  build_inputs();
  check_recording();
  if (trials && !stdp.empty())
    throw UserError(
        "plastic (STDP) synapses change shared weights as they go: trials of such a model cannot run "
        "concurrently (train.parallel = \"neurons\")");
  main().block_spikes.assign(static_cast<std::size_t>(blocks), std::vector<std::vector<Gid>>(info.size()));
  // Each instance is made by the thread that will step it, so that its arrays come from that
  // thread's allocator arena and first touch: instances written every step by different threads
  // then share no cache lines (false sharing cost a fifth of the time of two instances).
  if (opt.trial_instances > 1) {
    instances.resize(static_cast<std::size_t>(opt.trial_instances));
    std::exception_ptr failure;
#pragma omp parallel num_threads(opt.trial_instances)
    {
      const int i = omp_get_thread_num();
      if (i > 0) {
        try {
          instances[static_cast<std::size_t>(i)] = make_instance(i);
        } catch (...) {
#pragma omp critical(plexus_make_instance)
          if (!failure) failure = std::current_exception();
        }
      }
    }
    if (failure) std::rethrow_exception(failure);
  }
  dry_rate.assign(info.size(), 0.0);
  build_seconds = std::chrono::duration<double>(Clock::now() - t0).count();
}

// Another instance: its own state of every population (the initial one), delay buffers of the same
// length as instance 0's, nothing else.
std::unique_ptr<detail::Instance> Simulation::Impl::make_instance(int index) {
  auto in = std::make_unique<Instance>();
  in->index = index;
  in->pops.resize(info.size());
  for (std::size_t p = 0; p < info.size(); ++p) {
    auto& ps = in->pops[p];
    const auto& proto = main().pops[p];
    ps.model = info[p].info->make(setup_of(p, *in));
    ps.spikes.assign(info[p].local.size(), 0.0);
    ps.i_ext.assign(proto.i_ext.size(), 0.0);
    for (const auto& r : proto.rings) ps.rings.emplace_back(info[p].local.size(), r.slots());
  }
  in->block_spikes.assign(static_cast<std::size_t>(blocks), std::vector<std::vector<Gid>>(info.size()));
  return in;
}

// Models and the partition: every rank holds all spike sources and readouts (decisions/0002),
// ordinary neurons in contiguous blocks.
void Simulation::Impl::build_populations() {
  const auto& registry = neuron::Registry::get();
  std::vector<bool> replicated;
  info.resize(net.populations.size());
  auto& pops = main().pops;
  pops.resize(net.populations.size());
  outgoing.assign(net.populations.size(), {});
  has_current.assign(net.populations.size(), 0);
  for (std::size_t p = 0; p < net.populations.size(); ++p) {
    const auto& spec = net.populations[p];
    const auto* model = registry.find(spec.model);
    if (!model) {
      std::string list;
      for (const auto& n : registry.names()) list += (list.empty() ? "" : ", ") + n;
      spec.node.at("model").fail(fmt::format("unknown neuron model '{}' (known: {})", spec.model, list));
    }
    info[p].spec = &spec;
    info[p].info = model;
    info[p].replicated = model->phase != neuron::Phase::Update;
    replicated.push_back(info[p].replicated);
  }
  part = std::make_unique<partition::Partition>(net, comm.size(), replicated);

  for (std::size_t p = 0; p < pops.size(); ++p) {
    auto& pi = info[p];
    auto& ps = pops[p];
    pi.local = part->local(static_cast<int>(p), comm.rank());
    for (int b = 0; b < blocks; ++b) pi.blocks.push_back(partition::block(pi.local.size(), blocks, b));
    ps.model = pi.info->make(setup_of(p, main()));
    ps.spikes.assign(pi.local.size(), 0.0);
    if (!ps.model->current_unit().empty()) ps.i_ext.assign(pi.local.size(), 0.0);
    if (ps.model->receptors().size() > kMaxReceptors)
      throw std::logic_error("neuron model '" + pi.spec->model +
                             "' has more receptors than the engine supports");
    ps.rings.resize(ps.model->receptors().size());
    switch (pi.info->phase) {
      case neuron::Phase::Generator:
        gen_pops.push_back(static_cast<int>(p));
        break;
      case neuron::Phase::Update:
        update_pops.push_back(static_cast<int>(p));
        break;
      case neuron::Phase::Readout:
        readout_pops.push_back(static_cast<int>(p));
        break;
    }
  }
}

// Projections: receptor, sign and delay rules, then synapse generation for local targets; the delay
// buffers are sized for the longest delay into each population.
void Simulation::Impl::build_projections() {
  auto& pops = main().pops;
  std::vector<std::size_t> slots(pops.size(), 1);
  projs.resize(net.projections.size());
  for (const auto& spec : net.projections) {
    const auto& src = info[static_cast<std::size_t>(spec.source)];
    const auto& tgt = info[static_cast<std::size_t>(spec.target)];
    const auto& node = spec.node;
    if (!src.info->spiking)
      node.at("source").fail(
          fmt::format("population '{}' ({}) does not spike", src.spec->name, src.spec->model));
    const auto receptors = pops[static_cast<std::size_t>(spec.target)].model->receptors();
    if (receptors.empty())
      node.at("target").fail(
          fmt::format("population '{}' ({}) takes no synaptic input", tgt.spec->name, tgt.spec->model));
    const int r = choose_receptor(spec, src, tgt, receptors);
    const synapse::WeightSign sign = weight_sign(spec, src, receptors[static_cast<std::size_t>(r)]);
    // Delay 0 only where the target is advanced after the source within the same step.
    const int min_delay = (src.generator() || tgt.readout()) ? 0 : 1;
    // A delay is a whole number of steps. A given one that is not is a mistake (a silent rounding
    // would move spikes by half a step); drawn delays are rounded to the grid, as documented.
    if (spec.delay_ms && spec.delay_ms->is_constant()) {
      const double steps = spec.delay_ms->a / net.run.dt_ms;
      if (std::fabs(steps - std::round(steps)) > 1e-6 * std::max(1.0, steps))
        node.at("delay_ms")
            .fail(fmt::format("{} ms is {:.4g} steps of dt = {} ms: a delay must be a whole number of steps "
                              "(for example {} or {} ms)",
                              spec.delay_ms->a, steps, net.run.dt_ms, std::floor(steps) * net.run.dt_ms,
                              std::ceil(steps) * net.run.dt_ms));
    }
    if (spec.delay_ms && std::round(spec.delay_ms->lowest() / net.run.dt_ms) < min_delay)
      node.at("delay_ms")
          .fail(fmt::format("delays must be at least {} step(s) of dt = {} ms here (only inputs from spike "
                            "sources and into readouts may have delay 0)",
                            min_delay, net.run.dt_ms));

    model::ConnectionList list;
    if (spec.rule == model::ConnectRule::FromFile)
      list = load_connections(spec, src.spec->size, tgt.spec->size);
    synapse::BuildSpec b;
    b.spec = &spec;
    b.n_source = src.spec->size;
    b.target_first_local = tgt.local.begin;
    b.blocks = tgt.blocks;
    b.seed = net.run.seed;
    b.dt_ms = net.run.dt_ms;
    b.min_delay_steps = min_delay;
    b.sign = sign;
    b.list = spec.rule == model::ConnectRule::FromFile ? &list : nullptr;
    projs[spec.index] = synapse::Projection::build(b);
    projs[spec.index].receptor = r;
    if (spec.plasticity) {
      // Plastic projections take their own path in phase 5 (see the schedule in step.cpp); static
      // ones stay in `outgoing`, untouched by plasticity.
      if (tgt.info->phase != neuron::Phase::Update || !tgt.info->spiking)
        spec.plasticity->fail(
            fmt::format("plastic synapses need a spiking target that is updated every step; "
                        "population '{}' ({}) is not one",
                        tgt.spec->name, tgt.spec->model));
      stdp.push_back(synapse::Stdp::build(synapse::StdpParams::read(*spec.plasticity), projs[spec.index],
                                          src.spec->size, sign, net.run.dt_ms, node));
    } else {
      outgoing[static_cast<std::size_t>(spec.source)].push_back(spec.index);
    }
    auto& n = slots[static_cast<std::size_t>(spec.target)];
    n = std::max<std::size_t>(n, projs[spec.index].max_delay() + 1u);
  }
  for (std::size_t p = 0; p < pops.size(); ++p)
    for (auto& ring : pops[p].rings) ring = synapse::RingBuffer(info[p].local.size(), slots[p]);
}

neuron::Setup Simulation::Impl::setup_of(std::size_t p, Instance& in) {
  neuron::Setup setup{*info[p].spec,
                      info[p].local,
                      net.run.dt_ms,
                      net.run.seed,
                      [this](const std::string& f, const std::string& pop, const model::Node& where) {
                        return load_spike_trains(net.config, f, pop, where);
                      },
                      {}};
  setup.trial = in.trial_key;
  // task_input populations read the current trial of the task (none outside training).
  setup.external_spikes = [&in](Step now, std::size_t b, std::size_t e, double* z) {
    if (in.task) {
      in.task->input_spikes(now, b, e, z + b);
    } else {
      for (std::size_t i = b; i < e; ++i) z[i] = 0.0;
    }
  };
  return setup;
}

void Simulation::Impl::reset_trial(Instance& in) {
  // Models are made again from their description: their initial state is a function of the seed
  // and ids, so every trial starts from the same state on any partition.
  for (std::size_t p = 0; p < in.pops.size(); ++p) {
    auto& ps = in.pops[p];
    ps.model = info[p].info->make(setup_of(p, in));
    std::fill(ps.spikes.begin(), ps.spikes.end(), 0.0);
    std::fill(ps.i_ext.begin(), ps.i_ext.end(), 0.0);
    for (auto& r : ps.rings) std::fill(r.data().begin(), r.data().end(), 0.0);
  }
  if (in.index == 0)
    for (auto& P : stdp) P.reset_traces();
  in.t = 0;
  if (in.index == 0) t = 0;
  if (current_changes.count(0))
    for (int b = 0; b < blocks; ++b) recompute_currents(in, 0, b);
}

void Simulation::Impl::build_inputs() {
  for (const auto& in : net.inputs) add_input(in);
}

void Simulation::Impl::add_input(const model::InputSpec& in) {
  const auto& pi = info[static_cast<std::size_t>(in.target)];
  auto& ps = main().pops[static_cast<std::size_t>(in.target)];
  std::vector<std::uint8_t> mask;
  if (!in.node_ids.empty()) {
    mask.assign(pi.local.size(), 0);
    for (Gid id : in.node_ids)
      if (pi.local.contains(id)) mask[id - pi.local.begin] = 1;
  }
  const Step start = net.ms_to_steps(in.start_ms);
  const Step stop = in.stop_ms > 0 ? net.ms_to_steps(in.stop_ms) : std::numeric_limits<Step>::max();
  if (in.kind == model::InputKind::Current) {
    if (ps.model->current_unit().empty())
      in.node.at("target").fail(fmt::format("model '{}' takes no current input", pi.spec->model));
    has_current[static_cast<std::size_t>(in.target)] = 1;
    currents.push_back({in.target, in.amplitude, start, stop, std::move(mask)});
    current_changes.insert(start);
    if (stop != std::numeric_limits<Step>::max()) current_changes.insert(stop);
    return;
  }
  const auto receptors = ps.model->receptors();
  if (pi.generator() || receptors.empty())
    in.node.at("target").fail(
        fmt::format("population '{}' ({}) takes no input", pi.spec->name, pi.spec->model));
  int r = -1;
  if (in.receptor.empty()) {
    if (receptors.size() == 1)
      r = 0;
    else
      in.node.fail("the target model has several receptors; say which with 'receptor'");
  } else {
    for (std::size_t i = 0; i < receptors.size(); ++i)
      if (receptors[i].name == in.receptor) r = static_cast<int>(i);
    if (r < 0)
      in.node.at("receptor")
          .fail(fmt::format("model '{}' has no receptor '{}'", pi.spec->model, in.receptor));
  }
  if (receptors[static_cast<std::size_t>(r)].kind != neuron::ReceptorKind::Current && in.weight < 0)
    in.node.at("weight").fail("conductance weights must be >= 0");
  drives.push_back({in.index, in.target, r, rng::Poisson(in.rate_hz * net.run.dt_ms * 1e-3), in.weight, start,
                    stop, std::move(mask)});
}

// External currents change only at the start and stop of current steps; at those steps each
// thread recomputes its own neurons' sum from scratch (never by adding and subtracting, which
// would leave rounding residue).
void Simulation::Impl::recompute_currents(Instance& in, Step at, int block) {
  for (std::size_t p = 0; p < in.pops.size(); ++p) {
    auto& ps = in.pops[p];
    if (!has_current[p]) continue;
    const auto blk = info[p].blocks[static_cast<std::size_t>(block)];
    for (Gid i = blk.begin; i < blk.end; ++i) ps.i_ext[i] = 0.0;
  }
  for (const auto& c : currents) {
    if (at < c.start || at >= c.stop) continue;
    auto& ps = in.pops[static_cast<std::size_t>(c.pop)];
    const auto blk = info[static_cast<std::size_t>(c.pop)].blocks[static_cast<std::size_t>(block)];
    for (Gid i = blk.begin; i < blk.end; ++i)
      if (c.mask.empty() || c.mask[i]) ps.i_ext[i] += c.amplitude;
  }
}

// What the recorder needs of each population.
std::vector<io::RecordedPopulation> Simulation::Impl::recorded_populations() const {
  const auto& pops = main().pops;
  std::vector<io::RecordedPopulation> rp(pops.size());
  for (std::size_t p = 0; p < pops.size(); ++p) {
    const auto& pi = info[p];
    const auto& ps = pops[p];
    rp[p].spiking = pi.info->spiking;
    if (net.record.spikes_all)
      rp[p].record_spikes = pi.info->spiking && !pi.generator();
    else
      rp[p].record_spikes =
          std::find(net.record.spike_populations.begin(), net.record.spike_populations.end(),
                    static_cast<int>(p)) != net.record.spike_populations.end();
    if (rp[p].record_spikes && !pi.info->spiking)
      net.config.root().at("record").at("spikes").fail(
          fmt::format("population '{}' does not spike", pi.spec->name));
    rp[p].local = pi.local;
    rp[p].blocks = pi.blocks;
    rp[p].variables = ps.model->variables();
    for (const auto& v : rp[p].variables) {
      rp[p].arrays.push_back(ps.model->variable(v));
      rp[p].units.push_back(ps.model->unit(v));
    }
  }
  return rp;
}

void Simulation::Impl::check_recording() const {
  io::Recorder::check(net, recorded_populations());
}

}  // namespace plexus::sim
