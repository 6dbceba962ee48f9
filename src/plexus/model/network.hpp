#pragma once
// The network description: what the network, its inputs and its recordings are, as read from a
// model file. A pure function of the configuration; it knows nothing of ranks or threads.
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "plexus/core/types.hpp"
#include "plexus/model/config.hpp"
#include "plexus/model/distribution.hpp"

namespace plexus::model {

enum class Dale { None, Excitatory, Inhibitory };

struct PopulationSpec {
  int index = 0;
  std::string name;
  std::string model;  // neuron model name, checked against the neuron registry when built
  Gid size = 0;
  Gid first_gid = 0;  // gids [first_gid, first_gid + size)
  Dale dale = Dale::None;
  std::optional<Node> params;  // model parameters, validated by the model itself
  std::optional<Node> init;    // initial state: variable -> number or distribution
  Node node;
};

enum class ConnectRule { AllToAll, FixedProbability, FixedIndegree, FromFile };

struct ProjectionSpec {
  int index = 0;
  std::string name;
  int source = 0;  // population indices
  int target = 0;
  ConnectRule rule = ConnectRule::AllToAll;
  double p = 0.0;
  std::int64_t indegree = 0;
  bool autapses = false;
  bool multapses = false;
  std::filesystem::path file;            // from_file: HDF5 with source, target[, weight, delay_ms]
  std::optional<Distribution> weight;    // unset: taken from the file
  std::optional<Distribution> delay_ms;  // unset: taken from the file
  std::string receptor;                  // empty: the target model's default receptor
  std::optional<Node> plasticity;        // plasticity rule and parameters (read by the synapse module)
  bool zero_mean_rows = false;           // shift each target's incoming weights to zero mean
  Node node;
};

enum class InputKind { Poisson, Current };

// Inputs that act on neurons directly, with no gid of their own: an independent Poisson train per
// target neuron (as NEST's poisson_generator connected to each), or a current step.
struct InputSpec {
  int index = 0;
  std::string name;
  InputKind kind = InputKind::Poisson;
  int target = 0;
  std::vector<Gid> node_ids;  // population-local ids; empty means all
  double rate_hz = 0.0;       // poisson
  double weight = 0.0;        // poisson: added to the receptor per input spike
  std::string receptor;       // poisson
  double amplitude = 0.0;     // current, in the target model's current unit
  double start_ms = 0.0;
  double stop_ms = 0.0;  // <= 0: until the end
  Node node;
};

struct SampleSpec {
  int population = 0;
  std::vector<std::string> variables;
  std::vector<Gid> node_ids;  // population-local, sorted
  std::int64_t interval_steps = 1;
  Node node;
};

struct WeightRecordSpec {
  int projection = 0;
  std::vector<Step> steps;  // snapshot taken before the step with this index (end: after the last)
  Node node;
};

struct RecordSpec {
  bool spikes_all = true;              // every spiking population that is not a generator
  std::vector<int> spike_populations;  // explicit list (when spikes_all is false)
  Step flush_interval_steps = 1000;
  std::vector<SampleSpec> samples;
  std::vector<WeightRecordSpec> weights;
};

struct RunSpec {
  double dt_ms = 0.1;
  double duration_ms = 0.0;
  Step steps = 0;
  std::uint64_t seed = 0;
};

class Network {
 public:
  // Reads and checks everything that does not depend on a neuron model's own parameters.
  static Network from_config(Config config);

  Config config;
  std::string name;  // model name (file stem unless [model] name is given)
  RunSpec run;
  std::vector<PopulationSpec> populations;
  std::vector<ProjectionSpec> projections;
  std::vector<InputSpec> inputs;
  RecordSpec record;
  std::optional<Node> task;   // [task]: trial generator (task module)
  std::optional<Node> train;  // [train]: learning rule and schedule (sim::Trainer)
  Gid total_neurons = 0;

  int population_of(Gid gid) const;
  const PopulationSpec* find_population(const std::string& name) const;
  Step ms_to_steps(double ms) const;
  // Time of step t in ms. Divides by the number of steps per ms when that is a whole number, so
  // that step 9999 at dt = 0.1 ms is 999.9 ms, not 999.9000000000001.
  double step_to_ms(Step t) const;
};

}  // namespace plexus::model
