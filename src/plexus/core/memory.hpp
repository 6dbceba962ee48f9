#pragma once
// Memory accounting: what the process holds (resident set) and what each data structure holds, by
// kind, so that runs can report bytes per synapse and scale tests can project memory per rank.
#include <cstddef>
#include <map>
#include <string>
#include <vector>

namespace plexus::memory {

// Peak resident set size of this process, in bytes.
std::size_t peak_rss_bytes();
// Current resident set size of this process, in bytes (0 where /proc is not available).
std::size_t current_rss_bytes();

template <class T>
std::size_t bytes_of(const std::vector<T>& v) {
  return v.capacity() * sizeof(T);
}

// Bytes by kind ("neuron state", "synapses", "delay buffers", ...), summed over contributors.
class Ledger {
 public:
  void add(const std::string& kind, std::size_t bytes) { bytes_[kind] += bytes; }
  const std::map<std::string, std::size_t>& entries() const { return bytes_; }
  std::size_t total() const {
    std::size_t t = 0;
    for (const auto& [k, b] : bytes_) t += b;
    return t;
  }

 private:
  std::map<std::string, std::size_t> bytes_;
};

// "1.23 MiB" style text.
std::string human_bytes(double bytes);

}  // namespace plexus::memory
