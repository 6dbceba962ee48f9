// The bounded mutation fuzzer of the test suite: `plexus_fuzz HARNESS --runs N --seed S
// SEED_FILES_OR_DIRS...` mutates the seed inputs (byte flips, insertions, deletions, duplications, tokens of
// the input's language, splices of two inputs) and runs the harness on each. The number of runs, not a
// duration, bounds it, so a run is the same on any machine. Before each run the input is written to
// `fuzz-current-input` (in the working directory): after a crash it is the input that caused it.
// Exit 0 after N runs; a crash ends the process (a sanitizer's report, or the signal).
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

#include "harness.hpp"

namespace {

using Bytes = std::vector<std::uint8_t>;

Bytes read_file(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// Pieces of TOML and of model files, and numbers at the edges: inserted whole, they reach deeper
// than single bytes do.
const std::vector<std::string> kTokens = {"[",
                                          "]",
                                          "{",
                                          "}",
                                          "=",
                                          ".",
                                          ",",
                                          "\"",
                                          "'''",
                                          "\"\"\"",
                                          "\n",
                                          "#",
                                          "[[",
                                          "]]",
                                          "0",
                                          "-1",
                                          "1e308",
                                          "-1e308",
                                          "nan",
                                          "inf",
                                          "-inf",
                                          "1e-320",
                                          "4294967296",
                                          "18446744073709551616",
                                          "true",
                                          "false",
                                          "1979-05-27",
                                          "populations",
                                          "projections",
                                          "inputs",
                                          "run",
                                          "train",
                                          "task",
                                          "network",
                                          "record",
                                          "model",
                                          "size",
                                          "rule",
                                          "p",
                                          "indegree",
                                          "weight",
                                          "delay_ms",
                                          "dt_ms",
                                          "duration_ms",
                                          "seed",
                                          "scale",
                                          "source",
                                          "target",
                                          "lif",
                                          "alif",
                                          "gif",
                                          "izhikevich",
                                          "readout",
                                          "fixed_probability",
                                          "fixed_indegree",
                                          "all_to_all",
                                          "from_file",
                                          "normal",
                                          "uniform",
                                          "mean",
                                          "std",
                                          "low",
                                          "high",
                                          "iterations",
                                          "batch_size",
                                          "kind",
                                          "HDF",
                                          "\x89HDF\r\n\x1a\n",
                                          "\xff\xff\xff\xff\xff\xff\xff\xff",
                                          "\0\0\0\0"};

Bytes mutate(const std::vector<Bytes>& corpus, std::mt19937_64& rng) {
  auto pick = [&rng](std::size_t n) { return n ? static_cast<std::size_t>(rng() % n) : 0; };
  Bytes b = corpus[pick(corpus.size())];
  const int edits = 1 + static_cast<int>(rng() % 8);
  for (int e = 0; e < edits; ++e) {
    const std::size_t at = pick(b.size() + 1);
    switch (rng() % 7) {
      case 0:  // flip a bit
        if (!b.empty()) b[pick(b.size())] ^= static_cast<std::uint8_t>(1u << (rng() % 8));
        break;
      case 1:  // a random byte
        b.insert(b.begin() + static_cast<std::ptrdiff_t>(at), static_cast<std::uint8_t>(rng()));
        break;
      case 2: {  // delete a range
        const std::size_t n = std::min(b.size() - std::min(at, b.size()), 1 + pick(64));
        b.erase(b.begin() + static_cast<std::ptrdiff_t>(std::min(at, b.size())),
                b.begin() + static_cast<std::ptrdiff_t>(std::min(at + n, b.size())));
        break;
      }
      case 3: {  // duplicate a range (nesting, repetition)
        if (b.empty()) break;
        const std::size_t from = pick(b.size()), n = std::min(b.size() - from, 1 + pick(256));
        const Bytes piece(b.begin() + static_cast<std::ptrdiff_t>(from),
                          b.begin() + static_cast<std::ptrdiff_t>(from + n));
        const int times = 1 + static_cast<int>(rng() % 4);
        for (int t = 0; t < times; ++t)
          b.insert(b.begin() + static_cast<std::ptrdiff_t>(at), piece.begin(), piece.end());
        break;
      }
      case 4: {  // a token
        const std::string& t = kTokens[pick(kTokens.size())];
        b.insert(b.begin() + static_cast<std::ptrdiff_t>(at), t.begin(), t.end());
        break;
      }
      case 5: {  // overwrite with a token (numbers in place of numbers, in a binary file too)
        const std::string& t = kTokens[pick(kTokens.size())];
        for (std::size_t i = 0; i < t.size() && at + i < b.size(); ++i)
          b[at + i] = static_cast<std::uint8_t>(t[i]);
        break;
      }
      default: {  // splice: the head of this input, the tail of another
        const Bytes& other = corpus[pick(corpus.size())];
        const std::size_t cut = pick(other.size() + 1);
        b.resize(std::min(at, b.size()));
        b.insert(b.end(), other.begin() + static_cast<std::ptrdiff_t>(cut), other.end());
        break;
      }
    }
  }
  constexpr std::size_t kMaxBytes = 1 << 20;
  if (b.size() > kMaxBytes) b.resize(kMaxBytes);
  return b;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s model|result [--runs N] [--seed S] SEEDS...\n", argv[0]);
    return 2;
  }
  const auto harness = plexus::fuzz::harness(argv[1]);
  if (!harness) {
    std::fprintf(stderr, "unknown harness '%s' (model, result)\n", argv[1]);
    return 2;
  }
  std::uint64_t runs = 1000, seed = 1;
  std::vector<Bytes> corpus;
  for (int i = 2; i < argc; ++i) {
    const std::string a = argv[i];
    if ((a == "--runs" || a == "--seed") && i + 1 < argc) {
      (a == "--runs" ? runs : seed) = std::stoull(argv[++i]);
      continue;
    }
    if (std::filesystem::is_directory(a)) {
      for (const auto& e : std::filesystem::directory_iterator(a))
        if (e.is_regular_file()) corpus.push_back(read_file(e.path()));
    } else {
      corpus.push_back(read_file(a));
    }
  }
  if (corpus.empty()) corpus.emplace_back();
  // The seeds as they are first: they must pass too.
  for (const auto& b : corpus) harness(b.data(), b.size());
  std::mt19937_64 rng(seed);
  for (std::uint64_t r = 0; r < runs; ++r) {
    const Bytes b = mutate(corpus, rng);
    {
      std::ofstream out("fuzz-current-input", std::ios::binary | std::ios::trunc);
      out.write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
    }
    harness(b.data(), b.size());
  }
  std::printf("%s: %llu seed inputs and %llu mutated inputs ran, no crash\n", argv[1],
              static_cast<unsigned long long>(corpus.size()), static_cast<unsigned long long>(runs));
  return 0;
}
