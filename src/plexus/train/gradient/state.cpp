// Checkpoints of gradient training, taken between iterations. Saved: the schedule's position
// (iterations done, optimiser steps), the last batch's figures, the rate-regularisation signal per
// neuron, the optimiser's per-synapse moments, the best weights so far (restore_best) and the
// initial weights (the result file gets them at the end). The weights themselves, and the rest of
// the network's state, are the simulation's (saved before this). Not saved: eligibility and
// presynaptic traces, gradients, spike counts and previous pseudo-derivatives, which are all zero
// between batches; symmetric feedback (recomputed from the weights) and random feedback (a function
// of the seed and gids); the time per iteration of earlier runs.
#include <fmt/format.h>

#include "plexus/train/gradient/impl.hpp"

namespace plexus::train::gradient {

void GradientTraining::Impl::save(checkpoint::Writer& w) const {
  w.integer("train/done", progress.done);
  w.integer("train/optimizer_steps", optimizer.steps);
  w.integer("train/reg_active", reg_active ? 1 : 0);
  w.real("train/last_loss", progress.last_loss);
  w.real("train/last_accuracy", progress.last_accuracy);
  w.real("train/validation_accuracy", progress.validation_accuracy);
  w.real("train/validation_loss", progress.validation_loss);
  w.integer("train/reached_target", progress.reached_target ? 1 : 0);
  if (restore_best) {
    w.real("train/best_accuracy", best_score);  // the key predates regression scores
    w.integer("train/best_iteration", best_iteration);
    if (best_iteration > 0)
      for (std::size_t i = 0; i < plastic.size(); ++i)
        w.array("train/best_weight/" + net.projections[static_cast<std::size_t>(plastic[i])].name,
                sim->synapse_slice(plastic[i]), std::span<const synapse::Weight>(best_weights[i]));
  }
  for (std::size_t i = 0; i < ctx.targets.size(); ++i) {
    const auto& t = ctx.targets[i];
    if (t.readout) continue;
    w.array("train/reg/" + net.populations[static_cast<std::size_t>(t.population)].name,
            sim->neuron_slice(t.population), std::span<const double>(reg[i]));
  }
  for (std::size_t i = 0; i < plastic.size(); ++i) {
    const int pi = plastic[i];
    const auto& name = net.projections[static_cast<std::size_t>(pi)].name;
    for (const auto& a : rule->carried_arrays()) {
      const auto values = rule->export_array(pi, a);
      w.array(fmt::format("train/{}/{}", a, name), sim->synapse_slice(pi), std::span<const double>(values));
    }
    std::vector<double> initial;
    for (const auto& v : initial_weights[i]) initial.push_back(v.value);
    w.array("train/initial_weight/" + name, checkpoint::Slice::whole(initial.size()),
            std::span<const double>(initial));
  }
}

void GradientTraining::Impl::load(const checkpoint::Reader& r) {
  progress.done = r.integer("train/done");
  progress.resumed_from = progress.done;
  optimizer.steps = r.integer("train/optimizer_steps");
  reg_active = r.integer("train/reg_active") != 0;
  progress.last_loss = r.real("train/last_loss");
  progress.last_accuracy = r.real("train/last_accuracy");
  progress.validation_accuracy = r.real("train/validation_accuracy");
  // Absent from checkpoints of earlier builds: the summary then says nothing of it.
  progress.validation_loss = r.has("train/validation_loss") ? r.real("train/validation_loss") : -1.0;
  progress.reached_target = r.integer("train/reached_target") != 0;
  if (restore_best) {
    best_score = r.real("train/best_accuracy");
    best_iteration = r.integer("train/best_iteration");
    best_weights.assign(plastic.size(), {});
    if (best_iteration > 0)
      for (std::size_t i = 0; i < plastic.size(); ++i) {
        const auto slice = sim->synapse_slice(plastic[i]);
        best_weights[i].resize(slice.count);
        r.array("train/best_weight/" + net.projections[static_cast<std::size_t>(plastic[i])].name, slice,
                std::span<synapse::Weight>(best_weights[i]));
      }
  }
  for (std::size_t i = 0; i < ctx.targets.size(); ++i) {
    const auto& t = ctx.targets[i];
    if (t.readout) continue;
    r.array("train/reg/" + net.populations[static_cast<std::size_t>(t.population)].name,
            sim->neuron_slice(t.population), std::span<double>(reg[i]));
  }
  initial_weights.clear();
  for (std::size_t i = 0; i < plastic.size(); ++i) {
    const int pi = plastic[i];
    const auto& name = net.projections[static_cast<std::size_t>(pi)].name;
    const auto slice = sim->synapse_slice(pi);
    for (const auto& a : rule->carried_arrays()) {
      std::vector<double> values(slice.count);
      r.array(fmt::format("train/{}/{}", a, name), slice, std::span<double>(values));
      rule->import_array(pi, a, values);
    }
    // The ids come from the network (the same on any partition), the values from the checkpoint.
    auto all = weights_of(pi);
    std::vector<double> initial(all.size());
    r.array("train/initial_weight/" + name, checkpoint::Slice::whole(initial.size()),
            std::span<double>(initial));
    for (std::size_t k = 0; k < all.size(); ++k) all[k].value = initial[k];
    initial_weights.push_back(std::move(all));
  }
  refresh_feedback();  // symmetric feedback from the restored readout weights
}

}  // namespace plexus::train::gradient
