#include "plexus/checkpoint/checkpoint.hpp"

#include <fcntl.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <bit>
#include <boost/archive/archive_exception.hpp>
#include <boost/archive/text_iarchive.hpp>
#include <boost/archive/text_oarchive.hpp>
#include <boost/serialization/map.hpp>
#include <boost/serialization/string.hpp>
#include <boost/serialization/vector.hpp>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <sstream>
#include <system_error>

#include <fmt/format.h>

#include "plexus/core/error.hpp"
#include "plexus/core/version.hpp"
#include "plexus/io/array_file.hpp"

namespace plexus::checkpoint {

namespace fs = std::filesystem;

namespace {

constexpr const char* kManifest = "manifest.txt";
constexpr const char* kState = "state.h5";
constexpr const char* kPrefix = "ckpt-";
constexpr const char* kTmpPrefix = ".tmp-ckpt-";

template <class T>
const char* type_name() {
  if constexpr (std::is_same_v<T, double>) return "float64";
  if constexpr (std::is_same_v<T, float>) return "float32";
  if constexpr (std::is_same_v<T, std::int64_t>) return "int64";
  if constexpr (std::is_same_v<T, std::uint64_t>) return "uint64";
  if constexpr (std::is_same_v<T, std::uint32_t>) return "uint32";
  if constexpr (std::is_same_v<T, std::uint8_t>) return "uint8";
}

std::uint32_t crc_of(const void* data, std::size_t bytes) {
  // zlib's crc32 takes a uInt length: feed large buffers in pieces.
  uLong crc = crc32(0L, Z_NULL, 0);
  const auto* p = static_cast<const Bytef*>(data);
  while (bytes > 0) {
    const std::size_t n = std::min<std::size_t>(bytes, 1u << 30);
    crc = crc32(crc, p, static_cast<uInt>(n));
    p += n;
    bytes -= n;
  }
  return static_cast<std::uint32_t>(crc);
}

std::uint32_t crc_of_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in) throw UserError(fmt::format("cannot read '{}'", p.string()));
  std::vector<char> buf(std::size_t(4) << 20);
  uLong crc = crc32(0L, Z_NULL, 0);
  while (in) {
    in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    const auto n = in.gcount();
    if (n > 0) crc = crc32(crc, reinterpret_cast<const Bytef*>(buf.data()), static_cast<uInt>(n));
  }
  return static_cast<std::uint32_t>(crc);
}

// CRC of the concatenation of every rank's part, in rank order (= id order), from the parts' CRCs.
std::uint32_t combined_crc(comm::Communicator& comm, std::uint32_t local_crc, std::uint64_t local_bytes) {
  const auto crcs = comm.allgather(static_cast<std::uint64_t>(local_crc));
  const auto lens = comm.allgather(local_bytes);
  uLong crc = crc32(0L, Z_NULL, 0);
  for (int r = 0; r < comm.size(); ++r)
    if (lens[r] > 0) crc = crc32_combine(crc, static_cast<uLong>(crcs[r]), static_cast<z_off_t>(lens[r]));
  return static_cast<std::uint32_t>(crc);
}

void fsync_path(const fs::path& p, bool directory) {
  const int fd = ::open(p.c_str(), directory ? (O_RDONLY | O_DIRECTORY) : O_RDONLY);
  if (fd < 0) throw std::runtime_error(fmt::format("cannot open '{}' to flush it", p.string()));
  const int rc = ::fsync(fd);
  ::close(fd);
  // Some file systems do not support fsync on directories (EINVAL); the data files are what matter.
  if (rc != 0 && !directory) throw std::runtime_error(fmt::format("cannot flush '{}' to disk", p.string()));
}

std::string utc_now() {
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string manifest_text(const Manifest& m) {
  std::ostringstream body;
  {
    boost::archive::text_oarchive ar(body);
    ar << m;
  }
  const std::string payload = body.str();
  return fmt::format("plexus checkpoint manifest, format {}, {} bytes, crc32 {:08x}\n", m.format_version,
                     payload.size(), crc_of(payload.data(), payload.size())) +
         payload;
}

bool parse_step(const std::string& name, const char* prefix, std::int64_t& step) {
  const std::string pre = prefix;
  if (name.rfind(pre, 0) != 0) return false;
  const std::string digits = name.substr(pre.size());
  if (digits.empty() || digits.size() > 18 || !std::all_of(digits.begin(), digits.end(), ::isdigit))
    return false;
  step = std::stoll(digits);
  return true;
}

}  // namespace

std::uint64_t config_hash(const std::string& toml) {
  std::uint64_t h = 1469598103934665603ull;
  for (unsigned char c : toml) h = (h ^ c) * 1099511628211ull;
  return h;
}

