// plexus verify FILE...: reads every dataset a run appended, so that HDF5 checks the Fletcher-32
// checksum of each chunk, and says per file whether it is intact. Exit 0 if all are, 2 otherwise.
// plexus verify FILE... --same-as REFERENCE: do the files hold the same record as REFERENCE?
#include <algorithm>
#include <cstdio>

#include <fmt/format.h>

#include "commands.hpp"
#include "plexus/core/error.hpp"
#include "plexus/core/types.hpp"
#include "plexus/io/result_file.hpp"

namespace plexus::app {

namespace {

// FILE --same-as REFERENCE: the same record (datasets outside /metadata equal), exit 0; different, 1;
// damaged or unreadable, 2.
int compare_files(const std::string& path, const std::string& reference) {
  try {
    const auto c = io::compare(path, reference);
    if (!c.damaged.empty()) {
      std::fprintf(stderr, "%s: damaged: %s%s\n", path.c_str(), c.damaged.front().c_str(),
                   c.damaged.size() > 1 ? fmt::format(" (and {} more)", c.damaged.size() - 1).c_str() : "");
      return kExitUsage;
    }
    if (!c.same()) {
      std::printf("%s: differs from %s: %llu of %llu datasets\n", path.c_str(), reference.c_str(),
                  static_cast<unsigned long long>(c.differences.size()),
                  static_cast<unsigned long long>(c.datasets));
      constexpr std::size_t kShown = 10;
      for (std::size_t i = 0; i < std::min(kShown, c.differences.size()); ++i)
        std::printf("  %s\n", c.differences[i].c_str());
      if (c.differences.size() > kShown) std::printf("  ... and %zu more\n", c.differences.size() - kShown);
      return kExitFailure;
    }
    std::printf(
        "%s: same as %s: %llu datasets, %.1f MiB equal (/metadata, which holds timings and the run "
        "id, not compared)\n",
        path.c_str(), reference.c_str(), static_cast<unsigned long long>(c.datasets),
        static_cast<double>(c.bytes) / (1 << 20));
    return kExitOk;
  } catch (const UserError& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return kExitUsage;
  }
}

}  // namespace

int verify(const std::vector<std::string>& paths, const std::string& same_as) {
  int rc = 0;
  if (!same_as.empty()) {
    for (const auto& p : paths) rc = std::max(rc, compare_files(p, same_as));
    return rc;
  }
  for (const auto& p : paths) {
    try {
      const auto v = io::verify(p);
      if (v.intact()) {
        std::string note;
        if (v.without_checksum)
          note = fmt::format(
              "; {} of them carry no checksum (written before checksums were added): those are "
              "only known to be readable",
              v.without_checksum);
        std::printf("%s: intact: %llu datasets, %.1f MiB checked%s\n", p.c_str(),
                    static_cast<unsigned long long>(v.datasets), static_cast<double>(v.bytes) / (1 << 20),
                    note.c_str());
      } else {
        rc = 2;
        std::fprintf(stderr, "%s: damaged: %s%s\n", p.c_str(), v.damaged.front().c_str(),
                     v.damaged.size() > 1 ? fmt::format(" (and {} more)", v.damaged.size() - 1).c_str() : "");
      }
    } catch (const UserError& e) {
      rc = 2;
      std::fprintf(stderr, "%s\n", e.what());
    }
  }
  return rc;
}

}  // namespace plexus::app
