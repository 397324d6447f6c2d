#include "workload/single_gpu_step.hpp"

namespace mfusim::workload {

StepPrediction predict_single_gpu_step(const ModelSpec& m, const MicroBatch& mb, std::int64_t microbatches,
                                       Recompute recompute, const compute::KernelCostModel& cost, bool eager) {
  StepPrediction p;
  const double adam = eager ? kAdamBytesPerParameterFp32Params : kAdamBytesPerParameter;
  for (const Op& op : single_gpu_step(m, mb, microbatches, recompute, adam)) {
    const core::Duration t = cost.time(op.kernel);
    p.step_time += t;
    p.by_phase[op.phase] += t;
    p.model_flops += op.model_flops;
    ++p.kernels;
  }
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
  p.memory = estimate_memory(m, plan);
  return p;
}

}  // namespace mfusim::workload
