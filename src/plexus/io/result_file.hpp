#pragma once
// The result file of a run: one HDF5 file whatever the number of ranks, written collectively with
// parallel HDF5. It is created as "<name>.partial" and renamed to its final name only by commit(),
// so a run that fails or is killed never leaves something that looks like a finished result.
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "plexus/comm/communicator.hpp"

namespace plexus::io {

class ResultFile {
 public:
  // Create: a new "<name>.partial" (the parent directory is made if needed). Append: reopens the
  // "<name>.partial" of an interrupted run, to continue it from a checkpoint (see reopen()).
  enum class Mode { Create, Append };
  // Collective.
  ResultFile(std::filesystem::path final_path, comm::Communicator& comm, Mode mode = Mode::Create);
  ~ResultFile();
  ResultFile(const ResultFile&) = delete;
  ResultFile& operator=(const ResultFile&) = delete;

  const std::filesystem::path& final_path() const { return final_; }

  // All calls below are collective: every rank calls them, in the same order, with the same
  // arguments except for the local data.

  void create_group(const std::string& path);
  // Attributes on a group or dataset; the value must be the same on every rank.
  void attribute(const std::string& object, const std::string& name, const std::string& value);
  void attribute(const std::string& object, const std::string& name, double value);
  void attribute(const std::string& object, const std::string& name, std::int64_t value);
  // The SONATA 'sorting' enum attribute (none = 0, by_id = 1, by_time = 2).
  void sorting_attribute(const std::string& object, std::uint8_t value);

  // A text dataset (fixed-length string), written by rank 0.
  void write_text(const std::string& path, const std::string& text);
  // A small dataset whose whole content every rank holds; written by rank 0.
  template <class T>
  void write_replicated(const std::string& path, std::span<const T> values);

  // Extensible 1-D dataset; rows are appended by append().
  template <class T>
  void create_series(const std::string& path, std::size_t chunk = 65536);
  // Appends the ranks' parts in rank order: rank 0's elements first, then rank 1's, ...
  template <class T>
  void append(const std::string& path, std::span<const T> local);

  // Extensible 2-D dataset of `columns` columns; rows are appended by append_rows().
  template <class T>
  void create_table(const std::string& path, std::size_t columns, std::size_t chunk_rows = 256);
  // Appends `rows` rows. This rank supplies columns [column_offset, column_offset + local_columns)
  // as a row-major rows x local_columns block. Every rank passes the same `rows`.
  template <class T>
  void append_rows(const std::string& path, std::size_t rows, std::size_t column_offset,
                   std::size_t local_columns, std::span<const T> block);

  // Append mode: takes up an extensible dataset (series or table) written before, cut back to `rows`
  // (its length when the checkpoint was taken: anything written after it is dropped). Throws
  // UserError if the dataset is missing or shorter.
  void reopen(const std::string& path, std::uint64_t rows);
  // Current length (first dimension) of every extensible dataset, by path.
  const std::map<std::string, std::uint64_t>& lengths() const;
  // Collective. For every extensible dataset whose last chunk is partly filled, a digest of the rows in
  // that chunk, by path. A checkpoint records them: the chunk is written again when rows are appended
  // after the checkpoint, and a crash during that write can leave it failing its checksum although the
  // rows the checkpoint relies on are intact; the digest tells the two apart at resume (repair_tails).
  std::map<std::string, std::uint64_t> tail_digests();

  // Makes what has been written so far durable (flushes HDF5 buffers to the file system).
  void flush();
  // Closes the file and renames it to its final name. Collective.
  void commit();

  struct Impl;

 private:
  std::filesystem::path final_, partial_;
  comm::Communicator& comm_;
  std::unique_ptr<Impl> impl_;
};

// --- reading (serial; for inspect, spike trains and connection lists) ---------------------------

struct DatasetInfo {
  std::string path;
  std::vector<std::uint64_t> shape;
  std::string type;  // "float64", "uint64", "string", ...
};

class Reader {
 public:
  // Throws UserError if the file cannot be opened as HDF5.
  explicit Reader(const std::filesystem::path& path);
  ~Reader();
  Reader(const Reader&) = delete;
  Reader& operator=(const Reader&) = delete;

