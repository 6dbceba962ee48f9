// Equilibrium learning with differential STDP (SPEC 4.7): the relaxation descends the energy, the
// integrated weight change of a small nudge is the gradient of the output cost at equilibrium,
// and results do not depend on threads or on how samples are grouped into batches.
#include <catch2/catch.hpp>
#include <cmath>
#include <cstdio>
#include <vector>

#include "plexus/comm/communicator.hpp"
#include "plexus/core/rng.hpp"
#include "plexus/learning/equilibrium.hpp"

using namespace plexus;
namespace eq = plexus::learning::equilibrium;

namespace {

// Random weights of a given scale (larger than Glorot, so that the output feeds back strongly),
// hidden biases, and random inputs in [0, 1].
void randomise(eq::Network& n, double w_scale, std::uint64_t seed) {
  const auto& s = n.shape();
  const auto& blk = n.block();
  for (std::size_t i = 0; i < blk.cells(); ++i) {
    rng::Stream r(seed, rng::Purpose::Weight, 77, blk.hidden_begin + i);
    for (std::size_t j = 0; j < s.inputs; ++j) n.set_input_hidden(j, i, r.uniform(-w_scale, w_scale));
    for (std::size_t o = 0; o < s.outputs; ++o) n.set_hidden_output(o, i, r.uniform(-w_scale, w_scale));
    n.set_hidden_bias(i, r.uniform(0.0, 0.3));
  }
  rng::Stream r(seed, rng::Purpose::Weight, 78, 0);
  for (std::size_t o = 0; o < s.outputs; ++o) n.set_output_bias(o, r.uniform(0.0, 0.2));
}

std::vector<double> inputs(std::size_t batch, std::size_t n, std::uint64_t seed) {
  std::vector<double> x(batch * n);
  rng::Stream r(seed, rng::Purpose::Task, 5, 0);
  for (auto& v : x) v = r.uniform() < 0.3 ? 0.0 : r.uniform();
  return x;
}

std::vector<double> one_hot(std::size_t batch, std::size_t outputs, std::uint64_t seed) {
  std::vector<double> y(batch * outputs, 0.0);
  rng::Stream r(seed, rng::Purpose::Task, 6, 0);
  for (std::size_t b = 0; b < batch; ++b) y[b * outputs + r.below(outputs)] = 1.0;
  return y;
}

double free_cost(eq::Network& n, const std::vector<double>& x, const std::vector<double>& y,
                 std::size_t batch) {
  n.present(x, batch);
  n.feed_forward();
  n.relax(n.dynamics().free_steps, 0.0, {});
  double c = 0.0;
  for (double v : n.cost(y)) c += v;
  return c;
}

}  // namespace

TEST_CASE("equilibrium: free and nudged relaxation never increase E + beta C", "[equilibrium]") {
  auto single = comm::make_single();
  eq::Dynamics dyn;
  dyn.epsilon = GENERATE(0.3, 0.5, 1.0);
  const std::size_t B = 4;
  // 150 hidden cells: three chunks, the last one partial.
  eq::Network n({20, 150, 5}, dyn, *single, 1, B);
  randomise(n, 0.6, 3);
  const auto x = inputs(B, 20, 4);
  const auto y = one_hot(B, 5, 5);
  n.present(x, B);
  n.feed_forward();
  // The fixed-point sums round each chunk to 2^-30: allow a few of those.
  const double tol = 1e-8;
  for (const double beta : {0.0, 0.5, -0.5}) {
    auto before = n.energy(beta, y);
    const auto start = before;
    double residual = 1.0;
    int rises = 0;
    for (int s = 0; s < 200; ++s) {
      residual = n.relax(1, beta, y);
      const auto after = n.energy(beta, y);
      for (std::size_t b = 0; b < B; ++b)
        if (after[b] > before[b] + tol) ++rises;
      before = after;
    }
    INFO("epsilon " << dyn.epsilon << ", beta " << beta << ": E + beta C from " << start[0] << " to "
                    << before[0] << ", last change " << residual);
    CHECK(rises == 0);
    // It does move, and it settles: the feed-forward state is not yet the equilibrium.
    if (beta == 0.0)
      for (std::size_t b = 0; b < B; ++b) CHECK(before[b] < start[b] - 1e-3);
    CHECK(residual < 1e-9);
  }
}

