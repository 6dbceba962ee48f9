// Tempotron training (SPEC 4.5) on tempotron patterns (SPEC 3.5). See tempotron.hpp.
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
#include "plexus/train/tempotron.hpp"

#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <exception>
#include <numeric>

#include <fmt/format.h>

#include "plexus/comm/agree.hpp"
#include "plexus/core/error.hpp"
#include "plexus/core/memory.hpp"
#include "plexus/core/rng.hpp"
#include "plexus/io/result_file.hpp"
#include "plexus/learning/tempotron.hpp"
#include "plexus/model/connectivity.hpp"
#include "plexus/task/tempotron_patterns.hpp"
#include "plexus/train/shell.hpp"

namespace plexus::train {

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

struct TempotronTraining::Impl final : checkpoint::Component {
  const model::Network& net;
  comm::Communicator& comm;
  int threads = 1;

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

  // Work: units (experiment, tempotron), their estimated cost, and where each unit's results go in
  // the whole-network arrays below (every rank holds all of them, zeros where not yet trained).
  std::size_t E = 0, U = 0;
  std::vector<std::size_t> fired_offset, label_offset;
  std::vector<double> w_all, err_all, solved_all, fired_all, label_all;
  std::size_t done = 0;  // units trained: [0, done)
  double wall_seconds = 0.0;

  // Results (whole network, after finish()).
  std::vector<double> weights;
  std::vector<std::int64_t> errors;
  TempotronSummary summary;

  Impl(const model::Network& n, comm::Communicator& c) : net(n), comm(c) { read(); }

  std::uint64_t P_of(std::size_t e) const { return pattern_counts[e / static_cast<std::size_t>(repeats)]; }
  std::uint64_t repeat_of(std::size_t e) const {
    return static_cast<std::uint64_t>(e % static_cast<std::size_t>(repeats));
  }
  void read();
  void layout();
  void train_units(std::size_t begin, std::size_t end, Shell* shell);
  void train_unit(std::size_t u, std::size_t begin, std::size_t label_begin, std::vector<double>& w,
                  std::vector<double>& err, std::vector<double>& solved, std::vector<double>& fired,
                  std::vector<double>& labels, Shell* shell);
  void summarise();
  void write(io::ResultFile& f) const;

