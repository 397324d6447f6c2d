#pragma once
// The training-step part of a scenario: which cluster, which model, which parallel plan, how it trains,
// and at what fidelity the network and collectives are modelled.
//
//   cluster:   a topology (include: ../topologies/X.yaml, plus overrides), topology/cluster_builder.hpp
//   model:     a catalog name (workloads/models/NAME.yaml) or an inline model (schema mfusim-model/1)
//   parallel:  tp, pp, dp (default: what the cluster leaves), cp, ep, expert_tp (0 or left out: tp), virtual_stages,
//              first_stage_layers, last_stage_layers (0 or left out: automatic),
//              sequence_parallel, schedule (gpipe | 1f1b | interleaved | zb-h1 | dualpipe),
//              sharding (none | optimizer | gradients | parameters; zero1 | zero2 | zero3 | fsdp as aliases),
//              order (tp-cp-ep-dp-pp), cp_kind (ring | all-gather), moe_imbalance,
//              overlap_grad_reduce, overlap_param_gather, tp_comm_overlap, tp_backward_overlap,
//              ep_comm_overlap (default: on with dualpipe), ep_dispatcher (alltoall | deepep),
//              ep_fp8_dispatch (default: on with deepep and precision fp8),
//              bucket_size (elements)
//   training:  global_batch, micro_batch, seq_length (default: the model's), precision (bf16 | fp8),
//              recompute (none | selective | full | save_qkv_proj), recompute_modules (with selective: a
//              list of core_attn | layernorm | mla_up_proj | moe_act | mlp, default [core_attn]),
//              fp8_activations (with precision fp8: Linear inputs kept for the backward in FP8, as
//              DeepSeek-V3 does), optimizer (adamw), adam_moments (fp32 | bf16),
//              flop_convention (megatron | palm: which FLOP count MFU uses; both are reported),
//              attention (flash | unfused: Megatron-LM's pre-FlashAttention core attention),
//              dropout (probability, default 0: hidden and attention dropout kernels and masks),
//              kernels (fused: Megatron-LM / Transformer Engine fused kernels, bf16 parameters | eager:
//              plain PyTorch modules under bf16 autocast with fp32 parameters, workload::Shard::eager),
//              tokens_to_train (a plain number, e.g. 15e12: what time, energy and cost to train are for)
//   fidelity:  network (analytical | flow), collectives (analytical | flow)
//   power:     optional overrides of the catalog's power figures, pue (energy.hpp)
//   cost:      optional: gpu_hour_price, or capex_per_gpu + amortization + power_price; currency (energy.hpp)
// A plan that breaks a rule of parallel_plan.hpp, or that does not fit in GPU memory, is an input error
// naming the key and what would be valid. `training.check_memory: false` turns the memory check into a
// report (replays of runs that really ran, where a miss is the model's error, not the user's).
// Those plan errors are thrown as InfeasiblePlan, so `mfusim compare` can show them per scenario.
#include <memory>
#include <optional>

#include "config/config_error.hpp"
#include "config/reader.hpp"
#include "hardware/catalog.hpp"
#include "scenario/energy.hpp"
#include "topology/topology.hpp"
#include "workload/memory_model.hpp"
#include "workload/model_spec.hpp"
#include "workload/ops.hpp"
#include "workload/parallel_plan.hpp"

namespace mfusim::scenario {

enum class Fidelity { kAnalytical, kFlow };

// A well-formed plan that cannot run on this cluster (a rule of parallel_plan.hpp broken, or it does not
// fit in memory). Same message and exit code as any ConfigError.
class InfeasiblePlan : public config::ConfigError {
 public:
  using config::ConfigError::ConfigError;
};
enum class FlopConvention { kMegatron, kPalm };

struct TrainingSetup {
  std::unique_ptr<hardware::Catalog> catalog;  // the topology points into it
  topology::Topology topology;
  workload::ModelSpec model;
  workload::ParallelPlan plan;
  std::int64_t seq = 0;
  workload::Recompute recompute = workload::Recompute::kNone;
  // training.recompute_modules (with recompute: selective; Megatron-Core's --recompute-modules,
  // workload::RecomputeModule): core_attn (the default), layernorm, mla_up_proj, moe_act, mlp.
  workload::RecomputeModules recompute_modules = workload::kRecomputeCoreAttention;
  hardware::Dtype precision = hardware::Dtype::kBf16;
  Fidelity network = Fidelity::kAnalytical;
  Fidelity collectives = Fidelity::kAnalytical;
  FlopConvention flop_convention = FlopConvention::kMegatron;  // which one `mfu` reports
  bool flash_attention = true;  // training.attention (workload::Shard::flash_attention)
  bool cudnn_attention = false; // training.attention: cudnn (workload::Shard::cudnn_attention)
  double dropout = 0.0;         // training.dropout: probability; only > 0 matters for cost and memory
  bool eager = false;           // training.kernels: eager (workload::StepConfig::eager)
  bool fp8_activations = false; // training.fp8_activations (workload::MemoryPlan::fp8_activations)
  bool bf16_moments = false;    // training.adam_moments: bf16 (workload::MemoryPlan::bf16_moments)
  workload::MemoryBreakdown memory;  // per GPU, most loaded rank
  double memory_capacity = 0.0;      // bytes
  bool fits = true;                  // memory estimate within capacity
  std::optional<double> tokens_to_train;
  PowerSettings power;
  CostSettings cost;
};

// Reads the sections above from a scenario's top-level Reader. With `check_plan` false the parallel and
// training keys are still read and type-checked, but the plan's rules (parallel_plan.hpp) and the memory
// check are not applied: plan search (plan_search.hpp) reads the cluster and model that way and then
// builds plans of its own.
TrainingSetup read_training(config::Reader& r, bool check_plan = true);

workload::MemoryPlan memory_plan(const TrainingSetup& t);

// GPUs per node when every node has as many and GPUs are numbered node by node (GPU / n is its node),
// else 0 (workload::StepConfig::gpus_per_node).
std::int64_t gpus_per_node(const topology::Topology& topology);
// The memory plan of the setup's training keys with another parallel plan and recompute mode (plan search).
workload::MemoryPlan memory_plan(const TrainingSetup& t, const workload::ParallelPlan& plan, workload::Recompute recompute);

}  // namespace mfusim::scenario
