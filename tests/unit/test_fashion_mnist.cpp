// IDX reading (gzip and plain), its errors, the missing-package message, and the input encodings.
#include <zlib.h>

#include <catch2/catch.hpp>
#include <cmath>
#include <fstream>

#include "helpers.hpp"
#include "plexus/core/error.hpp"
#include "plexus/task/fashion_mnist.hpp"

using namespace plexus;

namespace {

task::Images small_set(std::size_t count) {
  task::Images s;
  s.count = count;
  s.rows = 4;
  s.cols = 3;
  for (std::size_t i = 0; i < count * 12; ++i) s.pixels.push_back(static_cast<std::uint8_t>((i * 37) % 256));
  for (std::size_t i = 0; i < count; ++i) s.labels.push_back(static_cast<std::uint8_t>(i % 10));
  return s;
}

// The bytes of a gzip file, uncompressed.
std::vector<char> gunzip(const std::filesystem::path& p) {
  gzFile f = gzopen(p.c_str(), "rb");
  std::vector<char> out(1 << 16);
  const int n = gzread(f, out.data(), static_cast<unsigned>(out.size()));
  gzclose(f);
  out.resize(static_cast<std::size_t>(n));
  return out;
}

void write_bytes(const std::filesystem::path& p, const std::vector<char>& b) {
  std::ofstream(p, std::ios::binary).write(b.data(), static_cast<std::streamsize>(b.size()));
}

std::string message_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const UserError& e) {
    return e.what();
  }
  return "(no error)";
}

}  // namespace

TEST_CASE("idx: written and read back, gzip-compressed and plain", "[fashion]") {
  test::TempDir dir;
  const auto set = small_set(7);
  task::write_idx(dir.path / "i.gz", dir.path / "l.gz", set);
  const auto back = task::read_idx(dir.path / "i.gz", dir.path / "l.gz");
  CHECK(back.count == 7);
  CHECK(back.rows == 4);
  CHECK(back.cols == 3);
  CHECK(back.pixels == set.pixels);
  CHECK(back.labels == set.labels);
  // The same content uncompressed reads the same.
  write_bytes(dir.path / "i.raw", gunzip(dir.path / "i.gz"));
  write_bytes(dir.path / "l.raw", gunzip(dir.path / "l.gz"));
  const auto plain = task::read_idx(dir.path / "i.raw", dir.path / "l.raw");
  CHECK(plain.pixels == set.pixels);
  CHECK(plain.labels == set.labels);
}

TEST_CASE("idx: malformed files are refused with the file named", "[fashion]") {
  test::TempDir dir;
  task::write_idx(dir.path / "i.gz", dir.path / "l.gz", small_set(5));
  auto bytes = gunzip(dir.path / "i.gz");

  auto truncated = bytes;
  truncated.resize(bytes.size() - 3);
  write_bytes(dir.path / "short", truncated);
  CHECK_THAT(message_of([&] { task::read_idx(dir.path / "short", dir.path / "l.gz"); }),
             Catch::Contains("short") && Catch::Contains("truncated"));

  auto magic = bytes;
  magic[0] = 1;
  write_bytes(dir.path / "magic", magic);
  CHECK_THAT(message_of([&] { task::read_idx(dir.path / "magic", dir.path / "l.gz"); }),
             Catch::Contains("bad magic"));

  auto type = bytes;
  type[2] = 0x0d;  // floats
  write_bytes(dir.path / "type", type);
  CHECK_THAT(message_of([&] { task::read_idx(dir.path / "type", dir.path / "l.gz"); }),
             Catch::Contains("unsigned bytes"));

  // Labels for a different number of images.
  task::write_idx(dir.path / "i6.gz", dir.path / "l6.gz", small_set(6));
  CHECK_THAT(message_of([&] { task::read_idx(dir.path / "i.gz", dir.path / "l6.gz"); }),
             Catch::Contains("5 images") && Catch::Contains("6 labels"));

  // A gzip stream cut short.
  std::ifstream in(dir.path / "i.gz", std::ios::binary);
  std::vector<char> gz((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  gz.resize(gz.size() / 2);
  write_bytes(dir.path / "cut.gz", gz);
  CHECK_THROWS_AS(task::read_idx(dir.path / "cut.gz", dir.path / "l.gz"), UserError);

  CHECK_THAT(message_of([&] { task::read_idx(dir.path / "none.gz", dir.path / "l.gz"); }),
             Catch::Contains("none.gz") && Catch::Contains("no such file"));
}

TEST_CASE("fashion-mnist: a missing set names the Debian package", "[fashion]") {
  test::TempDir dir;
  const auto msg = message_of([&] { task::FashionMnist::load(dir.path, "m.toml:7: 'task.data_dir'"); });
  CHECK_THAT(msg, Catch::Contains("dataset-fashion-mnist") && Catch::Contains("m.toml:7") &&
                      Catch::Contains("train-images-idx3-ubyte.gz"));
}

TEST_CASE("fashion-mnist: encodings of an image as input rates", "[fashion]") {
  const std::uint8_t px[4] = {0, 51, 153, 255};
  task::ImageTask t;
  t.encoding = task::Encoding::Current;
  double out[4];
  task::encode(t, px, 4, 1, task::Stream::Train, 0, 0, out);
  CHECK(out[0] == 0.0);
  CHECK(out[1] == Approx(0.2));
  CHECK(out[3] == 1.0);

  t.encoding = task::Encoding::Poisson;
  t.max_rate_hz = 100.0;
  t.presentation_ms = 200.0;  // 20 spikes for a white pixel
  double a[4], b[4];
  task::encode(t, px, 4, 1, task::Stream::Train, 3, 9, a);
  task::encode(t, px, 4, 1, task::Stream::Train, 3, 9, b);
  CHECK(std::equal(a, a + 4, b));  // a pure function of its key
  CHECK(a[0] == 0.0);              // a dark pixel never fires
  // Spike counts: multiples of 1/20. Over many epochs the mean is the intensity, the variance
  // that of a Poisson count (intensity / 20).
  double sum = 0.0, sq = 0.0, differs = 0;
  const int n = 4000;
  for (int e = 0; e < n; ++e) {
    task::encode(t, px, 4, 1, task::Stream::Train, static_cast<std::uint64_t>(e), 9, b);
    CHECK(std::fabs(b[2] * 20.0 - std::round(b[2] * 20.0)) < 1e-12);
    sum += b[2];
    sq += b[2] * b[2];
    differs += b[2] != a[2];
  }
  const double mean = sum / n, var = sq / n - mean * mean;
  CHECK(mean == Approx(0.6).margin(4 * std::sqrt(0.6 / 20 / n)));
  CHECK(var == Approx(0.6 / 20).epsilon(0.1));
  CHECK(differs > n / 2);
}
