// Gradient training: configuration, the step hook of each trial instance, and access for tests (the
// batches and groups are in batches.cpp, the schedule in run.cpp, the checkpoints in state.cpp; the
// step schedule of phase 7 is described in training.hpp).
#include "plexus/train/gradient/training.hpp"

#include <omp.h>

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "plexus/comm/agree.hpp"
#include "plexus/core/error.hpp"
#include "plexus/train/gradient/impl.hpp"

namespace plexus::train::gradient {

using model::Range;

namespace {

// The driver's own [train] keys; rules and objectives add theirs.
const std::vector<std::string> kDriverKeys = {"iterations",
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
                                              "restore_best",
                                              "on_nonfinite",
                                              "learning_rate_scale",
                                              "parallel",
                                              "memory_limit_mb"};

std::vector<std::string> allowed_keys() {
  std::vector<std::string> keys = kDriverKeys;
  for (const auto& r : learning::RuleRegistry::get().all())
    keys.insert(keys.end(), r.keys.begin(), r.keys.end());
  for (const auto& o : ObjectiveRegistry::get().all()) keys.insert(keys.end(), o.keys.begin(), o.keys.end());
  std::sort(keys.begin(), keys.end());
  keys.erase(std::unique(keys.begin(), keys.end()), keys.end());
  return keys;
}

}  // namespace

void GradientTraining::Impl::configure(const Setup& setup) {
  read_settings();
  choose_mode();
  choose_parallel(setup);
  sim::Options so;
  so.threads = setup.threads;
  so.trial_instances = par.trials ? par.instances : 0;
  sim = std::make_unique<sim::Simulation>(net, *comm, so);
  comm::agree(*comm, [&] {
    // A task and objective made here check the network against the task.
    auto probe_task = task::make(*net.task, net.run.dt_ms, net.run.seed);
    auto probe = ObjectiveRegistry::get().find(mode)->make({*settings, *probe_task, net, batch});
    T = probe_task->steps();
    K = probe->readouts();
    check_populations(*probe_task, *probe);
    check_splits(*probe_task);
    choose_plastic();
    make_context();
    read_learning_rate_scale();
    make_rule(probe->needs());
    make_workers();
    check_memory();
  });
}

void GradientTraining::Impl::read_settings() {
  settings = std::make_unique<TrainSettings>(*net.train, allowed_keys());
  const auto& tr = *settings;
  rule_name = tr.rule();
  rule_info = learning::RuleRegistry::get().find(rule_name);
  rule_settings = tr.from_rule_table();
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
  float64 = tr.choice("precision", {"float32", "float64"}, "float32") == "float64";
  reg_rate_hz = tr.number_or("reg_rate_hz", 10.0, Range::non_negative());
  reg_coefficient = tr.number_or("reg_coefficient", 0.0, Range::non_negative());
  clip_norm = tr.number_or("clip_grad_norm", 0.0, Range::non_negative());
  filter = tr.choice("eligibility_filter", {"readout", "none"}, "readout") == "readout";
  validation_every = tr.integer_or("validation_every", 10, Range::closed(0, 1e9));
  validation_trials = tr.integer_or("validation_trials", 64, Range::closed(0, 1e9));
  test_trials = tr.integer_or("test_trials", 256, Range::closed(0, 1e9));
  target_accuracy = tr.number_or("target_accuracy", 2.0, Range::non_negative());
  example_cells = tr.integer_or("example_cells", 4, Range::closed(0, 1000));
  // Early stopping's other half: test (and write) the weights of the best validation, not the last.
  // Without validation there is nothing to choose from, and the last weights are tested as usual
  // (so that a short run with validation_trials = 0 needs no second override).
  restore_best = tr.boolean_or("restore_best", false);
  // A batch whose loss or gradient is not a finite number would spread NaN into every weight.
  skip_nonfinite = tr.choice("on_nonfinite", {"stop", "skip_batch"}, "stop") == "skip_batch";
}

// [train] mode: the objective; another objective's keys are refused, and so is a rule that cannot
// learn what the objective asks.
void GradientTraining::Impl::choose_mode() {
  const auto& tr = *settings;
  mode = tr.in("mode").choice("mode", ObjectiveRegistry::get().names(), std::string("supervised"));
  for (const auto& o : ObjectiveRegistry::get().all())
    if (o.name != mode)
      for (const auto& k : o.keys)
        if (tr.has(k)) tr.at(k).fail(fmt::format("only with mode = \"{}\"", o.name));
  auto probe_task = task::make(*net.task, net.run.dt_ms, net.run.seed);
  auto probe = ObjectiveRegistry::get().find(mode)->make({tr, *probe_task, net, batch});
  if (probe->needs().reward && !rule_info->reward) {
    std::string rules;
    for (const auto& r : learning::RuleRegistry::get().all())
      if (r.reward) rules += fmt::format("{}rule = \"{}\"", rules.empty() ? "" : " or ", r.name);
    tr.at("mode").fail(fmt::format("reward-based learning is implemented for {} only", rules));
  }
}

// A task read from files has the splits it has: a run that would validate or test on a split the
// task lacks is refused now, not after its training iterations.
void GradientTraining::Impl::check_splits(const task::Task& task) const {
  const auto& tr = *settings;
  if (validation_trials > 0 && validation_every > 0 && task.trials(task::Stream::Validation) == 0)
    (tr.has("validation_trials") ? tr.at("validation_trials") : net.task->at("kind"))
        .fail(
            "the task has no validation trials: give it some (task.validation_file or task.validation_range) "
            "or set train.validation_trials = 0");
  if (test_trials > 0 && task.trials(task::Stream::Test) == 0)
    (tr.has("test_trials") ? tr.at("test_trials") : net.task->at("kind"))
        .fail("the task has no test trials: give it some, or set train.test_trials = 0");
}

// Task inputs must match the task; exactly one readout, one neuron per objective output.
void GradientTraining::Impl::check_populations(const task::Task& task, const Objective& objective) {
  const auto& pops = sim->populations();
  for (std::size_t p = 0; p < pops.size(); ++p) {
    const auto& spec = *pops[p].spec;
    if (spec.model == "task_input" && spec.size != task.channels())
      spec.node.at("size").fail(fmt::format("the task '{}' has {} input channels; this population has {}",
                                            task.kind(), task.channels(), spec.size));
    if (pops[p].readout()) {
      if (readout_pop >= 0) spec.node.fail("training supports one readout population");
      readout_pop = static_cast<int>(p);
      if (spec.size != K) spec.node.at("size").fail(objective.readout_error(spec.size));
    }
  }
  if (readout_pop < 0) settings->fail("training needs a readout population (model = \"readout\")");
}

// Plastic projections: as listed, or every projection onto a learning-form neuron or the readout.
void GradientTraining::Impl::choose_plastic() {
  const auto& tr = *settings;
  auto trainable = [&](const model::ProjectionSpec& spec) {
    return sim->model(spec.target).learning_view().has_value();
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
}

int GradientTraining::Impl::target_index(int pop) {
  for (std::size_t i = 0; i < ctx.targets.size(); ++i)
    if (ctx.targets[i].population == pop) return static_cast<int>(i);
  const auto& pi = sim->populations()[static_cast<std::size_t>(pop)];
  ctx.targets.push_back({pop, pi.spec->first_gid, pi.local, pi.blocks, pi.readout()});
  return static_cast<int>(ctx.targets.size() - 1);
}

// The rule's view of the network.
void GradientTraining::Impl::make_context() {
  ctx.readout_kappa = sim->model(readout_pop).learning_view()->kappa;
  ctx.filter_kappa = filter ? ctx.readout_kappa : 0.0;
  ctx.adam = optimizer.kind == learning::Optimizer::Kind::Adam;
  ctx.precision = float64 ? learning::Precision::Float64 : learning::Precision::Float32;
  for (int pi : plastic) {
    const auto& spec = net.projections[static_cast<std::size_t>(pi)];
    auto& proj = sim->projection(pi);
    const auto& tgt = sim->populations()[static_cast<std::size_t>(spec.target)];
    if (!proj.constant_delay())
      spec.node.fail(
          "a plastic projection needs one delay for all its synapses (e-prop keeps one presynaptic trace per "
          "source)");
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
}

// Per-projection learning rates, { projection = factor }: a readout with a very large in-degree (a
// scaled cortex) needs smaller steps than the network's synapses under one Adam rate.
void GradientTraining::Impl::read_learning_rate_scale() {
  const auto& tr = *settings;
  if (!tr.has("learning_rate_scale")) return;
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

// Feedback per trained population, the rule (which must be able to train every one of them) and the
// rate regularisation's signal.
void GradientTraining::Impl::make_rule(const learning::Needs& needs) {
  feedback.resize(ctx.targets.size());
  reg.resize(ctx.targets.size());
  std::vector<int> trained;
  for (std::size_t i = 0; i < ctx.targets.size(); ++i) {
    const auto& t = ctx.targets[i];
    if (t.readout) continue;
    const auto n = t.local.size();
    feedback[i].resize(n, K);
    if (random_feedback)  // a pure function of the seed and gids: the same after a resume
      feedback[i].random(net.run.seed, t.first_gid, t.local,
                         net.populations[static_cast<std::size_t>(t.population)].size);
    reg[i].assign(n, 0.0);
    trained.push_back(t.population);
  }
  for (int pop : trained) {
    const auto& spec = net.populations[static_cast<std::size_t>(pop)];
    const auto why = rule_info->check_target(sim->model(pop), spec.model);
    if (!why.empty()) spec.node.at("model").fail(why);
  }
  rule = rule_info->make(
      ctx, [this](int pop) -> const neuron::Population& { return sim->model(pop); }, *settings, needs);
  rule->begin_batch(static_cast<std::uint64_t>(batch));
  trained_gid.assign(net.total_neurons, 0);
  for (int pop : trained) {
    const auto& spec = net.populations[static_cast<std::size_t>(pop)];
    trained_cells += spec.size;
    std::fill(trained_gid.begin() + spec.first_gid, trained_gid.begin() + spec.first_gid + spec.size, 1);
  }
  refresh_feedback();
}

// One worker per trial instance: its own task, objective, trial state of the rule and signals; the
// first also captures the example trials.
void GradientTraining::Impl::make_workers() {
  std::vector<int> trained;
  for (const auto& t : ctx.targets)
    if (!t.readout) trained.push_back(t.population);
  // Tasks and objectives read the settings (which note the keys used): one after another.
  for (int i = 0; i < sim->instances(); ++i) {
    auto w = std::make_unique<Worker>(*this, i);
    w->task = task::make(*net.task, net.run.dt_ms, net.run.seed);
    w->objective = ObjectiveRegistry::get().find(mode)->make({*settings, *w->task, net, batch});
    if (i == 0) w->examples = std::make_unique<Examples>(trained, example_cells, K, net);
    workers.push_back(std::move(w));
  }
  // The arrays a worker writes every step are made by the thread that steps its instance, from
  // that thread's allocator arena (see Simulation's instances): no cache line is shared.
  std::exception_ptr failure;
#pragma omp parallel num_threads(sim->instances())
  try {
    const int i = omp_get_thread_num();
    auto& w = *workers[static_cast<std::size_t>(i)];
    w.trial =
        rule->make_trial([this, i](int pop) -> const neuron::Population& { return sim->model(pop, i); });
    w.L.resize(ctx.targets.size());
    w.LH.resize(ctx.targets.size());
    const bool reward = w.objective->needs().reward;
    for (std::size_t t = 0; t < ctx.targets.size(); ++t) {
      if (ctx.targets[t].readout) continue;
      w.L[t].assign(ctx.targets[t].local.size(), 0.0);
      if (reward) w.LH[t].assign(ctx.targets[t].local.size(), 0.0);
    }
    w.counts.assign(net.total_neurons, 0);
  } catch (...) {
#pragma omp critical(plexus_make_worker)
    if (!failure) failure = std::current_exception();
  }
  if (failure) std::rethrow_exception(failure);
  for (int i = 0; i < sim->instances(); ++i) {
    auto& w = *workers[static_cast<std::size_t>(i)];
    w.signals.L = &w.L;
    w.signals.R = &reg;
    w.signals.err = w.objective->readout_errors();
    w.signals.H = &w.LH;
    w.signals.err_h = w.objective->entropy_errors();
    sim->set_hook(&w, i);
  }
}

void GradientTraining::Impl::refresh_feedback() {
  for (std::size_t i = 0; i < ctx.targets.size(); ++i) {
    const auto& t = ctx.targets[i];
    if (t.readout) continue;
    auto& fb = feedback[i];
    if (random_feedback) continue;  // fixed, drawn in make_rule()
    fb.clear();
    for (const auto& spec : net.projections)
      if (spec.source == t.population && spec.target == readout_pop)
        fb.add_symmetric(sim->projection(spec.index), t.local);
  }
}

// ------------------------------------------------------------------------------------------------
void Worker::serial(const sim::StepView& v) {
  // This step's spikes, network and task inputs, sorted by gid.
  step_spikes.assign(v.spikes.begin(), v.spikes.end());
  const std::size_t mid = step_spikes.size();
  step_spikes.insert(step_spikes.end(), v.source_spikes.begin(), v.source_spikes.end());
  std::inplace_merge(step_spikes.begin(), step_spikes.begin() + static_cast<std::ptrdiff_t>(mid),
                     step_spikes.end());
  // Spikes of the trained cells: per gid for the rate regularisation (training trials only: the
  // rates it needs are those of the batch, not of validation or example trials), and in total for
  // the trial's mean rate.
  for (Gid g : v.spikes) {
    if (learning) ++counts[g];
    trial_spikes += I.trained_gid[g];
  }
  // Trials that do not learn (validation, test, examples) need no traces at all.
  if (learning) trial->serial(v.t, step_spikes);
  const double* y = I.sim->model(I.readout_pop, instance).learning_view()->y;
  objective->step(v.t, y, signals, learning, static_cast<bool>(I.signal_override));
  signals.R_active = learning && I.reg_active && !I.signal_override;
  if (examples && examples->capturing()) examples->step(v.t, step_spikes, y, *I.sim);
}

void Worker::parallel(const sim::StepView& v, int th) {
  const auto block = static_cast<std::size_t>(th);
  const auto& targets = I.ctx.targets;
  if (signals.L_active) {
    const double* err = objective->feedback_errors();
    for (std::size_t i = 0; i < targets.size(); ++i) {
      const auto& tg = targets[i];
      if (tg.readout) continue;
      const auto& range = tg.blocks[block];
      auto& Li = L[i];
      if (I.signal_override) {
        for (Gid j = range.begin; j < range.end; ++j)
          Li[j] = I.signal_override(v.t, tg.first_gid + tg.local.begin + j);
        continue;
      }
      const auto& fb = I.feedback[i];
      for (Gid j = range.begin; j < range.end; ++j) Li[j] = fb.signal(j, err);
    }
  }
  if (signals.H_active) {  // the entropy bonus's learning signal, by the same feedback
    const double* err_h = objective->entropy_errors();
    for (std::size_t i = 0; i < targets.size(); ++i) {
      const auto& tg = targets[i];
      if (tg.readout) continue;
      const auto& range = tg.blocks[block];
      for (Gid j = range.begin; j < range.end; ++j) LH[i][j] = I.feedback[i].signal(j, err_h);
    }
  }
  if (learning) trial->parallel(v.t, th, signals);
}

Step Worker::begin(const Job& job) {
  // Background noise of the model's own sources and drives is new in every trial: keyed by it.
  I.sim->begin_trial(1 + (static_cast<std::uint64_t>(job.stream) << 40) + job.index, task.get(), instance);
  task->begin_trial(job.stream, job.index);
  objective->begin_trial(*task, job.stream, job.index, job.learn);
  T = task->steps();
  learning = job.learn;
  trial->begin_trial();
  trial_spikes = 0;
  return T;
}

TrialResult Worker::end() {
  if (learning) trial->end_trial();
  TrialResult r = objective->end_trial();
  r.rate_hz = I.trained_cells ? static_cast<double>(trial_spikes) / static_cast<double>(I.trained_cells) /
                                    (static_cast<double>(T) * I.net.run.dt_ms * 1e-3)
                              : 0.0;
  if (learning) ++trials_learned;
  return r;
}

// ------------------------------------------------------------------------------------------------
std::vector<SynapseValue> GradientTraining::Impl::gather(std::vector<SynapseValue> local) const {
  const auto pl = comm->place(local.size());
  std::vector<double> all(pl.total * 3, 0.0);
  for (std::size_t i = 0; i < local.size(); ++i) {
    all[3 * (pl.offset + i)] = static_cast<double>(local[i].source);
    all[3 * (pl.offset + i) + 1] = static_cast<double>(local[i].target);
    all[3 * (pl.offset + i) + 2] = local[i].value;
  }
  comm->sum_in_rank_order(all);
  std::vector<SynapseValue> out(pl.total);
  for (std::size_t i = 0; i < out.size(); ++i)
    out[i] = {static_cast<std::uint64_t>(all[3 * i]), static_cast<std::uint64_t>(all[3 * i + 1]),
              all[3 * i + 2]};
  return out;
}

const model::ProjectionSpec& GradientTraining::Impl::projection(const std::string& name) const {
  for (const auto& p : net.projections)
    if (p.name == name) return p;
  throw UserError("no projection named '" + name + "'");
}

std::vector<SynapseValue> GradientTraining::Impl::weights_of(int index) const {
  const auto& spec = net.projections[static_cast<std::size_t>(index)];
  const auto& tgt = sim->populations()[static_cast<std::size_t>(spec.target)];
  std::vector<SynapseValue> local;
  if (!tgt.replicated || comm->rank() == 0) {
    const auto& proj = sim->projection(index);
    for (std::size_t b = 0; b < proj.blocks().size(); ++b)
      proj.for_each_by_target(b, [&](Gid s, std::uint32_t j, synapse::Weight w, std::uint16_t) {
        local.push_back({s, tgt.local.begin + j, static_cast<double>(w)});
      });
  }
  return gather(std::move(local));
}

void GradientTraining::Impl::keep_best_weights() {
  best_weights.resize(plastic.size());
  for (std::size_t i = 0; i < plastic.size(); ++i)
    best_weights[i] = sim->projection(plastic[i]).weights_by_target();
}

void GradientTraining::Impl::put_back_best_weights() {
  for (std::size_t i = 0; i < plastic.size(); ++i)
    sim->projection(plastic[i]).set_weights_by_target(best_weights[i]);
}

// ------------------------------------------------------------------------------------------------
GradientTraining::GradientTraining(const Setup& setup)
    : impl_(std::make_unique<Impl>(setup.net, setup.comm)) {
  auto& I = *impl_;
  I.threads = setup.threads;
  I.log = setup.log;
  if (!setup.net.train || !setup.net.task)
    throw UserError(setup.net.config.source_name() + ": the model has no [train] and [task] sections");
  I.configure(setup);
}

GradientTraining::~GradientTraining() = default;

task::Task& GradientTraining::task() {
  return *impl_->workers.front()->task;
}
int GradientTraining::batch_size() const {
  return static_cast<int>(impl_->batch);
}
TrialResult GradientTraining::trial(task::Stream stream, std::uint64_t index, bool learning) {
  return impl_->run_trial(stream, index, learning);
}
void GradientTraining::end_batch(std::int64_t iteration, bool finite_loss) {
  impl_->end_batch(iteration, finite_loss);
}
void GradientTraining::set_learning_signal(std::function<double(Step, Gid)> f) {
  impl_->signal_override = std::move(f);
}

std::vector<SynapseValue> GradientTraining::gradient(const std::string& projection) const {
  const auto& I = *impl_;
  const auto& spec = I.projection(projection);
  std::vector<SynapseValue> local;
  if (!I.sim->populations()[static_cast<std::size_t>(spec.target)].replicated || I.comm->rank() == 0)
    I.rule->gradient(spec.index, local);
  return I.gather(std::move(local));
}

std::vector<SynapseValue> GradientTraining::weights(const std::string& projection) const {
  return impl_->weights_of(impl_->projection(projection).index);
}

learning::MemoryUse GradientTraining::learning_memory() const {
  auto m = impl_->rule->memory(impl_->comm->rank() == 0);
  for (const auto& w : impl_->workers) m += w->trial->memory(impl_->comm->rank() == 0);
  return m;
}

}  // namespace plexus::train::gradient
