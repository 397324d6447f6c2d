#pragma once
// Step figures of a training-step simulation for the report: throughput, MFU/HFU, memory, breakdown.
#include "report/run_summary.hpp"
#include "scenario/scenario.hpp"
#include "scenario/simulation.hpp"

namespace mfusim::cli {

// The whole report of one simulation: status, step time, stream utilisation and, for a training step,
// everything add_training_summary adds. Shared by run, sweep, search and compare.
report::RunSummary summarize(const scenario::Scenario& sc, const scenario::SimulationResult& r);

void add_training_summary(const scenario::Scenario& sc, const scenario::SimulationResult& r, report::RunSummary& s);

}  // namespace mfusim::cli
