// STDP on a distributed network: the weights written by 1, 2 or 4 ranks equal, bit for bit, those
// of one process with 1 and 2 threads (plastic synapses live on their target's rank; spike
// sources and recurrent neurons both drive plastic projections, with per-synapse delays).
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>

#include "plexus/io/result_file.hpp"
#include "plexus/model/network.hpp"
#include "plexus/sim/simulation.hpp"
#include "support/plain_run.hpp"
#include "world.hpp"

using namespace plexus;

namespace {
const std::string kPlastic = R"(
[run]
duration_ms = 200.0
dt_ms = 0.1
[network]
seed = 41
[populations.in]
model = "poisson_source"
size = 400
params = { rate_hz = 15.0 }
[populations.E]
model = "lif_coba"
size = 203
dale = "excitatory"
params = { I_e_pA = 300.0 }
init = { V_m = { dist = "uniform", low = -60.0, high = -50.0 } }
[populations.I]
model = "lif_coba"
size = 51
dale = "inhibitory"
[projections.inE]
source = "in"
target = "E"
rule = "fixed_probability"
p = 0.25
receptor = "exc"
weight = { dist = "uniform", low = 0.0, high = 2.0 }
delay_ms = { dist = "uniform", low = 0.1, high = 1.5 }
plasticity = { rule = "stdp", lambda = 0.02, alpha = 1.05, w_max = 2.0 }
[projections.EE]
source = "E"
target = "E"
rule = "fixed_probability"
p = 0.1
weight = { dist = "uniform", low = 0.0, high = 3.0 }
delay_ms = { dist = "uniform", low = 0.5, high = 2.5 }
plasticity = { rule = "stdp", lambda = 0.05, alpha = 1.1, mu_plus = 1.0, mu_minus = 1.0, w_max = 3.0 }
[projections.EI]
source = "E"
target = "I"
rule = "fixed_probability"
p = 0.2
weight = 3.0
delay_ms = 0.5
[projections.IE]
source = "I"
target = "E"
rule = "fixed_probability"
p = 0.2
weight = 10.0
delay_ms = 0.5
[record]
spikes = "all"
flush_interval_ms = 100.0
[record.weights.inE]
times_ms = [0.0, 100.0, 200.0]
[record.weights.EE]
times_ms = [0.0, 200.0]
)";

std::filesystem::path shared_dir(comm::Communicator& w) {
  std::string path;
  if (w.rank() == 0) {
    auto p = std::filesystem::temp_directory_path() / ("plexus-mpi-stdp-" + std::to_string(::getpid()));
    std::filesystem::create_directories(p);
    path = p.string();
  }
  w.broadcast(path, 0);
  return path;
}
}  // namespace

TEST_CASE("STDP weights are the same for any number of ranks and threads", "[mpi][stdp]") {
  auto& w = test::world();
  const auto dir = shared_dir(w);
  const auto net = model::Network::from_config(model::Config::parse(kPlastic, "stdp.toml"));
  {
    test::PlainOptions opt;
    opt.output = dir / "dist.h5";
    test::run_plain(net, w, opt);
  }
  if (w.rank() == 0) {
    io::Reader d(dir / "dist.h5");
    for (int threads : {1, 2}) {
      INFO(threads << " thread(s) in one process");
      auto single = comm::make_single();
      test::PlainOptions opt;
      opt.threads = threads;
      opt.output = dir / ("ref" + std::to_string(threads) + ".h5");
      test::run_plain(net, *single, opt);
      io::Reader r(*opt.output);
      for (const std::string ds : {"/weights/inE/values", "/weights/EE/values", "/weights/EE/source_ids",
                                   "/weights/EE/target_ids", "/spikes/E/timestamps", "/spikes/E/node_ids"}) {
        INFO(ds);
        CHECK(d.info(ds).shape == r.info(ds).shape);
        CHECK(d.read_doubles(ds) == r.read_doubles(ds));
      }
    }
    // The network is active and the weights moved.
    CHECK(d.info("/spikes/E/timestamps").shape[0] > 250);
    const auto v = d.read_doubles("/weights/EE/values");
    const std::size_t n = v.size() / 2;
    std::size_t changed = 0;
    for (std::size_t i = 0; i < n; ++i) changed += v[i] != v[n + i];
    CHECK(changed > n / 4);
    std::filesystem::remove_all(dir);
  }
  w.barrier();
}
