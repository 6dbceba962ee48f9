#include "plexus/io/result_file.hpp"

#include <algorithm>
#include <cstring>
#include <exception>
#include <iterator>
#include <optional>
#include <system_error>
#include <tuple>

#include <fmt/format.h>

#include "plexus/comm/hdf5_access.hpp"
#include "plexus/comm/watchdog.hpp"
#include "plexus/core/error.hpp"
#include "plexus/io/h5.hpp"

namespace plexus::io {

struct ResultFile::Impl {
  h5::Handle file;
  h5::Handle xfer;  // collective transfer property list
  std::map<std::string, h5::Handle> datasets;
  std::map<std::string, std::uint64_t> rows;  // current length (first dimension)
  std::map<std::string, std::uint64_t> columns;

  hid_t dataset(const std::string& path) {
    auto it = datasets.find(path);
    if (it == datasets.end()) throw std::logic_error("result file: no open dataset " + path);
    return it->second.id();
  }
};

namespace {

// What the progress watchdog names when a rank waits too long in parallel HDF5's collectives.
constexpr const char* kCollectiveWrite = "a collective write of the result file (parallel HDF5)";

std::string parent_of(const std::string& path) {
  const auto slash = path.rfind('/');
  return slash == 0 || slash == std::string::npos ? "/" : path.substr(0, slash);
}

h5::Handle open_object(hid_t file, const std::string& path) {
  return {h5::check(H5Oopen(file, path.c_str(), H5P_DEFAULT), "open " + path), H5Oclose};
}

void ensure_groups(hid_t file, const std::string& path) {
  std::size_t pos = 1;
  while (pos < path.size()) {
    const auto next = path.find('/', pos);
    const std::string sofar = path.substr(0, next);
    if (H5Lexists(file, sofar.c_str(), H5P_DEFAULT) <= 0)
      h5::group(H5Gcreate2(file, sofar.c_str(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), sofar);
    if (next == std::string::npos) break;
    pos = next + 1;
  }
}

// Chunks allocated when a dataset is extended, as parallel HDF5 does anyway: a file written by one
// process without MPI-IO (incremental allocation) and continued by several ranks from a checkpoint
// otherwise fails in collective writes (MPI_File_set_view: invalid datatype, HDF5 1.10 + OMPIO).
// Every chunk also carries HDF5's Fletcher-32 checksum, checked on every read: a flipped byte in a
// stored chunk (spikes, samples, curves) is found by `plexus verify`, by resume and by any reader.
void set_allocation(hid_t dcpl) {
  H5Pset_alloc_time(dcpl, H5D_ALLOC_TIME_EARLY);
  h5::check_status(H5Pset_fletcher32(dcpl), "set the Fletcher-32 filter");
}

}  // namespace

ResultFile::ResultFile(std::filesystem::path final_path, comm::Communicator& comm, Mode mode)
    : final_(std::move(final_path)), comm_(comm), impl_(std::make_unique<Impl>()) {
  const comm::Watchdog::Wait wait(comm_.watchdog(), kCollectiveWrite);
  // Failures are reported by our messages, with HDF5's reason (h5::failed), not by HDF5's own dump of
  // its error stack on stderr.
  H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
  partial_ = final_;
  partial_ += ".partial";
  if (mode == Mode::Append) {
    if (!std::filesystem::exists(partial_))
      throw UserError(fmt::format("cannot continue the result file: '{}' does not exist{}", partial_.string(),
                                  std::filesystem::exists(final_) ? " (the run has finished)" : ""));
    h5::Handle fapl{static_cast<hid_t>(comm::hdf5_file_access(comm_)), H5Pclose};
    hid_t fid;
    {
      h5::QuietErrors quiet;
      fid = H5Fopen(partial_.c_str(), H5F_ACC_RDWR, fapl.id());
    }
    if (fid < 0)
      throw UserError(fmt::format(
          "cannot continue the result file: '{}' is not a readable HDF5 file (damaged?)", partial_.string()));
    impl_->file = h5::Handle(fid, H5Fclose);
    impl_->xfer = h5::Handle(static_cast<hid_t>(comm::hdf5_collective_transfer(comm_)), H5Pclose);
    return;
  }
  // A new run replaces an earlier result of the same name, but nothing else: a mistyped -o must not
  // destroy a file that is not a result.
  if (std::filesystem::is_directory(final_))
    throw UserError(fmt::format("the output '{}' is a directory; give a file name with -o", final_.string()));
  if (std::filesystem::exists(final_)) {
    htri_t hdf5;
    {
      h5::QuietErrors quiet;
      hdf5 = H5Fis_hdf5(final_.c_str());
    }
    if (hdf5 <= 0)
      throw UserError(
          fmt::format("the output '{}' exists and is not an HDF5 file: not replacing it (remove it, "
                      "or choose another name with -o)",
                      final_.string()));
  }
  if (comm_.rank() == 0 && final_.has_parent_path()) {
    std::error_code ec;
    std::filesystem::create_directories(final_.parent_path(), ec);
    if (ec)
      throw UserError(
          fmt::format("cannot create directory '{}': {}", final_.parent_path().string(), ec.message()));
  }
  comm_.barrier();
  h5::Handle fapl{static_cast<hid_t>(comm::hdf5_file_access(comm_)), H5Pclose};
  hid_t fid;
  {
    h5::QuietErrors quiet;
    fid = H5Fcreate(partial_.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, fapl.id());
  }
  if (fid < 0) throw UserError(fmt::format("cannot create output file '{}'", partial_.string()));
  impl_->file = h5::Handle(fid, H5Fclose);
  impl_->xfer = h5::Handle(static_cast<hid_t>(comm::hdf5_collective_transfer(comm_)), H5Pclose);
}

ResultFile::~ResultFile() {
  // A failure on some ranks only, unwinding: closing is collective and the other ranks are elsewhere, so
  // the handles are left to the job's end (MPI_Abort) rather than wait for ever.
  if (impl_ && comm_.size() > 1 && std::uncaught_exceptions() > 0) {
    for (auto& [path, ds] : impl_->datasets) (void)ds.release();
    (void)impl_->xfer.release();
    (void)impl_->file.release();
    return;
  }
  // Close handles before the file; an uncommitted file keeps its ".partial" name.
  if (impl_) {
    impl_->datasets.clear();
    impl_->xfer.reset();
    impl_->file.reset();
  }
}

void ResultFile::create_group(const std::string& path) {
  const comm::Watchdog::Wait wait(comm_.watchdog(), kCollectiveWrite);
  ensure_groups(impl_->file.id(), path);
}

void ResultFile::attribute(const std::string& object, const std::string& name, const std::string& value) {
  const comm::Watchdog::Wait wait(comm_.watchdog(), kCollectiveWrite);
  auto obj = open_object(impl_->file.id(), object);
  auto type = h5::datatype(H5Tcopy(H5T_C_S1));
  H5Tset_size(type.id(), H5T_VARIABLE);
  H5Tset_cset(type.id(), H5T_CSET_UTF8);
  auto space = h5::dataspace(H5Screate(H5S_SCALAR));
  if (H5Aexists(obj.id(), name.c_str()) > 0) H5Adelete(obj.id(), name.c_str());
  auto attr = h5::attribute(
      H5Acreate2(obj.id(), name.c_str(), type.id(), space.id(), H5P_DEFAULT, H5P_DEFAULT), name);
  const char* p = value.c_str();
  h5::check_status(H5Awrite(attr.id(), type.id(), &p), "write attribute " + name);
}

namespace {
template <class T>
void numeric_attribute(hid_t file, const std::string& object, const std::string& name, T value) {
  auto obj = open_object(file, object);
  auto space = h5::dataspace(H5Screate(H5S_SCALAR));
  if (H5Aexists(obj.id(), name.c_str()) > 0) H5Adelete(obj.id(), name.c_str());
  auto attr = h5::attribute(
      H5Acreate2(obj.id(), name.c_str(), h5::native_type<T>(), space.id(), H5P_DEFAULT, H5P_DEFAULT), name);
  h5::check_status(H5Awrite(attr.id(), h5::native_type<T>(), &value), "write attribute " + name);
}
}  // namespace

void ResultFile::attribute(const std::string& object, const std::string& name, double value) {
  numeric_attribute(impl_->file.id(), object, name, value);
}
void ResultFile::attribute(const std::string& object, const std::string& name, std::int64_t value) {
  numeric_attribute(impl_->file.id(), object, name, value);
}

void ResultFile::sorting_attribute(const std::string& object, std::uint8_t value) {
  const comm::Watchdog::Wait wait(comm_.watchdog(), kCollectiveWrite);
  auto obj = open_object(impl_->file.id(), object);
  auto type = h5::datatype(H5Tenum_create(H5T_NATIVE_UINT8));
  const std::uint8_t none = 0, by_id = 1, by_time = 2;
  H5Tenum_insert(type.id(), "none", &none);
  H5Tenum_insert(type.id(), "by_id", &by_id);
  H5Tenum_insert(type.id(), "by_time", &by_time);
  auto space = h5::dataspace(H5Screate(H5S_SCALAR));
  auto attr = h5::attribute(H5Acreate2(obj.id(), "sorting", type.id(), space.id(), H5P_DEFAULT, H5P_DEFAULT),
                            "sorting");
  h5::check_status(H5Awrite(attr.id(), type.id(), &value), "write sorting");
}

void ResultFile::write_text(const std::string& path, const std::string& text) {
  const comm::Watchdog::Wait wait(comm_.watchdog(), kCollectiveWrite);
  ensure_groups(impl_->file.id(), parent_of(path));
  auto type = h5::datatype(H5Tcopy(H5T_C_S1));
  H5Tset_size(type.id(), std::max<std::size_t>(1, text.size()));
  H5Tset_cset(type.id(), H5T_CSET_UTF8);
  auto space = h5::dataspace(H5Screate(H5S_SCALAR));
  auto ds = h5::dataset(H5Dcreate2(impl_->file.id(), path.c_str(), type.id(), space.id(), H5P_DEFAULT,
                                   H5P_DEFAULT, H5P_DEFAULT),
                        path);
  auto fspace = h5::dataspace(H5Dget_space(ds.id()));
  auto mspace = h5::dataspace(H5Screate(H5S_SCALAR));
  if (comm_.rank() != 0) {
    H5Sselect_none(fspace.id());
    H5Sselect_none(mspace.id());
  }
  std::string buf = text;
  buf.resize(std::max<std::size_t>(1, text.size()), '\0');
  h5::check_status(H5Dwrite(ds.id(), type.id(), mspace.id(), fspace.id(), impl_->xfer.id(), buf.data()),
                   "write " + path);
}

template <class T>
void ResultFile::write_replicated(const std::string& path, std::span<const T> values) {
  const comm::Watchdog::Wait wait(comm_.watchdog(), kCollectiveWrite);
  ensure_groups(impl_->file.id(), parent_of(path));
  const hsize_t n = values.size();
  auto space = h5::dataspace(H5Screate_simple(1, &n, nullptr));
  auto ds = h5::dataset(H5Dcreate2(impl_->file.id(), path.c_str(), h5::native_type<T>(), space.id(),
                                   H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
                        path);
  // An empty dataset has no storage; a collective write into it fails in parallel HDF5. Every rank
  // has the same n, so all skip it alike.
  if (n == 0) return;
  auto fspace = h5::dataspace(H5Dget_space(ds.id()));
  auto mspace = h5::dataspace(H5Screate_simple(1, &n, nullptr));
  if (comm_.rank() != 0) {
    H5Sselect_none(fspace.id());
    H5Sselect_none(mspace.id());
  }
  h5::check_status(
      H5Dwrite(ds.id(), h5::native_type<T>(), mspace.id(), fspace.id(), impl_->xfer.id(), values.data()),
      "write " + path);
}

template <class T>
void ResultFile::create_series(const std::string& path, std::size_t chunk) {
  const comm::Watchdog::Wait wait(comm_.watchdog(), kCollectiveWrite);
  ensure_groups(impl_->file.id(), parent_of(path));
  const hsize_t dims = 0, maxdims = H5S_UNLIMITED, chunk_dims = std::max<std::size_t>(1, chunk);
  auto space = h5::dataspace(H5Screate_simple(1, &dims, &maxdims));
  auto dcpl = h5::plist(H5Pcreate(H5P_DATASET_CREATE));
  H5Pset_chunk(dcpl.id(), 1, &chunk_dims);
  set_allocation(dcpl.id());
  impl_->datasets[path] = h5::dataset(H5Dcreate2(impl_->file.id(), path.c_str(), h5::native_type<T>(),
                                                 space.id(), H5P_DEFAULT, dcpl.id(), H5P_DEFAULT),
                                      path);
  impl_->rows[path] = 0;
}

template <class T>
void ResultFile::append(const std::string& path, std::span<const T> local) {
  const comm::Watchdog::Wait wait(comm_.watchdog(), kCollectiveWrite);
  const hid_t ds = impl_->dataset(path);
  const auto place = comm_.place(local.size());
  if (place.total == 0) return;
  const hsize_t start = impl_->rows[path] + place.offset, count = local.size();
  const hsize_t new_size = impl_->rows[path] + place.total;
  h5::check_status(H5Dset_extent(ds, &new_size), "extend " + path);
  impl_->rows[path] = new_size;
  auto fspace = h5::dataspace(H5Dget_space(ds));
  auto mspace = h5::dataspace(H5Screate_simple(1, &count, nullptr));
  if (count == 0) {
    H5Sselect_none(fspace.id());
    H5Sselect_none(mspace.id());
  } else {
    H5Sselect_hyperslab(fspace.id(), H5S_SELECT_SET, &start, nullptr, &count, nullptr);
  }
  h5::check_status(
      H5Dwrite(ds, h5::native_type<T>(), mspace.id(), fspace.id(), impl_->xfer.id(), local.data()),
      "write " + path);
}

template <class T>
void ResultFile::create_table(const std::string& path, std::size_t columns, std::size_t chunk_rows) {
  const comm::Watchdog::Wait wait(comm_.watchdog(), kCollectiveWrite);
  ensure_groups(impl_->file.id(), parent_of(path));
  const hsize_t dims[2] = {0, columns};
  const hsize_t maxdims[2] = {H5S_UNLIMITED, columns};
  const hsize_t chunk[2] = {std::max<std::size_t>(1, chunk_rows),
                            std::max<hsize_t>(1, std::min<hsize_t>(columns, 4096))};
  auto space = h5::dataspace(H5Screate_simple(2, dims, maxdims));
  auto dcpl = h5::plist(H5Pcreate(H5P_DATASET_CREATE));
  H5Pset_chunk(dcpl.id(), 2, chunk);
  set_allocation(dcpl.id());
  impl_->datasets[path] = h5::dataset(H5Dcreate2(impl_->file.id(), path.c_str(), h5::native_type<T>(),
                                                 space.id(), H5P_DEFAULT, dcpl.id(), H5P_DEFAULT),
                                      path);
  impl_->rows[path] = 0;
  impl_->columns[path] = columns;
}

template <class T>
void ResultFile::append_rows(const std::string& path, std::size_t rows, std::size_t column_offset,
                             std::size_t local_columns, std::span<const T> block) {
  const comm::Watchdog::Wait wait(comm_.watchdog(), kCollectiveWrite);
  if (rows == 0) return;
  const hid_t ds = impl_->dataset(path);
  const hsize_t new_dims[2] = {impl_->rows[path] + rows, impl_->columns[path]};
  h5::check_status(H5Dset_extent(ds, new_dims), "extend " + path);
  const hsize_t start[2] = {impl_->rows[path], column_offset};
  const hsize_t count[2] = {rows, local_columns};
  impl_->rows[path] += rows;
  auto fspace = h5::dataspace(H5Dget_space(ds));
  auto mspace = h5::dataspace(H5Screate_simple(2, count, nullptr));
  if (local_columns == 0) {
    H5Sselect_none(fspace.id());
    H5Sselect_none(mspace.id());
  } else {
    H5Sselect_hyperslab(fspace.id(), H5S_SELECT_SET, start, nullptr, count, nullptr);
  }
  h5::check_status(
      H5Dwrite(ds, h5::native_type<T>(), mspace.id(), fspace.id(), impl_->xfer.id(), block.data()),
      "write " + path);
}

void ResultFile::reopen(const std::string& path, std::uint64_t rows) {
  const comm::Watchdog::Wait wait(comm_.watchdog(), kCollectiveWrite);
  hid_t id;
  {
    h5::QuietErrors quiet;
    id = h5::exists(impl_->file.id(), path) ? H5Dopen2(impl_->file.id(), path.c_str(), H5P_DEFAULT) : -1;
  }
  if (id < 0)
    throw UserError(
        fmt::format("cannot continue the result file '{}': it has no dataset {}", partial_.string(), path));
  auto ds = h5::dataset(id, path);
  auto space = h5::dataspace(H5Dget_space(ds.id()));
  const int rank = H5Sget_simple_extent_ndims(space.id());
  hsize_t dims[2] = {0, 0};
  if (rank < 1 || rank > 2)
    throw UserError(fmt::format("'{}': {} is not extensible", partial_.string(), path));
  H5Sget_simple_extent_dims(space.id(), dims, nullptr);
  if (dims[0] < rows)
    throw UserError(
        fmt::format("cannot continue the result file '{}': {} has {} rows, fewer than the {} it had at the "
                    "checkpoint (the file "
                    "was changed or damaged)",
                    partial_.string(), path, dims[0], rows));
  dims[0] = rows;
  h5::check_status(H5Dset_extent(ds.id(), dims), "cut back " + path);
  impl_->rows[path] = rows;
  if (rank == 2) impl_->columns[path] = dims[1];
  impl_->datasets[path] = std::move(ds);
}

const std::map<std::string, std::uint64_t>& ResultFile::lengths() const {
  return impl_->rows;
}

namespace {

// FNV-1a (64 bits): enough to tell a torn write from the rows a checkpoint counted.
std::uint64_t fnv1a(const unsigned char* p, std::size_t n) {
  std::uint64_t h = 1469598103934665603ull;
  for (std::size_t i = 0; i < n; ++i) h = (h ^ p[i]) * 1099511628211ull;
  return h;
}

// HDF5's Fletcher-32 (H5Zfletcher32.c): 16-bit big-endian words, sums folded every 360 words; the
// filter stores it little-endian after the data.
std::uint32_t fletcher32(const unsigned char* data, std::size_t len) {
  std::uint32_t sum1 = 0, sum2 = 0;
  std::size_t words = len / 2;
  while (words) {
    std::size_t t = std::min<std::size_t>(words, 360);
    words -= t;
    for (; t; --t, data += 2) {
      sum1 += (static_cast<std::uint32_t>(data[0]) << 8) | data[1];
      sum2 += sum1;
    }
    sum1 = (sum1 & 0xffff) + (sum1 >> 16);
    sum2 = (sum2 & 0xffff) + (sum2 >> 16);
  }
  if (len % 2) {
    sum1 += static_cast<std::uint32_t>(*data) << 8;
    sum2 += sum1;
    sum1 = (sum1 & 0xffff) + (sum1 >> 16);
    sum2 = (sum2 & 0xffff) + (sum2 >> 16);
  }
  sum1 = (sum1 & 0xffff) + (sum1 >> 16);
  sum2 = (sum2 & 0xffff) + (sum2 >> 16);
  return (sum2 << 16) | sum1;
}

// A chunked dataset's geometry: dims, chunk dims, element size.
struct Geometry {
  std::vector<hsize_t> dims, chunk;
  std::size_t element = 0;
  std::uint64_t row_bytes() const {
    std::uint64_t b = element;
    for (std::size_t d = 1; d < dims.size(); ++d) b *= dims[d];
    return b;
  }
  std::size_t columns() const { return dims.size() == 2 ? dims[1] : 1; }
  std::size_t chunk_columns() const { return dims.size() == 2 ? chunk[1] : 1; }
  std::size_t chunk_data_bytes() const { return chunk[0] * chunk_columns() * element; }
  // The first row of the chunk that holds row `rows` (the end of the data): the last, partly filled
  // chunk starts there; equal to `rows` when every chunk is full.
  std::uint64_t tail_first(std::uint64_t rows) const { return rows - rows % chunk[0]; }
};

std::optional<Geometry> geometry(hid_t ds) {
  h5::Handle dcpl(H5Dget_create_plist(ds), H5Pclose);
  if (!dcpl || H5Pget_layout(dcpl.id()) != H5D_CHUNKED) return std::nullopt;
  h5::Handle space(H5Dget_space(ds), H5Sclose);
  h5::Handle type(H5Dget_type(ds), H5Tclose);
  const int rank = H5Sget_simple_extent_ndims(space.id());
  if (rank < 1 || rank > 2) return std::nullopt;
  Geometry g;
  g.dims.resize(static_cast<std::size_t>(rank));
  g.chunk.resize(static_cast<std::size_t>(rank));
  H5Sget_simple_extent_dims(space.id(), g.dims.data(), nullptr);
  if (H5Pget_chunk(dcpl.id(), rank, g.chunk.data()) != rank || g.chunk[0] == 0) return std::nullopt;
  g.element = H5Tget_size(type.id());
  return g;
}

// The chunk at `offset` as stored (its data, then the checksum; none checked); nullopt if it cannot be
// read or is shorter than its data.
std::optional<std::vector<unsigned char>> raw_chunk(hid_t ds, const Geometry& g, const hsize_t* offset) {
  hsize_t stored = 0;
  if (H5Dget_chunk_storage_size(ds, offset, &stored) < 0 || stored < g.chunk_data_bytes())
    return std::nullopt;
  std::vector<unsigned char> raw(stored);
  std::uint32_t mask = 0;
  if (H5Dread_chunk(ds, H5P_DEFAULT, offset, &mask, raw.data()) < 0) return std::nullopt;
  return raw;
}

// Rows [first, last) of every column of `ds` as stored, assembled row-major from the raw chunks (no
// checksum checked); nullopt if a chunk cannot be read.
std::optional<std::vector<unsigned char>> raw_rows(hid_t ds, const Geometry& g, hsize_t first, hsize_t last) {
  const std::size_t cols = g.columns(), ccols = g.chunk_columns();
  const std::size_t n = last - first;
  std::vector<unsigned char> out(n * cols * g.element);
  for (std::size_t c0 = 0; c0 < cols; c0 += ccols) {
    const hsize_t offset[2] = {first, c0};
    const auto raw = raw_chunk(ds, g, offset);
    if (!raw) return std::nullopt;
    const std::size_t w = std::min(ccols, cols - c0);
    for (std::size_t r = 0; r < n; ++r)
      std::memcpy(out.data() + (r * cols + c0) * g.element, raw->data() + r * ccols * g.element,
                  w * g.element);
  }
  return out;
}

}  // namespace

std::map<std::string, std::uint64_t> ResultFile::tail_digests() {
  const comm::Watchdog::Wait wait(comm_.watchdog(), kCollectiveWrite);
  std::map<std::string, std::uint64_t> out;
  for (const auto& [path, rows] : impl_->rows) {
    const hid_t ds = impl_->dataset(path);
    const auto g = geometry(ds);
    if (!g || g->tail_first(rows) == rows) continue;
    const hsize_t first = g->tail_first(rows);
    std::vector<hsize_t> start(g->dims.size(), 0), count = g->dims;
    start[0] = first;
    count[0] = rows - first;
    h5::Handle type(H5Dget_type(ds), H5Tclose);
    auto fspace = h5::dataspace(H5Dget_space(ds));
    H5Sselect_hyperslab(fspace.id(), H5S_SELECT_SET, start.data(), nullptr, count.data(), nullptr);
    auto mspace = h5::dataspace(H5Screate_simple(static_cast<int>(count.size()), count.data(), nullptr));
    std::vector<unsigned char> bytes((rows - first) * g->row_bytes());
    // Every rank reads the same rows (collectively) and so computes the same digest.
    h5::check_status(H5Dread(ds, type.id(), mspace.id(), fspace.id(), impl_->xfer.id(), bytes.data()),
                     "read back " + path);
    out[path] = fnv1a(bytes.data(), bytes.size());
  }
  return out;
}

void ResultFile::flush() {
  const comm::Watchdog::Wait wait(comm_.watchdog(), kCollectiveWrite);
  h5::check_status(H5Fflush(impl_->file.id(), H5F_SCOPE_GLOBAL), "flush");
}

void ResultFile::commit() {
  const comm::Watchdog::Wait wait(comm_.watchdog(), kCollectiveWrite);
  impl_->datasets.clear();
  impl_->xfer.reset();
  impl_->file.reset();
  comm_.barrier();
  if (comm_.rank() == 0) {
    std::error_code ec;
    std::filesystem::rename(partial_, final_, ec);
    if (ec)
      throw std::runtime_error(
          fmt::format("cannot rename '{}' to '{}': {}", partial_.string(), final_.string(), ec.message()));
  }
  comm_.barrier();
}

#define PLEXUS_INSTANTIATE(T)                                                                         \
  template void ResultFile::write_replicated<T>(const std::string&, std::span<const T>);              \
  template void ResultFile::create_series<T>(const std::string&, std::size_t);                        \
  template void ResultFile::append<T>(const std::string&, std::span<const T>);                        \
  template void ResultFile::create_table<T>(const std::string&, std::size_t, std::size_t);            \
  template void ResultFile::append_rows<T>(const std::string&, std::size_t, std::size_t, std::size_t, \
                                           std::span<const T>);
PLEXUS_INSTANTIATE(double)
PLEXUS_INSTANTIATE(float)
PLEXUS_INSTANTIATE(std::uint64_t)
PLEXUS_INSTANTIATE(std::int64_t)
PLEXUS_INSTANTIATE(std::uint32_t)
#undef PLEXUS_INSTANTIATE

// ------------------------------------------------------------------------------------------------
Reader::Reader(const std::filesystem::path& path) : path_(path) {
  h5::QuietErrors quiet;
  if (!std::filesystem::exists(path)) throw UserError(fmt::format("{}: no such file", path.string()));
  file_ = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  if (file_ < 0) throw UserError(fmt::format("{}: not an HDF5 file, or damaged", path.string()));
}

Reader::~Reader() {
  if (file_ >= 0) H5Fclose(file_);
}

bool Reader::exists(const std::string& path) const {
  h5::QuietErrors quiet;
  return path == "/" || h5::exists(file_, path);
}

bool Reader::is_group(const std::string& path) const {
  if (!exists(path)) return false;
  H5O_info_t info;
  if (H5Oget_info_by_name2(file_, path.c_str(), &info, H5O_INFO_BASIC, H5P_DEFAULT) < 0) return false;
  return info.type == H5O_TYPE_GROUP;
}

std::vector<std::string> Reader::children(const std::string& group) const {
  std::vector<std::string> out;
  auto g = h5::group(H5Gopen2(file_, group.c_str(), H5P_DEFAULT), group);
  H5G_info_t info;
  H5Gget_info(g.id(), &info);
  for (hsize_t i = 0; i < info.nlinks; ++i) {
    const ssize_t len =
        H5Lget_name_by_idx(g.id(), ".", H5_INDEX_NAME, H5_ITER_INC, i, nullptr, 0, H5P_DEFAULT);
    std::string name(static_cast<std::size_t>(len), '\0');
    H5Lget_name_by_idx(g.id(), ".", H5_INDEX_NAME, H5_ITER_INC, i, name.data(), name.size() + 1, H5P_DEFAULT);
    out.push_back(name);
  }
  std::sort(out.begin(), out.end());
  return out;
}

namespace {
std::string type_name(hid_t type) {
  switch (H5Tget_class(type)) {
    case H5T_FLOAT:
      return fmt::format("float{}", 8 * H5Tget_size(type));
    case H5T_INTEGER:
      return fmt::format("{}int{}", H5Tget_sign(type) == H5T_SGN_NONE ? "u" : "", 8 * H5Tget_size(type));
    case H5T_STRING:
      return "string";
    case H5T_ENUM:
      return "enum";
    case H5T_VLEN:
      return "vlen";
    default:
      return "other";
  }
}
}  // namespace

DatasetInfo Reader::info(const std::string& dataset) const {
  auto ds = h5::dataset(H5Dopen2(file_, dataset.c_str(), H5P_DEFAULT), dataset);
  auto space = h5::dataspace(H5Dget_space(ds.id()));
  const int rank = H5Sget_simple_extent_ndims(space.id());
  std::vector<hsize_t> dims(static_cast<std::size_t>(std::max(rank, 0)));
  H5Sget_simple_extent_dims(space.id(), dims.data(), nullptr);
  auto type = h5::datatype(H5Dget_type(ds.id()));
  return {dataset, std::vector<std::uint64_t>(dims.begin(), dims.end()), type_name(type.id())};
}

namespace {
// A whole dataset as T. A read that fails (a chunk whose checksum does not match, a truncated file) is
// the file's fault: a UserError naming the file, the dataset and HDF5's reason.
template <class T>
std::vector<T> read_whole(hid_t file, const std::filesystem::path& path, const std::string& dataset) {
  h5::QuietErrors quiet;
  const hid_t id = H5Dopen2(file, dataset.c_str(), H5P_DEFAULT);
  if (id < 0)
    throw UserError(
        fmt::format("{}: dataset {} cannot be opened ({})", path.string(), dataset, h5::reason()));
  h5::Handle ds(id, H5Dclose);
  auto space = h5::dataspace(H5Dget_space(ds.id()));
  const auto n = static_cast<std::size_t>(H5Sget_simple_extent_npoints(space.id()));
  std::vector<T> out(n);
  if (n && H5Dread(ds.id(), h5::native_type<T>(), H5S_ALL, H5S_ALL, H5P_DEFAULT, out.data()) < 0)
    throw UserError(
        fmt::format("{}: dataset {} cannot be read ({}); the file is damaged (plexus verify checks "
                    "all of it)",
                    path.string(), dataset, h5::reason()));
  return out;
}
}  // namespace

std::vector<double> Reader::read_doubles(const std::string& dataset) const {
  return read_whole<double>(file_, path_, dataset);
}

std::vector<std::uint64_t> Reader::read_u64(const std::string& dataset) const {
  return read_whole<std::uint64_t>(file_, path_, dataset);
}

namespace {
// Selects rows [first, first + count) of `space` (all of the other dimensions); the memory space that
// receives them is returned.
h5::Handle select_rows(hid_t space, const std::string& dataset, std::uint64_t first, std::uint64_t count) {
  const int rank = H5Sget_simple_extent_ndims(space);
  if (rank < 1) throw UserError(fmt::format("{}: a scalar, not an array", dataset));
  std::vector<hsize_t> dims(static_cast<std::size_t>(rank));
  H5Sget_simple_extent_dims(space, dims.data(), nullptr);
  if (first + count > dims[0])
    throw UserError(
        fmt::format("{}: rows {}..{} asked for, it has {}", dataset, first, first + count, dims[0]));
  std::vector<hsize_t> start(dims.size(), 0), cnt = dims;
  start[0] = first;
  cnt[0] = count;
  h5::check_status(H5Sselect_hyperslab(space, H5S_SELECT_SET, start.data(), nullptr, cnt.data(), nullptr),
                   "select rows of " + dataset);
  return h5::dataspace(H5Screate_simple(rank, cnt.data(), nullptr));
}

template <class T>
std::vector<T> read_rows(hid_t file, const std::string& dataset, std::uint64_t first, std::uint64_t count) {
  auto ds = h5::dataset(H5Dopen2(file, dataset.c_str(), H5P_DEFAULT), dataset);
  auto space = h5::dataspace(H5Dget_space(ds.id()));
  auto mem = select_rows(space.id(), dataset, first, count);
  std::vector<T> out(static_cast<std::size_t>(H5Sget_simple_extent_npoints(mem.id())));
  if (!out.empty())
    h5::check_status(H5Dread(ds.id(), h5::native_type<T>(), mem.id(), space.id(), H5P_DEFAULT, out.data()),
                     "read " + dataset);
  return out;
}
}  // namespace

std::vector<double> Reader::read_doubles(const std::string& dataset, std::uint64_t first,
                                         std::uint64_t count) const {
  return read_rows<double>(file_, dataset, first, count);
}

std::vector<std::uint64_t> Reader::read_u64(const std::string& dataset, std::uint64_t first,
                                            std::uint64_t count) const {
  return read_rows<std::uint64_t>(file_, dataset, first, count);
}

std::vector<std::vector<double>> Reader::read_ragged(const std::string& dataset, std::uint64_t first,
                                                     std::uint64_t count) const {
  auto ds = h5::dataset(H5Dopen2(file_, dataset.c_str(), H5P_DEFAULT), dataset);
  auto stored = h5::datatype(H5Dget_type(ds.id()));
  if (H5Tget_class(stored.id()) != H5T_VLEN)
    throw UserError(fmt::format("{}: not a variable-length (ragged) dataset", dataset));
  auto space = h5::dataspace(H5Dget_space(ds.id()));
  if (H5Sget_simple_extent_ndims(space.id()) != 1)
    throw UserError(fmt::format("{}: a ragged dataset must be one-dimensional", dataset));
  auto mem = select_rows(space.id(), dataset, first, count);
  // HDF5 converts the stored base type (float32, uint16, ...) to double element by element.
  auto type = h5::datatype(H5Tvlen_create(H5T_NATIVE_DOUBLE));
  std::vector<hvl_t> raw(count);
  std::vector<std::vector<double>> out(count);
  if (count == 0) return out;
  h5::check_status(H5Dread(ds.id(), type.id(), mem.id(), space.id(), H5P_DEFAULT, raw.data()),
                   "read " + dataset);
  for (std::size_t i = 0; i < count; ++i) {
    const auto* p = static_cast<const double*>(raw[i].p);
    out[i].assign(p, p + raw[i].len);
  }
#if H5_VERSION_GE(1, 12, 0)
  H5Treclaim(type.id(), mem.id(), H5P_DEFAULT, raw.data());
#else
  H5Dvlen_reclaim(type.id(), mem.id(), H5P_DEFAULT, raw.data());
#endif
  return out;
}

std::string Reader::read_text(const std::string& dataset) const {
  auto ds = h5::dataset(H5Dopen2(file_, dataset.c_str(), H5P_DEFAULT), dataset);
  auto type = h5::datatype(H5Dget_type(ds.id()));
  if (H5Tis_variable_str(type.id()) > 0) {
    char* p = nullptr;
    auto mtype = h5::datatype(H5Tcopy(H5T_C_S1));
    H5Tset_size(mtype.id(), H5T_VARIABLE);
    h5::check_status(H5Dread(ds.id(), mtype.id(), H5S_ALL, H5S_ALL, H5P_DEFAULT, &p), "read " + dataset);
    std::string s = p ? p : "";
    H5free_memory(p);
    return s;
  }
  std::string s(H5Tget_size(type.id()), '\0');
  h5::check_status(H5Dread(ds.id(), type.id(), H5S_ALL, H5S_ALL, H5P_DEFAULT, s.data()), "read " + dataset);
  s.resize(std::strlen(s.c_str()));
  return s;
}

std::string Reader::attribute(const std::string& object, const std::string& name) const {
  h5::QuietErrors quiet;
  if (!exists(object)) return "";
  auto obj = open_object(file_, object);
  if (H5Aexists(obj.id(), name.c_str()) <= 0) return "";
  auto attr = h5::attribute(H5Aopen(obj.id(), name.c_str(), H5P_DEFAULT), name);
  auto type = h5::datatype(H5Aget_type(attr.id()));
  switch (H5Tget_class(type.id())) {
    case H5T_STRING: {
      if (H5Tis_variable_str(type.id()) > 0) {
        char* p = nullptr;
        H5Aread(attr.id(), type.id(), &p);
        std::string s = p ? p : "";
        H5free_memory(p);
        return s;
      }
      std::string s(H5Tget_size(type.id()), '\0');
      H5Aread(attr.id(), type.id(), s.data());
      s.resize(std::strlen(s.c_str()));
      return s;
    }
    case H5T_FLOAT: {
      double v = 0;
      H5Aread(attr.id(), H5T_NATIVE_DOUBLE, &v);
      return fmt::format("{}", v);
    }
    case H5T_INTEGER: {
      std::int64_t v = 0;
      H5Aread(attr.id(), H5T_NATIVE_INT64, &v);
      return fmt::format("{}", v);
    }
    case H5T_ENUM: {
      std::uint8_t v = 0;
      auto native = h5::datatype(H5Tget_native_type(type.id(), H5T_DIR_ASCEND));
      H5Aread(attr.id(), native.id(), &v);
      char buf[64] = {0};
      if (H5Tenum_nameof(native.id(), &v, buf, sizeof buf) < 0) return fmt::format("{}", v);
      return buf;
    }
    default:
      return "?";
  }
}

// ------------------------------------------------------------------------------------------------
namespace {

// verify() and compare(): a file to read, or a UserError naming what is wrong with it.
h5::Handle open_read_only(const std::filesystem::path& path) {
  if (!std::filesystem::exists(path)) throw UserError(fmt::format("{}: no such file", path.string()));
  const hid_t fid = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  if (fid < 0) throw UserError(fmt::format("{}: not an HDF5 file, or damaged", path.string()));
  return {fid, H5Fclose};
}

herr_t collect_dataset(hid_t, const char* name, const H5O_info_t* info, void* out) {
  if (info->type == H5O_TYPE_DATASET)
    static_cast<std::vector<std::string>*>(out)->push_back(std::string("/") + name);
  return 0;
}

}  // namespace

Verification verify(const std::filesystem::path& path, const std::map<std::string, std::uint64_t>& rows,
                    const std::map<std::string, std::uint64_t>& tails) {
  h5::QuietErrors quiet;
  const h5::Handle file = open_read_only(path);
  Verification v;
  std::vector<std::string> names;
  if (H5Ovisit2(file.id(), H5_INDEX_NAME, H5_ITER_INC, collect_dataset, &names, H5O_INFO_BASIC) < 0) {
    v.damaged.push_back(fmt::format("(structure): the file's groups cannot be walked ({})", h5::reason()));
    return v;
  }
  constexpr std::uint64_t kBlockBytes = 16u << 20;
  for (const auto& name : names) {
    const hid_t did = H5Dopen2(file.id(), name.c_str(), H5P_DEFAULT);
    if (did < 0) {
      v.damaged.push_back(fmt::format("{}: cannot be opened ({})", name, h5::reason()));
      continue;
    }
    h5::Handle ds(did, H5Dclose);
    h5::Handle dcpl(H5Dget_create_plist(ds.id()), H5Pclose);
    if (H5Pget_layout(dcpl.id()) != H5D_CHUNKED) continue;  // written once, small, no checksum
    ++v.datasets;
    unsigned flags = 0;
    std::size_t nelmts = 0;
    if (H5Pget_filter_by_id2(dcpl.id(), H5Z_FILTER_FLETCHER32, &flags, &nelmts, nullptr, 0, nullptr,
                             nullptr) < 0)
      ++v.without_checksum;
    h5::Handle type(H5Dget_type(ds.id()), H5Tclose);
    h5::Handle space(H5Dget_space(ds.id()), H5Sclose);
    const int rank = H5Sget_simple_extent_ndims(space.id());
    if (rank < 1 || H5Tis_variable_str(type.id()) > 0 || H5Tget_class(type.id()) == H5T_VLEN) continue;
    std::vector<hsize_t> dims(static_cast<std::size_t>(rank));
    H5Sget_simple_extent_dims(space.id(), dims.data(), nullptr);
    std::uint64_t n_rows = dims[0];
    if (const auto it = rows.find(name); it != rows.end())
      n_rows = std::min<std::uint64_t>(n_rows, it->second);
    std::uint64_t row_bytes = H5Tget_size(type.id());
    for (std::size_t d = 1; d < dims.size(); ++d) row_bytes *= dims[d];
    if (row_bytes == 0 || n_rows == 0) continue;
    // The last chunk the checkpoint counted rows of, when it has a digest: checked on its own below.
    std::optional<Geometry> tail_geometry;
    std::uint64_t tail_first = n_rows;
    if (const auto t = tails.find(name); t != tails.end()) {
      tail_geometry = geometry(ds.id());
      if (tail_geometry && tail_geometry->tail_first(n_rows) != n_rows)
        tail_first = tail_geometry->tail_first(n_rows);
      else
        tail_geometry.reset();
    }
    const std::uint64_t checked_rows = n_rows;
    n_rows = tail_first;
    const std::uint64_t block = std::max<std::uint64_t>(1, kBlockBytes / row_bytes);
    std::vector<unsigned char> buffer;
    for (std::uint64_t first = 0; first < n_rows; first += block) {
      const std::uint64_t count = std::min(block, n_rows - first);
      std::vector<hsize_t> start(dims.size(), 0), cnt = dims;
      start[0] = first;
      cnt[0] = count;
      h5::Handle fspace(H5Dget_space(ds.id()), H5Sclose);
      H5Sselect_hyperslab(fspace.id(), H5S_SELECT_SET, start.data(), nullptr, cnt.data(), nullptr);
      h5::Handle mspace(H5Screate_simple(rank, cnt.data(), nullptr), H5Sclose);
      buffer.resize(count * row_bytes);
      if (H5Dread(ds.id(), type.id(), mspace.id(), fspace.id(), H5P_DEFAULT, buffer.data()) < 0) {
        v.damaged.push_back(
            fmt::format("{}: rows {}..{} cannot be read ({})", name, first, first + count, h5::reason()));
        break;
      }
      v.bytes += count * row_bytes;
    }
    if (!tail_geometry || !v.damaged.empty()) continue;
    // The tail: read through HDF5 (checksum) and compared with the digest. A checksum failure with the
    // counted rows intact as stored is a write after the checkpoint cut short: repairable.
    const std::uint64_t want = tails.at(name), count = checked_rows - tail_first;
    std::vector<hsize_t> start(dims.size(), 0), cnt = dims;
    start[0] = tail_first;
    cnt[0] = count;
    h5::Handle fspace(H5Dget_space(ds.id()), H5Sclose);
    H5Sselect_hyperslab(fspace.id(), H5S_SELECT_SET, start.data(), nullptr, cnt.data(), nullptr);
    h5::Handle mspace(H5Screate_simple(rank, cnt.data(), nullptr), H5Sclose);
    std::vector<unsigned char> tail(count * row_bytes);
    if (H5Dread(ds.id(), type.id(), mspace.id(), fspace.id(), H5P_DEFAULT, tail.data()) >= 0) {
      v.bytes += tail.size();
      if (fnv1a(tail.data(), tail.size()) != want)
        v.damaged.push_back(fmt::format("{}: rows {}..{} differ from what the checkpoint recorded", name,
                                        tail_first, checked_rows));
      continue;
    }
    const std::string why = h5::reason();
    const auto stored = raw_rows(ds.id(), *tail_geometry, tail_first, checked_rows);
    if (stored && fnv1a(stored->data(), stored->size()) == want) {
      v.torn_tails.push_back(name);
    } else {
      v.damaged.push_back(
          fmt::format("{}: rows {}..{} cannot be read ({})", name, tail_first, checked_rows, why));
    }
  }
  return v;
}

void repair_tails(const std::filesystem::path& path, const std::vector<std::string>& torn,
                  const std::map<std::string, std::uint64_t>& rows) {
  if (torn.empty()) return;
  h5::QuietErrors quiet;
  const hid_t fid = H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
  if (fid < 0)
    throw UserError(fmt::format("{}: cannot be opened to repair ({})", path.string(), h5::reason()));
  h5::Handle file(fid, H5Fclose);
  for (const auto& name : torn) {
    h5::Handle ds(H5Dopen2(file.id(), name.c_str(), H5P_DEFAULT), H5Dclose);
    const auto g = ds ? geometry(ds.id()) : std::nullopt;
    const auto n = rows.find(name);
    if (!g || n == rows.end()) throw UserError(fmt::format("{}: {} cannot be repaired", path.string(), name));
    const hsize_t first = g->tail_first(n->second);
    const std::size_t keep = n->second - first;
    for (std::size_t c0 = 0; c0 < g->columns(); c0 += g->chunk_columns()) {
      const hsize_t offset[2] = {first, c0};
      const auto raw = raw_chunk(ds.id(), *g, offset);
      if (!raw)
        throw UserError(fmt::format("{}: {} cannot be repaired ({})", path.string(), name, h5::reason()));
      // The counted rows as stored; the rows after them (the torn write's) are dropped.
      std::vector<unsigned char> data(g->chunk_data_bytes(), 0);
      std::memcpy(data.data(), raw->data(), keep * g->chunk_columns() * g->element);
      // Stored as HDF5's Fletcher-32 filter (the only one) stores a chunk: the data, then its checksum.
      const std::uint32_t sum = fletcher32(data.data(), data.size());
      for (int b = 0; b < 4; ++b) data.push_back(static_cast<unsigned char>(sum >> (8 * b)));
      if (H5Dwrite_chunk(ds.id(), H5P_DEFAULT, 0u, offset, data.size(), data.data()) < 0)
        throw UserError(fmt::format("{}: {} cannot be repaired ({})", path.string(), name, h5::reason()));
    }
  }
}

namespace {

// One dataset's contents as comparable bytes: fixed-size data as stored; variable-length strings and
// sequences flattened to (length, bytes) records, since their in-memory form holds pointers.
struct Contents {
  std::vector<unsigned char> bytes;
  std::string error;  // non-empty: unreadable (a checksum failure, for example)
};

Contents read_contents(hid_t ds, hid_t type, hid_t space) {
  Contents c;
  const hssize_t n = H5Sget_simple_extent_npoints(space);
  if (n <= 0) return c;
  const auto count = static_cast<std::size_t>(n);
  const H5T_class_t cls = H5Tget_class(type);
  auto append = [&c](const void* p, std::size_t len) {
    const std::uint64_t l = len;
    const auto* lp = reinterpret_cast<const unsigned char*>(&l);
    c.bytes.insert(c.bytes.end(), lp, lp + sizeof l);
    const auto* b = static_cast<const unsigned char*>(p);
    if (len) c.bytes.insert(c.bytes.end(), b, b + len);
  };
  if (H5Tis_variable_str(type) > 0) {
    h5::Handle mem(H5Tcopy(H5T_C_S1), H5Tclose);
    H5Tset_size(mem.id(), H5T_VARIABLE);
    std::vector<char*> strings(count, nullptr);
    if (H5Dread(ds, mem.id(), H5S_ALL, H5S_ALL, H5P_DEFAULT, strings.data()) < 0) {
      c.error = h5::reason();
      return c;
    }
    for (const char* str : strings) append(str, str ? std::strlen(str) : 0);
    H5Dvlen_reclaim(mem.id(), space, H5P_DEFAULT, strings.data());
    return c;
  }
  if (cls == H5T_VLEN) {
    h5::Handle mem(H5Tget_native_type(type, H5T_DIR_ASCEND), H5Tclose);
    h5::Handle base(H5Tget_super(mem.id()), H5Tclose);
    const std::size_t element = H5Tget_size(base.id());
    std::vector<hvl_t> seqs(count);
    if (H5Dread(ds, mem.id(), H5S_ALL, H5S_ALL, H5P_DEFAULT, seqs.data()) < 0) {
      c.error = h5::reason();
      return c;
    }
    for (const auto& v : seqs) append(v.p, v.len * element);
    H5Dvlen_reclaim(mem.id(), space, H5P_DEFAULT, seqs.data());
    return c;
  }
  c.bytes.resize(count * H5Tget_size(type));
  if (H5Dread(ds, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, c.bytes.data()) < 0) c.error = h5::reason();
  return c;
}

std::string shape_text(hid_t space) {
  const int rank = H5Sget_simple_extent_ndims(space);
  std::vector<hsize_t> dims(static_cast<std::size_t>(std::max(rank, 0)));
  if (rank > 0) H5Sget_simple_extent_dims(space, dims.data(), nullptr);
  std::string s = "(";
  for (std::size_t d = 0; d < dims.size(); ++d) s += fmt::format("{}{}", d ? ", " : "", dims[d]);
  return s + ")";
}

}  // namespace

Comparison compare(const std::filesystem::path& a, const std::filesystem::path& b) {
  h5::QuietErrors quiet;
  h5::Handle fa = open_read_only(a), fb = open_read_only(b);
  Comparison cmp;
  std::vector<std::string> names_a, names_b;
  for (auto [file, names, path] : {std::tuple{fa.id(), &names_a, &a}, std::tuple{fb.id(), &names_b, &b}})
    if (H5Ovisit2(file, H5_INDEX_NAME, H5_ITER_INC, collect_dataset, names, H5O_INFO_BASIC) < 0)
      cmp.damaged.push_back(
          fmt::format("{}: the file's groups cannot be walked ({})", path->string(), h5::reason()));
  if (!cmp.damaged.empty()) return cmp;
  auto outside_metadata = [](std::vector<std::string>& names) {
    std::erase_if(names,
                  [](const std::string& n) { return n.starts_with("/metadata/") || n == "/metadata"; });
    std::sort(names.begin(), names.end());
  };
  outside_metadata(names_a);
  outside_metadata(names_b);
  std::vector<std::string> only_a, only_b, both;
  std::set_difference(names_a.begin(), names_a.end(), names_b.begin(), names_b.end(),
                      std::back_inserter(only_a));
  std::set_difference(names_b.begin(), names_b.end(), names_a.begin(), names_a.end(),
                      std::back_inserter(only_b));
  std::set_intersection(names_a.begin(), names_a.end(), names_b.begin(), names_b.end(),
                        std::back_inserter(both));
  for (const auto& n : only_a) cmp.differences.push_back(fmt::format("{}: only in {}", n, a.string()));
  for (const auto& n : only_b) cmp.differences.push_back(fmt::format("{}: only in {}", n, b.string()));
  for (const auto& name : both) {
    h5::Handle da(H5Dopen2(fa.id(), name.c_str(), H5P_DEFAULT), H5Dclose);
    h5::Handle db(H5Dopen2(fb.id(), name.c_str(), H5P_DEFAULT), H5Dclose);
    if (!da || !db) {
      cmp.damaged.push_back(
          fmt::format("{}: {}: cannot be opened ({})", (!da ? a : b).string(), name, h5::reason()));
      continue;
    }
    // Wall-clock measurements (marked "clock") differ between identical runs, as /metadata does.
    if (H5Aexists(da.id(), "clock") > 0 || H5Aexists(db.id(), "clock") > 0) continue;
    ++cmp.datasets;
    h5::Handle ta(H5Dget_type(da.id()), H5Tclose), tb(H5Dget_type(db.id()), H5Tclose);
    h5::Handle sa(H5Dget_space(da.id()), H5Sclose), sb(H5Dget_space(db.id()), H5Sclose);
    if (H5Tequal(ta.id(), tb.id()) <= 0) {
      cmp.differences.push_back(fmt::format("{}: different types", name));
      continue;
    }
    if (H5Sextent_equal(sa.id(), sb.id()) <= 0) {
      cmp.differences.push_back(
          fmt::format("{}: shape {} against {}", name, shape_text(sa.id()), shape_text(sb.id())));
      continue;
    }
    const Contents ca = read_contents(da.id(), ta.id(), sa.id());
    const Contents cb = read_contents(db.id(), tb.id(), sb.id());
    if (!ca.error.empty()) cmp.damaged.push_back(fmt::format("{}: {}: {}", a.string(), name, ca.error));
    if (!cb.error.empty()) cmp.damaged.push_back(fmt::format("{}: {}: {}", b.string(), name, cb.error));
    if (!ca.error.empty() || !cb.error.empty()) continue;
    cmp.bytes += ca.bytes.size();
    if (ca.bytes != cb.bytes) {
      const auto at = std::mismatch(ca.bytes.begin(), ca.bytes.end(), cb.bytes.begin(), cb.bytes.end());
      cmp.differences.push_back(fmt::format("{}: contents differ (first at byte {} of {})", name,
                                            at.first - ca.bytes.begin(), ca.bytes.size()));
    }
  }
  return cmp;
}

}  // namespace plexus::io
