// Whole simulations in one process: thread invariance, inputs, relays, delays, files in and out.
#include <catch2/catch.hpp>
#include <cmath>
#include <cstring>

#include "helpers.hpp"
#include "plexus/io/result_file.hpp"
#include "support/plain_run.hpp"

using namespace plexus;

namespace {
const std::string kSmallCoba = R"(
[run]
duration_ms = 300.0
dt_ms = 0.1
[network]
seed = 5
[populations.E]
model = "lif_coba"
size = 320
dale = "excitatory"
params = { I_e_pA = 200.0 }
init = { V_m = { dist = "normal", mean = -55.0, std = 5.0 } }
[populations.I]
model = "lif_coba"
size = 80
dale = "inhibitory"
params = { I_e_pA = 200.0 }
init = { V_m = { dist = "normal", mean = -55.0, std = 5.0 } }
[projections.EE]
source = "E"
target = "E"
rule = "fixed_probability"
p = 0.2
weight = 6.0
delay_ms = { dist = "uniform", low = 0.1, high = 2.0 }
[projections.EI]
source = "E"
target = "I"
rule = "fixed_probability"
p = 0.2
weight = 6.0
delay_ms = 0.1
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
rule = "fixed_probability"
p = 0.2
weight = 67.0
delay_ms = 0.1
)";

struct RunResult {
  std::uint64_t spikes_E, spikes_I;
  std::vector<double> V;
};

RunResult run_threads(const std::string& toml, int threads) {
  auto net = test::network(toml);
  auto comm = comm::make_single();
  test::PlainOptions opt;
  opt.threads = threads;
  sim::Simulation s(net, *comm, opt);
  test::run(s, opt.output);
  const double* v = s.variable("E", "V_m");
  return {s.spike_count("E"), s.spike_count("I"), std::vector<double>(v, v + 320)};
}

std::vector<double> spike_times(const std::filesystem::path& file, const std::string& pop,
                                std::vector<std::uint64_t>* ids = nullptr) {
  io::Reader r(file);
  if (ids) *ids = r.read_u64("/spikes/" + pop + "/node_ids");
  return r.read_doubles("/spikes/" + pop + "/timestamps");
}
}  // namespace

TEST_CASE("results are identical for 1, 2 and 3 threads", "[simulation]") {
  const auto one = run_threads(kSmallCoba, 1);
  CHECK(one.spikes_E > 1000);  // the network is active
  for (int threads : {2, 3}) {
    const auto other = run_threads(kSmallCoba, threads);
    CHECK(other.spikes_E == one.spikes_E);
    CHECK(other.spikes_I == one.spikes_I);
    CHECK(std::memcmp(other.V.data(), one.V.data(), one.V.size() * sizeof(double)) == 0);
  }
}

TEST_CASE("independent Poisson drive: a parrot fires with probability 1 - exp(-lambda) per step",
          "[simulation]") {
  auto net = test::network(R"(
[run]
duration_ms = 1000.0
dt_ms = 1.0
[populations.P]
model = "parrot"
size = 200
[inputs.drive]
type = "poisson"
target = "P"
rate_hz = 300.0
weight = 1.0
)");
  auto comm = comm::make_single();
  sim::Simulation s(net, *comm, {});
  test::run(s);
  const double p = 1.0 - std::exp(-0.3), n = 200.0 * 1000.0;
  CHECK(std::fabs(static_cast<double>(s.spike_count("P")) - n * p) < 5 * std::sqrt(n * p * (1 - p)));
}

