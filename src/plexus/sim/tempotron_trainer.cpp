// Tempotron training (SPEC 4.5) on tempotron patterns (SPEC 3.5). See tempotron_trainer.hpp.
//
// Work is divided into units, one per (experiment, tempotron); an experiment is one (load, repeat)
// with its own patterns and initial weights. A unit is trained whole by one thread: per epoch the
// patterns are presented once each, in an order drawn for (experiment, epoch), and the tempotron
// corrects itself after each error (learning/tempotron.hpp). A unit stops after the first epoch
// without an error (its weights did not change in it, so every pattern is then classified right).
// Ranks take contiguous blocks of units of nearly equal estimated cost (patterns x afferents),
// threads take a rank's units one at a time. Each unit's results land in its own slots of
// whole-network arrays that are zero elsewhere, and one rank-ordered sum gives every rank the full
// arrays: adding zeros is exact, so the results do not depend on the partition.
#include "plexus/sim/tempotron_trainer.hpp"

#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <exception>
#include <numeric>

#include <fmt/format.h>

#include "plexus/core/error.hpp"
#include "plexus/core/memory.hpp"
#include "plexus/core/rng.hpp"
#include "plexus/core/version.hpp"
#include "plexus/io/result_file.hpp"
#include "plexus/learning/tempotron.hpp"
#include "plexus/model/connectivity.hpp"
#include "plexus/sim/simulation_impl.hpp"
#include "plexus/task/tempotron_patterns.hpp"

namespace plexus::sim {

namespace tp = learning::tempotron;
using model::Range;

namespace {

using Clock = std::chrono::steady_clock;

double since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// Key of the presentation order of (experiment, epoch); apart from the task's pattern keys.
constexpr std::uint64_t kOrderKey = 0x100;

}  // namespace

struct TempotronTrainer::Impl {
  const model::Network& net;
  comm::Communicator& comm;
  TempotronOptions opt;

  // What the model says.
  const model::ProjectionSpec* proj = nullptr;
  std::uint32_t N = 0;  // afferents
  std::uint32_t K = 1;  // tempotrons per experiment
  tp::Kernel kernel;
  double threshold = 1.0;
  task::TempotronPatternSpec pattern_spec;
  std::vector<double> loads;
  std::vector<std::uint64_t> pattern_counts;  // per load
  std::int64_t repeats = 1, epochs = 100;
  std::uint64_t test_patterns = 0;
  double lambda = 1e-4, mu = 0.0;
  bool shuffle = true;

  // Results (whole network, after run()).
  std::vector<double> weights;
  std::vector<std::int64_t> errors;

  Impl(const model::Network& n, comm::Communicator& c, TempotronOptions o)
      : net(n), comm(c), opt(std::move(o)) {
    read();
  }

