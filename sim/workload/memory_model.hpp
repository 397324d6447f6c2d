#pragma once
// Memory per GPU for one training plan: the most loaded rank. Every pipeline stage is estimated with
// its own layers (their indices matter: MoE models with leading dense layers), the embedding on the
// first stage, the output layer and the loss's logits on the last (with tied embeddings and pp > 1 also
// the last stage's copy of the word embedding), and the micro-batches that stage holds in flight; the
// peak is the largest stage.
//
// Model states (mixed precision with fp32 master weights, Adam; Megatron-LM's accounting):
//   bf16 weights 2 B + fp32 gradient buffer 4 B + fp32 master weight 4 B + Adam moments 8 B = 18 B per
//   parameter. Distributed optimizer / ZeRO-1 shards the 12 B of optimizer state over DP: 6 + 12/dp.
//   ZeRO-2 also shards gradients: 2 + 16/dp (plus one reduce bucket). ZeRO-3 / FSDP shards weights
//   too: 18/dp, plus the gathered bf16 weights of the layers in flight (current + prefetched).
//   Parameters on the rank: the stage's transformer blocks / tp (expert weights / (ep x expert_tp)),
//   plus the embedding / tp on the first stage and the output layer / tp on the last.
//
// Activations (Korthikanti et al., "Reducing Activation Recomputation in Large Transformer Models",
// MLSys 2023, Table 2, generalised to GQA, SwiGLU, MoE and flash attention). Bytes per token per layer,
// bf16, with r = a*d/h and k = g/a:
//   outside TP regions (divided by tp only with sequence parallelism):
//     LN inputs 4h + QKV input 2h + fc1 input 2h (+ two dropout masks 2h when dropout is on)
//   inside TP regions (divided by tp):
//     Q, K, V 2h*r*(1 + 2k) + attention output 2h*r + MLP: fc1 output 2f (x2 for SwiGLU) + fc2 input 2f
//     + without flash attention, softmax 2as + its dropout mask as + softmax output for PV 2as
//     + with flash attention, the fp32 log-sum-exp 4a
//   selective recompute drops the softmax terms; full recompute keeps only the layer input 2h.
// With GPT-3's shape (r = 1, k = 1, f = 4h, dropout, no flash) this is 34h + 5as (the paper's figure),
// and 18h + 4f under selective recompute (Megatron's theoretical_memory_usage.py).
// In flight on stage s: 1 micro-batch without PP; min(m, pp - s) micro-batches of its layers for 1F1B;
// m for GPipe; min(m v, 2 (pp - s - 1) + (v - 1) pp + 1) chunks of 1/v of its layers for interleaving
// (on stage 0: pp (1 + (pp - 1)/(pp v)), Korthikanti et al.'s factor). DualPipe (DeepSeek-V3, Table 2):
// rank s holds pipeline positions s and pp - 1 - s of the two directions (2x parameters: the first
// and last ranks both hold the embedding and the output layer) and pp + 1 positions' activations.
// Context parallelism divides the tokens per rank by cp.
#include <string>
#include <vector>

#include "core/units.hpp"
#include "workload/model_spec.hpp"
#include "workload/ops.hpp"

