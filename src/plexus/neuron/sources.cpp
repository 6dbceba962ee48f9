// Spike sources and relays.
//  - poisson_source: independent Poisson trains (Bernoulli per step, p = rate dt); each neuron keeps
//    the step of its next spike, drawn as a geometric gap keyed by (gid, spike count), so the cost
//    is per spike, not per step, and the trains do not depend on the partition.
//  - spike_source: given spike times (in the model file or an HDF5 file), rounded to steps.
//  - parrot: re-emits, in the step it arrives, any spike it receives (so tests can impose spike
//    times on both sides of a plastic synapse).
// Sources run in phase 1 on every rank and their spikes are never exchanged.
#include <algorithm>
#include <cmath>
#include <limits>

#include <fmt/format.h>

#include "plexus/core/rng.hpp"
#include "plexus/neuron/population.hpp"

namespace plexus::neuron {
namespace {

using model::Range;
constexpr Step kNever = std::numeric_limits<Step>::max();

class PoissonSource final : public Population {
 public:
  explicit PoissonSource(const Setup& s) : Population(s.local.size()), seed_(s.seed), trial_(s.trial) {
    Params p(s.spec);
    const double rate = p.number("rate_hz", 10.0, Range::non_negative());
    const double start = p.number("start_ms", 0.0, Range::non_negative());
    const double stop = p.number("stop_ms", 0.0, Range::non_negative());
    p.finish();
    prob_ = rate * s.dt_ms * 1e-3;
    if (prob_ > 1.0) p.fail("rate_hz", fmt::format("rate x dt = {} exceeds one spike per step", prob_));
    start_ = steps_of(start, s.dt_ms);
    stop_ = stop > 0.0 ? steps_of(stop, s.dt_ms) : kNever;
    first_gid_ = s.spec.first_gid + s.local.begin;
    next_.assign(n_, kNever);
    count_.assign(n_, 0);
    if (prob_ > 0.0)
      for (std::size_t i = 0; i < n_; ++i) next_[i] = draw_next(i, start_ - 1);
  }
  std::vector<std::string> variables() const override { return {}; }
  std::string unit(std::string_view) const override { return {}; }
  const double* variable(std::string_view) const override { return nullptr; }
  void update(Step t, std::size_t b, std::size_t e, double* const*, const double*, double* spikes) override {
    for (std::size_t i = b; i < e; ++i) {
      const bool spike = next_[i] == t;
      spikes[i] = spike ? 1.0 : 0.0;
      if (spike) next_[i] = draw_next(i, t);
    }
  }
  // The step of each neuron's next spike and how many gaps it has drawn (the RNG counter).
  std::vector<StateArray> state() override {
    return {{"next_spike_step", std::span(next_)}, {"draws", std::span(count_)}};
  }
  std::size_t state_bytes() const override { return n_ * (sizeof(Step) + sizeof(std::uint64_t)); }

 private:
  // Step of the next spike after step `after`: a geometric gap with parameter p.
  Step draw_next(std::size_t i, Step after) {
    const Gid gid = first_gid_ + static_cast<Gid>(i);
    const auto w = rng::block(seed_, rng::Purpose::PoissonSource, gid, count_[i]++, trial_, 0);
    Step gap = 1;
    if (prob_ < 1.0) {
      const double g = std::floor(std::log(rng::to_open_unit(w[0])) / std::log1p(-prob_));
      if (g > 1e15) return kNever;
      gap += static_cast<Step>(g);
    }
    const Step next = after + gap;
    return next >= stop_ ? kNever : next;
  }
  std::uint64_t seed_, trial_;
  double prob_;
  Step start_, stop_;
  Gid first_gid_;
  std::vector<Step> next_;
  std::vector<std::uint64_t> count_;
};

class SpikeSource final : public Population {
 public:
  explicit SpikeSource(const Setup& s) : Population(s.local.size()) {
    Params p(s.spec);
    auto times = p.node("spike_times_ms");
    auto file = p.node("file");
    auto file_pop = p.node("file_population");
    p.finish();
    if (times.has_value() == file.has_value())
      s.spec.node.fail("a spike_source needs exactly one of params.spike_times_ms and params.file");
    SpikeTrains trains;
    if (times) {
      const auto rows = times->items();
      if (rows.size() != s.spec.size)
        times->fail(fmt::format("has {} lists of spike times; the population has {} neurons", rows.size(),
                                s.spec.size));
      for (const auto& row : rows) trains.times_ms.push_back(row.as_number_array(Range::non_negative()));
    } else {
      const std::string pop = file_pop ? file_pop->as_string() : s.spec.name;
      trains = s.load_spike_trains(file->as_string(), pop, *file);
      if (trains.times_ms.size() > s.spec.size)
        file->fail(fmt::format("holds spikes for neuron ids up to {}; the population has {} neurons",
                               trains.times_ms.size() - 1, s.spec.size));
      trains.times_ms.resize(s.spec.size);
    }
    steps_.resize(n_);
    for (std::size_t i = 0; i < n_; ++i) {
      auto& st = steps_[i];
      for (double ms : trains.times_ms[s.local.begin + i]) st.push_back(steps_of(ms, s.dt_ms));
      std::sort(st.begin(), st.end());
      st.erase(std::unique(st.begin(), st.end()), st.end());  // at most one spike per step
    }
    cursor_.assign(n_, 0);
  }
  std::vector<std::string> variables() const override { return {}; }
  std::string unit(std::string_view) const override { return {}; }
  const double* variable(std::string_view) const override { return nullptr; }
  void update(Step t, std::size_t b, std::size_t e, double* const*, const double*, double* spikes) override {
    for (std::size_t i = b; i < e; ++i) {
      auto& c = cursor_[i];
      const auto& st = steps_[i];
      while (c < st.size() && st[c] < t) ++c;
      const bool spike = c < st.size() && st[c] == t;
      if (spike) ++c;
      spikes[i] = spike ? 1.0 : 0.0;
    }
  }
  // The spike times come from the config; only the position in each train is state.
  std::vector<StateArray> state() override { return {{"cursor", std::span(cursor_)}}; }
  std::size_t state_bytes() const override {
    std::size_t b = cursor_.size() * sizeof(std::size_t);
    for (const auto& s : steps_) b += s.capacity() * sizeof(Step);
    return b;
  }

