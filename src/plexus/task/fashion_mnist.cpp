// IDX files (the MNIST family's format: a 4-byte magic 0, 0, type, dimensions; big-endian 32-bit
// sizes; then the data) read through zlib, which also reads uncompressed files as they are.
#include "plexus/task/fashion_mnist.hpp"

#include <zlib.h>

#include <climits>
#include <cmath>
#include <memory>

#include <fmt/format.h>

#include "plexus/core/error.hpp"
#include "plexus/core/rng.hpp"

namespace plexus::task {
namespace {

constexpr std::uint8_t kUnsignedByte = 0x08;
// Part of the key of the Poisson input streams (with stream, epoch and image).
constexpr std::uint64_t kPixelKey = 0x4944'5850;  // "IDXP"

struct GzCloser {
  void operator()(gzFile f) const { gzclose(f); }
};
using Gz = std::unique_ptr<gzFile_s, GzCloser>;

std::vector<std::uint8_t> read_all(const std::filesystem::path& p) {
  if (!std::filesystem::is_regular_file(p)) throw UserError(fmt::format("{}: no such file", p.string()));
  Gz f(gzopen(p.c_str(), "rb"));
  if (!f) throw UserError(fmt::format("{}: cannot open", p.string()));
  gzbuffer(f.get(), 1 << 17);
  std::vector<std::uint8_t> out;
  std::vector<std::uint8_t> buf(1 << 20);
  for (;;) {
    const int n = gzread(f.get(), buf.data(), static_cast<unsigned>(buf.size()));
    if (n < 0) {
      int code = 0;
      const char* msg = gzerror(f.get(), &code);
      throw UserError(fmt::format("{}: cannot read: {}", p.string(), msg ? msg : "error"));
    }
    if (n == 0) break;
    out.insert(out.end(), buf.begin(), buf.begin() + n);
  }
  // A gzip stream cut short ends without an error from gzread on some zlib versions; check here.
  int code = 0;
  const char* msg = gzerror(f.get(), &code);
  if (code != Z_OK && code != Z_STREAM_END)
    throw UserError(fmt::format("{}: cannot read: {}", p.string(), msg ? msg : "error"));
  return out;
}

std::uint32_t be32(const std::uint8_t* b) {
  return (std::uint32_t{b[0]} << 24) | (std::uint32_t{b[1]} << 16) | (std::uint32_t{b[2]} << 8) | b[3];
}

// Dimensions and data offset of an IDX file of unsigned bytes with `want_dims` dimensions.
std::vector<std::size_t> parse_header(const std::vector<std::uint8_t>& bytes, std::size_t want_dims,
                                      const std::filesystem::path& p) {
  if (bytes.size() < 4 || bytes[0] != 0 || bytes[1] != 0)
    throw UserError(fmt::format("{}: not an IDX file (bad magic number)", p.string()));
  if (bytes[2] != kUnsignedByte)
    throw UserError(
        fmt::format("{}: IDX data type 0x{:02x}, expected unsigned bytes (0x08)", p.string(), bytes[2]));
  if (bytes[3] != want_dims)
    throw UserError(fmt::format("{}: {} dimension(s), expected {}", p.string(), bytes[3], want_dims));
  if (bytes.size() < 4 + 4 * want_dims) throw UserError(fmt::format("{}: truncated header", p.string()));
  std::vector<std::size_t> dims;
  std::size_t total = 1;
  for (std::size_t d = 0; d < want_dims; ++d) {
    dims.push_back(be32(bytes.data() + 4 + 4 * d));
    total *= dims.back();
  }
  const std::size_t expect = 4 + 4 * want_dims + total;
  if (bytes.size() != expect)
    throw UserError(fmt::format("{}: {} bytes, but its header announces {} ({})", p.string(), bytes.size(),
                                expect, bytes.size() < expect ? "truncated" : "trailing data"));
  return dims;
}

void put_be32(std::vector<std::uint8_t>& out, std::size_t v) {
  for (int s = 24; s >= 0; s -= 8) out.push_back(static_cast<std::uint8_t>((v >> s) & 0xff));
}

void write_gz(const std::filesystem::path& p, const std::vector<std::uint8_t>& bytes) {
  Gz f(gzopen(p.c_str(), "wb"));
  if (!f) throw UserError(fmt::format("{}: cannot create", p.string()));
  std::size_t done = 0;
  while (done < bytes.size()) {
    const auto n = static_cast<unsigned>(std::min<std::size_t>(bytes.size() - done, 1 << 20));
    if (gzwrite(f.get(), bytes.data() + done, n) != static_cast<int>(n))
      throw UserError(fmt::format("{}: cannot write", p.string()));
    done += n;
  }
  if (gzclose(f.release()) != Z_OK) throw UserError(fmt::format("{}: cannot write", p.string()));
}

}  // namespace

Images read_idx(const std::filesystem::path& images, const std::filesystem::path& labels) {
  const auto ib = read_all(images);
  const auto id = parse_header(ib, 3, images);
  const auto lb = read_all(labels);
  const auto ld = parse_header(lb, 1, labels);
  if (id[0] != ld[0])
    throw UserError(fmt::format("{} holds {} images but {} holds {} labels", images.string(), id[0],
                                labels.string(), ld[0]));
  Images set;
  set.count = id[0];
  set.rows = id[1];
  set.cols = id[2];
  set.pixels.assign(ib.begin() + 16, ib.end());
  set.labels.assign(lb.begin() + 8, lb.end());
  return set;
}

void write_idx(const std::filesystem::path& images, const std::filesystem::path& labels, const Images& set) {
  std::vector<std::uint8_t> ib{0, 0, kUnsignedByte, 3};
  put_be32(ib, set.count);
  put_be32(ib, set.rows);
  put_be32(ib, set.cols);
  ib.insert(ib.end(), set.pixels.begin(), set.pixels.end());
  write_gz(images, ib);
  std::vector<std::uint8_t> lb{0, 0, kUnsignedByte, 1};
  put_be32(lb, set.count);
  lb.insert(lb.end(), set.labels.begin(), set.labels.end());
  write_gz(labels, lb);
}

FashionMnist FashionMnist::load(const std::filesystem::path& dir, const std::string& where) {
  const char* names[4] = {"train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
                          "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"};
  for (const char* n : names)
    if (!std::filesystem::exists(dir / n))
      throw UserError(fmt::format(
          "{}Fashion-MNIST not found: {} does not exist. Install the Debian package {} (apt-get install {}, "
          "or "
          "scripts/install-deps.sh), or point task.data_dir at a directory holding its four IDX files",
          where.empty() ? "" : where + ": ", (dir / n).string(), kFashionMnistPackage, kFashionMnistPackage));
  FashionMnist set;
  set.train = read_idx(dir / names[0], dir / names[1]);
  set.test = read_idx(dir / names[2], dir / names[3]);
  for (const Images* s : {&set.train, &set.test}) {
    if (s->rows != 28 || s->cols != 28)
      throw UserError(
          fmt::format("{}: images of {} x {} pixels, expected 28 x 28", dir.string(), s->rows, s->cols));
    for (auto l : s->labels)
      if (l >= kFashionMnistClasses.size())
        throw UserError(fmt::format("{}: label {} outside 0..9", dir.string(), static_cast<int>(l)));
  }
  return set;
}

ImageTask ImageTask::read(const model::Node& task) {
  task.allow_only({"kind", "data_dir", "encoding", "max_rate_hz", "presentation_ms", "train_samples",
                   "validation_samples", "test_samples"});
  task.choice("kind", {"fashion_mnist"});
  ImageTask t;
  if (auto d = task.find("data_dir")) {
    t.data_dir = task.config().resolve_path(d->as_string());
    t.data_dir_key = fmt::format("{}:{}: 'task.data_dir'", d->file(), d->line());
  }
  t.encoding = task.choice("encoding", {"poisson", "current"}, std::string("poisson")) == "poisson"
                   ? Encoding::Poisson
                   : Encoding::Current;
  t.max_rate_hz = task.number_or("max_rate_hz", t.max_rate_hz, model::Range::positive());
  t.presentation_ms = task.number_or("presentation_ms", t.presentation_ms, model::Range::positive());
  // max_rate_hz and presentation_ms are kept (unused) with encoding = "current", so that one model
  // file can be switched with a single --set.
  if (t.encoding == Encoding::Poisson && t.max_count() < 1.0)
    task.fail(
        fmt::format("a white pixel would fire {:g} spikes in presentation_ms: need at least 1 (raise "
                    "max_rate_hz or presentation_ms)",
                    t.max_count()));
  t.train_samples =
      static_cast<std::size_t>(task.integer_or("train_samples", 55000, model::Range::closed(1, 60000)));
  t.validation_samples =
      static_cast<std::size_t>(task.integer_or("validation_samples", 5000, model::Range::closed(0, 59999)));
  t.test_samples =
      static_cast<std::size_t>(task.integer_or("test_samples", 10000, model::Range::closed(0, 10000)));
  return t;
}

void ImageTask::check_counts(const FashionMnist& set, const model::Node& task) const {
  if (train_samples + validation_samples > set.train.count)
    (task.has("validation_samples") ? task.at("validation_samples") : task)
        .fail(fmt::format("train_samples + validation_samples = {} exceeds the {} training images",
                          train_samples + validation_samples, set.train.count));
  if (test_samples > set.test.count)
    task.at("test_samples").fail(fmt::format("exceeds the {} test images", set.test.count));
}

void encode(const ImageTask& task, const std::uint8_t* pixels, std::size_t n, std::uint64_t seed,
            Stream stream, std::uint64_t epoch, std::uint64_t index, double* out) {
  if (task.encoding == Encoding::Current) {
    for (std::size_t j = 0; j < n; ++j) out[j] = pixels[j] / 255.0;
    return;
  }
  const double lambda_max = task.max_count();
  rng::Stream s(seed, rng::Purpose::Task,
                (static_cast<std::uint64_t>(stream) << 32) | (epoch & 0xffff'ffffULL), index, kPixelKey);
  for (std::size_t j = 0; j < n; ++j) {
    if (pixels[j] == 0) {
      out[j] = 0.0;
      continue;
    }
    const rng::Poisson poisson(lambda_max * (pixels[j] / 255.0));
    out[j] = poisson(s.uniform(), s) / lambda_max;
  }
}

}  // namespace plexus::task
