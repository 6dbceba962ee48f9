// Training with gradient-based online rules (e-prop, SPEC 4.1).
//
// Trials run through the ordinary step schedule (sim/simulation.cpp); phase 7 of every step is
//   serial   (master thread, once every readout value of the step is known)
//              - the step's spikes (every rank's neurons and the task inputs, by gid) go to the
//                rule, which advances its presynaptic traces;
//              - readout errors err_k^t = dE/dy_k^t (softmax minus one-hot inside the loss window,
//                or y - y*), the loss and the decision, from the readouts, which every rank holds
//                alike (decisions/0002).
//   parallel (every thread, its own block of target neurons)
//              - learning signals L_j^t = sum_k B_jk err_k^t (readout losses, through the filtered
//                eligibility traces) and R_j (rate regularisation, through the unfiltered ones);
//              - the rule advances the eligibility traces of the block's synapses and accumulates
//                their gradients (learning/eprop.cpp).
// The learning signal must be known before the traces it multiplies are summed, hence after the
// readouts (phase 6); it uses y^t, which reads z^t, so it cannot come earlier in the step.
// Every rank forms the same errors and signals for its neurons from the same gid-ordered spikes,
// and every gradient is a sum over time of products formed in the same order whatever the
// partition, so trained weights are bit-identical for any number of ranks and threads. At the end
// of a batch: optional gradient-norm clipping (squares summed per neuron, then over neurons in gid
// order), then Adam or gradient descent on every plastic synapse, with Dale's law kept by clipping
// at zero, then the symmetric feedback is refreshed from the new readout weights.
#include "plexus/sim/trainer.hpp"

#include <omp.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <fstream>
#include <map>
#include <numeric>
#include <optional>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "plexus/core/error.hpp"
#include "plexus/core/memory.hpp"
#include "plexus/core/version.hpp"
#include "plexus/io/result_file.hpp"
#include "plexus/learning/feedback.hpp"
#include "plexus/learning/loss.hpp"
#include "plexus/learning/optimizer.hpp"
#include "plexus/learning/reward.hpp"
#include "plexus/learning/rule.hpp"
#include "plexus/sim/simulation.hpp"
#include "plexus/sim/simulation_impl.hpp"
#include "plexus/task/tmaze_reward.hpp"

namespace plexus::sim {

namespace {

using Clock = std::chrono::steady_clock;
using model::Range;

double since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

std::string human_seconds(double s) {
  if (s < 60) return fmt::format("{:.0f}s", s);
  if (s < 3600) return fmt::format("{:.0f}m{:02.0f}s", std::floor(s / 60), std::fmod(s, 60.0));
  return fmt::format("{:.0f}h{:02.0f}m", std::floor(s / 3600), std::floor(std::fmod(s, 3600.0) / 60));
}

}  // namespace

struct Trainer::Impl : checkpoint::Component {
  const model::Network& net;
  comm::Communicator& comm;
  TrainOptions opt;
  std::unique_ptr<Simulation> sim;
  Simulation::Impl* S = nullptr;
  std::unique_ptr<task::Task> task;
  int readout_pop = -1;
  std::vector<int> plastic;  // projection indices
  learning::Context ctx;
  std::unique_ptr<learning::Rule> rule;
  learning::Optimizer optimizer;

  // Per non-readout target (same order as ctx.targets, readout entries unused).
  std::vector<learning::Feedback> feedback;
  std::vector<std::vector<double>> reg;  // rate-regularisation learning signal per local neuron
  std::vector<std::vector<double>> L;    // learning signal of the current step
  std::function<double(Step, Gid)> signal_override;

  // [train]
  std::int64_t iterations = 100, batch = 64, validation_every = 10, validation_trials = 64, test_trials = 256;
  double target_accuracy = 2.0;  // > 1: no early stopping
  double reg_rate_hz = 10.0, reg_coefficient = 0.0, clip_norm = 0.0;
  bool random_feedback = false;
  std::int64_t example_cells = 4;
  std::string rule_name = "eprop";
  std::vector<std::string> rule_settings;  // keys taken from [train.<rule>]
  // restore_best: the weights of the best validation so far (the earliest of equals), per plastic
  // projection in target order (as checkpoints keep them).
  bool restore_best = false;
  double best_accuracy = -1.0;
  std::int64_t best_iteration = 0;
  std::vector<std::vector<synapse::Weight>> best_weights;
  void keep_best_weights();
  void put_back_best_weights();

  // Per step and trial.
  std::size_t K = 0;
  Step T = 0, window_begin = 0;
  std::vector<double> err, ysum, target_buf;
  std::vector<Gid> step_spikes;
  learning::Signals signals;
  bool learning = false, reg_active = false;
  double loss_sum = 0.0;
  int label = -1;
  std::vector<std::uint64_t> counts;      // spikes per gid over the training trials of the current batch
  std::vector<std::uint8_t> trained_gid;  // 1 for the cells of trained (non-readout) populations
  std::uint64_t trained_cells = 0, trial_spikes = 0;
  std::uint64_t trials_in_batch = 0;
  double grad_norm = 0.0;  // of the last batch, before clipping

  // Reward mode (SPEC 3.4, 4.3; [train] mode = "reward"): the readout holds K = outputs + 1 neurons,
  // the policy logits y_0..y_(K-2) and the value V = y_(K-1); err holds dE/dy of the policy and value
  // terms, err_h that of the entropy bonus, LH its learning signal per local neuron.
  bool reward_mode = false;
  task::TMazeReward maze;
  double gamma = 0.999, c_value = 0.01, c_entropy = 0.0;
  Step decision = 0;
  std::vector<double> pi, err_h;
  std::vector<double> err_out;  // dE/dy for the readout synapses: as err, but -1 for the value
  std::vector<std::vector<double>> LH;
  double action_u = 0.0, v_prev = 0.0, r_prev = 0.0, value_sum = 0.0, return_sum = 0.0, logp = 0.0;
  int action = -1;
  // Delay curriculum (reward mode): the delay of training trials grows linearly from curriculum_start
  // to the task's delay (final_delay) over the first curriculum_iterations iterations; a function of
  // the trial index, so the same after a resume. Validation, test and examples use the final delay.
  std::int64_t curriculum_iterations = 0;
  Step curriculum_start = 0, final_delay = 0;

  // Example capture (before / after training).
  bool capture = false;
  std::vector<double> cap_times;
  std::vector<Gid> cap_gids;
  std::vector<double> cap_y;
  std::vector<std::pair<int, Gid>> cap_cells;  // (population, population-local id)
  std::vector<double> cap_v;                   // T x cells, own cells only (others zero)

  // The schedule's position and what the result file needs at the end (checkpointed).
  std::int64_t done = 0;  // iterations completed
  TrainSummary progress;
  double iter_seconds = 0.0;
  std::vector<std::vector<SynapseValue>> initial_weights;  // per plastic projection
  std::unique_ptr<io::ResultFile> file;
  std::map<std::string, std::uint64_t> resume_lengths;  // result datasets' lengths at the checkpoint

  Impl(const model::Network& n, comm::Communicator& c, TrainOptions o) : net(n), comm(c), opt(std::move(o)) {}

  std::string name() const override { return "train"; }
  void save(checkpoint::Writer& w) const override;
  void load(const checkpoint::Reader& r) override;

  void configure();
  void serial(Step t);
  void reward_serial(Step t, const double* y);
  void capture_step(Step t, const double* y);
  void parallel(Step t, int th);
  void refresh_feedback();
  TrialResult run_trial(task::Stream stream, std::uint64_t index, bool learning);
  void end_batch();
  std::vector<SynapseValue> gather(std::vector<SynapseValue> local) const;
  const model::ProjectionSpec& projection(const std::string& name) const;
};

namespace {

// [train] with the selected rule's own table over it: [train.eprop], [train.d_rtrl] and
// [train.es_d_rtrl] may hold any [train] key but "rule" and override it when that rule runs, so one
// model file carries settings tuned for each rule and `--set train.rule=R` alone switches rules.
// A --set of a [train] key still wins over the file's rule table (users shorten runs that way).
struct RuleSettings {
  model::Node top;
  std::optional<model::Node> own;
  std::string rule;

