#include "plexus/core/version.hpp"

#include "plexus/core/version_info.hpp"  // generated at build time

namespace plexus::version {
const char* version() {
  return version_info::version;
}
const char* git_hash() {
  return version_info::git_hash;
}
}  // namespace plexus::version
