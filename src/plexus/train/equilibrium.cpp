// The training loop of the equilibrium rule. Per batch: present the images (input rates), feed
// forward, relax freely to equilibrium (the prediction is the most active output cell there), nudge
// the output toward the label and let differential STDP integrate the weight changes, then apply
// them. Every rank runs the same loop over the same samples; ranks differ only in which hidden
// cells they hold (learning/equilibrium.hpp), so all decisions (shuffling, predictions,
// accuracies) are made identically everywhere without further communication.
#include "plexus/train/equilibrium.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <numeric>

#include <fmt/format.h>

#include "plexus/comm/agree.hpp"
#include "plexus/core/error.hpp"
#include "plexus/core/memory.hpp"
#include "plexus/core/rng.hpp"
#include "plexus/io/result_file.hpp"
#include "plexus/learning/equilibrium.hpp"
#include "plexus/task/fashion_mnist.hpp"
#include "plexus/train/shell.hpp"

namespace plexus::train {

namespace eq = learning::equilibrium;
using model::Range;

namespace {

constexpr std::size_t kClasses = 10;
constexpr std::size_t kEvalBatch = 250;  // results do not depend on it: samples relax independently
constexpr std::uint64_t kShuffleKey = 0x5348'5546;  // "SHUF"

double since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// The order in which an epoch presents the training images: a Fisher-Yates shuffle from numbers
// keyed by (seed, epoch), the same on every rank.
std::vector<std::size_t> shuffled(std::size_t n, std::uint64_t seed, std::uint64_t epoch) {
  std::vector<std::size_t> p(n);
  std::iota(p.begin(), p.end(), std::size_t{0});
  rng::Stream s(seed, rng::Purpose::Task, kShuffleKey, epoch);
  for (std::size_t i = n; i > 1; --i) std::swap(p[i - 1], p[s.below(i)]);
  return p;
}

struct Score {
  double accuracy = 0.0, cost = 0.0, residual = 0.0;
  std::vector<std::uint64_t> confusion;  // label x prediction
};

}  // namespace

struct EquilibriumTraining::Impl final : checkpoint::Component {
  const model::Network& net;
  comm::Communicator& comm;
  int threads = 1;
  std::ostream* log = nullptr;
  task::ImageTask task;
  task::FashionMnist data;
  eq::Dynamics dyn;
  eq::LearningRates lr;
  double decay = 1.0;
  int epochs = 10;
  std::size_t batch = 20, hidden = 500, inputs = 784;
  std::string input_population;
  std::unique_ptr<eq::Network> network;

  // The schedule: batches done over all epochs, and this epoch's sums so far.
  std::int64_t done = 0;
  std::size_t batches_per_epoch = 0;
  std::size_t epoch_correct = 0, epoch_batches = 0;
  double epoch_cost = 0.0, epoch_residual = 0.0, epoch_seconds = 0.0, epoch_partial_seconds = 0.0;
  eq::LearningRates rates;  // decayed once per epoch
  EquilibriumSummary sum;
  Score test;
  io::ResultFile* file = nullptr;
  double wall_seconds = 0.0;

  Impl(const model::Network& n, comm::Communicator& c) : net(n), comm(c) {}

  void append(const std::string& path, double v);
  void train_batch(const std::vector<std::size_t>& order, std::size_t s, int epoch);
  void end_epoch(int e, double secs, Shell& shell);
  void write_weights(io::ResultFile& f) const;
  void write_test(io::ResultFile& f) const;

  // Checkpoints, between batches: the weights and biases (per hidden cell, so any partition reads
  // them back), the position and this epoch's sums, the learning rates and the curves so far. The
  // potentials are not state: every batch starts from the feed-forward pass.
  std::string name() const override { return "equilibrium"; }
  void save(checkpoint::Writer& w) const override;
  void load(const checkpoint::Reader& r) override;