  RuleSettings(const model::Node& train, const std::vector<std::string>& keys) : top(train) {
    static constexpr std::array<std::string_view, 3> rules = {"eprop", "d_rtrl", "es_d_rtrl"};
    std::vector<std::string> allowed = keys;
    allowed.push_back("rule");
    allowed.insert(allowed.end(), rules.begin(), rules.end());
    top.allow_only(allowed);
    rule = top.choice("rule", {"eprop", "d_rtrl", "es_d_rtrl"}, "eprop");
    for (auto r : rules)
      if (const auto t = top.find(r)) {
        if (!t->is_table()) t->fail("must be a table of [train] settings for that rule");
        t->allow_only(keys);
      }
    own = top.find(rule);
  }
  // The table `key` is read from. Command-line overrides win over the file, and within each the
  // rule's own table wins over [train]: --set train.R.k, --set train.k, [train.R] k, [train] k.
  const model::Node& in(std::string_view key) const {
    const bool in_own = own && own->has(key), in_top = top.has(key);
    if (in_own && own->at(key).from_override()) return *own;
    if (in_top && top.at(key).from_override()) return top;
    return in_own ? *own : top;
  }

  bool has(std::string_view k) const { return in(k).has(k); }
  model::Node at(std::string_view k) const { return in(k).at(k); }
  double number_or(std::string_view k, double def, Range r = Range::any()) const {
    return in(k).number_or(k, def, r);
  }
  std::int64_t integer_or(std::string_view k, std::int64_t def, Range r = Range::any()) const {
    return in(k).integer_or(k, def, r);
  }
  std::string choice(std::string_view k, std::initializer_list<std::string_view> c, std::string def) const {
    return in(k).choice(k, c, def);
  }
  bool boolean_or(std::string_view k, bool def) const { return in(k).boolean_or(k, def); }
  [[noreturn]] void fail(const std::string& m) const { top.fail(m); }
};

}  // namespace

void Trainer::Impl::configure() {
  static const std::vector<std::string> keys = {"lambda",
                                                "iterations",
                                                "batch_size",
                                                "optimizer",
                                                "learning_rate",
                                                "adam_beta1",
                                                "adam_beta2",
                                                "adam_epsilon",
                                                "learning_rate_decay",
                                                "learning_rate_decay_every",
                                                "feedback",
                                                "precision",
                                                "plastic",
                                                "reg_rate_hz",
                                                "reg_coefficient",
                                                "clip_grad_norm",
                                                "eligibility_filter",
                                                "validation_every",
                                                "validation_trials",
                                                "test_trials",
                                                "target_accuracy",
                                                "example_cells",
                                                "mode",
                                                "discount",
                                                "value_coefficient",
                                                "entropy_coefficient",
                                                "step_reward",
                                                "curriculum_delay_start_ms",
                                                "curriculum_iterations",
                                                "restore_best",
                                                "learning_rate_scale"};
  const RuleSettings tr(*net.train, keys);
  rule_name = tr.rule;
  if (tr.own)
    for (const auto& k : tr.own->keys())
      if (&tr.in(k) == &*tr.own) rule_settings.push_back(k);
  // ES-D-RTRL's smoothing factor (SPEC 4.2: 0.9 for evidence accumulation, 0.99 for DMS). Other
  // rules ignore it, so that a model file can carry it and switch rules with one --set.
  ctx.lambda = tr.number_or("lambda", 0.9, {0.0, 1.0, true, false});
  iterations = tr.integer_or("iterations", 100, Range::closed(0, 1e9));
  batch = tr.integer_or("batch_size", 64, Range::closed(1, 1e7));
  optimizer.kind = tr.choice("optimizer", {"adam", "sgd"}, "adam") == "adam" ? learning::Optimizer::Kind::Adam
                                                                             : learning::Optimizer::Kind::Sgd;
  optimizer.learning_rate = tr.number_or("learning_rate", 0.005, Range::non_negative());
  // Step schedule: the rate is multiplied by `learning_rate_decay` after every
  // `learning_rate_decay_every` updates (a noisy batch gradient then settles instead of jittering).
  optimizer.decay = tr.number_or("learning_rate_decay", 1.0, {0.0, 1.0, false, true});
  optimizer.decay_every = tr.integer_or("learning_rate_decay_every", 100, Range::closed(1, 1e9));
  optimizer.beta1 = tr.number_or("adam_beta1", 0.9, {0.0, 1.0, true, false});
  optimizer.beta2 = tr.number_or("adam_beta2", 0.999, {0.0, 1.0, true, false});
  optimizer.epsilon = tr.number_or("adam_epsilon", 1e-8, Range::positive());
  random_feedback = tr.choice("feedback", {"symmetric", "random"}, "symmetric") == "random";
  const bool float64 = tr.choice("precision", {"float32", "float64"}, "float32") == "float64";
  reg_rate_hz = tr.number_or("reg_rate_hz", 10.0, Range::non_negative());
  reg_coefficient = tr.number_or("reg_coefficient", 0.0, Range::non_negative());
  clip_norm = tr.number_or("clip_grad_norm", 0.0, Range::non_negative());
  const bool filter = tr.choice("eligibility_filter", {"readout", "none"}, "readout") == "readout";
  validation_every = tr.integer_or("validation_every", 10, Range::closed(0, 1e9));
  validation_trials = tr.integer_or("validation_trials", 64, Range::closed(0, 1e9));
  test_trials = tr.integer_or("test_trials", 256, Range::closed(0, 1e9));
  target_accuracy = tr.number_or("target_accuracy", 2.0, Range::non_negative());
  example_cells = tr.integer_or("example_cells", 4, Range::closed(0, 1000));
  // Early stopping's other half: test (and write) the weights of the best validation, not the last.
  // Without validation there is nothing to choose from, and the last weights are tested as usual
  // (so that a short run with validation_trials = 0 needs no second override).
  restore_best = tr.boolean_or("restore_best", false);
  // Reward-based e-prop (SPEC 4.3): only the reward teaches; see docs/learning.md.
  reward_mode = tr.choice("mode", {"supervised", "reward"}, "supervised") == "reward";
  if (reward_mode && rule_name != "eprop")
    tr.at("mode").fail("reward-based learning is implemented for rule = \"eprop\" only");
  if (!reward_mode)
    for (const char* k : {"discount", "value_coefficient", "entropy_coefficient", "step_reward",
                          "curriculum_delay_start_ms", "curriculum_iterations"})
      if (tr.has(k)) tr.at(k).fail("only with mode = \"reward\"");
  gamma = tr.number_or("discount", 0.999, Range::probability());
  c_value = tr.number_or("value_coefficient", 0.01, Range::non_negative());
  c_entropy = tr.number_or("entropy_coefficient", 0.0, Range::non_negative());
  maze.seed = net.run.seed;
  maze.step_reward = tr.number_or("step_reward", 0.0, Range::closed(-1.0, 1.0));

  task = task::make(*net.task, net.run.dt_ms, net.run.seed);
  T = task->steps();
  window_begin = task->window_begin();
  K = task->outputs() + (reward_mode ? 1 : 0);  // reward: one more readout neuron, the value
  if (reward_mode) {
    if (!task->classification())
      net.task->fail("mode = \"reward\" needs a task with discrete choices (evidence)");
    if (T < 2) net.task->fail("mode = \"reward\" needs trials of at least two steps");
    decision = task::TMazeReward::decision_step(T);
    curriculum_iterations = tr.integer_or("curriculum_iterations", 0, Range::closed(0, 1e9));
    final_delay = task->delay_steps();
    if (curriculum_iterations > 0) {
      if (final_delay < 0) tr.at("curriculum_iterations").fail("the task has no delay period to grow");
      const double start_ms = tr.number_or("curriculum_delay_start_ms", 0.0, Range::non_negative());
      curriculum_start = static_cast<Step>(std::llround(start_ms / net.run.dt_ms));
      if (curriculum_start > final_delay)
        tr.at("curriculum_delay_start_ms").fail("must not exceed the task's delay_ms");
    } else if (tr.has("curriculum_delay_start_ms")) {
      tr.at("curriculum_delay_start_ms").fail("needs curriculum_iterations > 0");
    }
    pi.assign(K - 1, 0.0);
    err_h.assign(K, 0.0);
    err_out.assign(K, 0.0);
  }
  err.assign(K, 0.0);
  ysum.assign(K, 0.0);
  target_buf.assign(K, 0.0);

  // Populations: task inputs must match the task; exactly one readout, one neuron per output.
  for (std::size_t p = 0; p < S->pops.size(); ++p) {
    const auto& ps = S->pops[p];
    if (ps.spec->model == "task_input" && ps.spec->size != task->channels())
      ps.spec->node.at("size").fail(fmt::format("the task '{}' has {} input channels; this population has {}",
                                                task->kind(), task->channels(), ps.spec->size));
    if (ps.readout()) {
      if (readout_pop >= 0) ps.spec->node.fail("training supports one readout population");
      readout_pop = static_cast<int>(p);
      if (ps.spec->size != K)
        ps.spec->node.at("size").fail(
            reward_mode
                ? fmt::format(
                      "mode = \"reward\" needs {} readout neurons ({} policy outputs of the task '{}' "
                      "and one value); this readout has {}",
                      K, K - 1, task->kind(), ps.spec->size)
                : fmt::format("the task '{}' has {} outputs; this readout has {}", task->kind(), K,
                              ps.spec->size));
    }
  }
  if (readout_pop < 0) tr.fail("training needs a readout population (model = \"readout\")");

  // Plastic projections: as listed, or every projection onto a learning-form neuron or the readout.
  auto trainable = [&](const model::ProjectionSpec& spec) {
    return S->pops[static_cast<std::size_t>(spec.target)].model->learning_view().has_value();
  };
  if (tr.has("plastic")) {
    const auto node = tr.at("plastic");
    for (const auto& name : node.as_string_array()) {
      const auto it = std::find_if(net.projections.begin(), net.projections.end(),
                                   [&](const auto& p) { return p.name == name; });
      if (it == net.projections.end()) node.fail(fmt::format("no projection named '{}'", name));
      if (!trainable(*it))
        node.fail(
            fmt::format("projection '{}' targets '{}', which is neither a learning-form neuron (lif, alif) "
                        "nor a readout",
                        name, net.populations[static_cast<std::size_t>(it->target)].name));
      plastic.push_back(it->index);
    }
  } else {
    for (const auto& spec : net.projections)
      if (trainable(spec)) plastic.push_back(spec.index);
  }
  if (plastic.empty())
    tr.fail("no plastic projections: nothing targets a learning-form neuron or the readout");

  // The rule's view of the simulation.
  ctx.model = [this](int pop) -> const neuron::Population& {
    return *S->pops[static_cast<std::size_t>(pop)].model;
  };
  ctx.readout_kappa = S->pops[static_cast<std::size_t>(readout_pop)].model->learning_view()->kappa;
  ctx.filter_kappa = filter ? ctx.readout_kappa : 0.0;
  ctx.adam = optimizer.kind == learning::Optimizer::Kind::Adam;
  ctx.precision = float64 ? learning::Precision::Float64 : learning::Precision::Float32;
  ctx.reward = reward_mode;
  ctx.reward_gamma = gamma;
  auto target_index = [&](int pop) {
    for (std::size_t i = 0; i < ctx.targets.size(); ++i)
      if (ctx.targets[i].population == pop) return static_cast<int>(i);
    const auto& ps = S->pops[static_cast<std::size_t>(pop)];
    ctx.targets.push_back({pop, ps.spec->first_gid, ps.local, ps.blocks, ps.readout()});
    return static_cast<int>(ctx.targets.size() - 1);
  };
  for (int pi : plastic) {
    const auto& spec = net.projections[static_cast<std::size_t>(pi)];
    auto& proj = S->projs[static_cast<std::size_t>(pi)];
    const auto& tgt = S->pops[static_cast<std::size_t>(spec.target)];
    if (!proj.constant_delay())
      spec.node.fail(
          "a plastic projection needs one delay for all its synapses (e-prop keeps one "
          "presynaptic trace per source)");
    if (tgt.readout() && proj.delay() != 0)
      spec.node.at("delay_ms").fail("projections into the readout must have delay 0 (y^t reads z^t)");
    const auto& src = net.populations[static_cast<std::size_t>(spec.source)];
    learning::Plastic p;
    p.projection = pi;
    p.synapses = &proj;
    p.target = target_index(spec.target);
    p.source_first_gid = src.first_gid;
    p.source_size = src.size;
    p.delay = proj.delay();
    p.sign = src.dale == model::Dale::Excitatory   ? learning::SignRule::NonNegative
             : src.dale == model::Dale::Inhibitory ? learning::SignRule::NonPositive
                                                   : learning::SignRule::Any;
    ctx.plastic.push_back(p);
  }
  // Per-projection learning rates, { projection = factor }: a readout with a very large in-degree
  // (a scaled cortex) needs smaller steps than the network's synapses under one Adam rate.
  if (tr.has("learning_rate_scale")) {
    const auto node = tr.at("learning_rate_scale");
    if (!node.is_table()) node.fail("must be a table { projection = factor }");
    for (const auto& name : node.keys()) {
      auto it = std::find_if(ctx.plastic.begin(), ctx.plastic.end(), [&](const learning::Plastic& p) {
        return net.projections[static_cast<std::size_t>(p.projection)].name == name;
      });
      if (it == ctx.plastic.end()) node.at(name).fail(fmt::format("'{}' is not a plastic projection", name));
      it->lr_scale = node.number(name, Range::positive());
    }
  }
  feedback.resize(ctx.targets.size());
  reg.resize(ctx.targets.size());
  L.resize(ctx.targets.size());
  LH.resize(ctx.targets.size());
  for (std::size_t i = 0; i < ctx.targets.size(); ++i) {
    if (ctx.targets[i].readout) continue;
    const auto n = ctx.targets[i].local.size();
    feedback[i].resize(n, K);
    if (random_feedback)  // a pure function of the seed and gids: the same after a resume
      feedback[i].random(net.run.seed, ctx.targets[i].first_gid, ctx.targets[i].local,
                         net.populations[static_cast<std::size_t>(ctx.targets[i].population)].size);
    reg[i].assign(n, 0.0);
    L[i].assign(n, 0.0);
    if (reward_mode) LH[i].assign(n, 0.0);
  }
  for (const auto& t : ctx.targets) {
    if (t.readout) continue;
    const auto& m = *S->pops[static_cast<std::size_t>(t.population)].model;
    const auto& spec = net.populations[static_cast<std::size_t>(t.population)];
    if (rule_name == "eprop" && !m.learning_view()->eprop)
      spec.node.at("model").fail(
          fmt::format("e-prop's traces cover lif and alif cells only; train '{}' cells with "
                      "rule = \"d_rtrl\" or \"es_d_rtrl\"",
                      spec.model));
    if (rule_name != "eprop" && m.jacobian_state().empty())
      spec.node.at("model").fail(
          fmt::format("'{}' cells have no state Jacobian for {}", spec.model, rule_name));
  }
  rule = rule_name == "d_rtrl"      ? learning::make_d_rtrl(ctx)
         : rule_name == "es_d_rtrl" ? learning::make_es_d_rtrl(ctx)
                                    : learning::make_eprop(ctx);
  signals.L = &L;
  signals.R = &reg;
  signals.err = reward_mode ? err_out.data() : err.data();
  signals.H = &LH;
  signals.err_h = err_h.data();
  counts.assign(net.total_neurons, 0);
  trained_gid.assign(net.total_neurons, 0);
  for (const auto& tg : ctx.targets) {
    if (tg.readout) continue;
    const auto& spec = net.populations[static_cast<std::size_t>(tg.population)];
    trained_cells += spec.size;
    std::fill(trained_gid.begin() + spec.first_gid, trained_gid.begin() + spec.first_gid + spec.size, 1);
  }

  // Cells whose membrane potential example trials keep: evenly spaced in each trained population.
  for (const auto& t : ctx.targets) {
    if (t.readout) continue;
    const auto size = net.populations[static_cast<std::size_t>(t.population)].size;
    const auto n = std::min<Gid>(size, static_cast<Gid>(example_cells));
    for (Gid c = 0; c < n; ++c) cap_cells.push_back({t.population, c * size / n});
  }
  S->task = task.get();
  S->learn.serial = [this](Step t) { serial(t); };
  S->learn.parallel = [this](Step t, int th) { parallel(t, th); };
  refresh_feedback();
}

void Trainer::Impl::refresh_feedback() {
  for (std::size_t i = 0; i < ctx.targets.size(); ++i) {
    const auto& t = ctx.targets[i];
    if (t.readout) continue;
    auto& fb = feedback[i];
    if (random_feedback) continue;  // fixed, drawn in configure()
    fb.clear();
    for (const auto& spec : net.projections)
      if (spec.source == t.population && spec.target == readout_pop)
        fb.add_symmetric(S->projs[static_cast<std::size_t>(spec.index)], t.local);
  }
}

void Trainer::Impl::serial(Step t) {
  // This step's spikes, network and task inputs, sorted by gid.
  step_spikes.assign(S->global_spikes.begin(), S->global_spikes.end());
  const std::size_t mid = step_spikes.size();
  step_spikes.insert(step_spikes.end(), S->gen_spikes.begin(), S->gen_spikes.end());
  std::inplace_merge(step_spikes.begin(), step_spikes.begin() + static_cast<std::ptrdiff_t>(mid),
                     step_spikes.end());
  // Spikes of the trained cells: per gid for the rate regularisation (training trials only: the
  // rates it needs are those of the batch, not of validation or example trials), and in total for
  // the trial's mean rate.
  for (Gid g : S->global_spikes) {
    if (learning) ++counts[g];
    trial_spikes += trained_gid[g];
  }
  // Trials that do not learn (validation, test, examples) need no traces at all.
  if (learning) rule->serial(t, step_spikes);

  // Readout errors, loss and decision. E = (1 / (B T_w)) sum over the batch and the window of the
  // per-step loss, so err is scaled by 1 / (B T_w).
  const double* y = S->pops[static_cast<std::size_t>(readout_pop)].model->learning_view()->y;
  if (reward_mode) {
    reward_serial(t, y);
    if (capture) capture_step(t, y);
    return;
  }
  const bool in_window = t >= window_begin;
  const double scale = 1.0 / (static_cast<double>(batch) * static_cast<double>(T - window_begin));
  std::fill(err.begin(), err.end(), 0.0);
  if (in_window) {
    if (task->classification()) {
      loss_sum += learning::softmax_cross_entropy(y, K, label, scale, err.data());
      for (std::size_t k = 0; k < K; ++k) ysum[k] += y[k];
    } else {
      task->target(t, target_buf.data());
      loss_sum += learning::squared_error(y, target_buf.data(), K, scale, err.data());
    }
  }
  if (!learning) std::fill(err.begin(), err.end(), 0.0);
  signals.L_active = learning && (in_window || signal_override);
  signals.R_active = learning && reg_active && !signal_override;

  if (capture) capture_step(t, y);
}

void Trainer::Impl::capture_step(Step t, const double* y) {
  for (Gid g : step_spikes) {
    cap_times.push_back(net.step_to_ms(t));
    cap_gids.push_back(g);
  }
  for (std::size_t k = 0; k < K; ++k) cap_y.push_back(y[k]);
  for (const auto& [pop, id] : cap_cells) {
    const auto& ps = S->pops[static_cast<std::size_t>(pop)];
    const double* v = ps.model->variable("v");
    cap_v.push_back(ps.local.contains(id) && v ? v[id - ps.local.begin] : 0.0);
  }
}

// Reward mode, step t (SPEC 4.3). The TD error of step t - 1 needs V^t, so it is formed now and the
// rule weights F^(t-1) with it (eprop_kernels.hpp, reward_row). Episode: steps 0..decision; the
// action is sampled from pi^decision, whose reward ends the episode (terminal: V^(decision+1) = 0).
// Every rank holds the readouts alike and draws the action from the same (seed, stream, trial)
// number, so every rank forms the same errors and takes the same turn.
void Trainer::Impl::reward_serial(Step t, const double* y) {
  const std::size_t P = K - 1;  // policy outputs
  const double V = y[P];
  std::fill(err.begin(), err.end(), 0.0);
  std::fill(err_h.begin(), err_h.end(), 0.0);
  double delta = 0.0;
  if (t >= 1 && t - 1 <= decision) delta = learning::td_error(r_prev, v_prev, V, gamma, t - 1 == decision);
  const double per_trial = 1.0 / static_cast<double>(batch);  // g is the batch mean
  signals.delta = delta * per_trial;
  bool entropy = false;
  if (t <= decision) {
    value_sum += V;
    err[P] = -c_value;
    double r = maze.step_reward;
    if (t == decision) {
      learning::softmax(y, P, pi.data());
      action = learning::sample_action(pi.data(), P, action_u);
      r = maze.reward(action, label);
      logp = learning::policy_error(pi.data(), P, action, err.data());
      if (c_entropy > 0.0) {
        learning::entropy_error(pi.data(), P, c_entropy * per_trial, err_h.data());
        entropy = true;
      }
    }
    return_sum += r;
    r_prev = r;
    v_prev = V;
  }
  // The value readout's own weights learn by TD at full strength (dE/dV = -1); c_V weighs the value
  // term only in the learning signal of the network's neurons.
  std::copy(err.begin(), err.end(), err_out.begin());
  if (t <= decision) err_out[P] = -1.0;
  signals.L_active = learning && t <= decision;
  signals.reward_active = learning && t <= decision + 1;
  signals.H_active = learning && entropy;
  signals.R_active = learning && reg_active;
}

void Trainer::Impl::parallel(Step t, int th) {
  if (signals.L_active) {
    for (std::size_t i = 0; i < ctx.targets.size(); ++i) {
      const auto& tg = ctx.targets[i];
      if (tg.readout) continue;
      const auto& range = tg.blocks[static_cast<std::size_t>(th)];
      auto& Li = L[i];
      if (signal_override) {
        for (Gid j = range.begin; j < range.end; ++j)
          Li[j] = signal_override(t, tg.first_gid + tg.local.begin + j);
        continue;
      }
      const auto& fb = feedback[i];
      for (Gid j = range.begin; j < range.end; ++j) Li[j] = fb.signal(j, err.data());
    }
  }
  if (reward_mode && signals.H_active)  // the entropy bonus's learning signal, by the same feedback
    for (std::size_t i = 0; i < ctx.targets.size(); ++i) {
      const auto& tg = ctx.targets[i];
      if (tg.readout) continue;
      const auto& range = tg.blocks[static_cast<std::size_t>(th)];
      for (Gid j = range.begin; j < range.end; ++j) LH[i][j] = feedback[i].signal(j, err_h.data());
    }
  if (learning) rule->parallel(t, th, signals);
}

TrialResult Trainer::Impl::run_trial(task::Stream stream, std::uint64_t index, bool learn) {
  // Background noise of the model's own sources and drives is new in every trial: keyed by it.
  S->trial_key = 1 + (static_cast<std::uint64_t>(stream) << 40) + index;
  S->reset_trial();
  task->begin_trial(stream, index);
  label = task->label();
  learning = learn;
  rule->begin_trial();
  loss_sum = 0.0;
  std::fill(ysum.begin(), ysum.end(), 0.0);
  trial_spikes = 0;
  if (reward_mode && curriculum_iterations > 0) {
    const auto it =
        stream == task::Stream::Train ? static_cast<std::int64_t>(index) / batch : curriculum_iterations;
    const Step d = curriculum_start + (final_delay - curriculum_start) * std::min(it, curriculum_iterations) /
                                          curriculum_iterations;
    task->set_delay_steps(d);
    T = task->steps();
    window_begin = task->window_begin();
    decision = task::TMazeReward::decision_step(T);
  }
  if (reward_mode) {
    action_u = maze.action_uniform(stream, index);
    action = -1;
    v_prev = r_prev = value_sum = return_sum = logp = 0.0;
  }
  S->step_range(T);
  if (learn) rule->end_trial();

  TrialResult r;
  r.loss = loss_sum / static_cast<double>(T - window_begin);  // window mean of the per-step loss
  if (task->classification()) r.correct = std::max_element(ysum.begin(), ysum.end()) - ysum.begin() == label;
  if (reward_mode) {  // a correct turn, the return, -log pi(action) as the loss
    r.correct = action == label;
    r.action = action;
    r.reward = return_sum;
    r.value = value_sum / static_cast<double>(decision + 1);
    r.loss = logp;
  }
  r.rate_hz = trained_cells ? static_cast<double>(trial_spikes) / static_cast<double>(trained_cells) /
                                  (static_cast<double>(T) * net.run.dt_ms * 1e-3)
                            : 0.0;
  if (learn) ++trials_in_batch;
  return r;
}

void Trainer::Impl::end_batch() {
  // Rate regularisation E_reg = c/2 sum_j (f_j - f0)^2, with f_j the neuron's mean rate in Hz over
  // the batch: f_j = n_j / (B T dt). Its learning signal dE_reg/dz_j^t = c (f_j - f0) / (B T dt)
  // needs this batch's rates, which are known only at its end; online, the next batch uses them
  // (see docs/learning.md).
  const double seconds = static_cast<double>(std::max<std::uint64_t>(trials_in_batch, 1)) *
                         static_cast<double>(T) * net.run.dt_ms * 1e-3;
  const double per_z = 1.0 / (static_cast<double>(batch) * static_cast<double>(T) * net.run.dt_ms * 1e-3);
  reg_active = reg_coefficient > 0.0;
  for (std::size_t i = 0; i < ctx.targets.size(); ++i) {
    const auto& tg = ctx.targets[i];
    if (tg.readout) continue;
    for (Gid j = 0; j < tg.local.size(); ++j) {
      const double f = static_cast<double>(counts[tg.first_gid + tg.local.begin + j]) / seconds;
      reg[i][j] = reg_coefficient * (f - reg_rate_hz) * per_z;
    }
  }
  std::fill(counts.begin(), counts.end(), 0);
  trials_in_batch = 0;

  // Global gradient norm (logged, and clipped if asked): a sum of squares per neuron (its row),
  // placed by gid and summed in gid order, so it is the same on any partition.
  std::vector<double> per_gid(net.total_neurons, 0.0);
  double replicated = 0.0;
  rule->square_sums(per_gid, replicated);
  comm.sum_in_rank_order(per_gid);
  double total = 0.0;
  for (double x : per_gid) total += x;
  grad_norm = std::sqrt(total + replicated);
  double scale = 1.0;
  if (clip_norm > 0.0 && grad_norm > clip_norm) scale = clip_norm / grad_norm;
  rule->apply(optimizer.next(), scale);
  ++optimizer.steps;
  refresh_feedback();
}

std::vector<SynapseValue> Trainer::Impl::gather(std::vector<SynapseValue> local) const {
  const auto pl = comm.place(local.size());
  std::vector<double> all(pl.total * 3, 0.0);
  for (std::size_t i = 0; i < local.size(); ++i) {
    all[3 * (pl.offset + i)] = static_cast<double>(local[i].source);
    all[3 * (pl.offset + i) + 1] = static_cast<double>(local[i].target);
    all[3 * (pl.offset + i) + 2] = local[i].value;
  }
  comm.sum_in_rank_order(all);
  std::vector<SynapseValue> out(pl.total);
  for (std::size_t i = 0; i < out.size(); ++i)
    out[i] = {static_cast<std::uint64_t>(all[3 * i]), static_cast<std::uint64_t>(all[3 * i + 1]),
              all[3 * i + 2]};
  return out;
}

const model::ProjectionSpec& Trainer::Impl::projection(const std::string& name) const {
  for (const auto& p : net.projections)
    if (p.name == name) return p;
  throw UserError("no projection named '" + name + "'");
}

// ------------------------------------------------------------------------------------------------
// Checkpoints (between iterations). Saved: the schedule's position (iterations done, optimiser
// steps), the last batch's figures, the rate-regularisation signal per neuron, the optimiser's
// per-synapse moments, the initial weights (the result file gets them at the end), and the lengths
// of the result file's datasets. The weights themselves are saved by the simulation. Not saved:
// eligibility and presynaptic traces, gradients, spike counts and previous pseudo-derivatives, which
// are all zero between batches; symmetric feedback (recomputed from the weights) and random
// feedback (a function of the seed and gids); the time per iteration of earlier runs.
void Trainer::Impl::save(checkpoint::Writer& w) const {
  w.integer("train/done", done);
  w.integer("train/optimizer_steps", optimizer.steps);
  w.integer("train/reg_active", reg_active ? 1 : 0);
  w.real("train/last_loss", progress.last_loss);
  w.real("train/last_accuracy", progress.last_accuracy);
  w.real("train/validation_accuracy", progress.validation_accuracy);
  w.integer("train/reached_target", progress.reached_target ? 1 : 0);
  if (restore_best) {
    w.real("train/best_accuracy", best_accuracy);
    w.integer("train/best_iteration", best_iteration);
    if (best_iteration > 0)
      for (std::size_t i = 0; i < plastic.size(); ++i)
        w.array("train/best_weight/" + net.projections[static_cast<std::size_t>(plastic[i])].name,
                S->synapse_slice(plastic[i]), std::span<const synapse::Weight>(best_weights[i]));
  }
  if (file) {
    w.text("train/result_file", std::filesystem::absolute(file->final_path()).string());
    for (const auto& [path, rows] : file->lengths())
      w.integer("train/result/rows:" + path, static_cast<std::int64_t>(rows));
  }
  for (std::size_t i = 0; i < ctx.targets.size(); ++i) {
    const auto& t = ctx.targets[i];
    if (t.readout) continue;
    w.array("train/reg/" + net.populations[static_cast<std::size_t>(t.population)].name,
            S->neuron_slice(t.population), std::span<const double>(reg[i]));
  }
  for (std::size_t i = 0; i < plastic.size(); ++i) {
    const int pi = plastic[i];
    const auto& name = net.projections[static_cast<std::size_t>(pi)].name;
    for (const auto& a : rule->carried_arrays()) {
      const auto values = rule->export_array(pi, a);
      w.array("train/" + a + "/" + name, S->synapse_slice(pi), std::span<const double>(values));
    }
    std::vector<double> initial;
    for (const auto& v : initial_weights[i]) initial.push_back(v.value);
    w.array("train/initial_weight/" + name, checkpoint::Slice::whole(initial.size()),
            std::span<const double>(initial));
  }
}

void Trainer::Impl::keep_best_weights() {
  best_weights.resize(plastic.size());
  for (std::size_t i = 0; i < plastic.size(); ++i)
    best_weights[i] = S->projs[static_cast<std::size_t>(plastic[i])].weights_by_target();
}

void Trainer::Impl::put_back_best_weights() {
  for (std::size_t i = 0; i < plastic.size(); ++i)
    S->projs[static_cast<std::size_t>(plastic[i])].set_weights_by_target(best_weights[i]);
}

void Trainer::Impl::load(const checkpoint::Reader& r) {
  done = r.integer("train/done");
  optimizer.steps = r.integer("train/optimizer_steps");
  reg_active = r.integer("train/reg_active") != 0;
  progress.last_loss = r.real("train/last_loss");
  progress.last_accuracy = r.real("train/last_accuracy");
  progress.validation_accuracy = r.real("train/validation_accuracy");
  progress.reached_target = r.integer("train/reached_target") != 0;
  if (restore_best) {
    best_accuracy = r.real("train/best_accuracy");
    best_iteration = r.integer("train/best_iteration");
    best_weights.assign(plastic.size(), {});
    if (best_iteration > 0)
      for (std::size_t i = 0; i < plastic.size(); ++i) {
        const auto slice = S->synapse_slice(plastic[i]);
        best_weights[i].resize(slice.count);
        r.array("train/best_weight/" + net.projections[static_cast<std::size_t>(plastic[i])].name, slice,
                std::span<synapse::Weight>(best_weights[i]));
      }
  }
  const std::string prefix = "train/result/rows:";
  for (const auto& [k, v] : opt.resume->manifest().integers)
    if (k.rfind(prefix, 0) == 0) resume_lengths[k.substr(prefix.size())] = static_cast<std::uint64_t>(v);
  for (std::size_t i = 0; i < ctx.targets.size(); ++i) {
    const auto& t = ctx.targets[i];
    if (t.readout) continue;
    r.array("train/reg/" + net.populations[static_cast<std::size_t>(t.population)].name,
            S->neuron_slice(t.population), std::span<double>(reg[i]));
  }
  initial_weights.clear();
  for (std::size_t i = 0; i < plastic.size(); ++i) {
    const int pi = plastic[i];
    const auto& name = net.projections[static_cast<std::size_t>(pi)].name;
    const auto slice = S->synapse_slice(pi);
    for (const auto& a : rule->carried_arrays()) {
      std::vector<double> values(slice.count);
      r.array("train/" + a + "/" + name, slice, std::span<double>(values));
      rule->import_array(pi, a, values);
    }
    // The ids come from the network (the same on any partition), the values from the checkpoint.
    std::vector<SynapseValue> ids;
    if (!S->part->replicated(net.projections[static_cast<std::size_t>(pi)].target) || comm.rank() == 0) {
      const auto& proj = S->projs[static_cast<std::size_t>(pi)];
      const auto& ps =
          S->pops[static_cast<std::size_t>(net.projections[static_cast<std::size_t>(pi)].target)];
      for (std::size_t b = 0; b < proj.blocks().size(); ++b)
        proj.for_each_by_target(b, [&](Gid src, std::uint32_t j, synapse::Weight, std::uint16_t) {
          ids.push_back({src, ps.local.begin + j, 0.0});
        });
    }
    auto all = gather(std::move(ids));
    std::vector<double> initial(all.size());
    r.array("train/initial_weight/" + name, checkpoint::Slice::whole(initial.size()),
            std::span<double>(initial));
    for (std::size_t k = 0; k < all.size(); ++k) all[k].value = initial[k];
    initial_weights.push_back(std::move(all));
  }
  refresh_feedback();  // symmetric feedback from the restored readout weights
}

// ------------------------------------------------------------------------------------------------
Trainer::Trainer(const model::Network& net, comm::Communicator& comm, TrainOptions options)
    : impl_(std::make_unique<Impl>(net, comm, std::move(options))) {
  auto& I = *impl_;
  if (!net.train || !net.task)
    throw UserError(net.config.source_name() + ": the model has no [train] and [task] sections");
  Options so;
  so.threads = I.opt.threads;
  so.log = I.opt.progress ? I.opt.log : nullptr;  // the simulation's checkpoint messages
  if (I.opt.checkpoint) {
    CheckpointOptions c;
    c.dir = I.opt.checkpoint->dir;
    c.keep = I.opt.checkpoint->keep;
    c.every_text = I.opt.checkpoint->every_text;
    c.command = "train";  // `plexus resume` continues it as a training run
    so.checkpoint = c;
  }
  so.resume = I.opt.resume;
  I.sim = std::make_unique<Simulation>(net, comm, so);
  I.S = I.sim->impl_.get();
  agree(comm, [&] { I.configure(); });
  // Registering loads the trainer's state at once when the simulation was resumed.
  I.sim->add_checkpoint_component(I);
}

Trainer::~Trainer() = default;

task::Task& Trainer::task() {
  return *impl_->task;
}
int Trainer::batch_size() const {
  return static_cast<int>(impl_->batch);
}

TrialResult Trainer::trial(task::Stream stream, std::uint64_t index, bool learning) {
  return impl_->run_trial(stream, index, learning);
}

void Trainer::end_batch() {
  impl_->end_batch();
}

void Trainer::set_learning_signal(std::function<double(Step, Gid)> f) {
  impl_->signal_override = std::move(f);
}

std::vector<SynapseValue> Trainer::gradient(const std::string& projection) const {
  const auto& I = *impl_;
  const auto& spec = I.projection(projection);
  std::vector<SynapseValue> local;
  if (!I.S->part->replicated(spec.target) || I.comm.rank() == 0) I.rule->gradient(spec.index, local);
  return I.gather(std::move(local));
}

std::vector<SynapseValue> Trainer::weights(const std::string& projection) const {
  const auto& I = *impl_;
  const auto& spec = I.projection(projection);
  std::vector<SynapseValue> local;
  if (!I.S->part->replicated(spec.target) || I.comm.rank() == 0) {
    const auto& proj = I.S->projs[static_cast<std::size_t>(spec.index)];
    const auto& ps = I.S->pops[static_cast<std::size_t>(spec.target)];
    for (std::size_t b = 0; b < proj.blocks().size(); ++b)
      proj.for_each_by_target(b, [&](Gid s, std::uint32_t j, synapse::Weight w, std::uint16_t) {
        local.push_back({s, ps.local.begin + j, static_cast<double>(w)});
      });
  }
  return I.gather(std::move(local));
}

learning::MemoryUse Trainer::learning_memory() const {
  return impl_->rule->memory(impl_->comm.rank() == 0);
}

namespace {

// Initial and trained weights of a projection, in (target, source) order; every rank holds all of
// them, rank 0 writes.
void write_weights(io::ResultFile& f, const model::Network& net, bool root, int proj,
                   const std::vector<std::vector<SynapseValue>>& snapshots) {
  const auto& spec = net.projections[static_cast<std::size_t>(proj)];
  const std::string g = "/weights/" + spec.name;
  f.create_group(g);
  f.attribute(g, "source", net.populations[static_cast<std::size_t>(spec.source)].name);
  f.attribute(g, "target", net.populations[static_cast<std::size_t>(spec.target)].name);
  f.attribute(g, "rows", std::string("initial, trained"));
  const auto& first = snapshots.front();
  std::vector<std::uint64_t> src, tgt;
  for (const auto& s : first) src.push_back(s.source), tgt.push_back(s.target);
  f.write_replicated<std::uint64_t>(g + "/source_ids", src);
  f.write_replicated<std::uint64_t>(g + "/target_ids", tgt);
  f.create_table<double>(g + "/values", first.size(), 1);
  for (const auto& snap : snapshots) {
    std::vector<double> w;
    if (root)
      for (const auto& s : snap) w.push_back(s.value);
    f.append_rows<double>(g + "/values", 1, 0, w.size(), w);
  }
}

}  // namespace

TrainSummary Trainer::run() {
  auto& I = *impl_;
  const bool root = I.comm.rank() == 0;
  TrainSummary sum;
  auto& file = I.file;
  const bool resumed = I.opt.resume != nullptr;
  if (I.opt.output && resumed) {
    // Continuing from a checkpoint: take the datasets up where the checkpoint left them (anything
    // written after it is dropped), so the finished file equals an uninterrupted run's.
    agree(I.comm, [&] {
      file = std::make_unique<io::ResultFile>(*I.opt.output, I.comm, io::ResultFile::Mode::Append);
      for (const auto& [path, rows] : I.resume_lengths) file->reopen(path, rows);
      file->attribute("/metadata", "resumes", static_cast<std::int64_t>(I.S->resumes));
    });
  } else if (I.opt.output) {
    agree(I.comm, [&] { file = std::make_unique<io::ResultFile>(*I.opt.output, I.comm); });
    auto& f = *file;
    f.create_group("/metadata");
    f.write_text("/metadata/config", I.net.config.to_toml());
    f.attribute("/metadata", "plexus_version", std::string(version::version()));
    f.attribute("/metadata", "git_hash", std::string(version::git_hash()));
    f.attribute("/metadata", "model", I.net.name);
    f.attribute("/metadata", "ranks", static_cast<std::int64_t>(I.comm.size()));
    f.attribute("/metadata", "threads", static_cast<std::int64_t>(I.S->T));
    f.attribute("/metadata", "seed", static_cast<std::int64_t>(I.net.run.seed));
    f.attribute("/metadata", "dt_ms", I.net.run.dt_ms);
    f.attribute("/metadata", "task", I.task->kind());
    f.attribute("/metadata", "classification", static_cast<std::int64_t>(I.task->classification()));
    f.attribute("/metadata", "trial_steps", static_cast<std::int64_t>(I.T));
    f.attribute("/metadata", "batch_size", static_cast<std::int64_t>(I.batch));
    for (const auto& ps : I.S->pops) {
      const std::string g = "/network/populations/" + ps.spec->name;
      f.create_group(g);
      f.attribute(g, "model", ps.spec->model);
      f.attribute(g, "size", static_cast<std::int64_t>(ps.spec->size));
      f.attribute(g, "first_gid", static_cast<std::int64_t>(ps.spec->first_gid));
    }
    f.create_group("/training");
    for (const char* d : {"loss", "accuracy", "rate_hz", "grad_norm", "seconds"})
      f.create_series<double>(std::string("/training/") + d, 1024);
    f.create_group("/validation");
    for (const char* d : {"iteration", "accuracy", "loss"})
      f.create_series<double>(std::string("/validation/") + d, 256);
    if (I.reward_mode) {  // the learning curve of the agent: accuracy is its success rate
      f.attribute("/training", "mode", std::string("reward"));
      for (const char* d : {"reward", "value"}) f.create_series<double>(std::string("/training/") + d, 1024);
      f.create_series<double>("/validation/reward", 256);
    }
  }
  auto append = [&](const std::string& path, double x) {
    if (!file) return;
    std::vector<double> v;
    if (root) v.push_back(x);
    file->append<double>(path, v);
  };

  if (!resumed)
    for (int pi : I.plastic)
      I.initial_weights.push_back(weights(I.net.projections[static_cast<std::size_t>(pi)].name));
  std::vector<std::vector<std::vector<SynapseValue>>> snaps(I.plastic.size());
  for (std::size_t i = 0; i < I.plastic.size(); ++i) snaps[i].push_back(I.initial_weights[i]);

  auto example = [&](const std::string& name) {
    I.capture = true;
    I.cap_times.clear(), I.cap_gids.clear(), I.cap_y.clear(), I.cap_v.clear();
    const auto r = I.run_trial(task::Stream::Example, 0, false);
    I.capture = false;
    I.comm.sum_in_rank_order(I.cap_v);  // each cell's values come from its own rank only
    if (!file) return;
    auto& f = *file;
    const std::string g = "/examples/" + name;
    f.create_group(g);
    f.attribute(g, "description", I.task->describe_trial());
    f.attribute(g, "label", static_cast<std::int64_t>(I.task->label()));
    f.attribute(g, "correct", static_cast<std::int64_t>(r.correct));
    f.attribute(g, "window_begin_ms", I.net.step_to_ms(I.window_begin));
    if (I.reward_mode) {
      f.attribute(g, "decision_ms", I.net.step_to_ms(I.decision));
      f.attribute(g, "action", static_cast<std::int64_t>(r.action));
      f.attribute(g, "reward", r.reward);
    }
    f.create_group(g + "/spikes");
    for (const auto& ps : I.S->pops) {
      if (!ps.info->spiking) continue;
      std::vector<double> ts;
      std::vector<std::uint64_t> ids;
      for (std::size_t k = 0; k < I.cap_gids.size(); ++k)
        if (I.cap_gids[k] >= ps.spec->first_gid && I.cap_gids[k] < ps.spec->first_gid + ps.spec->size) {
          ts.push_back(I.cap_times[k]);
          ids.push_back(I.cap_gids[k] - ps.spec->first_gid);
        }
      const std::string sg = g + "/spikes/" + ps.spec->name;
      f.create_group(sg);
      f.write_replicated<double>(sg + "/timestamps", ts);
      f.write_replicated<std::uint64_t>(sg + "/node_ids", ids);
    }
    f.create_table<double>(g + "/readout", I.K, 256);
    f.append_rows<double>(g + "/readout", static_cast<std::size_t>(I.T), 0, root ? I.K : 0,
                          root ? std::span<const double>(I.cap_y) : std::span<const double>());
    const std::size_t nc = I.cap_cells.size();
    if (nc) {
      f.create_table<double>(g + "/v", nc, 256);
      f.append_rows<double>(g + "/v", static_cast<std::size_t>(I.T), 0, root ? nc : 0,
                            root ? std::span<const double>(I.cap_v) : std::span<const double>());
      std::vector<std::uint64_t> cg;
      for (const auto& [pop, id] : I.cap_cells)
        cg.push_back(I.net.populations[static_cast<std::size_t>(pop)].first_gid + id);
      f.write_replicated<std::uint64_t>(g + "/v_gids", cg);
    }
    if (!I.task->classification()) {
      std::vector<double> tgt;
      for (Step t = 0; t < I.T; ++t) {
        I.task->target(t, I.target_buf.data());
        tgt.insert(tgt.end(), I.target_buf.begin(), I.target_buf.end());
      }
      f.create_table<double>(g + "/target", I.K, 256);
      f.append_rows<double>(g + "/target", static_cast<std::size_t>(I.T), 0, root ? I.K : 0,
                            root ? std::span<const double>(tgt) : std::span<const double>());
    }
  };

  double vreward = 0.0;  // mean return of the last validate() (reward mode)
  auto validate = [&](std::int64_t round, std::int64_t n, task::Stream stream) {
    std::int64_t correct = 0;
    double loss = 0.0;
    vreward = 0.0;
    for (std::int64_t i = 0; i < n; ++i) {
      const auto r = I.run_trial(stream, static_cast<std::uint64_t>(round * n + i), false);
      correct += r.correct;
      loss += r.loss;
      vreward += r.reward;
    }
    const double dn = static_cast<double>(std::max<std::int64_t>(n, 1));
    vreward /= dn;
    return std::pair{static_cast<double>(correct) / dn, loss / dn};
  };

  const auto wall0 = Clock::now();
  if (!resumed) example("before");
  const auto plastic_synapses = I.comm.sum(learning_memory().synapses);
  if (root && I.opt.log && I.opt.progress)
    *I.opt.log << fmt::format(
        "[plexus] training ({}{}): {} iterations x {} trials of {} steps, {} plastic synapses{}\n",
        I.rule_name,
        I.rule_settings.empty()
            ? std::string()
            : fmt::format("; {} from [train.{}]", fmt::join(I.rule_settings, ", "), I.rule_name),
        I.iterations, I.batch, I.T, plastic_synapses,
        resumed ? fmt::format("; resumed after iteration {}", I.done) : std::string());
  sum = I.progress;
  sum.resumed_from = resumed ? I.done : -1;
  auto last_checkpoint = Clock::now();
  std::int64_t it = I.done;
  for (; it < I.iterations && !sum.reached_target; ++it) {
    const auto t0 = Clock::now();
    double loss = 0.0, rate = 0.0, reward = 0.0, value = 0.0;
    std::int64_t correct = 0;
    for (std::int64_t b = 0; b < I.batch; ++b) {
      const auto r = I.run_trial(task::Stream::Train, static_cast<std::uint64_t>(it * I.batch + b), true);
      loss += r.loss;
      correct += r.correct;
      rate += r.rate_hz;
      reward += r.reward;
      value += r.value;
    }
    I.end_batch();
    const double secs = since(t0);
    I.iter_seconds += secs;
    const double bn = static_cast<double>(I.batch);
    sum.last_loss = loss / bn;
    sum.last_accuracy = static_cast<double>(correct) / bn;
    append("/training/loss", sum.last_loss);
    append("/training/accuracy", sum.last_accuracy);
    append("/training/rate_hz", rate / bn);
    append("/training/grad_norm", I.grad_norm);
    append("/training/seconds", secs);
    if (I.reward_mode) {
      append("/training/reward", reward / bn);
      append("/training/value", value / bn);
    }
    std::string val;
    const bool last = it + 1 == I.iterations;
    if (I.validation_trials > 0 && I.validation_every > 0 && ((it + 1) % I.validation_every == 0 || last)) {
      // The same held-out trials every time (never used for training), so that changes in the
      // curve are changes of the network, not of the trials drawn.
      const auto [acc, vloss] = validate(0, I.validation_trials, task::Stream::Validation);
      sum.validation_accuracy = acc;
      if (I.restore_best && acc > I.best_accuracy) {
        I.best_accuracy = acc;
        I.best_iteration = it + 1;
        I.keep_best_weights();
      }
      append("/validation/iteration", static_cast<double>(it + 1));
      append("/validation/accuracy", acc);
      append("/validation/loss", vloss);
      if (I.reward_mode) append("/validation/reward", vreward);
      val = I.task->classification() ? fmt::format("  validation {:.3f}", acc)
                                     : fmt::format("  validation loss {:.4f}", vloss);
      if (I.task->classification() && acc >= I.target_accuracy) sum.reached_target = true;
    }
    if (file) file->flush();
    I.done = it + 1;
    I.progress = sum;
    if (root && I.opt.progress && I.opt.log) {
      const double per =
          I.iter_seconds / static_cast<double>(it + 1 - std::max<std::int64_t>(sum.resumed_from, 0));
      const std::string acc = I.reward_mode ? fmt::format("  success {:.3f}  reward {:.3f}  value {:.3f}",
                                                          sum.last_accuracy, reward / bn, value / bn)
                              : I.task->classification() ? fmt::format("  accuracy {:.3f}", sum.last_accuracy)
                                                         : std::string();
      *I.opt.log << fmt::format(
          "[plexus] iteration {}/{}  loss {:.4f}{}  rate {:.1f} Hz  |g| {:.3g}  {:.2f} s/it  ETA {}{}\n",
          it + 1, I.iterations, sum.last_loss, acc, rate / bn, I.grad_norm, secs,
          human_seconds(per * static_cast<double>(I.iterations - it - 1)), val);
      if (sum.reached_target)
        *I.opt.log << fmt::format("[plexus] validation accuracy reached the target {:.3f}: stopping\n",
                                  I.target_accuracy);
      I.opt.log->flush();
    }
    // Checkpoints, between iterations: every N iterations, by rank 0's wall clock, on a stop signal
    // (any rank's), or at stop_at_iteration; the ranks agree on it. None after the last iteration.
    if (I.opt.checkpoint && it + 1 < I.iterations && !sum.reached_target) {
      const auto& c = *I.opt.checkpoint;
      const bool wall_due =
          root && c.every_wall_seconds > 0 && since(last_checkpoint) >= c.every_wall_seconds;
      const auto votes =
          I.comm.allgather(static_cast<std::uint64_t>(checkpoint::stop_signal()) * 2 + (wall_due ? 1 : 0));
      int sig = 0;
      bool wall = false;
      for (auto v : votes) {
        if (!sig && v / 2) sig = static_cast<int>(v / 2);
        wall = wall || (v & 1);
      }
      const bool count_due = c.every_iterations > 0 && I.done % c.every_iterations == 0;
      const bool stop_here = c.stop_at_iteration == I.done;
      if (count_due || wall || sig || stop_here) {
        const std::string reason = sig         ? checkpoint::signal_name(sig)
                                   : stop_here ? "--stop-at-iteration"
                                   : count_due ? "every " + c.every_text
                                               : "wall clock";
        sum.last_checkpoint = I.sim->write_checkpoint(reason, I.done).path;
        last_checkpoint = Clock::now();
      }
      if (sig || stop_here) {
        sum.stopped = true;
        sum.stop_signal = sig;
        sum.iterations = I.done;
        sum.wall_seconds = since(wall0);
        sum.plastic_synapses = plastic_synapses;
        return sum;  // the result file stays NAME.h5.partial, flushed; `plexus resume` continues it
      }
    }
  }
  sum.iterations = it;
  const auto ran = it - std::max<std::int64_t>(sum.resumed_from, 0);
  sum.seconds_per_iteration = ran ? I.iter_seconds / static_cast<double>(ran) : 0.0;
  if (I.restore_best && I.best_iteration > 0) {
    I.put_back_best_weights();
    sum.restored_iteration = I.best_iteration;
    if (root && I.opt.progress && I.opt.log)
      *I.opt.log << fmt::format(
          "[plexus] restored the weights of iteration {} (validation {:.3f}) for the test\n",
          I.best_iteration, I.best_accuracy);
  }
  example("after");
  if (I.test_trials > 0 && I.task->classification())
    sum.test_accuracy = validate(0, I.test_trials, task::Stream::Test).first;
  sum.wall_seconds = since(wall0);
  for (std::size_t i = 0; i < I.plastic.size(); ++i)
    snaps[i].push_back(weights(I.net.projections[static_cast<std::size_t>(I.plastic[i])].name));
  const auto mem = learning_memory();
  sum.learning_state_bytes = I.comm.allgather(mem.per_synapse + mem.per_neuron + mem.per_source);
  sum.learning_index_bytes = I.comm.allgather(mem.index);
  sum.learning_synapse_bytes = I.comm.allgather(mem.per_synapse);
  sum.learning_trace_bytes = I.comm.allgather(mem.per_synapse_traces);
  sum.learning_neuron_bytes = I.comm.allgather(mem.per_neuron);
  sum.learning_source_bytes = I.comm.allgather(mem.per_source);
  sum.rule = I.rule_name;
  sum.plastic_synapses = plastic_synapses;
  sum.synapses = I.sim->summary().synapses;
  sum.peak_rss_bytes = I.comm.allgather(static_cast<std::uint64_t>(memory::peak_rss_bytes()));
  if (file) {
    auto& f = *file;
    agree(I.comm, [&] {
      for (std::size_t i = 0; i < I.plastic.size(); ++i)
        write_weights(f, I.net, root, I.plastic[i], snaps[i]);
      f.attribute("/training", "iterations", static_cast<std::int64_t>(sum.iterations));
      f.attribute("/training", "seconds_per_iteration", sum.seconds_per_iteration);
      f.attribute("/training", "reached_target", static_cast<std::int64_t>(sum.reached_target));
      if (sum.restored_iteration > 0) {
        f.attribute("/training", "restored_iteration", sum.restored_iteration);
        f.attribute("/training", "restored_validation_accuracy", I.best_accuracy);
      }
      f.attribute("/training", "plastic_synapses", static_cast<std::int64_t>(sum.plastic_synapses));
      if (sum.test_accuracy >= 0) {
        f.create_group("/test");
        f.attribute("/test", "accuracy", sum.test_accuracy);
        f.attribute("/test", "trials", static_cast<std::int64_t>(I.test_trials));
      }
      f.attribute("/metadata", "wall_time_s", sum.wall_seconds);
      f.write_replicated<std::uint64_t>("/metadata/peak_rss_bytes", sum.peak_rss_bytes);
      f.write_replicated<std::uint64_t>("/metadata/learning_state_bytes", sum.learning_state_bytes);
      f.write_replicated<std::uint64_t>("/metadata/learning_synapse_bytes", sum.learning_synapse_bytes);
      f.write_replicated<std::uint64_t>("/metadata/learning_trace_bytes", sum.learning_trace_bytes);
      f.write_replicated<std::uint64_t>("/metadata/learning_neuron_bytes", sum.learning_neuron_bytes);
      f.write_replicated<std::uint64_t>("/metadata/learning_source_bytes", sum.learning_source_bytes);
      f.attribute("/training", "rule", sum.rule);
      f.commit();
    });
  }
  if (I.opt.checkpoint && root) {
    // Tells `plexus resume` and job chains that there is nothing left to do.
    std::ofstream done(I.opt.checkpoint->dir / "finished");
    done << (I.opt.output ? std::filesystem::absolute(*I.opt.output).string() : std::string()) << "\n";
  }
  return sum;
}

}  // namespace plexus::sim
