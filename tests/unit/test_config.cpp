// Model files: every error names file, line and key; overrides; the resolved configuration.
#include <catch2/catch.hpp>

#include "helpers.hpp"
#include "plexus/core/error.hpp"

using namespace plexus;
using Catch::Matchers::Contains;

namespace {
const std::string kBase = R"(
[run]
duration_ms = 10.0
dt_ms = 0.1

[populations.E]
model = "lif_coba"
size = 20
)";

std::string error_of(const std::string& toml, const std::vector<std::string>& sets = {}) {
  try {
    auto net = test::network(toml, sets);
    auto comm = comm::make_single();
    sim::Simulation s(net, *comm, {});
  } catch (const UserError& e) {
    return e.what();
  }
  return "";
}
}  // namespace

TEST_CASE("unknown keys are rejected with file, line, key and a suggestion", "[config]") {
  const std::string msg = error_of(kBase + "sise = 3\n");
  CHECK_THAT(msg, Contains("test.toml:9"));
  CHECK_THAT(msg, Contains("'populations.E.sise'"));
  CHECK_THAT(msg, Contains("did you mean 'size'"));
}

TEST_CASE("wrong types are rejected with their line", "[config]") {
  std::string toml = kBase;
  toml.replace(toml.find("size = 20"), 9, "size = \"twenty\"");
  const std::string msg = error_of(toml);
  CHECK_THAT(msg, Contains("test.toml:8"));
  CHECK_THAT(msg, Contains("'populations.E.size'"));
  CHECK_THAT(msg, Contains("expected an integer, found a string"));
}

TEST_CASE("out-of-range values are rejected", "[config]") {
  std::string toml = kBase;
  toml.replace(toml.find("dt_ms = 0.1"), 11, "dt_ms = -0.1");
  const std::string msg = error_of(toml);
  CHECK_THAT(msg, Contains("test.toml:4"));
  CHECK_THAT(msg, Contains("'run.dt_ms'"));
  CHECK_THAT(msg, Contains("out of range"));
}

TEST_CASE("a missing required key is named", "[config]") {
  const std::string msg = error_of("[run]\ndt_ms = 0.1\n[populations.E]\nmodel = \"lif\"\nsize = 1\n");
  CHECK_THAT(msg, Contains("'run.duration_ms'"));
  CHECK_THAT(msg, Contains("required key is missing"));
}

TEST_CASE("TOML syntax errors carry their line", "[config]") {
  const std::string msg = error_of(kBase + "[projections.x\nsource = \"E\"\n");
  CHECK_THAT(msg, Contains("test.toml:9"));
  CHECK_THAT(msg, Contains("syntax"));
}

TEST_CASE("text that is not UTF-8 is refused with its line before the TOML parser sees it", "[config]") {
  // Invalid UTF-8 in a multi-line literal string made toml11 read past its buffer (found by fuzzing).
  std::string msg = error_of(kBase + "[model]\ndescription = '''caf\xe9\n'''\n");
  CHECK_THAT(msg, Contains("test.toml:10"));
  CHECK_THAT(msg, Contains("not valid UTF-8 (byte 0xe9 at column 21)"));
  CHECK_THAT(error_of(kBase + "# \xed\xa0\x80 a surrogate\n"), Contains("not valid UTF-8"));
  CHECK_THAT(error_of(kBase + "# \xc0\xaf an overlong slash\n"), Contains("not valid UTF-8"));
  CHECK_THAT(error_of(kBase, {"model.description=caf\xe9"}), Contains("--set"));
  // Valid UTF-8, multi-byte characters included, passes.
  CHECK_NOTHROW(model::Config::parse(kBase + "# caf\xc3\xa9, \xe2\x82\xac, \xf0\x9f\xa7\xa0\n", "test.toml"));
}

