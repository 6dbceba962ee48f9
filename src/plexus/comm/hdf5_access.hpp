#pragma once
// Property lists that let parallel HDF5 use the communicator's MPI-IO (or plain POSIX I/O when the
// run is a single process or a dry run). Returned as hid_t values (int64) so that callers need not
// include MPI.
#include <cstdint>

#include "plexus/comm/communicator.hpp"

namespace plexus::comm {

// File access property list; the caller closes it with H5Pclose.
std::int64_t hdf5_file_access(const Communicator& c);
// Dataset transfer property list (collective for MPI-IO); the caller closes it with H5Pclose.
std::int64_t hdf5_collective_transfer(const Communicator& c);

}  // namespace plexus::comm
