#pragma once
// Neuron populations: state as one array per variable over the neurons a rank holds, advanced a
// step at a time by a kernel over a [begin, end) block of local neurons (one block per thread).
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "plexus/core/registry.hpp"
#include "plexus/core/types.hpp"
#include "plexus/model/network.hpp"
#include "plexus/neuron/double_exponential.hpp"
#include "plexus/partition/partition.hpp"

namespace plexus::neuron {

// When in the step a population is advanced (see sim/step.cpp for the whole schedule).
enum class Phase {
  Generator,  // phase 1: spike sources; computed on every rank, their spikes are never exchanged
  Update,     // phase 3: ordinary neurons, owned by one rank each
  Readout,    // phase 6: after the exchange, so they see this step's spikes (delay 0); every rank
};

// How a receptor treats weights: Current receptors take signed weights (Dale's law sets the sign);
// conductance receptors take magnitudes and must match the source population's sign.
enum class ReceptorKind { Current, Excitatory, Inhibitory };

struct Receptor {
  std::string name;
  ReceptorKind kind;
  std::string weight_unit;
};

// Spike times per neuron (population-local ids), for spike sources fed from files.
struct SpikeTrains {
  std::vector<std::vector<double>> times_ms;
};

struct Setup {
  const model::PopulationSpec& spec;
  partition::IdRange local;  // population-local ids held here
  double dt_ms;
  std::uint64_t seed;
  // Reads spike trains for `population` from an HDF5 file (provided by the simulation, which owns
  // the I/O); throws UserError if it cannot.
  std::function<SpikeTrains(const std::string& file, const std::string& population, const model::Node& where)>
      load_spike_trains;
  // Spikes of step t for neurons [begin, end) of this population, supplied from outside (a task's
  // trial inputs); only models that take external spikes ("task_input") use it.
  std::function<void(Step t, std::size_t begin, std::size_t end, double* z)> external_spikes;
  // Which trial this is (0 outside training): random sources mix it into their keys, so that every
  // trial draws new noise while trial i is the same on every rank and in every run.
  std::uint64_t trial = 0;
};

// What learning rules read from a learning-form neuron model (SPEC 1.1-1.3, 1.6). Pointers are
// into the model's arrays (per local neuron) and stay valid for the model's lifetime.
struct LearningView {
  double alpha = 0.0;            // membrane decay per step
  double rho = 0.0;              // adaptation decay per step (0 for LIF)
  double kappa = 0.0;            // readouts: output decay per step
  const double* beta = nullptr;  // adaptation strength per neuron (null: LIF, beta = 0)
  const double* psi = nullptr;   // pseudo-derivative of this step
  const double* y = nullptr;     // readouts: output of this step
  // e-prop's traces (SPEC 4.1) know only v and the threshold adaptation a; models with more state
  // (gif) set this false and train with D-RTRL or ES-D-RTRL, which read their Jacobians instead.
  bool eprop = true;
};

// One array of a model's state over the neurons held here (size() values), for checkpoints.
struct StateArray {
  std::string name;  // unique within the model
  std::variant<std::span<double>, std::span<std::int64_t>, std::span<std::uint64_t>> values;
};

class Population {
 public:
  virtual ~Population() = default;

  std::size_t size() const { return n_; }  // neurons held on this rank

  virtual std::span<const Receptor> receptors() const { return {}; }
  // Unit of external current inputs ([inputs] type = "current"); empty if the model takes none.
  virtual std::string current_unit() const { return {}; }
  // Names of the variables that can be recorded, and their arrays (size() values each).
  virtual std::vector<std::string> variables() const = 0;
  virtual const double* variable(std::string_view name) const = 0;
  // Unit of a variable, for the result file ("mV", "nS", "1" for dimensionless).
  virtual std::string unit(std::string_view name) const = 0;

  // Advances neurons [begin, end) by one step. `in[r]` is receptor r's input due this step, indexed
  // by local neuron; the kernel consumes it (reads and zeroes). `i_ext` is the external current
  // (zeros when there is none; null only for models without current_unit()). `spikes` holds the
  // previous step's spikes z (0.0 or 1.0) on entry and this step's on exit. Spikes are doubles so
  // that kernels vectorise (no mixed-width stores) and learning rules can use z arithmetically.
  virtual void update(Step t, std::size_t begin, std::size_t end, double* const* in, const double* i_ext,
                      double* spikes) = 0;

