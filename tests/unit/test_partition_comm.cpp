// Partition maps, the single-process and dry-run communicators, and the progress watchdog.
#include <algorithm>
#include <catch2/catch.hpp>
#include <condition_variable>
#include <mutex>

#include "helpers.hpp"
#include "plexus/comm/watchdog.hpp"
#include "plexus/core/error.hpp"
#include "plexus/partition/partition.hpp"
#include "support/plain_run.hpp"

using namespace plexus;

TEST_CASE("blocks tile a range, and owner() inverts the partition", "[partition]") {
  auto net = test::network(
      "[run]\nduration_ms = 1.0\n[populations.A]\nmodel = \"lif\"\nsize = 1001\n"
      "[populations.B]\nmodel = \"readout\"\nsize = 3\n[populations.C]\nmodel = \"lif\"\nsize = 7\n");
  for (int ranks : {1, 2, 3, 4, 7, 16}) {
    partition::Partition part(net, ranks, {false, true, false});
    Gid total = 0;
    for (int r = 0; r < ranks; ++r) total += part.owned_count(r);
    CHECK(total == 1008);
    for (int pop : {0, 2}) {
      Gid next = 0;
      for (int r = 0; r < ranks; ++r) {
        const auto range = part.local(pop, r);
        CHECK(range.begin == next);
        next = range.end;
        for (Gid i = range.begin; i < range.end; ++i)
          REQUIRE(part.owner(net.populations[pop].first_gid + i) == r);
      }
      CHECK(next == net.populations[pop].size);
    }
    CHECK(part.owner(1001) == -1);  // replicated
    CHECK(part.local(1, ranks - 1).size() == 3);
  }
}

TEST_CASE("merging the ranks' sorted spike lists", "[comm]") {
  std::vector<Gid> v{1, 5, 9, 2, 3, 10, 0, 4};
  comm::merge_sorted_runs(v, {0, 3, 6, 6, 8});
  CHECK(v == std::vector<Gid>{0, 1, 2, 3, 4, 5, 9, 10});
}

TEST_CASE("single and dry-run communicators", "[comm]") {
  auto single = comm::make_single();
  std::vector<Gid> out;
  const std::vector<Gid> mine{3, 8};
  single->exchange_spikes(mine, out);
  CHECK(out == mine);
  CHECK(single->sum(2.5) == 2.5);

  auto dry = comm::make_dry_run(1, 3, [](int other, std::vector<Gid>& o) {
    if (other == 0) o.insert(o.end(), {1, 4});
    if (other == 2) o.insert(o.end(), {2, 9});
  });
  CHECK(dry->rank() == 1);
  CHECK(dry->size() == 3);
  dry->exchange_spikes(mine, out);
  CHECK(out == std::vector<Gid>{1, 2, 3, 4, 8, 9});
  CHECK(dry->stats().spikes_received == 6);
  CHECK(dry->sum(std::uint64_t{5}) == 15);
}

TEST_CASE("a dry run plays one rank of a larger run", "[comm]") {
  auto net = test::network(
      std::string("[run]\nduration_ms = 200.0\ndt_ms = 0.1\n[network]\nseed = 3\n") +
      "[populations.E]\nmodel = \"lif_cuba\"\nsize = 400\n"
      "params = { E_L_mV = -49.0, V_th_mV = -50.0, V_reset_mV = -60.0 }\n"
      "[projections.EE]\nsource = \"E\"\ntarget = \"E\"\nrule = \"fixed_probability\"\np = 0.02\n"
      "receptor = \"exc\"\nweight = 10.0\ndelay_ms = 0.1\n");
  auto dry = comm::make_dry_run(1, 4);
  sim::Simulation s(net, *dry, {});
  const auto summary = test::run(s);
  // Rank 1 of 4 holds a quarter of the neurons and a quarter of the synapses; it receives spikes
  // from the other three (synthesised at its own rate).
  CHECK(summary.local_synapses[0] > 0);
  CHECK(dry->stats().spikes_received > 3 * dry->stats().spikes_sent);
  CHECK(dry->stats().exchanges == 2000);
}

// --- the progress watchdog (comm/watchdog.hpp) ----------------------------------------------------

TEST_CASE("watchdog: a wait beyond the limit ends the job, once", "[comm][watchdog]") {
  std::mutex m;
  std::condition_variable cv;
  int ended = 0, code = -1;
  comm::Watchdog w([&](int c) {
    const std::lock_guard lock(m);
    ++ended;
    code = c;
    cv.notify_all();
  });
  // Not armed: a wait is not even recorded.
  { const comm::Watchdog::Wait unarmed(nullptr, "nothing"); }
  w.arm(0.05, 3);
  REQUIRE(w.armed());
  w.note_step(42);
  {
    // A nested wait keeps the outer one; when both end, nothing is waited in.
    const comm::Watchdog::Wait outer(&w, "outer");
    const comm::Watchdog::Wait inner(&w, "inner");
    // The event waited for is the watchdog's call itself (no sleep whose length decides the outcome).
    std::unique_lock lock(m);
    cv.wait(lock, [&] { return ended > 0; });
  }
  CHECK(ended == 1);
  CHECK(code == kExitFailure);
}

TEST_CASE("watchdog: --watchdog values", "[comm][watchdog]") {
  CHECK(comm::parse_watchdog("10min") == 600.0);
  CHECK(comm::parse_watchdog("30s") == 30.0);
  CHECK(comm::parse_watchdog("1.5h") == 5400.0);
  CHECK(comm::parse_watchdog("off") == 0.0);
  CHECK_THROWS_AS(comm::parse_watchdog("10"), UserError);
  CHECK_THROWS_AS(comm::parse_watchdog("-5min"), UserError);
  CHECK_THROWS_AS(comm::parse_watchdog("5 parsecs"), UserError);
}