TEST_CASE("spike sources drive parrots through delays and readouts see spikes with delay 0", "[simulation]") {
  test::TempDir dir;
  // Connection list: src 0 -> relay 1 (delay 2 ms), src 1 -> relay 0 (delay 0.5 ms).
  {
    auto comm = comm::make_single();
    io::ResultFile f(dir.path / "conn.h5", *comm);
    const std::vector<std::uint64_t> src{0, 1}, tgt{1, 0};
    const std::vector<double> w{1.5, 2.5}, d{2.0, 0.5};
    f.write_replicated<std::uint64_t>("/source", src);
    f.write_replicated<std::uint64_t>("/target", tgt);
    f.write_replicated<double>("/weight", w);
    f.write_replicated<double>("/delay_ms", d);
    f.commit();
  }
  auto net = test::network(R"(
[run]
duration_ms = 50.0
dt_ms = 0.5
[populations.src]
model = "spike_source"
size = 2
params = { spike_times_ms = [[1.0, 10.0], [3.5]] }
[populations.relay]
model = "parrot"
size = 2
[populations.out]
model = "readout"
size = 1
params = { tau_out_ms = 5.0 }
[projections.in]
source = "src"
target = "relay"
rule = "from_file"
file = "CONN"
[projections.read]
source = "relay"
target = "out"
rule = "all_to_all"
weight = 2.0
delay_ms = 0.0
[record]
spikes = ["src", "relay"]
[record.samples.out]
variables = ["y"]
[record.weights.in]
times_ms = [0.0, 50.0]
)",
                           {"projections.in.file='" + (dir.path / "conn.h5").string() + "'"});
  auto comm = comm::make_single();
  test::PlainOptions opt;
  opt.output = dir.path / "out.h5";
  {
    sim::Simulation s(net, *comm, opt);
    test::run(s, opt.output);
  }
  CHECK(std::filesystem::exists(dir.path / "out.h5"));
  CHECK_FALSE(std::filesystem::exists(dir.path / "out.h5.partial"));

  std::vector<std::uint64_t> ids;
  const auto src = spike_times(dir.path / "out.h5", "src", &ids);
  CHECK(src == std::vector<double>{1.0, 3.5, 10.0});
  CHECK(ids == std::vector<std::uint64_t>{0, 1, 0});
  const auto relay = spike_times(dir.path / "out.h5", "relay", &ids);
  CHECK(relay == std::vector<double>{3.0, 4.0, 12.0});  // 1 + 2, 3.5 + 0.5, 10 + 2
  CHECK(ids == std::vector<std::uint64_t>{1, 0, 1});

  io::Reader r(dir.path / "out.h5");
  CHECK(r.read_doubles("/weights/in/values") == std::vector<double>{2.5, 1.5, 2.5, 1.5});  // by target
  CHECK(r.read_u64("/weights/in/target_ids") == std::vector<std::uint64_t>{0, 1});
  // The readout integrates relay spikes in the step they happen: y = (1 - kappa) * 2 at t = 3 ms.
  const auto y = r.read_doubles("/samples/out/y");
  const auto times = r.read_doubles("/samples/out/times_ms");
  REQUIRE(y.size() == 100);
  const double kappa = std::exp(-0.5 / 5.0);
  // Sample k is taken after step k, at time (k + 1) dt; the relay spike at step 6 (3.0 ms).
  CHECK(times[6] == 3.5);
  CHECK(y[5] == 0.0);
  CHECK(y[6] == Approx((1 - kappa) * 2.0).epsilon(1e-12));
  CHECK(y[7] == Approx(kappa * (1 - kappa) * 2.0).epsilon(1e-12));
  // The second relay spike (4.0 ms) is step 8.
  CHECK(y[8] == Approx(kappa * kappa * (1 - kappa) * 2.0 + (1 - kappa) * 2.0).epsilon(1e-12));
}

TEST_CASE("a current step acts only inside its window", "[simulation]") {
  test::TempDir dir;
  auto net = test::network(R"(
[run]
duration_ms = 30.0
dt_ms = 0.1
[populations.N]
model = "lif_cuba"
size = 3
params = { E_L_mV = -70.0, V_th_mV = 0.0, V_reset_mV = -70.0 }
[inputs.step]
type = "current"
target = "N"
node_ids = [1]
amplitude = 100.0
start_ms = 10.0
stop_ms = 20.0
[record.samples.N]
variables = ["V_m"]
node_ids = [0, 1]
)");
  auto comm = comm::make_single();
  test::PlainOptions opt;
  opt.output = dir.path / "step.h5";
  test::run_plain(net, *comm, opt);
  io::Reader r(dir.path / "step.h5");
  const auto v = r.read_doubles("/samples/N/V_m");  // 300 x 2
  REQUIRE(v.size() == 600);
  for (int k = 0; k < 300; ++k) REQUIRE(v[2 * k] == -70.0);  // neuron 0 has no input
  for (int k = 0; k < 100; ++k) REQUIRE(v[2 * k + 1] == -70.0);
  CHECK(v[2 * 100 + 1] > -70.0);
  const double at_stop = v[2 * 199 + 1];
  // 100 pA across 10 nS for 10 ms with tau_m = 20 ms (exact integration).
  CHECK(at_stop == Approx(-70.0 + 10.0 * (1 - std::exp(-10.0 / 20.0))).epsilon(1e-10));
  CHECK(v[2 * 299 + 1] < at_stop);  // decays after the step ends
}

TEST_CASE("recorded spikes can be replayed by a spike source", "[simulation]") {
  test::TempDir dir;
  {
    auto net =
        test::network(std::string(kSmallCoba) + "[record]\nspikes = [\"I\"]\n", {"run.duration_ms=100"});
    auto comm = comm::make_single();
    test::PlainOptions opt;
    opt.output = dir.path / "first.h5";
    test::run_plain(net, *comm, opt);
  }
  std::vector<std::uint64_t> ids_a, ids_b;
  const auto a = spike_times(dir.path / "first.h5", "I", &ids_a);
  REQUIRE(a.size() > 100);
  auto net = test::network(
      "[run]\nduration_ms = 100.0\ndt_ms = 0.1\n[populations.I]\nmodel = \"spike_source\"\nsize = 80\n"
      "params = { file = \"" +
      (dir.path / "first.h5").string() + "\" }\n[record]\nspikes = [\"I\"]\n");
  auto comm = comm::make_single();
  test::PlainOptions opt;
  opt.output = dir.path / "replay.h5";
  test::run_plain(net, *comm, opt);
  const auto b = spike_times(dir.path / "replay.h5", "I", &ids_b);
  CHECK(a == b);
  CHECK(ids_a == ids_b);
}
