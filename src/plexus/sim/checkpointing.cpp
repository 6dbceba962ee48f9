// What a checkpoint of a simulation holds, and when one is written.
//
// Saved (by id, so that any partition can read it back), at a step boundary t:
//   sim/step, sim/wall_seconds, sim/spikes:<pop>      counters (the RNG is counter-
//        based: every random number is keyed by seed, ids and step, so t and the Poisson sources'
//        per-neuron draw counters are all the RNG state there is)
//   sim/neurons/<pop>/<array>   every array of Population::state() (state variables, refractory
//        counters, generator cursors), and sim/neurons/<pop>/z, the spikes of the last step
//   sim/delays/<pop>/<receptor> the delay ring buffers: per neuron, the input due at steps
//        t, t+1, ..., t+D-1 (D the largest buffer of any rank), i.e. spikes still in flight
//   sim/synapses/<proj>/weight  weights in (target, source) order (static in a plain run; stored so
//        that plastic synapses are covered)
//   sim/stdp/<proj>/...         plastic synapses' traces: K- of the last steps and the postsynaptic
//        spikes still on their way to the synapses (per target), K+ and the last spike (per source)
//   sim/recorder/...            the recorder's position: its buffers are flushed first, so the
//        weight snapshots taken and the result file's dataset lengths (which the run shell keeps)
//        say it all.
// Not saved, and why:
//   - parameters, derived constants, synapse structure and delays, inputs: rebuilt from the resolved
//     config (kept in the manifest) and the seed, exactly as in the first run;
//   - external current sums (i_ext): recomputed for step t from the current steps of the config;
//   - files the config names (connection lists, spike trains): read again, so must be unchanged;
//   - the spike exchange's slot size and other buffers: performance only, they do not change results;
//   - dry-run rate estimates: dry runs cannot be checkpointed;
//   - the trial key and task input: training checkpoints are taken between iterations, where no
//     trial is under way (the trial's driver says what it needs);
//   - thread count and blocks: not state (results do not depend on them).
#include <algorithm>

#include <fmt/format.h>

#include "plexus/checkpoint/checkpoint.hpp"
#include "plexus/core/error.hpp"
#include "plexus/sim/simulation_impl.hpp"

namespace plexus::sim {

namespace {

std::string receptor_key(const PopulationInfo& pi, const neuron::Population& m, std::size_t r) {
  return fmt::format("sim/delays/{}/{}", pi.spec->name, m.receptors()[r].name);
}

std::uint64_t largest(comm::Communicator& comm, std::uint64_t x) {
  for (auto v : comm.allgather(x)) x = std::max(x, v);
  return x;
}

// The simulation's state as a checkpoint component.
class State final : public checkpoint::Component {
 public:
  explicit State(Simulation::Impl& s) : s_(s) {}
  std::string name() const override { return "sim"; }
  void save(checkpoint::Writer& w) const override { s_.save_state(w); }
  void load(const checkpoint::Reader& r) override { s_.load_state(r); }

