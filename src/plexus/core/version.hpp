#pragma once
// Version of this build: the release number and the git revision it was built from.
namespace plexus::version {
const char* version();
const char* git_hash();
}  // namespace plexus::version
