// Checkpoints: every neuron model gives back all of its state (restored into a fresh instance it
// continues bit for bit), and a whole simulation stopped at step k and resumed from its checkpoint
// (on another thread count) ends in the same state as one run without a break. Also the run shell's
// duration formatter.
#include <catch2/catch.hpp>
#include <cstring>
#include <fstream>
#include <map>
#include <variant>

#include "helpers.hpp"
#include "plexus/checkpoint/checkpoint.hpp"
#include "plexus/core/rng.hpp"
#include "plexus/train/experiment.hpp"
#include "plexus/train/shell.hpp"
#include "support/plain_run.hpp"

using namespace plexus;

namespace {

// One population per registered model, with inputs strong enough to make it spike (so refractory
// counters and the like are exercised). A model missing here fails the first test case.
struct ModelCase {
  std::string population;  // [populations.P] body
  double input_scale;      // per receptor input per step: uniform [0, scale)
  double current_scale;    // external current: uniform [0, scale)
};
const std::map<std::string, ModelCase>& cases() {
  static const std::map<std::string, ModelCase> c = {
      {"lif_coba", {"model = \"lif_coba\"\nparams = { I_e_pA = 150.0 }", 8.0, 100.0}},
      {"lif_cuba", {"model = \"lif_cuba\"\nparams = { I_e_pA = 150.0 }", 300.0, 100.0}},
      {"lif_delta", {"model = \"lif_delta\"", 2.0, 300.0}},
      {"izhikevich", {"model = \"izhikevich\"", 400.0, 200.0}},
      {"lif", {"model = \"lif\"", 0.15, 0.1}},
      {"alif", {"model = \"alif\"\nparams = { lif_cells = 3 }", 0.15, 0.1}},
      {"gif", {"model = \"gif\"\nparams = { lif_cells = 3, current_jump = -0.05 }", 0.15, 0.1}},
      {"readout", {"model = \"readout\"", 1.0, 0.5}},
      {"poisson_source", {"model = \"poisson_source\"\nparams = { rate_hz = 200.0 }", 0.0, 0.0}},
      {"spike_source",
       {"model = \"spike_source\"\nparams = { spike_times_ms = [[1.0, 5.0, 40.0, 41.0], [2.0], [], [30.1, "
        "55.5], "
        "[0.0], [10.0, 20.0, 30.0, 40.0, 50.0], [7.0], [33.0]] }",
        0.0, 0.0}},
      {"parrot", {"model = \"parrot\"", 1.0, 0.0}},
      {"task_input", {"model = \"task_input\"", 0.0, 0.0}},
      {"lif_force", {"model = \"lif_force\"", 2.0, 30.0}},
      {"tempotron", {"model = \"tempotron\"", 0.3, 0.0}},
  };
  return c;
}

constexpr Gid kN = 8;

struct Driven {
  model::Network net;
  std::unique_ptr<neuron::Population> pop;
  std::vector<std::vector<double>> in;
  std::vector<double> ext, z;
  std::uint64_t spikes = 0;

  Driven(const std::string& name, const ModelCase& c)
      : net(test::network("[run]\nduration_ms = 100.0\n[network]\nseed = 3\n[populations.P]\nsize = " +
                          std::to_string(kN) + "\n" + c.population + "\n")) {
    const auto& spec = net.populations.at(0);
    neuron::Setup s{spec, {0, spec.size}, net.run.dt_ms, net.run.seed, {}, {}};
    pop = neuron::Registry::get().find(name)->make(s);
    in.assign(pop->receptors().size(), std::vector<double>(kN, 0.0));
    ext.assign(kN, 0.0);
    z.assign(kN, 0.0);
  }
  // The same input for every instance at step t (keyed by t and neuron).
  void step(Step t, const ModelCase& c) {
    std::vector<double*> ptrs;
    for (std::size_t r = 0; r < in.size(); ++r) {
      for (Gid i = 0; i < kN; ++i) {
        rng::Stream s(11, rng::Purpose::Task, static_cast<std::uint64_t>(t), i, r);
        in[r][i] = c.input_scale * s.uniform();
      }
      ptrs.push_back(in[r].data());
    }
    for (Gid i = 0; i < kN; ++i) {
      rng::Stream s(12, rng::Purpose::Task, static_cast<std::uint64_t>(t), i);
      ext[i] = c.current_scale * s.uniform();
    }
    pop->update(t, 0, kN, ptrs.data(), ext.data(), z.data());
    for (double x : z) spikes += x != 0.0;
  }
  // Every state array as bytes, by name.
  std::map<std::string, std::string> bytes() {
    std::map<std::string, std::string> out;
    for (const auto& a : pop->state())
      std::visit(
          [&](auto span) {
            out[a.name] = std::string(reinterpret_cast<const char*>(span.data()), span.size_bytes());
          },
          a.values);
    out["z"] = std::string(reinterpret_cast<const char*>(z.data()), z.size() * sizeof(double));
    return out;
  }
};

void copy_state(Driven& from, Driven& to) {
  auto src = from.pop->state();
  auto dst = to.pop->state();
  REQUIRE(src.size() == dst.size());
  for (std::size_t i = 0; i < src.size(); ++i) {
    REQUIRE(src[i].name == dst[i].name);
    REQUIRE(src[i].values.index() == dst[i].values.index());
    std::visit(
        [&](auto s) {
          auto d = std::get<decltype(s)>(dst[i].values);
          REQUIRE(d.size() == s.size());
          REQUIRE(s.size() == kN);
          std::memcpy(d.data(), s.data(), s.size_bytes());
        },
        src[i].values);
  }
  to.z = from.z;
}

}  // namespace

