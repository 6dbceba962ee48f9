// The MPI communicator: spike exchange (including the second round for crowded steps) and the
// small collectives, on 1, 2 and 4 ranks.
#include <catch2/catch.hpp>
#include <numeric>

#include "world.hpp"

using namespace plexus;

TEST_CASE("spike exchange returns every rank's spikes in gid order", "[mpi]") {
  auto& w = test::world();
  const int R = w.size(), r = w.rank();
  std::vector<Gid> global;
  for (int round = 0; round < 6; ++round) {
    // Rank r sends gids congruent to r mod R; the counts grow past the first-round slot (64).
    const int count = round == 2 ? 0 : (r + 1) * (round * 40 + 1);
    std::vector<Gid> mine;
    for (int i = 0; i < count; ++i) mine.push_back(static_cast<Gid>(i * R + r));
    w.exchange_spikes(mine, global);
    std::vector<Gid> expected;
    for (int q = 0; q < R; ++q) {
      const int c = round == 2 ? 0 : (q + 1) * (round * 40 + 1);
      for (int i = 0; i < c; ++i) expected.push_back(static_cast<Gid>(i * R + q));
    }
    std::sort(expected.begin(), expected.end());
    REQUIRE(global == expected);
  }
  if (R > 1) CHECK(w.stats().retries > 0);
}

TEST_CASE("collectives give the same answer on every rank", "[mpi]") {
  auto& w = test::world();
  const auto all = w.allgather(static_cast<std::uint64_t>(w.rank() * 10));
  REQUIRE(all.size() == static_cast<std::size_t>(w.size()));
  for (int q = 0; q < w.size(); ++q) CHECK(all[q] == static_cast<std::uint64_t>(q * 10));
  CHECK(w.max(w.rank()) == w.size() - 1);
  CHECK(w.sum(std::uint64_t{1}) == static_cast<std::uint64_t>(w.size()));
  // Summed in rank order: the same bits as a sequential sum in rank order.
  const double mine = 0.1 * (w.rank() + 1) + 1e-17;
  double expected = 0.0;
  for (int q = 0; q < w.size(); ++q) expected += 0.1 * (q + 1) + 1e-17;
  CHECK(w.sum(mine) == expected);
  std::vector<double> v{mine, 2 * mine};
  w.sum_in_rank_order(v);
  CHECK(v[0] == expected);
  std::string text = w.rank() == 0 ? "from rank 0" : "";
  w.broadcast(text, 0);
  CHECK(text == "from rank 0");
}
