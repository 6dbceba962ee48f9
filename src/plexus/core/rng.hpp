#pragma once
// Counter-based random numbers (Random123 Philox4x64-10). Every draw is a pure function of
// (seed, purpose, a, b, c, index): which rank or thread asks does not matter, so networks, inputs
// and trials come out the same for any partition. Keys name what a number belongs to (a projection
// and a target neuron, an input and a step, ...), never a rank.
#include <Random123/philox.h>

#include <array>
#include <cmath>
#include <cstdint>

namespace plexus::rng {

// What a stream of numbers is for; part of the key so that different uses never share numbers.
enum class Purpose : std::uint64_t {
  Connectivity = 1,
  Weight = 2,
  Delay = 3,
  InitialState = 4,
  PoissonDrive = 5,
  PoissonSource = 6,
  Task = 7,
  Feedback = 8,
  Synthetic = 9,           // dry-run communicator: spikes of ranks that are not there
  PoissonDriveExtra = 10,  // further numbers for large Poisson means
  TempotronPattern = 11,   // tempotron input patterns, labels and templates (task module)
  Action = 12,             // actions sampled from a policy (task/tmaze_reward.cpp), keyed by trial
  TrialOrder = 13,         // the order of a file's training trials in an epoch (task/from_file.cpp)
  Encoder = 64,            // FORCE encoders eta, keyed by neuron gid (learning/force.hpp)
};

using Philox = r123::Philox4x64;
__extension__ typedef unsigned __int128 uint128;  // GCC/Clang builtin, for Lemire's method

// Four 64-bit random words for (seed, purpose, a, b, c, block).
inline std::array<std::uint64_t, 4> block(std::uint64_t seed, Purpose purpose, std::uint64_t a,
                                          std::uint64_t b, std::uint64_t c, std::uint64_t index) {
  Philox gen;
  Philox::ctr_type ctr = {{a, b, c, index}};
  Philox::key_type key = {{seed, static_cast<std::uint64_t>(purpose)}};
  const auto r = gen(ctr, key);
  return {r.v[0], r.v[1], r.v[2], r.v[3]};
}

// Uniform in [0, 1) with 53 random bits.
inline double to_unit(std::uint64_t x) {
  return static_cast<double>(x >> 11) * 0x1.0p-53;
}
// Uniform in (0, 1): safe to take the logarithm of.
inline double to_open_unit(std::uint64_t x) {
  return (static_cast<double>(x >> 11) + 0.5) * 0x1.0p-53;
}

// A sequence of numbers for one key; `index` counts blocks of four words. Cheap to create, so code
// makes one per (thing, neuron) and discards it.
class Stream {
 public:
  Stream(std::uint64_t seed, Purpose purpose, std::uint64_t a, std::uint64_t b = 0, std::uint64_t c = 0)
      : seed_(seed), purpose_(purpose), a_(a), b_(b), c_(c) {}

  std::uint64_t bits() {
    if (used_ == 4) {
      words_ = block(seed_, purpose_, a_, b_, c_, index_++);
      used_ = 0;
    }
    return words_[used_++];
  }
  double uniform() { return to_unit(bits()); }
  double open_uniform() { return to_open_unit(bits()); }
  double uniform(double low, double high) { return low + (high - low) * uniform(); }
  // Standard normal by Box-Muller; the second value of each pair is kept for the next call.
  double normal() {
    if (have_spare_) {
      have_spare_ = false;
      return spare_;
    }
    const double u1 = open_uniform();
    const double u2 = uniform();
    const double r = std::sqrt(-2.0 * std::log(u1));
    const double phi = 2.0 * M_PI * u2;
    spare_ = r * std::sin(phi);
    have_spare_ = true;
    return r * std::cos(phi);
  }
  // Uniform integer in [0, n) without modulo bias (Lemire's method).
  std::uint64_t below(std::uint64_t n) {
    uint128 m = static_cast<uint128>(bits()) * n;
    auto low = static_cast<std::uint64_t>(m);
    if (low < n) {
      const std::uint64_t threshold = -n % n;
      while (low < threshold) {
        m = static_cast<uint128>(bits()) * n;
        low = static_cast<std::uint64_t>(m);
      }
    }
    return static_cast<std::uint64_t>(m >> 64);
  }

 private:
  std::uint64_t seed_;
  Purpose purpose_;
  std::uint64_t a_, b_, c_;
  std::uint64_t index_ = 0;
  std::array<std::uint64_t, 4> words_{};
  int used_ = 4;
  double spare_ = 0.0;
  bool have_spare_ = false;
};

// Poisson-distributed counts with a fixed mean, the constants computed once. A draw uses the
// uniform `u` and, only for large means (PTRS, Hoermann 1993), further numbers of `more`; small
// means use inversion with `u` alone.
class Poisson {
 public:
  explicit Poisson(double lambda);
  std::uint32_t operator()(double u, Stream& more) const;
  bool needs_more() const { return lambda_ >= kInversionLimit; }

 private:
  static constexpr double kInversionLimit = 12.0;
  double lambda_, exp_neg_lambda_ = 0.0;
  double slam_ = 0.0, loglam_ = 0.0, b_ = 0.0, a_ = 0.0, invalpha_ = 0.0, vr_ = 0.0;
};

inline std::uint32_t poisson(double lambda, double u, Stream& more) {
  return Poisson(lambda)(u, more);
}

}  // namespace plexus::rng
