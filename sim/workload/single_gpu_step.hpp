#pragma once
// Prediction of one training step on one GPU (no parallelism): every op of single_gpu_step() runs on
// one stream, back to back, so the step time is the sum of the kernel times from the KernelCostModel;
// memory is estimate_memory() for the same plan. This is how mfusim is checked against measured
// single-GPU steps (workloads/calibration/<gpu>/training_steps.yaml, docs/validation.md).
#include <filesystem>
#include <map>
#include <vector>
#include <string>

#include "compute/kernel_cost_model.hpp"
#include "core/time.hpp"
#include "workload/memory_model.hpp"
#include "workload/model_spec.hpp"
#include "workload/ops.hpp"

namespace mfusim::workload {

// Host (CPU) time eager PyTorch needs to dispatch one step, fitted per model family and recompute mode
// from the host-overhead probes (workloads/calibration/<gpu>/host_probes.yaml: the same block code at
// negligible GPU cost, at 8 and 32 layers): host = fixed + layers x per_layer, fixed clamped at >= 0.
// The GPU cannot run ahead of the host: the step is simulated as a launch queue, each kernel issued
// after its share of the host time (its layer's cost spread over the layer's kernels) and started when
// issued and when the previous kernel ends.
struct HostOverhead {
  std::string family;
  Recompute recompute = Recompute::kNone;
  double per_layer_s = 0.0;
  double fixed_s = 0.0;
};
std::vector<HostOverhead> fit_host_overheads(const std::filesystem::path& probes_file);

struct StepPrediction {
  core::Duration step_time;    // end of the launch queue (= gpu_time without host overheads)
  core::Duration gpu_time;     // sum of kernel times
  core::Duration host_time;    // eager dispatch (zero without a host-overhead table)
  std::map<Phase, core::Duration> by_phase;
  std::size_t kernels = 0;
  double model_flops = 0.0;  // Megatron convention
  double mfu = 0.0;          // model FLOPs / (step time x dense bf16 peak)
  MemoryBreakdown memory;
};

// `eager`: the step runs as eager PyTorch (autocast bf16, fp32 parameters), which changes which
// activations are kept (see MemoryPlan).
StepPrediction predict_single_gpu_step(const ModelSpec& m, const MicroBatch& mb, std::int64_t microbatches,
                                       Recompute recompute, const compute::KernelCostModel& cost, bool eager,
                                       const std::vector<HostOverhead>& host = {});

}  // namespace mfusim::workload
