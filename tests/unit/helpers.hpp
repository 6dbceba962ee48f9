#pragma once
// Shared helpers for unit tests: networks from inline TOML, single neuron populations driven
// step by step, and temporary directories.
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "plexus/comm/communicator.hpp"
#include "plexus/model/network.hpp"
#include "plexus/neuron/population.hpp"
#include "plexus/sim/simulation.hpp"

namespace plexus::test {

inline model::Network network(const std::string& toml, const std::vector<std::string>& sets = {}) {
  return model::Network::from_config(model::Config::parse(toml, "test.toml", sets));
}

// One population of a model file, driven directly through its kernel.
struct Cells {
  model::Network net;
  std::unique_ptr<neuron::Population> pop;
  std::vector<std::vector<double>> in;  // per receptor
  std::vector<double> ext, z;
  Step t = 0;

  explicit Cells(const std::string& toml) : net(network(toml)) {
    const auto& spec = net.populations.at(0);
    const auto* info = neuron::Registry::get().find(spec.model);
    if (!info) throw std::runtime_error("unknown model " + spec.model);
    neuron::Setup s{spec, {0, spec.size}, net.run.dt_ms, net.run.seed, {}, {}};
    pop = info->make(s);
    in.assign(pop->receptors().size(), std::vector<double>(spec.size, 0.0));
    ext.assign(spec.size, 0.0);
    z.assign(spec.size, 0.0);
  }
  // Advances one step; returns whether neuron 0 spiked.
  bool step() {
    std::vector<double*> ptrs;
    for (auto& r : in) ptrs.push_back(r.data());
    pop->update(t++, 0, z.size(), ptrs.data(), ext.data(), z.data());
    return z[0] != 0.0;
  }
  double var(const std::string& name, std::size_t i = 0) const { return pop->variable(name)[i]; }
};

// A fresh directory under the system temp dir, removed at the end of the test.
struct TempDir {
  std::filesystem::path path;
  TempDir() {
    path = std::filesystem::temp_directory_path() /
           ("plexus-test-" + std::to_string(::getpid()) + "-" + std::to_string(counter()++));
    std::filesystem::remove_all(path);
    std::filesystem::create_directories(path);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  static int& counter() {
    static int c = 0;
    return c;
  }
};

}  // namespace plexus::test
