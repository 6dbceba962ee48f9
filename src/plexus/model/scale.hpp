#pragma once
// Resizing a network by one factor (network.scale, and plexus scale-test --neurons): the
// populations of ordinary neurons grow by F, in-degrees are held (or connection probabilities, on
// request) and all-to-all weights shrink so that each cell's summed input keeps its variance.
#include <string>
#include <string_view>
#include <vector>

#include "plexus/model/network.hpp"

namespace plexus::model {

enum class ScaleKeep { Indegree, Probability };

// Whether populations of this neuron model are scaled: ordinary neurons (those the neuron registry
// runs in the update phase), not task inputs, spike sources or readouts. The model module cannot
// see the registry (it sits below the neuron module), so the models that are not scaled are named
// here; a unit test checks this list against the registry's phases.
bool scaled_model(std::string_view neuron_model);

// Neurons in the populations that scaling resizes.
double scalable_neurons(const Network& net);

// The overrides ("dotted.key=value") that make `base` F times larger: every scaled population's
// size times F (at least 1); for every projection from a scaled population, fixed_probability
// p -> min(1, p / F) and fixed_indegree unchanged (keep Indegree), or p unchanged and the in-degree
// times F (keep Probability); where the mean in-degree grows by a factor g (all-to-all from a scaled
// population, fixed_probability under keep Probability) the weight distribution is multiplied by
// 1 / sqrt(g), which keeps the variance of the summed input. Throws UserError for projections read
// from files.
std::vector<std::string> scale_overrides(const Network& base, double f, ScaleKeep keep);

}  // namespace plexus::model
