#pragma once
// Feedback weights B_jk that carry readout errors to the neurons of a trained population (SPEC
// 4.1): symmetric (B = W_out^T, refreshed from the readout weights after every update) or fixed
// random (N(0, 1) / sqrt(n), keyed by the neuron's gid, so any partition draws the same B).
#include <cmath>
#include <cstdint>
#include <vector>

#include "plexus/core/rng.hpp"
#include "plexus/partition/partition.hpp"
#include "plexus/synapse/projection.hpp"

namespace plexus::learning {

struct Feedback {
  std::size_t K = 0;      // outputs
  std::vector<double> B;  // local neuron j, output k: B[j * K + k]

  void resize(std::size_t local, std::size_t outputs) {
    K = outputs;
    B.assign(local * outputs, 0.0);
  }

  void random(std::uint64_t seed, Gid first_gid, const partition::IdRange& local, Gid population_size) {
    const double scale = 1.0 / std::sqrt(static_cast<double>(population_size));
    for (Gid j = 0; j < local.size(); ++j) {
      rng::Stream s(seed, rng::Purpose::Feedback, first_gid + local.begin + j);
      for (std::size_t k = 0; k < K; ++k) B[j * K + k] = s.normal() * scale;
    }
  }

  // B_jk = sum of the weights from neuron j to readout k over `readout` (a projection from this
  // population to the readout; every rank holds all readout synapses). Call once per projection
  // after clear().
  void clear() { std::fill(B.begin(), B.end(), 0.0); }
  void add_symmetric(const synapse::Projection& readout, const partition::IdRange& local) {
    for (const auto& blk : readout.blocks())
      for (Gid j = 0; j < local.size(); ++j) {
        const Gid s = local.begin + j;
        for (std::uint32_t k = blk.offset[s]; k < blk.offset[s + 1]; ++k)
          B[j * K + blk.target[k]] += static_cast<double>(blk.weight[k]);
      }
  }

  // L_j = sum_k B_jk err_k.
  double signal(std::size_t j, const double* err) const {
    double L = 0.0;
    for (std::size_t k = 0; k < K; ++k) L += B[j * K + k] * err[k];
    return L;
  }
};

}  // namespace plexus::learning
