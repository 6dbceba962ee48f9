// Trials as instances over shared weights (decisions/0016). A batch's trials are split over batch
// groups (ranks holding the whole network each) and, within a rank, run several at once (one per
// thread, "trials") or one at a time with the neurons split over the threads ("neurons"). Whatever
// the split, every trial is computed exactly as alone, results are combined in trial order, and the
// batch's gradient is the sum of the trials' gradients over a fixed tree of the trial numbers
// (learning/tree_sum.hpp): trained weights, losses and accuracies are identical to the bit for any
// ranks, groups, threads and mode.
//
// The cost model of parallel = "auto" and --batch-groups auto (docs/learning.md):
//   - groups: the largest divisor G of the ranks with G <= the batch such that the whole network fits
//     on R / G ranks (estimated at 40 bytes per synapse for training), since groups need no spike
//     exchange between them, only one reduction of the gradient per batch;
//   - within a rank: trials when at least two trials per batch fall to each rank's group and at least
//     two instances fit the memory budget (an instance holds the neuron state, delay buffers and the
//     rule's per-trial state: e-prop about 12 bytes per synapse); otherwise neurons. One thread per
//     trial needs no synchronisation within a trial, while splitting a few hundred neurons over
//     threads costs a barrier per phase and step.
#include <algorithm>
#include <cmath>
#include <cstring>

#include <fmt/format.h>

#include "plexus/comm/agree.hpp"
#include "plexus/core/error.hpp"
#include "plexus/core/memory.hpp"
#include "plexus/train/gradient/impl.hpp"

