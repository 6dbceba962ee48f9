// Parallel HDF5's MPI-IO driver takes an MPI communicator, so the glue lives here with MPI.
#include "plexus/comm/hdf5_access.hpp"

#include <hdf5.h>
#include <mpi.h>

#include <stdexcept>
#include <type_traits>

namespace plexus::comm {

static_assert(std::is_same_v<hid_t, std::int64_t>, "hid_t is passed around as int64");

std::int64_t hdf5_file_access(const Communicator& c) {
  const hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
  if (fapl < 0) throw std::runtime_error("H5Pcreate(file access) failed");
  // Lock the file while writing, but carry on where the file system cannot lock (NFS, Lustre),
  // instead of failing the run.
  H5Pset_file_locking(fapl, true, true);
  // The HDF5 1.10 file format: its superblock, object headers and indexes carry checksums, so that a
  // damaged file's metadata is refused by its checksum before HDF5 parses it (HDF5's parsers are not
  // safe on corrupted metadata of the older format). Readable by HDF5 1.10 and later (h5py included).
  H5Pset_libver_bounds(fapl, H5F_LIBVER_V18, H5F_LIBVER_V110);
  if (c.parallel_io()) {
    const MPI_Comm comm = MPI_Comm_f2c(static_cast<MPI_Fint>(c.native_handle()));
    if (H5Pset_fapl_mpio(fapl, comm, MPI_INFO_NULL) < 0) throw std::runtime_error("H5Pset_fapl_mpio failed");
    H5Pset_all_coll_metadata_ops(fapl, true);
    H5Pset_coll_metadata_write(fapl, true);
  }
  return fapl;
}

std::int64_t hdf5_collective_transfer(const Communicator& c) {
  const hid_t dxpl = H5Pcreate(H5P_DATASET_XFER);
  if (dxpl < 0) throw std::runtime_error("H5Pcreate(transfer) failed");
  if (c.parallel_io() && H5Pset_dxpl_mpio(dxpl, H5FD_MPIO_COLLECTIVE) < 0)
    throw std::runtime_error("H5Pset_dxpl_mpio failed");
  return dxpl;
}

}  // namespace plexus::comm
