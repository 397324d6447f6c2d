#pragma once
// Measured single-GPU training steps (workloads/calibration/<gpu>/training_steps.yaml, schema
// mfusim-training-steps/1, written by workloads/calibration/measure_training_steps.py) and mfusim's
// predictions for the same configurations.
#include <filesystem>
#include <string>
#include <vector>

#include "compute/kernel_cost_model.hpp"
#include "workload/model_spec.hpp"
#include "workload/ops.hpp"
#include "workload/single_gpu_step.hpp"

namespace mfusim::workload {

struct MeasuredStep {
  std::string id;
  ModelSpec model;
  std::int64_t micro_batch = 1;
  Recompute recompute = Recompute::kNone;
  std::string status;  // ok | oom | ...
  double step_time_s = 0.0;
  double peak_allocated_gib = 0.0;
  double mfu = 0.0;
  // Host time to enqueue one step (0 when not recorded). Close to step_time_s only for host-bound
  // steps: once ~1000 launches are queued the host blocks, so for GPU-bound steps it is not a host cost.
  double host_enqueue_time_s = 0.0;
  // Median phase times (0 when not recorded): forward with zero_grad and the loss, backward, optimizer.
  double fwd_time_s = 0.0, bwd_time_s = 0.0, optimizer_time_s = 0.0;
  // Host-bound: the host's enqueue time is at least 80% of the step (docs/validation.md).
  bool host_bound() const { return host_enqueue_time_s >= 0.8 * step_time_s; }
};

// Throws ConfigError on a malformed file. Models are rebuilt from each run's fields (family gpt:
// LayerNorm with bias, GELU, learned positions, linear biases, tied embeddings; llama: RMSNorm, SwiGLU,
// RoPE, no biases, untied embeddings), as the measuring script defines them.
std::vector<MeasuredStep> load_measured_steps(const std::filesystem::path& file);

struct GroundTruthRow {
  MeasuredStep measured;
  StepPrediction predicted;
  double time_error = 0.0;    // predicted / measured - 1
  double memory_error = 0.0;  // predicted peak / measured peak allocated - 1
};

std::vector<GroundTruthRow> compare_single_gpu(const std::vector<MeasuredStep>& runs, const compute::KernelCostModel& cost,
                                               const std::vector<HostOverhead>& host = {});

}  // namespace mfusim::workload
