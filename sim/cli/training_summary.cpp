#include "cli/training_summary.hpp"

#include <string>

namespace mfusim::cli {

void add_training_summary(const scenario::Scenario& sc, const scenario::SimulationResult& r, report::RunSummary& s) {
  const auto& t = *sc.training;
  const auto& step = *r.step;
  const double gpus = static_cast<double>(t.plan.gpus());
  const double seconds = step.step_time.seconds();
  s.metrics.push_back({"gpus", "GPUs", gpus, "GPUs"});
  // A run stopped by --max-events, --time-limit or --max-wall (or stalled) has not finished its step:
  // rates over a partial step would be wrong, so only what is known is reported (memory, the breakdown
  // so far, the simulated time reached).
  const bool palm = t.flop_convention == scenario::FlopConvention::kPalm;
  const bool partial = r.run.status != core::RunStatus::kCompleted;
  if (partial) {
    s.notes.push_back("partial report: the run stopped (" + std::string(core::to_string(r.run.status)) +
                      ") before the step finished; step time is the simulated time reached and tokens/s, MFU and "
                      "HFU are not reported");
  }
  if (!partial) {
    s.metrics.push_back({"tokens_per_s", "tokens/s", seconds > 0 ? step.tokens / seconds : 0.0, "tokens/s"});
    s.metrics.push_back({"tokens_per_s_per_gpu", "tokens/s/GPU", seconds > 0 ? step.tokens / seconds / gpus : 0.0, "tokens/s"});
    const double palm_mfu =
        seconds > 0 ? workload::palm_model_flops(t.model, t.plan.global_batch, t.seq) /
                          (seconds * gpus * t.topology.gpu_spec->peak(hardware::Dtype::kBf16)->value())
                    : 0.0;
    s.metrics.push_back({"mfu", palm ? "MFU (PaLM FLOPs)" : "MFU (Megatron FLOPs)", palm ? palm_mfu : step.mfu, ""});
    s.metrics.push_back({"mfu_megatron", "MFU, Megatron convention", step.mfu, ""});
    s.metrics.push_back({"mfu_palm", "MFU, PaLM convention", palm_mfu, ""});
    s.metrics.push_back({"hfu", "HFU (incl. recompute)", step.hfu, ""});
  }
  s.metrics.push_back({"model_flops_per_step", "model FLOPs/step", step.model_flops, "FLOP"});
  s.metrics.push_back({"peak_memory_bytes", "peak memory/GPU", t.memory.total_bytes, "B"});
  s.metrics.push_back({"memory_capacity_bytes", "GPU memory capacity", t.memory_capacity, "B"});
  s.metrics.push_back({"critical_rank", "critical rank", static_cast<double>(step.critical_rank), ""});
  const auto& b = step.breakdown;
  s.breakdown.push_back({"compute_s", "compute", b.compute.seconds(), "s"});
  if (b.recompute > core::Duration::zero()) s.breakdown.push_back({"recompute_s", "recompute", b.recompute.seconds(), "s"});
  for (const auto& [dim, d] : b.exposed) {
    const std::string name(workload::to_string(dim));
    s.breakdown.push_back({"exposed_" + name + "_s", "exposed " + name + " communication", d.seconds(), "s"});
  }
  s.breakdown.push_back({"bubble_s", "pipeline bubble", b.bubble.seconds(), "s"});
  s.breakdown.push_back({"optimizer_s", "optimizer", b.optimizer.seconds(), "s"});
  s.breakdown.push_back({"other_s", "other", b.other.seconds(), "s"});
  for (const auto& item : t.memory.items) {
    std::string key;
    for (char c : item.name) {
      if (c == ' ' || c == '(' || c == ')' || c == '+' || c == '/') {
        if (!key.empty() && key.back() != '_') key += '_';
      } else {
        key += c;
      }
    }
    while (!key.empty() && key.back() == '_') key.pop_back();
    s.memory.push_back({key, item.name, item.bytes, "B"});
  }
  s.notes.push_back("kernel times " + r.calibration);
  s.notes.push_back(std::string("communication: NCCL-style collectives (algorithm and protocol chosen as NCCL's tuner does), ") +
                    (t.collectives == scenario::Fidelity::kFlow ? "flow fidelity: max-min sharing of links among all groups"
                                                                : "analytical fidelity: no contention between groups"));
  s.notes.push_back(palm ? "MFU uses PaLM's 6N + 12 L H Q T FLOPs per token (training.flop_convention)"
                         : "MFU uses Megatron-LM's FLOP convention (attention counted without the causal mask; "
                           "training.flop_convention: palm for PaLM's)");
}

}  // namespace mfusim::cli
