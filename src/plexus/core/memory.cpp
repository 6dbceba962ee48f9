#include "plexus/core/memory.hpp"

#include <sys/resource.h>

#include <fmt/format.h>
#include <cstdio>

namespace plexus::memory {

std::size_t peak_rss_bytes() {
  // VmHWM is this process's own high-water mark. getrusage's ru_maxrss is not: after fork + exec it
  // starts from the parent's peak, so a run started from a big Python process would report that.
  if (std::FILE* f = std::fopen("/proc/self/status", "r")) {
    char line[256];
    unsigned long kb = 0;
    bool found = false;
    while (std::fgets(line, sizeof line, f))
      if (std::sscanf(line, "VmHWM: %lu kB", &kb) == 1) {
        found = true;
        break;
      }
    std::fclose(f);
    if (found) return static_cast<std::size_t>(kb) * 1024;
  }
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<std::size_t>(usage.ru_maxrss) * 1024;  // Linux reports kilobytes
}

std::size_t available_bytes() {
  std::size_t kb = 0;
  if (std::FILE* f = std::fopen("/proc/meminfo", "r")) {
    char line[256];
    unsigned long v = 0;
    while (std::fgets(line, sizeof line, f))
      if (std::sscanf(line, "MemAvailable: %lu kB", &v) == 1) {
        kb = v;
        break;
      }
    std::fclose(f);
  }
  return kb * 1024;
}

std::string human_bytes(double bytes) {
  static const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int u = 0;
  while (bytes >= 1024.0 && u < 4) {
    bytes /= 1024.0;
    ++u;
  }
  return u == 0 ? fmt::format("{:.0f} {}", bytes, units[u]) : fmt::format("{:.2f} {}", bytes, units[u]);
}

}  // namespace plexus::memory