std::string directory_name(std::int64_t step) {
  return fmt::format("{}{:012d}", kPrefix, step);
}

// ------------------------------------------------------------------------------------------------
Writer::Writer(io::ArrayWriter& file, Manifest& manifest, comm::Communicator& comm)
    : file_(file), m_(manifest), comm_(comm) {}

void Writer::claim(const std::string& name) {
  if (!names_.insert(name).second) throw std::logic_error("checkpoint: '" + name + "' saved twice");
}

void Writer::integer(const std::string& key, std::int64_t value) {
  claim(key);
  m_.integers[key] = value;
}
void Writer::real(const std::string& key, double value) {
  claim(key);
  m_.reals[key] = std::bit_cast<std::uint64_t>(value);
}
void Writer::text(const std::string& key, const std::string& value) {
  claim(key);
  m_.texts[key] = value;
}

template <class T>
void Writer::array(const std::string& path, Slice where, std::span<const T> local, std::uint64_t per_id) {
  claim(path);
  const bool writes = (!where.replicated || comm_.rank() == 0) && !copy_;
  if (local.size() != where.count * per_id)
    throw std::logic_error("checkpoint: array '" + path + "' has the wrong local length");
  const std::span<const T> mine = writes ? local : std::span<const T>{};
  file_.write<T>(path, 0, where.total * per_id, writes ? where.offset * per_id : 0, mine);
  const std::uint32_t crc = combined_crc(comm_, crc_of(mine.data(), mine.size_bytes()), mine.size_bytes());
  m_.arrays.push_back({path, type_name<T>(), where.total, per_id, crc});
}

// ------------------------------------------------------------------------------------------------
Reader::Reader(const io::ArrayReader& file, const Manifest& manifest, comm::Communicator& comm)
    : file_(file), m_(manifest), comm_(comm) {}

bool Reader::has(const std::string& name) const {
  if (m_.integers.count(name) || m_.reals.count(name) || m_.texts.count(name)) return true;
  return std::any_of(m_.arrays.begin(), m_.arrays.end(), [&](const ArrayEntry& a) { return a.path == name; });
}

namespace {
[[noreturn]] void missing(const std::string& what) {
  throw UserError(fmt::format(
      "the checkpoint has no '{}': it was written by another version of Plexus or for another network",
      what));
}
}  // namespace

std::int64_t Reader::integer(const std::string& key) const {
  auto it = m_.integers.find(key);
  if (it == m_.integers.end()) missing(key);
  return it->second;
}
double Reader::real(const std::string& key) const {
  auto it = m_.reals.find(key);
  if (it == m_.reals.end()) missing(key);
  return std::bit_cast<double>(it->second);
}
std::string Reader::text(const std::string& key) const {
  auto it = m_.texts.find(key);
  if (it == m_.texts.end()) missing(key);
  return it->second;
}

const ArrayEntry& Reader::entry(const std::string& path) const {
  for (const auto& a : m_.arrays)
    if (a.path == path) return a;
  missing(path);
}

template <class T>
void Reader::array(const std::string& path, Slice where, std::span<T> out, std::uint64_t per_id) const {
  const auto& e = entry(path);
  if (e.type != type_name<T>() || e.per_id != per_id || e.ids != where.total)
    throw UserError(
        fmt::format("the checkpoint does not fit this network: '{}' holds {} x {} {} values, the network "
                    "needs {} x {} {}",
                    path, e.ids, e.per_id, e.type, where.total, per_id, type_name<T>()));
  if (out.size() != where.count * per_id)
    throw std::logic_error("checkpoint: wrong buffer for '" + path + "'");
  file_.read<T>(path, 0, where.offset * per_id, out);
  const std::uint32_t local = crc_of(out.data(), out.size_bytes());
  const std::uint32_t crc = where.replicated ? local
                            : copy_          ? combined_crc(comm_, crc_of(out.data(), 0), 0)
                                             : combined_crc(comm_, local, out.size_bytes());
  if (crc != e.crc)
    throw UserError(fmt::format("the checkpoint is damaged: array '{}' fails its checksum", path));
}

#define PLEXUS_INSTANTIATE(T)                                                                   \
  template void Writer::array<T>(const std::string&, Slice, std::span<const T>, std::uint64_t); \
  template void Reader::array<T>(const std::string&, Slice, std::span<T>, std::uint64_t) const;
