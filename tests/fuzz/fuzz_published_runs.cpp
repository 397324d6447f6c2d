// libFuzzer target: published-runs files (mfusim validate FILE): read every run and build its training
// scenario (validation of cluster, model, plan and memory); not simulated (that is the validation
// suite's job, tests/model/validate_test.cpp).
#include <cstddef>
#include <cstdint>

#include "core/error.hpp"
#include "fuzz_input.hpp"
#include "scenario/published_runs.hpp"
#include "scenario/scenario.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace mfusim;
  try {
    for (const auto& run : scenario::read_published_runs(fuzz::write_input(data, size))) {
      if (!run.unsupported.empty()) continue;
      try {
        (void)scenario::build_scenario(run.scenario, "fuzz#" + run.row.id);
      } catch (const core::InputError&) {
        // validate reports such a run as unsupported and goes on.
      }
    }
  } catch (const core::InputError&) {
  }
  return 0;
}
