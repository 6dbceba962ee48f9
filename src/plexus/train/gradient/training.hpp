#pragma once
// Gradient training (the "gradient" experiment, `plexus train` with [train] rule = a registered
// learning rule: e-prop, D-RTRL, ES-D-RTRL): iterations of a batch of trials from the [task] through
// the simulation, a learning rule in phase 7 of every step (the StepHook below), one optimiser step per
// batch, validation on held-out trials, a learning-rate schedule, optionally the weights of the best
// validation, a test at the end, and the learning curve, weights and example trials in the result
// file. The objective (objective.hpp: supervised or reward) forms the errors; the rule (learning/)
// the gradients.
//
// Per step, in phase 7 of the schedule (sim/step.cpp):
//   serial   (master thread, once every readout value of the step is known)
//              - the step's spikes (every rank's neurons and the task inputs, by gid) go to the rule,
//                which advances its presynaptic traces;
//              - the objective forms the readout errors dE/dy_k^t and the loss from the readouts,
//                which every rank holds alike (decisions/0002).
//   parallel (every thread, its own block of target neurons)
//              - learning signals L_j^t = sum_k B_jk err_k^t (readout losses, through the filtered
//                eligibility traces) and R_j (rate regularisation, through the unfiltered ones);
//              - the rule advances the eligibility traces of the block's synapses and accumulates
//                their gradients.
// The learning signal must be known before the traces it multiplies are summed, hence after the
// readouts (phase 6); it uses y^t, which reads z^t, so it cannot come earlier in the step.
// Every rank forms the same errors and signals for its neurons from the same gid-ordered spikes,
// and every gradient is a sum over time of products formed in the same order whatever the
// partition, so trained weights are bit-identical for any number of ranks and threads. At the end
// of a batch: optional gradient-norm clipping (squares summed per neuron, then over neurons in gid
// order), then Adam or gradient descent on every plastic synapse, with Dale's law kept by clipping
// at zero, then the symmetric feedback is refreshed from the new readout weights.
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "plexus/learning/rule.hpp"
#include "plexus/sim/simulation.hpp"
#include "plexus/train/experiment.hpp"
#include "plexus/train/gradient/objective.hpp"

namespace plexus::train::gradient {

using learning::SynapseValue;

class GradientTraining final : public Experiment {
 public:
  // Builds the network, the task, the objective and the rule. Throws ConfigError for a bad [task]
  // or [train].
  explicit GradientTraining(const Setup& setup);
  ~GradientTraining() override;

  // Experiment.
  std::string headline() const override;
  std::int64_t total() const override;
  std::int64_t done() const override;
  void start_file(io::ResultFile& file) override;
  void resume_file(io::ResultFile& file, const std::map<std::string, std::uint64_t>& lengths) override;
  void run(Shell& shell) override;
  void finish(io::ResultFile* file) override;
  void report(std::ostream& out) const override;
  std::vector<checkpoint::Component*> state() override;

  // Pieces, for tests: one trial (learning = accumulate gradients), and the end of a batch
  // (optimiser step over the gradients accumulated since the last one).
  TrialResult trial(task::Stream stream, std::uint64_t index, bool learning);
  void end_batch(std::int64_t iteration, bool finite_loss);
  // Accumulated gradient (before end_batch clears it) and current weights of a projection, every
  // synapse of the network in (target, source) order, on every rank alike.
  std::vector<SynapseValue> gradient(const std::string& projection) const;
  std::vector<SynapseValue> weights(const std::string& projection) const;
  // Tests: use f(t, gid) as the learning signal of every trained neuron instead of the readout
  // errors (e.g. the total derivative from a BPTT reference).
  void set_learning_signal(std::function<double(Step, Gid)> f);
  // How the batch's trials are spread, and what they hold on this rank: one trial instance's state
  // (neuron state, delay buffers, the rule's traces and the trial's gradient) and what the instances
  // share (synapses, the rule's shared state).
  struct InstanceMemory {
    bool trials = false;  // parallel = trials (else neurons)
    int instances = 1, groups = 1;
    std::uint64_t per_instance = 0, shared = 0;
    std::uint64_t total() const { return shared + static_cast<std::uint64_t>(instances) * per_instance; }
  };
  InstanceMemory instance_memory() const;
  // Learning state held by this rank (readout synapses counted on rank 0 only).
  learning::MemoryUse learning_memory() const;
  task::Task& task();
  int batch_size() const;

  bool state_is_copy() const override;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace plexus::train::gradient
