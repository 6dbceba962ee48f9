#include "plexus/core/quantity.hpp"

#include <exception>

namespace plexus::core {

std::optional<std::pair<double, std::string>> number_with_unit(const std::string& text) {
  std::size_t used = 0;
  double value = 0.0;
  try {
    value = std::stod(text, &used);
  } catch (const std::exception&) {
    return std::nullopt;
  }
  std::string unit = text.substr(used);
  unit.erase(0, unit.find_first_not_of(' '));
  return std::pair{value, unit};
}

}  // namespace plexus::core
