// `plexus run`: the network simulated for [run] duration_ms, recording as [record] says; plastic
// synapses (STDP) learn as they go, in the step schedule (sim/step.cpp, phase 5).
#include <algorithm>
#include <chrono>
#include <iostream>

#include <fmt/format.h>

#include "plexus/io/result_file.hpp"
#include "plexus/sim/simulation.hpp"
#include "plexus/train/experiment.hpp"
#include "plexus/train/shell.hpp"

namespace plexus::train {
namespace {

using Clock = std::chrono::steady_clock;

std::string describe_minmax(const std::vector<std::uint64_t>& v) {
  std::uint64_t lo = v.empty() ? 0 : v[0], hi = lo, sum = 0;
  for (auto x : v) lo = std::min(lo, x), hi = std::max(hi, x), sum += x;
  const double mean = v.empty() ? 0.0 : static_cast<double>(sum) / static_cast<double>(v.size());
  return fmt::format("min {} / mean {:.0f} / max {}", lo, mean, hi);
}

class Simulate final : public Experiment {
 public:
  explicit Simulate(const Setup& s) : net_(s.net), comm_(s.comm) {
    // A model with [train] may leave the duration out (training takes its length from the trials),
    // but `plexus run` of such a model would otherwise simulate 0 ms and report success.
    const model::Node run = s.net.config.root().at("run");
    if (!run.has("duration_ms"))
      run.fail(
          "required key 'duration_ms' is missing: 'plexus run' simulates for [run] duration_ms (only "
          "'plexus train' takes the length from [train] and [task])");
    sim::Options o;
    o.threads = s.threads;
    o.progress = [this](Step done) { progress(done); };
    sim_ = std::make_unique<sim::Simulation>(s.net, s.comm, o);
    const auto sum = sim_->summary();
    headline_ = fmt::format("model '{}', {} neurons, {} synapses, built in {:.2f} s", net_.name,
                            net_.total_neurons, sum.synapses, sum.build_seconds);
  }

  std::string headline() const override { return headline_; }
  std::int64_t total() const override { return net_.run.steps; }
  std::int64_t done() const override { return sim_->now(); }

  void start_file(io::ResultFile& f) override {
    f.attribute("/metadata", "duration_ms", net_.run.duration_ms);
    sim_->record_into(f);
  }
  void resume_file(io::ResultFile& f, const std::map<std::string, std::uint64_t>& lengths) override {
    sim_->record_into(f, &lengths);
  }

  void run(Shell& shell) override {
    shell_ = &shell;
    first_ = sim_->now();
    started_ = Clock::now();
    const Step end = net_.run.steps;
    while (sim_->now() < end) {
      sim_->run_until(shell.next_point(sim_->now(), end));
      if (shell.checkpoint_point(sim_->now())) break;
    }
    shell_ = nullptr;
  }

  void finish(io::ResultFile* f) override {
    summary_ = sim_->summary();
    if (f) sim_->finish_recording(summary_);
    memory_ = sim_->memory();
  }

  void report(std::ostream& out) const override;

  std::vector<checkpoint::Component*> state() override { return {&sim_->checkpoint_state()}; }

 private:
  // Master thread, from the step loop.
  void progress(Step done) {
    if (!shell_ || !shell_->log() || !shell_->progress_due(done == net_.run.steps)) return;
    const double el = std::chrono::duration<double>(Clock::now() - started_).count();
    const double speed = el > 0 ? static_cast<double>(done - first_) * net_.run.dt_ms * 1e-3 / el : 0.0;
    const double total = static_cast<double>(std::max<Step>(net_.run.steps, 1));
    shell_->say(fmt::format("t = {:.1f} / {:.1f} ms ({:.0f}%)  {:.3g} s simulated per wall second  {}",
                            static_cast<double>(done) * net_.run.dt_ms,
                            static_cast<double>(net_.run.steps) * net_.run.dt_ms,
                            100.0 * static_cast<double>(done) / total, speed, shell_->eta(done)));
  }

  const model::Network& net_;
  comm::Communicator& comm_;
  std::unique_ptr<sim::Simulation> sim_;
  std::string headline_;
  Shell* shell_ = nullptr;
  Step first_ = 0;
  Clock::time_point started_{};
  sim::Summary summary_;
  memory::Ledger memory_;
};

void Simulate::report(std::ostream& out) const {
  const auto& s = summary_;
  std::uint64_t total_spikes = 0;
  for (const auto& p : s.populations) total_spikes += p.spikes;
  out << fmt::format("simulated {:.1f} ms in {:.2f} s wall ({:.3f} s per simulated second); {} spikes\n",
                     s.simulated_ms, s.wall_seconds,
                     s.simulated_ms > 0 ? s.wall_seconds / (s.simulated_ms * 1e-3) : 0.0, total_spikes);
  for (const auto& p : s.populations) {
    if (!p.spiking) {
      out << fmt::format("  {:<16} {:<14} {:>8} neurons  (non-spiking)\n", p.name, p.model, p.size);
      continue;
    }
    out << fmt::format("  {:<16} {:<14} {:>8} neurons  {:>10} spikes  {:8.3f} Hz\n", p.name, p.model, p.size,
                       p.spikes, p.rate_hz);
  }
  if (s.synapses > 0) {
    std::uint64_t bytes = 0, local = 0;
    for (auto b : s.synapse_bytes) bytes += b;
    for (auto l : s.local_synapses) local += l;
    out << fmt::format("synapses per rank: {}; {:.2f} bytes per synapse\n", describe_minmax(s.local_synapses),
                       local ? static_cast<double>(bytes) / static_cast<double>(local) : 0.0);
  }
  std::string parts;
  for (const auto& [k, b] : memory_.entries())
    parts +=
        fmt::format("{}{} {}", parts.empty() ? "" : ", ", k, memory::human_bytes(static_cast<double>(b)));
  out << fmt::format("rank {} holds: {}\n", comm_.rank(), parts);
}

const ExperimentRegistry::Add registered{
    {"simulate",
     "run",
     "the network stepped for [run] duration_ms, recording as [record] says",
     {true, "step"},
     {},
     [](const Setup& s) { return std::make_unique<Simulate>(s); }}};

}  // namespace
}  // namespace plexus::train
