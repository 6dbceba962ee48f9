#pragma once
// The communicator over all ranks of the test job, set up by main.cpp.
#include "plexus/comm/communicator.hpp"

namespace plexus::test {
comm::Communicator& world();
}
