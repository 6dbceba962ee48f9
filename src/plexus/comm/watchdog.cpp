#include "plexus/comm/watchdog.hpp"

#include <chrono>
#include <cstdio>
#include <string>

#include <fmt/format.h>

#include "plexus/core/error.hpp"
#include "plexus/core/quantity.hpp"
#include "plexus/core/types.hpp"

namespace plexus::comm {

namespace {

std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace

Watchdog::~Watchdog() {
  {
    const std::lock_guard lock(mutex_);
    stop_ = true;
  }
  stop_cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void Watchdog::arm(double limit_seconds, int rank) {
  if (thread_.joinable() || !(limit_seconds > 0.0)) return;
  limit_ = limit_seconds;
  rank_ = rank;
  thread_ = std::thread([this] { watch(); });
}

Watchdog::Wait::Wait(Watchdog* w, const char* what) : w_(w) {
  if (!w_) return;
  // Nested waits (a collective built of collectives) keep the outer one's start and name.
  previous_ = w_->what_.load(std::memory_order_relaxed);
  if (previous_) return;
  w_->since_.store(now_ns(), std::memory_order_relaxed);
  w_->what_.store(what, std::memory_order_release);
}

Watchdog::Wait::~Wait() {
  if (!w_ || previous_) return;
  w_->what_.store(nullptr, std::memory_order_release);
}

void Watchdog::watch() {
  // Checks a few times per limit (at least once a second for short limits), so that the job ends
  // within about a tenth of the limit after it is exceeded.
  const auto period = std::chrono::duration<double>(std::min(std::max(limit_ / 10.0, 0.05), 5.0));
  std::unique_lock lock(mutex_);
  while (!stop_cv_.wait_for(lock, period, [this] { return stop_; })) {
    const char* what = what_.load(std::memory_order_acquire);
    if (!what) continue;
    const double waited = static_cast<double>(now_ns() - since_.load(std::memory_order_relaxed)) * 1e-9;
    if (waited < limit_) continue;
    const std::string msg = fmt::format(
        "plexus: watchdog: rank {} has waited {:.0f} s in {} at step {} (limit {:.0f} s, --watchdog): some "
        "other "
        "rank has stopped making progress (stopped, swapped out, or hung in a file system); ending the job\n",
        rank_, waited, what, step_.load(std::memory_order_relaxed), limit_);
    std::fputs(msg.c_str(), stderr);
    std::fflush(stderr);
    end_job_(kExitFailure);
    return;
  }
}

double parse_watchdog(const std::string& text) {
  if (text == "off" || text == "0") return 0.0;
  const auto q = core::number_with_unit(text);
  double scale = 0.0;
  if (q && q->second == "s") scale = 1.0;
  if (q && q->second == "min") scale = 60.0;
  if (q && q->second == "h") scale = 3600.0;
  if (scale == 0.0 || !(q->first > 0.0))
    throw UserError(
        fmt::format("--watchdog '{}': give a wall-clock time ('30s', '10min', '1h') or 'off'", text));
  return q->first * scale;
}

}  // namespace plexus::comm
