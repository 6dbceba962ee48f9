// The simulation and its step schedule.
//
// Per step t, on every rank (each thread works on its own block of every population's neurons):
//   1 inputs   spike sources (every rank computes all of them: they are functions of seed, gid and
//              t) and their delivery into local delay buffers; independent Poisson drives and
//              current steps for local neurons.
//   2 deliver  the input due at t is the ring-buffer slot t mod D, read by the kernel in phase 3.
//   3 update   neuron kernels: state, spikes and (learning models) pseudo-derivatives. The kernel
//              consumes (reads and zeroes) the slot, so it is ready to be reused D steps later.
//              The spikes made here are also the postsynaptic spikes of plastic synapses (phase 5).
//   4 exchange this rank's spikes (in gid order) go to every rank; all spikes of step t come back
//              in gid order, whatever the partition.
//   5 enqueue  each thread adds, for every spike in gid order, the weights of its own synapses into
//              slot (t + d) mod D of its own neurons. Every neuron therefore receives its inputs in
//              the same order (by source gid, then synapse) for any number of ranks or threads,
//              which makes floating-point sums, and so the whole run, partition-independent.
//              Plastic projections (STDP, synapse/stdp.hpp) follow the static ones, projection by
//              projection, and never run in phase 1: (a) their postsynaptic spikes of step t enter
//              the K- trace, and those sent d steps ago reach their synapses now and potentiate
//              them; this must precede (b), so that a pair that coincides at the synapse counts
//              neither way (NEST's convention); (b) every presynaptic spike of step t, spike
//              sources' included, is depressed by K-(t - d), delivered with its new weight, and
//              added to K+. (a) needs this step's postsynaptic spikes, hence after phase 3, and
//              spike sources' plastic synapses wait until here for the same reason; their delays
//              are at least one step, so slot t + d is still ahead. Each thread touches only the
//              synapses onto its own neurons and keeps its own copy of the presynaptic traces, so
//              the weights do not depend on the number of threads or ranks.
//   6 readout  readout populations (every rank holds all of them) take this step's spikes with
//              delay 0, so each rank has the same readout values without a reduction. This must
//              follow phase 5, which is where those spikes are enqueued.
//   7 learn    (training only) the master thread forms what every thread needs from the readouts
//              and this step's spikes (errors, presynaptic traces); then every thread advances the
//              eligibility traces and gradients of its own synapses. After 6, because a learning
//              signal must be known before the traces it multiplies; see sim/trainer.cpp. FORCE
//              (sim/force_trainer.cpp) uses the same two parts: serially, the decoded output of
//              this step's spikes; in parallel, rows of P r and the feedback current, which phase 3
//              of the next step reads (so it must be written after 3 and before the next 3).
//   8 record   spikes (master thread), samples (each thread, own neurons); collective flushes to
//              the result file every flush interval, and weight snapshots, at step boundaries only.
// Checkpoints (later) are taken between steps only, when all of the above is complete.
#include "plexus/sim/simulation.hpp"

#include <omp.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cmath>
#include <exception>
#include <fstream>
#include <map>
#include <numeric>
#include <set>

#include <fmt/format.h>

#include "plexus/core/error.hpp"
#include "plexus/core/rng.hpp"
#include "plexus/core/version.hpp"
#include "plexus/io/result_file.hpp"
#include "plexus/neuron/population.hpp"
#include "plexus/partition/partition.hpp"
#include "plexus/sim/recorder.hpp"
#include "plexus/sim/simulation_impl.hpp"
#include "plexus/synapse/projection.hpp"
#include "plexus/task/task.hpp"