  void configure() {
    if (!net.task || !net.train)
      throw UserError(net.config.source_name() + ": needs [task] and [train] sections");
    const model::Node t = *net.task, tr = *net.train;
    task = task::ImageTask::read(t);
    tr.allow_only({"rule", "hidden", "epochs", "batch_size", "epsilon", "free_steps", "nudge_steps", "beta",
                   "nudge", "learning_rate_input_hidden", "learning_rate_hidden_output",
                   "learning_rate_decay"});
    tr.choice("rule", {"equilibrium"});
    hidden = static_cast<std::size_t>(tr.integer_or("hidden", 500, Range::closed(1, 131072)));
    epochs = static_cast<int>(tr.integer_or("epochs", 10, Range::closed(0, 1.0e6)));
    batch = static_cast<std::size_t>(tr.integer_or("batch_size", 20, Range::closed(1, 4096)));
    dyn.epsilon = tr.number_or("epsilon", dyn.epsilon, Range{0.0, 1.0, false, true});
    dyn.free_steps = static_cast<int>(tr.integer_or("free_steps", dyn.free_steps, Range::closed(0, 1.0e5)));
    dyn.nudge_steps =
        static_cast<int>(tr.integer_or("nudge_steps", dyn.nudge_steps, Range::closed(1, 1.0e5)));
    dyn.beta = tr.number_or("beta", dyn.beta, Range{0.0, 1.0, false, false});
    dyn.nudge = tr.choice("nudge", {"symmetric", "positive"}, std::string("symmetric")) == "symmetric"
                    ? eq::Nudge::Symmetric
                    : eq::Nudge::Positive;
    lr.input_hidden = tr.number_or("learning_rate_input_hidden", lr.input_hidden, Range::non_negative());
    lr.hidden_output = tr.number_or("learning_rate_hidden_output", lr.hidden_output, Range::non_negative());
    decay = tr.number_or("learning_rate_decay", 1.0, Range{0.0, 1.0, false, true});

    // The pixels enter through the model's task_input population (silent in `plexus run`).
    const model::PopulationSpec* in = nullptr;
    for (const auto& p : net.populations)
      if (p.model == "task_input") {
        if (in) p.node.fail(fmt::format("a second task_input population ('{}' is the first)", in->name));
        in = &p;
      }
    if (!in)
      net.config.root()
          .at("populations")
          .fail("the equilibrium rule needs a task_input population (the pixels)");
    input_population = in->name;
    data = task::FashionMnist::load(task.data_dir, task.data_dir_key);
    task.check_counts(data, t);
    inputs = data.train.pixels_per_image();
    if (in->size != inputs)
      in->node.at("size").fail(fmt::format("must be {} (one channel per pixel of the {} x {} images)", inputs,
                                           data.train.rows, data.train.cols));
    network = std::make_unique<eq::Network>(eq::Shape{inputs, hidden, kClasses}, dyn, comm, threads,
                                            std::max(batch, kEvalBatch));
    network->init_glorot(net.run.seed);
  }

  // Input rates and one-hot targets of images `idx` of `set` into x and y.
  void fill(const task::Images& set, const std::size_t* idx, std::size_t n, task::Stream stream,
            std::uint64_t epoch, std::vector<double>& x, std::vector<double>& y) const {
    x.assign(n * inputs, 0.0);
    y.assign(n * kClasses, 0.0);
    for (std::size_t b = 0; b < n; ++b) {
      task::encode(task, set.image(idx[b]), inputs, net.run.seed, stream, epoch, idx[b],
                   x.data() + b * inputs);
      y[b * kClasses + set.labels[idx[b]]] = 1.0;
    }
  }

