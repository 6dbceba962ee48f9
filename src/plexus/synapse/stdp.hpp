#pragma once
// Pair-based STDP with exponential traces (SPEC 4.6), with the weight dependence of NEST's
// stdp_synapse (Guetig et al. 2003), on the synapses of one projection that this rank owns (the
// incoming synapses of its neurons):
//     potentiation  w/W <- w/W + lambda (1 - w/W)^mu_plus K+ ,  depression  w/W <- w/W - alpha lambda
//     (w/W)^mu_minus K-
// clipped to [0, W_max]. All of the synaptic delay d is dendritic (as in NEST): at the synapse, a
// presynaptic spike of step t_pre is seen at t_pre and a postsynaptic spike of step t_post at
// t_post + d. Every pair counts (all-to-all pairing), through two traces:
//   K+  per presynaptic neuron: sum over its spikes before now of exp(-(now - t_pre) / tau_plus);
//   K-  per postsynaptic neuron: sum over its spikes before s of exp(-(s - t_post) / tau_minus).
// A presynaptic spike of step t is depressed by K-(t - d) (postsynaptic spikes that reached the
// synapse strictly before t), then transmitted with the new weight into slot t + d, then counted in
// K+. A postsynaptic spike that reaches the synapse at step t potentiates it by K+ (presynaptic
// spikes strictly before t), before any presynaptic spike of step t is processed, so a pair that
// coincides at the synapse changes nothing, as in NEST.
//
// NEST applies the potentiation lazily, at the next presynaptic spike, from an archive of
// postsynaptic spikes; here it is applied when the postsynaptic spike reaches the synapse, which
// needs no archive (bounded state, DESIGN principle 13). The sequence of updates of each weight is
// the same, so every transmitted weight is the same; only a weight read between a postsynaptic
// spike and the next presynaptic one differs (decisions/0008).
//
// Weights stay in the projection's source-major rows (float), where delivery reads them; a
// target-major index (synapse and source per entry) lets a postsynaptic spike reach its synapses.
// Memory per plastic synapse: 8 bytes of index on top of the static 8 (or 10); per postsynaptic
// neuron max_delay + 2 doubles of K- history; per presynaptic neuron and thread 16 bytes of K+.
#include <cstdint>
#include <vector>

#include "plexus/core/types.hpp"
#include "plexus/model/config.hpp"
#include "plexus/synapse/projection.hpp"
#include "plexus/synapse/ring_buffer.hpp"

namespace plexus::synapse {

struct StdpParams {
  double tau_plus_ms = 20.0, tau_minus_ms = 20.0;
  double lambda = 0.01;                  // step size
  double alpha = 1.0;                    // depression relative to potentiation
  double mu_plus = 0.0, mu_minus = 0.0;  // weight dependence: 0 additive, 1 multiplicative
  double w_max = 1.0;                    // largest weight magnitude (the weight's unit)

  // Reads a projection's `plasticity` table (rule = "stdp"). ConfigError for bad keys or values.
  static StdpParams read(const model::Node& n);
};

class Stdp {
 public:
  // Plasticity for `proj` (built, with its thread blocks) whose source population has n_source
  // neurons. The weights' sign follows `sign` (magnitudes are plastic); every initial magnitude
  // must lie in [0, w_max]. Throws ConfigError (naming `where`) otherwise.
  static Stdp build(const StdpParams& p, Projection& proj, Gid n_source, WeightSign sign, double dt_ms,
                    const model::Node& where);

  int projection() const { return projection_; }

  // Step t, thread block b: first the postsynaptic spikes z (this step's, per local target of the
  // population, indexed like the block) are recorded and those that reach their synapses now are
  // applied (potentiation); then presynaptic spikes of step t, one call per spiking source in gid
  // order: depression, delivery into `ring`, trace.
  void post_step(std::size_t b, Step t, const double* z);
  void pre_spike(std::size_t b, Gid source, Step t, RingBuffer& ring);

  // Traces back to zero (a new trial); weights are kept.
  void reset_traces();
  std::size_t bytes() const;

  // The traces at a step boundary t (before step t), in id terms for checkpoints: per local target
  // neuron (local index order), K- of the `history` most recent steps t - history + 1 .. t and
  // whether it spiked at each of the `spikes` steps t - spikes .. t - 1 (oldest first); per source,
  // K+ just after its last spike and that spike's step (every thread and rank holds the same). A
  // rank whose delays are shorter than the lengths asked for pads the older entries with zeros,
  // and reads back only the entries its delays can reach.
  struct Traces {
    std::size_t history = 0, spikes = 0;
    std::vector<double> k_minus;       // targets x history
    std::vector<std::uint8_t> spiked;  // targets x spikes
    std::vector<double> k_plus;        // sources
    std::vector<std::int64_t> last_pre;
  };
  std::size_t history_length() const { return slots_; }
  std::size_t spike_length() const { return post_slots_ - 1; }
  Traces traces(Step t, std::size_t history, std::size_t spikes) const;
  void set_traces(Step t, const Traces& tr);

 private:
  struct BlockState {
    std::vector<std::uint32_t> row;  // per local target of the block: first entry, size targets + 1
    std::vector<std::uint32_t> syn;  // per entry: synapse index in the source-major arrays
    std::vector<std::uint32_t> src;  // per entry: presynaptic neuron (population-local)
    std::vector<double> k_minus;     // [slot][target]: K- at step s, slot s mod S
    std::vector<std::vector<std::uint32_t>> post;  // [slot]: targets (block-local) that spiked at step s
    std::vector<double> k_plus;  // per source: K+ just after its last spike (this thread's copy)
    std::vector<Step> last_pre;  // per source: step of its last spike (kNever: none)
  };

  double facilitate(double m, double k) const;
  double depress(double m, double k) const;

  Projection* proj_ = nullptr;
  int projection_ = 0;
  StdpParams p_;
  double sign_ = 1.0;
  double dt_ = 0.1;
  double decay_minus_ = 0.0;    // exp(-dt / tau_minus)
  std::size_t slots_ = 1;       // K- history: max_delay + 2 steps
  std::size_t post_slots_ = 1;  // postsynaptic spike lists: max_delay + 1 steps
  std::vector<BlockState> blocks_;
};

}  // namespace plexus::synapse
