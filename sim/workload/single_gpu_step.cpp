#include "workload/single_gpu_step.hpp"

#include <algorithm>

#include "workload/ground_truth.hpp"

namespace mfusim::workload {

std::vector<HostOverhead> fit_host_overheads(const std::filesystem::path& probes_file) {
  // Two depths per (family, recompute): a straight line through them.
  std::map<std::pair<std::string, Recompute>, std::vector<std::pair<double, double>>> points;
  for (const auto& run : load_measured_steps(probes_file)) {
    if (run.status != "ok") continue;
    points[{run.model.family, run.recompute}].emplace_back(static_cast<double>(run.model.layers), run.step_time_s);
  }
  std::vector<HostOverhead> out;
  for (const auto& [key, pts] : points) {
    if (pts.size() < 2) continue;
    const auto lo = std::min_element(pts.begin(), pts.end());
    const auto hi = std::max_element(pts.begin(), pts.end());
    if (hi->first == lo->first) continue;
    HostOverhead h;
    h.family = key.first;
    h.recompute = key.second;
    h.per_layer_s = (hi->second - lo->second) / (hi->first - lo->first);
    h.fixed_s = std::max(0.0, lo->second - h.per_layer_s * lo->first);
    out.push_back(h);
  }
  return out;
}

StepPrediction predict_single_gpu_step(const ModelSpec& m, const MicroBatch& mb, std::int64_t microbatches,
                                       Recompute recompute, const compute::KernelCostModel& cost, bool eager,
                                       const std::vector<HostOverhead>& host) {
  StepPrediction p;
  const double adam = eager ? kAdamBytesPerParameterFp32Params : kAdamBytesPerParameter;
  for (const Op& op : single_gpu_step(m, mb, microbatches, recompute, adam, eager)) {
    const core::Duration t = cost.time(op.kernel);
    p.step_time += t;
    p.by_phase[op.phase] += t;
    p.model_flops += op.model_flops;
    ++p.kernels;
  }
  p.gpu_time = p.step_time;
  for (const auto& h : host) {
    if (h.family == m.family && h.recompute == recompute) {
      p.host_time = core::Duration::from_seconds(h.fixed_s + h.per_layer_s * static_cast<double>(m.layers * microbatches));
    }
  }
  p.step_time = std::max(p.gpu_time, p.host_time);
  const auto peak = cost.gpu().peak(hardware::Dtype::kBf16);
  p.mfu = p.model_flops / (p.step_time.seconds() * peak->value());
  MemoryPlan plan;
  plan.micro_batch = mb;
  plan.microbatches = microbatches;
  plan.recompute = recompute;
  plan.flash_attention = true;
  plan.dropout = false;
  plan.eager_swiglu = eager;
  plan.eager_loss = eager;
  plan.fp32_residual = eager;
  plan.grads_on_demand = eager;
  p.memory = estimate_memory(m, plan);
  return p;
}

}  // namespace mfusim::workload