TEST_CASE("every registered neuron model restores all of its state", "[checkpoint]") {
  for (const auto& name : neuron::Registry::get().names()) {
    INFO("model " << name);
    const auto it = cases().find(name);
    // A new model must be added to cases() above, so that its state() is checked.
    REQUIRE(it != cases().end());
    const auto& c = it->second;
    Driven a(name, c), b(name, c), fresh(name, c);
    const Step k = 300, n = 400;
    for (Step t = 0; t < k; ++t) a.step(t, c);
    const bool spiking = neuron::Registry::get().find(name)->spiking && name != "task_input";
    if (spiking) CHECK(a.spikes > 5);  // the drive is strong enough to exercise spike-related state
    copy_state(a, b);
    copy_state(a, fresh);
    // `fresh` is a control: it gets the state and then loses it again, to show the comparison sees
    // a difference when state is missing.
    const auto before = fresh.bytes();
    Driven reset(name, c);
    copy_state(reset, fresh);
    bool diverged = false;
    for (Step t = k; t < k + n; ++t) {
      a.step(t, c);
      b.step(t, c);
      fresh.step(t, c);
      REQUIRE(a.bytes() == b.bytes());
      diverged = diverged || fresh.bytes() != a.bytes();
    }
    // (A spike source's cursor catches up with the step by itself, so losing it shows no difference.)
    if (!a.pop->state().empty() && name != "spike_source") CHECK(diverged);
    (void)before;
  }
}

namespace {
// Several models, delays of many steps, Poisson sources and drives, and a current step that starts
// after the checkpoint.
const std::string kNet = R"(
[run]
duration_ms = 60.0
dt_ms = 0.1
[network]
seed = 9
[populations.src]
model = "poisson_source"
size = 20
params = { rate_hz = 80.0 }
[populations.E]
model = "lif_coba"
size = 60
dale = "excitatory"
params = { I_e_pA = 220.0 }
init = { V_m = { dist = "uniform", low = -60.0, high = -50.0 } }
[populations.I]
model = "lif_cuba"
size = 20
dale = "inhibitory"
params = { I_e_pA = 180.0 }
[populations.Z]
model = "izhikevich"
size = 10
[populations.A]
model = "alif"
size = 10
[populations.out]
model = "readout"
size = 2
[projections.sE]
source = "src"
target = "E"
rule = "fixed_probability"
p = 0.3
weight = 3.0
receptor = "exc"
delay_ms = { dist = "uniform", low = 0.0, high = 2.0 }
[projections.EE]
source = "E"
target = "E"
rule = "fixed_probability"
p = 0.2
weight = 2.0
delay_ms = { dist = "uniform", low = 0.1, high = 3.0 }
[projections.EI]
source = "E"
target = "I"
rule = "fixed_indegree"
indegree = 10
weight = 40.0
delay_ms = 1.3
[projections.IE]
source = "I"
target = "E"
rule = "fixed_probability"
p = 0.3
weight = 20.0
delay_ms = 0.7
[projections.EZ]
source = "E"
target = "Z"
rule = "fixed_probability"
p = 0.3
weight = 200.0
delay_ms = 2.5
[projections.EA]
source = "E"
target = "A"
rule = "fixed_probability"
p = 0.3
weight = 0.3
delay_ms = 0.4
[projections.Aout]
source = "A"
target = "out"
rule = "all_to_all"
weight = 0.5
delay_ms = 0.0
[inputs.drive]
type = "poisson"
target = "I"
rate_hz = 2000.0
weight = 30.0
receptor = "exc"
[inputs.step]
type = "current"
target = "Z"
amplitude = 300.0
start_ms = 35.0
stop_ms = 50.0
)";

struct Final {
  std::map<std::string, std::uint64_t> spikes;
  std::map<std::string, std::vector<double>> vars;
};