PLEXUS_INSTANTIATE(double)
PLEXUS_INSTANTIATE(float)
PLEXUS_INSTANTIATE(std::uint64_t)
PLEXUS_INSTANTIATE(std::int64_t)
PLEXUS_INSTANTIATE(std::uint32_t)
PLEXUS_INSTANTIATE(std::uint8_t)
#undef PLEXUS_INSTANTIATE

// ------------------------------------------------------------------------------------------------
std::vector<fs::path> list(const fs::path& dir) {
  std::vector<std::pair<std::int64_t, fs::path>> found;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return {};
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    std::int64_t step = 0;
    if (e.is_directory() && parse_step(e.path().filename().string(), kPrefix, step))
      found.emplace_back(step, e.path());
  }
  std::sort(found.begin(), found.end());
  std::vector<fs::path> out;
  out.reserve(found.size());
  for (auto& [s, p] : found) out.push_back(p);
  return out;
}

fs::path locate(const fs::path& path) {
  if (fs::exists(path / kManifest)) return path;
  if (!fs::is_directory(path))
    throw UserError(
        fmt::format("'{}' is neither a checkpoint nor a directory of checkpoints", path.string()));
  const auto all = list(path);
  if (all.empty()) throw UserError(fmt::format("'{}' holds no checkpoint", path.string()));
  return all.back();
}