  bool exists(const std::string& path) const;
  bool is_group(const std::string& path) const;
  std::vector<std::string> children(const std::string& group) const;  // sorted names
  DatasetInfo info(const std::string& dataset) const;
  std::vector<double> read_doubles(const std::string& dataset) const;  // any numeric type, flattened
  std::vector<std::uint64_t> read_u64(const std::string& dataset) const;
  // Rows [first, first + count) along the first dimension (with all of the others), flattened:
  // hyperslab reads for files too large to read whole.
  std::vector<double> read_doubles(const std::string& dataset, std::uint64_t first,
                                   std::uint64_t count) const;
  std::vector<std::uint64_t> read_u64(const std::string& dataset, std::uint64_t first,
                                      std::uint64_t count) const;
  // Elements [first, first + count) of a one-dimensional variable-length ("ragged") dataset, such as
  // the Spiking Heidelberg Digits' per-trial spike times, each as a list of numbers.
  std::vector<std::vector<double>> read_ragged(const std::string& dataset, std::uint64_t first,
                                               std::uint64_t count) const;
  std::string read_text(const std::string& dataset) const;
  // Attribute as text (numbers formatted), or "" if absent.
  std::string attribute(const std::string& object, const std::string& name) const;

 private:
  std::int64_t file_ = -1;
  std::filesystem::path path_;
};

// --- integrity ---------------------------------------------------------------------------------------

// What verify() found. Chunked datasets (everything a run appends) carry Fletcher-32 checksums that
// HDF5 checks on every read; the small datasets written once (configuration, scalars) carry none.
struct Verification {
  std::uint64_t datasets = 0;          // datasets read
  std::uint64_t bytes = 0;             // bytes read and checked
  std::uint64_t without_checksum = 0;  // chunked datasets written without checksums (older files)
  std::vector<std::string> damaged;    // "dataset: what is wrong", in file order
  // Datasets whose last chunk fails its checksum although the rows the checkpoint counted hash to the
  // checkpoint's digest: written again after the checkpoint and cut by a crash (repair_tails mends it).
  std::vector<std::string> torn_tails;
  bool intact() const { return damaged.empty(); }
};

// Reads every chunked dataset of `path` (serially, a block of rows at a time) so that HDF5 checks each
// chunk's checksum; `rows` limits the datasets it names to their first rows (a .partial continued
// from a checkpoint: what was written after it is dropped anyway). Throws UserError if the file cannot
// be opened as HDF5.
// `tails`: the checkpoint's tail_digests(); a dataset named there has its last counted chunk checked
// against the digest as well (its rows must not have changed since the checkpoint).
Verification verify(const std::filesystem::path& path, const std::map<std::string, std::uint64_t>& rows = {},
                    const std::map<std::string, std::uint64_t>& tails = {});

// Rewrites the last chunk of each dataset in `torn` (Verification::torn_tails) from its first `rows`
// rows, as stored, with a new checksum (the rows after them, the torn write's, are dropped). Serial:
// call it before the file is opened for the run.
void repair_tails(const std::filesystem::path& path, const std::vector<std::string>& torn,
                  const std::map<std::string, std::uint64_t>& rows);

// What compare() found: two result files hold the same record when every dataset outside /metadata
// (which holds wall times, host names and the run id, which differ between runs) exists in both with
// the same shape, type and contents; datasets with a "clock" attribute (wall-clock measurements such as
// /training/seconds) are not compared either. Reading the contents also checks each chunk's checksum.
struct Comparison {
  std::uint64_t datasets = 0;            // datasets compared
  std::uint64_t bytes = 0;               // bytes compared (of each file)
  std::vector<std::string> differences;  // "dataset: how they differ", in name order
  std::vector<std::string> damaged;      // "file: dataset: what is wrong"
  bool same() const { return differences.empty() && damaged.empty(); }
};

// Compares the datasets of `a` and `b` outside /metadata, byte for byte (variable-length strings and
// sequences by their contents). Throws UserError if either cannot be opened as HDF5.
Comparison compare(const std::filesystem::path& a, const std::filesystem::path& b);

}  // namespace plexus::io
