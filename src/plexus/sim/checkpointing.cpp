// What a checkpoint of a simulation holds, and when one is written.
//
// Saved (by id, so that any partition can read it back), at a step boundary t:
//   sim/step, sim/resumes, sim/wall_seconds, sim/spikes:<pop>      counters (the RNG is counter-
//        based: every random number is keyed by seed, ids and step, so t and the Poisson sources'
//        per-neuron draw counters are all the RNG state there is)
//   sim/neurons/<pop>/<array>   every array of Population::state() (state variables, refractory
//        counters, generator cursors), and sim/neurons/<pop>/z, the spikes of the last step
//   sim/delays/<pop>/<receptor> the delay ring buffers: per neuron, the input due at steps
//        t, t+1, ..., t+D-1 (D the largest buffer of any rank), i.e. spikes still in flight
//   sim/synapses/<proj>/weight  weights in (target, source) order (static in a plain run; stored so
//        that plastic synapses are covered)
//   sim/recorder/..., sim/result/rows:<dataset>   the recorder's positions: the buffers are flushed
//        first, so the lengths of the result datasets and the weight snapshots taken say it all
//   then each registered checkpoint::Component (e.g. training state), in registration order.
// Not saved, and why:
//   - parameters, derived constants, synapse structure and delays, inputs: rebuilt from the resolved
//     config (kept in the manifest) and the seed, exactly as in the first run;
//   - external current sums (i_ext): recomputed for step t from the current steps of the config;
//   - files the config names (connection lists, spike trains): read again, so must be unchanged;
//   - the spike exchange's slot size and other buffers: performance only, they do not change results;
//   - dry-run rate estimates: dry runs cannot be checkpointed;
//   - thread count and blocks: not state (results do not depend on them).
#include <omp.h>

#include <algorithm>
#include <chrono>

#include <fmt/format.h>

#include "plexus/checkpoint/checkpoint.hpp"
#include "plexus/core/error.hpp"
#include "plexus/core/memory.hpp"
#include "plexus/sim/simulation_impl.hpp"

