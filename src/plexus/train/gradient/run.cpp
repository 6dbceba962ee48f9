// Gradient training's schedule: iterations of a batch, validation on the same held-out trials each
// time, early stopping at a target accuracy, the weights of the best validation if asked, the test
// and the result file; and the experiment's registration.
#include <algorithm>
#include <chrono>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "plexus/core/memory.hpp"
#include "plexus/io/result_file.hpp"
#include "plexus/train/gradient/impl.hpp"

namespace plexus::train::gradient {

namespace {

using Clock = std::chrono::steady_clock;

double since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

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

void GradientTraining::Impl::append(const std::string& path, double x) {
  if (!file) return;
  std::vector<double> v;
  if (world.rank() == 0) v.push_back(x);
  file->append<double>(path, v);
}

// The batch's trials, over the groups and instances; their results summed in trial order.
BatchSums GradientTraining::Impl::run_batch(std::int64_t it) {
  BatchSums b;
  const auto first = static_cast<std::uint64_t>(it * batch);
  for (const auto& r : run_shared(first, static_cast<std::uint64_t>(batch), task::Stream::Train, true, first))
    b.add(r);
  return b;
}

// The same held-out trials every time (never used for training), so that changes in the curve are
// changes of the network, not of the trials drawn.
BatchSums GradientTraining::Impl::validate(std::int64_t n, task::Stream stream) {
  BatchSums v;
  for (const auto& r : run_shared(0, static_cast<std::uint64_t>(n), stream, false, 0)) v.add(r);
  return v;
}

// An example trial, run by every group's first instance alike (the file's writes are collective).
void GradientTraining::Impl::example(const std::string& name) {
  auto& w = *workers.front();
  w.examples->begin();
  const auto r = run_jobs({Job{task::Stream::Example, 0, false, 0}}).front();
  w.examples->write(file, *comm, world.rank() == 0, name, *sim, *w.task, *w.objective, r, w.T);
}

void GradientTraining::Impl::iteration_line(std::int64_t it, const BatchSums& b, double secs,
                                            const std::string& validation) const {
  if (!shell || !shell->log()) return;
  shell->say(fmt::format("iteration {}/{}  loss {:.4f}{}  rate {:.1f} Hz  |g| {:.3g}  {:.2f} s/it  {}{}",
                         it + 1, iterations, b.loss / b.n, workers.front()->objective->progress(b),
                         b.rate / b.n, grad_norm, secs, shell->eta(it + 1), validation));
  if (progress.reached_target)
    shell->say(fmt::format("validation accuracy reached the target {:.3f}: stopping", target_accuracy));
}

// ------------------------------------------------------------------------------------------------
std::string GradientTraining::headline() const {
  return fmt::format("training '{}', {} neurons", impl_->net.name, impl_->net.total_neurons);
}
std::int64_t GradientTraining::total() const {
  return impl_->iterations;
}
std::int64_t GradientTraining::done() const {
  return impl_->progress.done;
}

void GradientTraining::start_file(io::ResultFile& f) {
  auto& I = *impl_;
  I.file = &f;
  f.attribute("/metadata", "task", I.workers.front()->task->kind());
  f.attribute("/metadata", "classification",
              static_cast<std::int64_t>(I.workers.front()->task->classification()));
  f.attribute("/metadata", "trial_steps", static_cast<std::int64_t>(I.T));
  f.attribute("/metadata", "batch_size", static_cast<std::int64_t>(I.batch));
  // How the batch was run (the results do not depend on it).
  f.attribute("/metadata", "parallel", std::string(I.par.trials ? "trials" : "neurons"));
  f.attribute("/metadata", "batch_groups", static_cast<std::int64_t>(I.par.groups));
  f.attribute("/metadata", "trial_instances", static_cast<std::int64_t>(I.workers.size()));
  f.attribute("/metadata", "instance_bytes", static_cast<std::int64_t>(I.bytes_per_instance));
  I.sim->describe_network(f);
  f.create_group("/training");
  for (const char* d : {"loss", "accuracy", "rate_hz", "grad_norm", "seconds"})
    f.create_series<double>(std::string("/training/") + d, 1024);
  // Wall-clock time, which differs between identical runs: `plexus verify --same-as` skips what has "clock".
  f.attribute("/training/seconds", "clock", std::string("wall"));
  f.create_group("/validation");
  for (const char* d : {"iteration", "accuracy", "loss"})
    f.create_series<double>(std::string("/validation/") + d, 256);
  I.workers.front()->objective->start_file(f);
}

void GradientTraining::resume_file(io::ResultFile& f, const std::map<std::string, std::uint64_t>&) {
  impl_->file = &f;  // its curves were reopened at their lengths by the shell
}

void GradientTraining::run(Shell& shell) {
  auto& I = *impl_;
  I.shell = &shell;
  I.started = Clock::now();
  const bool resumed = I.progress.done > 0 || I.progress.resumed_from >= 0;
  if (!resumed)
    for (int pi : I.plastic) I.initial_weights.push_back(I.weights_of(pi));
  if (!resumed) I.example("before");
  I.plastic_synapses = I.comm->sum(learning_memory().synapses);
  shell.say(fmt::format(
      "training ({}{}): {} iterations x {} trials of {} steps, {} plastic synapses{}", I.rule_name,
      I.rule_settings.empty()
          ? std::string()
          : fmt::format("; {} from [train.{}]", fmt::join(I.rule_settings, ", "), I.rule_name),
      I.iterations, I.batch, I.T, I.plastic_synapses,
      resumed ? fmt::format("; resumed after iteration {}", I.progress.done) : std::string()));
  shell.say(I.parallel_line());
  auto& p = I.progress;
  bool go_on = true;  // the caller's on_iteration may end the training early
  for (std::int64_t it = p.done; go_on && it < I.iterations && !p.reached_target; ++it) {
    const auto t0 = Clock::now();
    const BatchSums b = I.run_batch(it);
    I.end_batch(it, std::isfinite(b.loss));
    const double secs = since(t0);
    I.iter_seconds += secs;
    p.last_loss = b.loss / b.n;
    p.last_accuracy = b.correct / b.n;
    I.append("/training/loss", p.last_loss);
    I.append("/training/accuracy", p.last_accuracy);
    I.append("/training/rate_hz", b.rate / b.n);
    I.append("/training/grad_norm", I.grad_norm);
    I.append("/training/seconds", secs);
    I.workers.front()->objective->record_batch([&](const std::string& path, double x) { I.append(path, x); },
                                               b);
    std::string val;
    const bool last = it + 1 == I.iterations;
    if (I.validation_trials > 0 && I.validation_every > 0 && ((it + 1) % I.validation_every == 0 || last)) {
      const BatchSums v = I.validate(I.validation_trials, task::Stream::Validation);
      const bool classification = I.workers.front()->task->classification();
      const double dn = std::max(v.n, 1.0), acc = v.correct / dn;
      p.validation_accuracy = acc;
      p.validation_loss = v.loss / dn;
      const double score = classification ? acc : -p.validation_loss;
      if (I.restore_best && (I.best_iteration == 0 || score > I.best_score)) {
        I.best_score = score;
        I.best_iteration = it + 1;
        I.keep_best_weights();
      }
      I.append("/validation/iteration", static_cast<double>(it + 1));
      I.append("/validation/accuracy", acc);
      I.append("/validation/loss", v.loss / dn);
      I.workers.front()->objective->record_validation(
          [&](const std::string& path, double x) { I.append(path, x); }, v);
      val = classification ? fmt::format("  validation {:.3f}", acc)
                           : fmt::format("  validation loss {:.4f}", p.validation_loss);
      if (classification && acc >= I.target_accuracy) p.reached_target = true;
    }
    if (I.file) I.file->flush();
    p.done = it + 1;
    if (I.skipped_batch) val += "  skipped: not finite";
    I.iteration_line(it, b, secs, val);
    std::vector<std::pair<std::string, double>> seen{{"loss", p.last_loss},
                                                     {"accuracy", p.last_accuracy},
                                                     {"rate_hz", b.rate / b.n},
                                                     {"grad_norm", I.grad_norm},
                                                     {"seconds", secs}};
    if (!val.empty()) {
      seen.emplace_back("validation_accuracy", p.validation_accuracy);
      seen.emplace_back("validation_loss", p.validation_loss);
    }
    go_on = shell.iteration_done(p.done, seen);
    if (!go_on && !last) shell.say(fmt::format("stopped by the caller after iteration {}", p.done));
    // Checkpoints, between iterations (none after the last one), of a state that does not depend on
    // which instance ran which trial.
    I.sim->rest();
    // Checkpoints, between iterations (none after the last one).
    if (!last && go_on && !p.reached_target && shell.checkpoint_point(p.done)) break;
  }
  I.wall_seconds += since(I.started);
  I.shell = nullptr;
}

void GradientTraining::finish(io::ResultFile* f) {
  auto& I = *impl_;
  const auto t0 = Clock::now();
  I.file = f;
  const bool classification = I.workers.front()->task->classification();
  if (I.restore_best && I.best_iteration > 0) {
    I.put_back_best_weights();
    I.restored_iteration = I.best_iteration;
    if (I.log)
      *I.log << fmt::format(
          "[plexus] restored the weights of iteration {} (validation {}) for the test\n", I.best_iteration,
          classification ? fmt::format("{:.3f}", I.best_score) : fmt::format("loss {:.4f}", -I.best_score));
  }
  I.example("after");
  if (I.test_trials > 0) {
    const BatchSums t = I.validate(I.test_trials, task::Stream::Test);
    I.test_loss = t.loss / std::max(t.n, 1.0);
    if (classification) I.test_accuracy = t.correct / std::max(t.n, 1.0);
  }
  std::vector<std::vector<std::vector<SynapseValue>>> snaps(I.plastic.size());
  for (std::size_t i = 0; i < I.plastic.size(); ++i) {
    snaps[i].push_back(I.initial_weights[i]);
    snaps[i].push_back(I.weights_of(I.plastic[i]));
  }
  const auto mem = learning_memory();
  I.state_bytes = I.world.allgather(mem.per_synapse + mem.per_neuron + mem.per_source);
  I.index_bytes = I.world.allgather(mem.index);
  I.synapse_bytes = I.world.allgather(mem.per_synapse);
  I.trace_bytes = I.world.allgather(mem.per_synapse_traces);
  I.neuron_bytes = I.world.allgather(mem.per_neuron);
  I.source_bytes = I.world.allgather(mem.per_source);
  I.synapses = I.sim->summary().synapses;
  I.wall_seconds += since(t0);
  if (f) I.write_results(*f, snaps);
}

void GradientTraining::Impl::write_results(io::ResultFile& f,
                                           const std::vector<std::vector<std::vector<SynapseValue>>>& snaps) {
  const bool root = world.rank() == 0;
  for (std::size_t i = 0; i < plastic.size(); ++i) write_weights(f, net, root, plastic[i], snaps[i]);
  const auto ran = progress.done - std::max<std::int64_t>(progress.resumed_from, 0);
  f.attribute("/training", "iterations", static_cast<std::int64_t>(progress.done));
  f.attribute("/training", "seconds_per_iteration", ran ? iter_seconds / static_cast<double>(ran) : 0.0);
  f.attribute("/training", "reached_target", static_cast<std::int64_t>(progress.reached_target));
  if (skip_nonfinite)  // batches skipped by this process (after a resume: since the resume)
    f.attribute("/training", "skipped_batches", skipped_batches);
  const bool classification = workers.front()->task->classification();
  if (restored_iteration > 0) {
    f.attribute("/training", "restored_iteration", restored_iteration);
    if (classification)
      f.attribute("/training", "restored_validation_accuracy", best_score);
    else
      f.attribute("/training", "restored_validation_loss", -best_score);
  }
  f.attribute("/training", "plastic_synapses", static_cast<std::int64_t>(plastic_synapses));
  if (test_loss >= 0) {
    f.create_group("/test");
    if (test_accuracy >= 0) f.attribute("/test", "accuracy", test_accuracy);
    f.attribute("/test", "loss", test_loss);
    f.attribute("/test", "trials", static_cast<std::int64_t>(test_trials));
  }
  f.write_replicated<std::uint64_t>("/metadata/learning_state_bytes", state_bytes);
  f.write_replicated<std::uint64_t>("/metadata/learning_synapse_bytes", synapse_bytes);
  f.write_replicated<std::uint64_t>("/metadata/learning_trace_bytes", trace_bytes);
  f.write_replicated<std::uint64_t>("/metadata/learning_neuron_bytes", neuron_bytes);
  f.write_replicated<std::uint64_t>("/metadata/learning_source_bytes", source_bytes);
  f.attribute("/training", "rule", rule_name);
}

void GradientTraining::report(std::ostream& out) const {
  const auto& I = *impl_;
  const auto& p = I.progress;
  const auto ran = p.done - std::max<std::int64_t>(p.resumed_from, 0);
  out << fmt::format(
      "trained {} iteration(s) in {:.1f} s ({:.3f} s per iteration); last batch: loss {:.4f}{}\n", p.done,
      I.wall_seconds, ran ? I.iter_seconds / static_cast<double>(ran) : 0.0, p.last_loss,
      I.workers.front()->task->classification() ? fmt::format(", accuracy {:.3f}", p.last_accuracy)
                                                : std::string());
  // A regression task has no accuracy (it would read 0): its measure is the loss, the window mean of
  // the squared error.
  const bool classification = I.workers.front()->task->classification();
  if (classification && p.validation_accuracy >= 0)
    out << fmt::format("validation accuracy {:.3f}{}\n", p.validation_accuracy,
                       p.reached_target ? " (target reached)" : "");
  if (!classification && p.validation_loss >= 0)
    out << fmt::format("validation loss {:.4f}\n", p.validation_loss);
  const std::string restored =
      I.restored_iteration > 0
          ? fmt::format(" (the weights of iteration {}, the best validation)", I.restored_iteration)
          : std::string();
  if (I.test_accuracy >= 0)
    out << fmt::format("test accuracy {:.3f} on fresh trials{}\n", I.test_accuracy, restored);
  else if (I.test_loss >= 0)
    out << fmt::format("test loss {:.4f} on fresh trials{}\n", I.test_loss, restored);
  std::uint64_t state = 0, index = 0;
  for (auto b : I.state_bytes) state += b;
  for (auto b : I.index_bytes) index += b;
  const double n = static_cast<double>(std::max<std::uint64_t>(I.plastic_synapses, 1));
  out << fmt::format("{} plastic synapses; learning state {:.1f} bytes per synapse (+ {:.1f} bytes index)\n",
                     I.plastic_synapses, static_cast<double>(state) / n, static_cast<double>(index) / n);
  auto most = [](const std::vector<std::uint64_t>& v) {  // the largest rank's share
    return memory::human_bytes(static_cast<double>(v.empty() ? 0 : *std::max_element(v.begin(), v.end())));
  };
  out << fmt::format(
      "learning state per rank, largest ({}): per synapse {} (of which eligibility traces {}; the rest is "
      "gradient and "
      "optimiser moments), per neuron {}, per source {}\n",
      I.rule_name, most(I.synapse_bytes), most(I.trace_bytes), most(I.neuron_bytes), most(I.source_bytes));
}

std::vector<checkpoint::Component*> GradientTraining::state() {
  return {&impl_->sim->checkpoint_state(), impl_.get()};
}

namespace {
const ExperimentRegistry::Add registered{
    {"gradient",
     "train",
     "gradient training with an online learning rule on trials of a [task]",
     {false, "iteration"},
     [] { return learning::RuleRegistry::get().names(); },
     [](const Setup& s) { return std::make_unique<GradientTraining>(s); }}};
}  // namespace

}  // namespace plexus::train::gradient