TEST_CASE("equilibrium: integrated differential STDP of a small nudge is -dC/dW at equilibrium",
          "[equilibrium]") {
  auto single = comm::make_single();
  const auto mode = GENERATE(eq::Nudge::Symmetric, eq::Nudge::Positive);
  eq::Dynamics dyn;
  dyn.epsilon = 0.5;
  dyn.free_steps = 400;  // to equilibrium (checked below)
  dyn.nudge_steps = 400;
  dyn.beta = 1e-3;
  dyn.nudge = mode;
  const std::size_t I = 6, H = 5, O = 3, B = 2;
  eq::Network n({I, H, O}, dyn, *single, 1, B);
  randomise(n, 0.8, 11);
  const auto x = inputs(B, I, 12);
  const auto y = one_hot(B, O, 13);
  n.present(x, B);
  n.feed_forward();
  REQUIRE(n.relax(dyn.free_steps, 0.0, {}) < 1e-13);
  n.nudge(y);
  const auto e1 = n.estimate_input_hidden(), e2 = n.estimate_hidden_output();
  const auto ebh = n.estimate_hidden_bias(), ebo = n.estimate_output_bias();

  // Central finite differences of the summed cost at the free equilibrium.
  const double h = 1e-6;
  auto fd = [&](auto get, auto set) {
    const double w = get();
    set(w + h);
    const double cp = free_cost(n, x, y, B);
    set(w - h);
    const double cm = free_cost(n, x, y, B);
    set(w);
    return -(cp - cm) / (2 * h);  // -dC/dW: the direction the rule moves the weight
  };
  std::vector<double> est, ref;
  for (std::size_t j = 0; j < I; ++j)
    for (std::size_t i = 0; i < H; ++i) {
      est.push_back(e1[j * H + i]);
      ref.push_back(fd([&] { return n.input_hidden(j, i); }, [&](double v) { n.set_input_hidden(j, i, v); }));
    }
  for (std::size_t o = 0; o < O; ++o)
    for (std::size_t i = 0; i < H; ++i) {
      est.push_back(e2[o * H + i]);
      ref.push_back(
          fd([&] { return n.hidden_output(o, i); }, [&](double v) { n.set_hidden_output(o, i, v); }));
    }
  for (std::size_t i = 0; i < H; ++i) {
    est.push_back(ebh[i]);
    ref.push_back(fd([&] { return n.hidden_bias(i); }, [&](double v) { n.set_hidden_bias(i, v); }));
  }
  for (std::size_t o = 0; o < O; ++o) {
    est.push_back(ebo[o]);
    ref.push_back(fd([&] { return n.output_bias(o); }, [&](double v) { n.set_output_bias(o, v); }));
  }
  double num = 0.0, den = 0.0, biggest = 0.0;
  for (std::size_t k = 0; k < ref.size(); ++k) {
    num += (est[k] - ref[k]) * (est[k] - ref[k]);
    den += ref[k] * ref[k];
    biggest = std::max(biggest, std::fabs(ref[k]));
  }
  const double rel = std::sqrt(num / den);
  std::printf("equilibrium gradient check (%s nudge, beta = %g): relative error %.2e over %zu parameters\n",
              mode == eq::Nudge::Symmetric ? "symmetric" : "positive", dyn.beta, rel, ref.size());
  REQUIRE(biggest > 1e-3);  // the cost does depend on the weights here
  CHECK(rel < 0.05);
  // Each parameter that matters, within 5 %.
  int bad = 0, counted = 0;
  for (std::size_t k = 0; k < ref.size(); ++k) {
    if (std::fabs(ref[k]) < 0.05 * biggest) continue;
    ++counted;
    if (std::fabs(est[k] - ref[k]) > 0.05 * std::fabs(ref[k])) {
      ++bad;
      UNSCOPED_INFO("parameter " << k << ": estimate " << est[k] << ", finite difference " << ref[k]);
    }
  }
  CHECK(counted >= 15);  // enough parameters matter for the comparison to mean something
  CHECK(bad == 0);
}

