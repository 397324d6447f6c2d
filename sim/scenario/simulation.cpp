#include "scenario/simulation.hpp"

#include <algorithm>
#include <chrono>
#include <map>
#include <tuple>

#include "compute/kernel_cost_model.hpp"
#include "scenario/collective_communication.hpp"

namespace mfusim::scenario {
namespace {
template <class T>
std::optional<T> tighter(const std::optional<T>& a, const std::optional<T>& b) {
  if (a && b) return std::min(*a, *b);
  return a ? a : b;
}
// The tighter of the scenario's own limits and the caller's (--max-events, --time-limit, --max-wall).
core::RunLimits combine(const core::RunLimits& a, const core::RunLimits& b) {
  return core::RunLimits{tighter(a.until, b.until), tighter(a.max_events, b.max_events),
                         tighter(a.max_wall_seconds, b.max_wall_seconds)};
}
}  // namespace

namespace {

SimulationResult simulate_training(const Scenario& scenario, const core::RunLimits& limits, const SimulationOptions& options) {
  const TrainingSetup& t = *scenario.training;
  SimulationResult r;
  const auto cost = compute::KernelCostModel::for_gpu(*t.catalog, *t.topology.gpu_spec,
                                                      compute::KernelCostModel::default_calibration_dir());
  r.calibration = cost.provenance();
  if (t.cudnn_attention && !cost.has_cudnn_attention()) {
    r.calibration += "; training.attention cudnn: these tables have no cuDNN attention measurements, so attention is costed from the flash table";
  }
  workload::StepConfig cfg;
  cfg.model = &t.model;
  cfg.plan = t.plan;
  cfg.seq = t.seq;
  cfg.recompute = t.recompute;
  cfg.recompute_modules = t.recompute_modules;
  cfg.bf16_moments = t.bf16_moments;
  cfg.gemm_dtype = t.precision;
  cfg.flash_attention = t.flash_attention;
  cfg.cudnn_attention = t.cudnn_attention;
  cfg.dropout = t.dropout > 0.0;
  cfg.eager = t.eager;
  cfg.gpus_per_node = gpus_per_node(t.topology);
  auto owned = std::make_shared<workload::StepProgram>(workload::build_step_program(cfg, cost));
  const workload::StepProgram& program = *owned;
  core::Engine engine;
  CollectiveCommunication comm(engine, t.topology, t.collectives);
  auto step = workload::simulate_step(cfg, program, cost, comm, engine, limits);
  if (options.collective_plans) {
    // Equal requests (kind, bytes, representative group) get the same selection: plan each once.
    std::map<std::tuple<int, std::int64_t, std::vector<std::int64_t>>, std::string> seen;
    r.collective_plans.reserve(program.requests.size());
    for (const auto& req : program.requests) {
      auto key = std::tuple{static_cast<int>(req.kind), req.bytes.count(), req.groups->front()};
      auto it = seen.find(key);
      if (it == seen.end()) it = seen.emplace(std::move(key), comm.describe_plan(req)).first;
      r.collective_plans.push_back(it->second);
    }
  }
  r.run = step.run;
  r.step_time = step.step_time;
  r.wall_seconds = step.wall_seconds;
  r.spans = step.spans;
  for (const auto& s : program.graph.streams()) {
    r.trace_tracks.push_back(s);
    // Stream names start with "r<rank>.": the rank is the GPU index, its node the process.
    const auto rank = std::stoll(s.substr(1, s.find('.') - 1));
    r.track_node.push_back(t.topology.node_of(static_cast<topology::GpuIndex>(rank)));
  }
  r.task_track.reserve(program.graph.tasks().size());
  for (const auto& task : program.graph.tasks()) r.task_track.push_back(task.stream);
  r.program = std::move(owned);
  r.step = std::move(step);
  return r;
}

}  // namespace

SimulationResult simulate(const Scenario& scenario, const core::RunLimits& limits, const SimulationOptions& options) {
  if (scenario.training) {
    const core::RunLimits effective = combine(scenario.limits, limits);
    return simulate_training(scenario, effective, options);
  }
  core::Engine engine;
  core::TaskGraphRun run(engine, scenario.graph);
  const core::RunLimits effective = combine(scenario.limits, limits);
  const auto t0 = std::chrono::steady_clock::now();
  run.start();
  SimulationResult r;
  r.run = engine.run(effective);
  r.wall_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  r.step_time = run.makespan().since_start();
  r.spans = run.spans();
  const auto busy = run.busy_time();
  for (std::size_t s = 0; s < busy.size(); ++s) {
    const double util = r.step_time.ps() > 0 ? static_cast<double>(busy[s].ps()) / static_cast<double>(r.step_time.ps()) : 0.0;
    r.streams.push_back(StreamStats{scenario.graph.streams()[s], busy[s], util});
  }
  if (scenario.pipeline) {
    const auto& p = *scenario.pipeline;
    double idle = 0.0;
    for (int s = 0; s < p.stages; ++s) idle += 1.0 - r.streams[static_cast<std::size_t>(s)].utilization;
    r.bubble_fraction = idle / p.stages;
    r.ideal_bubble_fraction = static_cast<double>(p.stages - 1) / static_cast<double>(p.microbatches + p.stages - 1);
  }
  return r;
}

}  // namespace mfusim::scenario
