#pragma once
// Memory accounting: what the process holds (resident set) and what each data structure holds, by
// kind, so that runs can report bytes per synapse and scale tests can project memory per rank.
#include <cstddef>
#include <map>
#include <string>

namespace plexus::memory {

// Peak resident set size of this process, in bytes.
std::size_t peak_rss_bytes();
// Memory the node has available for new allocations (MemAvailable), in bytes; 0 if unknown.
std::size_t available_bytes();

// Bytes by kind ("neuron state", "synapses", "delay buffers", ...), summed over contributors.
class Ledger {
 public:
  void add(const std::string& kind, std::size_t bytes) { bytes_[kind] += bytes; }
  const std::map<std::string, std::size_t>& entries() const { return bytes_; }

 private:
  std::map<std::string, std::size_t> bytes_;
};

// "1.23 MiB" style text.
std::string human_bytes(double bytes);

}  // namespace plexus::memory
