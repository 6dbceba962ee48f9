// Pieces of gradient-based learning: losses against finite differences, Adam against its closed
// form, feedback keyed by gid, learning-state memory, and trials that are pure functions of
// (seed, stream, index).
#include <catch2/catch.hpp>
#include <cmath>

#include "helpers.hpp"
#include "plexus/learning/feedback.hpp"
#include "plexus/learning/loss.hpp"
#include "plexus/learning/optimizer.hpp"
#include "plexus/task/task.hpp"
#include "plexus/train/gradient/training.hpp"

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
