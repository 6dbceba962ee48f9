// Pieces of gradient-based learning: losses against finite differences, Adam against its closed
// form, feedback keyed by gid, learning-state memory, and trials that are pure functions of
// (seed, stream, index).
#include <catch2/catch.hpp>
#include <cmath>
#include <functional>
#include <random>

#include "helpers.hpp"
#include "plexus/learning/feedback.hpp"
#include "plexus/learning/loss.hpp"
#include "plexus/learning/optimizer.hpp"
#include "plexus/learning/tree_sum.hpp"
#include "plexus/task/task.hpp"
#include "plexus/train/gradient/training.hpp"
#include "plexus/train/shell.hpp"

using namespace plexus;

TEST_CASE("loss derivatives match finite differences", "[learning]") {
  const double y[3] = {0.3, -1.2, 2.0};
  double err[3], tmp[3];
  const double target[3] = {0.5, 0.1, -0.4};
  for (int which = 0; which < 2; ++which) {
    auto loss = [&](const double* v) {
      return which == 0 ? learning::softmax_cross_entropy(v, 3, 1, 1.0, tmp)
                        : learning::squared_error(v, target, 3, 1.0, tmp);
    };
    if (which == 0)
      learning::softmax_cross_entropy(y, 3, 1, 1.0, err);
    else
      learning::squared_error(y, target, 3, 1.0, err);
    for (int k = 0; k < 3; ++k) {
      double up[3] = {y[0], y[1], y[2]}, down[3] = {y[0], y[1], y[2]};
      up[k] += 1e-6;
      down[k] -= 1e-6;
      CHECK(err[k] == Approx((loss(up) - loss(down)) / 2e-6).epsilon(1e-7));
    }
  }
  // Softmax is shifted: huge outputs do not overflow.
  const double big[2] = {1000.0, 990.0};
  CHECK(std::isfinite(learning::softmax_cross_entropy(big, 2, 1, 1.0, err)));
  CHECK(err[0] == Approx(1.0 / (1.0 + std::exp(-10.0))));
}

TEST_CASE("Adam follows its closed form and the schedule decays the rate", "[learning]") {
  learning::Optimizer opt;
  opt.learning_rate = 0.01;
  double m = 0.0, v = 0.0;
  const auto s1 = opt.next();
  // First step: m = (1 - b1) g, v = (1 - b2) g^2, corrected m / (1 - b1) = g, v / (1 - b2) = g^2.
  CHECK(learning::Optimizer::delta(s1, 2.0, m, v) == Approx(-0.01 * 2.0 / (2.0 + 1e-8)));
  opt.steps = 1;
  const auto s2 = opt.next();
  const double m2 = 0.9 * m + 0.1 * -1.0, v2 = 0.999 * v + 0.001 * 1.0;
  const double want = -0.01 * (m2 / (1 - 0.81)) / (std::sqrt(v2 / (1 - 0.999 * 0.999)) + 1e-8);
  CHECK(learning::Optimizer::delta(s2, -1.0, m, v) == Approx(want));
  learning::Optimizer sgd;
  sgd.kind = learning::Optimizer::Kind::Sgd;
  sgd.learning_rate = 0.1;
  sgd.decay = 0.5;
  sgd.decay_every = 10;
  sgd.steps = 25;
  double dummy = 0;
  CHECK(learning::Optimizer::delta(sgd.next(), 3.0, dummy, dummy) == Approx(-0.1 * 0.25 * 3.0));
}

TEST_CASE("random feedback is keyed by gid, not by the partition", "[learning]") {
  learning::Feedback whole, lower, upper;
  whole.resize(10, 3);
  lower.resize(4, 3);
  upper.resize(6, 3);
  whole.random(9, 100, {0, 10}, 10);
  lower.random(9, 100, {0, 4}, 10);
  upper.random(9, 100, {4, 10}, 10);
  for (std::size_t k = 0; k < 12; ++k) CHECK(whole.B[k] == lower.B[k]);
  for (std::size_t k = 0; k < 18; ++k) CHECK(whole.B[12 + k] == upper.B[k]);
  double mean = 0.0;
  for (double b : whole.B) mean += b;
  CHECK(std::fabs(mean / 30.0) < 0.3);
}

