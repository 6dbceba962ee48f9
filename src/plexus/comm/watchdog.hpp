#pragma once
// The progress watchdog: a rank that waits in a collective for longer than a limit ends the job, naming
// itself, the collective and the step, rather than hang for ever on a rank that stopped (SIGSTOP, a
// node swapping itself to death, a hung file system). One per process, shared by its communicators.
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>

namespace plexus::comm {

class Watchdog {
 public:
  // `end_job(code)` ends every rank (MPI_Abort); it is called from the watchdog's own thread.
  explicit Watchdog(std::function<void(int)> end_job) : end_job_(std::move(end_job)) {}
  ~Watchdog();
  Watchdog(const Watchdog&) = delete;
  Watchdog& operator=(const Watchdog&) = delete;

  // Starts watching with this limit in seconds (> 0); `rank` is named in the message. Once only.
  void arm(double limit_seconds, int rank);
  bool armed() const { return thread_.joinable(); }
  double limit() const { return limit_; }

  // The step the engine is at (named in the message).
  void note_step(std::uint64_t step) { step_.store(step, std::memory_order_relaxed); }

  // Marks one blocking collective for as long as it lives; `what` names it (a string literal).
  class Wait {
   public:
    Wait(Watchdog* w, const char* what);
    ~Wait();
    Wait(const Wait&) = delete;
    Wait& operator=(const Wait&) = delete;

   private:
    Watchdog* w_;
    const char* previous_ = nullptr;
  };

 private:
  void watch();

  std::function<void(int)> end_job_;
  double limit_ = 0.0;
  int rank_ = 0;
  std::atomic<const char*> what_{nullptr};  // the collective waited in, or null
  std::atomic<std::int64_t> since_{0};      // steady-clock nanoseconds when the wait began
  std::atomic<std::uint64_t> step_{0};
  std::mutex mutex_;
  std::condition_variable stop_cv_;
  bool stop_ = false;
  std::thread thread_;
};

// "10min", "30s", "2h", "off" (0): a --watchdog value in seconds. Throws UserError otherwise.
double parse_watchdog(const std::string& text);

}  // namespace plexus::comm
