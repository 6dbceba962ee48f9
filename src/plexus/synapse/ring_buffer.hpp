#pragma once
// Input that is due in a later step, per receptor of a population: slot (t mod D) holds, for every
// local neuron, the summed weight of the spikes that arrive at step t. D = largest delay + 1, so a
// spike enqueued at step t with delay d (0 <= d < D) never overwrites input not yet delivered.
#include <cstddef>
#include <vector>

#include "plexus/core/types.hpp"

namespace plexus::synapse {

class RingBuffer {
 public:
  RingBuffer() = default;
  RingBuffer(std::size_t n_local, std::size_t slots)
      : n_(n_local), slots_(slots < 1 ? 1 : slots), data_(n_ * slots_, 0.0) {}
  double* slot(Step t) { return data_.data() + static_cast<std::size_t>(t % static_cast<Step>(slots_)) * n_; }
  std::size_t slots() const { return slots_; }
  std::size_t bytes() const { return data_.capacity() * sizeof(double); }
  // Raw access for checkpoints: slot-major [slot][neuron].
  std::vector<double>& data() { return data_; }

 private:
  std::size_t n_ = 0, slots_ = 1;
  std::vector<double> data_;
};

}  // namespace plexus::synapse