TEST_CASE("equilibrium: weights after training do not depend on threads or batch grouping of evaluation",
          "[equilibrium]") {
  auto single = comm::make_single();
  eq::Dynamics dyn;
  const std::size_t I = 50, H = 200, O = 10, B = 8;
  auto train = [&](int threads) {
    eq::Network n({I, H, O}, dyn, *single, threads, B);
    n.init_glorot(21);
    for (std::uint64_t batch = 0; batch < 3; ++batch) {
      n.present(inputs(B, I, 100 + batch), B);
      n.feed_forward();
      n.relax(dyn.free_steps, 0.0, {});
      n.nudge(one_hot(B, O, 200 + batch));
      n.apply({0.1, 0.05});
    }
    return std::vector<std::vector<double>>{n.gather_input_hidden(), n.gather_hidden_output(),
                                            n.gather_hidden_bias()};
  };
  const auto one = train(1), two = train(2);
  CHECK(one == two);
  // And training changed them.
  eq::Network fresh({I, H, O}, dyn, *single, 1, B);
  fresh.init_glorot(21);
  CHECK(fresh.gather_input_hidden() != one[0]);

  // A sample relaxes on its own: its outputs are the same in a batch of 8 or alone.
  eq::Network n({I, H, O}, dyn, *single, 2, B);
  n.init_glorot(21);
  const auto x = inputs(B, I, 300);
  n.present(x, B);
  n.feed_forward();
  n.relax(dyn.free_steps, 0.0, {});
  const std::vector<double> together(n.outputs().begin(), n.outputs().end());
  for (std::size_t b = 0; b < B; ++b) {
    n.present(std::span<const double>(x).subspan(b * I, I), 1);
    n.feed_forward();
    n.relax(dyn.free_steps, 0.0, {});
    for (std::size_t o = 0; o < O; ++o) CHECK(n.outputs()[o] == together[b * O + o]);
  }
}

TEST_CASE("equilibrium: hidden cells are split over ranks in whole chunks", "[equilibrium]") {
  for (const std::size_t hidden : {1, 63, 64, 65, 300, 4500}) {
    for (const int ranks : {1, 2, 3, 4, 7}) {
      std::size_t next = 0;
      for (int r = 0; r < ranks; ++r) {
        const auto b = eq::block(hidden, ranks, r);
        CHECK(b.hidden_begin == next);
        CHECK(b.hidden_begin % eq::kChunk == 0);
        next = b.hidden_end;
      }
      CHECK(next == hidden);
    }
  }
}

TEST_CASE("equilibrium: bad shapes and dynamics are refused", "[equilibrium]") {
  auto single = comm::make_single();
  eq::Dynamics dyn;
  CHECK_THROWS_AS(eq::Network({0, 10, 10}, dyn, *single, 1, 1), std::invalid_argument);
  CHECK_THROWS_AS(eq::Network({10, 200000, 10}, dyn, *single, 1, 1), std::invalid_argument);
  dyn.beta = 1.5;
  CHECK_THROWS_AS(eq::Network({10, 10, 10}, dyn, *single, 1, 1), std::invalid_argument);
  dyn.beta = 0.5;
  dyn.epsilon = 0.0;
  CHECK_THROWS_AS(eq::Network({10, 10, 10}, dyn, *single, 1, 1), std::invalid_argument);
}
