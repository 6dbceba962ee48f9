#include "plexus/task/tempotron_patterns.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <numeric>

#include <fmt/format.h>

#include "plexus/core/rng.hpp"

namespace plexus::task {
namespace {

using model::Range;

// What a number is for, inside the TempotronPattern purpose (third counter word). Pattern numbers
// also carry the stream; template numbers do not, since templates are shared by all streams.
enum Kind : std::uint64_t { kTimes = 0, kLabel = 1, kJitter = 2, kTemplateTimes = 3, kTemplateLabel = 4 };

std::uint64_t pattern_key(Stream s, Kind k) {
  return static_cast<std::uint64_t>(s) * 8 + k;
}

// One spike per afferent, uniform in [0, T), four afferents per Philox block.
void uniform_times(std::uint64_t seed, std::uint64_t experiment, std::uint64_t index, std::uint64_t key,
                   std::uint32_t n, double T, std::vector<double>& t) {
  t.resize(n);
  std::array<std::uint64_t, 4> w{};
  for (std::uint32_t i = 0; i < n; ++i) {
    if ((i & 3) == 0) w = rng::block(seed, rng::Purpose::TempotronPattern, experiment, index, key, i >> 2);
    t[i] = rng::to_unit(w[i & 3]) * T;
  }
}

int draw_label(std::uint64_t seed, std::uint64_t experiment, std::uint64_t index, std::uint64_t key,
               int classes) {
  const auto w = rng::block(seed, rng::Purpose::TempotronPattern, experiment, index, key, 0);
  return std::min(classes - 1, static_cast<int>(rng::to_unit(w[0]) * classes));
}

}  // namespace

TempotronPatternSpec TempotronPatternSpec::read(const model::Node& n, std::uint32_t afferents) {
  n.allow_only({"kind", "duration_ms", "classes", "templates", "jitter_ms"});
  TempotronPatternSpec s;
  s.afferents = afferents;
  s.duration_ms = n.number_or("duration_ms", 500.0, Range::positive());
  s.classes = static_cast<int>(n.integer_or("classes", 2, Range::closed(2, 1e6)));
  s.templates = static_cast<std::uint64_t>(n.integer_or("templates", 0, Range::closed(0, 1e9)));
  s.jitter_ms = n.number_or("jitter_ms", 0.0, Range::non_negative());
  if (s.jitter_ms > 0.0 && s.templates == 0)
    n.at("jitter_ms").fail("jitter applies to copies of templates; set 'templates' too");
  if (afferents == 0) n.fail("the afferent population is empty");
  return s;
}

SpikePattern TempotronPatterns::pattern(std::uint64_t experiment, Stream stream, std::uint64_t index) const {
  const std::uint32_t n = spec_.afferents;
  const double T = spec_.duration_ms;
  SpikePattern p;
  std::vector<double> t;
  if (spec_.templates == 0) {
    uniform_times(seed_, experiment, index, pattern_key(stream, kTimes), n, T, t);
    p.label = draw_label(seed_, experiment, index, pattern_key(stream, kLabel), spec_.classes);
  } else {
    // Copies cycle through the templates, so every template is seen equally often.
    const std::uint64_t m = index % spec_.templates;
    uniform_times(seed_, experiment, m, kTemplateTimes, n, T, t);
    p.label = draw_label(seed_, experiment, m, kTemplateLabel, spec_.classes);
    if (spec_.jitter_ms > 0.0) {
      rng::Stream js(seed_, rng::Purpose::TempotronPattern, experiment, index, pattern_key(stream, kJitter));
      // Jittered times are reflected at the ends of [0, T) (so their density stays uniform), then
      // clamped in case the jitter exceeds T.
      const double below_T = std::nextafter(T, 0.0);
      for (auto& x : t) {
        double y = x + spec_.jitter_ms * js.normal();
        if (y < 0.0) y = -y;
        if (y >= T) y = 2.0 * T - y;
        x = std::clamp(y, 0.0, below_T);
      }
    }
  }
  std::vector<std::uint32_t> order(n);
  std::iota(order.begin(), order.end(), 0u);
  std::sort(order.begin(), order.end(),
            [&](std::uint32_t a, std::uint32_t b) { return t[a] != t[b] ? t[a] < t[b] : a < b; });
  p.time_ms.resize(n);
  p.afferent.resize(n);
  for (std::uint32_t k = 0; k < n; ++k) {
    p.time_ms[k] = t[order[k]];
    p.afferent[k] = order[k];
  }
  return p;
}

}  // namespace plexus::task
