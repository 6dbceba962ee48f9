// FORCE training (SPEC 4.4), driven through phase 7 of the step schedule (sim/step.cpp).
//
// Per step t, after the spikes of step t are exchanged (every rank holds all of them, by gid):
//   serial (master thread)
//     a. if step t - 1 was an RLS step: c = P r, formed by each rank for its own rows, is gathered
//        in neuron order; then phi <- phi - c e^T and the pending update of P (learning/force.hpp).
//        Before (c), because the reference applies an update before the next output is decoded.
//     b. r <- filter(r), then the spikes of step t enter the filter: the double exponential of the
//        synapses, so r of step t holds the spikes up to t - 1 exactly as the synaptic current
//        that the neurons read at step t + 1 does (one-step transmission delay).
//     c. x_hat = phi^T r, e = x_hat - x(t); traces, error and rate accumulators, rasters.
//     d. an RLS step if t is in the training window and (t - start) % step == 0: e is kept for (a).
//   parallel (each thread, its own neurons)
//     e. on an RLS step, c_j = (P r)_j for its rows of P, adding the pending update on the way.
//     f. the feedback current I_ext = Q eta x_hat, read by the neuron update of step t + 1.
// This is the order of the reference code (Nicola & Clopath 2017): the current at step t + 1 is
// bias + synaptic current + Q eta x_hat(t); the output of step t uses the decoders of the updates
// up to step t - 1; the error of an RLS step is that of the decoders before it.
//
// Determinism: the network and its spikes are partition-independent (sim/step.cpp); r,
// x_hat, e and the decoders are computed by every rank from the same data in the same order; each
// row of P is computed by one thread in the same way whatever the partition, and c is assembled
// in neuron order. Decoders and outputs are therefore bit-identical for any number of ranks and
// threads (tests/mpi/test_force.cpp).
#include "plexus/train/force.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <ctime>
#include <limits>

#include <fmt/format.h>

#include "plexus/comm/agree.hpp"
#include "plexus/core/error.hpp"
#include "plexus/core/memory.hpp"
#include "plexus/core/rng.hpp"
#include "plexus/io/result_file.hpp"
#include "plexus/learning/force.hpp"
#include "plexus/sim/simulation.hpp"
#include "plexus/task/signal.hpp"
#include "plexus/train/shell.hpp"

namespace plexus::train {

namespace {

using Clock = std::chrono::steady_clock;
using model::Range;
namespace force = learning::force;

double since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// A duration key as a whole number of `unit_steps`-step units (returns steps).
Step whole_steps(const model::Node& n, std::string_view key, double def, double dt_ms, Step unit_steps,
                 const char* unit_name) {
  const double ms = n.number_or(key, def, Range::non_negative());
  const double unit_ms = dt_ms * static_cast<double>(unit_steps);
  const auto units = std::llround(ms / unit_ms);
  if (std::fabs(static_cast<double>(units) * unit_ms - ms) > 1e-9 * std::max(1.0, ms))
    n.at(key).fail(fmt::format("must be a whole number of {} ({} ms)", unit_name, unit_ms));
  return static_cast<Step>(units) * unit_steps;
}

constexpr const char* kPhaseNames[3] = {"before training", "training", "test"};

}  // namespace

struct ForceTraining::Impl final : sim::StepHook, checkpoint::Component {
  const model::Network& net;
  comm::Communicator& comm;
  std::ostream* log = nullptr;
  std::unique_ptr<sim::Simulation> sim;

  // The trained population.
  int pop = -1;
  Gid N = 0, first_gid = 0;
  partition::IdRange local;
  neuron::DoubleExponential filter;

  // [train] and [task]
  std::optional<task::Signal> target;
  std::size_t K = 0;
  double Q = 0.0, p0 = 0.0, window_ms = 1000.0, max_lag_ms = 100.0, trace_ms = 1.0, max_frequency_hz = 100.0;
  Step every = 50, trace_every = 20;
  Step train_begin = 0, train_end = 0, total = 0, rms_begin = 0, lag_steps = 0;
  std::size_t window = 0, max_lag = 0;  // in trace samples

  // State.
  std::vector<double> E;  // N x K: Q eta, the same on every rank
  std::unique_ptr<force::Rls> rls;
  std::vector<double> r, hr, z, err, err_rls, c_local, c_full;
  bool rls_now = false, gather_pending = false;

  // Records.
  std::vector<double> out_trace;  // trace samples x K
  std::vector<double> sq_sum;     // per output, over [rms_begin, train_end)
  std::uint64_t sq_steps = 0;
  std::vector<std::uint64_t> counts;  // 3 x N spikes per phase and neuron
  struct Raster {
    Step begin = 0, end = 0;
    std::vector<double> times;
    std::vector<Gid> gids;
  };
  Raster rasters[2];  // the end of the phase before training, the end of the test
  double progress_sq = 0.0;
  std::uint64_t progress_n = 0, progress_spikes = 0;
  double build_seconds = 0.0, wall_seconds = 0.0, cpu_seconds = 0.0;
  ForceSummary summary;

  Impl(const model::Network& n, comm::Communicator& c) : net(n), comm(c) {}