TEST_CASE("e-prop learning state stays under 24 bytes per synapse", "[learning]") {
  const auto net = test::network(R"(
[run]
dt_ms = 1.0
[task]
kind = "evidence"
profile = "cortex"
delay_ms = 50.0
[train]
batch_size = 1
[populations.input]
model = "task_input"
size = 100
[populations.rec]
model = "alif"
size = 200
[populations.out]
model = "readout"
size = 2
[projections.in_rec]
source = "input"
target = "rec"
rule = "all_to_all"
weight = 0.1
delay_ms = 0.0
[projections.rec_rec]
source = "rec"
target = "rec"
rule = "fixed_probability"
p = 0.2
weight = 0.1
delay_ms = 1.0
[projections.rec_out]
source = "rec"
target = "out"
rule = "all_to_all"
weight = 0.1
delay_ms = 0.0
)");
  auto single = comm::make_single();
  train::gradient::GradientTraining tr({net, *single, 1, nullptr});
  const auto m = tr.learning_memory();
  const double n = static_cast<double>(m.synapses);
  CHECK(n > 20000);
  // ALIF with Adam in float32: adaptation trace, filtered trace, gradient, two moments.
  CHECK(static_cast<double>(m.per_synapse) / n <= 20.5);
  CHECK(static_cast<double>(m.index) / n <= 4.5);
  CHECK(static_cast<double>(m.per_synapse + m.index + m.per_neuron + m.per_source) / n < 24.5);
}

TEST_CASE("a trial is a pure function of seed, stream and index", "[learning][task]") {
  const auto net = test::network(R"(
[run]
dt_ms = 1.0
duration_ms = 10.0
[task]
kind = "evidence"
profile = "eprop"
[populations.x]
model = "lif"
size = 1
)");
  auto a = task::make(*net.task, 1.0, 5);
  auto b = task::make(*net.task, 1.0, 5);
  CHECK(a->steps() == 2250);
  CHECK(a->window_begin() == 2100);
  a->begin_trial(task::Stream::Train, 7);
  b->begin_trial(task::Stream::Validation, 3);
  b->begin_trial(task::Stream::Train, 7);  // the same trial, reached another way
  CHECK(a->label() == b->label());
  std::vector<double> za(40), zb(40), part(15);
  int spikes = 0;
  for (Step t = 0; t < a->steps(); ++t) {
    a->input_spikes(t, 0, 40, za.data());
    b->input_spikes(t, 0, 40, zb.data());
    REQUIRE(za == zb);
    b->input_spikes(t, 10, 25, part.data());  // any channel range alone gives the same spikes
    for (int c = 0; c < 15; ++c) REQUIRE(part[c] == za[10 + c]);
    for (double z : za) spikes += static_cast<int>(z);
  }
  CHECK(spikes > 500);
  // Labels: the side with more cues, about half each over many trials.
  int right = 0;
  for (int i = 0; i < 400; ++i) {
    a->begin_trial(task::Stream::Test, i);
    right += a->label();
  }
  CHECK(right > 160);
  CHECK(right < 240);
}

