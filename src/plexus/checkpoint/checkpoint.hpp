#pragma once
// Checkpoints: everything that is state of a run at a step boundary, in id terms (neurons by gid,
// synapses by target then source), so that a checkpoint written at N ranks resumes at M ranks and
// any number of threads, bit for bit.
//
// A checkpoint is a directory DIR/ckpt-<step>/ with two files:
//   manifest.txt  the structured part (Boost.Serialization text archive): a header (format and
//                 Plexus version, config hash, step, ranks), the resolved config, scalar counters,
//                 result-file positions and a directory of the bulk arrays with their checksums;
//                 its first line carries the length and CRC-32 of the rest.
//   state.h5      the bulk arrays (parallel HDF5): one 1-D dataset per array, in id order, each
//                 rank writing its contiguous part.
// It is written under a temporary name (DIR/.tmp-ckpt-<step>-<pid>/), flushed, checksummed and then
// renamed, so a process killed at any moment leaves the previous checkpoints as they were.
//
// Components (the simulation, later the trainer) save and load their state through Writer and
// Reader; see Component below and docs/checkpoint.md.
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <span>
#include <string>
#include <vector>

#include "plexus/comm/communicator.hpp"

namespace plexus::io {
class ArrayWriter;
class ArrayReader;
}  // namespace plexus::io

namespace plexus::checkpoint {

// Version of the checkpoint format; a checkpoint of another version is refused.
inline constexpr int kFormatVersion = 2;

// Where this rank's part of an array lies in the whole. Arrays are indexed by id (population-local
// neuron id, or synapse position in (target, source) order), so a rank's part is one range.
struct Slice {
  std::uint64_t offset = 0, count = 0, total = 0;
  // Every rank holds the whole array alike (replicated populations, replicated learning state):
  // rank 0 writes it, every rank reads all of it.
  bool replicated = false;
  static Slice whole(std::uint64_t n) { return {0, n, n, true}; }
};

struct ArrayEntry {
  std::string path;
  std::string type;          // "float64", "float32", "int64", "uint64", "uint32", "uint8"
  std::uint64_t ids = 0;     // length in ids
  std::uint64_t per_id = 1;  // values per id (e.g. delay-buffer slots)
  std::uint32_t crc = 0;     // CRC-32 of the whole array's bytes in id order

  template <class Archive>
  void serialize(Archive& ar, unsigned /*version*/) {
    ar& path& type& ids& per_id& crc;
  }
};

struct Manifest {
  // Header: checked on load.
  int format_version = kFormatVersion;
  std::string plexus_version, git_hash;
  std::uint64_t config_hash = 0;
  std::int64_t step = 0;
  int ranks = 1, threads = 1;
  std::string command = "run";  // which command made it, and so which resumes it ("run", "train")
  std::string created_utc, reason;
  // The run. config_toml is the resolved config (what the header's hash covers); config_text and
  // config_overrides are the model file and --set options as given, from which the network is
  // built again exactly as in the first run.
  std::string model_name, config_toml, config_source, config_base_dir, config_text;
  std::vector<std::string> config_overrides;
  std::string result_file;  // final path (absolute) of the result file; empty: none
  std::int64_t total_steps = 0;
  // Structured state.
  std::map<std::string, std::int64_t> integers;
  std::map<std::string, std::uint64_t> reals;  // bit patterns of doubles: exact, and NaN/inf survive
  std::map<std::string, std::string> texts;
  // Bulk arrays in state.h5.
  std::vector<ArrayEntry> arrays;
  std::uint64_t state_bytes = 0;
  std::uint32_t state_crc = 0;  // CRC-32 of the whole state file, every byte (checked by rank 0)

  template <class Archive>
  void serialize(Archive& ar, unsigned /*version*/) {
    ar& format_version& plexus_version& git_hash& config_hash& step& ranks& threads& command& created_utc&
        reason;
    ar& model_name& config_toml& config_source& config_base_dir& config_text& config_overrides& result_file&
        total_steps;
    ar& integers& reals& texts;
    ar& arrays& state_bytes& state_crc;
  }
};

// Saving, inside write(): collective. Every rank makes the same calls in the same order (scalars may
// be given on every rank; rank 0's values are kept). Names are unique; a component prefixes its own
// with its name ("sim/...", "train/...").
class Writer {
 public:
  Writer(io::ArrayWriter& file, Manifest& manifest, comm::Communicator& comm);
  void integer(const std::string& key, std::int64_t value);
  void real(const std::string& key, double value);
  void text(const std::string& key, const std::string& value);
  // A bulk array of where.total ids with `per_id` values each; `local` holds this rank's
  // where.count ids (count x per_id values, id-major). Collective.
  template <class T>
  void array(const std::string& path, Slice where, std::span<const T> local, std::uint64_t per_id = 1);
  // This rank holds a copy of another rank's state (training with batch groups: every group holds
  // the same network; the first group writes it): it takes part in the collectives, writes nothing.
  void set_copy(bool copy) { copy_ = copy; }

