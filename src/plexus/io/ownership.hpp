#pragma once
// Which run a result file belongs to. A run has an id (random, made when it starts, kept across
// resumes) written into its result file and its checkpoints, so that a .partial of another run (a
// later run with the same output name, or a file copied in) is never continued; and while a run
// writes its .partial, a lock file next to it names the owner, so that a second writer is told who
// holds it.
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <mutex>
#include <string>
#include <thread>

namespace plexus::io {

// A new run id: 16 hexadecimal digits from the system's random source and the time.
std::string new_run_id();

// A stable 64-bit hash (FNV-1a) of a text, as 16 hexadecimal digits (the resolved configuration's).
std::string text_hash(const std::string& text);

// The run id stored in a result file (/metadata attribute run_id), "" if it has none or cannot be read.
std::string run_id_of(const std::filesystem::path& result);
// The checkpoint directory a result file's run wrote to (/metadata attribute checkpoint_dir), or "".
std::string checkpoint_dir_of(const std::filesystem::path& result);

// `PARTIAL.lock` while a run writes PARTIAL: host, process id and start time of the owner. Taken by one
// process (rank 0), which touches it every kHeartbeat while it holds it. A lock whose process is gone
// (on this host), or of another host and not touched for kStale (its node died, or the job was killed
// by the scheduler), is taken over; a live one is refused with a UserError naming the owner.
class OutputLock {
 public:
  static constexpr std::chrono::seconds kHeartbeat{30};
  static constexpr std::chrono::seconds kStale{300};

  explicit OutputLock(const std::filesystem::path& partial);
  ~OutputLock();
  OutputLock(const OutputLock&) = delete;
  OutputLock& operator=(const OutputLock&) = delete;

 private:
  std::filesystem::path path_;
  std::mutex mutex_;
  std::condition_variable_any wake_;
  std::jthread heart_;  // touches the lock file every kHeartbeat
};

}  // namespace plexus::io
