#include "plexus/task/tmaze_reward.hpp"

#include "plexus/core/rng.hpp"

namespace plexus::task {

double TMazeReward::action_uniform(Stream stream, std::uint64_t trial) const {
  // Its own purpose: never the same numbers as the trial's cues and inputs.
  rng::Stream s(seed, rng::Purpose::Action, static_cast<std::uint64_t>(stream), trial, 0);
  return s.uniform();
}

}  // namespace plexus::task