TEST_CASE("deep nesting, long keys and huge texts are refused before the TOML parser sees them", "[config]") {
  // 6000 nested arrays crashed the parser (recursion); a 200-KB dotted key took minutes.
  const std::string nested =
      kBase + "\n[network]\nx = " + std::string(6000, '[') + std::string(6000, ']') + "\n";
  std::string msg = error_of(nested);
  CHECK_THAT(msg, Contains("test.toml:11"));
  CHECK_THAT(msg, Contains("nest more than 64 deep"));
  std::string tables = kBase + "\n[network]\nx = ";
  for (int i = 0; i < 3500; ++i) tables += "{ a = ";
  msg = error_of(tables + "1" + std::string(3500, '}') + "\n");
  CHECK_THAT(msg, Contains("nest more than 64 deep"));
  std::string dotted = "a";
  for (int i = 0; i < 40000; ++i) dotted += ".a";
  msg = error_of(kBase + dotted + " = 1\n");
  CHECK_THAT(msg, Contains("test.toml:9"));
  CHECK_THAT(msg, Contains("keys are limited to 1024 bytes"));
  msg = error_of(kBase + "[" + dotted.substr(0, 99) + "]\n");
  CHECK_THAT(msg, Contains("keys are limited to 32 parts"));
  msg = error_of(kBase, {dotted.substr(0, 2001) + "=1"});
  CHECK_THAT(msg, Contains("--set"));
  CHECK_THAT(msg, Contains("keys are limited to 1024 bytes"));
  msg = error_of(kBase + "# " + std::string(17u << 20, 'x') + "\n");
  CHECK_THAT(msg, Contains("more than the limit of 16 MiB"));
  // What the scan must not take for keys or nesting: brackets, dots and '=' in strings and comments,
  // multi-line strings and arrays, inline tables.
  const std::string fine = kBase + R"(
description = "a [ { . = ] text"  # a comment with [ { and = a.b.c
note = """
[[[[ not a header
a.b.c.d = 1
"""
lit = '[[x'
params = { tau_m_ms = 20.0, nested = { a = [1, [2, 3]] }, s = "}" }
list = [
  1, 2,
  3,
]
)";
  CHECK_NOTHROW(model::Config::parse(fine, "fine.toml"));
}

TEST_CASE("a missing model file is an error naming it", "[config]") {
  try {
    model::Config::load("no/such/model.toml");
    FAIL("no error");
  } catch (const ConfigError& e) {
    CHECK_THAT(std::string(e.what()), Contains("no/such/model.toml"));
    CHECK_THAT(std::string(e.what()), Contains("cannot open"));
  }
}

TEST_CASE("unknown neuron models and parameters are errors with their line", "[config]") {
  std::string toml = kBase;
  toml.replace(toml.find("\"lif_coba\""), 10, "\"lif_cobra\"");
  std::string msg = error_of(toml);
  CHECK_THAT(msg, Contains("test.toml:7"));
  CHECK_THAT(msg, Contains("unknown neuron model 'lif_cobra'"));
  CHECK_THAT(msg, Contains("lif_coba"));

  msg = error_of(kBase + "params = { tau_m_ms = 20.0, tau_mm_ms = 3.0 }\n");
  CHECK_THAT(msg, Contains("test.toml:9"));
  CHECK_THAT(msg, Contains("'populations.E.params.tau_mm_ms'"));
  CHECK_THAT(msg, Contains("did you mean 'tau_m_ms'"));

  msg = error_of(kBase + "params = { tau_m_ms = -20.0 }\n");
  CHECK_THAT(msg, Contains("'populations.E.params.tau_m_ms'"));
  CHECK_THAT(msg, Contains("out of range"));
}

TEST_CASE("overrides from the command line reach any key, with TOML values or bare words", "[config]") {
  auto net = test::network(kBase, {"run.duration_ms=500", "populations.E.model=lif_cuba", "network.seed=7",
                                   "populations.E.params.tau_m_ms=10"});
  CHECK(net.run.steps == 5000);
  CHECK(net.run.seed == 7);
  CHECK(net.populations[0].model == "lif_cuba");
  CHECK(net.populations[0].params->number("tau_m_ms") == 10.0);
}

