// The simulation's public interface: construction, access for drivers, trials and results. The
// building is in build.cpp, the step schedule in step.cpp, checkpoints in checkpointing.cpp.
#include "plexus/sim/simulation.hpp"

#include <algorithm>

#include <fmt/format.h>

#include "plexus/core/error.hpp"
#include "plexus/io/result_file.hpp"
#include "plexus/sim/simulation_impl.hpp"
#include "plexus/task/task.hpp"

namespace plexus::sim {

Simulation::Simulation(const model::Network& net, comm::Communicator& comm, Options options)
    : impl_(std::make_unique<Impl>(net, comm, std::move(options))) {
  impl_->self = this;
  comm::agree(comm, [&] { impl_->build(); });
  // A dry-run communicator asks this simulation for the spikes of the ranks that are not there.
  comm.set_synthesiser([this](int other, std::vector<Gid>& out) { impl_->synthesise(other, out); });
}

Simulation::~Simulation() = default;

const model::Network& Simulation::network() const {
  return impl_->net;
}
comm::Communicator& Simulation::comm() const {
  return impl_->comm;
}
int Simulation::threads() const {
  return impl_->threads;
}
int Simulation::blocks() const {
  return impl_->blocks;
}
const std::vector<PopulationInfo>& Simulation::populations() const {
  return impl_->info;
}
const neuron::Population& Simulation::model(int population, int instance) const {
  return *impl_->instances[static_cast<std::size_t>(instance)]
              ->pops[static_cast<std::size_t>(population)]
              .model;
}
int Simulation::instances() const {
  return static_cast<int>(impl_->instances.size());
}
bool Simulation::trial_mode() const {
  return impl_->trials;
}
synapse::Projection& Simulation::projection(int index) {
  return impl_->projs[static_cast<std::size_t>(index)];
}
const synapse::Projection& Simulation::projection(int index) const {
  return impl_->projs[static_cast<std::size_t>(index)];
}
std::span<double> Simulation::external_current(int population, int instance) {
  return impl_->instances[static_cast<std::size_t>(instance)]
      ->pops[static_cast<std::size_t>(population)]
      .i_ext;
}

Step Simulation::now() const {
  return impl_->main().t;
}

void Simulation::run_until(Step end) {
  // The recorder flushes at the end of each flush window (the last one ends with the run), and
  // checkpoints flush first: nothing is forced here, so stepping in short pieces costs no writes.
  impl_->step_range(end, false);
}

void Simulation::set_hook(StepHook* hook, int instance) {
  impl_->instances[static_cast<std::size_t>(instance)]->hook = hook;
}

void Simulation::begin_trial(std::uint64_t trial_key, const task::Task* input, int instance) {
  auto& in = *impl_->instances[static_cast<std::size_t>(instance)];
  in.trial_key = trial_key;
  in.task = input;
  impl_->reset_trial(in);
}

void Simulation::run_trials(const std::vector<int>& which, const std::function<Step(int)>& prepare) {
  impl_->run_trials(which, prepare);
}

void Simulation::run_queue(int count, const std::function<Step(int, int)>& prepare,
                           const std::function<void(int, int)>& finish) {
  impl_->run_queue(count, prepare, finish);
}

void Simulation::rest() {
  for (auto& in : impl_->instances) {
    in->trial_key = 0;
    in->task = nullptr;
    impl_->reset_trial(*in);
    for (auto& ps : in->pops) ps.spikes_total = 0;
  }
}

void Simulation::keep_instances(int n) {
  auto& in = impl_->instances;
  if (n < 1 || static_cast<std::size_t>(n) > in.size()) throw std::logic_error("keep_instances: bad count");
  in.resize(static_cast<std::size_t>(n));
}

std::uint64_t Simulation::instance_bytes() const {
  std::uint64_t b = 0;
  const auto& in = impl_->main();
  for (const auto& ps : in.pops) {
    b += ps.model->state_bytes() + (ps.spikes.capacity() + ps.i_ext.capacity()) * sizeof(double);
    for (const auto& r : ps.rings) b += r.bytes();
  }
  return b;
}

void Simulation::describe_network(io::ResultFile& f) const {
  auto& I = *impl_;
  io::ResultFile* keep = I.file;
  I.file = &f;
  I.write_layout();
  I.file = keep;
}

// The description of the network in the result file.
void Simulation::Impl::write_layout() {
  for (const auto& pi : info) {
    const std::string g = "/network/populations/" + pi.spec->name;
    file->create_group(g);
    file->attribute(g, "model", pi.spec->model);
    file->attribute(g, "size", static_cast<std::int64_t>(pi.spec->size));
    file->attribute(g, "first_gid", static_cast<std::int64_t>(pi.spec->first_gid));
  }
  for (const auto& spec : net.projections) {
    const std::string g = "/network/projections/" + spec.name;
    file->create_group(g);
    file->attribute(g, "source", net.populations[spec.source].name);
    file->attribute(g, "target", net.populations[spec.target].name);
    const bool mine = !part->replicated(spec.target) || comm.rank() == 0;
    const std::uint64_t local = mine ? projs[spec.index].count() : 0;
    file->attribute(g, "synapses", static_cast<std::int64_t>(comm.sum(local)));
    if (spec.plasticity) {
      const auto p = synapse::StdpParams::read(*spec.plasticity);
      file->attribute(g, "plasticity", std::string("stdp"));
      file->attribute(g, "w_max", p.w_max);
      file->attribute(g, "lambda", p.lambda);
      file->attribute(g, "alpha", p.alpha);
      file->attribute(g, "mu_plus", p.mu_plus);
      file->attribute(g, "mu_minus", p.mu_minus);
      file->attribute(g, "tau_plus_ms", p.tau_plus_ms);
      file->attribute(g, "tau_minus_ms", p.tau_minus_ms);
    }
  }
}

void Simulation::record_into(io::ResultFile& file,
                             const std::map<std::string, std::uint64_t>* resume_lengths) {
  auto& I = *impl_;
  I.file = &file;
  if (resume_lengths) {
    // Continuing from a checkpoint: the datasets exist; take them up where the checkpoint left them.
    io::Recorder::Resume r;
    r.step = I.main().t;
    r.lengths = *resume_lengths;
    r.weight_next = I.weights_taken;
    I.recorder =
        std::make_unique<io::Recorder>(I.net, *I.part, I.comm, file, I.recorded_populations(), I.threads, &r);
    return;
  }
  I.write_layout();
  I.recorder =
      std::make_unique<io::Recorder>(I.net, *I.part, I.comm, file, I.recorded_populations(), I.threads);
  if (I.recorder->weights_due(I.main().t)) I.recorder->snapshot_weights(I.main().t, I.projs);
}

void Simulation::finish_recording(const Summary& s) {
  auto& I = *impl_;
  if (!I.file) return;
  auto& f = *I.file;
  f.attribute("/metadata", "build_time_s", s.build_seconds);
  f.write_replicated<std::uint64_t>("/metadata/synapse_bytes", s.synapse_bytes);
  f.attribute("/metadata", "synapses", static_cast<std::int64_t>(s.synapses));
  for (const auto& p : s.populations) {
    const std::string g = "/network/populations/" + p.name;
    f.attribute(g, "spikes", static_cast<std::int64_t>(p.spikes));
    f.attribute(g, "rate_hz", p.rate_hz);
  }
  I.recorder.reset();
  I.file = nullptr;
}

Summary Simulation::summary() const {
  const auto& I = *impl_;
  Summary s;
  s.steps = I.main().t;
  s.simulated_ms = static_cast<double>(I.main().t) * I.net.run.dt_ms;
  s.wall_seconds = I.comm.allgather(I.wall_seconds + I.wall_before)[0];
  s.build_seconds = I.comm.allgather(I.build_seconds)[0];
  s.ranks = I.comm.size();
  s.threads = I.threads;
  std::uint64_t local_syn = 0, syn_bytes = 0;
  for (const auto& spec : I.net.projections) {
    if (I.part->replicated(spec.target) && I.comm.rank() != 0) continue;
    local_syn += I.projs[spec.index].count();
  }
  for (const auto& p : I.projs) syn_bytes += p.bytes();
  for (const auto& p : I.stdp) syn_bytes += p.bytes();
  s.synapses = I.comm.sum(local_syn);
  s.local_synapses = I.comm.allgather(local_syn);
  s.synapse_bytes = I.comm.allgather(syn_bytes);
  s.exchange_seconds = I.comm.stats().seconds;
  for (std::size_t p = 0; p < I.info.size(); ++p) {
    const auto& pi = I.info[p];
    PopulationSummary ps;
    ps.name = pi.spec->name;
    ps.model = pi.spec->model;
    ps.size = pi.spec->size;
    ps.spiking = pi.info->spiking;
    ps.spikes = I.main().pops[p].spikes_total;
    ps.rate_hz =
        s.simulated_ms > 0 ? static_cast<double>(ps.spikes) / ps.size / (s.simulated_ms * 1e-3) : 0.0;
    s.populations.push_back(ps);
  }
  return s;
}

memory::Ledger Simulation::memory() const {
  memory::Ledger l;
  for (const auto& in : impl_->instances)
    for (const auto& ps : in->pops) {
      l.add("neuron state",
            ps.model->state_bytes() + (ps.spikes.capacity() + ps.i_ext.capacity()) * sizeof(double));
      for (const auto& r : ps.rings) l.add("delay buffers", r.bytes());
    }
  for (const auto& p : impl_->projs) l.add("synapses", p.bytes());
  for (const auto& p : impl_->stdp) l.add("plastic synapse state", p.bytes());
  if (impl_->recorder) l.add("recording buffers", impl_->recorder->buffered_bytes());
  l.add("communication buffers", impl_->comm.buffer_bytes());
  return l;
}

const double* Simulation::variable(const std::string& population, const std::string& name) const {
  for (std::size_t p = 0; p < impl_->info.size(); ++p)
    if (impl_->info[p].spec->name == population) return impl_->main().pops[p].model->variable(name);
  return nullptr;
}

std::uint64_t Simulation::spike_count(const std::string& population) const {
  for (std::size_t p = 0; p < impl_->info.size(); ++p)
    if (impl_->info[p].spec->name == population) return impl_->main().pops[p].spikes_total;
  return 0;
}

}  // namespace plexus::sim