namespace plexus::sim {

namespace {
using Clock = std::chrono::steady_clock;

std::string receptor_key(const detail::PopState& ps, std::size_t r) {
  return fmt::format("sim/delays/{}/{}", ps.spec->name, ps.model->receptors()[r].name);
}
}  // namespace

checkpoint::Slice Simulation::Impl::neuron_slice(int p) const {
  const auto& ps = pops[static_cast<std::size_t>(p)];
  if (part->replicated(p)) return checkpoint::Slice::whole(ps.local.size());
  return {ps.local.begin, ps.local.size(), ps.spec->size, false};
}

checkpoint::Slice Simulation::Impl::synapse_slice(int proj) const {
  const auto& spec = net.projections[static_cast<std::size_t>(proj)];
  const std::uint64_t n = projs[static_cast<std::size_t>(proj)].count();
  if (part->replicated(spec.target)) return checkpoint::Slice::whole(n);
  // Ranks hold contiguous, ascending target ranges: rank order is (target, source) order.
  const auto place = comm.place(n);
  return {place.offset, n, place.total, false};
}

void Simulation::Impl::save_state(checkpoint::Writer& w) {
  w.integer("sim/step", t);
  w.integer("sim/resumes", resumes);
  w.real("sim/wall_seconds", wall_seconds + wall_before);
  for (const auto& ps : pops)
    w.integer("sim/spikes:" + ps.spec->name, static_cast<std::int64_t>(ps.spikes_total));

  for (std::size_t p = 0; p < pops.size(); ++p) {
    auto& ps = pops[p];
    const auto slice = neuron_slice(static_cast<int>(p));
    const std::string base = "sim/neurons/" + ps.spec->name + "/";
    for (const auto& a : ps.model->state())
      std::visit(
          [&](auto span) {
            w.array(base + a.name, slice, std::span<const typename decltype(span)::value_type>(span));
          },
          a.values);
    w.array(base + "z", slice, std::span<const double>(ps.spikes));
    // Delay buffers: relative to t, per neuron; the slot count differs between ranks (it follows the
    // largest local delay), so all use the largest.
    for (std::size_t r = 0; r < ps.rings.size(); ++r) {
      auto& ring = ps.rings[r];
      std::uint64_t D = ring.slots();
      for (auto d : comm.allgather(D)) D = std::max(D, d);
      const std::size_t n = ps.local.size();
      std::vector<double> rel(n * D, 0.0);
      for (std::size_t j = 0; j < ring.slots(); ++j) {
        const double* slot = ring.slot(t + static_cast<Step>(j));
        for (std::size_t i = 0; i < n; ++i) rel[i * D + j] = slot[i];
      }
      w.array(receptor_key(ps, r), slice, std::span<const double>(rel), D);
    }
  }

  for (std::size_t pi = 0; pi < projs.size(); ++pi) {
    const auto weights = projs[pi].weights_by_target();
    w.array("sim/synapses/" + net.projections[pi].name + "/weight", synapse_slice(static_cast<int>(pi)),
            std::span<const float>(weights));
  }

  if (recorder) {
    const auto taken = recorder->weight_positions();
    for (std::size_t i = 0; i < taken.size(); ++i)
      w.integer(fmt::format("sim/recorder/weights_taken:{}", i), taken[i]);
    for (const auto& [path, rows] : file->lengths())
      w.integer("sim/result/rows:" + path, static_cast<std::int64_t>(rows));
  }
  for (auto* c : checkpoint_components) c->save(w);
}

void Simulation::Impl::load_state(const checkpoint::Reader& r) {
  // t and the resume count were read before the recorder was set up.
  wall_before = r.real("sim/wall_seconds");
  for (auto& ps : pops)
    ps.spikes_total = static_cast<std::uint64_t>(r.integer("sim/spikes:" + ps.spec->name));

  for (std::size_t p = 0; p < pops.size(); ++p) {
    auto& ps = pops[p];
    const auto slice = neuron_slice(static_cast<int>(p));
    const std::string base = "sim/neurons/" + ps.spec->name + "/";
    for (const auto& a : ps.model->state())
      std::visit([&](auto span) { r.array(base + a.name, slice, span); }, a.values);
    r.array(base + "z", slice, std::span<double>(ps.spikes));
    for (std::size_t k = 0; k < ps.rings.size(); ++k) {
      auto& ring = ps.rings[k];
      std::uint64_t D = ring.slots();
      for (auto d : comm.allgather(D)) D = std::max(D, d);
      const std::size_t n = ps.local.size();
      std::vector<double> rel(n * D);
      r.array(receptor_key(ps, k), slice, std::span<double>(rel), D);
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

  for (std::size_t pi = 0; pi < projs.size(); ++pi) {
    std::vector<float> weights(projs[pi].count());
    r.array("sim/synapses/" + net.projections[pi].name + "/weight", synapse_slice(static_cast<int>(pi)),
            std::span<float>(weights));
    projs[pi].set_weights_by_target(weights);
  }
  // External currents hold the sum of the current steps active at t.
  if (!currents.empty())
    for (int th = 0; th < T; ++th) recompute_currents(t, th);
  resumes += 1;
}

checkpoint::Written Simulation::Impl::write_checkpoint(const std::string& reason, std::int64_t position) {
  if (!opt.checkpoint) throw std::logic_error("write_checkpoint without checkpoint options");
  if (comm.kind() == "dry-run") throw UserError("dry runs cannot write checkpoints");
  if (recorder) {
    // Flush so that the result file's lengths are all the recorder state; then go on with the rest
    // of the flush window, as a run resumed from here will.
    recorder->flush(t);
    recorder->restart_window(t);
  }
  const auto& c = *opt.checkpoint;
  checkpoint::Manifest m;
  m.step = position >= 0 ? position : t;
  m.threads = T;
  m.command = c.command;
  m.reason = reason;
  m.model_name = net.name;
  m.config_toml = net.config.to_toml();
  m.config_source = net.config.source_name();
  m.config_text = net.config.source_text();
  m.config_overrides = net.config.overrides();
  m.config_base_dir = std::filesystem::absolute(net.config.base_dir()).string();
  m.result_file = file ? std::filesystem::absolute(file->final_path()).string() : std::string();
  m.total_steps = net.run.steps;
  m.texts["run/checkpoint_every"] = c.every_text;
  m.integers["run/checkpoint_keep"] = c.keep;
  auto written =
      checkpoint::write(c.dir, c.keep, std::move(m), comm, [&](checkpoint::Writer& w) { save_state(w); });
  last_checkpoint = written.path;
  if (opt.log && comm.rank() == 0) {
    const std::string where = position >= 0 ? fmt::format("after iteration {}", position)
                                            : fmt::format("at t = {:.1f} ms", net.step_to_ms(t));
    *opt.log << fmt::format("[plexus] checkpoint {} ({}): {} ({}, {:.2f} s)\n", where, reason,
                            written.path.string(), memory::human_bytes(static_cast<double>(written.bytes)),
                            written.seconds);
    opt.log->flush();
  }
  return written;
}

void Simulation::Impl::run_with_checkpoints() {
  const auto& c = *opt.checkpoint;
  const Step end = net.run.steps;
  const Step poll = std::max<Step>(1, c.poll_steps);
  constexpr Step kNever = std::numeric_limits<Step>::max();
  Step next_sim = c.every_steps > 0 ? (t / c.every_steps + 1) * c.every_steps : kNever;
  auto last_wall = Clock::now();
  while (t < end) {
    const Step stop_at = c.stop_at_step > t ? c.stop_at_step : kNever;
    const Step chunk = std::min({end, (t / poll + 1) * poll, next_sim, stop_at});
    step_range(chunk, chunk == end);
    if (t >= end) break;
    // All ranks agree on what to do at this step boundary: the first rank's stop signal, rank 0's
    // clock for wall-clock checkpoints.
    const bool wall_due =
        comm.rank() == 0 && c.every_wall_seconds > 0 &&
        std::chrono::duration<double>(Clock::now() - last_wall).count() >= c.every_wall_seconds;
    const auto votes =
        comm.allgather(static_cast<std::uint64_t>(checkpoint::stop_signal()) * 2 + (wall_due ? 1 : 0));
    int sig = 0;
    bool wall = false;
    for (auto v : votes) {
      if (!sig && v / 2) sig = static_cast<int>(v / 2);
      wall = wall || (v & 1);
    }
    const bool sim_due = t == next_sim;
    const bool stop_here = t == stop_at;
    if (sim_due) next_sim += c.every_steps;
    if (sim_due || wall || sig || stop_here) {
      const std::string reason = sig         ? checkpoint::signal_name(sig)
                                 : stop_here ? "--stop-at-ms"
                                 : sim_due   ? "every " + c.every_text
                                             : "wall clock";
      agree(comm, [&] { write_checkpoint(reason); });
      last_wall = Clock::now();
    }
    if (sig || stop_here) {
      stopped = true;
      stop_signal = sig;
      return;
    }
  }
}

// ------------------------------------------------------------------------------------------------
void Simulation::add_checkpoint_component(checkpoint::Component& c) {
  impl_->checkpoint_components.push_back(&c);
  if (impl_->opt.resume) agree(impl_->comm, [&] { c.load(impl_->opt.resume->reader()); });
}

checkpoint::Slice Simulation::neuron_slice(int population) const {
  return impl_->neuron_slice(population);
}

checkpoint::Slice Simulation::synapse_slice(int projection) const {
  return impl_->synapse_slice(projection);
}

checkpoint::Written Simulation::write_checkpoint(const std::string& reason, std::int64_t position) {
  checkpoint::Written w;
  agree(impl_->comm, [&] { w = impl_->write_checkpoint(reason, position); });
  return w;
}

}  // namespace plexus::sim