TEST_CASE("bad overrides are reported against the option that gave them", "[config]") {
  std::string msg = error_of(kBase, {"network.seed=-1"});
  CHECK_THAT(msg, Contains("--set network.seed=-1"));
  CHECK_THAT(msg, Contains("'network.seed'"));
  msg = error_of(kBase, {"run.duration_ms.x=3"});
  CHECK_THAT(msg, Contains("not a table"));
  msg = error_of(kBase, {"nonsense"});
  CHECK_THAT(msg, Contains("KEY=VALUE"));
  msg = error_of(kBase, {"populations.E.colour=3"});
  CHECK_THAT(msg, Contains("'populations.E.colour'"));
  CHECK_THAT(msg, Contains("unknown key"));
}

TEST_CASE("Dale's law and delays are checked", "[config]") {
  const std::string two =
      kBase +
      "dale = \"excitatory\"\n[populations.I]\nmodel = \"lif_cuba\"\nsize = 5\ndale = \"inhibitory\"\n";
  std::string msg = error_of(two +
                             "[projections.p]\nsource = \"E\"\ntarget = \"I\"\nrule = "
                             "\"all_to_all\"\nreceptor = \"exc\"\nweight = -1.0\ndelay_ms = 1.0\n");
  CHECK_THAT(msg, Contains("'projections.p.weight'"));
  CHECK_THAT(msg, Contains("excitatory"));
  msg = error_of(two +
                 "[projections.p]\nsource = \"I\"\ntarget = \"I\"\nrule = \"all_to_all\"\nreceptor = "
                 "\"inh\"\nweight = 1.0\ndelay_ms = 1.0\n");
  CHECK_THAT(msg, Contains("inhibitory (Dale's law): weights must be <= 0"));
  msg = error_of(two +
                 "[projections.p]\nsource = \"I\"\ntarget = \"E\"\nrule = \"all_to_all\"\nreceptor = "
                 "\"exc\"\nweight = 1.0\ndelay_ms = 1.0\n");
  CHECK_THAT(msg, Contains("receptor 'exc' is excitatory"));
  msg = error_of(two +
                 "[projections.p]\nsource = \"E\"\ntarget = \"I\"\nrule = \"all_to_all\"\nreceptor = "
                 "\"exc\"\nweight = 1.0\ndelay_ms = 0.0\n");
  CHECK_THAT(msg, Contains("'projections.p.delay_ms'"));
  CHECK_THAT(msg, Contains("at least 1 step"));
  msg = error_of(two +
                 "[projections.p]\nsource = \"E\"\ntarget = \"I\"\nrule = \"fixed_indegree\"\nindegree = "
                 "30\nweight = 1.0\ndelay_ms = 1.0\n");
  CHECK_THAT(msg, Contains("exceeds the 20 available sources"));
  msg = error_of(two +
                 "[projections.p]\nsource = \"E\"\ntarget = \"X\"\nrule = \"all_to_all\"\nweight = "
                 "1.0\ndelay_ms = 1.0\n");
  CHECK_THAT(msg, Contains("no population named 'X'"));
}

TEST_CASE("distributions must stay inside the allowed range", "[config]") {
  const std::string msg =
      error_of(kBase +
               "[projections.p]\nsource = \"E\"\ntarget = \"E\"\nrule = \"all_to_all\"\nreceptor = \"exc\"\n"
               "weight = 1.0\ndelay_ms = { dist = \"normal\", mean = 1.0, std = 0.2 }\n");
  CHECK_THAT(msg, Contains("'projections.p.delay_ms'"));
  CHECK_THAT(msg, Contains("add 'min'/'max'"));
}

TEST_CASE("populations get gids in file order, also after a round trip of the resolved config", "[config]") {
  const std::string toml =
      "[run]\nduration_ms = 1.0\n[populations.zeta]\nmodel = \"lif\"\nsize = 3\n"
      "[populations.alpha]\nmodel = \"lif\"\nsize = 4\n";
  auto net = test::network(toml);
  REQUIRE(net.populations.size() == 2);
  CHECK(net.populations[0].name == "zeta");
  CHECK(net.populations[1].first_gid == 3);
  auto again = test::network(net.config.to_toml());
  CHECK(again.populations[0].name == "zeta");
  CHECK(again.populations[1].name == "alpha");
  CHECK(again.populations[1].first_gid == 3);
}
