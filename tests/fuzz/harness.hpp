#pragma once
// Fuzz harnesses: each takes one input and must return normally (a bad input is refused with a
// UserError, which the harness catches). A crash, a sanitizer report or any other exception is a bug.
// They are driven by the bounded mutation fuzzer of the test suite (driver.cpp) and, with clang, by
// libFuzzer (libfuzzer.cpp).
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace plexus::fuzz {

// The model loader: the input as a model file's text, parsed, checked and described as a network
// (model::Network::from_config), without building it.
void model_loader(const std::uint8_t* data, std::size_t size);

// The readers of result files and checkpoints: the input written as a file, then verified (every
// checksum), compared with itself, and read as a checkpoint's state file would be.
void result_reader(const std::uint8_t* data, std::size_t size);

using Harness = void (*)(const std::uint8_t*, std::size_t);
// By name ("model", "result"); null if unknown.
Harness harness(std::string_view name);

}  // namespace plexus::fuzz
