#pragma once
// Gradient-based online learning rules (SPEC 4.1, 4.2) see the simulation through this
// narrow view: the plastic projections a rank owns, the populations they target, and, every step,
// the spikes of that step and the learning signals. The gradient driver (train/gradient/) forms the
// signals from the readouts. Nothing a rule keeps grows with the trial length.
//
// Trials are instances over shared weights (several may run at once, on threads and on groups of
// ranks). A rule is therefore two parts:
//   Rule   one per rank, shared by the batch: the index of the plastic synapses, the optimiser's
//          moments, and the batch's gradient, the sum of the trials' gradients over a fixed tree of
//          the trial numbers (tree_sum.hpp), so that it does not depend on who computed which trial;
//          it changes the weights at the end of a batch;
//   Trial  one per trial being run: eligibility traces (or ES factors, filters) and the trial's own
//          gradient, which Rule::add() takes when the trial ends.
//
// Rules register themselves from their own file (RuleRegistry::Add, below), with their own
// settings keys and the cell models they can train; docs/extending.md says how to add one.
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "plexus/comm/communicator.hpp"
#include "plexus/core/registry.hpp"
#include "plexus/core/types.hpp"
#include "plexus/learning/optimizer.hpp"
#include "plexus/model/config.hpp"
#include "plexus/neuron/population.hpp"
#include "plexus/partition/partition.hpp"
#include "plexus/synapse/projection.hpp"

