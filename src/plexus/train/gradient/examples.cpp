#include "plexus/train/gradient/examples.hpp"

#include <algorithm>

#include "plexus/io/result_file.hpp"

namespace plexus::train::gradient {

Examples::Examples(const std::vector<int>& populations, std::int64_t cells, std::size_t readouts,
                   const model::Network& net)
    : net_(net), K_(readouts) {
  for (int pop : populations) {
    const auto size = net.populations[static_cast<std::size_t>(pop)].size;
    const auto n = std::min<Gid>(size, static_cast<Gid>(cells));
    for (Gid c = 0; c < n; ++c) cells_.push_back({pop, c * size / n});
  }
}

void Examples::begin() {
  on_ = true;
  times_.clear();
  gids_.clear();
  y_.clear();
  v_.clear();
}

void Examples::step(Step t, std::span<const Gid> spikes, const double* y, const sim::Simulation& sim) {
  for (Gid g : spikes) {
    times_.push_back(net_.step_to_ms(t));
    gids_.push_back(g);
  }
  for (std::size_t k = 0; k < K_; ++k) y_.push_back(y[k]);
  for (const auto& [pop, id] : cells_) {
    const auto& local = sim.populations()[static_cast<std::size_t>(pop)].local;
    const double* v = sim.model(pop).variable("v");
    v_.push_back(local.contains(id) && v ? v[id - local.begin] : 0.0);
  }
}

void Examples::write(io::ResultFile* file, comm::Communicator& comm, bool root, const std::string& name,
                     const sim::Simulation& sim, task::Task& task, const Objective& objective,
                     const TrialResult& result, Step steps) {
  on_ = false;
  comm.sum_in_rank_order(v_);  // each cell's values come from its own rank only
  if (!file) return;
  auto& f = *file;
  const std::string g = "/examples/" + name;
  f.create_group(g);
  f.attribute(g, "description", task.describe_trial());
  f.attribute(g, "label", static_cast<std::int64_t>(task.label()));
  f.attribute(g, "correct", static_cast<std::int64_t>(result.correct));
  f.attribute(g, "window_begin_ms", net_.step_to_ms(objective.window_begin()));
  objective.describe_example(f, g, result);
  f.create_group(g + "/spikes");
  for (const auto& pi : sim.populations()) {
    if (!pi.info->spiking) continue;
    std::vector<double> ts;
    std::vector<std::uint64_t> ids;
    for (std::size_t k = 0; k < gids_.size(); ++k)
      if (gids_[k] >= pi.spec->first_gid && gids_[k] < pi.spec->first_gid + pi.spec->size) {
        ts.push_back(times_[k]);
        ids.push_back(gids_[k] - pi.spec->first_gid);
      }
    const std::string sg = g + "/spikes/" + pi.spec->name;
    f.create_group(sg);
    f.write_replicated<double>(sg + "/timestamps", ts);
    f.write_replicated<std::uint64_t>(sg + "/node_ids", ids);
  }
  const auto rows = static_cast<std::size_t>(steps);
  f.create_table<double>(g + "/readout", K_, 256);
  f.append_rows<double>(g + "/readout", rows, 0, root ? K_ : 0,
                        root ? std::span<const double>(y_) : std::span<const double>());
  const std::size_t nc = cells_.size();
  if (nc) {
    f.create_table<double>(g + "/v", nc, 256);
    f.append_rows<double>(g + "/v", rows, 0, root ? nc : 0,
                          root ? std::span<const double>(v_) : std::span<const double>());
    std::vector<std::uint64_t> cg;
    for (const auto& [pop, id] : cells_)
      cg.push_back(net_.populations[static_cast<std::size_t>(pop)].first_gid + id);
    f.write_replicated<std::uint64_t>(g + "/v_gids", cg);
  }
  if (!task.classification()) {
    std::vector<double> tgt, buf(K_);
    for (Step t = 0; t < steps; ++t) {
      task.target(t, buf.data());
      tgt.insert(tgt.end(), buf.begin(), buf.end());
    }
    f.create_table<double>(g + "/target", K_, 256);
    f.append_rows<double>(g + "/target", rows, 0, root ? K_ : 0,
                          root ? std::span<const double>(tgt) : std::span<const double>());
  }
}

}  // namespace plexus::train::gradient
