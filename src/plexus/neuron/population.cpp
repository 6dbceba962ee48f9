#include "plexus/neuron/population.hpp"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "plexus/core/rng.hpp"
#include "plexus/model/distribution.hpp"

namespace plexus::neuron {

// ----------------------------------------------------------------------------------------------
Params::Params(const model::PopulationSpec& spec) : spec_(spec) {}

bool Params::has(std::string_view key) const {
  return spec_.params && spec_.params->has(key);
}

std::optional<model::Node> Params::node(std::string_view key) {
  known_.emplace_back(key);
  if (!spec_.params) return std::nullopt;
  return spec_.params->find(key);
}

double Params::number(std::string_view key, double def, model::Range r) {
  auto n = node(key);
  return n ? n->as_number(r) : def;
}

std::int64_t Params::integer(std::string_view key, std::int64_t def, model::Range r) {
  auto n = node(key);
  return n ? n->as_integer(r) : def;
}

void Params::fail(std::string_view key, const std::string& message) const {
  if (spec_.params && spec_.params->has(key)) spec_.params->at(key).fail(message);
  if (spec_.params) spec_.params->fail(fmt::format("{} ('{}')", message, key));
  spec_.node.fail(fmt::format("{} ('params.{}')", message, key));
}

void Params::finish() {
  if (spec_.params) spec_.params->allow_only(known_);
}

// ----------------------------------------------------------------------------------------------
namespace {
std::uint64_t name_key(const std::string& s) {  // FNV-1a: stable across runs and builds
  std::uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
  return h;
}
}  // namespace

InitialState::InitialState(const Setup& s, const std::vector<std::string>& allowed) : setup_(s) {
  if (s.spec.init) s.spec.init->allow_only(allowed);
}

void InitialState::fill(const std::string& var, double def, std::vector<double>& out) const {
  out.assign(setup_.local.size(), def);
  if (!setup_.spec.init || !setup_.spec.init->has(var)) return;
  const auto d = model::Distribution::parse(setup_.spec.init->at(var));
  for (Gid i = 0; i < setup_.local.size(); ++i) {
    const Gid gid = setup_.spec.first_gid + setup_.local.begin + i;
    rng::Stream s(setup_.seed, rng::Purpose::InitialState, gid, name_key(var));
    out[i] = d.sample(s);
  }
}

std::int64_t steps_of(double ms, double dt_ms) {
  return static_cast<std::int64_t>(std::llround(ms / dt_ms));
}

}  // namespace plexus::neuron