 private:
  Simulation::Impl& s_;
};

}  // namespace

checkpoint::Slice Simulation::Impl::neuron_slice(int p) const {
  const auto& pi = info[static_cast<std::size_t>(p)];
  if (part->replicated(p)) return checkpoint::Slice::whole(pi.local.size());
  return {pi.local.begin, pi.local.size(), pi.spec->size, false};
}

checkpoint::Slice Simulation::Impl::synapse_slice(int proj) const {
  const auto& spec = net.projections[static_cast<std::size_t>(proj)];
  const std::uint64_t n = projs[static_cast<std::size_t>(proj)].count();
  if (part->replicated(spec.target)) return checkpoint::Slice::whole(n);
  // Ranks hold contiguous, ascending target ranges: rank order is (target, source) order.
  const auto place = comm.place(n);
  return {place.offset, n, place.total, false};
}

// Delay buffers: relative to t, per neuron; the slot count differs between ranks (it follows the
// largest local delay), so all use the largest.
void Simulation::Impl::save_delays(checkpoint::Writer& w, std::size_t p) {
  auto& ps = main().pops[p];
  const Step t = main().t;
  const auto slice = neuron_slice(static_cast<int>(p));
  for (std::size_t r = 0; r < ps.rings.size(); ++r) {
    auto& ring = ps.rings[r];
    const std::uint64_t D = largest(comm, ring.slots());
    const std::size_t n = info[p].local.size();
    std::vector<double> rel(n * D, 0.0);
    for (std::size_t j = 0; j < ring.slots(); ++j) {
      const double* slot = ring.slot(t + static_cast<Step>(j));
      for (std::size_t i = 0; i < n; ++i) rel[i * D + j] = slot[i];
    }
    w.array(receptor_key(info[p], *ps.model, r), slice, std::span<const double>(rel), D);
  }
}

void Simulation::Impl::load_delays(const checkpoint::Reader& r, std::size_t p) {
  auto& ps = main().pops[p];
  const Step t = main().t;
  const auto slice = neuron_slice(static_cast<int>(p));
  for (std::size_t k = 0; k < ps.rings.size(); ++k) {
    auto& ring = ps.rings[k];
    const std::uint64_t D = largest(comm, ring.slots());
    const std::size_t n = info[p].local.size();
    std::vector<double> rel(n * D);
    r.array(receptor_key(info[p], *ps.model, k), slice, std::span<double>(rel), D);
    for (std::size_t j = 0; j < ring.slots(); ++j) {
      double* slot = ring.slot(t + static_cast<Step>(j));
      for (std::size_t i = 0; i < n; ++i) slot[i] = rel[i * D + j];
    }
    // Beyond this rank's buffer nothing can be pending: its neurons' synapses have shorter delays.
    for (std::size_t i = 0; i < n; ++i)
      for (std::size_t j = ring.slots(); j < D; ++j)
        if (rel[i * D + j] != 0.0)
          throw UserError("the checkpoint does not fit this network: input beyond the delays");
  }
}

void Simulation::Impl::save_state(checkpoint::Writer& w) {
  if (comm.kind() == "dry-run") throw UserError("dry runs cannot write checkpoints");
  if (recorder) {
    // Flush so that the result file's lengths are all the recorder state; then go on with the rest
    // of the flush window, as a run resumed from here will.
    recorder->flush(main().t);
    recorder->restart_window(main().t);
  }
  auto& pops = main().pops;
  const Step t = main().t;
  w.integer("sim/step", t);
  w.real("sim/wall_seconds", wall_seconds + wall_before);
  for (std::size_t p = 0; p < pops.size(); ++p)
    w.integer("sim/spikes:" + info[p].spec->name, static_cast<std::int64_t>(pops[p].spikes_total));
  for (std::size_t p = 0; p < pops.size(); ++p) {
    auto& ps = pops[p];
    const auto slice = neuron_slice(static_cast<int>(p));
    const std::string base = "sim/neurons/" + info[p].spec->name + "/";
    for (const auto& a : ps.model->state())
      std::visit(
          [&](auto span) {
            w.array(base + a.name, slice, std::span<const typename decltype(span)::value_type>(span));
          },
          a.values);
    w.array(base + "z", slice, std::span<const double>(ps.spikes));
    save_delays(w, p);
  }
  for (std::size_t pi = 0; pi < projs.size(); ++pi) {
    const auto weights = projs[pi].weights_by_target();
    w.array("sim/synapses/" + net.projections[pi].name + "/weight", synapse_slice(static_cast<int>(pi)),
            std::span<const float>(weights));
  }
  for (const auto& P : stdp) {
    const auto& spec = net.projections[static_cast<std::size_t>(P.projection())];
    const auto tr = P.traces(t, largest(comm, P.history_length()), largest(comm, P.spike_length()));
    const std::string base = "sim/stdp/" + spec.name + "/";
    const auto targets = neuron_slice(spec.target);
    w.array(base + "k_minus", targets, std::span<const double>(tr.k_minus), tr.history);
    w.array(base + "post_spikes", targets, std::span<const std::uint8_t>(tr.spiked), tr.spikes);
    const auto sources = checkpoint::Slice::whole(tr.k_plus.size());
    w.array(base + "k_plus", sources, std::span<const double>(tr.k_plus));
    w.array(base + "last_pre", sources, std::span<const std::int64_t>(tr.last_pre));
  }
  if (recorder) {
    const auto taken = recorder->weight_positions();
    for (std::size_t i = 0; i < taken.size(); ++i)
      w.integer(fmt::format("sim/recorder/weights_taken:{}", i), taken[i]);
  }
}

void Simulation::Impl::load_state(const checkpoint::Reader& r) {
  auto& pops = main().pops;
  t = main().t = r.integer("sim/step");
  wall_before = r.real("sim/wall_seconds");
  for (std::size_t p = 0; p < pops.size(); ++p)
    pops[p].spikes_total = static_cast<std::uint64_t>(r.integer("sim/spikes:" + info[p].spec->name));
  for (std::size_t p = 0; p < pops.size(); ++p) {
    auto& ps = pops[p];
    const auto slice = neuron_slice(static_cast<int>(p));
    const std::string base = "sim/neurons/" + info[p].spec->name + "/";
    for (const auto& a : ps.model->state())
      std::visit([&](auto span) { r.array(base + a.name, slice, span); }, a.values);
    r.array(base + "z", slice, std::span<double>(ps.spikes));
    load_delays(r, p);
  }
  for (std::size_t pi = 0; pi < projs.size(); ++pi) {
    std::vector<float> weights(projs[pi].count());
    r.array("sim/synapses/" + net.projections[pi].name + "/weight", synapse_slice(static_cast<int>(pi)),
            std::span<float>(weights));
    projs[pi].set_weights_by_target(weights);
  }
  for (auto& P : stdp) {
    const auto& spec = net.projections[static_cast<std::size_t>(P.projection())];
    synapse::Stdp::Traces tr;
    tr.history = largest(comm, P.history_length());
    tr.spikes = largest(comm, P.spike_length());
    const std::string base = "sim/stdp/" + spec.name + "/";
    const auto targets = neuron_slice(spec.target);
    tr.k_minus.resize(targets.count * tr.history);
    tr.spiked.resize(targets.count * tr.spikes);
    r.array(base + "k_minus", targets, std::span<double>(tr.k_minus), tr.history);
    r.array(base + "post_spikes", targets, std::span<std::uint8_t>(tr.spiked), tr.spikes);
    tr.k_plus.resize(net.populations[static_cast<std::size_t>(spec.source)].size);
    tr.last_pre.resize(tr.k_plus.size());
    const auto sources = checkpoint::Slice::whole(tr.k_plus.size());
    r.array(base + "k_plus", sources, std::span<double>(tr.k_plus));
    r.array(base + "last_pre", sources, std::span<std::int64_t>(tr.last_pre));
    P.set_traces(t, tr);
  }
  weights_taken.clear();
  for (std::size_t i = 0; i < net.record.weights.size(); ++i) {
    const auto key = fmt::format("sim/recorder/weights_taken:{}", i);
    weights_taken.push_back(r.has(key) ? r.integer(key) : 0);
  }
  resumed = true;
  // External currents hold the sum of the current steps active at t.
  if (!currents.empty())
    for (int b = 0; b < blocks; ++b) recompute_currents(main(), t, b);
}

// ------------------------------------------------------------------------------------------------
checkpoint::Component& Simulation::checkpoint_state() {
  if (!impl_->state_component) impl_->state_component = std::make_unique<State>(*impl_);
  return *impl_->state_component;
}

checkpoint::Slice Simulation::neuron_slice(int population) const {
  return impl_->neuron_slice(population);
}

checkpoint::Slice Simulation::synapse_slice(int projection) const {
  return impl_->synapse_slice(projection);
}

}  // namespace plexus::sim
