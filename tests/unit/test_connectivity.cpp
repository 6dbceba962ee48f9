// Connectivity rules: statistics, no autapses, Dale's law, and independence from how targets are
// split into blocks (threads) or ranks.
#include <catch2/catch.hpp>
#include <cmath>
#include <map>
#include <set>
#include <tuple>

#include "helpers.hpp"
#include "plexus/io/result_file.hpp"
#include "plexus/model/connectivity.hpp"
#include "plexus/synapse/projection.hpp"
#include "support/plain_run.hpp"

using namespace plexus;

namespace {
model::Network net_with(const std::string& projection, int n = 1000) {
  return test::network(
      "[run]\nduration_ms = 1.0\n[populations.A]\nmodel = \"lif\"\nsize = " + std::to_string(n) +
      "\n[projections.p]\nsource = \"A\"\ntarget = \"A\"\nweight = 1.0\ndelay_ms = 1.0\n" + projection);
}
}  // namespace

TEST_CASE("fixed probability: Bernoulli per pair, no autapses", "[connectivity]") {
  const int n = 1000;
  const double p = 0.1;
  auto net = net_with("rule = \"fixed_probability\"\np = 0.1\n", n);
  const auto& proj = net.projections[0];
  std::vector<int> indeg(n, 0), outdeg(n, 0);
  std::uint64_t total = 0;
  for (Gid t = 0; t < n; ++t)
    model::for_each_source(proj, 11, n, t, nullptr, [&](Gid s) {
      REQUIRE(s != t);
      REQUIRE(s < static_cast<Gid>(n));
      ++indeg[t], ++outdeg[s], ++total;
    });
  const double pairs = static_cast<double>(n) * (n - 1);
  CHECK(std::fabs(total - pairs * p) < 5 * std::sqrt(pairs * p * (1 - p)));
  double m = 0, v = 0;
  for (int d : indeg) m += d;
  m /= n;
  for (int d : indeg) v += (d - m) * (d - m);
  v /= n - 1;
  CHECK(v == Approx((n - 1) * p * (1 - p)).epsilon(0.15));  // binomial in-degrees
  // Sources are used evenly: out-degrees are binomial too.
  double mo = 0, vo = 0;
  for (int d : outdeg) mo += d;
  mo /= n;
  for (int d : outdeg) vo += (d - mo) * (d - mo);
  vo /= n - 1;
  CHECK(vo == Approx((n - 1) * p * (1 - p)).epsilon(0.15));
}

TEST_CASE("fixed in-degree: exactly K distinct sources, or K with replacement", "[connectivity]") {
  // Dense (bitmap) and sparse (hash table) membership: the same algorithm, both checked.
  for (const auto& [n, k] : {std::pair{300, 120}, std::pair{100000, 30}}) {
    auto net = net_with("rule = \"fixed_indegree\"\nindegree = " + std::to_string(k) + "\n", n);
    std::vector<int> used(n, 0);
    const int targets = 300;
    for (Gid t = 0; t < targets; ++t) {
      std::vector<Gid> got;
      model::for_each_source(net.projections[0], 5, n, t, nullptr, [&](Gid s) { got.push_back(s); });
      REQUIRE(got.size() == static_cast<std::size_t>(k));
      REQUIRE(std::is_sorted(got.begin(), got.end()));
      REQUIRE(std::adjacent_find(got.begin(), got.end()) == got.end());
      REQUIRE(std::find(got.begin(), got.end(), t) == got.end());
      REQUIRE(got.back() < static_cast<Gid>(n));
      for (Gid s : got) ++used[s];
    }
    // Every source is equally likely: check the use count of sources in ten equal bands.
    std::vector<double> band(10, 0.0);
    for (int s = 0; s < n; ++s) band[s * 10 / n] += used[s];
    const double expected = static_cast<double>(targets) * k / 10;
    for (double b : band) CHECK(std::fabs(b - expected) < 5 * std::sqrt(expected));
  }
  const int n = 300;
  auto multi = net_with("rule = \"fixed_indegree\"\nindegree = 500\nmultapses = true\n", n);
  std::vector<Gid> got;
  model::for_each_source(multi.projections[0], 5, n, 7, nullptr, [&](Gid s) { got.push_back(s); });
  CHECK(got.size() == 500);
  CHECK(std::adjacent_find(got.begin(), got.end()) != got.end());  // repeats happen
}

