#include "harness.hpp"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "plexus/comm/communicator.hpp"
#include "plexus/core/error.hpp"
#include "plexus/io/array_file.hpp"
#include "plexus/io/result_file.hpp"
#include "plexus/model/config.hpp"
#include "plexus/model/network.hpp"

namespace plexus::fuzz {

void model_loader(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  try {
    const auto net = model::Network::from_config(model::Config::parse(text, "fuzz.toml"));
    (void)net.config.to_toml();
  } catch (const UserError&) {
    // Refused with a message: the expected outcome for most inputs.
  }
}

void result_reader(const std::uint8_t* data, std::size_t size) {
  // One file per process: the driver and libFuzzer run inputs one after another.
  const auto path =
      std::filesystem::temp_directory_path() / ("plexus-fuzz-" + std::to_string(::getpid()) + ".h5");
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  }
  try {
    (void)io::verify(path);
    (void)io::compare(path, path);
  } catch (const UserError&) {
  }
  try {
    auto single = comm::make_single();
    io::ArrayReader reader(path, *single);
    (void)reader.attribute("format_version");
    // A checkpoint state file's arrays are read by name and shape, as a resume reads them.
    for (const char* name : {"/samples/E/V_m", "/spikes/E/node_ids", "/training/loss"})
      if (reader.has(name)) {
        const auto shape = reader.shape(name);
        std::vector<double> buf(shape.empty() ? 0 : std::min<std::uint64_t>(shape.back(), 1 << 16));
        if (shape.size() == 1 && !buf.empty()) reader.read<double>(name, 0, 0, buf);
      }
  } catch (const UserError&) {
  }
  std::error_code ec;
  std::filesystem::remove(path, ec);
}

Harness harness(std::string_view name) {
  if (name == "model") return &model_loader;
  if (name == "result") return &result_reader;
  return nullptr;
}

}  // namespace plexus::fuzz