namespace plexus::train::gradient {

using model::Range;

namespace {

// Synapses of the network, estimated from the connection rules (from_file: not counted).
double estimated_synapses(const model::Network& net) {
  double n = 0.0;
  for (const auto& p : net.projections) {
    const double ns = net.populations[static_cast<std::size_t>(p.source)].size;
    const double nt = net.populations[static_cast<std::size_t>(p.target)].size;
    switch (p.rule) {
      case model::ConnectRule::AllToAll:
        n += ns * nt;
        break;
      case model::ConnectRule::FixedProbability:
        n += p.p * ns * nt;
        break;
      case model::ConnectRule::FixedIndegree:
        n += static_cast<double>(p.indegree) * nt;
        break;
      case model::ConnectRule::FromFile:
        break;
    }
  }
  return n;
}

constexpr double kBytesPerSynapse = 40.0;          // static + learning state, shared (estimate)
constexpr double kInstanceBytesPerSynapse = 16.0;  // traces and gradient of one trial (estimate)
constexpr double kInstanceBytesPerNeuron = 256.0;  // state, delay buffers, spikes (estimate)

}  // namespace

void GradientTraining::Impl::choose_parallel(const Setup& setup) {
  const auto& tr = *settings;
  const std::string mode_text = tr.choice("parallel", {"auto", "trials", "neurons"}, "auto");
  const int R = world.size();
  const double node_ranks = static_cast<double>(world.node_ranks());
  const double available = static_cast<double>(memory::available_bytes());
  const double limit_mb = tr.number_or(
      "memory_limit_mb", available > 0 ? available / node_ranks / 1048576.0 : 0.0, Range::non_negative());
  par.memory_limit = static_cast<std::uint64_t>(limit_mb * 1048576.0);
  // Batch groups.
  int G = setup.batch_groups;
  const double synapses = estimated_synapses(net);
  if (G < 0) throw UserError("--batch-groups must be a positive number or 'auto'");
  if (G > 0) {
    if (R % G != 0)
      throw UserError(
          fmt::format("--batch-groups {} does not divide the {} ranks: each group must hold the "
                      "network on the same number of ranks",
                      G, R));
    if (G > batch)
      throw UserError(
          fmt::format("--batch-groups {} exceeds the batch of {} trials: a group would have none", G, batch));
  } else {
    G = 1;
    for (int g = 1; g <= R && g <= batch; ++g)
      if (R % g == 0 &&
          (par.memory_limit == 0 || synapses * kBytesPerSynapse * g / R <= limit_mb * 1048576.0))
        G = g;
    par.why = fmt::format("{} batch group(s) of {} rank(s)", G, R / G);
  }
  par.groups = G;
  par.group = world.rank() / (R / G);
  split_groups();
  // Trials or neurons within the rank.
  const std::int64_t per_group = (batch + G - 1) / G;
  const double per_instance = (synapses * kInstanceBytesPerSynapse +
                               static_cast<double>(net.total_neurons) * kInstanceBytesPerNeuron) /
                              static_cast<double>(comm->size());
  const double shared = synapses * kBytesPerSynapse / static_cast<double>(comm->size());
  int fit = threads;
  if (par.memory_limit > 0)
    fit = static_cast<int>(std::min<double>(
        threads, std::floor(std::max(limit_mb * 1048576.0 - shared, 0.0) / std::max(per_instance, 1.0))));
  if (mode_text == "trials") {
    par.trials = true;
    par.instances = std::max(1, std::min<int>(threads, static_cast<int>(per_group)));
  } else if (mode_text == "neurons") {
    par.trials = false;
  } else {
    par.automatic = true;
    const int n = std::min<int>({threads, static_cast<int>(per_group), std::max(fit, 1)});
    par.trials = n >= 2;
    par.instances = par.trials ? n : 1;
    par.why += fmt::format("{}{}", par.why.empty() ? "" : "; ",
                           par.trials ? fmt::format("{} trials at once per rank", n)
                                      : std::string("one trial at a time, neurons split over the threads"));
  }
}

// Ranks r = g * S + j (S = R / G ranks per group): group g holds the network on its S ranks; the
// ranks with the same j in every group hold the same synapses and exchange their gradients.
void GradientTraining::Impl::split_groups() {
  const int R = world.size(), G = par.groups, S = R / G;
  if (G == 1) {
    comm = &world;
    return;
  }
  group_comm = world.split(world.rank() / S, world.rank() % S);
  across = world.split(world.rank() % S, world.rank() / S);
  comm = group_comm.get();
}

// Runs the jobs (this group's) in order of their trials; learning trials' gradients join the batch's
// in that order. In trial mode, waves of as many jobs as there are instances run concurrently.
std::vector<TrialResult> GradientTraining::Impl::run_jobs(const std::vector<Job>& jobs) {
  std::vector<TrialResult> out;
  out.reserve(jobs.size());
  if (sim->trial_mode() && comm->size() == 1 && !jobs.empty()) {
    // One rank per group: a queue, each instance taking the next trial when free. Results go to their
    // trial's place; gradients join the tree in whatever order trials end (the sum does not depend
    // on it), spike counts are integers.
    out.resize(jobs.size());
    std::vector<Step> steps(jobs.size(), 0);
    sim->run_queue(
        static_cast<int>(jobs.size()),
        [&](int i, int j) {
          return workers[static_cast<std::size_t>(i)]->begin(jobs[static_cast<std::size_t>(j)]);
        },
        [&](int i, int j) {
          auto& w = *workers[static_cast<std::size_t>(i)];
          out[static_cast<std::size_t>(j)] = w.end();
          steps[static_cast<std::size_t>(j)] = w.T;
          if (jobs[static_cast<std::size_t>(j)].learn)
            rule->add(jobs[static_cast<std::size_t>(j)].k, *w.trial);
        });
    T = steps.back();  // as in trial order: the last trial's
    return out;
  }
  // Several ranks per group (their instances step in lockstep), or neurons mode: waves of as many
  // trials as instances, in trial order.
  const std::size_t n = sim->trial_mode() ? workers.size() : 1;
  for (std::size_t first = 0; first < jobs.size(); first += n) {
    const std::size_t m = std::min(n, jobs.size() - first);
    if (sim->trial_mode()) {
      std::vector<int> which(m);
      for (std::size_t i = 0; i < m; ++i) which[i] = static_cast<int>(i);
      sim->run_trials(which,
                      [&](int i) { return workers[static_cast<std::size_t>(i)]->begin(jobs[first + i]); });
    } else {
      sim->run_until(workers[0]->begin(jobs[first]));
    }
    for (std::size_t i = 0; i < m; ++i) {
      auto& w = *workers[i];
      out.push_back(w.end());
      T = w.T;
      if (jobs[first + i].learn) rule->add(jobs[first + i].k, *w.trial);
    }
  }
  return out;
}

// Trials [first, first + count) of a stream, split over the batch groups (contiguous, in order);
// every rank gets every trial's result, in trial order.
std::vector<TrialResult> GradientTraining::Impl::run_shared(std::uint64_t first, std::uint64_t count,
                                                            task::Stream stream, bool learn,
                                                            std::uint64_t batch_first) {
  const auto G = static_cast<std::uint64_t>(par.groups), g = static_cast<std::uint64_t>(par.group);
  const std::uint64_t lo = first + g * count / G, hi = first + (g + 1) * count / G;
  std::vector<Job> jobs;
  for (std::uint64_t i = lo; i < hi; ++i) jobs.push_back({stream, i, learn, i - batch_first});
  auto mine = run_jobs(jobs);
  if (!across) return mine;
  // Every group's results, in group order (each group's ranks hold the same).
  constexpr std::size_t kFields = 6;
  std::vector<double> packed;
  for (const auto& r : mine)
    packed.insert(packed.end(), {r.loss, r.correct ? 1.0 : 0.0, r.rate_hz, r.reward, r.value,
                                 static_cast<double>(r.action)});
  const std::span<const std::uint8_t> bytes(reinterpret_cast<const std::uint8_t*>(packed.data()),
                                            packed.size() * sizeof(double));
  std::vector<TrialResult> all;
  for (const auto& part : across->allgather_bytes(bytes)) {
    std::vector<double> v(part.size() / sizeof(double));
    std::memcpy(v.data(), part.data(), part.size());
    for (std::size_t i = 0; i + kFields <= v.size(); i += kFields) {
      TrialResult r;
      r.loss = v[i];
      r.correct = v[i + 1] != 0.0;
      r.rate_hz = v[i + 2];
      r.reward = v[i + 3];
      r.value = v[i + 4];
      r.action = static_cast<int>(v[i + 5]);
      all.push_back(r);
    }
  }
  return all;
}

// One trial (tests): run by the first group alone, and learning trials take their place k = index mod
// the batch.
TrialResult GradientTraining::Impl::run_trial(task::Stream stream, std::uint64_t index, bool learn) {
  const auto k = index % static_cast<std::uint64_t>(batch);
  return run_jobs({Job{stream, index, learn, k}}).front();
}

void GradientTraining::Impl::end_batch(std::int64_t iteration, bool finite_loss) {
  // The batch's spike counts and trials, over the workers and the groups (exact: integers).
  std::vector<double> counts(net.total_neurons, 0.0);
  double trials = 0.0;
  for (auto& w : workers) {
    for (std::size_t g = 0; g < counts.size(); ++g) counts[g] += static_cast<double>(w->counts[g]);
    std::fill(w->counts.begin(), w->counts.end(), 0);
    trials += static_cast<double>(w->trials_learned);
    w->trials_learned = 0;
  }
  counts.push_back(trials);
  if (across) across->sum_in_rank_order(counts);
  trials = counts.back();
  // Rate regularisation E_reg = c/2 sum_j (f_j - f0)^2, with f_j the neuron's mean rate in Hz over
  // the batch: f_j = n_j / (B T dt). Its learning signal dE_reg/dz_j^t = c (f_j - f0) / (B T dt)
  // needs this batch's rates, which are known only at its end; online, the next batch uses them
  // (see docs/learning.md).
  const double seconds = std::max(trials, 1.0) * static_cast<double>(T) * net.run.dt_ms * 1e-3;
  const double per_z = 1.0 / (static_cast<double>(batch) * static_cast<double>(T) * net.run.dt_ms * 1e-3);
  reg_active = reg_coefficient > 0.0;
  for (std::size_t i = 0; i < ctx.targets.size(); ++i) {
    const auto& tg = ctx.targets[i];
    if (tg.readout) continue;
    for (Gid j = 0; j < tg.local.size(); ++j) {
      const double f = counts[tg.first_gid + tg.local.begin + j] / seconds;
      reg[i][j] = reg_coefficient * (f - reg_rate_hz) * per_z;
    }
  }
  // The batch's gradient: this group's partial sums completed with the other groups'.
  rule->complete(across.get());
  // Global gradient norm (logged, and clipped if asked): a sum of squares per neuron (its row),
  // placed by gid and summed in gid order, so it is the same on any partition.
  std::vector<double> per_gid(net.total_neurons, 0.0);
  double replicated = 0.0;
  rule->square_sums(per_gid, replicated);
  comm->sum_in_rank_order(per_gid);
  double total = 0.0;
  for (double x : per_gid) total += x;
  grad_norm = std::sqrt(total + replicated);
  // The loss and the norm are the same on every rank (sums in rank order): all decide alike.
  skipped_batch = !finite_loss || !std::isfinite(grad_norm);
  if (skipped_batch && !skip_nonfinite)
    throw std::runtime_error(
        fmt::format("iteration {}: the batch's {} is not a finite number (gradient norm {}); the weights are "
                    "those before "
                    "it. Lower the learning rate or clip the gradient (train.clip_grad_norm), or set "
                    "train.on_nonfinite = "
                    "\"skip_batch\" to skip such batches",
                    iteration + 1, finite_loss ? "gradient" : "loss", grad_norm));
  if (!skipped_batch) {
    double scale = 1.0;
    if (clip_norm > 0.0 && grad_norm > clip_norm) scale = clip_norm / grad_norm;
    rule->apply(optimizer.next(), scale);
    ++optimizer.steps;
  } else {
    ++skipped_batches;
  }
  rule->begin_batch(static_cast<std::uint64_t>(batch));
  refresh_feedback();
}

GradientTraining::InstanceMemory GradientTraining::instance_memory() const {
  const auto& I = *impl_;
  return {I.par.trials, static_cast<int>(I.workers.size()), I.par.groups, I.bytes_per_instance,
          I.shared_bytes};
}

bool GradientTraining::state_is_copy() const {
  return impl_->par.group != 0;
}

}  // namespace plexus::train::gradient

