#pragma once
// Files of named arrays for checkpoints: written collectively with parallel HDF5, every rank its own
// contiguous part of each array (arrays are in id order, so a rank's part is one range), and read
// back in parts of any other split. Unlike the result file there is nothing to append: each array
// is written once.
#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "plexus/comm/communicator.hpp"

namespace plexus::io {

class ArrayWriter {
 public:
  // Collective; truncates `path`.
  ArrayWriter(const std::filesystem::path& path, comm::Communicator& comm);
  ~ArrayWriter();
  ArrayWriter(const ArrayWriter&) = delete;
  ArrayWriter& operator=(const ArrayWriter&) = delete;

  // Collective: a dataset of `total` elements (rows == 0) or `rows` x `total` (row-major), of which
  // this rank supplies elements [offset, offset + count) of every row, as a rows x count block.
  // Every rank passes the same path, rows and total.
  template <class T>
  void write(const std::string& path, std::uint64_t rows, std::uint64_t total, std::uint64_t offset,
             std::span<const T> local);
  // A string attribute of the root group (same value on every rank).
  void attribute(const std::string& name, const std::string& value);
  // Collective: makes the data durable (MPI_File_sync under MPI-IO) and closes the file.
  void close();

  struct Impl;

 private:
  comm::Communicator& comm_;
  std::unique_ptr<Impl> impl_;
};

class ArrayReader {
 public:
  // Collective. Throws UserError if the file cannot be opened as HDF5.
  ArrayReader(const std::filesystem::path& path, comm::Communicator& comm);
  ~ArrayReader();
  ArrayReader(const ArrayReader&) = delete;
  ArrayReader& operator=(const ArrayReader&) = delete;

  bool has(const std::string& path) const;
  // Dimensions of a dataset ({total} or {rows, total}); throws UserError if it does not exist.
  std::vector<std::uint64_t> shape(const std::string& path) const;
  // Reads elements [offset, offset + out.size() / max(rows, 1)) of every row into `out` (row-major).
  // Throws UserError if the stored element type is not T.
  template <class T>
  void read(const std::string& path, std::uint64_t rows, std::uint64_t offset, std::span<T> out) const;
  std::string attribute(const std::string& name) const;  // "" if absent

  struct Impl;

 private:
  std::filesystem::path path_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace plexus::io
