#include "plexus/io/recorder.hpp"

#include <algorithm>

#include <fmt/format.h>

#include "plexus/core/error.hpp"

namespace plexus::io {

namespace {

std::string variable_list(const std::vector<std::string>& vars) {
  std::string list;
  for (const auto& x : vars) list += (list.empty() ? "" : ", ") + x;
  return list.empty() ? "none" : list;
}

}  // namespace

void Recorder::check(const model::Network& net, const std::vector<RecordedPopulation>& pops) {
  for (const auto& spec : net.record.samples) {
    const auto& rp = pops[static_cast<std::size_t>(spec.population)];
    for (const auto& v : spec.variables)
      if (std::find(rp.variables.begin(), rp.variables.end(), v) == rp.variables.end())
        spec.node.at("variables")
            .fail(fmt::format("model '{}' has no variable '{}' (it has: {})",
                              net.populations[static_cast<std::size_t>(spec.population)].model, v,
                              variable_list(rp.variables)));
  }
}

Recorder::Recorder(const model::Network& net, const partition::Partition& part, comm::Communicator& comm,
                   ResultFile& file, std::vector<RecordedPopulation> pops, int threads, const Resume* resume)
    : net_(net), part_(part), comm_(comm), file_(file), pops_(std::move(pops)) {
  check(net, pops_);
  resume_ = resume;
  setup_spikes();
  for (std::size_t i = 0; i < net.record.samples.size(); ++i) setup_samples(net.record.samples[i], threads);
  weight_next_.assign(net.record.weights.size(), 0);
  weight_ids_written_.assign(net.record.weights.size(), false);
  if (!resume) {
    open_window(0);
    return;
  }
  if (resume->weight_next.size() != weight_next_.size())
    throw UserError("the checkpoint records another number of weight recordings");
  for (std::size_t i = 0; i < weight_next_.size(); ++i) {
    weight_next_[i] = static_cast<std::size_t>(resume->weight_next[i]);
    weight_ids_written_[i] = weight_next_[i] > 0;
    if (weight_ids_written_[i]) {
      const std::string g = "/weights/" + net.projections[net.record.weights[i].projection].name;
      for (const char* d : {"/source_ids", "/target_ids", "/times_ms", "/values"}) reopen(g + d);
    }
  }
  for (auto& s : samples_) s.first_row_step = resume->step;
  restart_window(resume->step);
  resume_ = nullptr;
}

void Recorder::reopen(const std::string& path) {
  auto it = resume_->lengths.find(path);
  if (it == resume_->lengths.end())
    throw UserError("the checkpoint does not record the result dataset " + path +
                    " (another recording setup?)");
  file_.reopen(path, it->second);
}

// Spikes: /spikes/<population>/{timestamps, node_ids}, SONATA layout.
void Recorder::setup_spikes() {
  buffer_of_population_.assign(net_.populations.size(), -1);
  if (!resume_) file_.create_group("/spikes");
  for (std::size_t p = 0; p < pops_.size(); ++p) {
    if (!pops_[p].record_spikes) continue;
    const std::string g = "/spikes/" + net_.populations[p].name;
    if (!resume_) {
      file_.create_group(g);
      file_.sorting_attribute(g, 2);  // by_time
      file_.create_series<double>(g + "/timestamps");
      file_.attribute(g + "/timestamps", "units", std::string("ms"));
      file_.create_series<std::uint64_t>(g + "/node_ids");
    } else {
      reopen(g + "/timestamps");
      reopen(g + "/node_ids");
    }
    buffer_of_population_[p] = static_cast<int>(spike_buffers_.size());
    spike_buffers_.push_back({static_cast<int>(p), {}, {}});
  }
}

// Samples: /samples/<population>/<variable> (time x node), node_ids, times_ms.
void Recorder::setup_samples(const model::SampleSpec& spec, int threads) {
  const auto& rp = pops_[static_cast<std::size_t>(spec.population)];
  SampleSet s;
  s.interval = spec.interval_steps;
  s.group = "/samples/" + net_.populations[static_cast<std::size_t>(spec.population)].name;
  for (const auto& v : spec.variables) {
    const auto idx = static_cast<std::size_t>(std::find(rp.variables.begin(), rp.variables.end(), v) -
                                              rp.variables.begin());
    s.variables.push_back(v);
    s.arrays.push_back(rp.arrays[idx]);
    s.units.push_back(rp.units[idx]);
  }
  // This rank's columns: the sampled ids inside its local range (contiguous, since ids are sorted
  // and local ranges are contiguous). A replicated population is written by rank 0 alone.
  const bool mine = !part_.replicated(spec.population) || comm_.rank() == 0;
  const auto& ids = spec.node_ids;
  if (mine) {
    s.col_begin =
        static_cast<std::size_t>(std::lower_bound(ids.begin(), ids.end(), rp.local.begin) - ids.begin());
    s.col_end =
        static_cast<std::size_t>(std::lower_bound(ids.begin(), ids.end(), rp.local.end) - ids.begin());
  }
  s.per_thread.resize(static_cast<std::size_t>(threads));
  for (std::size_t c = s.col_begin; c < s.col_end; ++c) {
    const std::size_t li = ids[c] - rp.local.begin;
    for (int t = 0; t < threads; ++t)
      if (rp.blocks[t].contains(static_cast<Gid>(li))) s.per_thread[t].push_back({c - s.col_begin, li});
  }
  s.rows_cap = static_cast<std::size_t>(net_.record.flush_interval_steps / s.interval + 2);
  s.buffer.assign(s.variables.size(), std::vector<double>(s.rows_cap * (s.col_end - s.col_begin), 0.0));
  if (!resume_) {
    file_.create_group(s.group);
    std::vector<std::uint64_t> id64(ids.begin(), ids.end());
    file_.write_replicated<std::uint64_t>(s.group + "/node_ids", id64);
    file_.create_series<double>(s.group + "/times_ms", 4096);
    file_.attribute(s.group + "/times_ms", "units", std::string("ms"));
    file_.attribute(s.group, "interval_ms", static_cast<double>(s.interval) * net_.run.dt_ms);
  } else {
    reopen(s.group + "/times_ms");
  }
  for (std::size_t v = 0; v < s.variables.size(); ++v) {
    const std::string ds = s.group + "/" + s.variables[v];
    if (!resume_) {
      file_.create_table<double>(ds, ids.size(), std::min<std::size_t>(s.rows_cap, 1024));
      file_.attribute(ds, "units", s.units[v]);
    } else {
      reopen(ds);
    }
  }
  samples_.push_back(std::move(s));
}

void Recorder::restart_window(Step t) {
  const Step F = net_.record.flush_interval_steps;
  window_begin_ = t;
  window_end_ = std::min((t / F + 1) * F, std::max<Step>(net_.run.steps, t + 1));
  const auto slice =
      partition::block(static_cast<Gid>(window_end_ - window_begin_), comm_.size(), comm_.rank());
  slice_begin_ = window_begin_ + slice.begin;
  slice_end_ = window_begin_ + slice.end;
}

void Recorder::open_window(Step begin) {
  window_begin_ = begin;
  window_end_ = std::min(begin + net_.record.flush_interval_steps, std::max<Step>(net_.run.steps, begin + 1));
  const auto slice =
      partition::block(static_cast<Gid>(window_end_ - window_begin_), comm_.size(), comm_.rank());
  slice_begin_ = window_begin_ + slice.begin;
  slice_end_ = window_begin_ + slice.end;
}

void Recorder::begin_step(Step t) {
  sample_due_ = false;
  for (const auto& s : samples_)
    if ((t + 1) % s.interval == 0) sample_due_ = true;
}

void Recorder::spikes(Step t, std::span<const Gid> sorted) {
  if (t < slice_begin_ || t >= slice_end_ || spike_buffers_.empty()) return;
  const double time_ms = net_.step_to_ms(t);
  for (Gid g : sorted) {
    const int p = net_.population_of(g);
    const int b = buffer_of_population_[p];
    if (b < 0) continue;
    spike_buffers_[b].times_ms.push_back(time_ms);
    spike_buffers_[b].node_ids.push_back(g - net_.populations[p].first_gid);
  }
}

void Recorder::sample(Step t, int thread) {
  for (auto& s : samples_) {
    if ((t + 1) % s.interval != 0) continue;
    const std::size_t row = row_of(s, t);
    const std::size_t ncol = s.col_end - s.col_begin;
    for (std::size_t v = 0; v < s.variables.size(); ++v) {
      double* dst = s.buffer[v].data() + row * ncol;
      const double* src = s.arrays[v];
      for (const auto& [c, li] : s.per_thread[thread]) dst[c] = src[li];
    }
    if (thread == 0 && comm_.rank() == 0) s.times_ms.push_back(net_.step_to_ms(t + 1));
  }
}

bool Recorder::flush_due(Step t) const {
  return t + 1 == window_end_;
}

void Recorder::flush(Step next) {
  for (auto& b : spike_buffers_) {
    const std::string g = "/spikes/" + net_.populations[b.population].name;
    file_.append<double>(g + "/timestamps", b.times_ms);
    file_.append<std::uint64_t>(g + "/node_ids", b.node_ids);
    b.times_ms.clear();
    b.node_ids.clear();
  }
  for (auto& s : samples_) {
    // Rows recorded since the last flush: samples at steps t with (t+1) % interval == 0, t < next.
    const std::size_t rows = static_cast<std::size_t>(next / s.interval - s.first_row_step / s.interval);
    const std::size_t ncol = s.col_end - s.col_begin;
    for (std::size_t v = 0; v < s.variables.size(); ++v)
      file_.append_rows<double>(s.group + "/" + s.variables[v], rows, s.col_begin, ncol,
                                std::span<const double>(s.buffer[v].data(), rows * ncol));
    file_.append<double>(s.group + "/times_ms", s.times_ms);
    s.times_ms.clear();
    s.first_row_step = next;
  }
  file_.flush();
  if (next >= window_end_) open_window(window_end_);
}

bool Recorder::weights_due(Step t) const {
  for (std::size_t i = 0; i < weight_next_.size(); ++i) {
    const auto& steps = net_.record.weights[i].steps;
    if (weight_next_[i] < steps.size() && steps[weight_next_[i]] == t) return true;
  }
  return false;
}

void Recorder::snapshot_weights(Step t, const std::vector<synapse::Projection>& projections) {
  for (std::size_t i = 0; i < weight_next_.size(); ++i) {
    const auto& spec = net_.record.weights[i];
    if (weight_next_[i] >= spec.steps.size() || spec.steps[weight_next_[i]] != t) continue;
    ++weight_next_[i];
    const auto& pspec = net_.projections[spec.projection];
    const auto& proj = projections[spec.projection];
    const std::string g = "/weights/" + pspec.name;
    const bool mine = !part_.replicated(pspec.target) || comm_.rank() == 0;
    std::vector<std::uint64_t> src, tgt;
    std::vector<double> w;
    const Gid first_local = part_.local(pspec.target, comm_.rank()).begin;
    if (mine) {
      for (std::size_t b = 0; b < proj.blocks().size(); ++b)
        proj.for_each_by_target(b, [&](Gid s, std::uint32_t j, synapse::Weight x, std::uint16_t) {
          src.push_back(s);
          tgt.push_back(first_local + j);
          w.push_back(static_cast<double>(x));
        });
    }
    const auto place = comm_.place(w.size());
    if (!weight_ids_written_[i]) {
      weight_ids_written_[i] = true;
      file_.create_group(g);
      file_.attribute(g, "source", net_.populations[pspec.source].name);
      file_.attribute(g, "target", net_.populations[pspec.target].name);
      file_.create_series<std::uint64_t>(g + "/source_ids");
      file_.create_series<std::uint64_t>(g + "/target_ids");
      file_.append<std::uint64_t>(g + "/source_ids", src);
      file_.append<std::uint64_t>(g + "/target_ids", tgt);
      file_.create_series<double>(g + "/times_ms", 64);
      file_.create_table<double>(g + "/values", place.total, 1);
    }
    std::vector<double> when;
    if (comm_.rank() == 0) when.push_back(net_.step_to_ms(t));
    file_.append<double>(g + "/times_ms", when);
    file_.append_rows<double>(g + "/values", 1, place.offset, w.size(), w);
  }
}

std::size_t Recorder::buffered_bytes() const {
  std::size_t b = 0;
  for (const auto& s : spike_buffers_)
    b += s.times_ms.capacity() * sizeof(double) + s.node_ids.capacity() * 8;
  for (const auto& s : samples_)
    for (const auto& v : s.buffer) b += v.capacity() * sizeof(double);
  return b;
}

}  // namespace plexus::io