  std::string name() const override { return "tempotron"; }
  void save(checkpoint::Writer& w) const override;
  void load(const checkpoint::Reader& r) override;
};

void TempotronTraining::Impl::read() {
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

// Where each unit's results go in the whole-network arrays.
void TempotronTraining::Impl::layout() {
  E = loads.size() * static_cast<std::size_t>(repeats);  // experiments
  U = E * K;                                             // units
  const auto Es = static_cast<std::size_t>(epochs);
  const std::size_t Tp = test_patterns;
  // Per unit and pattern: did the tempotron fire (train patterns, then test patterns)?
  fired_offset.assign(U + 1, 0);
  for (std::size_t u = 0; u < U; ++u) fired_offset[u + 1] = fired_offset[u] + P_of(u / K) + Tp;
  // Per experiment and pattern: its class (written by the experiment's tempotron 0).
  label_offset.assign(E + 1, 0);
  for (std::size_t e = 0; e < E; ++e) label_offset[e + 1] = label_offset[e] + P_of(e) + Tp;
  w_all.assign(U * N, 0.0);
  err_all.assign(U * Es, 0.0);
  solved_all.assign(U, 0.0);
  fired_all.assign(fired_offset[U], 0.0);
  label_all.assign(label_offset[E], 0.0);
}

// One unit, whole, on one thread: its results into the chunk's arrays (offsets relative to the
// chunk's first unit `begin` and first label `label_begin`).
void TempotronTraining::Impl::train_unit(std::size_t u, std::size_t begin, std::size_t label_begin,
                                         std::vector<double>& w, std::vector<double>& err,
                                         std::vector<double>& solved_out, std::vector<double>& fired_out,
                                         std::vector<double>& labels, Shell* shell) {
  const std::size_t e = u / K;
  const std::uint32_t j = static_cast<std::uint32_t>(u % K);
  const std::uint64_t P = P_of(e), rep = repeat_of(e);
  const auto Es = static_cast<std::size_t>(epochs);
  const auto unit0 = Clock::now();
  const task::TempotronPatterns gen(pattern_spec, net.run.seed);
  const double T_ms = pattern_spec.duration_ms;
  double* label = labels.data() + (label_offset[e] - label_begin);
  // Patterns and labels: the tempotron of class j should fire for class j (two classes, one
  // tempotron: for class 1).
  std::vector<tp::Prepared> pats(P);
  std::vector<char> positive(P);
  for (std::uint64_t p = 0; p < P; ++p) {
    const auto s = gen.pattern(rep, task::Stream::Train, p);
    pats[p] = prepare(kernel, s, T_ms);
    positive[p] = K == 1 ? s.label == 1 : s.label == static_cast<int>(j);
    if (j == 0) label[p] = s.label;
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
  double* errors_of_unit = err.data() + (u - begin) * Es;
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
    errors_of_unit[static_cast<std::size_t>(ep)] = static_cast<double>(wrong);
    if (wrong == 0) solved = ep + 1;
    if (shell && shell->log() && solved < 0) {
#pragma omp critical(plexus_tempotron_log)
      if (shell->progress_due())
        shell->say(fmt::format(
            "tempotron: load {:g} (P = {}), repeat {}, tempotron {}: epoch {} of {}, {} wrong ({:.0f} s)",
            loads[e / static_cast<std::size_t>(repeats)], P, rep, j, ep + 1, epochs, wrong, since(unit0)));
    }
  }
  solved_out[u - begin] = static_cast<double>(solved);
  std::copy(L.w.begin(), L.w.end(), w.begin() + static_cast<std::ptrdiff_t>((u - begin) * N));
  double* fired = fired_out.data() + (fired_offset[u] - fired_offset[begin]);
  for (std::uint64_t p = 0; p < P; ++p) fired[p] = tp::respond(kernel, pats[p], L.w.data(), threshold).fired;
  for (std::uint64_t p = 0; p < test_patterns; ++p) {
    const auto t = gen.pattern(rep, task::Stream::Test, p);
    fired[P + p] = tp::respond(kernel, prepare(kernel, t, T_ms), L.w.data(), threshold).fired;
    if (j == 0) label[P + p] = t.label;
  }
  if (shell && shell->log()) {
#pragma omp critical(plexus_tempotron_log)
    if (solved < 0 || U <= 64 || shell->progress_due())
      shell->say(fmt::format("tempotron: load {:g} (P = {}), repeat {}, tempotron {}: {} ({:.1f} s); rank {}",
                             loads[e / static_cast<std::size_t>(repeats)], P, rep, j,
                             solved > 0
                                 ? fmt::format("no errors in epoch {}", solved)
                                 : fmt::format("{} of {} wrong in epoch {}",
                                               static_cast<std::uint64_t>(errors_of_unit[Es - 1]), P, epochs),
                             since(unit0), comm.rank()));
  }
}

// Units [begin, end): ranks take contiguous blocks of nearly equal estimated cost (patterns x
// afferents), threads take a rank's units one at a time. Each unit's results land in its own slots
// of the chunk's arrays, zero elsewhere, and one rank-ordered sum gives every rank all of them:
// adding zeros is exact, so the results do not depend on the partition (or on the chunks).
void TempotronTraining::Impl::train_units(std::size_t begin, std::size_t end, Shell* shell) {
  const auto Es = static_cast<std::size_t>(epochs);
  std::vector<double> cost(end - begin);
  for (std::size_t u = begin; u < end; ++u) cost[u - begin] = static_cast<double>(P_of(u / K)) * N;
  const auto bounds = split_by_cost(cost, comm.size());
  const std::size_t u_begin = begin + bounds[static_cast<std::size_t>(comm.rank())];
  const std::size_t u_end = begin + bounds[static_cast<std::size_t>(comm.rank()) + 1];
  const std::size_t label_begin = label_offset[begin / K], label_end = label_offset[(end - 1) / K + 1];
  std::vector<double> w((end - begin) * N, 0.0), err((end - begin) * Es, 0.0), solved(end - begin, 0.0);
  std::vector<double> fired(fired_offset[end] - fired_offset[begin], 0.0),
      labels(label_end - label_begin, 0.0);
  std::exception_ptr failure;
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads)
  for (std::size_t u = u_begin; u < u_end; ++u) {
    try {
      train_unit(u, begin, label_begin, w, err, solved, fired, labels, shell);
    } catch (...) {
#pragma omp critical(plexus_tempotron_failure)
      if (!failure) failure = std::current_exception();
    }
  }
  // A failure on one rank must not leave the others in the reductions below.
  comm::agree(comm, [&] {
    if (failure) std::rethrow_exception(failure);
  });
  auto add = [&](std::vector<double>& part, std::vector<double>& all, std::size_t at) {
    comm.sum_in_rank_order(part);
    for (std::size_t i = 0; i < part.size(); ++i) all[at + i] += part[i];
  };
  add(w, w_all, begin * N);
  add(err, err_all, begin * Es);
  add(solved, solved_all, begin);
  add(fired, fired_all, fired_offset[begin]);
  add(labels, label_all, label_begin);
}

void TempotronTraining::Impl::summarise() {
  const auto Es = static_cast<std::size_t>(epochs);
  const std::size_t Tp = test_patterns;
  weights = w_all;
  errors.assign(err_all.size(), 0);
  for (std::size_t i = 0; i < err_all.size(); ++i) errors[i] = static_cast<std::int64_t>(err_all[i]);
  TempotronSummary& s = summary;
  s = {};
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
  (void)Es;
  s.wall_seconds = comm.allgather(wall_seconds)[0];
  s.peak_rss_bytes = comm.allgather(static_cast<std::uint64_t>(memory::peak_rss_bytes()));
}

void TempotronTraining::Impl::write(io::ResultFile& f) const {
  const auto& s = summary;
  const auto Es = static_cast<std::size_t>(epochs);
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
}

// Checkpoints: the units trained so far and every result array (the same on every rank).
void TempotronTraining::Impl::save(checkpoint::Writer& w) const {
  w.integer("tempotron/done", static_cast<std::int64_t>(done));
  w.real("tempotron/wall_seconds", wall_seconds);
  for (const auto& [name, v] : {std::pair{"weights", &w_all},
                                {"errors", &err_all},
                                {"solved", &solved_all},
                                {"fired", &fired_all},
                                {"labels", &label_all}})
    w.array(std::string("tempotron/") + name, checkpoint::Slice::whole(v->size()),
            std::span<const double>(*v));
}

void TempotronTraining::Impl::load(const checkpoint::Reader& r) {
  done = static_cast<std::size_t>(r.integer("tempotron/done"));
  wall_seconds = r.real("tempotron/wall_seconds");
  for (const auto& [name, v] : {std::pair{"weights", &w_all},
                                {"errors", &err_all},
                                {"solved", &solved_all},
                                {"fired", &fired_all},
                                {"labels", &label_all}})
    r.array(std::string("tempotron/") + name, checkpoint::Slice::whole(v->size()), std::span<double>(*v));
}

// ------------------------------------------------------------------------------------------------
TempotronTraining::TempotronTraining(const Setup& setup) {
  comm::agree(setup.comm, [&] { impl_ = std::make_unique<Impl>(setup.net, setup.comm); });
  impl_->threads = std::max(1, setup.threads);
  impl_->layout();
}

TempotronTraining::~TempotronTraining() = default;

std::string TempotronTraining::headline() const {
  return fmt::format("training '{}' (tempotron), {} learner(s)", impl_->net.name, impl_->U);
}
std::int64_t TempotronTraining::total() const {
  return static_cast<std::int64_t>(impl_->U);
}
std::int64_t TempotronTraining::done() const {
  return static_cast<std::int64_t>(impl_->done);
}

void TempotronTraining::start_file(io::ResultFile& f) {
  f.attribute("/metadata", "duration_ms", impl_->pattern_spec.duration_ms);
  f.attribute("/metadata", "rule", std::string("tempotron"));
}

void TempotronTraining::run(Shell& shell) {
  auto& I = *impl_;
  const auto wall0 = Clock::now();
  // Without checkpoints, every unit at once (the best balance over ranks); with them, a chunk of as
  // many units as the job has threads between checkpoint points.
  const std::size_t chunk = shell.checkpointing() ? static_cast<std::size_t>(I.comm.size() * I.threads) : I.U;
  while (I.done < I.U) {
    const std::size_t end = std::min(I.U, I.done + std::max<std::size_t>(chunk, 1));
    I.train_units(I.done, end, &shell);
    I.done = end;
    if (shell.checkpoint_point(static_cast<std::int64_t>(I.done))) break;
  }
  I.wall_seconds += since(wall0);
}

void TempotronTraining::finish(io::ResultFile* f) {
  impl_->summarise();
  if (f) impl_->write(*f);
}

std::vector<checkpoint::Component*> TempotronTraining::state() {
  return {impl_.get()};
}

const TempotronSummary& TempotronTraining::summary() const {
  return impl_->summary;
}
const std::vector<double>& TempotronTraining::weights() const {
  return impl_->weights;
}
const std::vector<std::int64_t>& TempotronTraining::errors() const {
  return impl_->errors;
}

void TempotronTraining::report(std::ostream& out) const {
  const auto& s = impl_->summary;
  out << fmt::format("{} afferents, {} tempotron(s) per experiment, at most {} epochs; {:.1f} s\n",
                     s.afferents, s.tempotrons, s.epochs, s.wall_seconds);
  const bool test = !s.experiments.empty() && s.experiments.front().test_accuracy >= 0.0;
  out << fmt::format("| load P/N | patterns | repeat | epochs to zero errors | training accuracy |{}\n",
                     test ? " test accuracy |" : "");
  out << fmt::format("| --- | --- | --- | --- | --- |{}\n", test ? " --- |" : "");
  for (const auto& x : s.experiments)
    out << fmt::format(
        "| {:g} | {} | {} | {} | {:.4f} |{}\n", x.load, x.patterns, x.repeat,
        x.solved_epoch > 0 ? std::to_string(x.solved_epoch) : fmt::format("not within {}", s.epochs),
        x.train_accuracy, test ? fmt::format(" {:.4f} |", x.test_accuracy) : "");
  // Per load: how many repeats were solved, and the mean accuracy.
  std::map<double, std::tuple<int, int, double>> per_load;  // solved, total, accuracy sum
  for (const auto& x : s.experiments) {
    auto& [solved, total, acc] = per_load[x.load];
    solved += x.solved_epoch > 0;
    ++total;
    acc += x.train_accuracy;
  }
  for (const auto& [load, v] : per_load) {
    const auto& [solved, total, acc] = v;
    out << fmt::format("load {:g}: {} of {} solved; mean training accuracy {:.4f}\n", load, solved, total,
                       acc / total);
  }
}

namespace {
const ExperimentRegistry::Add registered{
    {"tempotron",
     "train",
     "tempotrons trained on spike patterns, at several loads and repeats",
     {false, "learner"},
     [] { return std::vector<std::string>{"tempotron"}; },
     [](const Setup& s) { return std::make_unique<TempotronTraining>(s); }}};
}  // namespace

}  // namespace plexus::train