 private:
  void claim(const std::string& name);
  io::ArrayWriter& file_;
  Manifest& m_;
  comm::Communicator& comm_;
  std::set<std::string> names_;
  bool copy_ = false;
};

// Loading. Missing names and arrays that do not fit the network are UserErrors (exit code 2), and so
// is an array whose checksum fails.
class Reader {
 public:
  Reader(const io::ArrayReader& file, const Manifest& manifest, comm::Communicator& comm);
  bool has(const std::string& name) const;  // scalar or array
  std::int64_t integer(const std::string& key) const;
  double real(const std::string& key) const;
  std::string text(const std::string& key) const;
  // Reads this rank's part of an array into `out` (where.count x per_id values). Collective unless
  // where.replicated.
  template <class T>
  void array(const std::string& path, Slice where, std::span<T> out, std::uint64_t per_id = 1) const;
  // This rank reads a copy of another rank's part (batch groups): its bytes do not enter the
  // checksum, which covers each array once.
  void set_copy(bool copy) const { copy_ = copy; }

 private:
  const ArrayEntry& entry(const std::string& path) const;
  const io::ArrayReader& file_;
  const Manifest& m_;
  comm::Communicator& comm_;
  mutable bool copy_ = false;
};

// The extension point: anything with state that a run must carry across a restart implements this
// and is registered with the simulation (sim::Simulation::add_checkpoint_component). save() and
// load() are called at a step boundary, after the simulation's own state, on every rank, in the
// order of registration. Per-neuron and per-synapse arrays go through Writer::array with the slices
// of sim::Simulation::neuron_slice / synapse_slice (ids, not ranks, so that the checkpoint resumes
// on another partition); counters through integer/real/text.
class Component {
 public:
  virtual ~Component() = default;
  virtual std::string name() const = 0;  // also the prefix of its keys and arrays
  virtual void save(Writer& w) const = 0;
  virtual void load(const Reader& r) = 0;
};

struct Written {
  std::filesystem::path path;
  std::uint64_t bytes = 0;
  double seconds = 0.0;
};

// Collective: writes the checkpoint of `manifest.step` into `dir` (made if needed): `fill` saves the
// state through the Writer; then the files are flushed, checksummed and the directory renamed into
// place. Afterwards only the newest `keep` checkpoints are kept (and left-over temporary directories
// of killed writes are removed).
Written write(const std::filesystem::path& dir, int keep, Manifest manifest, comm::Communicator& comm,
              const std::function<void(Writer&)>& fill);

// Complete checkpoints in `dir`, oldest first (temporary directories are not checkpoints).
std::vector<std::filesystem::path> list(const std::filesystem::path& dir);
// The checkpoint to resume from: `path` is a checkpoint, or a directory of them (its newest).
// Throws UserError if there is none.
std::filesystem::path locate(const std::filesystem::path& path);

// Reads and checks a manifest (length, CRC, format version); UserError if it is not usable.
Manifest read_manifest(const std::filesystem::path& checkpoint);

// An opened checkpoint, checked: manifest, versions, config hash, the state file's size and header.
// The arrays' checksums are checked as they are read.
class Snapshot {
 public:
  // Collective: rank 0 reads and checks the manifest and every rank gets it; UserError (on every
  // rank alike) if the checkpoint is truncated, corrupted or from another version.
  Snapshot(const std::filesystem::path& checkpoint, comm::Communicator& comm);
  ~Snapshot();
  const Manifest& manifest() const { return manifest_; }
  const std::filesystem::path& path() const { return path_; }
  const Reader& reader() const { return *reader_; }

 private:
  std::filesystem::path path_;
  Manifest manifest_;
  std::unique_ptr<io::ArrayReader> file_;
  std::unique_ptr<Reader> reader_;
};

// FNV-1a hash of the resolved config text (the config part of the header).
std::uint64_t config_hash(const std::string& toml);
// Name of the checkpoint directory for a step: "ckpt-000000012345".
std::string directory_name(std::int64_t step);

// SIGTERM and SIGUSR1 ask a run to checkpoint and stop. The handler only records the signal
// (async-signal-safe); the run polls between steps and all ranks agree on the step.
void install_stop_handlers();
int stop_signal();  // 0, or the number of the first stop signal received
const char* signal_name(int sig);

}  // namespace plexus::checkpoint
