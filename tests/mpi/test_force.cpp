// FORCE training distributed over ranks (and threads) gives the same decoders, rows of P and metrics,
// bit for bit, as one process with one thread (rows of P per rank, decoders replicated;
// learning/force.hpp).
#include <catch2/catch.hpp>
#include <cstring>

#include "plexus/learning/force.hpp"
#include "plexus/model/network.hpp"
#include "plexus/train/force.hpp"
#include "plexus/train/shell.hpp"
#include "world.hpp"

using namespace plexus;

namespace {
// A small LIF reservoir (G = 0.04, p = 0.1: weight std G / (p sqrt(N))) learning a 5 Hz sine for
// 200 ms, with two outputs (a sine and a Van der Pol oscillator would need longer; the point here
// is the arithmetic, not the learning).
const std::string kNet = R"(
[run]
dt_ms = 0.05
[network]
seed = 11
[populations.R]
model = "lif_force"
size = 301
init = { v = { dist = "uniform", low = -65.0, high = 30.0 } }
[projections.static]
source = "R"
target = "R"
rule = "fixed_probability"
p = 0.1
weight = { dist = "normal", mean = 0.0, std = 0.02304 }
zero_mean_rows = true
delay_ms = 0.05
[task]
kind = "signal"
shape = "van_der_pol"
mu = 0.3
time_scale_ms = 30.0
components = ["x", "y"]
[train]
rule = "force"
Q = 10.0
p0 = 5e-6
rls_every_steps = 20
before_ms = 50.0
train_ms = 200.0
test_ms = 50.0
window_ms = 25.0
max_lag_ms = 5.0
)";
}  // namespace

TEST_CASE("FORCE: decoders after training are the same for any number of ranks and threads", "[mpi][force]") {
  auto& w = test::world();
  const auto net = model::Network::from_config(model::Config::parse(kNet, "force.toml"));
  // One rank runs with two threads, so that the comparison covers threads too; more ranks use one
  // each (the machines running the tests may have two cores).
  const train::Setup dist_setup{net, w, w.size() == 1 ? 2 : 1, nullptr};
  train::ForceTraining dist(dist_setup);
  train::run_to_end("force", dist, dist_setup);
  const auto d = dist.summary();
  auto single = comm::make_single();
  const train::Setup ref_setup{net, *single, 1, nullptr};
  train::ForceTraining ref(ref_setup);
  train::run_to_end("force", ref, ref_setup);
  const auto s = ref.summary();
  REQUIRE(s.rls_updates == 200);
  CHECK(d.rls_updates == s.rls_updates);
  REQUIRE(dist.decoders().size() == 2 * 301);
  CHECK(std::memcmp(dist.decoders().data(), ref.decoders().data(), 2 * 301 * sizeof(double)) == 0);
  double norm = 0.0;
  for (double x : ref.decoders()) norm += x * x;
  CHECK(norm > 0.0);  // something was learned
  // This rank's rows of P equal the same rows of the single-process P.
  const auto& P = dist.rls();
  REQUIRE(P.row_end() - P.row_begin() > 0);
  for (std::size_t j = 0; j < P.row_end() - P.row_begin(); ++j) {
    INFO("row " << P.row_begin() + j);
    REQUIRE(std::memcmp(P.row(j), ref.rls().row(P.row_begin() + j), 301 * sizeof(double)) == 0);
  }
  REQUIRE(d.windows.size() == 2);
  for (std::size_t k = 0; k < 2; ++k) {
    CHECK(d.windows[k].correlation == s.windows[k].correlation);
    CHECK(d.windows[k].frequency_hz == s.windows[k].frequency_hz);
  }
  CHECK(d.train_rms == s.train_rms);
  CHECK(d.rate_hz[0] == s.rate_hz[0]);
  CHECK(d.rate_hz[2] == s.rate_hz[2]);
  CHECK(d.ranks == w.size());
}
