// network.scale (model/scale.hpp): which populations are scaled, and the overrides it makes.
#include <catch2/catch.hpp>
#include <cmath>

#include "helpers.hpp"
#include "plexus/model/scale.hpp"
#include "plexus/neuron/population.hpp"

using namespace plexus;

TEST_CASE("scale: the models left unscaled are exactly the registry's non-update models", "[scale]") {
  const auto& reg = neuron::Registry::get();
  for (const auto& name : reg.names()) {
    INFO(name);
    CHECK(model::scaled_model(name) == (reg.find(name)->phase == neuron::Phase::Update));
  }
}

TEST_CASE("scale: sizes, probabilities and all-to-all weights", "[scale]") {
  const std::string toml = R"(
[run]
dt_ms = 1.0
duration_ms = 1.0
[network]
seed = 3
[populations.src]
model = "poisson_source"
size = 10
params = { rate_hz = 5.0 }
[populations.E]
model = "lif"
size = 40
[populations.I]
model = "lif"
size = 10
[projections.sE]
source = "src"
target = "E"
rule = "all_to_all"
delay_ms = 1.0
weight = 0.5
[projections.EE]
source = "E"
target = "E"
rule = "fixed_probability"
delay_ms = 1.0
p = 0.4
weight = { dist = "normal", mean = 0.2, std = 0.1, min = 0.0 }
[projections.EI]
source = "E"
target = "I"
rule = "all_to_all"
delay_ms = 1.0
weight = { dist = "uniform", low = 0.1, high = 0.3 }
[projections.IE]
source = "I"
target = "E"
rule = "fixed_indegree"
delay_ms = 1.0
indegree = 4
weight = { dist = "lognormal", mu = 0.0, sigma = 0.5 }
[projections.II]
source = "I"
target = "I"
rule = "all_to_all"
delay_ms = 1.0
weight = -1.0
)";
  const auto base = test::network(toml);
  CHECK(model::scalable_neurons(base) == 50);
  const auto net = test::network(toml, {"network.scale=4"});
  CHECK(net.find_population("src")->size == 10);
  CHECK(net.find_population("E")->size == 160);
  CHECK(net.find_population("I")->size == 40);
  CHECK(net.total_neurons == 210);
  auto proj = [&](const model::Network& n, const char* name) {
    for (const auto& p : n.projections)
      if (p.name == name) return p;
    FAIL(name);
    return n.projections[0];
  };
  CHECK(proj(net, "sE").weight->a == 0.5);  // from an unscaled source: unchanged
  CHECK(proj(net, "EE").p == Approx(0.1));
  CHECK(proj(net, "EE").weight->a == Approx(0.2));  // in-degree held: weights unchanged
  CHECK(proj(net, "IE").indegree == 4);
  const auto ei = *proj(net, "EI").weight;  // in-degree x4: weights / 2
  CHECK(ei.kind == model::Distribution::Kind::Uniform);
  CHECK(ei.a == Approx(0.05));
  CHECK(ei.b == Approx(0.15));
  CHECK(proj(net, "II").weight->a == Approx(-0.5));
  // Probability held instead: fixed in-degrees grow, fixed_probability weights shrink.
  const auto p = test::network(toml, {"network.scale=4", "network.scale_keep=p"});
  CHECK(proj(p, "EE").p == 0.4);
  const auto ee = *proj(p, "EE").weight;
  CHECK(ee.a == Approx(0.1));
  CHECK(ee.b == Approx(0.05));
  REQUIRE(ee.min);
  CHECK(*ee.min == 0.0);
  CHECK(proj(p, "IE").indegree == 16);
  const auto ln = *proj(test::network(toml, {"network.scale=0.25", "network.scale_keep=p"}), "IE").weight;
  CHECK(ln.a == 0.0);  // IE's in-degree shrinks with the rule, so its weights stay
  // The recorded configuration reads back as the same scaled network, not scaled twice.
  const auto again = model::Network::from_config(
      model::Config::parse(net.config.source_text(), "test.toml", net.config.overrides()));
  CHECK(again.total_neurons == 210);
  CHECK_THROWS_AS(test::network(toml, {"network.scale=0"}), ConfigError);
  CHECK_THROWS_AS(test::network(toml, {"network.scale=2", "network.scale_keep=all"}), ConfigError);
}
