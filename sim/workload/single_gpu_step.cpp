#include "workload/single_gpu_step.hpp"

#include <algorithm>

#include "workload/ground_truth.hpp"

namespace mfusim::workload {

std::vector<HostOverhead> fit_host_overheads(const std::filesystem::path& probes_file) {
  // Two depths per (family, recompute): a straight line through the median host time at each depth
  // (a probe file may repeat a depth, e.g. at several micro-batches, which cost the GPU nothing at
  // hidden 128; host timings of one call spread by +-25%, so one sample per depth is not trusted).
  std::map<std::pair<std::string, Recompute>, std::map<std::int64_t, std::vector<double>>> points;
  for (const auto& run : load_measured_steps(probes_file)) {
    if (run.status != "ok") continue;
    points[{run.model.family, run.recompute}][run.model.layers].push_back(run.step_time_s);
  }
  const auto median = [](std::vector<double> v) {
    std::sort(v.begin(), v.end());
    const std::size_t n = v.size();
    return n % 2 == 1 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
  };
  std::vector<HostOverhead> out;
  for (const auto& [key, depths] : points) {
    if (depths.size() < 2) continue;
    const auto& [lo_layers, lo_times] = *depths.begin();
    const auto& [hi_layers, hi_times] = *depths.rbegin();
    const double lo = median(lo_times), hi = median(hi_times);
    HostOverhead h;
    h.family = key.first;
    h.recompute = key.second;
    h.per_layer_s = (hi - lo) / static_cast<double>(hi_layers - lo_layers);
    h.fixed_s = std::max(0.0, lo - h.per_layer_s * static_cast<double>(lo_layers));
    out.push_back(h);
  }
  return out;
}

StepPrediction predict_single_gpu_step(const ModelSpec& m, const MicroBatch& mb, std::int64_t microbatches,
                                       Recompute recompute, const compute::KernelCostModel& cost, bool eager,
                                       const std::vector<HostOverhead>& host) {
  StepPrediction p;
  const double adam = eager ? kAdamBytesPerParameterFp32Params : kAdamBytesPerParameter;
  const std::vector<Op> ops = single_gpu_step(m, mb, microbatches, recompute, adam, eager);
  std::vector<core::Duration> gpu(ops.size());
  for (std::size_t i = 0; i < ops.size(); ++i) {
    gpu[i] = cost.time(ops[i].kernel);
    p.gpu_time += gpu[i];
    p.by_phase[ops[i].phase] += gpu[i];
    p.model_flops += ops[i].model_flops;
    ++p.kernels;
  }
  const HostOverhead* h = nullptr;
  for (const auto& x : host) {
    if (x.family == m.family && x.recompute == recompute) h = &x;
  }
  if (h == nullptr) {
    p.step_time = p.gpu_time;
  } else {
    // The launch queue: the host issues the kernels in order, each taking its share of the host time
    // (a layer's per-layer cost spread evenly over that layer's kernels, the fixed cost over the
    // others); a kernel starts when it has been issued and the previous one has finished.
    std::vector<std::size_t> per_layer(static_cast<std::size_t>(m.layers) + 1, 0);
    for (const Op& op : ops) ++per_layer[op.layer >= 0 ? static_cast<std::size_t>(op.layer) : per_layer.size() - 1];
    core::SimTime issued = core::SimTime::zero(), finished = core::SimTime::zero();
    for (std::size_t i = 0; i < ops.size(); ++i) {
      const bool in_layer = ops[i].layer >= 0;
      const std::size_t n = per_layer[in_layer ? static_cast<std::size_t>(ops[i].layer) : per_layer.size() - 1];
      const double share = (in_layer ? h->per_layer_s * static_cast<double>(microbatches) : h->fixed_s) / static_cast<double>(n);
      issued = issued + core::Duration::from_seconds(share);
      finished = std::max(finished, issued) + gpu[i];
    }
    p.host_time = issued.since_start();
    p.step_time = finished.since_start();
  }
  const auto peak = cost.gpu().peak(hardware::Dtype::kBf16);
  p.mfu = p.model_flops / (p.step_time.seconds() * peak->value());
  MemoryPlan plan;
  plan.micro_batch = mb;
  plan.microbatches = microbatches;
  plan.recompute = recompute;
  plan.eager_swiglu = eager;
  plan.eager_loss = eager;
  plan.fp32_residual = eager;
  plan.grads_on_demand = eager;
  p.memory = estimate_memory(m, plan);
  return p;
}

}  // namespace mfusim::workload