Manifest read_manifest(const fs::path& checkpoint) {
  const fs::path file = checkpoint / kManifest;
  std::ifstream in(file, std::ios::binary);
  if (!in) throw UserError(fmt::format("checkpoint '{}' has no readable {}", checkpoint.string(), kManifest));
  std::string first;
  std::getline(in, first);
  int format = 0;
  unsigned long long bytes = 0;
  unsigned crc = 0;
  if (std::sscanf(first.c_str(), "plexus checkpoint manifest, format %d, %llu bytes, crc32 %x", &format,
                  &bytes, &crc) != 3)
    throw UserError(fmt::format("'{}' is not a Plexus checkpoint manifest", file.string()));
  if (format != kFormatVersion)
    throw UserError(fmt::format("checkpoint '{}' has format version {}; this Plexus ({}) reads version {}",
                                checkpoint.string(), format, version::version(), kFormatVersion));
  std::string payload((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (payload.size() != bytes)
    throw UserError(fmt::format("checkpoint '{}' is truncated or damaged: its manifest holds {} of {} bytes",
                                checkpoint.string(), payload.size(), bytes));
  if (crc_of(payload.data(), payload.size()) != crc)
    throw UserError(
        fmt::format("checkpoint '{}' is damaged: its manifest fails its checksum", checkpoint.string()));
  Manifest m;
  try {
    std::istringstream body(payload);
    boost::archive::text_iarchive ar(body);
    ar >> m;
  } catch (const std::exception& e) {
    throw UserError(
        fmt::format("checkpoint '{}': cannot read its manifest ({})", checkpoint.string(), e.what()));
  }
  if (m.format_version != format || config_hash(m.config_toml) != m.config_hash)
    throw UserError(fmt::format("checkpoint '{}' is damaged: its header does not match its content",
                                checkpoint.string()));
  return m;
}

// ------------------------------------------------------------------------------------------------
Written write(const fs::path& dir, int keep, Manifest m, comm::Communicator& comm,
              const std::function<void(Writer&)>& fill) {
  const auto t0 = std::chrono::steady_clock::now();
  m.format_version = kFormatVersion;
  m.plexus_version = version::version();
  m.git_hash = version::git_hash();
  m.ranks = comm.size();
  m.created_utc = utc_now();
  m.config_hash = config_hash(m.config_toml);
  const fs::path final_path = dir / directory_name(m.step);
  std::string tmp;
  std::string error;
  if (comm.rank() == 0) {
    try {
      fs::create_directories(dir);
      // Left-overs of writes that were killed are never checkpoints; clear them.
      for (const auto& e : fs::directory_iterator(dir))
        if (e.path().filename().string().rfind(kTmpPrefix, 0) == 0) fs::remove_all(e.path());
      tmp = (dir / fmt::format("{}{:012d}-{}", kTmpPrefix, m.step, ::getpid())).string();
      fs::create_directories(tmp);
    } catch (const std::exception& e) {
      error = fmt::format("cannot write a checkpoint into '{}': {}", dir.string(), e.what());
    }
  }
  comm.broadcast(error, 0);
  if (!error.empty()) throw UserError(error);
  comm.broadcast(tmp, 0);

  {
    io::ArrayWriter file(fs::path(tmp) / kState, comm);
    file.attribute("config_hash", fmt::format("{:016x}", m.config_hash));
    file.attribute("step", std::to_string(m.step));
    Writer w(file, m, comm);
    fill(w);
    file.close();
  }
  Written out;
  out.path = final_path;
  if (comm.rank() == 0) {
    try {
      const fs::path state = fs::path(tmp) / kState;
      m.state_bytes = fs::file_size(state);
      fsync_path(state, false);
      m.state_crc = crc_of_file(state);
      const fs::path man = fs::path(tmp) / kManifest;
      {
        std::ofstream o(man, std::ios::binary | std::ios::trunc);
        o << manifest_text(m);
        o.flush();
        if (!o) throw std::runtime_error("cannot write " + man.string());
      }
      fsync_path(man, false);
      fsync_path(tmp, true);
      if (fs::exists(final_path)) {  // a checkpoint of this very step: replace it
        const fs::path old = dir / fmt::format("{}{:012d}-old-{}", kTmpPrefix, m.step, ::getpid());
        fs::rename(final_path, old);
        fs::rename(tmp, final_path);
        fs::remove_all(old);
      } else {
        fs::rename(tmp, final_path);
      }
      fsync_path(dir, true);
      out.bytes = m.state_bytes + fs::file_size(final_path / kManifest);
      auto all = list(dir);
      const std::size_t k = static_cast<std::size_t>(std::max(keep, 1));
      for (std::size_t i = 0; i + k < all.size(); ++i) fs::remove_all(all[i]);
    } catch (const std::exception& e) {
      error = fmt::format("cannot write checkpoint '{}': {}", final_path.string(), e.what());
    }
  }
  comm.broadcast(error, 0);
  if (!error.empty()) throw std::runtime_error(error);
  out.bytes = comm.allgather(out.bytes)[0];
  out.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return out;
}

// ------------------------------------------------------------------------------------------------
Snapshot::Snapshot(const fs::path& checkpoint, comm::Communicator& comm) : path_(checkpoint) {
  std::string text, error;
  if (comm.rank() == 0) {
    try {
      manifest_ = read_manifest(checkpoint);
      const fs::path state = checkpoint / kState;
      if (!fs::exists(state))
        throw UserError(
            fmt::format("checkpoint '{}' is incomplete: it has no {}", checkpoint.string(), kState));
      const auto size = fs::file_size(state);
      if (size != manifest_.state_bytes)
        throw UserError(
            fmt::format("checkpoint '{}' is truncated or damaged: {} has {} bytes, {} were written",
                        checkpoint.string(), kState, size, manifest_.state_bytes));
      {
        // A state file of another checkpoint (same size) is called what it is before the checksum.
        auto self = comm::make_single();
        io::ArrayReader f(state, *self);
        if (f.attribute("config_hash") != fmt::format("{:016x}", manifest_.config_hash) ||
            f.attribute("step") != std::to_string(manifest_.step))
          throw UserError(fmt::format("checkpoint '{}' is mismatched: its {} belongs to another checkpoint",
                                      checkpoint.string(), kState));
      }
      if (crc_of_file(state) != manifest_.state_crc)
        throw UserError(
            fmt::format("checkpoint '{}' is damaged: {} fails its checksum", checkpoint.string(), kState));
      std::ostringstream body;
      {
        boost::archive::text_oarchive ar(body);
        ar << manifest_;
      }
      text = body.str();
    } catch (const std::exception& e) {
      error = e.what();
    }
  }
  comm.broadcast(error, 0);
  if (!error.empty()) throw UserError(error);
  comm.broadcast(text, 0);
  if (comm.rank() != 0) {
    std::istringstream body(text);
    boost::archive::text_iarchive ar(body);
    ar >> manifest_;
  }
  // Every rank opens the state file; a failure anywhere is a failure everywhere.
  int ok = 1;
  try {
    file_ = std::make_unique<io::ArrayReader>(checkpoint / kState, comm);
    if (file_->attribute("config_hash") != fmt::format("{:016x}", manifest_.config_hash) ||
        file_->attribute("step") != std::to_string(manifest_.step))
      ok = 0;
  } catch (const std::exception&) {
    ok = -1;
  }
  const auto oks = comm.allgather(static_cast<std::uint64_t>(ok) + 1);
  for (auto o : oks) {
    if (o == 0)
      throw UserError(
          fmt::format("checkpoint '{}' is damaged: {} cannot be read as HDF5", checkpoint.string(), kState));
    if (o == 1)
      throw UserError(fmt::format("checkpoint '{}' is mismatched: its {} belongs to another checkpoint",
                                  checkpoint.string(), kState));
  }
  reader_ = std::make_unique<Reader>(*file_, manifest_, comm);
}

Snapshot::~Snapshot() = default;

}  // namespace plexus::checkpoint
