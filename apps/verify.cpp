// plexus verify FILE...: reads every dataset a run appended, so that HDF5 checks the Fletcher-32
// checksum of each chunk, and says per file whether it is intact. Exit 0 if all are, 2 otherwise.
#include <cstdio>

#include <fmt/format.h>

#include "commands.hpp"
#include "plexus/core/error.hpp"
#include "plexus/io/result_file.hpp"

namespace plexus::app {

int verify(const std::vector<std::string>& paths) {
  int rc = 0;
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
