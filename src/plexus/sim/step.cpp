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

// What the threads of one step_range() or run_trials() call share besides the simulation's state.
struct Simulation::Impl::Stepping {
  Step first = 0, end = 0;
  bool flush_at_end = true;
  bool dry = false;
  bool team = false;      // neuron mode with several threads: barriers between the phases
  bool lockstep = false;  // trial mode across ranks: the instances exchange spikes together
  bool halt = false;      // lockstep: stop, as seen by every thread at the same step (set between barriers)
  std::exception_ptr failure;
  std::atomic<bool> stop{false};
  void fail() {
    failure = std::current_exception();
    stop = true;
  }
};

// A barrier costs a call into the OpenMP runtime even for one thread; skip it then, and in trial mode
// (an instance is advanced by one thread). Barriers inside the phase functions below bind to the
// parallel region of step_range() (orphaned directives).
#define PLEXUS_BARRIER     \
  if (s.team) {            \
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

// Enqueues the given (sorted) spikes into block b's targets.
void Simulation::Impl::enqueue(Instance& in, int b, const std::vector<Gid>& spikes, Step now) {
  by_population(net, spikes, [&](std::size_t p, Gid src) {
    for (int pi : outgoing[p]) {
      const auto& proj = projs[static_cast<std::size_t>(pi)];
      auto& tgt = in.pops[static_cast<std::size_t>(net.projections[static_cast<std::size_t>(pi)].target)];
      proj.deliver(static_cast<std::size_t>(b), src, now, tgt.rings[static_cast<std::size_t>(proj.receptor)]);
    }
  });
}

// Advances block b of a population by one step, with the input due now.
void Simulation::Impl::advance(Instance& in, std::size_t p, Step now, int b) {
  auto& ps = in.pops[p];
  std::array<double*, kMaxReceptors> input{};
  for (std::size_t r = 0; r < ps.rings.size(); ++r) input[r] = ps.rings[r].slot(now);
  const auto blk = info[p].blocks[static_cast<std::size_t>(b)];
  ps.model->update(now, blk.begin, blk.end, input.data(), ps.i_ext.empty() ? nullptr : ps.i_ext.data(),
                   ps.spikes.data());
}

// 1 inputs: spike sources of every rank (per block), gathered in gid order by the master thread, and
// enqueued by every thread into its own targets.
void Simulation::Impl::phase_sources(Stepping& s, Instance& in, Step now, int b) {
  if (gen_pops.empty()) return;
  for (int p : gen_pops) {
    auto& ps = in.pops[static_cast<std::size_t>(p)];
    const auto blk = info[static_cast<std::size_t>(p)].blocks[static_cast<std::size_t>(b)];
    ps.model->update(now, blk.begin, blk.end, nullptr, nullptr, ps.spikes.data());
    auto& list = in.block_spikes[static_cast<std::size_t>(b)][static_cast<std::size_t>(p)];
    list.clear();
    collect_spikes(ps.spikes.data(), blk.begin, blk.end, info[static_cast<std::size_t>(p)].spec->first_gid,
                   list);
  }
  PLEXUS_BARRIER
  if (b == 0) {
    in.gen_spikes.clear();
    for (int p : gen_pops)
      for (int k = 0; k < blocks; ++k) {
        const auto& l = in.block_spikes[static_cast<std::size_t>(k)][static_cast<std::size_t>(p)];
        in.gen_spikes.insert(in.gen_spikes.end(), l.begin(), l.end());
      }
  }
  PLEXUS_BARRIER
  enqueue(in, b, in.gen_spikes, now);
}

// 1 inputs: independent Poisson drives into block b's neurons.
void Simulation::Impl::phase_drives(Instance& in, Step now, int b) {
  for (const auto& d : drives) {
    if (now < d.start || now >= d.stop) continue;
    auto& ps = in.pops[static_cast<std::size_t>(d.pop)];
    const auto& pi = info[static_cast<std::size_t>(d.pop)];
    double* slot = ps.rings[static_cast<std::size_t>(d.receptor)].slot(now);
    const auto blk = pi.blocks[static_cast<std::size_t>(b)];
    const Gid base = pi.spec->first_gid + pi.local.begin;
    // One Philox block serves four consecutive gids (keyed by gid / 4, so by gid alone).
    std::array<std::uint64_t, 4> words{};
    for (Gid i = blk.begin; i < blk.end; ++i) {
      const Gid gid = base + i;
      if (i == blk.begin || (gid & 3) == 0)
        words = rng::block(net.run.seed, rng::Purpose::PoissonDrive, static_cast<std::uint64_t>(d.index),
                           gid >> 2, static_cast<std::uint64_t>(now), in.trial_key);
      if (!d.mask.empty() && !d.mask[i]) continue;
      rng::Stream more(net.run.seed, rng::Purpose::PoissonDriveExtra,
                       static_cast<std::uint64_t>(d.index) | (in.trial_key << 16), gid,
                       static_cast<std::uint64_t>(now));
      const auto k = d.sampler(rng::to_unit(words[gid & 3]), more);
      if (k) slot[i] += k * d.weight;
    }
  }
}

// 2 deliver + 3 update: block b of every updated population; its spikes in gid order.
void Simulation::Impl::phase_update(Instance& in, Step now, int b) {
  for (int p : update_pops) {
    const auto up = static_cast<std::size_t>(p);
    advance(in, up, now, b);
    const auto& pi = info[up];
    const auto blk = pi.blocks[static_cast<std::size_t>(b)];
    auto& list = in.block_spikes[static_cast<std::size_t>(b)][up];
    list.clear();
    collect_spikes(in.pops[up].spikes.data(), blk.begin, blk.end, pi.spec->first_gid + pi.local.begin, list);
  }
}

// 4 exchange (one thread per instance): this rank's spikes in gid order to every rank; counts and
// recording. In trial mode on one rank the instance's spikes are all there is (no communicator:
// instances exchange concurrently).
void Simulation::Impl::phase_exchange(Stepping& s, Instance& in, Step now) {
  in.local_spikes.clear();
  for (int p : update_pops)
    for (int k = 0; k < blocks; ++k) {
      const auto& l = in.block_spikes[static_cast<std::size_t>(k)][static_cast<std::size_t>(p)];
      in.local_spikes.insert(in.local_spikes.end(), l.begin(), l.end());
    }
  try {
    if (s.dry) {
      for (int p : update_pops) {
        const auto n = info[static_cast<std::size_t>(p)].local.size();
        std::size_t c = 0;
        for (int k = 0; k < blocks; ++k)
          c += in.block_spikes[static_cast<std::size_t>(k)][static_cast<std::size_t>(p)].size();
        const double f = n ? static_cast<double>(c) / n : 0.0;
        // The mean rate since the start: steadier than a short running average, which let the
        // synthesised input and this rank's own rate chase each other away from the real run's.
        const double k = static_cast<double>(now);
        dry_rate[static_cast<std::size_t>(p)] = (dry_rate[static_cast<std::size_t>(p)] * k + f) / (k + 1.0);
      }
      t = now;  // the synthesiser keys its numbers by step
    }
    if (trials && !s.lockstep)
      in.global_spikes.assign(in.local_spikes.begin(), in.local_spikes.end());
    else {
      comm.note_step(static_cast<std::uint64_t>(now));
      comm.exchange_spikes(in.local_spikes, in.global_spikes);
    }
  } catch (...) {
    s.fail();
  }
  // Whole-network spike counts (every rank sees every spike).
  auto count = [&](std::size_t p, Gid) { ++in.pops[p].spikes_total; };
  by_population(net, in.global_spikes, count);
  by_population(net, in.gen_spikes, count);
  if (!recorder) return;
  if (in.gen_spikes.empty()) {
    recorder->spikes(now, in.global_spikes);
  } else {
    in.all_spikes.assign(in.global_spikes.begin(), in.global_spikes.end());
    const std::size_t mid = in.all_spikes.size();
    in.all_spikes.insert(in.all_spikes.end(), in.gen_spikes.begin(), in.gen_spikes.end());
    std::inplace_merge(in.all_spikes.begin(), in.all_spikes.begin() + static_cast<std::ptrdiff_t>(mid),
                       in.all_spikes.end());
    recorder->spikes(now, in.all_spikes);
  }
  recorder->begin_step(now);
}

// 5 enqueue: the exchanged spikes into block b's targets; then plastic projections: postsynaptic
// spikes of this step first, then every presynaptic spike of this step (spike sources' included:
// their plastic synapses are not enqueued in phase 1).
void Simulation::Impl::phase_enqueue(Instance& in, Step now, int b) {
  enqueue(in, b, in.global_spikes, now);
  for (auto& P : stdp) {
    const auto& spec = net.projections[static_cast<std::size_t>(P.projection())];
    const auto& src = info[static_cast<std::size_t>(spec.source)];
    auto& tgt = in.pops[static_cast<std::size_t>(spec.target)];
    P.post_step(static_cast<std::size_t>(b), now, tgt.spikes.data());
    const auto& spikes = src.generator() ? in.gen_spikes : in.global_spikes;
    const Gid lo = src.spec->first_gid, hi = lo + src.spec->size;
    auto& ring = tgt.rings[static_cast<std::size_t>(projs[static_cast<std::size_t>(spec.index)].receptor)];
    for (auto it = std::lower_bound(spikes.begin(), spikes.end(), lo); it != spikes.end() && *it < hi; ++it)
      P.pre_spike(static_cast<std::size_t>(b), *it - lo, now, ring);
  }
}

// 8 record: samples of block b's neurons; flushes and weight snapshots (collective) by the master
// thread. Returns false if the run must stop (a failed write).
bool Simulation::Impl::phase_record(Stepping& s, Instance&, Step now, int b) {
  if (!recorder) return true;
  if (recorder->sample_due(now)) recorder->sample(now, b);
  const bool flush = recorder->flush_due(now) || (s.flush_at_end && now + 1 == s.end);
  const bool weights = recorder->weights_due(now + 1);
  if (!flush && !weights) return true;
  PLEXUS_BARRIER
  if (b == 0) {
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
  opt.progress(now + 1);
}

// One step of an instance in neuron mode, on thread b (every thread of the team calls it, each for
// its own block).
void Simulation::Impl::step(Stepping& s, Instance& in, Step now, int b) {
  // -- 1 inputs ---------------------------------------------------------------------------------
  if (current_changes.count(now)) recompute_currents(in, now, b);
  phase_sources(s, in, now, b);
  phase_drives(in, now, b);
  // -- 2 deliver + 3 update ---------------------------------------------------------------------
  phase_update(in, now, b);
  PLEXUS_BARRIER
  // -- 4 exchange (master thread) -----------------------------------------------------------------
  if (b == 0) phase_exchange(s, in, now);
  PLEXUS_BARRIER
  if (s.stop) return;
  // -- 5 enqueue ----------------------------------------------------------------------------------
  phase_enqueue(in, now, b);
  // -- 6 readout ----------------------------------------------------------------------------------
  for (int p : readout_pops) advance(in, static_cast<std::size_t>(p), now, b);
  // -- 7 learn ------------------------------------------------------------------------------------
  // The learning signal needs every readout value of this step (phase 6, split over threads), and
  // the traces it multiplies are advanced per thread on their own synapses.
  if (in.hook) {
    const StepView view{now, in.global_spikes, in.gen_spikes, self, in.index};
    PLEXUS_BARRIER
    if (b == 0) in.hook->serial(view);
    PLEXUS_BARRIER
    in.hook->parallel(view, b);
  }
  // -- 8 record -----------------------------------------------------------------------------------
  if (!phase_record(s, in, now, b)) return;
  if (b == 0) {
    in.t = now + 1;
    report_progress(s, now);
  }
}

void Simulation::Impl::step_range(Step end, bool flush_at_end) {
  Instance& in = main();
  if (end <= in.t) return;
  const auto wall0 = Clock::now();
  Stepping s;
  s.first = in.t;
  s.end = end;
  s.flush_at_end = flush_at_end;
  s.dry = comm.kind() == "dry-run";
  s.team = threads > 1 && !trials;
  // Trial mode steps instance 0 alone here (examples, a single trial): one thread.
  const int team = trials ? 1 : threads;
#pragma omp parallel num_threads(team)
  {
    const int b = omp_get_thread_num();
    for (Step now = s.first; now < s.end && !s.stop; ++now) step(s, in, now, b);
  }
  wall_seconds += std::chrono::duration<double>(Clock::now() - wall0).count();
  if (s.failure) std::rethrow_exception(s.failure);
}

// Trial mode: instances `which` advanced concurrently, one thread each (see run_trials in
// simulation.hpp). On one rank the instances never wait for each other. Across ranks, every rank's
// instance i is part of the same trial, so their spikes are exchanged together: each step, after phase
// 3, one thread exchanges for all instances in turn (the same order on every rank) between barriers.
void Simulation::Impl::run_trials(const std::vector<int>& which, const std::function<Step(int)>& prepare) {
  if (!trials) throw std::logic_error("run_trials: the simulation is not in trial mode");
  const int n = static_cast<int>(which.size());
  if (n == 0) return;
  if (n > threads) throw std::logic_error("run_trials: more instances than threads");
  const auto wall0 = Clock::now();
  Stepping s;
  s.lockstep = comm.size() > 1;
  std::vector<Step> ends(static_cast<std::size_t>(n), 0);
#pragma omp parallel num_threads(n)
  {
    const int th = omp_get_thread_num();
    Instance& in = *instances[static_cast<std::size_t>(which[static_cast<std::size_t>(th)])];
    try {
      ends[static_cast<std::size_t>(th)] = prepare(in.index);
    } catch (...) {
#pragma omp critical(plexus_trial_failure)
      if (!s.failure) s.fail();
    }
#pragma omp barrier
    const Step end = ends[static_cast<std::size_t>(th)];
    if (s.lockstep && !s.stop)
      for (Step e : ends)
        if (e != end) {
#pragma omp critical(plexus_trial_failure)
          if (!s.failure) {
            try {
              throw std::logic_error("run_trials: trials of different lengths cannot step in lockstep");
            } catch (...) {
              s.fail();
            }
          }
        }
#pragma omp barrier
    if (th == 0) s.halt = s.stop;
#pragma omp barrier
    // Lockstep threads must leave together (each step has barriers): they test `halt`, which only
    // changes between two barriers; alone, a thread may stop as soon as anything failed.
    for (Step now = in.t; now < end && !(s.lockstep ? s.halt : s.stop.load()); ++now)
      step_trial(s, in, now, which);
  }
  wall_seconds += std::chrono::duration<double>(Clock::now() - wall0).count();
  if (s.failure) std::rethrow_exception(s.failure);
}

// Trial mode on one rank: a queue of trials, each thread taking the next one as soon as its instance
// is free. Trials differ in length of computation (their spikes), so this keeps the threads busy
// where waves of one trial per thread would wait for the slowest of each wave.
void Simulation::Impl::run_queue(int count, const std::function<Step(int, int)>& prepare,
                                 const std::function<void(int, int)>& finish) {
  if (!trials) throw std::logic_error("run_queue: the simulation is not in trial mode");
  if (comm.size() > 1)
    throw std::logic_error("run_queue: instances of several ranks step in lockstep (run_trials)");
  const int n = std::min(count, static_cast<int>(instances.size()));
  if (n <= 0) return;
  const auto wall0 = Clock::now();
  Stepping s;
  std::atomic<int> next{0};
  const std::vector<int> none;
#pragma omp parallel num_threads(n)
  {
    Instance& in = *instances[static_cast<std::size_t>(omp_get_thread_num())];
    for (int j = next++; j < count && !s.stop; j = next++) {
      try {
        const Step end = prepare(in.index, j);
        for (Step now = in.t; now < end && !s.stop; ++now) step_trial(s, in, now, none);
        if (!s.stop) finish(in.index, j);
      } catch (...) {
#pragma omp critical(plexus_trial_failure)
        if (!s.failure) s.fail();
      }
    }
  }
  wall_seconds += std::chrono::duration<double>(Clock::now() - wall0).count();
  if (s.failure) std::rethrow_exception(s.failure);
}

// One step of an instance in trial mode (its thread alone, one block).
void Simulation::Impl::step_trial(Stepping& s, Instance& in, Step now, const std::vector<int>& which) {
  if (current_changes.count(now)) recompute_currents(in, now, 0);
  phase_sources(s, in, now, 0);
  phase_drives(in, now, 0);
  phase_update(in, now, 0);
  if (s.lockstep) {
#pragma omp barrier
    if (omp_get_thread_num() == 0) {
      for (int i : which) phase_exchange(s, *instances[static_cast<std::size_t>(i)], now);
      s.halt = s.stop;
    }
#pragma omp barrier
    if (s.halt) return;
  } else {
    phase_exchange(s, in, now);
    if (s.stop) return;
  }
  phase_enqueue(in, now, 0);
  for (int p : readout_pops) advance(in, static_cast<std::size_t>(p), now, 0);
  if (in.hook) {
    try {
      const StepView view{now, in.global_spikes, in.gen_spikes, self, in.index};
      in.hook->serial(view);
      in.hook->parallel(view, 0);
    } catch (...) {
#pragma omp critical(plexus_trial_failure)
      if (!s.failure) s.fail();
    }
  }
  in.t = now + 1;
}

#undef PLEXUS_BARRIER

void Simulation::Impl::synthesise(int other, std::vector<Gid>& out) {
  // The ranks that are not there fire like this one: for each population, a Poisson number of
  // spikes at the locally observed rate, on random ids of that rank's block.
  for (std::size_t p = 0; p < info.size(); ++p) {
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
