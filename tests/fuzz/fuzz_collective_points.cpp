// libFuzzer target: collective-points files (mfusim describe collective-points FILE).
#include <cstddef>
#include <cstdint>

#include "collective/collective_points.hpp"
#include "core/error.hpp"
#include "fuzz_input.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace mfusim;
  try {
    (void)collective::format_points(collective::load_collective_points(fuzz::write_input(data, size)));
  } catch (const core::InputError&) {
  }
  return 0;
}