  int phase_of(Step t) const { return t < train_begin ? 0 : t < train_end ? 1 : 2; }
  void configure();
  void read_phases(const model::Node& tr);
  void choose_population(const model::Node& tr);
  void serial(const sim::StepView& v) override;
  void parallel(const sim::StepView& v, int th) override;
  void gather_and_update();
  void finish_training();
  void progress_line(Shell& shell, Step end, Clock::time_point wall0);
  ForceSummary metrics(std::vector<double>& target_trace) const;
  void write(io::ResultFile& f, const ForceSummary& s, const std::vector<double>& target_trace) const;
  void write_metrics(io::ResultFile& f, const ForceSummary& s) const;
  void write_rasters(io::ResultFile& f) const;

  // Checkpoints (between steps): the RLS state, the filtered spike trains, the last output and error,
  // a product of P r whose gather is pending, and every record so far.
  std::string name() const override { return "force"; }
  void save(checkpoint::Writer& w) const override;
  void load(const checkpoint::Reader& r) override;
};

void ForceTraining::Impl::configure() {
  const auto t0 = Clock::now();
  const auto& tr = *net.train;
  tr.allow_only({"rule", "population", "Q", "p0", "rls_every_steps", "before_ms", "train_ms", "test_ms",
                 "window_ms", "max_lag_ms", "trace_interval_ms", "raster_ms", "max_frequency_hz"});
  tr.choice("rule", {"force"});
  choose_population(tr);
  read_phases(tr);
  // The target, long enough for the lags of the last test window.
  lag_steps = static_cast<Step>(max_lag) * trace_every;
  target = task::Signal::make(*net.task, net.run.dt_ms, total + lag_steps);
  K = target->outputs();

  // Encoders Q eta, eta ~ U(-1, 1) keyed by gid and output; every rank holds all of them (small).
  E.assign(static_cast<std::size_t>(N) * K, 0.0);
  for (Gid i = 0; i < N; ++i) {
    rng::Stream s(net.run.seed, rng::Purpose::Encoder, first_gid + i);
    for (std::size_t m = 0; m < K; ++m) E[i * K + m] = Q * s.uniform(-1.0, 1.0);
  }
  rls = std::make_unique<force::Rls>(N, K, local.begin, local.end, p0);
  r.assign(N, 0.0);
  hr.assign(N, 0.0);
  z.assign(K, 0.0);
  err.assign(K, 0.0);
  err_rls.assign(K, 0.0);
  c_local.assign(local.size(), 0.0);
  c_full.assign(N, 0.0);
  sq_sum.assign(K, 0.0);
  counts.assign(3 * static_cast<std::size_t>(N), 0);
  out_trace.reserve(static_cast<std::size_t>(total / trace_every) * K);

  build_seconds = since(t0);
}

// The trained population: as named, else the only one whose synapses are double exponential.
void ForceTraining::Impl::choose_population(const model::Node& tr) {
  if (tr.has("population")) {
    const auto node = tr.at("population");
    const auto* spec = net.find_population(node.as_string());
    if (!spec) node.fail(fmt::format("no population named '{}'", node.as_string()));
    pop = spec->index;
  } else {
    for (std::size_t p = 0; p < sim->populations().size(); ++p)
      if (sim->populations()[p].info->phase == neuron::Phase::Update &&
          sim->model(static_cast<int>(p)).synaptic_filter()) {
        if (pop >= 0) tr.fail("several populations could be trained; name one with 'population'");
        pop = static_cast<int>(p);
      }
    if (pop < 0)
      tr.fail(
          "no population can be FORCE-trained: it needs double-exponential synapses (model "
          "\"lif_force\", or \"izhikevich\" with synapse = \"double_exponential\")");
  }
  const auto& ps = sim->populations()[static_cast<std::size_t>(pop)];
  const auto& model = sim->model(pop);
  const auto where = tr.has("population") ? tr.at("population") : ps.spec->node;
  if (ps.info->phase != neuron::Phase::Update || !model.synaptic_filter())
    where.fail(
        fmt::format("population '{}' (model '{}') cannot be FORCE-trained: it needs double-exponential "
                    "synapses (model \"lif_force\", or \"izhikevich\" with synapse = "
                    "\"double_exponential\")",
                    ps.spec->name, ps.spec->model));
  for (const auto& in : net.inputs)
    if (in.target == pop && in.kind == model::InputKind::Current)
      in.node.fail(
          fmt::format("FORCE feeds the decoded output back into '{}' as its external current; "
                      "current inputs into it are not supported (use the model's bias)",
                      ps.spec->name));
  filter = *model.synaptic_filter();
  N = ps.spec->size;
  first_gid = ps.spec->first_gid;
  local = ps.local;
}

void ForceTraining::Impl::read_phases(const model::Node& tr) {
  const double dt = net.run.dt_ms;
  Q = tr.number("Q");
  p0 = tr.number("p0", Range::positive());
  every = tr.integer_or("rls_every_steps", 50, Range::closed(1, 1e9));
  trace_ms = tr.number_or("trace_interval_ms", 1.0, Range::positive());
  trace_every = std::llround(trace_ms / dt);
  if (trace_every < 1 || std::fabs(static_cast<double>(trace_every) * dt - trace_ms) > 1e-9 * trace_ms)
    tr.at("trace_interval_ms").fail(fmt::format("must be a whole number of steps of dt = {} ms", dt));
  const Step before = whole_steps(tr, "before_ms", 5000.0, dt, trace_every, "trace intervals");
  const Step training = whole_steps(tr, "train_ms", 5000.0, dt, trace_every, "trace intervals");
  const Step test = whole_steps(tr, "test_ms", 5000.0, dt, trace_every, "trace intervals");
  train_begin = before;
  train_end = before + training;
  total = train_end + test;
  if (total == 0) tr.fail("before_ms + train_ms + test_ms is zero: nothing to run");
  window_ms = tr.number_or("window_ms", 1000.0, Range::positive());
  window = static_cast<std::size_t>(whole_steps(tr, "window_ms", 1000.0, dt, trace_every, "trace intervals") /
                                    trace_every);
  max_lag_ms = tr.number_or("max_lag_ms", 100.0, Range::non_negative());
  max_lag = static_cast<std::size_t>(
      whole_steps(tr, "max_lag_ms", 100.0, dt, trace_every, "trace intervals") / trace_every);
  max_frequency_hz = tr.number_or("max_frequency_hz", std::min(100.0, 500.0 / trace_ms), Range::positive());
  if (max_frequency_hz > 500.0 / trace_ms)
    tr.at("max_frequency_hz")
        .fail(fmt::format("exceeds the Nyquist frequency {} Hz of the traces", 500.0 / trace_ms));
  const Step raster = whole_steps(tr, "raster_ms", 1000.0, dt, 1, "steps");
  rms_begin = train_end - std::min(training, static_cast<Step>(std::llround(1000.0 / dt)));
  rasters[0].begin = train_begin - std::min(raster, before);
  rasters[0].end = train_begin;
  rasters[1].begin = total - std::min(raster, test);
  rasters[1].end = total;
}

void ForceTraining::Impl::gather_and_update() {
  rls->product_done();
  std::fill(c_full.begin(), c_full.end(), 0.0);
  std::copy(c_local.begin(), c_local.end(), c_full.begin() + static_cast<std::ptrdiff_t>(local.begin));
  comm.sum_in_rank_order(c_full);  // one value per neuron from its own rank: exact, in neuron order
  rls->update(r.data(), c_full.data(), err_rls.data());
  gather_pending = false;
}

void ForceTraining::Impl::serial(const sim::StepView& v) {
  const Step t = v.t;
  // a. The update whose c the threads formed at step t - 1.
  if (gather_pending) gather_and_update();

  // b. Filtered spike trains of every neuron (all ranks see all spikes).
  const double rise = filter.rise, fall = filter.fall, c = filter.c;
  {
    double* __restrict rr = r.data();
    double* __restrict hh = hr.data();
    for (Gid i = 0; i < N; ++i) {
      rr[i] = rise * rr[i] + c * hh[i];
      hh[i] *= fall;
    }
  }
  const auto& spikes = v.spikes;
  const int phase = phase_of(t);
  std::uint64_t* count = counts.data() + static_cast<std::size_t>(phase) * N;
  for (auto it = std::lower_bound(spikes.begin(), spikes.end(), first_gid);
       it != spikes.end() && *it < first_gid + N; ++it) {
    hr[*it - first_gid] += 1.0;
    ++count[*it - first_gid];
    ++progress_spikes;
  }
  for (auto& ra : rasters)
    if (t >= ra.begin && t < ra.end)
      for (Gid g : spikes) {
        ra.times.push_back(net.step_to_ms(t));
        ra.gids.push_back(g);
      }

  // c. Output and error.
  const double* x = target->at(t);
  const bool in_rms = t >= rms_begin && t < train_end;
  for (std::size_t m = 0; m < K; ++m) {
    z[m] = force::dot(rls->decoders().data() + m * N, r.data(), N);
    err[m] = z[m] - x[m];
    progress_sq += err[m] * err[m];
    if (in_rms) sq_sum[m] += err[m] * err[m];
  }
  progress_n += K;
  if (in_rms) ++sq_steps;
  if ((t + 1) % trace_every == 0) out_trace.insert(out_trace.end(), z.begin(), z.end());

  // d. RLS step?
  rls_now = t >= train_begin && t < train_end && (t - train_begin) % every == 0;
  if (rls_now) {
    err_rls = err;
    gather_pending = true;
  }
}

void ForceTraining::Impl::parallel(const sim::StepView&, int th) {
  const auto blk = sim->populations()[static_cast<std::size_t>(pop)].blocks[static_cast<std::size_t>(th)];
  if (rls_now) rls->product(blk.begin, blk.end, r.data(), c_local.data());
  double* __restrict iext = sim->external_current(pop).data();
  const double* __restrict zz = z.data();
  for (Gid j = blk.begin; j < blk.end; ++j) {
    const double* e = E.data() + (local.begin + j) * K;
    double I = 0.0;
    for (std::size_t m = 0; m < K; ++m) I += e[m] * zz[m];
    iext[j] = I;
  }
}

void ForceTraining::Impl::finish_training() {
  if (gather_pending) gather_and_update();  // the run ended right after an RLS step
  rls->apply_pending(0, local.size());
  rls->product_done();
}

ForceSummary ForceTraining::Impl::metrics(std::vector<double>& target_trace) const {
  ForceSummary s;
  s.neurons = N;
  s.outputs = K;
  s.output_names = target->names();
  s.target = target->describe();
  s.rls_updates = rls->updates();
  s.ranks = comm.size();
  s.threads = sim->threads();
  s.simulated_ms = static_cast<double>(total) * net.run.dt_ms;
  s.rms_window_ms = static_cast<double>(train_end - rms_begin) * net.run.dt_ms;
  for (std::size_t m = 0; m < K; ++m)
    s.train_rms.push_back(sq_steps ? std::sqrt(sq_sum[m] / static_cast<double>(sq_steps)) : 0.0);

  // Target at the trace samples, with the lag margin after the end.
  const std::size_t n_out = out_trace.size() / K;
  const std::size_t n_tgt = static_cast<std::size_t>((total + lag_steps) / trace_every);
  target_trace.clear();
  for (std::size_t i = 0; i < n_tgt; ++i) {
    const double* x = target->at(static_cast<Step>(i + 1) * trace_every - 1);
    target_trace.insert(target_trace.end(), x, x + K);
  }
  std::vector<std::vector<double>> y(K, std::vector<double>(n_out)), x(K, std::vector<double>(n_tgt));
  for (std::size_t m = 0; m < K; ++m) {
    for (std::size_t i = 0; i < n_out; ++i) y[m][i] = out_trace[i * K + m];
    for (std::size_t i = 0; i < n_tgt; ++i) x[m][i] = target_trace[i * K + m];
  }

  // 1-s (window_ms) test windows.
  const std::size_t first = static_cast<std::size_t>(train_end / trace_every);
  const std::size_t lag = std::min(max_lag, first);  // cannot look before the start of the run
  const double f_min = 1000.0 / window_ms;
  const double nan = std::numeric_limits<double>::quiet_NaN();
  s.min_correlation = s.min_amplitude = s.min_frequency_hz =
      window ? std::numeric_limits<double>::infinity() : nan;
  s.max_amplitude = s.max_frequency_hz = window ? -std::numeric_limits<double>::infinity() : nan;
  for (std::size_t w0 = first; window && w0 + window <= n_out; w0 += window) {
    ForceWindow w;
    w.start_ms = static_cast<double>(w0) * trace_ms;
    w.length_ms = static_cast<double>(window) * trace_ms;
    for (std::size_t m = 0; m < K; ++m) {
      const auto best = force::best_lag_correlation(y[m].data() + w0, x[m].data() + w0, window, lag);
      const double sx = force::std_dev(x[m].data() + static_cast<std::ptrdiff_t>(w0) + best.lag, window);
      const double amp = sx > 0.0 ? force::std_dev(y[m].data() + w0, window) / sx : 0.0;
      w.correlation.push_back(best.correlation);
      w.lag_ms.push_back(static_cast<double>(best.lag) * trace_ms);
      w.amplitude.push_back(amp);
      w.frequency_hz.push_back(
          force::dominant_frequency(y[m].data() + w0, window, trace_ms, f_min, max_frequency_hz));
      w.target_frequency_hz.push_back(
          force::dominant_frequency(x[m].data() + w0, window, trace_ms, f_min, max_frequency_hz));
      s.min_correlation = std::min(s.min_correlation, best.correlation);
      s.min_amplitude = std::min(s.min_amplitude, amp);
      s.max_amplitude = std::max(s.max_amplitude, amp);
      s.min_frequency_hz = std::min(s.min_frequency_hz, w.frequency_hz.back());
      s.max_frequency_hz = std::max(s.max_frequency_hz, w.frequency_hz.back());
    }
    s.windows.push_back(std::move(w));
  }
  if (s.windows.empty())
    s.min_correlation = s.min_amplitude = s.max_amplitude = s.min_frequency_hz = s.max_frequency_hz = nan;

  const Step phase_steps[3] = {train_begin, train_end - train_begin, total - train_end};
  for (int p = 0; p < 3; ++p) {
    std::uint64_t n = 0;
    for (Gid i = 0; i < N; ++i) n += counts[static_cast<std::size_t>(p) * N + i];
    const double sec = static_cast<double>(phase_steps[p]) * net.run.dt_ms * 1e-3;
    s.rate_hz[p] = sec > 0 ? static_cast<double>(n) / (static_cast<double>(N) * sec) : 0.0;
  }
  return s;
}

namespace {

void write_rows(io::ResultFile& f, bool root, const std::string& path, std::size_t cols, std::size_t n,
                const std::vector<double>& v) {
  f.create_table<double>(path, cols, std::max<std::size_t>(1, std::min<std::size_t>(n, 4096)));
  f.append_rows<double>(path, n, 0, root ? cols : 0,
                        root ? std::span<const double>(v) : std::span<const double>());
}

}  // namespace

// The results of the three phases (collective): traces, metrics, rates, encoders and decoders,
// rasters.
void ForceTraining::Impl::write(io::ResultFile& f, const ForceSummary& s,
                                const std::vector<double>& target_trace) const {
  const bool root = comm.rank() == 0;
  auto rows = [&](const std::string& path, std::size_t cols, std::size_t n, const std::vector<double>& v) {
    write_rows(f, root, path, cols, n, v);
  };
  auto vec = [&](const std::string& path, const std::vector<double>& v) {
    f.write_replicated<double>(path, v);
  };
  for (const auto& pi : sim->populations()) {
    const std::string g = "/network/populations/" + pi.spec->name;
    const auto spikes = sim->spike_count(pi.spec->name);
    f.attribute(g, "spikes", static_cast<std::int64_t>(spikes));
    f.attribute(g, "rate_hz",
                static_cast<double>(spikes) / static_cast<double>(pi.spec->size) / (s.simulated_ms * 1e-3));
  }
  const std::string g = "/force";
  f.create_group(g);
  f.attribute(g, "population", net.populations[static_cast<std::size_t>(pop)].name);
  f.attribute(g, "neurons", static_cast<std::int64_t>(N));
  f.attribute(g, "outputs", static_cast<std::int64_t>(K));
  std::string names;
  for (const auto& n : s.output_names) names += (names.empty() ? "" : ", ") + n;
  f.attribute(g, "output_names", names);
  f.attribute(g, "target", s.target);
  f.attribute(g, "Q", Q);
  f.attribute(g, "p0", p0);
  f.attribute(g, "rls_every_steps", static_cast<std::int64_t>(every));
  f.attribute(g, "rls_updates", static_cast<std::int64_t>(s.rls_updates));
  f.attribute(g, "train_begin_ms", static_cast<double>(train_begin) * net.run.dt_ms);
  f.attribute(g, "train_end_ms", static_cast<double>(train_end) * net.run.dt_ms);
  f.attribute(g, "test_end_ms", s.simulated_ms);
  f.attribute(g, "wall_time_s", s.wall_seconds);

  // Traces: the output and target every trace interval, stamped like samples (end of the step).
  const std::size_t n_out = out_trace.size() / K;
  f.create_group(g + "/trace");
  std::vector<double> times(n_out);
  for (std::size_t i = 0; i < n_out; ++i) times[i] = static_cast<double>(i + 1) * trace_ms;
  vec(g + "/trace/times_ms", times);
  rows(g + "/trace/output", K, n_out, out_trace);
  std::vector<double> tgt(target_trace.begin(),
                          target_trace.begin() + static_cast<std::ptrdiff_t>(n_out * K));
  rows(g + "/trace/target", K, n_out, tgt);

  // Rates: per phase, and per neuron and phase.
  f.create_group(g + "/rates");
  f.attribute(g + "/rates", "phases", std::string("before training, training, test"));
  vec(g + "/rates/mean_hz", {s.rate_hz[0], s.rate_hz[1], s.rate_hz[2]});
  const double phase_s[3] = {static_cast<double>(train_begin) * net.run.dt_ms * 1e-3,
                             static_cast<double>(train_end - train_begin) * net.run.dt_ms * 1e-3,
                             static_cast<double>(total - train_end) * net.run.dt_ms * 1e-3};
  std::vector<double> per(static_cast<std::size_t>(N) * 3);
  for (Gid i = 0; i < N; ++i)
    for (int p = 0; p < 3; ++p)
      per[static_cast<std::size_t>(i) * 3 + static_cast<std::size_t>(p)] =
          phase_s[p] > 0 ? static_cast<double>(counts[static_cast<std::size_t>(p) * N + i]) / phase_s[p]
                         : 0.0;
  rows(g + "/rates/per_neuron_hz", 3, N, per);

  // Encoders (Q eta) and trained decoders, neuron x output.
  std::vector<double> dec(static_cast<std::size_t>(N) * K);
  for (Gid i = 0; i < N; ++i)
    for (std::size_t m = 0; m < K; ++m) dec[i * K + m] = rls->decoders()[m * N + i];
  rows(g + "/encoders", K, N, E);
  rows(g + "/decoders", K, N, dec);

  write_metrics(f, s);
  write_rasters(f);
  f.attribute("/metadata", "build_time_s", s.build_seconds);
  f.write_replicated<double>("/metadata/cpu_seconds", s.cpu_seconds);
}

void ForceTraining::Impl::write_metrics(io::ResultFile& f, const ForceSummary& s) const {
  const bool root = comm.rank() == 0;
  auto rows = [&](const std::string& path, std::size_t cols, std::size_t n, const std::vector<double>& v) {
    write_rows(f, root, path, cols, n, v);
  };
  auto vec = [&](const std::string& path, const std::vector<double>& v) {
    f.write_replicated<double>(path, v);
  };
  const std::string g = "/force";
  f.create_group(g + "/metrics");
  vec(g + "/metrics/train_rms", s.train_rms);
  f.attribute(g + "/metrics", "rms_window_ms", s.rms_window_ms);
  f.attribute(g + "/metrics", "window_ms", window_ms);
  f.attribute(g + "/metrics", "max_lag_ms", max_lag_ms);
  std::vector<double> starts, corr, lag, amp, fr, tfr;
  for (const auto& w : s.windows) {
    starts.push_back(w.start_ms);
    corr.insert(corr.end(), w.correlation.begin(), w.correlation.end());
    lag.insert(lag.end(), w.lag_ms.begin(), w.lag_ms.end());
    amp.insert(amp.end(), w.amplitude.begin(), w.amplitude.end());
    fr.insert(fr.end(), w.frequency_hz.begin(), w.frequency_hz.end());
    tfr.insert(tfr.end(), w.target_frequency_hz.begin(), w.target_frequency_hz.end());
  }
  vec(g + "/metrics/window_start_ms", starts);
  rows(g + "/metrics/correlation", K, starts.size(), corr);
  rows(g + "/metrics/lag_ms", K, starts.size(), lag);
  rows(g + "/metrics/amplitude", K, starts.size(), amp);
  rows(g + "/metrics/frequency_hz", K, starts.size(), fr);
  rows(g + "/metrics/target_frequency_hz", K, starts.size(), tfr);
}

// Spikes at the end of the phase before training and at the end of the test (SONATA layout).
void ForceTraining::Impl::write_rasters(io::ResultFile& f) const {
  const std::string g = "/force";
  const char* names2[2] = {"before", "after"};
  for (int k = 0; k < 2; ++k) {
    const auto& ra = rasters[k];
    const std::string sg = g + "/spikes/" + names2[k];
    f.create_group(sg);
    f.attribute(sg, "start_ms", net.step_to_ms(ra.begin));
    f.attribute(sg, "stop_ms", net.step_to_ms(ra.end));
    for (const auto& pi : sim->populations()) {
      if (pi.info->phase != neuron::Phase::Update) continue;
      const auto& spec = *pi.spec;
      std::vector<double> ts;
      std::vector<std::uint64_t> ids;
      for (std::size_t i = 0; i < ra.gids.size(); ++i)
        if (ra.gids[i] >= spec.first_gid && ra.gids[i] < spec.first_gid + spec.size) {
          ts.push_back(ra.times[i]);
          ids.push_back(ra.gids[i] - spec.first_gid);
        }
      f.create_group(sg + "/" + spec.name);
      f.write_replicated<double>(sg + "/" + spec.name + "/timestamps", ts);
      f.write_replicated<std::uint64_t>(sg + "/" + spec.name + "/node_ids", ids);
      f.sorting_attribute(sg + "/" + spec.name, 2);
    }
  }
}

// Checkpoints, between steps. A gather of P r may be pending (the threads formed c at the last step,
// which was an RLS step; the next step's serial part gathers it): c is saved with it. The feedback
// current I = Q eta x_hat is not saved: it is recomputed from the saved output.
void ForceTraining::Impl::save(checkpoint::Writer& w) const {
  const auto rows = sim->neuron_slice(pop);
  w.array("force/P", rows, std::span<const double>(rls->rows()), N);
  w.array("force/decoders", checkpoint::Slice::whole(rls->decoder_values().size()),
          std::span<const double>(rls->decoder_values()));
  w.array("force/pending_update", checkpoint::Slice::whole(N),
          std::span<const double>(rls->pending_update()));
  w.integer("force/rls_pending", rls->pending() ? 1 : 0);
  w.integer("force/rls_updates", static_cast<std::int64_t>(rls->updates()));
  w.integer("force/gather_pending", gather_pending ? 1 : 0);
  w.array("force/c", rows, std::span<const double>(c_local));
  for (const auto& [name, v] : {std::pair{"r", &r},
                                {"hr", &hr},
                                {"z", &z},
                                {"err", &err},
                                {"err_rls", &err_rls},
                                {"sq_sum", &sq_sum}})
    w.array(std::string("force/") + name, checkpoint::Slice::whole(v->size()), std::span<const double>(*v));
  w.integer("force/sq_steps", static_cast<std::int64_t>(sq_steps));
  w.array("force/counts", checkpoint::Slice::whole(counts.size()), std::span<const std::uint64_t>(counts));
  w.integer("force/trace_length", static_cast<std::int64_t>(out_trace.size()));
  w.array("force/out_trace", checkpoint::Slice::whole(out_trace.size()), std::span<const double>(out_trace));
  for (int k = 0; k < 2; ++k) {
    const auto& ra = rasters[k];
    const std::string base = fmt::format("force/raster{}/", k);
    w.integer(base + "length", static_cast<std::int64_t>(ra.gids.size()));
    w.array(base + "times", checkpoint::Slice::whole(ra.times.size()), std::span<const double>(ra.times));
    const std::vector<std::uint64_t> gids(ra.gids.begin(), ra.gids.end());
    w.array(base + "gids", checkpoint::Slice::whole(gids.size()), std::span<const std::uint64_t>(gids));
  }
}

void ForceTraining::Impl::load(const checkpoint::Reader& in) {
  const auto rows = sim->neuron_slice(pop);
  in.array("force/P", rows, std::span<double>(rls->rows()), N);
  in.array("force/decoders", checkpoint::Slice::whole(rls->decoder_values().size()),
           std::span<double>(rls->decoder_values()));
  in.array("force/pending_update", checkpoint::Slice::whole(N), std::span<double>(rls->pending_update()));
  rls->set_pending(in.integer("force/rls_pending") != 0);
  rls->set_updates(static_cast<std::uint64_t>(in.integer("force/rls_updates")));
  gather_pending = in.integer("force/gather_pending") != 0;
  rls_now = false;
  in.array("force/c", rows, std::span<double>(c_local));
  for (const auto& [name, v] : {std::pair{"r", &r},
                                {"hr", &hr},
                                {"z", &z},
                                {"err", &err},
                                {"err_rls", &err_rls},
                                {"sq_sum", &sq_sum}})
    in.array(std::string("force/") + name, checkpoint::Slice::whole(v->size()), std::span<double>(*v));
  sq_steps = static_cast<std::uint64_t>(in.integer("force/sq_steps"));
  in.array("force/counts", checkpoint::Slice::whole(counts.size()), std::span<std::uint64_t>(counts));
  out_trace.resize(static_cast<std::size_t>(in.integer("force/trace_length")));
  in.array("force/out_trace", checkpoint::Slice::whole(out_trace.size()), std::span<double>(out_trace));
  for (int k = 0; k < 2; ++k) {
    auto& ra = rasters[k];
    const std::string base = fmt::format("force/raster{}/", k);
    const auto n = static_cast<std::size_t>(in.integer(base + "length"));
    ra.times.resize(n);
    std::vector<std::uint64_t> gids(n);
    in.array(base + "times", checkpoint::Slice::whole(n), std::span<double>(ra.times));
    in.array(base + "gids", checkpoint::Slice::whole(n), std::span<std::uint64_t>(gids));
    ra.gids.assign(gids.begin(), gids.end());
  }
  // The feedback current that the next step's update reads (written by parallel() of the last step).
  auto iext = sim->external_current(pop);
  for (Gid j = 0; j < local.size(); ++j) {
    const double* e = E.data() + (local.begin + j) * K;
    double I = 0.0;
    for (std::size_t m = 0; m < K; ++m) I += e[m] * z[m];
    iext[j] = I;
  }
}

void ForceTraining::Impl::progress_line(Shell& shell, Step end, Clock::time_point wall0) {
  const double dt = net.run.dt_ms;
  const bool boundary = end == train_begin || end == train_end || end == total;
  if (!shell.log() || !shell.progress_due(boundary)) return;
  const double el = since(wall0);
  const double sim_s = static_cast<double>(end) * dt * 1e-3;
  const double rms = progress_n ? std::sqrt(progress_sq / static_cast<double>(progress_n)) : 0.0;
  const std::uint64_t steps = progress_n / std::max<std::size_t>(K, 1);  // values per step: K
  const double span_s = static_cast<double>(steps) * dt * 1e-3;
  const double rate =
      span_s > 0 ? static_cast<double>(progress_spikes) / (static_cast<double>(N) * span_s) : 0.0;
  shell.say(
      fmt::format("t = {:.2f} / {:.2f} s ({})  error RMS {:.4f}  rate {:.1f} Hz  {} RLS updates  {:.3g} s "
                  "simulated per wall "
                  "second  {}",
                  sim_s, static_cast<double>(total) * dt * 1e-3, kPhaseNames[phase_of(end - 1)], rms, rate,
                  rls->updates(), el > 0 ? sim_s / el : 0.0, shell.eta(end)));
  progress_sq = 0.0;
  progress_n = progress_spikes = 0;
}

// ------------------------------------------------------------------------------------------------
ForceTraining::ForceTraining(const Setup& setup) : impl_(std::make_unique<Impl>(setup.net, setup.comm)) {
  auto& I = *impl_;
  I.log = setup.log;
  if (!setup.net.train || !setup.net.task)
    throw UserError(setup.net.config.source_name() + ": FORCE training needs [train] and [task] sections");
  sim::Options so;
  so.threads = setup.threads;
  I.sim = std::make_unique<sim::Simulation>(setup.net, setup.comm, so);
  comm::agree(setup.comm, [&] { I.configure(); });
  I.sim->set_hook(&I);
}

ForceTraining::~ForceTraining() = default;

std::string ForceTraining::headline() const {
  return fmt::format("FORCE training '{}', {} neurons", impl_->net.name, impl_->net.total_neurons);
}
std::int64_t ForceTraining::total() const {
  return impl_->total;
}
std::int64_t ForceTraining::done() const {
  return impl_->sim->now();
}

void ForceTraining::start_file(io::ResultFile& f) {
  auto& I = *impl_;
  f.attribute("/metadata", "rule", std::string("force"));
  f.attribute("/metadata", "duration_ms", static_cast<double>(I.total) * I.net.run.dt_ms);
  I.sim->describe_network(f);
}

void ForceTraining::run(Shell& shell) {
  auto& I = *impl_;
  const double dt = I.net.run.dt_ms;
  const auto wall0 = Clock::now();
  const std::clock_t cpu0 = std::clock();
  if (I.sim->now() == 0)
    shell.say(fmt::format(
        "FORCE: {} neurons of '{}', {} output(s) ({}); {:.0f} ms before, {:.0f} ms of and {:.0f} ms after "
        "training, "
        "RLS every {} steps",
        I.N, I.net.populations[static_cast<std::size_t>(I.pop)].name, I.K, I.target->describe(),
        static_cast<double>(I.train_begin) * dt, static_cast<double>(I.train_end - I.train_begin) * dt,
        static_cast<double>(I.total - I.train_end) * dt, I.every));
  // Chunks of at most 100 ms simulated that never straddle a phase boundary.
  const Step chunk = std::max<Step>(1, static_cast<Step>(std::llround(100.0 / dt)));
  while (I.sim->now() < I.total) {
    const Step now = I.sim->now();
    Step end = std::min({now + chunk, I.total, shell.next_point(now, I.total)});
    for (Step b : {I.train_begin, I.train_end})
      if (now < b && b < end) end = b;
    I.sim->run_until(end);
    I.progress_line(shell, end, wall0);
    if (shell.checkpoint_point(end)) break;
  }
  I.wall_seconds += since(wall0);
  I.cpu_seconds += static_cast<double>(std::clock() - cpu0) / CLOCKS_PER_SEC;
}

void ForceTraining::finish(io::ResultFile* f) {
  auto& I = *impl_;
  I.finish_training();
  std::vector<double> target_trace;
  I.summary = I.metrics(target_trace);
  auto& s = I.summary;
  s.wall_seconds = I.comm.allgather(I.wall_seconds)[0];
  s.cpu_seconds = I.comm.allgather(I.cpu_seconds);
  s.build_seconds = I.comm.allgather(I.sim->summary().build_seconds + I.build_seconds)[0];
  s.peak_rss_bytes = I.comm.allgather(static_cast<std::uint64_t>(memory::peak_rss_bytes()));
  s.rls_bytes = I.comm.allgather(static_cast<std::uint64_t>(I.rls->bytes()));
  if (f) I.write(*f, s, target_trace);
}

std::vector<checkpoint::Component*> ForceTraining::state() {
  return {&impl_->sim->checkpoint_state(), impl_.get()};
}

const ForceSummary& ForceTraining::summary() const {
  return impl_->summary;
}
const std::vector<double>& ForceTraining::decoders() const {
  return impl_->rls->decoders();
}
const learning::force::Rls& ForceTraining::rls() const {
  return *impl_->rls;
}

void ForceTraining::report(std::ostream& out) const {
  const auto& s = impl_->summary;
  double cpu = 0.0;
  for (double c : s.cpu_seconds) cpu += c;
  out << fmt::format(
      "simulated {:.1f} s in {:.2f} s wall ({:.3f} s per simulated second), {:.2f} s CPU over all ranks; "
      "build {:.2f} "
      "s; {} RLS updates\n",
      s.simulated_ms * 1e-3, s.wall_seconds, s.wall_seconds / (s.simulated_ms * 1e-3), cpu, s.build_seconds,
      s.rls_updates);
  out << fmt::format("target: {}\n", s.target);
  out << fmt::format("rates: {:.2f} Hz before, {:.2f} Hz during, {:.2f} Hz after training\n", s.rate_hz[0],
                     s.rate_hz[1], s.rate_hz[2]);
  for (std::size_t m = 0; m < s.outputs; ++m)
    out << fmt::format("output {}: RMS error {:.4f} over the last {:.0f} ms of training\n", s.output_names[m],
                       s.train_rms[m], s.rms_window_ms);
  if (s.windows.empty()) {
    out << "no complete test window: no test metrics\n";
  } else {
    out << fmt::format(
        "test windows of {:.0f} ms (correlation at the best lag, amplitude ratio, dominant frequency of "
        "output / "
        "target):\n",
        s.windows.front().length_ms);
    for (const auto& w : s.windows)
      for (std::size_t m = 0; m < s.outputs; ++m)
        out << fmt::format(
            "  {:7.0f} ms  {:<8} correlation {:.4f} (lag {:+.0f} ms)  amplitude {:.3f}  frequency {:.3f} / "
            "{:.3f} Hz\n",
            w.start_ms, s.output_names[m], w.correlation[m], w.lag_ms[m], w.amplitude[m], w.frequency_hz[m],
            w.target_frequency_hz[m]);
    out << fmt::format(
        "worst window: correlation {:.4f}, amplitude {:.3f} .. {:.3f}, frequency {:.3f} .. {:.3f} Hz\n",
        s.min_correlation, s.min_amplitude, s.max_amplitude, s.min_frequency_hz, s.max_frequency_hz);
  }
  std::uint64_t rls = 0;
  for (auto b : s.rls_bytes) rls = std::max(rls, b);
  out << fmt::format("RLS state {} per rank (max)\n", memory::human_bytes(static_cast<double>(rls)));
}

namespace {
const ExperimentRegistry::Add registered{
    {"force",
     "train",
     "FORCE training (recursive least squares) of a spiking reservoir's decoders",
     {true, "step"},
     [] { return std::vector<std::string>{"force"}; },
     [](const Setup& s) { return std::make_unique<ForceTraining>(s); }}};
}  // namespace

}  // namespace plexus::train