  // Free phase only, on images [first, first + count) of `set`.
  Score evaluate(const task::Images& set, std::size_t first, std::size_t count, task::Stream stream) {
    Score s;
    s.confusion.assign(kClasses * kClasses, 0);
    std::vector<double> x, y;
    std::vector<std::size_t> idx;
    std::size_t correct = 0, batches = 0;
    for (std::size_t b0 = 0; b0 < count; b0 += kEvalBatch) {
      const std::size_t n = std::min(kEvalBatch, count - b0);
      idx.resize(n);
      std::iota(idx.begin(), idx.end(), first + b0);
      fill(set, idx.data(), n, stream, 0, x, y);
      network->present(x, n);
      network->feed_forward();
      s.residual += network->relax(dyn.free_steps, 0.0, {});
      ++batches;
      const auto pred = network->predictions();
      const auto cost = network->cost(y);
      for (std::size_t b = 0; b < n; ++b) {
        const int label = set.labels[idx[b]];
        correct += pred[b] == label;
        s.cost += cost[b];
        ++s.confusion[static_cast<std::size_t>(label) * kClasses + static_cast<std::size_t>(pred[b])];
      }
    }
    if (count) {
      s.accuracy = static_cast<double>(correct) / static_cast<double>(count);
      s.cost /= static_cast<double>(count);
      s.residual /= static_cast<double>(batches);
    }
    return s;
  }
};

void EquilibriumTraining::Impl::append(const std::string& path, double v) {
  if (!file) return;
  std::vector<double> one;
  if (comm.rank() == 0) one.push_back(v);
  file->append<double>(path, one);
}

// Images [s, s + batch) of this epoch's order: free phase, prediction, nudged phases and the update.
void EquilibriumTraining::Impl::train_batch(const std::vector<std::size_t>& order, std::size_t s, int epoch) {
  auto& nw = *network;
  std::vector<double> x, y;
  const std::size_t n = std::min(batch, order.size() - s);
  fill(data.train, order.data() + s, n, task::Stream::Train, static_cast<std::uint64_t>(epoch), x, y);
  nw.present(x, n);
  nw.feed_forward();
  epoch_residual += nw.relax(dyn.free_steps, 0.0, {});
  ++epoch_batches;
  const auto pred = nw.predictions();
  const auto c = nw.cost(y);
  for (std::size_t b = 0; b < n; ++b) {
    epoch_correct += pred[b] == data.train.labels[order[s + b]];
    epoch_cost += c[b];
  }
  if (rates.input_hidden > 0.0 || rates.hidden_output > 0.0) {
    nw.nudge(y);
    nw.apply(rates);
  }
}

// The end of epoch e: its accuracy, the validation, the curves and the progress line; then the
// learning rates decay.
void EquilibriumTraining::Impl::end_epoch(int e, double secs, Shell& shell) {
  const double n_train = static_cast<double>(task.train_samples);
  sum.train_accuracy.push_back(static_cast<double>(epoch_correct) / n_train);
  Score val;
  if (task.validation_samples) {
    const std::size_t val_first = data.train.count - task.validation_samples;
    val = evaluate(data.train, val_first, task.validation_samples, task::Stream::Validation);
    sum.validation_accuracy.push_back(val.accuracy);
  }
  epoch_seconds += secs;
  append("/training/epoch", e + 1);
  append("/training/accuracy", sum.train_accuracy.back());
  append("/training/cost", epoch_cost / n_train);
  append("/training/residual", epoch_residual / static_cast<double>(epoch_batches));
  append("/training/seconds", secs);
  if (task.validation_samples) {
    append("/validation/epoch", e + 1);
    append("/validation/accuracy", val.accuracy);
    append("/validation/cost", val.cost);
  }
  if (file) file->flush();
  shell.say(fmt::format(
      "epoch {}/{}  training accuracy {:.4f}  cost {:.4f}{}  residual {:.1e}  {:.1f} s  {}", e + 1, epochs,
      sum.train_accuracy.back(), epoch_cost / n_train,
      task.validation_samples ? fmt::format("  validation accuracy {:.4f}", val.accuracy) : std::string(),
      epoch_residual / static_cast<double>(epoch_batches), secs,
      shell.eta(static_cast<std::int64_t>(e + 1) * static_cast<std::int64_t>(batches_per_epoch))));
  rates.input_hidden *= decay;
  rates.hidden_output *= decay;
  epoch_correct = epoch_batches = 0;
  epoch_cost = epoch_residual = epoch_partial_seconds = 0.0;
}

void EquilibriumTraining::Impl::save(checkpoint::Writer& w) const {
  const auto& nw = *network;
  const auto& blk = nw.block();
  w.integer("equilibrium/done", done);
  w.integer("equilibrium/epoch_correct", static_cast<std::int64_t>(epoch_correct));
  w.integer("equilibrium/epoch_batches", static_cast<std::int64_t>(epoch_batches));
  w.real("equilibrium/epoch_cost", epoch_cost);
  w.real("equilibrium/epoch_residual", epoch_residual);
  w.real("equilibrium/epoch_seconds", epoch_seconds);
  w.real("equilibrium/epoch_partial_seconds", epoch_partial_seconds);
  w.real("equilibrium/rate_input_hidden", rates.input_hidden);
  w.real("equilibrium/rate_hidden_output", rates.hidden_output);
  for (const auto& [name, v] : {std::pair{"train_accuracy", &sum.train_accuracy},
                                {"validation_accuracy", &sum.validation_accuracy}}) {
    w.integer(std::string("equilibrium/") + name + "_length", static_cast<std::int64_t>(v->size()));
    w.array(std::string("equilibrium/") + name, checkpoint::Slice::whole(v->size()),
            std::span<const double>(*v));
  }
  // Per hidden cell: its input weights, its weights to the outputs, its bias.
  const checkpoint::Slice cells{blk.hidden_begin, blk.cells(), hidden, false};
  std::vector<double> w1(blk.cells() * inputs), w2(blk.cells() * kClasses), bh(blk.cells());
  for (std::size_t i = 0; i < blk.cells(); ++i) {
    for (std::size_t j = 0; j < inputs; ++j) w1[i * inputs + j] = nw.input_hidden(j, i);
    for (std::size_t o = 0; o < kClasses; ++o) w2[i * kClasses + o] = nw.hidden_output(o, i);
    bh[i] = nw.hidden_bias(i);
  }
  w.array("equilibrium/input_hidden", cells, std::span<const double>(w1), inputs);
  w.array("equilibrium/hidden_output", cells, std::span<const double>(w2), kClasses);
  w.array("equilibrium/hidden_bias", cells, std::span<const double>(bh));
  std::vector<double> bo(kClasses);
  for (std::size_t o = 0; o < kClasses; ++o) bo[o] = nw.output_bias(o);
  w.array("equilibrium/output_bias", checkpoint::Slice::whole(kClasses), std::span<const double>(bo));
}

void EquilibriumTraining::Impl::load(const checkpoint::Reader& r) {
  auto& nw = *network;
  const auto& blk = nw.block();
  done = r.integer("equilibrium/done");
  epoch_correct = static_cast<std::size_t>(r.integer("equilibrium/epoch_correct"));
  epoch_batches = static_cast<std::size_t>(r.integer("equilibrium/epoch_batches"));
  epoch_cost = r.real("equilibrium/epoch_cost");
  epoch_residual = r.real("equilibrium/epoch_residual");
  epoch_seconds = r.real("equilibrium/epoch_seconds");
  epoch_partial_seconds = r.real("equilibrium/epoch_partial_seconds");
  rates.input_hidden = r.real("equilibrium/rate_input_hidden");
  rates.hidden_output = r.real("equilibrium/rate_hidden_output");
  for (const auto& [name, v] : {std::pair{"train_accuracy", &sum.train_accuracy},
                                {"validation_accuracy", &sum.validation_accuracy}}) {
    v->resize(static_cast<std::size_t>(r.integer(std::string("equilibrium/") + name + "_length")));
    r.array(std::string("equilibrium/") + name, checkpoint::Slice::whole(v->size()), std::span<double>(*v));
  }
  const checkpoint::Slice cells{blk.hidden_begin, blk.cells(), hidden, false};
  std::vector<double> w1(blk.cells() * inputs), w2(blk.cells() * kClasses), bh(blk.cells()), bo(kClasses);
  r.array("equilibrium/input_hidden", cells, std::span<double>(w1), inputs);
  r.array("equilibrium/hidden_output", cells, std::span<double>(w2), kClasses);
  r.array("equilibrium/hidden_bias", cells, std::span<double>(bh));
  r.array("equilibrium/output_bias", checkpoint::Slice::whole(kClasses), std::span<double>(bo));
  for (std::size_t i = 0; i < blk.cells(); ++i) {
    for (std::size_t j = 0; j < inputs; ++j) nw.set_input_hidden(j, i, w1[i * inputs + j]);
    for (std::size_t o = 0; o < kClasses; ++o) nw.set_hidden_output(o, i, w2[i * kClasses + o]);
    nw.set_hidden_bias(i, bh[i]);
  }
  for (std::size_t o = 0; o < kClasses; ++o) nw.set_output_bias(o, bo[o]);
}

// ------------------------------------------------------------------------------------------------
EquilibriumTraining::EquilibriumTraining(const Setup& setup)
    : impl_(std::make_unique<Impl>(setup.net, setup.comm)) {
  auto& I = *impl_;
  I.threads = std::max(1, setup.threads);
  I.log = setup.log;
  comm::agree(setup.comm, [&] { I.configure(); });
  I.rates = I.lr;
  I.batches_per_epoch = (I.task.train_samples + I.batch - 1) / I.batch;
  I.sum.hidden = I.hidden;
  I.sum.train_samples = I.task.train_samples;
  I.sum.validation_samples = I.task.validation_samples;
  I.sum.test_samples = I.task.test_samples;
  I.sum.synapses = static_cast<std::uint64_t>(I.hidden * (I.inputs + kClasses));
}

EquilibriumTraining::~EquilibriumTraining() = default;

std::size_t EquilibriumTraining::hidden() const {
  return impl_->hidden;
}
int EquilibriumTraining::epochs() const {
  return impl_->epochs;
}
const EquilibriumSummary& EquilibriumTraining::summary() const {
  return impl_->sum;
}
std::string EquilibriumTraining::headline() const {
  return fmt::format("training '{}' with the equilibrium rule, {} hidden cells, {} epoch(s)", impl_->net.name,
                     impl_->hidden, impl_->epochs);
}
std::int64_t EquilibriumTraining::total() const {
  return static_cast<std::int64_t>(impl_->epochs) * static_cast<std::int64_t>(impl_->batches_per_epoch);
}
std::int64_t EquilibriumTraining::done() const {
  return impl_->done;
}
std::vector<checkpoint::Component*> EquilibriumTraining::state() {
  return {impl_.get()};
}

void EquilibriumTraining::start_file(io::ResultFile& f) {
  auto& I = *impl_;
  I.file = &f;
  f.attribute("/metadata", "duration_ms", 0.0);
  f.attribute("/metadata", "task", std::string("fashion_mnist"));
  f.attribute("/metadata", "rule", std::string("equilibrium"));
  f.attribute("/metadata", "batch_size", static_cast<std::int64_t>(I.batch));
  // The three layers, numbered as one network would number them.
  const std::pair<std::string, std::size_t> layers[3] = {
      {I.input_population, I.inputs}, {"hidden", I.hidden}, {"output", kClasses}};
  std::int64_t first = 0;
  for (const auto& [name, size] : layers) {
    const std::string g = "/network/populations/" + name;
    f.create_group(g);
    f.attribute(g, "model", std::string(name == I.input_population ? "task_input" : "equilibrium"));
    f.attribute(g, "size", static_cast<std::int64_t>(size));
    f.attribute(g, "first_gid", first);
    first += static_cast<std::int64_t>(size);
  }
  f.create_group("/training");
  f.attribute("/training", "rule", std::string("equilibrium"));
  f.attribute("/training", "samples", static_cast<std::int64_t>(I.task.train_samples));
  for (const char* d : {"epoch", "accuracy", "cost", "residual", "seconds"})
    f.create_series<double>(std::string("/training/") + d, 256);
  // Wall-clock time, which differs between identical runs: `plexus verify --same-as` skips what has "clock".
  f.attribute("/training/seconds", "clock", std::string("wall"));
  f.create_group("/validation");
  f.attribute("/validation", "samples", static_cast<std::int64_t>(I.task.validation_samples));
  for (const char* d : {"epoch", "accuracy", "cost"})
    f.create_series<double>(std::string("/validation/") + d, 256);
}

void EquilibriumTraining::resume_file(io::ResultFile& f, const std::map<std::string, std::uint64_t>&) {
  impl_->file = &f;  // its curves were reopened at their lengths by the shell
}

void EquilibriumTraining::run(Shell& shell) {
  auto& I = *impl_;
  const auto wall0 = std::chrono::steady_clock::now();
  if (I.done == 0)
    shell.say(fmt::format(
        "equilibrium: {} -> {} -> {} cells, {} training / {} validation / {} test images ({} encoding), "
        "batch {}, {} "
        "epoch(s)",
        I.inputs, I.hidden, kClasses, I.task.train_samples, I.task.validation_samples, I.task.test_samples,
        I.task.encoding == task::Encoding::Poisson ? "poisson" : "current", I.batch, I.epochs));
  const auto bpe = static_cast<std::int64_t>(I.batches_per_epoch);
  std::vector<std::size_t> order;
  int order_epoch = -1;
  auto epoch_t0 = std::chrono::steady_clock::now();
  while (I.done < total()) {
    const int e = static_cast<int>(I.done / bpe);
    const auto b = static_cast<std::size_t>(I.done % bpe);
    if (order_epoch != e) {
      order = shuffled(I.task.train_samples, I.net.run.seed, static_cast<std::uint64_t>(e));
      order_epoch = e;
      epoch_t0 = std::chrono::steady_clock::now();
    }
    I.train_batch(order, b * I.batch, e);
    ++I.done;
    if (shell.log() && shell.progress_due(false, 15.0)) {
      const std::size_t seen = std::min(order.size(), (b + 1) * I.batch);
      const double frac = static_cast<double>(seen) / static_cast<double>(order.size());
      const double el = I.epoch_partial_seconds + since(epoch_t0);
      shell.say(fmt::format("epoch {}/{}: {}/{} images, accuracy so far {:.3f}, epoch ETA {}", e + 1,
                            I.epochs, seen, order.size(),
                            static_cast<double>(I.epoch_correct) / static_cast<double>(seen),
                            human_seconds(el * (1.0 - frac) / frac)));
    }
    if (b + 1 == I.batches_per_epoch) I.end_epoch(e, I.epoch_partial_seconds + since(epoch_t0), shell);
    if (shell.checkpoint_point(I.done)) {
      I.epoch_partial_seconds += since(epoch_t0);
      break;
    }
  }
  I.wall_seconds += since(wall0);
}

void EquilibriumTraining::finish(io::ResultFile* f) {
  auto& I = *impl_;
  const auto t0 = std::chrono::steady_clock::now();
  auto& sum = I.sum;
  sum.epochs = I.epochs;
  sum.seconds_per_epoch = I.epochs ? I.epoch_seconds / I.epochs : 0.0;
  if (I.task.test_samples) {
    I.test = I.evaluate(I.data.test, 0, I.task.test_samples, task::Stream::Test);
    sum.test_accuracy = I.test.accuracy;
    sum.confusion = I.test.confusion;
    if (I.log) {
      *I.log << fmt::format("[plexus] test accuracy {:.4f} on {} images\n", I.test.accuracy,
                            I.task.test_samples);
      I.log->flush();
    }
  }
  I.wall_seconds += since(t0);
  sum.wall_seconds = I.wall_seconds;
  sum.state_bytes = I.comm.allgather(static_cast<std::uint64_t>(I.network->state_bytes()));
  sum.peak_rss_bytes = I.comm.allgather(static_cast<std::uint64_t>(memory::peak_rss_bytes()));
  if (!f) return;
  I.write_weights(*f);
  f->attribute("/training", "epochs", static_cast<std::int64_t>(sum.epochs));
  f->attribute("/training", "seconds_per_epoch", sum.seconds_per_epoch);
  if (sum.test_accuracy >= 0) I.write_test(*f);
  f->attribute("/metadata", "synapses", static_cast<std::int64_t>(sum.synapses));
  f->write_replicated<std::uint64_t>("/metadata/learning_state_bytes", sum.state_bytes);
}

// Weights as source x target matrices: each rank writes the columns of its hidden cells.
void EquilibriumTraining::Impl::write_weights(io::ResultFile& f) const {
  const bool root = comm.rank() == 0;
  const auto& nw = *network;
  const std::size_t H = hidden, N_in = inputs;
  const auto& blk = nw.block();
  const std::vector<double> w2 = nw.gather_hidden_output();  // outputs x hidden, small
  const std::vector<double> bh = nw.gather_hidden_bias();
  f.create_group("/equilibrium");
  f.attribute("/equilibrium", "epsilon", dyn.epsilon);
  f.attribute("/equilibrium", "beta", dyn.beta);
  f.attribute("/equilibrium", "free_steps", static_cast<std::int64_t>(dyn.free_steps));
  f.attribute("/equilibrium", "nudge_steps", static_cast<std::int64_t>(dyn.nudge_steps));
  f.attribute("/equilibrium", "nudge",
              std::string(dyn.nudge == eq::Nudge::Symmetric ? "symmetric" : "positive"));
  f.create_table<double>("/equilibrium/input_hidden", H, 28);
  std::vector<double> cols(N_in * blk.cells());
  for (std::size_t j = 0; j < N_in; ++j)
    for (std::size_t i = 0; i < blk.cells(); ++i) cols[j * blk.cells() + i] = nw.input_hidden(j, i);
  f.append_rows<double>("/equilibrium/input_hidden", N_in, blk.hidden_begin, blk.cells(), cols);
  std::vector<double> w2t(H * kClasses);  // hidden x outputs
  for (std::size_t o = 0; o < kClasses; ++o)
    for (std::size_t i = 0; i < H; ++i) w2t[i * kClasses + o] = w2[o * H + i];
  f.create_table<double>("/equilibrium/hidden_output", kClasses, 1024);
  f.append_rows<double>("/equilibrium/hidden_output", H, 0, root ? kClasses : 0,
                        root ? std::span<const double>(w2t) : std::span<const double>());
  f.write_replicated<double>("/equilibrium/hidden_bias", bh);
  std::vector<double> bo(kClasses);
  for (std::size_t o = 0; o < kClasses; ++o) bo[o] = nw.output_bias(o);
  f.write_replicated<double>("/equilibrium/output_bias", bo);
}

void EquilibriumTraining::Impl::write_test(io::ResultFile& f) const {
  const bool root = comm.rank() == 0;
  f.create_group("/test");
  f.attribute("/test", "accuracy", sum.test_accuracy);
  f.attribute("/test", "samples", static_cast<std::int64_t>(task.test_samples));
  f.attribute("/test", "cost", test.cost);
  f.create_table<std::uint64_t>("/test/confusion", kClasses, kClasses);
  f.append_rows<std::uint64_t>(
      "/test/confusion", kClasses, 0, root ? kClasses : 0,
      root ? std::span<const std::uint64_t>(sum.confusion) : std::span<const std::uint64_t>());
  std::string names;
  for (const char* c : task::kFashionMnistClasses) {
    if (!names.empty()) names += ',';
    names += c;
  }
  f.attribute("/test", "classes", names);
}

void EquilibriumTraining::report(std::ostream& out) const {
  const auto& s = impl_->sum;
  out << fmt::format("trained {} epoch(s) on {} images in {:.1f} s ({:.1f} s per epoch)", s.epochs,
                     s.train_samples, s.wall_seconds, s.seconds_per_epoch);
  if (!s.train_accuracy.empty())
    out << fmt::format("; last training accuracy {:.4f}", s.train_accuracy.back());
  out << "\n";
  if (!s.validation_accuracy.empty())
    out << fmt::format("validation accuracy {:.4f} on {} images\n", s.validation_accuracy.back(),
                       s.validation_samples);
  if (s.test_accuracy >= 0)
    out << fmt::format("test accuracy {:.4f} on {} images\n", s.test_accuracy, s.test_samples);
  out << fmt::format("{} synapses\n", s.synapses);
}

namespace {
const ExperimentRegistry::Add registered{
    {"equilibrium",
     "train",
     "equilibrium learning with differential STDP on images (Fashion-MNIST)",
     {false, "batch"},
     [] { return std::vector<std::string>{"equilibrium"}; },
     [](const Setup& s) { return std::make_unique<EquilibriumTraining>(s); }}};
}  // namespace

}  // namespace plexus::train