Final final_state(sim::Simulation& s, const model::Network& net) {
  Final f;
  for (const auto& p : net.populations) {
    f.spikes[p.name] = s.spike_count(p.name);
    const auto* info = neuron::Registry::get().find(p.model);
    neuron::Setup setup{p, {0, p.size}, net.run.dt_ms, net.run.seed, {}, {}};
    for (const auto& v : info->make(setup)->variables()) {
      const double* x = s.variable(p.name, v);
      f.vars[p.name + "." + v] = std::vector<double>(x, x + p.size);
    }
  }
  return f;
}
}  // namespace

// The engine's state as a checkpoint component: saved at step k on two threads, loaded into a fresh
// simulation on three, which then ends exactly where an uninterrupted run does.
TEST_CASE("a simulation stopped at step k and resumed on another thread count ends bit-identical",
          "[checkpoint]") {
  const auto net = test::network(kNet);
  auto comm = comm::make_single();
  sim::Options plain;
  plain.threads = 1;
  sim::Simulation whole(net, *comm, plain);
  test::run(whole);
  const auto expected = final_state(whole, net);
  CHECK(expected.spikes.at("E") > 40);
  CHECK(expected.spikes.at("Z") > 10);

  for (Step k : {Step(1), Step(237), Step(599)}) {
    INFO("checkpoint at step " << k);
    test::TempDir dir;
    sim::Options first = plain;
    first.threads = 2;
    {
      sim::Simulation a(net, *comm, first);
      a.run_until(k);
      REQUIRE(a.now() == k);
      checkpoint::Manifest m;
      m.step = k;
      m.config_toml = net.config.to_toml();
      checkpoint::write(dir.path, 2, m, *comm, [&](checkpoint::Writer& w) { a.checkpoint_state().save(w); });
    }
    const auto path = checkpoint::locate(dir.path);
    checkpoint::Snapshot snap(path, *comm);
    CHECK(snap.manifest().step == k);
    sim::Options second = plain;
    second.threads = 3;
    sim::Simulation b(net, *comm, second);
    b.checkpoint_state().load(snap.reader());
    CHECK(b.now() == k);
    test::run(b);
    const auto got = final_state(b, net);
    CHECK(got.spikes == expected.spikes);
    for (const auto& [key, v] : expected.vars) {
      INFO(key);
      CHECK(std::memcmp(got.vars.at(key).data(), v.data(), v.size() * sizeof(double)) == 0);
    }
  }
}

TEST_CASE("checkpoint directories: newest found, only the last K kept, damaged manifests refused",
          "[checkpoint]") {
  const auto net = test::network(kNet);
  auto comm = comm::make_single();
  test::TempDir dir;
  train::ShellOptions o;
  o.quiet = true;
  o.checkpoint_dir = dir.path / "ck";
  o.checkpoint_every = "10ms";
  o.checkpoint_keep = 2;
  o.output = dir.path / "run.h5";
  REQUIRE(train::start(*train::ExperimentRegistry::get().find("simulate"), net, *comm, o) == kExitOk);
  const auto all = checkpoint::list(o.checkpoint_dir);
  REQUIRE(all.size() == 2);
  CHECK(all[0].filename() == checkpoint::directory_name(400));
  CHECK(all[1].filename() == checkpoint::directory_name(500));
  CHECK(checkpoint::locate(o.checkpoint_dir) == all[1]);
  CHECK(std::filesystem::exists(o.checkpoint_dir / "finished"));

  // A manifest cut short or with one byte changed is refused.
  const auto manifest = all[1] / "manifest.txt";
  std::string text;
  {
    std::ifstream in(manifest, std::ios::binary);
    text.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  auto write = [&](const std::string& t) {
    std::ofstream out(manifest, std::ios::binary | std::ios::trunc);
    out << t;
  };
  write(text.substr(0, text.size() - 10));
  CHECK_THROWS_AS(checkpoint::read_manifest(all[1]), UserError);
  std::string flipped = text;
  flipped[flipped.size() / 2] ^= 0x20;
  write(flipped);
  CHECK_THROWS_AS(checkpoint::read_manifest(all[1]), UserError);
  write(text);
  CHECK(checkpoint::read_manifest(all[1]).step == 500);
}

// The ETA of the progress lines: rounding to whole seconds comes before splitting into minutes and
// hours, so a carry never shows as "60" in a lower field ("1m60s").
TEST_CASE("human_seconds rounds before it splits into minutes and hours", "[shell]") {
  CHECK(train::human_seconds(0.0) == "0s");
  CHECK(train::human_seconds(-3.0) == "0s");
  CHECK(train::human_seconds(42.4) == "42s");
  CHECK(train::human_seconds(59.6) == "1m00s");
  CHECK(train::human_seconds(119.6) == "2m00s");
  CHECK(train::human_seconds(185.0) == "3m05s");
  CHECK(train::human_seconds(3599.6) == "1h00m");
  CHECK(train::human_seconds(7620.0) == "2h07m");
}
