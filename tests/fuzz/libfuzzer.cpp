// libFuzzer entry points (clang, -DPLEXUS_FUZZ=ON): plexus_libfuzzer_model and plexus_libfuzzer_result, one
// binary per harness (PLEXUS_FUZZ_HARNESS names it). See docs/fuzzing.md.
#include <cstddef>
#include <cstdint>

#include "harness.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  plexus::fuzz::harness(PLEXUS_FUZZ_HARNESS)(data, size);
  return 0;
}