namespace plexus::sim {

namespace {

using detail::PopState;

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// Appends base + i for every i in [begin, end) with z[i] != 0. Spikes are rare, so blocks of eight
// neurons are first tested together (a vectorisable sum of zeros and ones).
void collect_spikes(const double* z, Gid begin, Gid end, Gid base, std::vector<Gid>& out) {
  Gid i = begin;
  for (; i + 8 <= end; i += 8) {
    double any = 0.0;
    for (Gid k = 0; k < 8; ++k) any += z[i + k];
    if (any == 0.0) continue;
    for (Gid k = 0; k < 8; ++k)
      if (z[i + k] != 0.0) out.push_back(base + i + k);
  }
  for (; i < end; ++i)
    if (z[i] != 0.0) out.push_back(base + i);
}

}  // namespace

// ------------------------------------------------------------------------------------------------
// Building
// ------------------------------------------------------------------------------------------------
namespace {

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
int choose_receptor(const model::ProjectionSpec& spec, const PopState& src, const PopState& tgt) {
  const auto receptors = tgt.model->receptors();
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
synapse::WeightSign weight_sign(const model::ProjectionSpec& spec, const PopState& src,
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
  T = std::max(1, opt.threads);
  const auto& registry = neuron::Registry::get();

  // Models and the partition.
  std::vector<bool> replicated;
  pops.resize(net.populations.size());
  for (std::size_t p = 0; p < net.populations.size(); ++p) {
    const auto& spec = net.populations[p];
    const auto* info = registry.find(spec.model);
    if (!info) {
      std::string list;
      for (const auto& n : registry.names()) list += (list.empty() ? "" : ", ") + n;
      spec.node.at("model").fail(fmt::format("unknown neuron model '{}' (known: {})", spec.model, list));
    }
    pops[p].spec = &spec;
    pops[p].info = info;
    replicated.push_back(info->phase != neuron::Phase::Update);
  }
  part = std::make_unique<partition::Partition>(net, comm.size(), replicated);

  for (std::size_t p = 0; p < pops.size(); ++p) {
    auto& ps = pops[p];
    ps.local = part->local(static_cast<int>(p), comm.rank());
    for (int th = 0; th < T; ++th) ps.blocks.push_back(partition::block(ps.local.size(), T, th));
    ps.model = ps.info->make(setup_of(p));
    ps.spikes.assign(ps.local.size(), 0.0);
    if (!ps.model->current_unit().empty()) ps.i_ext.assign(ps.local.size(), 0.0);
    if (ps.model->receptors().size() > kMaxReceptors)
      throw std::logic_error("neuron model '" + ps.spec->model +
                             "' has more receptors than the engine supports");
    ps.rings.resize(ps.model->receptors().size());
    switch (ps.info->phase) {
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

  // Projections: receptor, sign and delay rules, then synapse generation for local targets.
  std::vector<std::size_t> slots(pops.size(), 1);
  projs.resize(net.projections.size());
  for (const auto& spec : net.projections) {
    auto& src = pops[spec.source];
    auto& tgt = pops[spec.target];
    const auto& node = spec.node;
    if (!src.info->spiking)
      node.at("source").fail(
          fmt::format("population '{}' ({}) does not spike", src.spec->name, src.spec->model));
    const auto receptors = tgt.model->receptors();
    if (receptors.empty())
      node.at("target").fail(
          fmt::format("population '{}' ({}) takes no synaptic input", tgt.spec->name, tgt.spec->model));
    const int r = choose_receptor(spec, src, tgt);
    const synapse::WeightSign sign = weight_sign(spec, src, receptors[static_cast<std::size_t>(r)]);
    // Delay 0 only where the target is advanced after the source within the same step.
    const int min_delay = (src.generator() || tgt.readout()) ? 0 : 1;
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
      // Plastic projections take their own path in phase 5 (see the schedule above); static ones
      // stay in `outgoing`, untouched by plasticity.
      if (tgt.info->phase != neuron::Phase::Update || !tgt.info->spiking)
        spec.plasticity->fail(
            fmt::format("plastic synapses need a spiking target that is updated every step; "
                        "population '{}' ({}) is not one",
                        tgt.spec->name, tgt.spec->model));
      stdp.push_back(synapse::Stdp::build(synapse::StdpParams::read(*spec.plasticity), projs[spec.index],
                                          src.spec->size, sign, net.run.dt_ms, node));
    } else {
      src.outgoing.push_back(spec.index);
    }
    slots[spec.target] = std::max<std::size_t>(slots[spec.target], projs[spec.index].max_delay() + 1u);
  }
  for (std::size_t p = 0; p < pops.size(); ++p)
    for (auto& ring : pops[p].rings) ring = synapse::RingBuffer(pops[p].local.size(), slots[p]);

  build_inputs();
  thread_spikes.assign(static_cast<std::size_t>(T), std::vector<std::vector<Gid>>(pops.size()));
  dry_rate.assign(pops.size(), 0.0);
  build_seconds = seconds_since(t0);
}

neuron::Setup Simulation::Impl::setup_of(std::size_t p) {
  const auto& ps = pops[p];
  neuron::Setup setup{*ps.spec,
                      ps.local,
                      net.run.dt_ms,
                      net.run.seed,
                      [this](const std::string& f, const std::string& pop, const model::Node& where) {
                        return load_spike_trains(net.config, f, pop, where);
                      },
                      {}};
  setup.trial = trial_key;
  // task_input populations read the current trial of the task (none outside training).
  setup.external_spikes = [this](Step now, std::size_t b, std::size_t e, double* z) {
    if (task) {
      task->input_spikes(now, b, e, z + b);
    } else {
      for (std::size_t i = b; i < e; ++i) z[i] = 0.0;
    }
  };
  return setup;
}

void Simulation::Impl::reset_trial() {
  // Models are made again from their description: their initial state is a function of the seed
  // and ids, so every trial starts from the same state on any partition.
  for (std::size_t p = 0; p < pops.size(); ++p) {
    auto& ps = pops[p];
    ps.model = ps.info->make(setup_of(p));
    std::fill(ps.spikes.begin(), ps.spikes.end(), 0.0);
    std::fill(ps.i_ext.begin(), ps.i_ext.end(), 0.0);
    for (auto& r : ps.rings) std::fill(r.data().begin(), r.data().end(), 0.0);
  }
  for (auto& P : stdp) P.reset_traces();
  t = 0;
  if (current_changes.count(0))
    for (int th = 0; th < T; ++th) recompute_currents(0, th);
}

void Simulation::Impl::build_inputs() {
  for (const auto& in : net.inputs) {
    auto& ps = pops[in.target];
    std::vector<std::uint8_t> mask;
    if (!in.node_ids.empty()) {
      mask.assign(ps.local.size(), 0);
      for (Gid id : in.node_ids)
        if (ps.local.contains(id)) mask[id - ps.local.begin] = 1;
    }
    const Step start = net.ms_to_steps(in.start_ms);
    const Step stop = in.stop_ms > 0 ? net.ms_to_steps(in.stop_ms) : std::numeric_limits<Step>::max();
    if (in.kind == model::InputKind::Poisson) {
      const auto receptors = ps.model->receptors();
      if (ps.generator() || receptors.empty())
        in.node.at("target").fail(
            fmt::format("population '{}' ({}) takes no input", ps.spec->name, ps.spec->model));
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
              .fail(fmt::format("model '{}' has no receptor '{}'", ps.spec->model, in.receptor));
      }
      if (receptors[static_cast<std::size_t>(r)].kind != neuron::ReceptorKind::Current && in.weight < 0)
        in.node.at("weight").fail("conductance weights must be >= 0");
      drives.push_back({in.index, in.target, r, rng::Poisson(in.rate_hz * net.run.dt_ms * 1e-3), in.weight,
                        start, stop, std::move(mask)});
    } else {
      if (ps.model->current_unit().empty())
        in.node.at("target").fail(fmt::format("model '{}' takes no current input", ps.spec->model));
      ps.has_current = true;
      currents.push_back({in.target, in.amplitude, start, stop, std::move(mask)});
      current_changes.insert(start);
      if (stop != std::numeric_limits<Step>::max()) current_changes.insert(stop);
    }
  }
}

// External currents change only at the start and stop of current steps; at those steps each
// thread recomputes its own neurons' sum from scratch (never by adding and subtracting, which
// would leave rounding residue).
void Simulation::Impl::recompute_currents(Step at, int thread) {
  for (auto& ps : pops) {
    if (!ps.has_current) continue;
    const auto blk = ps.blocks[thread];
    for (Gid i = blk.begin; i < blk.end; ++i) ps.i_ext[i] = 0.0;
  }
  for (const auto& c : currents) {
    if (at < c.start || at >= c.stop) continue;
    auto& ps = pops[c.pop];
    const auto blk = ps.blocks[thread];
    for (Gid i = blk.begin; i < blk.end; ++i)
      if (c.mask.empty() || c.mask[i]) ps.i_ext[i] += c.amplitude;
  }
}

void Simulation::Impl::setup_recording() {
  if (!opt.output) return;
  file = std::make_unique<io::ResultFile>(
      *opt.output, comm, opt.resume ? io::ResultFile::Mode::Append : io::ResultFile::Mode::Create);
  std::vector<RecordedPopulation> rp(pops.size());
  for (std::size_t p = 0; p < pops.size(); ++p) {
    auto& ps = pops[p];
    rp[p].spiking = ps.info->spiking;
    if (net.record.spikes_all)
      rp[p].record_spikes = ps.info->spiking && !ps.generator();
    else
      rp[p].record_spikes =
          std::find(net.record.spike_populations.begin(), net.record.spike_populations.end(),
                    static_cast<int>(p)) != net.record.spike_populations.end();
    if (rp[p].record_spikes && !ps.info->spiking)
      net.config.root().at("record").at("spikes").fail(
          fmt::format("population '{}' does not spike", ps.spec->name));
    rp[p].local = ps.local;
    rp[p].blocks = ps.blocks;
    rp[p].variables = ps.model->variables();
    for (const auto& v : rp[p].variables) {
      rp[p].arrays.push_back(ps.model->variable(v));
      rp[p].units.push_back(ps.model->unit(v));
    }
  }
  if (opt.resume) {
    // Continuing from a checkpoint: the datasets exist; take them up where the checkpoint left them.
    const auto& m = opt.resume->manifest();
    Recorder::Resume r;
    r.step = t;
    const std::string prefix = "sim/result/rows:";
    for (const auto& [k, v] : m.integers)
      if (k.rfind(prefix, 0) == 0) r.lengths[k.substr(prefix.size())] = static_cast<std::uint64_t>(v);
    for (std::size_t i = 0; i < net.record.weights.size(); ++i)
      r.weight_next.push_back(opt.resume->reader().integer(fmt::format("sim/recorder/weights_taken:{}", i)));
    recorder = std::make_unique<Recorder>(net, *part, comm, *file, std::move(rp), T, &r);
    file->attribute("/metadata", "resumes", resumes + 1);
    return;
  }
  recorder = std::make_unique<Recorder>(net, *part, comm, *file, std::move(rp), T);

  // Description of the run: configuration, versions, network layout.
  file->create_group("/metadata");
  file->write_text("/metadata/config", net.config.to_toml());
  file->attribute("/metadata", "plexus_version", std::string(version::version()));
  file->attribute("/metadata", "git_hash", std::string(version::git_hash()));
  file->attribute("/metadata", "model", net.name);
  file->attribute("/metadata", "ranks", static_cast<std::int64_t>(comm.size()));
  file->attribute("/metadata", "threads", static_cast<std::int64_t>(T));
  file->attribute("/metadata", "seed", static_cast<std::int64_t>(net.run.seed));
  file->attribute("/metadata", "dt_ms", net.run.dt_ms);
  file->attribute("/metadata", "duration_ms", net.run.duration_ms);
  for (const auto& ps : pops) {
    const std::string g = "/network/populations/" + ps.spec->name;
    file->create_group(g);
    file->attribute(g, "model", ps.spec->model);
    file->attribute(g, "size", static_cast<std::int64_t>(ps.spec->size));
    file->attribute(g, "first_gid", static_cast<std::int64_t>(ps.spec->first_gid));
  }
  for (const auto& spec : net.projections) {
    const std::string g = "/network/projections/" + spec.name;
    file->create_group(g);
    file->attribute(g, "source", net.populations[spec.source].name);
    file->attribute(g, "target", net.populations[spec.target].name);
    const bool mine = !part->replicated(spec.target) || comm.rank() == 0;
    const std::uint64_t local = mine ? projs[spec.index].count() : 0;
    file->attribute(g, "synapses", static_cast<std::int64_t>(comm.sum(local)));
    if (spec.plasticity) {
      const auto p = synapse::StdpParams::read(*spec.plasticity);
      file->attribute(g, "plasticity", std::string("stdp"));
      file->attribute(g, "w_max", p.w_max);
      file->attribute(g, "lambda", p.lambda);
      file->attribute(g, "alpha", p.alpha);
      file->attribute(g, "mu_plus", p.mu_plus);
      file->attribute(g, "mu_minus", p.mu_minus);
      file->attribute(g, "tau_plus_ms", p.tau_plus_ms);
      file->attribute(g, "tau_minus_ms", p.tau_minus_ms);
    }
  }
}

// ------------------------------------------------------------------------------------------------
// Stepping
// ------------------------------------------------------------------------------------------------
void Simulation::Impl::synthesise(int other, std::vector<Gid>& out) {
  // The ranks that are not there fire like this one: for each population, a Poisson number of
  // spikes at the locally observed rate, on random ids of that rank's block.
  for (std::size_t p = 0; p < pops.size(); ++p) {
    if (part->replicated(static_cast<int>(p))) continue;
    const auto range = part->local(static_cast<int>(p), other);
    if (range.size() == 0) continue;
    rng::Stream s(net.run.seed, rng::Purpose::Synthetic, static_cast<std::uint64_t>(other),
                  static_cast<std::uint64_t>(t), p);
    const auto n = rng::poisson(dry_rate[p] * range.size(), s.uniform(), s);
    std::vector<Gid> ids;
    for (std::uint32_t k = 0; k < n; ++k)
      ids.push_back(pops[p].spec->first_gid + range.begin + static_cast<Gid>(s.below(range.size())));
    std::sort(ids.begin(), ids.end());
    ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
    out.insert(out.end(), ids.begin(), ids.end());
  }
}

void Simulation::Impl::step_range(Step end, bool flush_at_end) {
  if (end <= t) return;
  const Step first = t;
  const auto wall0 = Clock::now();
  // Progress is measured over the whole run, which may be stepped in several pieces.
  if (progress_first < 0 || first < progress_first) {
    progress_first = first;
    progress_start = wall0;
    progress_last = wall0;
  }
  const bool dry = comm.kind() == "dry-run";
  std::exception_ptr failure;
  std::atomic<bool> stop{false};

  // Calls f(population, population-local id) for each of the gid-sorted spikes.
  auto by_population = [&](const std::vector<Gid>& spikes, auto&& f) {
    std::size_t p = 0;
    for (Gid g : spikes) {
      while (g >= pops[p].spec->first_gid + pops[p].spec->size) ++p;
      f(p, g - pops[p].spec->first_gid);
    }
  };

  // Enqueue the given (sorted) spikes into this thread's blocks.
  auto enqueue = [&](int th, const std::vector<Gid>& spikes, Step now) {
    by_population(spikes, [&](std::size_t p, Gid s) {
      for (int pi : pops[p].outgoing) {
        const auto& proj = projs[static_cast<std::size_t>(pi)];
        auto& tgt = pops[static_cast<std::size_t>(net.projections[pi].target)];
        proj.deliver(static_cast<std::size_t>(th), s, now,
                     tgt.rings[static_cast<std::size_t>(proj.receptor)]);
      }
    });
  };

  // Advances this thread's block of a population by one step, with the input due now.
  auto advance = [&](PopState& ps, Step now, int th) {
    std::array<double*, kMaxReceptors> in{};
    for (std::size_t r = 0; r < ps.rings.size(); ++r) in[r] = ps.rings[r].slot(now);
    const auto blk = ps.blocks[th];
    ps.model->update(now, blk.begin, blk.end, in.data(), ps.i_ext.empty() ? nullptr : ps.i_ext.data(),
                     ps.spikes.data());
  };

// A barrier costs a call into the OpenMP runtime even for one thread; skip it then.
#define PLEXUS_BARRIER     \
  if (T > 1) {             \
    _Pragma("omp barrier") \
  }
#pragma omp parallel num_threads(T)
  {
    const int th = omp_get_thread_num();
    for (Step now = first; now < end; ++now) {
      // -- 1 inputs -------------------------------------------------------------------------------
      if (current_changes.count(now)) recompute_currents(now, th);
      if (!gen_pops.empty()) {
        for (int p : gen_pops) {
          auto& ps = pops[p];
          const auto blk = ps.blocks[th];
          ps.model->update(now, blk.begin, blk.end, nullptr, nullptr, ps.spikes.data());
          auto& list = thread_spikes[th][p];
          list.clear();
          collect_spikes(ps.spikes.data(), blk.begin, blk.end, ps.spec->first_gid, list);
        }
        PLEXUS_BARRIER
        if (th == 0) {
          gen_spikes.clear();
          for (int p : gen_pops)
            for (int k = 0; k < T; ++k)
              gen_spikes.insert(gen_spikes.end(), thread_spikes[k][p].begin(), thread_spikes[k][p].end());
        }
        PLEXUS_BARRIER
        enqueue(th, gen_spikes, now);
      }
      for (const auto& d : drives) {
        if (now < d.start || now >= d.stop) continue;
        auto& ps = pops[d.pop];
        double* slot = ps.rings[static_cast<std::size_t>(d.receptor)].slot(now);
        const auto blk = ps.blocks[th];
        const Gid base = ps.spec->first_gid + ps.local.begin;
        // One Philox block serves four consecutive gids (keyed by gid / 4, so by gid alone).
        std::array<std::uint64_t, 4> words{};
        for (Gid i = blk.begin; i < blk.end; ++i) {
          const Gid gid = base + i;
          if (i == blk.begin || (gid & 3) == 0)
            words = rng::block(net.run.seed, rng::Purpose::PoissonDrive, static_cast<std::uint64_t>(d.index),
                               gid >> 2, static_cast<std::uint64_t>(now), trial_key);
          if (!d.mask.empty() && !d.mask[i]) continue;
          rng::Stream more(net.run.seed, rng::Purpose::PoissonDriveExtra,
                           static_cast<std::uint64_t>(d.index) | (trial_key << 16), gid,
                           static_cast<std::uint64_t>(now));
          const auto k = d.sampler(rng::to_unit(words[gid & 3]), more);
          if (k) slot[i] += k * d.weight;
        }
      }

      // -- 2 deliver + 3 update -------------------------------------------------------------------
      for (int p : update_pops) {
        advance(pops[p], now, th);
        auto& ps = pops[p];
        const auto blk = ps.blocks[th];
        auto& list = thread_spikes[th][p];
        list.clear();
        collect_spikes(ps.spikes.data(), blk.begin, blk.end, ps.spec->first_gid + ps.local.begin, list);
      }
      PLEXUS_BARRIER

      // -- 4 exchange (master thread) -----------------------------------------------------------------
      if (th == 0) {
        local_spikes.clear();
        for (int p : update_pops)
          for (int k = 0; k < T; ++k)
            local_spikes.insert(local_spikes.end(), thread_spikes[k][p].begin(), thread_spikes[k][p].end());
        try {
          if (dry) {
            for (int p : update_pops) {
              const auto n = pops[p].local.size();
              std::size_t c = 0;
              for (int k = 0; k < T; ++k) c += thread_spikes[k][p].size();
              const double f = n ? static_cast<double>(c) / n : 0.0;
              // The mean rate since the start: steadier than a short running average, which let the
              // synthesised input and this rank's own rate chase each other away from the real run's.
              const double k = static_cast<double>(now);
              dry_rate[p] = (dry_rate[p] * k + f) / (k + 1.0);
            }
            t = now;  // the synthesiser keys its numbers by step
          }
          comm.exchange_spikes(local_spikes, global_spikes);
        } catch (...) {
          failure = std::current_exception();
          stop = true;
        }
        // Whole-network spike counts (every rank sees every spike).
        auto count = [&](std::size_t p, Gid) { ++pops[p].spikes_total; };
        by_population(global_spikes, count);
        by_population(gen_spikes, count);
        if (recorder) {
          if (gen_spikes.empty()) {
            recorder->spikes(now, global_spikes);
          } else {
            all_spikes.assign(global_spikes.begin(), global_spikes.end());
            const std::size_t mid = all_spikes.size();
            all_spikes.insert(all_spikes.end(), gen_spikes.begin(), gen_spikes.end());
            std::inplace_merge(all_spikes.begin(), all_spikes.begin() + static_cast<std::ptrdiff_t>(mid),
                               all_spikes.end());
            recorder->spikes(now, all_spikes);
          }
          recorder->begin_step(now);
        }
      }
      PLEXUS_BARRIER
      if (stop) break;

      // -- 5 enqueue ----------------------------------------------------------------------------------
      enqueue(th, global_spikes, now);
      for (auto& P : stdp) {
        // Plastic projections: postsynaptic spikes of this step first, then every presynaptic spike
        // of this step (spike sources' included: their plastic synapses are not enqueued in phase 1).
        const auto& spec = net.projections[static_cast<std::size_t>(P.projection())];
        auto& src = pops[static_cast<std::size_t>(spec.source)];
        auto& tgt = pops[static_cast<std::size_t>(spec.target)];
        P.post_step(static_cast<std::size_t>(th), now, tgt.spikes.data());
        const auto& spikes = src.generator() ? gen_spikes : global_spikes;
        const Gid lo = src.spec->first_gid, hi = lo + src.spec->size;
        auto& ring =
            tgt.rings[static_cast<std::size_t>(projs[static_cast<std::size_t>(spec.index)].receptor)];
        for (auto it = std::lower_bound(spikes.begin(), spikes.end(), lo); it != spikes.end() && *it < hi;
             ++it)
          P.pre_spike(static_cast<std::size_t>(th), *it - lo, now, ring);
      }

      // -- 6 readout ----------------------------------------------------------------------------------
      for (int p : readout_pops) advance(pops[p], now, th);

      // -- 7 learn -------------------------------------------------------------------------------------
      // The learning signal needs every readout value of this step (phase 6, split over threads),
      // and the traces it multiplies are advanced per thread on their own synapses.
      if (learn.parallel) {
        PLEXUS_BARRIER
        if (th == 0 && learn.serial) learn.serial(now);
        PLEXUS_BARRIER
        learn.parallel(now, th);
      }

      // -- 8 record ------------------------------------------------------------------------------------
      if (recorder) {
        if (recorder->sample_due(now)) recorder->sample(now, th);
        const bool flush = recorder->flush_due(now) || (flush_at_end && now + 1 == end);
        const bool weights = recorder->weights_due(now + 1);
        if (flush || weights) {
          PLEXUS_BARRIER
          if (th == 0) {
            try {
              if (flush) recorder->flush(now + 1);
              if (weights) recorder->snapshot_weights(now + 1, projs);
            } catch (...) {
              failure = std::current_exception();
              stop = true;
            }
          }
          PLEXUS_BARRIER
          if (stop) break;
        }
      }
      if (th == 0) {
        t = now + 1;
        const bool last = flush_at_end && now + 1 == end;
        if (opt.progress && opt.log && ((now & 255) == 0 || last)) {
          const auto wall = Clock::now();
          if (std::chrono::duration<double>(wall - progress_last).count() >= opt.progress_seconds || last) {
            progress_last = wall;
            const double el = std::chrono::duration<double>(wall - progress_start).count();
            const double done = static_cast<double>(now + 1 - progress_first),
                         todo = static_cast<double>(std::max<Step>(net.run.steps, end) - now - 1);
            const double sim_ms = static_cast<double>(now + 1) * net.run.dt_ms;
            const double speed = el > 0 ? done * net.run.dt_ms * 1e-3 / el : 0.0;
            const double eta = done > 0 ? el * todo / done : 0.0;
            *opt.log << fmt::format(
                "[plexus] t = {:.1f} / {:.1f} ms ({:.0f}%)  {:.3g} s simulated per wall second  ETA {:.0f} "
                "s\n",
                sim_ms, static_cast<double>(net.run.steps) * net.run.dt_ms,
                100.0 * static_cast<double>(now + 1) / static_cast<double>(std::max<Step>(net.run.steps, 1)),
                speed, eta);
            opt.log->flush();
          }
        }
      }
    }
  }
#undef PLEXUS_BARRIER
  wall_seconds += seconds_since(wall0);
  if (failure) std::rethrow_exception(failure);
}

// ------------------------------------------------------------------------------------------------
Simulation::Simulation(const model::Network& net, comm::Communicator& comm, Options options)
    : impl_(std::make_unique<Impl>(net, comm, std::move(options))) {
  agree(comm, [&] { impl_->build(); });
  if (impl_->opt.resume) {
    agree(comm, [&] {
      const auto& r = impl_->opt.resume->reader();
      impl_->t = r.integer("sim/step");
      impl_->resumes = r.integer("sim/resumes");
    });
  }
  agree(comm, [&] { impl_->setup_recording(); });
  // A dry-run communicator asks this simulation for the spikes of the ranks that are not there.
  comm.set_synthesiser([this](int other, std::vector<Gid>& out) { impl_->synthesise(other, out); });
  if (impl_->opt.resume) {
    agree(comm, [&] { impl_->load_state(impl_->opt.resume->reader()); });
    return;
  }
  if (impl_->recorder && impl_->recorder->weights_due(0)) impl_->recorder->snapshot_weights(0, impl_->projs);
}

Simulation::~Simulation() = default;

Step Simulation::now() const {
  return impl_->t;
}

void Simulation::run_until(Step end) {
  impl_->step_range(std::min(end, impl_->net.run.steps));
}

Summary Simulation::summary() const {
  const auto& I = *impl_;
  Summary s;
  s.steps = I.t;
  s.simulated_ms = static_cast<double>(I.t) * I.net.run.dt_ms;
  s.wall_seconds = I.comm.allgather(I.wall_seconds + I.wall_before)[0];
  s.build_seconds = I.comm.allgather(I.build_seconds)[0];
  s.ranks = I.comm.size();
  s.threads = I.T;
  std::uint64_t local_syn = 0, syn_bytes = 0;
  for (const auto& spec : I.net.projections) {
    if (I.part->replicated(spec.target) && I.comm.rank() != 0) continue;
    local_syn += I.projs[spec.index].count();
  }
  for (const auto& p : I.projs) syn_bytes += p.bytes();
  for (const auto& p : I.stdp) syn_bytes += p.bytes();
  s.synapses = I.comm.sum(local_syn);
  s.local_synapses = I.comm.allgather(local_syn);
  s.synapse_bytes = I.comm.allgather(syn_bytes);
  s.peak_rss_bytes = I.comm.allgather(static_cast<std::uint64_t>(memory::peak_rss_bytes()));
  s.exchange_seconds = I.comm.stats().seconds;
  s.stopped = I.stopped;
  s.stop_signal = I.stop_signal;
  s.last_checkpoint = I.last_checkpoint;
  s.resumed_from = I.opt.resume ? I.opt.resume->manifest().step : -1;
  for (const auto& ps : I.pops) {
    PopulationSummary p;
    p.name = ps.spec->name;
    p.model = ps.spec->model;
    p.size = ps.spec->size;
    p.spiking = ps.info->spiking;
    p.spikes = ps.spikes_total;
    p.rate_hz = s.simulated_ms > 0 ? static_cast<double>(p.spikes) / p.size / (s.simulated_ms * 1e-3) : 0.0;
    s.populations.push_back(p);
  }
  return s;
}

Summary Simulation::run() {
  if (impl_->opt.checkpoint) {
    impl_->run_with_checkpoints();
    if (impl_->stopped) return summary();  // the result file stays "<name>.partial", to be continued
  } else {
    run_until(impl_->net.run.steps);
  }
  Summary s = summary();
  if (impl_->file) {
    auto& f = *impl_->file;
    agree(impl_->comm, [&] {
      f.attribute("/metadata", "wall_time_s", s.wall_seconds);
      f.attribute("/metadata", "build_time_s", s.build_seconds);
      std::vector<std::uint64_t> rss(s.peak_rss_bytes.begin(), s.peak_rss_bytes.end());
      f.write_replicated<std::uint64_t>("/metadata/peak_rss_bytes", rss);
      f.write_replicated<std::uint64_t>("/metadata/synapse_bytes", s.synapse_bytes);
      f.attribute("/metadata", "synapses", static_cast<std::int64_t>(s.synapses));
      for (const auto& p : s.populations) {
        const std::string g = "/network/populations/" + p.name;
        f.attribute(g, "spikes", static_cast<std::int64_t>(p.spikes));
        f.attribute(g, "rate_hz", p.rate_hz);
      }
      impl_->recorder.reset();
      f.commit();
    });
    impl_->file.reset();
  }
  if (impl_->opt.checkpoint && impl_->comm.rank() == 0) {
    // Tells `plexus resume` and job chains that there is nothing left to do.
    std::ofstream done(impl_->opt.checkpoint->dir / "finished");
    done << (impl_->opt.output ? std::filesystem::absolute(*impl_->opt.output).string() : std::string())
         << "\n";
  }
  return s;
}

memory::Ledger Simulation::memory() const {
  memory::Ledger l;
  for (const auto& ps : impl_->pops) {
    l.add("neuron state",
          ps.model->state_bytes() + (ps.spikes.capacity() + ps.i_ext.capacity()) * sizeof(double));
    for (const auto& r : ps.rings) l.add("delay buffers", r.bytes());
  }
  for (const auto& p : impl_->projs) l.add("synapses", p.bytes());
  for (const auto& p : impl_->stdp) l.add("plastic synapse state", p.bytes());
  if (impl_->recorder) l.add("recording buffers", impl_->recorder->buffered_bytes());
  l.add("communication buffers", impl_->comm.buffer_bytes());
  return l;
}

const double* Simulation::variable(const std::string& population, const std::string& name) const {
  for (const auto& ps : impl_->pops)
    if (ps.spec->name == population) return ps.model->variable(name);
  return nullptr;
}

std::uint64_t Simulation::spike_count(const std::string& population) const {
  for (const auto& ps : impl_->pops)
    if (ps.spec->name == population) return ps.spikes_total;
  return 0;
}

}  // namespace plexus::sim