namespace plexus::train::gradient {

// What one trial instance holds on this rank, measured: neuron state, delay buffers, spikes, and the
// rule's per-trial state (traces, the trial's gradient). With what every instance shares (synapses,
// the rule's shared state), the budget is checked before anything is written: refused if one instance
// does not fit; auto keeps only the instances that fit; explicit trials refused if they do not.
void GradientTraining::Impl::check_memory() {
  const bool replicated = comm->rank() == 0;
  const auto trial = workers.front()->trial->memory(replicated);
  bytes_per_instance = sim->instance_bytes() + trial.per_synapse + trial.per_neuron + trial.per_source;
  const auto ledger = sim->memory();
  const auto& entries = ledger.entries();
  const auto synapses = entries.count("synapses") ? static_cast<std::uint64_t>(entries.at("synapses")) : 0;
  shared_bytes = synapses + rule->memory(replicated).total();
  if (par.memory_limit == 0) return;
  const auto limit = par.memory_limit;
  auto mb = [](std::uint64_t b) { return static_cast<double>(b) / 1048576.0; };
  if (shared_bytes + bytes_per_instance > limit)
    settings->fail(
        fmt::format("memory_limit_mb = {:.1f} is too small for one trial instance, which needs {} on "
                    "this rank (neuron state, delay buffers, the rule's traces and gradient) besides "
                    "the {} every instance shares (synapses, the rule's shared state)",
                    mb(limit), memory::human_bytes(static_cast<double>(bytes_per_instance)),
                    memory::human_bytes(static_cast<double>(shared_bytes))));
  const auto n = static_cast<std::uint64_t>(workers.size());
  if (shared_bytes + n * bytes_per_instance <= limit) return;
  const auto fit = static_cast<int>((limit - shared_bytes) / bytes_per_instance);
  if (!par.automatic)
    settings->fail(
        fmt::format("memory_limit_mb = {:.1f} holds {} trial instance(s) of {} on this rank, not the {} "
                    "asked for (threads with parallel = \"trials\"): use fewer threads, parallel = "
                    "\"neurons\", or more ranks",
                    mb(limit), fit, memory::human_bytes(static_cast<double>(bytes_per_instance)), n));
  sim->keep_instances(fit);
  workers.resize(static_cast<std::size_t>(fit));
  par.instances = fit;
  par.why += fmt::format(" (the memory budget holds {})", fit);
}

std::string GradientTraining::Impl::parallel_line() const {
  const auto n = static_cast<std::uint64_t>(workers.size());
  auto human = [](std::uint64_t b) { return memory::human_bytes(static_cast<double>(b)); };
  return fmt::format(
      "{} batch group(s) of {} rank(s); {}; memory on rank 0: {} per trial instance x {} + {} shared = "
      "{}{}{}",
      par.groups, comm->size(),
      par.trials
          ? fmt::format("{} trial(s) at once per rank (parallel = trials)", n)
          : fmt::format("one trial at a time, neurons split over {} thread(s) (parallel = neurons)", threads),
      human(bytes_per_instance), n, human(shared_bytes), human(shared_bytes + n * bytes_per_instance),
      par.memory_limit ? fmt::format(" (budget {})", human(par.memory_limit)) : std::string(),
      par.why.empty() ? std::string() : " (auto: " + par.why + ")");
}

}  // namespace plexus::train::gradient
