// libFuzzer target: scenario files (mfusim run FILE). Loads, validates and lowers the scenario; small
// ones are also simulated, under an event and wall-clock limit, so the engine and the step simulator see
// the plans the loader accepts. Large plans are only validated: their size guard
// (workload::estimate_step_tasks) is exercised, the minutes a 16K-GPU step takes are not.
#include <cstddef>
#include <cstdint>

#include "core/error.hpp"
#include "fuzz_input.hpp"
#include "scenario/scenario.hpp"
#include "scenario/simulation.hpp"
#include "workload/step_simulator.hpp"

namespace {
constexpr double kMaxTasksToSimulate = 20'000;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace mfusim;
  try {
    const scenario::Scenario sc = scenario::load_scenario(fuzz::write_input(data, size));
    if (sc.training) {
      workload::StepConfig cfg;
      cfg.model = &sc.training->model;
      cfg.plan = sc.training->plan;
      cfg.seq = sc.training->seq;
      cfg.recompute = sc.training->recompute;
      if (workload::estimate_step_tasks(cfg) > kMaxTasksToSimulate) return 0;
    }
    core::RunLimits limits;
    limits.max_events = 200'000;
    limits.max_wall_seconds = 2.0;
    (void)scenario::simulate(sc, limits);
  } catch (const core::InputError&) {
  }
  return 0;
}
