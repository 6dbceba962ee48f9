#include "plexus/io/array_file.hpp"

#include <fmt/format.h>

#include "plexus/comm/hdf5_access.hpp"
#include "plexus/comm/watchdog.hpp"
#include "plexus/core/error.hpp"
#include "plexus/io/h5.hpp"

namespace plexus::io {

namespace {

// What the progress watchdog names when a rank waits too long in parallel HDF5's collectives.
constexpr const char* kCheckpointWrite = "a collective write of a checkpoint (parallel HDF5)";

void ensure_parent_groups(hid_t file, const std::string& path) {
  std::size_t pos = 1;
  while (true) {
    const auto next = path.find('/', pos);
    if (next == std::string::npos) break;
    const std::string sofar = path.substr(0, next);
    if (H5Lexists(file, sofar.c_str(), H5P_DEFAULT) <= 0)
      h5::group(H5Gcreate2(file, sofar.c_str(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), sofar);
    pos = next + 1;
  }
}

std::string absolute(const std::string& path) {
  return path.empty() || path[0] != '/' ? "/" + path : path;
}

}  // namespace

struct ArrayWriter::Impl {
  h5::Handle file;
  h5::Handle xfer;
};

ArrayWriter::ArrayWriter(const std::filesystem::path& path, comm::Communicator& comm)
    : comm_(comm), impl_(std::make_unique<Impl>()) {
  const comm::Watchdog::Wait wait(comm_.watchdog(), kCheckpointWrite);
  h5::Handle fapl{static_cast<hid_t>(comm::hdf5_file_access(comm_)), H5Pclose};
  hid_t fid;
  {
    h5::QuietErrors quiet;
    fid = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, fapl.id());
  }
  if (fid < 0) throw UserError(fmt::format("cannot create '{}'", path.string()));
  impl_->file = h5::Handle(fid, H5Fclose);
  impl_->xfer = h5::Handle(static_cast<hid_t>(comm::hdf5_collective_transfer(comm_)), H5Pclose);
}

ArrayWriter::~ArrayWriter() {
  if (impl_) {
    impl_->xfer.reset();
    impl_->file.reset();
  }
}

template <class T>
void ArrayWriter::write(const std::string& name, std::uint64_t rows, std::uint64_t total,
                        std::uint64_t offset, std::span<const T> local) {
  const comm::Watchdog::Wait wait(comm_.watchdog(), kCheckpointWrite);
  const std::string path = absolute(name);
  const hid_t file = impl_->file.id();
  ensure_parent_groups(file, path);
  const int rank = rows == 0 ? 1 : 2;
  const hsize_t dims[2] = {rows == 0 ? total : rows, total};
  auto space = h5::dataspace(H5Screate_simple(rank, dims, nullptr));
  auto ds = h5::dataset(
      H5Dcreate2(file, path.c_str(), h5::native_type<T>(), space.id(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
      path);
  if (total == 0) return;
  const std::uint64_t r = rows == 0 ? 1 : rows;
  const std::uint64_t count = local.size() / r;
  if (count * r != local.size()) throw std::logic_error("array " + path + ": block is not rows x count");
  auto fspace = h5::dataspace(H5Dget_space(ds.id()));
  const hsize_t mcount = local.size();
  auto mspace = h5::dataspace(H5Screate_simple(1, &mcount, nullptr));
  if (count == 0) {
    H5Sselect_none(fspace.id());
    H5Sselect_none(mspace.id());
  } else {
    const hsize_t start[2] = {rows == 0 ? offset : 0, offset};
    const hsize_t cnt[2] = {rows == 0 ? count : rows, count};
    H5Sselect_hyperslab(fspace.id(), H5S_SELECT_SET, start, nullptr, cnt, nullptr);
  }
  h5::check_status(
      H5Dwrite(ds.id(), h5::native_type<T>(), mspace.id(), fspace.id(), impl_->xfer.id(), local.data()),
      "write " + path);
}

void ArrayWriter::attribute(const std::string& name, const std::string& value) {
  const comm::Watchdog::Wait wait(comm_.watchdog(), kCheckpointWrite);
  auto type = h5::datatype(H5Tcopy(H5T_C_S1));
  H5Tset_size(type.id(), H5T_VARIABLE);
  H5Tset_cset(type.id(), H5T_CSET_UTF8);
  auto space = h5::dataspace(H5Screate(H5S_SCALAR));
  auto attr = h5::attribute(
      H5Acreate2(impl_->file.id(), name.c_str(), type.id(), space.id(), H5P_DEFAULT, H5P_DEFAULT), name);
  const char* p = value.c_str();
  h5::check_status(H5Awrite(attr.id(), type.id(), &p), "write attribute " + name);
}

void ArrayWriter::close() {
  const comm::Watchdog::Wait wait(comm_.watchdog(), kCheckpointWrite);
  if (!impl_->file) return;
  h5::check_status(H5Fflush(impl_->file.id(), H5F_SCOPE_GLOBAL), "flush");
  impl_->xfer.reset();
  impl_->file.reset();
}

// ------------------------------------------------------------------------------------------------
namespace {

// A stored array; a damaged file (an object header that does not parse) is the user's problem to
// hear of, like a truncated one, not an internal failure.
h5::Handle open_array(hid_t file, const std::filesystem::path& where, const std::string& path) {
  const hid_t id = H5Dopen2(file, path.c_str(), H5P_DEFAULT);
  if (id < 0)
    throw UserError(fmt::format("'{}': array {} cannot be opened ({}): the file is damaged", where.string(),
                                path, h5::reason()));
  return {id, H5Dclose};
}

}  // namespace

struct ArrayReader::Impl {
  h5::Handle file;
};

ArrayReader::ArrayReader(const std::filesystem::path& path, comm::Communicator& comm)
    : path_(path), impl_(std::make_unique<Impl>()) {
  h5::Handle fapl{static_cast<hid_t>(comm::hdf5_file_access(comm)), H5Pclose};
  hid_t fid;
  {
    h5::QuietErrors quiet;
    fid = H5Fopen(path.c_str(), H5F_ACC_RDONLY, fapl.id());
  }
  if (fid < 0)
    throw UserError(fmt::format("'{}' is not a readable HDF5 file (truncated or damaged?)", path.string()));
  impl_->file = h5::Handle(fid, H5Fclose);
}

ArrayReader::~ArrayReader() = default;

bool ArrayReader::has(const std::string& name) const {
  h5::QuietErrors quiet;
  return h5::exists(impl_->file.id(), absolute(name));
}

std::vector<std::uint64_t> ArrayReader::shape(const std::string& name) const {
  const std::string path = absolute(name);
  if (!has(path)) throw UserError(fmt::format("'{}' has no array {}", path_.string(), path));
  h5::QuietErrors quiet;
  auto ds = open_array(impl_->file.id(), path_, path);
  auto space = h5::dataspace(H5Dget_space(ds.id()));
  const int rank = H5Sget_simple_extent_ndims(space.id());
  std::vector<hsize_t> dims(static_cast<std::size_t>(std::max(rank, 0)));
  H5Sget_simple_extent_dims(space.id(), dims.data(), nullptr);
  return {dims.begin(), dims.end()};
}

template <class T>
void ArrayReader::read(const std::string& name, std::uint64_t rows, std::uint64_t offset,
                       std::span<T> out) const {
  const std::string path = absolute(name);
  const auto dims = shape(path);
  h5::QuietErrors quiet;
  auto ds = open_array(impl_->file.id(), path_, path);
  auto type = h5::datatype(H5Dget_type(ds.id()));
  if (H5Tequal(type.id(), h5::native_type<T>()) <= 0)
    throw UserError(
        fmt::format("'{}': array {} has another element type than expected", path_.string(), path));
  const std::uint64_t r = rows == 0 ? 1 : rows;
  const std::uint64_t count = out.size() / r;
  const std::uint64_t total = dims.empty() ? 0 : dims.back();
  if ((rows == 0 && dims.size() != 1) || (rows != 0 && (dims.size() != 2 || dims[0] != rows)) ||
      offset + count > total)
    throw UserError(fmt::format("'{}': array {} has another shape than expected", path_.string(), path));
  if (out.empty()) return;
  auto fspace = h5::dataspace(H5Dget_space(ds.id()));
  const hsize_t start[2] = {rows == 0 ? offset : 0, offset};
  const hsize_t cnt[2] = {rows == 0 ? count : rows, count};
  H5Sselect_hyperslab(fspace.id(), H5S_SELECT_SET, start, nullptr, cnt, nullptr);
  const hsize_t mcount = out.size();
  auto mspace = h5::dataspace(H5Screate_simple(1, &mcount, nullptr));
  if (H5Dread(ds.id(), h5::native_type<T>(), mspace.id(), fspace.id(), H5P_DEFAULT, out.data()) < 0)
    throw UserError(fmt::format("'{}': cannot read array {} (truncated or damaged?)", path_.string(), path));
}

std::string ArrayReader::attribute(const std::string& name) const {
  h5::QuietErrors quiet;
  if (H5Aexists(impl_->file.id(), name.c_str()) <= 0) return "";
  const hid_t aid = H5Aopen(impl_->file.id(), name.c_str(), H5P_DEFAULT);
  if (aid < 0)
    throw UserError(fmt::format("'{}': attribute {} cannot be read ({}): the file is damaged", path_.string(),
                                name, h5::reason()));
  const h5::Handle attr(aid, H5Aclose);
  auto type = h5::datatype(H5Aget_type(attr.id()));
  if (H5Tget_class(type.id()) != H5T_STRING || H5Tis_variable_str(type.id()) <= 0) return "";
  char* p = nullptr;
  if (H5Aread(attr.id(), type.id(), &p) < 0) return "";
  std::string s = p ? p : "";
  H5free_memory(p);
  return s;
}

#define PLEXUS_INSTANTIATE(T)                                                                          \
  template void ArrayWriter::write<T>(const std::string&, std::uint64_t, std::uint64_t, std::uint64_t, \
                                      std::span<const T>);                                             \
  template void ArrayReader::read<T>(const std::string&, std::uint64_t, std::uint64_t, std::span<T>) const;
PLEXUS_INSTANTIATE(double)
PLEXUS_INSTANTIATE(float)
PLEXUS_INSTANTIATE(std::uint64_t)
PLEXUS_INSTANTIATE(std::int64_t)
PLEXUS_INSTANTIATE(std::uint32_t)
PLEXUS_INSTANTIATE(std::uint8_t)
#undef PLEXUS_INSTANTIATE

}  // namespace plexus::io
