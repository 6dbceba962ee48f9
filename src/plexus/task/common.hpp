#pragma once
// Helpers shared by the trial generators of the task module (not part of its interface).
#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <string_view>

#include <fmt/format.h>

#include "plexus/core/rng.hpp"
#include "plexus/core/types.hpp"
#include "plexus/model/config.hpp"

namespace plexus::task::detail {

// Bernoulli spikes for channels [begin, end) at step t, one Philox block per four channels; keyed by
// (stream, trial, step, channel) so that a trial's inputs are the same on every rank.
template <class Rate>
void bernoulli(std::uint64_t seed, std::uint64_t stream, std::uint64_t trial, Step t, std::size_t begin,
               std::size_t end, double* z, Rate&& p_of) {
  std::array<std::uint64_t, 4> w{};
  for (std::size_t c = begin; c < end; ++c) {
    const double p = p_of(c);
    if (c == begin || (c & 3) == 0)
      w = rng::block(seed, rng::Purpose::Task, stream, trial, static_cast<std::uint64_t>(t) + 1, c >> 2);
    z[c - begin] = (p > 0.0 && rng::to_unit(w[c & 3]) < p) ? 1.0 : 0.0;
  }
}

// A duration in ms read from `key` (default `def`) as a whole number of steps of dt.
inline Step steps_of(const model::Node& n, std::string_view key, double def, double dt) {
  const double ms = n.number_or(key, def, model::Range::non_negative());
  const auto s = static_cast<Step>(std::llround(ms / dt));
  if (std::fabs(static_cast<double>(s) * dt - ms) > 1e-9 * std::max(1.0, ms))
    n.at(key).fail(fmt::format("must be a whole number of steps of dt = {} ms", dt));
  return s;
}

}  // namespace plexus::task::detail
