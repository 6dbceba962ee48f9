#pragma once
// Target-side connection generation: the incoming connections of one target neuron are a pure
// function of (seed, projection, target id), so any rank can generate exactly the synapses it owns
// and nothing else (Arbor's recipe; NEST instead builds and then discards).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "plexus/core/rng.hpp"
#include "plexus/core/types.hpp"
#include "plexus/model/network.hpp"

namespace plexus::model {

// Explicit connections of one projection read from a file, grouped by target (population-local
// ids, sorted by target then source).
struct ConnectionList {
  std::vector<std::uint64_t> row_begin;  // per target, index of its first entry; size n_target + 1
  std::vector<Gid> source;
  std::vector<double> weight;    // empty if the file has none
  std::vector<double> delay_ms;  // empty if the file has none
};

// Calls f(source_local) for every incoming connection of target `t` (population-local), in
// increasing source order (repeated sources, if multapses are allowed, are adjacent).
template <class F>
void for_each_source(const ProjectionSpec& proj, std::uint64_t seed, Gid n_source, Gid t,
                     const ConnectionList* list, F&& f) {
  const bool skip_self = proj.source == proj.target && !proj.autapses;
  switch (proj.rule) {
    case ConnectRule::AllToAll:
      for (Gid i = 0; i < n_source; ++i)
        if (!(skip_self && i == t)) f(i);
      return;
    case ConnectRule::FixedProbability: {
      // Bernoulli per pair by geometric skipping: the gap to the next connected source is
      // geometric with parameter p, so the cost is O(in-degree), not O(n_source).
      if (proj.p <= 0.0) return;
      if (proj.p >= 1.0) {
        for (Gid i = 0; i < n_source; ++i)
          if (!(skip_self && i == t)) f(i);
        return;
      }
      rng::Stream s(seed, rng::Purpose::Connectivity, static_cast<std::uint64_t>(proj.index), t);
      const double log_q = std::log1p(-proj.p);
      double i = -1.0;
      for (;;) {
        i += 1.0 + std::floor(std::log(s.open_uniform()) / log_q);
        if (i >= static_cast<double>(n_source)) return;
        const Gid src = static_cast<Gid>(i);
        if (!(skip_self && src == t)) f(src);
      }
    }
    case ConnectRule::FixedIndegree: {
      rng::Stream s(seed, rng::Purpose::Connectivity, static_cast<std::uint64_t>(proj.index), t);
      const std::uint64_t k = static_cast<std::uint64_t>(proj.indegree);
      // Draw from [0, m) and skip the target itself by shifting the upper part.
      const std::uint64_t m = n_source - (skip_self && t < n_source ? 1 : 0);
      auto map = [&](std::uint64_t x) { return static_cast<Gid>(skip_self && x >= t ? x + 1 : x); };
      std::vector<Gid> chosen;
      chosen.reserve(k);
      if (proj.multapses) {
        for (std::uint64_t j = 0; j < k; ++j) chosen.push_back(map(s.below(m)));
        std::sort(chosen.begin(), chosen.end());
      } else if (m <= 32 * k) {
        // Floyd's algorithm: k distinct values from [0, m) with exactly k draws. When the choice is
        // dense, membership is a bitmap, and scanning it yields the sources already sorted.
        std::vector<std::uint64_t> bits((m + 63) / 64, 0);
        auto insert = [&](std::uint64_t x) {  // returns false if x was present
          const std::uint64_t bit = std::uint64_t{1} << (x & 63);
          if (bits[x >> 6] & bit) return false;
          bits[x >> 6] |= bit;
          return true;
        };
        for (std::uint64_t j = m - k; j < m; ++j)
          if (!insert(s.below(j + 1))) insert(j);
        for (std::size_t w = 0; w < bits.size(); ++w)
          for (std::uint64_t word = bits[w]; word; word &= word - 1)
            chosen.push_back(map(64 * w + static_cast<std::uint64_t>(__builtin_ctzll(word))));
      } else {
        // Sparse choice: the same algorithm (so the same sources) with an open-addressing hash
        // table for membership, then a sort.
        std::size_t cap = 16;
        while (cap < 2 * k) cap <<= 1;
        const std::uint64_t empty = ~std::uint64_t{0};
        std::vector<std::uint64_t> table(cap, empty);
        auto insert = [&](std::uint64_t x) {  // returns false if x was present
          std::size_t h = static_cast<std::size_t>((x * 0x9E3779B97F4A7C15ull) >> 20) & (cap - 1);
          while (table[h] != empty) {
            if (table[h] == x) return false;
            h = (h + 1) & (cap - 1);
          }
          table[h] = x;
          return true;
        };
        for (std::uint64_t j = m - k; j < m; ++j) {
          const std::uint64_t x = s.below(j + 1);
          if (insert(x)) {
            chosen.push_back(map(x));
          } else {
            insert(j);
            chosen.push_back(map(j));
          }
        }
        std::sort(chosen.begin(), chosen.end());
      }
      for (Gid g : chosen) f(g);
      return;
    }
    case ConnectRule::FromFile: {
      for (std::uint64_t e = list->row_begin[t]; e < list->row_begin[t + 1]; ++e) f(list->source[e]);
      return;
    }
  }
}

}  // namespace plexus::model
