// Test driver for the distributed tests: the same Catch2 tests run on every rank, and the exit code
// is agreed across ranks (the maximum), so a failure on any rank fails the job.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include "plexus/comm/communicator.hpp"
#include "world.hpp"

namespace {
plexus::comm::Communicator* g_world = nullptr;
}

plexus::comm::Communicator& plexus::test::world() {
  return *g_world;
}

int main(int argc, char** argv) {
  plexus::comm::Environment env(argc, argv);
  auto world = env.world();
  g_world = world.get();
  Catch::Session session;
  if (const int rc = session.applyCommandLine(argc, argv); rc != 0) return rc;
  int result = session.run();
  result = world->max(result);
  if (world->rank() == 0) std::printf("agreed exit code over %d rank(s): %d\n", world->size(), result);
  return result;
}