  void read();
  TempotronSummary run();
};

void TempotronTrainer::Impl::read() {
  const model::Node train = *net.train;
  train.allow_only({"rule", "projection", "loads", "patterns", "repeats", "epochs", "learning_rate",
                    "momentum", "shuffle", "test_patterns"});
  train.choice("rule", {"tempotron"});

  // The trained projection: as named, else the only one onto a tempotron population.
  if (auto pn = train.find("projection")) {
    const std::string name = pn->as_string();
    for (const auto& p : net.projections)
      if (p.name == name) proj = &p;
    if (!proj) pn->fail(fmt::format("no projection named '{}'", name));
  } else {
    for (const auto& p : net.projections) {
      if (net.populations[p.target].model != "tempotron") continue;
      if (proj) train.fail("several projections end on tempotron populations; say which with 'projection'");
      proj = &p;
    }
    if (!proj) net.config.root().fail("no projection onto a population of model 'tempotron'");
  }
  const auto& tgt = net.populations[proj->target];
  const auto& src = net.populations[proj->source];
  if (tgt.model != "tempotron")
    proj->node.at("target").fail(
        fmt::format("population '{}' is a '{}', not a 'tempotron'", tgt.name, tgt.model));
  if (proj->rule != model::ConnectRule::AllToAll)
    proj->node.at("rule").fail("a trained tempotron sees every afferent: use rule = \"all_to_all\"");
  if (!proj->weight) proj->node.fail("give the initial weights with 'weight'");
  if (proj->delay_ms && !(proj->delay_ms->is_constant() && proj->delay_ms->a == 0.0))
    proj->node.at("delay_ms")
        .fail("the event-based tempotron takes its inputs without delay: use delay_ms = 0");
  N = src.size;
  K = tgt.size;

  // Kernel and threshold: the population's parameters (the same keys as the stepped model).
  double tau = 15.0, tau_s = 3.75;
  if (tgt.params) {
    tgt.params->allow_only({"tau_ms", "tau_s_ms", "threshold"});
    tau = tgt.params->number_or("tau_ms", 15.0, Range::positive());
    tau_s = tgt.params->number_or("tau_s_ms", tau / 4.0, Range::positive());
    threshold = tgt.params->number_or("threshold", 1.0, Range::positive());
    if (!(tau_s < tau)) tgt.params->at("tau_s_ms").fail("must be shorter than tau_ms");
  }
  kernel = tp::Kernel::make(tau, tau_s);

  // Patterns.
  const model::Node task = *net.task;
  task.choice("kind", {"tempotron_patterns"});
  pattern_spec = task::TempotronPatternSpec::read(task, N);
  if (K != 1 && static_cast<int>(K) != pattern_spec.classes)
    tgt.node.at("size").fail(fmt::format(
        "a tempotron population has one tempotron (two classes: it fires for class 1) or one per class ({})",
        pattern_spec.classes));
  if (K == 1 && pattern_spec.classes != 2)
    tgt.node.at("size").fail(fmt::format("{} classes need {} tempotrons, one per class", pattern_spec.classes,
                                         pattern_spec.classes));

  // Loads (alpha = P / N) or pattern counts.
  if (train.has("loads") == train.has("patterns"))
    train.fail("give either 'loads' (alpha = P/N) or 'patterns'");
  if (auto l = train.find("loads")) {
    loads = l->is_array() ? l->as_number_array(Range::positive())
                          : std::vector<double>{l->as_number(Range::positive())};
    if (loads.empty()) l->fail("list at least one load");
    for (double a : loads) {
      const auto P = static_cast<std::uint64_t>(std::llround(a * N));
      if (P < 1) l->fail(fmt::format("load {} gives no pattern with {} afferents", a, N));
      if (P > 100000000) l->fail(fmt::format("load {} gives too many patterns", a));
      pattern_counts.push_back(P);
    }
  } else {
    const model::Node p = train.at("patterns");
    std::vector<std::int64_t> counts = p.is_array()
                                           ? p.as_integer_array(Range::closed(1, 1e8))
                                           : std::vector<std::int64_t>{p.as_integer(Range::closed(1, 1e8))};
    if (counts.empty()) p.fail("list at least one pattern count");
    for (auto c : counts) {
      pattern_counts.push_back(static_cast<std::uint64_t>(c));
      loads.push_back(static_cast<double>(c) / N);
    }
  }
  repeats = train.integer_or("repeats", 1, Range::closed(1, 1e6));
  epochs = train.integer_or("epochs", 100, Range::closed(1, 1e9));
  lambda = train.number_or("learning_rate", 1e-4, Range::positive());
  mu = train.number_or("momentum", 0.0, {0.0, 1.0, true, false});
  shuffle = train.boolean_or("shuffle", true);
  test_patterns = static_cast<std::uint64_t>(train.integer_or("test_patterns", 0, Range::closed(0, 1e8)));
  if (test_patterns > 0 && pattern_spec.templates == 0)
    train.at("test_patterns").fail("random patterns have random labels; test patterns need [task] templates");
}

namespace {

// Contiguous blocks of units, one per rank, of nearly equal total cost.
std::vector<std::size_t> split_by_cost(const std::vector<double>& cost, int parts) {
  const double total = std::accumulate(cost.begin(), cost.end(), 0.0);
  std::vector<std::size_t> bounds(static_cast<std::size_t>(parts) + 1, cost.size());
  bounds[0] = 0;
  double sum = 0.0;
  std::size_t u = 0;
  for (int r = 1; r < parts; ++r) {
    const double goal = total * r / parts;
    while (u < cost.size() && sum + 0.5 * cost[u] < goal) sum += cost[u++];
    bounds[static_cast<std::size_t>(r)] = u;
  }
  return bounds;
}

tp::Prepared prepare(const tp::Kernel& k, const task::SpikePattern& s, double duration) {
  tp::Pattern p;
  p.time = s.time_ms;
  p.afferent = s.afferent;
  return tp::Prepared::make(k, p, duration);
}

}  // namespace

TempotronSummary TempotronTrainer::Impl::run() {
  const auto wall0 = Clock::now();
  const int T = std::max(1, opt.threads);
  // Opened first, so that an unwritable path fails before the training, not after it.
  std::unique_ptr<io::ResultFile> file;
  if (opt.output) agree(comm, [&] { file = std::make_unique<io::ResultFile>(*opt.output, comm); });
  const std::size_t E = loads.size() * static_cast<std::size_t>(repeats);  // experiments
  const std::size_t U = E * K;                                             // units
  auto P_of = [&](std::size_t e) { return pattern_counts[e / static_cast<std::size_t>(repeats)]; };
  auto repeat_of = [&](std::size_t e) {
    return static_cast<std::uint64_t>(e % static_cast<std::size_t>(repeats));
  };

  std::vector<double> cost(U);
  for (std::size_t u = 0; u < U; ++u) cost[u] = static_cast<double>(P_of(u / K)) * N;
  const auto bounds = split_by_cost(cost, comm.size());
  const std::size_t u_begin = bounds[static_cast<std::size_t>(comm.rank())];
  const std::size_t u_end = bounds[static_cast<std::size_t>(comm.rank()) + 1];

  // Whole-network result arrays, filled for local units only (zeros elsewhere).
  const auto Es = static_cast<std::size_t>(epochs);
  const std::size_t Tp = test_patterns;
  std::vector<double> w_all(U * N, 0.0), err_all(U * Es, 0.0), solved_all(U, 0.0);
  // Per unit and pattern: did the tempotron fire (train patterns, then test patterns)?
  std::vector<std::size_t> fired_offset(U + 1, 0);
  for (std::size_t u = 0; u < U; ++u) fired_offset[u + 1] = fired_offset[u] + P_of(u / K) + Tp;
  std::vector<double> fired_all(fired_offset[U], 0.0);
  // Per experiment and pattern: its class (written by the experiment's tempotron 0).
  std::vector<std::size_t> label_offset(E + 1, 0);
  for (std::size_t e = 0; e < E; ++e) label_offset[e + 1] = label_offset[e] + P_of(e) + Tp;
  std::vector<double> label_all(label_offset[E], 0.0);

  const task::TempotronPatterns gen(pattern_spec, net.run.seed);
  const double T_ms = pattern_spec.duration_ms;
  std::exception_ptr failure;
  std::size_t done = 0;
  auto last_log = Clock::now();
  // Progress on rank 0: a line when a unit ends (every unit in small sweeps), and for long units a
  // line at most every progress_seconds while they run.
  const bool logging = opt.progress && opt.log;
  auto say = [&](const std::string& line) {
    *opt.log << "[plexus] tempotron: " << line << "\n";
    opt.log->flush();
    last_log = Clock::now();
  };

#pragma omp parallel for schedule(dynamic, 1) num_threads(T)
  for (std::size_t u = u_begin; u < u_end; ++u) {
    try {
      const std::size_t e = u / K;
      const std::uint32_t j = static_cast<std::uint32_t>(u % K);
      const std::uint64_t P = P_of(e), rep = repeat_of(e);
      const auto unit0 = Clock::now();
      // Patterns and labels: the tempotron of class j should fire for class j (two classes, one
      // tempotron: for class 1).
      std::vector<tp::Prepared> pats(P);
      std::vector<char> positive(P);
      for (std::uint64_t p = 0; p < P; ++p) {
        const auto s = gen.pattern(rep, task::Stream::Train, p);
        pats[p] = prepare(kernel, s, T_ms);
        positive[p] = K == 1 ? s.label == 1 : s.label == static_cast<int>(j);
        if (j == 0) label_all[label_offset[e] + p] = s.label;
      }
      // Initial weights: the projection's distribution, drawn as the network builder draws the
      // weights onto tempotron j (repeat 0 gives exactly the weights `plexus run` builds).
      tp::Learner L;
      L.lambda = lambda;
      L.mu = mu;
      L.threshold = threshold;
      L.w.resize(N);
      {
        rng::Stream ws(net.run.seed, rng::Purpose::Weight, static_cast<std::uint64_t>(proj->index), j, rep);
        for (std::uint32_t i = 0; i < N; ++i) L.w[i] = proj->weight->sample(ws);
      }
      std::vector<std::uint64_t> order(P);
      std::int64_t solved = -1;
      for (std::int64_t ep = 0; ep < epochs && solved < 0; ++ep) {
        std::iota(order.begin(), order.end(), 0);
        if (shuffle) {
          rng::Stream os(net.run.seed, rng::Purpose::TempotronPattern, rep, static_cast<std::uint64_t>(ep),
                         kOrderKey);
          for (std::uint64_t k = P; k > 1; --k) std::swap(order[k - 1], order[os.below(k)]);
        }
        std::uint64_t wrong = 0;
        for (auto p : order)
          if (!L.present(kernel, pats[p], positive[p] != 0)) ++wrong;
        err_all[u * Es + static_cast<std::size_t>(ep)] = static_cast<double>(wrong);
        if (wrong == 0) solved = ep + 1;
        if (logging && solved < 0) {
#pragma omp critical(plexus_tempotron_log)
          if (since(last_log) >= opt.progress_seconds)
            say(fmt::format(
                "load {:g} (P = {}), repeat {}, tempotron {}: epoch {} of {}, {} wrong ({:.0f} s)",
                loads[e / static_cast<std::size_t>(repeats)], P, rep, j, ep + 1, epochs, wrong,
                since(unit0)));
        }
      }
      solved_all[u] = static_cast<double>(solved);
      std::copy(L.w.begin(), L.w.end(), w_all.begin() + static_cast<std::ptrdiff_t>(u * N));
      double* fired = fired_all.data() + fired_offset[u];
      for (std::uint64_t p = 0; p < P; ++p)
        fired[p] = tp::respond(kernel, pats[p], L.w.data(), threshold).fired;
      for (std::uint64_t p = 0; p < Tp; ++p) {
        const auto t = gen.pattern(rep, task::Stream::Test, p);
        fired[P + p] = tp::respond(kernel, prepare(kernel, t, T_ms), L.w.data(), threshold).fired;
        if (j == 0) label_all[label_offset[e] + P + p] = t.label;
      }
      if (logging) {
#pragma omp critical(plexus_tempotron_log)
        {
          ++done;
          if (solved < 0 || E * K <= 64 || since(last_log) >= opt.progress_seconds ||
              done == u_end - u_begin) {
            const auto last = static_cast<std::uint64_t>(err_all[u * Es + Es - 1]);
            say(fmt::format(
                "load {:g} (P = {}), repeat {}, tempotron {}: {} ({:.1f} s); rank {}: {} of {} done",
                loads[e / static_cast<std::size_t>(repeats)], P, rep, j,
                solved > 0 ? fmt::format("no errors in epoch {}", solved)
                           : fmt::format("{} of {} wrong in epoch {}", last, P, epochs),
                since(unit0), comm.rank(), done, u_end - u_begin));
          }
        }
      }
    } catch (...) {
#pragma omp critical(plexus_tempotron_failure)
      if (!failure) failure = std::current_exception();
    }
  }
  // A failure on one rank must not leave the others in the reductions below.
  agree(comm, [&] {
    if (failure) std::rethrow_exception(failure);
  });

  comm.sum_in_rank_order(w_all);
  comm.sum_in_rank_order(err_all);
  comm.sum_in_rank_order(solved_all);
  comm.sum_in_rank_order(fired_all);
  comm.sum_in_rank_order(label_all);

  weights = std::move(w_all);
  errors.assign(err_all.size(), 0);
  for (std::size_t i = 0; i < err_all.size(); ++i) errors[i] = static_cast<std::int64_t>(err_all[i]);

  TempotronSummary s;
  s.epochs = epochs;
  s.afferents = N;
  s.tempotrons = K;
  for (std::size_t e = 0; e < E; ++e) {
    TempotronExperiment x;
    x.load = loads[e / static_cast<std::size_t>(repeats)];
    x.patterns = P_of(e);
    x.repeat = static_cast<std::int64_t>(repeat_of(e));
    std::int64_t solved = 0;
    for (std::uint32_t j = 0; j < K; ++j) {
      const auto sj = static_cast<std::int64_t>(solved_all[e * K + j]);
      solved = (solved < 0 || sj < 0) ? -1 : std::max(solved, sj);
    }
    x.solved_epoch = solved;
    // A pattern is right when every tempotron of the experiment answers it right.
    auto score = [&](std::uint64_t count, std::uint64_t offset) {
      std::uint64_t right = 0;
      for (std::uint64_t p = 0; p < count; ++p) {
        const int label = static_cast<int>(label_all[label_offset[e] + offset + p]);
        bool ok = true;
        for (std::uint32_t j = 0; j < K; ++j) {
          const bool want = K == 1 ? label == 1 : label == static_cast<int>(j);
          ok = ok && (fired_all[fired_offset[e * K + j] + offset + p] != 0.0) == want;
        }
        right += ok;
      }
      return count ? static_cast<double>(right) / static_cast<double>(count) : -1.0;
    };
    x.train_accuracy = score(x.patterns, 0);
    x.test_accuracy = Tp ? score(Tp, x.patterns) : -1.0;
    s.experiments.push_back(x);
  }
  s.wall_seconds = comm.allgather(since(wall0))[0];
  s.peak_rss_bytes = comm.allgather(static_cast<std::uint64_t>(memory::peak_rss_bytes()));

  if (file) {
    agree(comm, [&] {
      io::ResultFile& f = *file;
      f.create_group("/metadata");
      f.write_text("/metadata/config", net.config.to_toml());
      f.attribute("/metadata", "plexus_version", std::string(version::version()));
      f.attribute("/metadata", "git_hash", std::string(version::git_hash()));
      f.attribute("/metadata", "model", net.name);
      f.attribute("/metadata", "ranks", static_cast<std::int64_t>(comm.size()));
      f.attribute("/metadata", "threads", static_cast<std::int64_t>(T));
      f.attribute("/metadata", "seed", static_cast<std::int64_t>(net.run.seed));
      f.attribute("/metadata", "dt_ms", net.run.dt_ms);
      f.attribute("/metadata", "duration_ms", T_ms);
      f.attribute("/metadata", "rule", std::string("tempotron"));
      const std::string g = "/tempotron";
      f.create_group(g);
      f.attribute(g, "afferents", static_cast<std::int64_t>(N));
      f.attribute(g, "tempotrons_per_experiment", static_cast<std::int64_t>(K));
      f.attribute(g, "epochs", static_cast<std::int64_t>(epochs));
      f.attribute(g, "learning_rate", lambda);
      f.attribute(g, "momentum", mu);
      f.attribute(g, "tau_ms", kernel.tau);
      f.attribute(g, "tau_s_ms", kernel.tau_s);
      f.attribute(g, "threshold", threshold);
      f.attribute(g, "projection", proj->name);
      std::vector<double> load, train_acc, test_acc;
      std::vector<std::uint64_t> patterns;
      std::vector<std::int64_t> repeat, solved;
      for (const auto& x : s.experiments) {
        load.push_back(x.load);
        patterns.push_back(x.patterns);
        repeat.push_back(x.repeat);
        solved.push_back(x.solved_epoch);
        train_acc.push_back(x.train_accuracy);
        test_acc.push_back(x.test_accuracy);
      }
      f.write_replicated<double>(g + "/experiments/load", load);
      f.write_replicated<std::uint64_t>(g + "/experiments/patterns", patterns);
      f.write_replicated<std::int64_t>(g + "/experiments/repeat", repeat);
      f.write_replicated<std::int64_t>(g + "/experiments/solved_epoch", solved);
      f.write_replicated<double>(g + "/experiments/train_accuracy", train_acc);
      f.write_replicated<double>(g + "/experiments/test_accuracy", test_acc);
      std::vector<std::uint64_t> unit_exp(U), unit_tempotron(U);
      std::vector<std::int64_t> unit_solved(U);
      for (std::size_t u = 0; u < U; ++u) {
        unit_exp[u] = u / K;
        unit_tempotron[u] = u % K;
        unit_solved[u] = static_cast<std::int64_t>(solved_all[u]);
      }
      f.write_replicated<std::uint64_t>(g + "/units/experiment", unit_exp);
      f.write_replicated<std::uint64_t>(g + "/units/tempotron", unit_tempotron);
      f.write_replicated<std::int64_t>(g + "/units/solved_epoch", unit_solved);
      // Tables: rank 0 writes every row (all ranks hold the whole arrays).
      const bool root = comm.rank() == 0;
      f.create_table<std::int64_t>(g + "/errors", Es, 64);
      f.append_rows<std::int64_t>(g + "/errors", U, 0, root ? Es : 0, errors);
      f.attribute(g + "/errors", "description", std::string("unit x epoch: patterns answered wrongly"));
      f.create_table<double>(g + "/weights", N, 64);
      f.append_rows<double>(g + "/weights", U, 0, root ? N : 0, weights);
      f.attribute(g + "/weights", "description", std::string("unit x afferent: final weights"));
      f.attribute("/metadata", "synapses", static_cast<std::int64_t>(U * N));  // trained weights
      f.attribute("/metadata", "wall_time_s", s.wall_seconds);
      f.commit();
    });
    file.reset();
  }
  return s;
}

TempotronTrainer::TempotronTrainer(const model::Network& net, comm::Communicator& comm,
                                   TempotronOptions options)
    : impl_(nullptr) {
  agree(comm, [&] { impl_ = std::make_unique<Impl>(net, comm, std::move(options)); });
}

TempotronTrainer::~TempotronTrainer() = default;

TempotronSummary TempotronTrainer::run() {
  return impl_->run();
}

const std::vector<double>& TempotronTrainer::weights() const {
  return impl_->weights;
}

const std::vector<std::int64_t>& TempotronTrainer::errors() const {
  return impl_->errors;
}

}  // namespace plexus::sim
