#pragma once
// Runs a Scenario on a fresh Engine and collects what the report needs.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/engine.hpp"
#include "core/task_graph.hpp"
#include "scenario/scenario.hpp"
#include "workload/step_simulator.hpp"

namespace mfusim::scenario {

struct StreamStats {
  std::string name;
  core::Duration busy;
  double utilization = 0.0;  // busy / step time
};

struct SimulationResult {
  core::RunResult run;
  core::Duration step_time;  // latest task end (for a completed run: the step's makespan)
  std::vector<StreamStats> streams;
  std::vector<core::TaskGraphRun::Span> spans;  // per task, same order as Scenario::graph.tasks()
  // Pipeline exercise only: measured bubble fraction (mean idle share of the stage streams over the
  // step) and the closed form (p - 1)/(m + p - 1) it should equal when p2p = 0.
  double bubble_fraction = 0.0;
  double ideal_bubble_fraction = 0.0;
  double wall_seconds = 0.0;  // host time spent in the event loop

  // Training-step scenarios.
  std::optional<workload::StepResult> step;
  std::vector<std::string> trace_tracks;                 // stream names, for the trace
  std::vector<std::uint32_t> track_node;                 // per stream: the node of its rank
  std::vector<std::uint32_t> task_track;                 // per task
  // The lowered step: per task its stream, TaskInfo (kind, rank, label) and CommRequest, for traces
  // and timelines (formatted only when asked).
  std::shared_ptr<const workload::StepProgram> program;
  // Per CommRequest (program->requests): NCCL algorithm/protocol, when SimulationOptions asked for them.
  std::vector<std::string> collective_plans;
  std::string calibration;                               // provenance of the kernel tables
};

struct SimulationOptions {
  bool collective_plans = false;  // fill SimulationResult::collective_plans (traces; costs a plan per request)
};

// `limits` combine with the scenario's own (the tighter one wins).
SimulationResult simulate(const Scenario& scenario, const core::RunLimits& limits = {}, const SimulationOptions& options = {});

}  // namespace mfusim::scenario