namespace mfusim::workload {

enum class Sharding { kNone, kOptimizer, kGradients, kParameters };  // none, ZeRO-1 (dist. opt.), ZeRO-2, ZeRO-3/FSDP
enum class PipelineKind { kNone, kGpipe, kOneFOneB, kInterleaved, kDualPipe };

struct MemoryPlan {
  Shard shard;
  std::int64_t pp = 1;
  std::int64_t virtual_stages = 1;  // interleaved 1F1B chunks per rank
  std::int64_t first_stage_layers = 0;  // ParallelPlan::first_stage_layers / last_stage_layers (0: automatic)
  std::int64_t last_stage_layers = 0;
  // Ranks the sharded states are split over (ParallelPlan::shard_ranks: the shard group's data-parallel
  // ranks with their context-parallel peers); routed experts' states over expert_dp (ParallelPlan::expert_dp).
  std::int64_t dp = 1;
  std::int64_t expert_dp = 1;
  PipelineKind pipeline = PipelineKind::kNone;
  std::int64_t microbatches = 1;    // per pipeline per step
  // Overlapped forward/backward pairs outside DualPipe (ParallelPlan::ep_comm_overlap): a paired forward
  // builds its activations while the backward it is paired with still holds its own, so one micro-batch
  // more is in flight, at most m (DualPipe's pp + 1 positions already count it). Megatron-Core's
  // Combined 1F1B documentation likewise asks for memory headroom.
  bool overlapped_pairs = false;
  MicroBatch micro_batch;
  Recompute recompute = Recompute::kNone;
  Sharding sharding = Sharding::kNone;
  // Attention implementation and dropout: shard.flash_attention and shard.dropout (ops.hpp).
  // Eager PyTorch keeps SiLU's input, its output and the up projection for the SwiGLU product (3 x 2f)
  // where Megatron's fused bias-SwiGLU keeps only the fused fc1 output (2 x 2f).
  bool eager_swiglu = false;
  // Eager PyTorch computes the loss from fp32 logits: it keeps the bf16 logits (2 B), the fp32
  // log-softmax (4 B) and, at the start of backward, the fp32 logit gradient (4 B) per logit: 10 B per
  // logit where Megatron's fused vocab-parallel cross-entropy keeps 4 B (its 4sbh(1 + V/h) term).
  bool eager_loss = false;
  // Eager PyTorch: the residual stream is fp32, so the two norm inputs kept per layer take 4 B per
  // element (8h per token instead of 4h).
  bool fp32_residual = false;
  // Eager PyTorch with zero_grad(set_to_none=True) allocates gradients during backward as activations
  // are freed: the peak is the larger of (states without gradients + activations) at the start of
  // backward and (states with gradients) at the optimizer step. Megatron keeps a persistent
  // gradient buffer, so gradients count at all times.
  bool grads_on_demand = false;
  // Bytes per element of the gradient buffer (ParallelPlan::grad_reduce_bytes). With 16-bit gradients
  // the mixed-precision optimizer copies its (shard of the) gradients to fp32 at the step (Megatron's
  // Float16OptimizerWithFloat16Params / DistributedOptimizer: main_param.grad = model_grad.float()),
  // freed by zero_grad before the next forward: 4 B per optimizer-owned parameter, counted at the
  // optimizer step only.
  double grad_bytes = 4.0;
  // FP8 training that keeps the FP8 copies of the Linear layers' inputs for the backward instead of the
  // bf16 tensors (DeepSeek-V3 report, section 3.3.3 "Low-Precision Storage"): each such activation takes
  // 1 B plus an fp32 scale per 128 values (1x128 tiles) instead of 2 B. Linear inputs: the QKV / MLA
  // down-projection input, MLA's latents, the fc1 / router input, fc2's input, the routed experts'
  // inputs; the routed experts' SwiGLU input is kept in FP8 too (same section). The attention output
  // (DeepSeek: a 12-bit E5M6 format) and everything else stay 2 B.
  bool fp8_activations = false;
  // Adam's two moments in bf16 (ops.hpp, kBf16MomentsSavedBytes): optimizer states of 4 + 2 + 2 B per
  // parameter instead of 4 + 4 + 4.
  bool bf16_moments = false;
};

struct MemoryItem {
  std::string name;
  double bytes = 0.0;
};

struct MemoryBreakdown {
  std::vector<MemoryItem> items;  // weights, gradients, optimizer states, activations, ...
  double parameters_on_rank = 0.0;
  double activation_bytes_per_layer = 0.0;  // one micro-batch, one layer, this rank
  double total_bytes = 0.0;
  std::int64_t stage = 0;  // the pipeline stage this breakdown is for (estimate_memory: the peak stage)
  // The three largest items, for "does not fit" messages.
  std::vector<MemoryItem> largest(std::size_t n = 3) const;
};

// One pipeline stage's breakdown (stage in [0, pp)).
MemoryBreakdown estimate_stage(const ModelSpec& m, const MemoryPlan& plan, std::int64_t stage);
// The most loaded pipeline stage's breakdown (ties: the earliest stage).
MemoryBreakdown estimate_memory(const ModelSpec& m, const MemoryPlan& plan);

// Activation bytes per token of one transformer block on this rank (see the header comment).
double activation_bytes_per_token(const ModelSpec& m, std::int64_t layer, const MemoryPlan& plan);

}  // namespace mfusim::workload