  // Every array that carries information from one step to the next: state variables, refractory
  // counters, generator cursors and counters (not parameters, nor values derived from the config
  // alone). A checkpoint saves exactly these; a model given back these arrays must continue bit for
  // bit. Pure virtual so that a new model cannot silently leave state out; tests/unit
  // test_checkpoint.cpp checks every registered model by restoring into a fresh instance.
  virtual std::vector<StateArray> state() = 0;

  // Bytes of neuron state held (for memory reports).
  virtual std::size_t state_bytes() const = 0;

  // Learning-form models (lif, alif) and readouts describe themselves to learning rules; others
  // return nothing and cannot be trained.
  virtual std::optional<LearningView> learning_view() const { return std::nullopt; }

  // The state Jacobian of a learning-form model (SPEC 4.2), for D-RTRL and ES-D-RTRL. The model's
  // S state variables h_j are named by jacobian_state() (empty: the model has none). After the
  // update of step t, jacobian() writes for local neurons [begin, end), neuron by neuron:
  //   D (S x S, row-major)  dh_j^t / dh_j^(t-1), own state only (other neurons' spikes are input),
  //                         including the paths through the neuron's own spike z_j^(t-1) (reset,
  //                         spike-triggered jumps), whose derivative is the pseudo-derivative;
  //   f (S)                 dh_j^t / dI_j^t, how the synaptic input enters the state;
  //   s (S)                 dz_j^t / dh_j^t, through the pseudo-derivative psi_j^t.
  // Written next to each model's step kernel, so that the two cannot drift apart; checked against
  // finite differences of the kernel in tests/unit/test_rtrl.cpp.
  virtual std::vector<std::string> jacobian_state() const { return {}; }
  virtual void jacobian(std::size_t /*begin*/, std::size_t /*end*/, double* /*D*/, double* /*f*/,
                        double* /*s*/) const {}

  // Models whose synaptic input is double-exponentially filtered (lif_force, izhikevich with
  // synapse = "double_exponential") give their filter, so that FORCE decodes the network's spikes
  // through the same kernel (learning/force.hpp); others return nothing.
  virtual std::optional<DoubleExponential> synaptic_filter() const { return std::nullopt; }

 protected:
  explicit Population(std::size_t n) : n_(n) {}
  std::size_t n_;
};

// What the engine must know about a model before building it.
struct ModelInfo {
  std::string name;
  std::string summary;
  Phase phase = Phase::Update;
  bool spiking = true;
  std::function<std::unique_ptr<Population>(const Setup&)> make;
};

// Models register themselves from their own source file (core/registry.hpp): a static
// `Registry::Add reg{{name, summary, phase, spiking, make}}` in the model's file.
using Registry = core::Registry<ModelInfo>;

// Reads a model's parameters, remembering which keys were asked for so that finish() can reject
// unknown ones (with file, line and key).
class Params {
 public:
  Params(const model::PopulationSpec& spec);
  double number(std::string_view key, double def, model::Range r = model::Range::any());
  std::int64_t integer(std::string_view key, std::int64_t def, model::Range r = model::Range::any());
  bool has(std::string_view key) const;
  std::optional<model::Node> node(std::string_view key);  // raw access (marks the key as known)
  [[noreturn]] void fail(std::string_view key, const std::string& message) const;
  void finish();

 private:
  const model::PopulationSpec& spec_;
  std::vector<std::string> known_;
};

// Initial values of state variables: `init.<var>` of the population (number or distribution,
// drawn per neuron keyed by gid) or `def`. Rejects init keys that are not in `allowed`.
class InitialState {
 public:
  InitialState(const Setup& s, const std::vector<std::string>& allowed);
  void fill(const std::string& var, double def, std::vector<double>& out) const;

 private:
  const Setup& setup_;
};

// Integer steps for a duration, at least `min_steps`.
std::int64_t steps_of(double ms, double dt_ms);

}  // namespace plexus::neuron
