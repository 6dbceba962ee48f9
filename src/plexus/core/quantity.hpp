#pragma once
// Command-line quantities such as "100ms", "10 it" or "30min": a number, then its unit.
#include <optional>
#include <string>
#include <utility>

namespace plexus::core {

// The number at the start of `text` and the unit after it (spaces between them dropped); nullopt if
// `text` does not start with a number. The caller checks the unit and the range.
std::optional<std::pair<double, std::string>> number_with_unit(const std::string& text);

}  // namespace plexus::core
