// The step schedule of the simulation.
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
//   7 learn    the driver's StepHook (training only): serial() on the master thread forms what every
//              thread needs from the readouts and this step's spikes (errors, presynaptic traces);
//              then parallel() on every thread advances the eligibility traces and gradients of its
//              own synapses. After 6, because a learning signal must be known before the traces it
//              multiplies (train/gradient/). FORCE (train/force.cpp) uses the same two parts:
//              serially, the decoded output of this step's spikes; in parallel, rows of P r and the
//              feedback current, which phase 3 of the next step reads (so it must be written after 3
//              and before the next 3).
//   8 record   spikes (master thread), samples (each thread, own neurons); collective flushes to
//              the result file every flush interval, and weight snapshots, at step boundaries only.
// Checkpoints are taken between steps only, when all of the above is complete (checkpointing.cpp).
#include <omp.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <exception>

#include "plexus/core/rng.hpp"
#include "plexus/sim/simulation_impl.hpp"

namespace plexus::sim {

namespace {

using Clock = std::chrono::steady_clock;

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

// What the threads of one step_range() call share besides the simulation's state.
struct Simulation::Impl::Stepping {
  Step first = 0, end = 0;
  bool flush_at_end = true;
  bool dry = false;
  std::exception_ptr failure;
  std::atomic<bool> stop{false};
  Step last_report = -1;
  void fail() {
    failure = std::current_exception();
    stop = true;
  }
};

// A barrier costs a call into the OpenMP runtime even for one thread; skip it then. Barriers inside
// the phase functions below bind to the parallel region of step_range() (orphaned directives).
#define PLEXUS_BARRIER     \
  if (threads > 1) {       \
    _Pragma("omp barrier") \
  }

// Calls f(population, population-local id) for each of the gid-sorted spikes.
template <class F>
static void by_population(const model::Network& net, const std::vector<Gid>& spikes, F&& f) {
  std::size_t p = 0;
  for (Gid g : spikes) {
    while (g >= net.populations[p].first_gid + net.populations[p].size) ++p;
    f(p, g - net.populations[p].first_gid);
  }
}

// Enqueues the given (sorted) spikes into this thread's blocks.
void Simulation::Impl::enqueue(int th, const std::vector<Gid>& spikes, Step now) {
  by_population(net, spikes, [&](std::size_t p, Gid s) {
    for (int pi : pops[p].outgoing) {
      const auto& proj = projs[static_cast<std::size_t>(pi)];
      auto& tgt = pops[static_cast<std::size_t>(net.projections[static_cast<std::size_t>(pi)].target)];
      proj.deliver(static_cast<std::size_t>(th), s, now, tgt.rings[static_cast<std::size_t>(proj.receptor)]);
    }
  });
}

// Advances this thread's block of a population by one step, with the input due now.
void Simulation::Impl::advance(std::size_t p, Step now, int th) {
  auto& ps = pops[p];
  std::array<double*, kMaxReceptors> in{};
  for (std::size_t r = 0; r < ps.rings.size(); ++r) in[r] = ps.rings[r].slot(now);
  const auto blk = info[p].blocks[static_cast<std::size_t>(th)];
  ps.model->update(now, blk.begin, blk.end, in.data(), ps.i_ext.empty() ? nullptr : ps.i_ext.data(),
                   ps.spikes.data());
}

// 1 inputs: spike sources of every rank (per block), gathered in gid order by the master thread, and
// enqueued by every thread into its own targets.
void Simulation::Impl::phase_sources(Stepping&, Step now, int th) {
  if (gen_pops.empty()) return;
  for (int p : gen_pops) {
    auto& ps = pops[static_cast<std::size_t>(p)];
    const auto blk = info[static_cast<std::size_t>(p)].blocks[static_cast<std::size_t>(th)];
    ps.model->update(now, blk.begin, blk.end, nullptr, nullptr, ps.spikes.data());
    auto& list = thread_spikes[static_cast<std::size_t>(th)][static_cast<std::size_t>(p)];
    list.clear();
    collect_spikes(ps.spikes.data(), blk.begin, blk.end, info[static_cast<std::size_t>(p)].spec->first_gid,
                   list);
  }
  PLEXUS_BARRIER
  if (th == 0) {
    gen_spikes.clear();
    for (int p : gen_pops)
      for (int k = 0; k < threads; ++k) {
        const auto& l = thread_spikes[static_cast<std::size_t>(k)][static_cast<std::size_t>(p)];
        gen_spikes.insert(gen_spikes.end(), l.begin(), l.end());
      }
  }
  PLEXUS_BARRIER
  enqueue(th, gen_spikes, now);
}

// 1 inputs: independent Poisson drives into this thread's neurons.
void Simulation::Impl::phase_drives(Step now, int th) {
  for (const auto& d : drives) {
    if (now < d.start || now >= d.stop) continue;
    auto& ps = pops[static_cast<std::size_t>(d.pop)];
    const auto& pi = info[static_cast<std::size_t>(d.pop)];
    double* slot = ps.rings[static_cast<std::size_t>(d.receptor)].slot(now);
    const auto blk = pi.blocks[static_cast<std::size_t>(th)];
    const Gid base = pi.spec->first_gid + pi.local.begin;
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
}

// 2 deliver + 3 update: this thread's block of every updated population; its spikes in gid order.
void Simulation::Impl::phase_update(Step now, int th) {
  for (int p : update_pops) {
    const auto up = static_cast<std::size_t>(p);
    advance(up, now, th);
    const auto& pi = info[up];
    const auto blk = pi.blocks[static_cast<std::size_t>(th)];
    auto& list = thread_spikes[static_cast<std::size_t>(th)][up];
    list.clear();
    collect_spikes(pops[up].spikes.data(), blk.begin, blk.end, pi.spec->first_gid + pi.local.begin, list);
  }
}

// 4 exchange (master thread): this rank's spikes in gid order to every rank; counts and recording.
void Simulation::Impl::phase_exchange(Stepping& s, Step now) {
  local_spikes.clear();
  for (int p : update_pops)
    for (int k = 0; k < threads; ++k) {
      const auto& l = thread_spikes[static_cast<std::size_t>(k)][static_cast<std::size_t>(p)];
      local_spikes.insert(local_spikes.end(), l.begin(), l.end());
    }
  try {
    if (s.dry) {
      for (int p : update_pops) {
        const auto n = info[static_cast<std::size_t>(p)].local.size();
        std::size_t c = 0;
        for (int k = 0; k < threads; ++k)
          c += thread_spikes[static_cast<std::size_t>(k)][static_cast<std::size_t>(p)].size();
        const double f = n ? static_cast<double>(c) / n : 0.0;
        // The mean rate since the start: steadier than a short running average, which let the
        // synthesised input and this rank's own rate chase each other away from the real run's.
        const double k = static_cast<double>(now);
        dry_rate[static_cast<std::size_t>(p)] = (dry_rate[static_cast<std::size_t>(p)] * k + f) / (k + 1.0);
      }
      t = now;  // the synthesiser keys its numbers by step
    }
    comm.exchange_spikes(local_spikes, global_spikes);
  } catch (...) {
    s.fail();
  }
  // Whole-network spike counts (every rank sees every spike).
  auto count = [&](std::size_t p, Gid) { ++pops[p].spikes_total; };
  by_population(net, global_spikes, count);
  by_population(net, gen_spikes, count);
  if (!recorder) return;
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

// 5 enqueue: the exchanged spikes into this thread's targets; then plastic projections:
// postsynaptic spikes of this step first, then every presynaptic spike of this step (spike
// sources' included: their plastic synapses are not enqueued in phase 1).
void Simulation::Impl::phase_enqueue(Step now, int th) {
  enqueue(th, global_spikes, now);
  for (auto& P : stdp) {
    const auto& spec = net.projections[static_cast<std::size_t>(P.projection())];
    const auto& src = info[static_cast<std::size_t>(spec.source)];
    auto& tgt = pops[static_cast<std::size_t>(spec.target)];
    P.post_step(static_cast<std::size_t>(th), now, tgt.spikes.data());
    const auto& spikes = src.generator() ? gen_spikes : global_spikes;
    const Gid lo = src.spec->first_gid, hi = lo + src.spec->size;
    auto& ring = tgt.rings[static_cast<std::size_t>(projs[static_cast<std::size_t>(spec.index)].receptor)];
    for (auto it = std::lower_bound(spikes.begin(), spikes.end(), lo); it != spikes.end() && *it < hi; ++it)
      P.pre_spike(static_cast<std::size_t>(th), *it - lo, now, ring);
  }
}

// 8 record: samples of this thread's neurons; flushes and weight snapshots (collective) by the
// master thread. Returns false if the run must stop (a failed write).
bool Simulation::Impl::phase_record(Stepping& s, Step now, int th) {
  if (!recorder) return true;
  if (recorder->sample_due(now)) recorder->sample(now, th);
  const bool flush = recorder->flush_due(now) || (s.flush_at_end && now + 1 == s.end);
  const bool weights = recorder->weights_due(now + 1);
  if (!flush && !weights) return true;
  PLEXUS_BARRIER
  if (th == 0) {
    try {
      if (flush) recorder->flush(now + 1);
      if (weights) recorder->snapshot_weights(now + 1, projs);
    } catch (...) {
      s.fail();
    }
  }
  PLEXUS_BARRIER
  return !s.stop;
}

void Simulation::Impl::report_progress(Stepping& s, Step now) {
  if (!opt.progress) return;
  const bool last = now + 1 == s.end;
  if ((now & 255) != 0 && !last) return;
  s.last_report = now + 1;
  opt.progress(now + 1);
}

// One step, on thread th (every thread of the team calls it).
void Simulation::Impl::step(Stepping& s, Step now, int th) {
  // -- 1 inputs ---------------------------------------------------------------------------------
  if (current_changes.count(now)) recompute_currents(now, th);
  phase_sources(s, now, th);
  phase_drives(now, th);
  // -- 2 deliver + 3 update ---------------------------------------------------------------------
  phase_update(now, th);
  PLEXUS_BARRIER
  // -- 4 exchange (master thread) -----------------------------------------------------------------
  if (th == 0) phase_exchange(s, now);
  PLEXUS_BARRIER
  if (s.stop) return;
  // -- 5 enqueue ----------------------------------------------------------------------------------
  phase_enqueue(now, th);
  // -- 6 readout ----------------------------------------------------------------------------------
  for (int p : readout_pops) advance(static_cast<std::size_t>(p), now, th);
  // -- 7 learn ------------------------------------------------------------------------------------
  // The learning signal needs every readout value of this step (phase 6, split over threads), and
  // the traces it multiplies are advanced per thread on their own synapses.
  if (hook) {
    const StepView view{now, global_spikes, gen_spikes, self};
    PLEXUS_BARRIER
    if (th == 0) hook->serial(view);
    PLEXUS_BARRIER
    hook->parallel(view, th);
  }
  // -- 8 record -----------------------------------------------------------------------------------
  if (!phase_record(s, now, th)) return;
  if (th == 0) {
    t = now + 1;
    report_progress(s, now);
  }
}

void Simulation::Impl::step_range(Step end, bool flush_at_end) {
  if (end <= t) return;
  const auto wall0 = Clock::now();
  Stepping s;
  s.first = t;
  s.end = end;
  s.flush_at_end = flush_at_end;
  s.dry = comm.kind() == "dry-run";
#pragma omp parallel num_threads(threads)
  {
    const int th = omp_get_thread_num();
    for (Step now = s.first; now < s.end && !s.stop; ++now) step(s, now, th);
  }
  wall_seconds += std::chrono::duration<double>(Clock::now() - wall0).count();
  if (s.failure) std::rethrow_exception(s.failure);
}

#undef PLEXUS_BARRIER

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
      ids.push_back(info[p].spec->first_gid + range.begin + static_cast<Gid>(s.below(range.size())));
    std::sort(ids.begin(), ids.end());
    ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
    out.insert(out.end(), ids.begin(), ids.end());
  }
}

}  // namespace plexus::sim
