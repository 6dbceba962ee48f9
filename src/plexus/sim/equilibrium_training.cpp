// The training loop of the equilibrium rule. Per batch: present the images (input rates), feed
// forward, relax freely to equilibrium (the prediction is the most active output cell there), nudge
// the output toward the label and let differential STDP integrate the weight changes, then apply
// them. Every rank runs the same loop over the same samples; ranks differ only in which hidden
// cells they hold (learning/equilibrium.hpp), so all decisions (shuffling, predictions,
// accuracies) are made identically everywhere without further communication.
#include "plexus/sim/equilibrium_training.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <numeric>

#include <fmt/format.h>

#include "plexus/core/error.hpp"
#include "plexus/core/memory.hpp"
#include "plexus/core/rng.hpp"
#include "plexus/core/version.hpp"
#include "plexus/io/result_file.hpp"
#include "plexus/learning/equilibrium.hpp"
#include "plexus/sim/simulation_impl.hpp"
#include "plexus/task/fashion_mnist.hpp"

namespace plexus::sim {

namespace eq = learning::equilibrium;
using model::Range;

namespace {

constexpr std::size_t kClasses = 10;
constexpr std::size_t kEvalBatch = 250;  // results do not depend on it: samples relax independently
constexpr std::uint64_t kShuffleKey = 0x5348'5546;  // "SHUF"

double since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

std::string human_seconds(double s) {
  s = std::round(s);  // so that 119.6 s reads 2m00s, not 1m60s
  if (s < 60) return fmt::format("{:.0f}s", s);
  if (s < 3600) return fmt::format("{:.0f}m{:02.0f}s", std::floor(s / 60), std::fmod(s, 60.0));
  return fmt::format("{:.0f}h{:02.0f}m", std::floor(s / 3600), std::floor(std::fmod(s, 3600.0) / 60));
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

bool uses_equilibrium_rule(const model::Network& net) {
  return net.train && net.train->has("rule") && net.train->at("rule").is_string() &&
         net.train->string("rule") == "equilibrium";
}

struct EquilibriumTrainer::Impl {
  const model::Network& net;
  comm::Communicator& comm;
  EquilibriumOptions opt;
  task::ImageTask task;
  task::FashionMnist data;
  eq::Dynamics dyn;
  eq::LearningRates lr;
  double decay = 1.0;
  int epochs = 10;
  std::size_t batch = 20, hidden = 500, inputs = 784;
  std::string input_population;
  std::unique_ptr<eq::Network> network;

  Impl(const model::Network& n, comm::Communicator& c, EquilibriumOptions o)
      : net(n), comm(c), opt(std::move(o)) {}

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
    network = std::make_unique<eq::Network>(eq::Shape{inputs, hidden, kClasses}, dyn, comm, opt.threads,
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

EquilibriumTrainer::EquilibriumTrainer(const model::Network& net, comm::Communicator& comm,
                                       EquilibriumOptions options)
    : impl_(std::make_unique<Impl>(net, comm, std::move(options))) {
  agree(comm, [&] { impl_->configure(); });
}

EquilibriumTrainer::~EquilibriumTrainer() = default;

std::size_t EquilibriumTrainer::hidden() const {
  return impl_->hidden;
}
int EquilibriumTrainer::epochs() const {
  return impl_->epochs;
}

EquilibriumSummary EquilibriumTrainer::run() {
  auto& I = *impl_;
  const bool root = I.comm.rank() == 0;
  const auto wall0 = std::chrono::steady_clock::now();
  auto& nw = *I.network;
  const std::size_t H = I.hidden, N_in = I.inputs;
  EquilibriumSummary sum;
  sum.hidden = H;
  sum.train_samples = I.task.train_samples;
  sum.validation_samples = I.task.validation_samples;
  sum.test_samples = I.task.test_samples;
  sum.synapses = static_cast<std::uint64_t>(H * (N_in + kClasses));
  const std::size_t val_first = I.data.train.count - I.task.validation_samples;
  std::ostream* log = root && I.opt.progress ? I.opt.log : nullptr;

  std::unique_ptr<io::ResultFile> file;
  if (I.opt.output) {
    agree(I.comm, [&] { file = std::make_unique<io::ResultFile>(*I.opt.output, I.comm); });
    auto& f = *file;
    f.create_group("/metadata");
    f.write_text("/metadata/config", I.net.config.to_toml());
    f.attribute("/metadata", "plexus_version", std::string(version::version()));
    f.attribute("/metadata", "git_hash", std::string(version::git_hash()));
    f.attribute("/metadata", "model", I.net.name);
    f.attribute("/metadata", "ranks", static_cast<std::int64_t>(I.comm.size()));
    f.attribute("/metadata", "threads", static_cast<std::int64_t>(I.opt.threads));
    f.attribute("/metadata", "seed", static_cast<std::int64_t>(I.net.run.seed));
    f.attribute("/metadata", "dt_ms", I.net.run.dt_ms);
    f.attribute("/metadata", "duration_ms", 0.0);
    f.attribute("/metadata", "task", std::string("fashion_mnist"));
    f.attribute("/metadata", "rule", std::string("equilibrium"));
    f.attribute("/metadata", "batch_size", static_cast<std::int64_t>(I.batch));
    // The three layers, numbered as one network would number them.
    const std::pair<std::string, std::size_t> layers[3] = {
        {I.input_population, N_in}, {"hidden", H}, {"output", kClasses}};
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
    f.create_group("/validation");
    f.attribute("/validation", "samples", static_cast<std::int64_t>(I.task.validation_samples));
    for (const char* d : {"epoch", "accuracy", "cost"})
      f.create_series<double>(std::string("/validation/") + d, 256);
    f.flush();
  }
  auto append = [&](const std::string& path, double v) {
    if (!file) return;
    std::vector<double> one;
    if (root) one.push_back(v);
    file->append<double>(path, one);
  };

  if (log) {
    *log << fmt::format(
        "[plexus] equilibrium: {} -> {} -> {} cells, {} training / {} validation / {} test images ({} "
        "encoding), "
        "batch {}, {} epoch(s)\n",
        N_in, H, kClasses, I.task.train_samples, I.task.validation_samples, I.task.test_samples,
        I.task.encoding == task::Encoding::Poisson ? "poisson" : "current", I.batch, I.epochs);
    log->flush();
  }

  std::vector<double> x, y;
  double epoch_seconds = 0.0;
  eq::LearningRates rates = I.lr;
  for (int e = 0; e < I.epochs; ++e) {
    const auto t0 = std::chrono::steady_clock::now();
    auto last_line = t0;
    const auto order = shuffled(I.task.train_samples, I.net.run.seed, static_cast<std::uint64_t>(e));
    std::size_t correct = 0, batches = 0;
    double cost = 0.0, residual = 0.0;
    for (std::size_t s = 0; s < order.size(); s += I.batch) {
      const std::size_t n = std::min(I.batch, order.size() - s);
      I.fill(I.data.train, order.data() + s, n, task::Stream::Train, static_cast<std::uint64_t>(e), x, y);
      nw.present(x, n);
      nw.feed_forward();
      residual += nw.relax(I.dyn.free_steps, 0.0, {});
      ++batches;
      const auto pred = nw.predictions();
      const auto c = nw.cost(y);
      for (std::size_t b = 0; b < n; ++b) {
        correct += pred[b] == I.data.train.labels[order[s + b]];
        cost += c[b];
      }
      if (rates.input_hidden > 0.0 || rates.hidden_output > 0.0) {
        nw.nudge(y);
        nw.apply(rates);
      }
      if (log && since(last_line) >= I.opt.progress_seconds) {
        last_line = std::chrono::steady_clock::now();
        const double done = static_cast<double>(s + n) / static_cast<double>(order.size());
        *log << fmt::format("[plexus] epoch {}/{}: {}/{} images, accuracy so far {:.3f}, epoch ETA {}\n",
                            e + 1, I.epochs, s + n, order.size(),
                            static_cast<double>(correct) / static_cast<double>(s + n),
                            human_seconds(since(t0) * (1.0 - done) / done));
        log->flush();
      }
    }
    const double n_train = static_cast<double>(order.size());
    sum.train_accuracy.push_back(static_cast<double>(correct) / n_train);
    Score val;
    if (I.task.validation_samples) {
      val = I.evaluate(I.data.train, val_first, I.task.validation_samples, task::Stream::Validation);
      sum.validation_accuracy.push_back(val.accuracy);
    }
    const double secs = since(t0);
    epoch_seconds += secs;
    append("/training/epoch", e + 1);
    append("/training/accuracy", sum.train_accuracy.back());
    append("/training/cost", cost / n_train);
    append("/training/residual", residual / static_cast<double>(batches));
    append("/training/seconds", secs);
    if (I.task.validation_samples) {
      append("/validation/epoch", e + 1);
      append("/validation/accuracy", val.accuracy);
      append("/validation/cost", val.cost);
    }
    if (file) file->flush();
    if (log) {
      *log << fmt::format(
          "[plexus] epoch {}/{}  training accuracy {:.4f}  cost {:.4f}{}  residual {:.1e}  {:.1f} s  ETA "
          "{}\n",
          e + 1, I.epochs, sum.train_accuracy.back(), cost / n_train,
          I.task.validation_samples ? fmt::format("  validation accuracy {:.4f}", val.accuracy)
                                    : std::string(),
          residual / static_cast<double>(batches), secs,
          human_seconds(epoch_seconds / (e + 1) * static_cast<double>(I.epochs - e - 1)));
      log->flush();
    }
    rates.input_hidden *= I.decay;
    rates.hidden_output *= I.decay;
  }
  sum.epochs = I.epochs;
  sum.seconds_per_epoch = I.epochs ? epoch_seconds / I.epochs : 0.0;
  Score test;
  if (I.task.test_samples) {
    test = I.evaluate(I.data.test, 0, I.task.test_samples, task::Stream::Test);
    sum.test_accuracy = test.accuracy;
    sum.confusion = test.confusion;
    if (log) {
      *log << fmt::format("[plexus] test accuracy {:.4f} on {} images\n", test.accuracy, I.task.test_samples);
      log->flush();
    }
  }
  sum.wall_seconds = since(wall0);
  sum.state_bytes = I.comm.allgather(static_cast<std::uint64_t>(nw.state_bytes()));
  sum.peak_rss_bytes = I.comm.allgather(static_cast<std::uint64_t>(memory::peak_rss_bytes()));

  if (file) {
    auto& f = *file;
    // Weights as source x target matrices: each rank writes the columns of its hidden cells.
    const auto& blk = nw.block();
    const std::vector<double> w2 = nw.gather_hidden_output();  // outputs x hidden, small
    const std::vector<double> bh = nw.gather_hidden_bias();
    agree(I.comm, [&] {
      f.create_group("/equilibrium");
      f.attribute("/equilibrium", "epsilon", I.dyn.epsilon);
      f.attribute("/equilibrium", "beta", I.dyn.beta);
      f.attribute("/equilibrium", "free_steps", static_cast<std::int64_t>(I.dyn.free_steps));
      f.attribute("/equilibrium", "nudge_steps", static_cast<std::int64_t>(I.dyn.nudge_steps));
      f.attribute("/equilibrium", "nudge",
                  std::string(I.dyn.nudge == eq::Nudge::Symmetric ? "symmetric" : "positive"));
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
      f.attribute("/training", "epochs", static_cast<std::int64_t>(sum.epochs));
      f.attribute("/training", "seconds_per_epoch", sum.seconds_per_epoch);
      if (sum.test_accuracy >= 0) {
        f.create_group("/test");
        f.attribute("/test", "accuracy", sum.test_accuracy);
        f.attribute("/test", "samples", static_cast<std::int64_t>(I.task.test_samples));
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
      f.attribute("/metadata", "wall_time_s", sum.wall_seconds);
      f.attribute("/metadata", "synapses", static_cast<std::int64_t>(sum.synapses));
      f.write_replicated<std::uint64_t>("/metadata/peak_rss_bytes", sum.peak_rss_bytes);
      f.write_replicated<std::uint64_t>("/metadata/learning_state_bytes", sum.state_bytes);
      f.commit();
    });
  }
  return sum;
}

}  // namespace plexus::sim
