#pragma once
// Basic vocabulary shared by every module.
#include <cstdint>

namespace plexus {

// Global neuron id. 32 bits keep the per-step spike exchange small; the network builder refuses
// networks that would not fit.
using Gid = std::uint32_t;
// Simulation step index (step t covers [t*dt, (t+1)*dt)).
using Step = std::int64_t;

// Exit codes of the command-line tools.
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;  // the run itself failed
inline constexpr int kExitUsage = 2;    // bad model file, bad input file or bad command line

}  // namespace plexus
