#pragma once
// The synapses a rank owns: the incoming synapses of its neurons, per projection. They are stored
// once per thread block of target neurons (so that each thread delivers into its own neurons only,
// and every neuron receives its inputs in the same order whatever the thread count), in compressed
// rows by presynaptic neuron, with one array per field.
//
// Memory per static synapse: 4 bytes target index + 4 bytes weight (+ 2 bytes delay when delays
// vary within the projection), plus 4 bytes per presynaptic neuron and block for the row offsets.
#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "plexus/core/types.hpp"
#include "plexus/model/connectivity.hpp"
#include "plexus/model/network.hpp"
#include "plexus/partition/partition.hpp"
#include "plexus/synapse/ring_buffer.hpp"

namespace plexus::synapse {

using Weight = float;

struct Block {
  partition::IdRange targets;         // local target indices [begin, end) of this block
  std::vector<std::uint32_t> offset;  // per presynaptic neuron (population-local id), size n_source + 1
  std::vector<std::uint32_t> target;  // local index of the target neuron
  std::vector<Weight> weight;
  std::vector<std::uint16_t> delay;  // in steps; empty when the projection has one delay
};

// How drawn weights are turned into stored ones (Dale's law and conductance receptors).
enum class WeightSign { AsDrawn, Magnitude, NegativeMagnitude };

struct BuildSpec {
  const model::ProjectionSpec* spec = nullptr;
  Gid n_source = 0;
  Gid target_first_local = 0;              // population-local id of local target index 0
  std::vector<partition::IdRange> blocks;  // local target index ranges, one per thread
  std::uint64_t seed = 0;
  double dt_ms = 0.1;
  int min_delay_steps = 1;
  WeightSign sign = WeightSign::AsDrawn;
  const model::ConnectionList* list = nullptr;  // from_file projections
};

class Projection {
 public:
  // Generates the synapses onto the local targets. Throws ConfigError for bad delays.
  static Projection build(const BuildSpec& b);

  int index() const { return index_; }
  int receptor = 0;  // index into the target population's receptors
  bool constant_delay() const { return constant_delay_; }
  std::uint16_t delay() const { return delay_; }
  std::uint16_t max_delay() const { return max_delay_; }
  std::uint16_t min_delay() const { return min_delay_; }
  std::uint64_t count() const;
  std::size_t bytes() const;
  const std::vector<Block>& blocks() const { return blocks_; }
  std::vector<Block>& blocks() { return blocks_; }

  // Adds the weights of source `s` (population-local) to the ring buffer of block `b`.
  void deliver(std::size_t b, Gid s, Step t, RingBuffer& ring) const {
    const Block& blk = blocks_[b];
    const std::uint32_t first = blk.offset[s], last = blk.offset[s + 1];
    if (constant_delay_) {
      double* slot = ring.slot(t + delay_);
      for (std::uint32_t k = first; k < last; ++k) slot[blk.target[k]] += blk.weight[k];
    } else {
      for (std::uint32_t k = first; k < last; ++k)
        ring.slot(t + blk.delay[k])[blk.target[k]] += blk.weight[k];
    }
  }

  // Row positions k of block b's synapses in (target, source) order: the order in which per-synapse
  // arrays are stored in checkpoints (independent of ranks and threads).
  std::vector<std::uint32_t> target_order(std::size_t b) const;
  // All weights of this rank, blocks in order and each in target_order: the partition-independent
  // layout of checkpoints and weight snapshots; and back.
  std::vector<Weight> weights_by_target() const;
  void set_weights_by_target(std::span<const Weight> w);

  // Calls f(source_local, target_local_index, weight, delay_steps) for every synapse of block b, in
  // (target, source) order.
  void for_each_by_target(std::size_t b,
                          const std::function<void(Gid, std::uint32_t, Weight, std::uint16_t)>& f) const;

 private:
  int index_ = 0;
  bool constant_delay_ = true;
  std::uint16_t delay_ = 1, max_delay_ = 1, min_delay_ = 1;
  std::vector<Block> blocks_;
};

}  // namespace plexus::synapse
