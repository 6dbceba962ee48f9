#pragma once
// The T-maze with reward (SPEC 3.4): the cue corridor of the evidence task (task.cpp, SPEC 3.1);
// at the junction (the decision step, the last step but one of the trial) the agent samples left or
// right from its policy and is rewarded 1 for the side with more cues, 0 otherwise, plus an optional
// small reward (negative: a cost) on every step before. The action's random number is keyed by
// (seed, stream, trial), never by rank, so every rank takes the same turn.
#include <cstdint>

#include "plexus/core/types.hpp"
#include "plexus/task/task.hpp"

namespace plexus::task {

struct TMazeReward {
  std::uint64_t seed = 0;
  double step_reward = 0.0;  // r^t before the decision
  double correct_reward = 1.0, wrong_reward = 0.0;

  // The decision step of a trial of T steps (T >= 2): its TD error is formed at the next step.
  static Step decision_step(Step T) { return T - 2; }
  // The uniform number in [0, 1) the action of this trial is drawn with.
  double action_uniform(Stream stream, std::uint64_t trial) const;
  double reward(int action, int label) const { return action == label ? correct_reward : wrong_reward; }
};

}  // namespace plexus::task
