#pragma once
// Plasticity-centric training (SPEC 4.7): a layered network (input -> hidden <-> output) whose
// potentials relax to an equilibrium of an energy, are nudged toward a target at the output, and
// whose weights follow passively by differential STDP (presynaptic rate times the change of the
// postsynaptic potential). The formulation is ours; docs/decisions/0010-equilibrium-learning.md
// gives every choice and its reason. In short, with potentials kept in [0, 1] (where the hard
// sigmoid rho(u) = u):
//
//   E = 1/2 |u_h|^2 + 1/2 |u_o|^2 - u_h.(W1 x + b_h) - u_o.b_o - u_o.(W2 u_h)     (input x clamped)
//   C = 1/2 |y - u_o|^2,   F = E + beta C
//
// Relaxation: per step, each layer moves a fraction epsilon of the way to its exact minimiser of F
// given the other layer (hidden first, then output): u_h <- (1-eps) u_h + eps clip(W1 x + b_h +
// W2^T u_o), u_o <- (1-eps) u_o + eps clip((W2 u_h + b_o + beta y) / (1 + beta)). F is convex in
// each layer, so no step can increase it (whatever the weights).
// Differential STDP: when a cell's potential changes by du_i while its partner j sits at rate
// rho_j, the weight W_ij changes by rho_j du_i (both directions for the symmetric hidden-output
// weights). Summed over the nudged phase this telescopes exactly to rho_i rho_j |nudged -
// rho_i rho_j |free, which divided by beta is the equilibrium-propagation estimate of -dC/dW.
//
// Distribution: a rank holds a contiguous block of hidden cells, in whole chunks of kChunk cells,
// with their input weights and their weights to the outputs; the few output cells are computed
// identically on every rank. The output's input sum over hidden cells is made partition-independent
// by summing each chunk in a fixed order and adding chunks in 2^-40 fixed point (integer addition
// is associative), so weights are bit-identical for any number of ranks and threads.
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "plexus/comm/communicator.hpp"

namespace plexus::learning::equilibrium {

// Hidden cells per reduction chunk: the unit of distribution over ranks and threads.
inline constexpr std::size_t kChunk = 64;

struct Shape {
  std::size_t inputs = 0, hidden = 0, outputs = 0;
};

enum class Nudge {
  Positive,   // one nudged phase with +beta: estimate (X^beta - X^0) / beta
  Symmetric,  // +beta and -beta from the free equilibrium: (X^beta - X^-beta) / (2 beta)
};

// How potentials move (read from [train]; see the model file documentation).
struct Dynamics {
  double epsilon = 0.5;  // fraction of the way to the layer's minimiser per step, in (0, 1]
  int free_steps = 20;   // relaxation steps after the feed-forward pass
  int nudge_steps = 8;   // steps of each nudged phase
  double beta = 0.5;     // nudging strength, in (0, 1)
  Nudge nudge = Nudge::Symmetric;
};

struct LearningRates {
  double input_hidden = 0.1;    // W1 and hidden biases
  double hidden_output = 0.05;  // W2 and output biases
};

// The hidden cells a rank holds: chunks [chunk_begin, chunk_end), cells [hidden_begin, hidden_end).
struct Block {
  std::size_t chunk_begin = 0, chunk_end = 0;
  std::size_t hidden_begin = 0, hidden_end = 0;
  std::size_t chunks() const { return chunk_end - chunk_begin; }
  std::size_t cells() const { return hidden_end - hidden_begin; }
};
Block block(std::size_t hidden, int ranks, int rank);

class Network {
 public:
  // `max_batch`: the most samples processed together. Each rank makes its own block. Throws
  // std::invalid_argument for impossible shapes or dynamics.
  Network(Shape shape, Dynamics dynamics, comm::Communicator& comm, int threads, std::size_t max_batch);

  const Shape& shape() const { return shape_; }
  const Dynamics& dynamics() const { return dyn_; }
  const Block& block() const { return block_; }

  // Glorot-uniform weights (bounds sqrt(6 / (fan_in + fan_out))), zero biases; drawn per hidden
  // cell from counter-based streams keyed by (seed, layer, hidden cell), so the same on any ranks.
  void init_glorot(std::uint64_t seed);

