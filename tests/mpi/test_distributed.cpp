// Distributed simulation equals the single-process simulation, bit for bit, and the result file
// written collectively equals the one written by one process.
#include <catch2/catch.hpp>
#include <cstring>
#include <filesystem>

#include "plexus/io/result_file.hpp"
#include "plexus/model/network.hpp"
#include "plexus/partition/partition.hpp"
#include "plexus/sim/simulation.hpp"
#include "support/plain_run.hpp"
#include "world.hpp"

using namespace plexus;

namespace {
const std::string kNet = R"(
[run]
duration_ms = 200.0
dt_ms = 0.1
[network]
seed = 17
[populations.E]
model = "lif_coba"
size = 403
dale = "excitatory"
params = { I_e_pA = 200.0 }
init = { V_m = { dist = "normal", mean = -55.0, std = 5.0 } }
[populations.I]
model = "lif_coba"
size = 101
dale = "inhibitory"
params = { I_e_pA = 200.0 }
init = { V_m = { dist = "normal", mean = -55.0, std = 5.0 } }
[populations.noise]
model = "poisson_source"
size = 50
params = { rate_hz = 20.0 }
[populations.out]
model = "readout"
size = 2
[projections.EE]
source = "E"
target = "E"
rule = "fixed_probability"
p = 0.15
weight = { dist = "lognormal", mu = 1.5, sigma = 0.5 }
delay_ms = { dist = "uniform", low = 0.1, high = 3.0 }
[projections.EI]
source = "E"
target = "I"
rule = "fixed_indegree"
indegree = 40
weight = 6.0
delay_ms = 0.2
[projections.IE]
source = "I"
target = "E"
rule = "fixed_probability"
p = 0.2
weight = 67.0
delay_ms = 0.1
[projections.II]
source = "I"
target = "I"
rule = "all_to_all"
weight = 20.0
delay_ms = 0.5
[projections.noiseE]
source = "noise"
target = "E"
rule = "fixed_probability"
p = 0.3
receptor = "exc"
weight = 3.0
delay_ms = 0.0
[projections.readout]
source = "E"
target = "out"
rule = "all_to_all"
weight = { dist = "normal", mean = 0.0, std = 0.1 }
delay_ms = 0.0
[inputs.driveI]
type = "poisson"
target = "I"
rate_hz = 500.0
weight = 2.0
receptor = "exc"
[inputs.pulse]
type = "current"
target = "E"
amplitude = 50.0
start_ms = 50.0
stop_ms = 80.0
[record]
spikes = "all"
flush_interval_ms = 30.0
[record.samples.E]
variables = ["V_m", "g_e"]
node_ids = [0, 100, 200, 201, 300, 402]
interval_ms = 0.3
[record.samples.out]
variables = ["y"]
[record.weights.EE]
times_ms = [0.0, 100.0, 200.0]
)";

std::filesystem::path shared_temp_dir(comm::Communicator& w) {
  std::string path;
  if (w.rank() == 0) {
    auto p = std::filesystem::temp_directory_path() / ("plexus-mpi-test-" + std::to_string(::getpid()));
    std::filesystem::create_directories(p);
    path = p.string();
  }
  w.broadcast(path, 0);
  return path;
}
}  // namespace

TEST_CASE("a distributed run equals the single-process run, neuron by neuron", "[mpi]") {
  auto& w = test::world();
  const auto net = model::Network::from_config(model::Config::parse(kNet, "net.toml"));
  sim::Simulation dist(net, w, {});
  test::run(dist);
  auto single = comm::make_single();
  sim::Options two_threads;
  two_threads.threads = 2;
  sim::Simulation ref(net, *single, two_threads);
  test::run(ref);
  for (const char* pop : {"E", "I", "noise"}) {
    INFO(pop);
    CHECK(dist.spike_count(pop) == ref.spike_count(pop));
  }
  CHECK(ref.spike_count("E") > 500);
  const auto local = partition::block(403, w.size(), w.rank());
  for (const char* var : {"V_m", "g_e", "g_i"}) {
    INFO(var);
    CHECK(std::memcmp(dist.variable("E", var), ref.variable("E", var) + local.begin,
                      local.size() * sizeof(double)) == 0);
  }
  // Readouts are held by every rank, identically.
  CHECK(std::memcmp(dist.variable("out", "y"), ref.variable("out", "y"), 2 * sizeof(double)) == 0);
}

TEST_CASE("the collectively written result file equals the one-process file", "[mpi]") {
  auto& w = test::world();
  const auto dir = shared_temp_dir(w);
  const auto net = model::Network::from_config(model::Config::parse(kNet, "net.toml"));
  {
    test::PlainOptions opt;
    opt.output = dir / "dist.h5";
    sim::Simulation s(net, w, opt);
    test::run(s, opt.output);
  }
  if (w.rank() == 0) {
    auto single = comm::make_single();
    test::PlainOptions opt;
    opt.output = dir / "ref.h5";
    test::run_plain(net, *single, opt);
    io::Reader a(dir / "dist.h5"), b(dir / "ref.h5");
    for (const std::string ds :
         {"/spikes/E/timestamps", "/spikes/E/node_ids", "/spikes/I/timestamps", "/spikes/I/node_ids",
          "/samples/E/V_m", "/samples/E/g_e", "/samples/E/times_ms", "/samples/out/y", "/weights/EE/values",
          "/weights/EE/source_ids", "/weights/EE/target_ids", "/weights/EE/times_ms"}) {
      INFO(ds);
      CHECK(a.info(ds).shape == b.info(ds).shape);
      CHECK(a.read_doubles(ds) == b.read_doubles(ds));
    }
    CHECK(a.info("/samples/E/V_m").shape == std::vector<std::uint64_t>{666, 6});
    CHECK(a.info("/weights/EE/values").shape[0] == 3);
    CHECK(a.attribute("/metadata", "ranks") == std::to_string(w.size()));
    const auto t = a.read_doubles("/spikes/E/timestamps");
    CHECK(std::is_sorted(t.begin(), t.end()));
    std::filesystem::remove_all(dir);
  }
  w.barrier();
}
