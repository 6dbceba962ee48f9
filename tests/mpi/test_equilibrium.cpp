// Equilibrium learning distributed over the ranks of the job (and 1 or 2 threads per rank) trains
// to exactly the weights, outputs and energies of one process.
#include <catch2/catch.hpp>

#include "plexus/core/rng.hpp"
#include "plexus/learning/equilibrium.hpp"
#include "world.hpp"

using namespace plexus;
namespace eq = plexus::learning::equilibrium;

namespace {

struct Trained {
  std::vector<double> w1, w2, bh, outputs, energy;
  std::vector<int> predictions;
};

Trained train(comm::Communicator& comm, int threads, eq::Nudge nudge) {
  // 300 hidden cells: five chunks, the last partial; on 4 ranks one rank holds two chunks.
  const std::size_t I = 40, H = 300, O = 10, B = 6;
  eq::Dynamics dyn;
  dyn.nudge = nudge;
  eq::Network n({I, H, O}, dyn, comm, threads, B);
  n.init_glorot(5);
  std::vector<double> x(B * I), y(B * O);
  for (std::uint64_t batch = 0; batch < 4; ++batch) {
    rng::Stream r(9, rng::Purpose::Task, batch, 0);
    for (auto& v : x) v = r.uniform() < 0.4 ? 0.0 : r.uniform();
    std::fill(y.begin(), y.end(), 0.0);
    for (std::size_t b = 0; b < B; ++b) y[b * O + r.below(O)] = 1.0;
    n.present(x, B);
    n.feed_forward();
    n.relax(dyn.free_steps, 0.0, {});
    n.nudge(y);
    n.apply({0.2, 0.1});
  }
  n.present(x, B);
  n.feed_forward();
  n.relax(dyn.free_steps, 0.0, {});
  Trained t;
  t.w1 = n.gather_input_hidden();
  t.w2 = n.gather_hidden_output();
  t.bh = n.gather_hidden_bias();
  t.outputs.assign(n.outputs().begin(), n.outputs().end());
  t.energy = n.energy(0.0, {});
  t.predictions = n.predictions();
  return t;
}

}  // namespace

TEST_CASE("equilibrium: distributed training equals one process, bit for bit", "[equilibrium][mpi]") {
  auto& world = test::world();
  auto single = comm::make_single();
  for (const auto nudge : {eq::Nudge::Symmetric, eq::Nudge::Positive}) {
    const Trained ref = train(*single, 1, nudge);
    for (const int threads : {1, 2}) {
      INFO(world.size() << " rank(s) x " << threads << " thread(s)");
      const Trained got = train(world, threads, nudge);
      CHECK(got.w1 == ref.w1);
      CHECK(got.w2 == ref.w2);
      CHECK(got.bh == ref.bh);
      CHECK(got.outputs == ref.outputs);
      CHECK(got.energy == ref.energy);
      CHECK(got.predictions == ref.predictions);
    }
  }
}