  // Local weights and biases (hidden index local to this rank's block).
  double input_hidden(std::size_t input, std::size_t hidden_local) const;
  double hidden_output(std::size_t output, std::size_t hidden_local) const;
  double hidden_bias(std::size_t hidden_local) const;
  double output_bias(std::size_t output) const { return bo_[output]; }
  void set_input_hidden(std::size_t input, std::size_t hidden_local, double w);
  void set_hidden_output(std::size_t output, std::size_t hidden_local, double w);
  void set_hidden_bias(std::size_t hidden_local, double b);
  void set_output_bias(std::size_t output, double b) { bo_[output] = b; }
  // Collective: all weights on every rank (exact), W1 as hidden x inputs (target-major), W2 as
  // outputs x hidden, hidden biases.
  std::vector<double> gather_input_hidden() const;
  std::vector<double> gather_hidden_output() const;
  std::vector<double> gather_hidden_bias() const;

  // --- one batch ------------------------------------------------------------------------------
  // Clamps the input layer to `x` (batch x inputs rates) and computes the hidden cells' input drive.
  void present(std::span<const double> x, std::size_t batch);
  // Feed-forward pass: u_h = clip(W1 x + b_h), then u_o = clip(W2 u_h + b_o). Collective.
  void feed_forward();
  // `steps` relaxation steps of F = E + beta C toward targets `y` (batch x outputs; ignored when
  // beta = 0). With `gain` != 0, differential STDP accumulates gain * (rho_pre du_post) into the
  // estimate. Returns the largest |du| of the last step (how far from equilibrium). Collective.
  double relax(int steps, double beta, std::span<const double> y, double gain = 0.0);
  // The nudged phase(s) from the current (free) state, accumulating the estimate; the free state is
  // restored afterwards. Collective.
  void nudge(std::span<const double> y);
  // Weight update from the estimate, averaged over the batch; clears the estimate.
  void apply(const LearningRates& lr);
  // The estimate of -dC/dW accumulated since present() (the integrated differential-STDP change
  // divided by beta), summed over the batch; local hidden cells. For tests.
  std::vector<double> estimate_input_hidden() const;   // inputs x local hidden
  std::vector<double> estimate_hidden_output() const;  // outputs x local hidden
  std::vector<double> estimate_hidden_bias() const;    // local hidden
  std::vector<double> estimate_output_bias() const;    // outputs

  std::size_t batch() const { return batch_; }
  std::span<const double> outputs() const { return {uo_.data(), batch_ * shape_.outputs}; }
  // Local hidden potentials of sample b.
  std::span<const double> hidden(std::size_t b) const { return {uh_.data() + b * hp_, block_.cells()}; }
  // Per sample: E + beta C (collective).
  std::vector<double> energy(double beta, std::span<const double> y) const;
  // Per sample: C = 1/2 |y - u_o|^2 (replicated, no communication).
  std::vector<double> cost(std::span<const double> y) const;
  // Per sample: the most active output cell (lowest index on ties).
  std::vector<int> predictions() const;

  std::size_t state_bytes() const;

 private:
  // Sum over all hidden cells (every rank) of W2 u_h, per sample and output: exact.
  void reduce_outputs(std::vector<double>& total);
  void flush_pending();

  Shape shape_;
  Dynamics dyn_;
  comm::Communicator& comm_;
  int threads_;
  std::size_t max_batch_;
  Block block_;
  std::size_t hp_ = 0;  // local hidden cells padded to whole chunks
  std::size_t batch_ = 0;
  std::vector<double> w1_;           // inputs x hp (source-major: the inner loop runs over hidden cells)
  std::vector<double> w2_;           // outputs x hp
  std::vector<double> bh_;           // hp
  std::vector<double> bo_;           // outputs (replicated)
  std::vector<double> x_;            // batch x inputs
  std::vector<double> drive_;        // batch x hp: W1 x + b_h
  std::vector<double> uh_, uo_;      // batch x hp, batch x outputs
  std::vector<double> uh0_, uo0_;    // free state kept during nudged phases
  std::vector<double> duo_;          // last output change (applied to W2 at the next hidden step)
  std::vector<std::int64_t> parts_;  // chunks x batch x outputs
  // The estimate: integrated changes times gain (1/beta, or +-1/(2 beta)).
  std::vector<double> trace_h_;  // batch x hp: hidden potential change
  std::vector<double> trace_o_;  // batch x outputs: output potential change
  std::vector<double> g2_;       // outputs x hp: differential STDP of W2, summed over the batch
  bool pending_ = false;         // duo_ not yet applied to g2_
};

}  // namespace plexus::learning::equilibrium
