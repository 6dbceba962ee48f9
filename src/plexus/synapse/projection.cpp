#include "plexus/synapse/projection.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <stdexcept>
#include <utility>

#include <fmt/format.h>

#include "plexus/core/error.hpp"
#include "plexus/core/rng.hpp"

namespace plexus::synapse {

namespace {

std::uint16_t delay_steps(double ms, const BuildSpec& b, bool from_file) {
  const double exact = ms / b.dt_ms;
  const double steps = std::round(exact);
  // A delay from a file is a given value: off the grid, it is refused rather than rounded.
  if (from_file && std::fabs(exact - steps) > 1e-6 * std::max(1.0, exact))
    b.spec->node.at("file").fail(
        fmt::format("'{}': a delay of {} ms is {:.4g} steps of dt = {} ms; delays must be "
                    "whole numbers of steps",
                    b.spec->file.string(), ms, exact, b.dt_ms));
  if (steps < b.min_delay_steps || steps > std::numeric_limits<std::uint16_t>::max()) {
    const auto& node = b.spec->node;
    const std::string msg =
        steps < b.min_delay_steps
            ? fmt::format("delay {} ms is shorter than {} step(s) of dt = {} ms{}", ms, b.min_delay_steps,
                          b.dt_ms,
                          b.min_delay_steps > 0
                              ? " (only inputs from spike sources and into readouts may have delay 0)"
                              : "")
            : fmt::format("delay {} ms is longer than {} steps", ms,
                          std::numeric_limits<std::uint16_t>::max());
    if (!from_file && node.has("delay_ms")) node.at("delay_ms").fail(msg);
    node.fail(msg);
  }
  return static_cast<std::uint16_t>(steps);
}

// A weight that is not a finite number as stored (a distribution that overflows, a file's NaN) would
// make every later value NaN and let a run go on without a word.
[[noreturn]] void non_finite_weight(const BuildSpec& b, double w, Gid source, Gid target, bool from_file) {
  const auto& node = b.spec->node;
  const std::string msg =
      fmt::format("the weight of synapse {} -> {} is {} as stored ({}): weights must be finite", source,
                  target, w, from_file ? "from the file" : "drawn");
  if (from_file) node.at("file").fail(fmt::format("'{}': {}", b.spec->file.string(), msg));
  node.at("weight").fail(msg);
}

double signed_weight(double w, WeightSign s) {
  switch (s) {
    case WeightSign::AsDrawn:
      return w;
    case WeightSign::Magnitude:
      return std::fabs(w);
    case WeightSign::NegativeMagnitude:
      return -std::fabs(w);
  }
  return w;
}

}  // namespace

Projection Projection::build(const BuildSpec& b) {
  const auto& spec = *b.spec;
  Projection p;
  p.index_ = spec.index;
  const bool file_weights = !spec.weight.has_value();
  const bool file_delays = !spec.delay_ms.has_value();
  if ((file_weights || file_delays) &&
      (!b.list || (file_weights && b.list->weight.empty()) || (file_delays && b.list->delay_ms.empty())))
    spec.node.fail(fmt::format("the connection file '{}' has no {} dataset; give '{}' in the model",
                               spec.file.string(), file_weights ? "weight" : "delay_ms",
                               file_weights ? "weight" : "delay_ms"));

  p.constant_delay_ = !file_delays && spec.delay_ms->is_constant();
  if (p.constant_delay_) {
    p.delay_ = delay_steps(spec.delay_ms->a, b, false);
    p.min_delay_ = p.max_delay_ = p.delay_;
  } else {
    p.min_delay_ = std::numeric_limits<std::uint16_t>::max();
    p.max_delay_ = 0;
  }

  p.blocks_.resize(b.blocks.size());
  // Two passes per block: count synapses per source, then generate again and fill. Generating twice
  // costs little (the generator is cheap) and avoids holding a temporary copy of all synapses.
  for (std::size_t bi = 0; bi < b.blocks.size(); ++bi) {
    Block& blk = p.blocks_[bi];
    blk.targets = b.blocks[bi];
    std::vector<std::uint64_t> count(static_cast<std::size_t>(b.n_source) + 1, 0);
    for (Gid j = blk.targets.begin; j < blk.targets.end; ++j)
      model::for_each_source(spec, b.seed, b.n_source, b.target_first_local + j, b.list,
                             [&](Gid s) { ++count[s + 1]; });
    std::partial_sum(count.begin(), count.end(), count.begin());
    if (count.back() > std::numeric_limits<std::uint32_t>::max())
      throw UserError(fmt::format(
          "projection '{}': more than 2^32 synapses in one block; use more ranks or threads", spec.name));
    blk.offset.assign(count.begin(), count.end());
    const std::size_t n = count.back();
    blk.target.resize(n);
    blk.weight.resize(n);
    if (!p.constant_delay_) blk.delay.resize(n);
    std::vector<std::uint32_t> cursor(blk.offset.begin(), blk.offset.end() - 1);
    std::vector<std::pair<std::uint32_t, double>> row;  // zero_mean_rows: (slot, weight) of one target
    for (Gid j = blk.targets.begin; j < blk.targets.end; ++j) {
      const Gid t = b.target_first_local + j;  // population-local target id
      rng::Stream ws(b.seed, rng::Purpose::Weight, static_cast<std::uint64_t>(spec.index), t);
      rng::Stream ds(b.seed, rng::Purpose::Delay, static_cast<std::uint64_t>(spec.index), t);
      std::uint64_t entry = b.list ? b.list->row_begin[t] : 0;
      row.clear();
      model::for_each_source(spec, b.seed, b.n_source, t, b.list, [&](Gid s) {
        const std::uint32_t k = cursor[s]++;
        blk.target[k] = j;
        const double w = file_weights ? b.list->weight[entry] : spec.weight->sample(ws);
        if (spec.zero_mean_rows) row.emplace_back(k, w);
        blk.weight[k] = static_cast<Weight>(signed_weight(w, b.sign));
        if (!std::isfinite(blk.weight[k])) [[unlikely]]
          non_finite_weight(b, w, s, t, file_weights);
        if (!p.constant_delay_) {
          const double d = file_delays ? b.list->delay_ms[entry] : spec.delay_ms->sample(ds);
          const auto steps = delay_steps(d, b, file_delays);
          blk.delay[k] = steps;
          p.min_delay_ = std::min(p.min_delay_, steps);
          p.max_delay_ = std::max(p.max_delay_, steps);
        }
        ++entry;
      });
      if (!row.empty()) {  // the mean in source order, so it does not depend on the partition
        double sum = 0.0;
        for (const auto& [k, w] : row) sum += w;
        const double mean = sum / static_cast<double>(row.size());
        for (const auto& [k, w] : row) blk.weight[k] = static_cast<Weight>(w - mean);
      }
    }
  }
  if (!p.constant_delay_ && p.count() == 0)
    p.min_delay_ = p.max_delay_ = static_cast<std::uint16_t>(b.min_delay_steps);
  return p;
}

std::uint64_t Projection::count() const {
  std::uint64_t n = 0;
  for (const auto& b : blocks_) n += b.target.size();
  return n;
}

std::size_t Projection::bytes() const {
  std::size_t n = 0;
  for (const auto& b : blocks_)
    n += b.offset.capacity() * sizeof(std::uint32_t) + b.target.capacity() * sizeof(std::uint32_t) +
         b.weight.capacity() * sizeof(Weight) + b.delay.capacity() * sizeof(std::uint16_t);
  return n;
}

std::vector<std::uint32_t> Projection::target_order(std::size_t bi) const {
  const Block& blk = blocks_[bi];
  const std::size_t nt = blk.targets.size();
  std::vector<std::uint32_t> start(nt + 1, 0);
  for (auto t : blk.target) ++start[t - blk.targets.begin + 1];
  std::partial_sum(start.begin(), start.end(), start.begin());
  std::vector<std::uint32_t> order(blk.target.size());
  const Gid n_source = static_cast<Gid>(blk.offset.size() - 1);
  for (Gid s = 0; s < n_source; ++s)
    for (std::uint32_t k = blk.offset[s]; k < blk.offset[s + 1]; ++k)
      order[start[blk.target[k] - blk.targets.begin]++] = k;
  return order;
}

std::vector<Weight> Projection::weights_by_target() const {
  std::vector<Weight> out;
  out.reserve(count());
  for (std::size_t b = 0; b < blocks_.size(); ++b)
    for (auto k : target_order(b)) out.push_back(blocks_[b].weight[k]);
  return out;
}

void Projection::set_weights_by_target(std::span<const Weight> w) {
  if (w.size() != count()) throw std::logic_error("set_weights_by_target: wrong number of weights");
  std::size_t pos = 0;
  for (std::size_t b = 0; b < blocks_.size(); ++b)
    for (auto k : target_order(b)) blocks_[b].weight[k] = w[pos++];
}

void Projection::for_each_by_target(
    std::size_t bi, const std::function<void(Gid, std::uint32_t, Weight, std::uint16_t)>& f) const {
  const Block& blk = blocks_[bi];
  // Build a target-major index of this block's synapses; sources within a target stay ascending
  // because rows are visited in source order.
  const std::size_t nt = blk.targets.size();
  std::vector<std::uint32_t> start(nt + 1, 0);
  for (auto t : blk.target) ++start[t - blk.targets.begin + 1];
  std::partial_sum(start.begin(), start.end(), start.begin());
  std::vector<std::uint32_t> order(blk.target.size());
  std::vector<Gid> src(blk.target.size());
  std::vector<std::uint32_t> cur(start.begin(), start.end() - 1);
  const Gid n_source = static_cast<Gid>(blk.offset.size() - 1);
  for (Gid s = 0; s < n_source; ++s)
    for (std::uint32_t k = blk.offset[s]; k < blk.offset[s + 1]; ++k) {
      const std::uint32_t pos = cur[blk.target[k] - blk.targets.begin]++;
      order[pos] = k;
      src[pos] = s;
    }
  for (std::size_t pos = 0; pos < order.size(); ++pos) {
    const std::uint32_t k = order[pos];
    f(src[pos], blk.target[k], blk.weight[k], blk.delay.empty() ? delay_ : blk.delay[k]);
  }
}

}  // namespace plexus::synapse
