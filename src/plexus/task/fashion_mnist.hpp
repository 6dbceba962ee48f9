#pragma once
// Images as network input (SPEC 3.6): the IDX file format (gzip-compressed or plain), the
// Fashion-MNIST set from the Debian package `dataset-fashion-mnist`, and the encodings of a
// grey-level image as input rates: constant currents (intensity / 255) or Poisson spike counts
// with rate proportional to intensity, drawn from counter-based numbers keyed by (seed, stream,
// epoch, image), so every rank makes the same inputs.
#include <array>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "plexus/model/config.hpp"
#include "plexus/task/task.hpp"

namespace plexus::task {

// Grey-level images with labels.
struct Images {
  std::size_t count = 0, rows = 0, cols = 0;
  std::vector<std::uint8_t> pixels;  // count x rows x cols, row-major
  std::vector<std::uint8_t> labels;  // count
  std::size_t pixels_per_image() const { return rows * cols; }
  const std::uint8_t* image(std::size_t i) const { return pixels.data() + i * rows * cols; }
};

// Reads an IDX pair: images (unsigned bytes, 3 dimensions) and labels (unsigned bytes, 1
// dimension) with the same count; gzip-compressed or plain. Throws UserError naming the file for a
// missing, unreadable, truncated or malformed file.
Images read_idx(const std::filesystem::path& images, const std::filesystem::path& labels);
// Writes an IDX pair, gzip-compressed.
void write_idx(const std::filesystem::path& images, const std::filesystem::path& labels, const Images& set);

// Where the Debian package installs the set.
inline constexpr const char* kFashionMnistDir = "/usr/share/datasets/fashion-mnist";
inline constexpr const char* kFashionMnistPackage = "dataset-fashion-mnist";
inline constexpr std::array<const char*, 10> kFashionMnistClasses = {
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"};

struct FashionMnist {
  Images train, test;  // 60000 and 10000 images of 28 x 28
  // Reads the four files of the set from `dir`. If they are not there, the UserError names the
  // Debian package to install (and `where`, the model key that chose the directory, if any).
  static FashionMnist load(const std::filesystem::path& dir, const std::string& where = {});
};

enum class Encoding { Current, Poisson };

// [task] with kind = "fashion_mnist".
struct ImageTask {
  std::filesystem::path data_dir = kFashionMnistDir;
  std::string data_dir_key;  // file:line of task.data_dir if given (for messages)
  Encoding encoding = Encoding::Poisson;
  double max_rate_hz = 100.0;             // Poisson: rate of a white pixel
  double presentation_ms = 100.0;         // Poisson: window over which input spikes are counted
  std::size_t train_samples = 55000;      // first images of the training file
  std::size_t validation_samples = 5000;  // last images of the training file (never trained on)
  std::size_t test_samples = 10000;       // first images of the test file

  // Reads and checks the keys; throws ConfigError naming file, line and key.
  static ImageTask read(const model::Node& task);
  // Checks the sample counts against the loaded set (ConfigError at the offending key).
  void check_counts(const FashionMnist& set, const model::Node& task) const;
  // Expected spike count of a white pixel in the presentation window.
  double max_count() const { return max_rate_hz * presentation_ms * 1e-3; }
};

// Input rates of one image (n pixels) into `out`: intensity / 255 (current), or the Poisson spike
// count in the presentation window divided by the count a white pixel would have on average
// (poisson). Keyed by (seed, stream, epoch, index): the same image gets new spikes every epoch.
void encode(const ImageTask& task, const std::uint8_t* pixels, std::size_t n, std::uint64_t seed,
            Stream stream, std::uint64_t epoch, std::uint64_t index, double* out);

}  // namespace plexus::task