TEST_CASE("all-to-all, with and without autapses", "[connectivity]") {
  auto plain = net_with("rule = \"all_to_all\"\n", 10);
  auto self = net_with("rule = \"all_to_all\"\nautapses = true\n", 10);
  int a = 0, b = 0;
  model::for_each_source(plain.projections[0], 1, 10, 3, nullptr, [&](Gid s) { a += s != 3; });
  model::for_each_source(self.projections[0], 1, 10, 3, nullptr, [&](Gid) { ++b; });
  CHECK(a == 9);
  CHECK(b == 10);
}

TEST_CASE("synapses do not depend on how targets are split into blocks", "[connectivity]") {
  auto net = test::network(
      "[run]\nduration_ms = 1.0\n[populations.A]\nmodel = \"lif\"\nsize = 500\n"
      "[projections.p]\nsource = \"A\"\ntarget = \"A\"\nrule = \"fixed_probability\"\np = 0.05\n"
      "weight = { dist = \"normal\", mean = 0.0, std = 1.0 }\ndelay_ms = { dist = \"uniform\", low = 1.0, "
      "high = 5.0 }\n");
  auto collect = [&](std::vector<partition::IdRange> blocks, Gid first) {
    synapse::BuildSpec b;
    b.spec = &net.projections[0];
    b.n_source = 500;
    b.target_first_local = first;
    b.blocks = blocks;
    b.seed = 99;
    b.dt_ms = 1.0;
    auto proj = synapse::Projection::build(b);
    std::vector<std::tuple<Gid, Gid, float, int>> out;
    for (std::size_t i = 0; i < blocks.size(); ++i)
      proj.for_each_by_target(
          i, [&](Gid s, std::uint32_t t, float w, std::uint16_t d) { out.emplace_back(first + t, s, w, d); });
    return out;
  };
  const auto whole = collect({{0, 500}}, 0);
  auto three = collect({{0, 100}, {100, 101}, {101, 500}}, 0);
  CHECK(whole == three);
  // Two "ranks" holding halves, concatenated.
  auto lo = collect({{0, 250}}, 0);
  const auto hi = collect({{0, 250}}, 250);
  lo.insert(lo.end(), hi.begin(), hi.end());
  CHECK(whole == lo);
  std::set<int> delays;
  for (const auto& x : whole) delays.insert(std::get<3>(x));
  CHECK(delays == std::set<int>{1, 2, 3, 4, 5});
}

TEST_CASE("Dale's law: excitatory weights >= 0, inhibitory <= 0, whatever the distribution",
          "[connectivity]") {
  test::TempDir dir;
  auto net = test::network(
      "[run]\nduration_ms = 1.0\n[populations.E]\nmodel = \"lif\"\nsize = 40\ndale = \"excitatory\"\n"
      "[populations.I]\nmodel = \"lif\"\nsize = 10\ndale = \"inhibitory\"\n"
      "[projections.EE]\nsource = \"E\"\ntarget = \"E\"\nrule = \"fixed_probability\"\np = 0.5\n"
      "weight = { dist = \"normal\", mean = 0.0, std = 1.0 }\ndelay_ms = 1.0\n"
      "[projections.IE]\nsource = \"I\"\ntarget = \"E\"\nrule = \"fixed_probability\"\np = 0.5\n"
      "weight = { dist = \"normal\", mean = 0.0, std = 1.0 }\ndelay_ms = 1.0\n"
      "[record.weights.EE]\ntimes_ms = [0.0]\n[record.weights.IE]\ntimes_ms = [0.0]\n");
  auto comm = comm::make_single();
  test::PlainOptions opt;
  opt.output = dir.path / "dale.h5";
  sim::Simulation s(net, *comm, opt);
  test::run(s, opt.output);
  io::Reader r(dir.path / "dale.h5");
  const auto ee = r.read_doubles("/weights/EE/values");
  const auto ie = r.read_doubles("/weights/IE/values");
  REQUIRE(ee.size() > 300);
  REQUIRE(ie.size() > 100);
  int pos = 0, neg = 0;
  for (double w : ee) {
    CHECK(w >= 0.0);
    pos += w > 0;
  }
  for (double w : ie) {
    CHECK(w <= 0.0);
    neg += w < 0;
  }
  CHECK(pos == static_cast<int>(ee.size()));
  CHECK(neg == static_cast<int>(ie.size()));
}