 private:
  std::vector<std::vector<Step>> steps_;
  std::vector<std::uint64_t> cursor_;
};

class Parrot final : public Population {
 public:
  explicit Parrot(const Setup& s) : Population(s.local.size()) {
    Params p(s.spec);
    p.finish();
  }
  std::span<const Receptor> receptors() const override { return receptors_; }
  std::vector<std::string> variables() const override { return {}; }
  std::string unit(std::string_view) const override { return {}; }
  const double* variable(std::string_view) const override { return nullptr; }
  void update(Step, std::size_t b, std::size_t e, double* const* in, const double*, double* spikes) override {
    double* input = in[0];
    for (std::size_t i = b; i < e; ++i) {
      spikes[i] = input[i] != 0.0 ? 1.0 : 0.0;
      input[i] = 0.0;
    }
  }
  std::vector<StateArray> state() override { return {}; }  // stateless relay
  std::size_t state_bytes() const override { return 0; }

 private:
  std::array<Receptor, 1> receptors_{{{"in", ReceptorKind::Current, "1"}}};
};

// The input channels of a task (evidence cues, frozen noise, ...): spikes come from the trial
// being run, which the simulation supplies through Setup::external_spikes.
class TaskInput final : public Population {
 public:
  explicit TaskInput(const Setup& s) : Population(s.local.size()), source_(s.external_spikes) {
    Params p(s.spec);
    p.finish();
  }
  std::vector<std::string> variables() const override { return {}; }
  std::string unit(std::string_view) const override { return {}; }
  const double* variable(std::string_view) const override { return nullptr; }
  void update(Step t, std::size_t b, std::size_t e, double* const*, const double*, double* spikes) override {
    if (source_) {
      source_(t, b, e, spikes);
    } else {
      for (std::size_t i = b; i < e; ++i) spikes[i] = 0.0;
    }
  }
  std::vector<StateArray> state() override { return {}; }  // the task holds the trial state
  std::size_t state_bytes() const override { return 0; }

 private:
  std::function<void(Step, std::size_t, std::size_t, double*)> source_;
};

const Registry::Add task_input{{"task_input", "Input channels of the task ([task]); silent outside training",
                                Phase::Generator, true,
                                [](const Setup& s) { return std::make_unique<TaskInput>(s); }}};
const Registry::Add poisson{
    {"poisson_source", "Independent Poisson spike trains (rate_hz, start_ms, stop_ms)", Phase::Generator,
     true, [](const Setup& s) { return std::make_unique<PoissonSource>(s); }}};
const Registry::Add given{{"spike_source", "Given spike times (params.spike_times_ms or params.file)",
                           Phase::Generator, true,
                           [](const Setup& s) { return std::make_unique<SpikeSource>(s); }}};
const Registry::Add parrot{{"parrot", "Relay: emits a spike in each step a spike arrives", Phase::Update,
                            true, [](const Setup& s) { return std::make_unique<Parrot>(s); }}};

}  // namespace
}  // namespace plexus::neuron