// The batch sum over a fixed tree of trial numbers: the same bits however the trials are split into
// contiguous ranges (workers, groups), and equal to the tree evaluated directly.
TEST_CASE("tree sum: the same bits for any split of the batch into ranges", "[learning]") {
  using Sum = learning::TreeSum<float>;
  const std::size_t n = 5;
  auto leaf = [&](std::uint64_t k) {
    std::vector<float> v(n);
    for (std::size_t i = 0; i < n; ++i)
      v[i] = 1.0f / static_cast<float>(3 + k * 7 + i) + (k % 3 ? 1e4f : 1e-3f);
    return v;
  };
  // Reference: the tree evaluated recursively.
  std::function<std::vector<float>(std::uint64_t, std::uint64_t)> direct = [&](std::uint64_t a,
                                                                               std::uint64_t b) {
    if (b - a == 1) return leaf(a);
    const auto m = a + Sum::split(b - a);
    auto l = direct(a, m);
    const auto r = direct(m, b);
    for (std::size_t i = 0; i < n; ++i) l[i] = l[i] + r[i];
    return l;
  };
  for (std::uint64_t B : {1u, 2u, 3u, 5u, 8u, 13u, 32u, 33u}) {
    const auto expect = direct(0, B);
    // Split [0, B) into G contiguous ranges, as groups do; each range's nodes joined in order.
    for (std::uint64_t G = 1; G <= std::min<std::uint64_t>(B, 4); ++G) {
      Sum total;
      total.reset(B, n);
      for (std::uint64_t g = 0; g < G; ++g) {
        Sum part;
        part.reset(B, n);
        for (std::uint64_t k = g * B / G; k < (g + 1) * B / G; ++k) {
          auto v = leaf(k);
          part.push(k, v);
          CHECK(v == std::vector<float>(n, 0.0f));  // swapped for a zeroed buffer
        }
        // A range is held as at most two nodes per level of the tree.
        CHECK(part.nodes().size() <= 2 * (1 + static_cast<std::size_t>(std::log2(static_cast<double>(B)))));
        for (auto& node : part.take_nodes()) total.push_node(std::move(node));
      }
      REQUIRE(total.complete());
      CHECK(total.result() == expect);
    }
  }
  // Leaves in any order (trials ending on several threads): the same bits.
  for (std::uint64_t B : {7u, 32u}) {
    const auto expect = direct(0, B);
    std::vector<std::uint64_t> order(B);
    for (std::uint64_t k = 0; k < B; ++k) order[k] = k;
    for (std::uint64_t seed = 0; seed < 5; ++seed) {
      std::mt19937_64 rng(seed);
      std::shuffle(order.begin(), order.end(), rng);
      Sum total;
      total.reset(B, n);
      for (auto k : order) {
        auto v = leaf(k);
        total.push(k, v);
      }
      REQUIRE(total.complete());
      CHECK(total.result() == expect);
    }
  }
  // A trial twice, a vector of the wrong length, a node that is not one of the tree's: refused.
  Sum s;
  s.reset(4, n);
  auto v = leaf(1);
  s.push(1, v);
  auto again = leaf(1);
  CHECK_THROWS(s.push(1, again));
  auto bad = std::vector<float>(n + 1);
  CHECK_THROWS(s.push(2, bad));
  CHECK_THROWS(s.push_node({1, 3, std::vector<float>(n)}));
}

// Trials run concurrently (one instance per thread, taken from a queue in whatever order the threads
// free up) and one at a time with the neurons split over the threads train the same weights as one
// thread, for e-prop and ES-D-RTRL. Without MPI, so that the ThreadSanitizer build runs it too.
// While a batch is summed, the tree's partial sums add at most (log2 B + 2) gradient-sized vectors.
TEST_CASE("gradient training: trials on two threads give the weights of one thread", "[learning]") {
  auto single = comm::make_single();
  const std::string path = std::string(PLEXUS_SOURCE_DIR) + "/models/tmaze_mouse100.toml";
  for (const std::string rule : {"eprop", "es_d_rtrl"}) {
    std::vector<std::vector<double>> ref;
    for (const auto& [threads, mode] :
         std::vector<std::pair<int, std::string>>{{1, "neurons"}, {2, "trials"}, {2, "neurons"}}) {
      const auto net = model::Network::from_config(model::Config::load(
          path,
          {"train.iterations=2", "train.batch_size=6", "train.validation_trials=0", "train.test_trials=0",
           "train.example_cells=0", "train.rule=\"" + rule + "\"", "train.parallel=\"" + mode + "\""}));
      const train::Setup setup{net, *single, threads, nullptr};
      train::gradient::GradientTraining tr(setup);
      CHECK(tr.instance_memory().trials == (mode == "trials"));
      CHECK(tr.instance_memory().instances == (mode == "trials" ? threads : 1));
      train::run_to_end("gradient", tr, setup);
      std::vector<std::vector<double>> got;
      for (const char* p : {"in_rec", "rec_rec", "rec_out"}) {
        got.emplace_back();
        for (const auto& s : tr.weights(p)) got.back().push_back(s.value);
      }
      if (ref.empty())
        ref = got;
      else
        CHECK(got == ref);
      const auto m = tr.learning_memory();
      const double n = static_cast<double>(m.synapses);
      // e-prop on LIF cells with Adam: the filtered trace and the trial's gradient per instance, two
      // moments, and the tree's partial sums (at most log2(6) + 2 = 4.6 of them) at 4 bytes each.
      const double instances = tr.instance_memory().instances;
      if (rule == "eprop") CHECK(static_cast<double>(m.per_synapse) / n <= 8.0 * instances + 8.0 + 4.0 * 4.6);
    }
  }
}
