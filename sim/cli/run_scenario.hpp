#pragma once
// One scenario's simulation result as a report::RunSummary (shared by `run` and `compare`).
#include "report/run_summary.hpp"
#include "scenario/scenario.hpp"
#include "scenario/simulation.hpp"

namespace mfusim::cli {

report::RunSummary summarize(const scenario::Scenario& sc, const scenario::SimulationResult& r);

}  // namespace mfusim::cli