namespace plexus::learning {

enum class SignRule { Any, NonNegative, NonPositive };  // Dale's law keeps a weight's sign
enum class Precision { Float32, Float64 };              // of traces, gradients and moments

// A population whose incoming synapses are trained, as held on this rank.
struct Target {
  int population = 0;
  Gid first_gid = 0;  // of the population
  partition::IdRange local;
  std::vector<partition::IdRange> blocks;  // local index ranges, one per thread block
  bool readout = false;
};

// A plastic projection (its synapses onto this rank's neurons of the target).
struct Plastic {
  int projection = 0;
  synapse::Projection* synapses = nullptr;
  int target = 0;  // index into Context::targets
  Gid source_first_gid = 0, source_size = 0;
  Step delay = 0;  // one delay for all synapses (one presynaptic trace per source)
  SignRule sign = SignRule::Any;
  double lr_scale = 1.0;  // this projection's learning rate relative to the optimiser's
};

// What every rule needs to know of the run.
struct Context {
  std::vector<Target> targets;
  std::vector<Plastic> plastic;
  double readout_kappa = 0.0;  // decay of the readout neurons (exact readout gradient)
  double filter_kappa = 0.0;   // low-pass filter of the eligibility traces (0: none)
  bool adam = true;
  Precision precision = Precision::Float32;
};

// The models of a trial's populations, as they are now (the simulation makes them anew for every
// trial, and each trial instance has its own): a Trial asks again at the start of each trial.
using Models = std::function<const neuron::Population&(int population)>;

// What the objective asks of a rule beyond the gradient of a loss: reward-based learning (SPEC 4.3)
// keeps the per-synapse filter F_gamma of L_j ebar_ji and accumulates delta^t F (eprop_kernels.hpp,
// reward_row), with `discount` the gamma of the TD error.
struct Needs {
  bool reward = false;
  double discount = 0.0;
};

// A rule's own [train] settings, read with the run's precedence (the rule's [train.<rule>] table
// over [train], command-line overrides over the file: train/gradient/settings.hpp). Bad values are
// ConfigErrors naming the key.
class Settings {
 public:
  virtual ~Settings() = default;
  virtual double number_or(std::string_view key, double def, model::Range r) const = 0;
};

// What every thread reads at one step.
struct Signals {
  // Learning signals per local neuron of each non-readout target, [target][local index]:
  // L_j^t of losses on the readout (multiplies the filtered eligibility trace), and R_j^t of losses
  // on the spikes themselves (rate regularisation; multiplies the unfiltered trace).
  const std::vector<std::vector<double>>* L = nullptr;
  const std::vector<std::vector<double>>* R = nullptr;
  // dE/dy_k^t per readout neuron k, for the exact readout gradient.
  const double* err = nullptr;
  // False when that signal is zero for every neuron this step (L_active also covers err).
  bool L_active = false, R_active = false;
  // Reward mode (Needs::reward): the TD error of the previous step delta^(t-1), scaled; the
  // entropy-bonus learning signals per local neuron [target][local index] and dE_H/dy_k per readout
  // neuron (direct gradients). reward_active: anything to do this step (delta, L or H non-zero).
  double delta = 0.0;
  const std::vector<std::vector<double>>* H = nullptr;
  const double* err_h = nullptr;
  bool reward_active = false, H_active = false;
};

// A synapse value in id terms: population-local source and target ids.
struct SynapseValue {
  std::uint64_t source = 0, target = 0;
  double value = 0.0;
};

// Bytes of learning state on this rank, by what they scale with.
struct MemoryUse {
  std::uint64_t per_synapse = 0;         // traces, gradients, optimiser moments, partial sums
  std::uint64_t per_synapse_traces = 0;  // of which eligibility traces (0 for ES-D-RTRL)
  std::uint64_t per_neuron = 0;          // per target neuron (previous pseudo-derivatives, ...)
  std::uint64_t per_source = 0;          // presynaptic traces
  std::uint64_t index = 0;               // target-major source index of the plastic synapses
  std::uint64_t synapses = 0;            // plastic synapses counted
  std::uint64_t total() const { return per_synapse + per_neuron + per_source + index; }
  MemoryUse& operator+=(const MemoryUse& o) {
    per_synapse += o.per_synapse;
    per_synapse_traces += o.per_synapse_traces;
    per_neuron += o.per_neuron;
    per_source += o.per_source;
    index += o.index;
    return *this;  // (synapses: counted once, by the shared part)
  }
};

// One trial's part of a rule: its traces and its gradient. A trial instance is advanced by one
// thread at a time (its own), or by every thread for its own block.
class Trial {
 public:
  virtual ~Trial() = default;
  // Traces and this trial's gradient back to zero.
  virtual void begin_trial() = 0;
  // Once per step, after the readouts: `spikes` holds every spike of step t (network and inputs),
  // sorted by gid.
  virtual void serial(Step t, std::span<const Gid> spikes) = 0;
  // Each thread block of target neurons, after serial().
  virtual void parallel(Step t, int block, const Signals& s) = 0;
  // After the last step of a learning trial: what a rule defers (ES-D-RTRL adds its gradient in
  // chunks of steps) is added now.
  virtual void end_trial() {}
  // Bytes of this instance (readout synapses' only if `replicated`: every rank holds them).
  virtual MemoryUse memory(bool replicated) const = 0;
};

// The shared part of a rule, one per rank.
class Rule {
 public:
  virtual ~Rule() = default;
  // A trial instance reading the populations through `models`.
  virtual std::unique_ptr<Trial> make_trial(const Models& models) const = 0;
  // A new batch of `trials` trials (the partial sums of the last one are dropped).
  virtual void begin_batch(std::uint64_t trials) = 0;
  // Trial k of the batch has ended: its gradient joins the batch's (and the trial's is zero again).
  // From any thread and in any order of k; the batch's sum does not depend on either.
  virtual void add(std::uint64_t k, Trial& trial) = 0;
  // Completes the batch's gradient: the partial sums of the other batch groups come over `across`
  // (the ranks holding the same synapses in every group, in group order; null: one group).
  virtual void complete(comm::Communicator* across) = 0;
  // Squared gradients of the completed batch: of each target neuron's incoming synapses into
  // per_gid[gid]; of the (replicated) readout synapses into `replicated`.
  virtual void square_sums(std::vector<double>& per_gid, double& replicated) const = 0;
  // One optimiser step with gradient scale * g on every plastic synapse.
  virtual void apply(const Optimizer::Step& step, double scale) = 0;
  // The gradient of one projection's local synapses added so far (the partial sums in trial order),
  // in (target, source) order.
  virtual void gradient(int projection, std::vector<SynapseValue>& out) const = 0;
  // The shared part's bytes (index, moments, partial sums).
  virtual MemoryUse memory(bool replicated) const = 0;

  // Checkpoints, between batches: the names of the per-synapse arrays that carry over (optimiser
  // moments), and one projection's array in (target, source) order over this rank's synapses, out
  // and back in.
  virtual std::vector<std::string> carried_arrays() const = 0;
  virtual std::vector<double> export_array(int projection, const std::string& name) const = 0;
  virtual void import_array(int projection, const std::string& name, std::span<const double> values) = 0;
};

// [train] rule when a model names none.
inline constexpr const char* kDefaultRule = "eprop";

// A registered rule.
struct RuleInfo {
  std::string name;  // [train] rule = "name"
  std::string summary;
  std::vector<std::string> keys;  // its own [train] keys (every rule's keys are accepted with any rule)
  bool reward = false;            // can learn from reward (Needs::reward)
  // Empty if the rule can train cells of `model` (a learning-form model, named `name`), else why not.
  std::function<std::string(const neuron::Population& model, const std::string& name)> check_target;
  // The shared part; `models` are one trial instance's (for parameters: decays, state sizes).
  std::function<std::unique_ptr<Rule>(const Context&, const Models& models, const Settings&, const Needs&)>
      make;
};

// Rules register themselves from their own source file (core/registry.hpp).
using RuleRegistry = core::Registry<RuleInfo>;

}  // namespace plexus::learning
