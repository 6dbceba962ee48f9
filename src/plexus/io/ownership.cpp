#include "plexus/io/ownership.hpp"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <iomanip>
#include <random>
#include <sstream>

#include <fmt/format.h>

#include "plexus/core/error.hpp"
#include "plexus/io/result_file.hpp"

namespace plexus::io {

std::string new_run_id() {
  std::random_device rd;
  const auto now = static_cast<std::uint64_t>(std::chrono::system_clock::now().time_since_epoch().count());
  const std::uint64_t id = ((static_cast<std::uint64_t>(rd()) << 32) ^ rd()) ^ (now * 0x9E3779B97F4A7C15ULL);
  return fmt::format("{:016x}", id);
}

std::string text_hash(const std::string& text) {
  std::uint64_t h = 0xcbf29ce484222325ULL;
  for (unsigned char c : text) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  return fmt::format("{:016x}", h);
}

namespace {
std::string metadata_attribute(const std::filesystem::path& result, const std::string& name) {
  try {
    if (!std::filesystem::exists(result)) return "";
    Reader r(result);
    return r.attribute("/metadata", name);
  } catch (const std::exception&) {
    return "";
  }
}

std::string host_name() {
  char buf[256] = {};
  if (gethostname(buf, sizeof buf - 1) != 0) return "unknown";
  return buf;
}
}  // namespace

std::string run_id_of(const std::filesystem::path& result) {
  return metadata_attribute(result, "run_id");
}

std::string checkpoint_dir_of(const std::filesystem::path& result) {
  return metadata_attribute(result, "checkpoint_dir");
}

OutputLock::OutputLock(const std::filesystem::path& partial) : path_(partial) {
  path_ += ".lock";
  const std::string me = host_name();
  if (path_.has_parent_path()) {  // the output's directory (results/ by default) may not exist yet
    std::error_code ec;
    std::filesystem::create_directories(path_.parent_path(), ec);
    if (ec)
      throw UserError(
          fmt::format("cannot create directory '{}': {}", path_.parent_path().string(), ec.message()));
  }
  for (int attempt = 0; attempt < 2; ++attempt) {
    const int fd = ::open(path_.c_str(), O_CREAT | O_EXCL | O_WRONLY, 0644);
    if (fd >= 0) {
      const auto now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
      const std::string text =
          fmt::format("{} {} {}\n", me, static_cast<long>(getpid()), static_cast<long long>(now));
      const auto written = ::write(fd, text.data(), text.size());
      ::close(fd);
      if (written != static_cast<ssize_t>(text.size()))
        throw UserError(fmt::format("cannot write the lock file '{}'", path_.string()));
      heart_ = std::jthread([this](const std::stop_token& stop) {
        std::unique_lock<std::mutex> hold(mutex_);
        while (!wake_.wait_for(hold, stop, kHeartbeat, [] { return false; })) {
          if (stop.stop_requested()) return;
          std::error_code ec;
          std::filesystem::last_write_time(path_, std::filesystem::file_time_type::clock::now(), ec);
        }
      });
      return;
    }
    if (errno != EEXIST)
      throw UserError(
          fmt::format("cannot create the lock file '{}': {}", path_.string(), std::strerror(errno)));
    std::ifstream in(path_);
    std::string host;
    long pid = 0;
    long long since = 0;
    in >> host >> pid >> since;
    std::error_code ec;
    const auto touched = std::filesystem::last_write_time(path_, ec);
    const bool stale = !ec && std::filesystem::file_time_type::clock::now() - touched > kStale;
    const bool gone = (host == me && pid > 0 && ::kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH) ||
                      (host != me && stale);
    if (!gone) {
      std::ostringstream when;
      const auto t = static_cast<std::time_t>(since);
      when << std::put_time(std::localtime(&t), "%Y-%m-%d %H:%M:%S");
      throw UserError(fmt::format(
          "'{}' is being written by process {} on {} (since {}): another run or resume with this output is "
          "going on. Wait for it, or give another name with -o{}",
          partial.string(), pid, host, when.str(),
          host == me ? "" : fmt::format("; if that process is gone, remove '{}'", path_.string())));
    }
    std::filesystem::remove(path_, ec);  // left by a process that is gone: take it over
  }
  throw UserError(fmt::format("cannot take the lock file '{}'", path_.string()));
}

OutputLock::~OutputLock() {
  heart_.request_stop();
  if (heart_.joinable()) heart_.join();
  std::error_code ec;
  std::filesystem::remove(path_, ec);
}

}  // namespace plexus::io
