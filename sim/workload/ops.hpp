#pragma once
// Operator breakdown of a transformer training step on one GPU, after tensor (TP), sequence (SP),
// context (CP) and expert (EP) partitioning: every GEMM with its exact shape, fused attention, the
// memory-bound operators, for forward, backward (input and weight gradients separately) and
// recompute, plus the optimizer update. Each op carries the FLOPs it executes and the bytes it moves
// (bf16 activations and weights, 2 bytes per element, unless noted), and its "model FLOPs" under
// Megatron-LM's convention (num_floating_point_operations: every GEMM counted 3x for fwd, dgrad, wgrad;
// attention counted without the causal mask), so the sum over a step reproduces Megatron's MFU.
//
// Shapes, for a micro-batch of b sequences of length s on a rank with TP t, CP c (T = b*s/c tokens):
//   QKV     [T, h] x [h, (a + 2g) d / t]         (MLA: the down/up projections of DeepSeek-V2/V3)
//   attn    b*a/t heads, s/c queries against s keys (ring attention spreads the causal work evenly)
//   out     [T, a d / t] x [a d / t, h]
//   fc1     [T, h] x [h, 2f / t] (SwiGLU: gate and up fused) or [h, f / t]
//   fc2     [T, f / t] x [f / t, h]
//   MoE     router [T, h] x [h, E]; routed experts as a grouped GEMM of E/ep local experts with
//           T * top_k * imbalance / (E/ep) tokens each (tokens arrive from the whole EP group);
//           shared experts like a dense MLP of width S * f_s
//   logits  [T, h] x [h, V / t]
// Backward of a GEMM Y = X W: dgrad dX = dY W^T ([m, n] x [n, k]) and wgrad dW = X^T dY ([k, m] x
// [m, n]). Flash attention backward executes 2.5x the forward FLOPs (it recomputes QK^T; Dao 2023).
// With sequence parallelism, norms, residual adds and dropout-free elementwise ops run on T / t tokens.
// Causal attention executes half the FLOPs of the full product (masked blocks are skipped).
#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "compute/kernel.hpp"
#include "workload/model_spec.hpp"

namespace mfusim::workload {

enum class Phase : std::uint8_t { kForward, kBackwardInput, kBackwardWeight, kRecompute, kOptimizer };
std::string_view to_string(Phase p);

// kSaveQkv: recompute everything but the query/key/value projections, whose outputs are kept (MaxText's
// remat_policy save_qkv_proj: jax.checkpoint saving only the 'query_proj', 'key_proj', 'value_proj'
// names; the layer input is kept as the scan carry).
enum class Recompute : std::uint8_t { kNone, kSelective, kSaveQkv, kFull };  // in order of recomputation

// What Recompute::kSelective reruns: Megatron-Core's fine-grained recomputation (--recompute-granularity
// selective --recompute-modules; transformer_config.py, moe/README.md "Checkpointing"), a set of:
//   core_attn    the attention core (standard checkpoint: its Q, K, V inputs stay saved; the flash
//                kernel's softmax statistics, or the unfused core's s x s scores, are not kept)
//   layernorm    input_layernorm and pre_mlp_layernorm, output-discarding: the norm outputs the
//                following Linear layers keep (QKV / MLA down-projection input, fc1 / router input) are
//                freed and the norms rerun before the backward needs them
//   mla_up_proj  MLA's up-projections and RoPE, output-discarding: the per-head Q, K, V are freed (the
//                latents stay) and the q_up / kv_up GEMMs and RoPE rerun
//   moe_act      the routed experts' activation function, output-discarding: the fc2 input is freed
//   mlp          the dense MLP (standard checkpoint: only its input stays), fc1, activation and fc2
//                rerun, with the block's TP collectives
// Megatron-Core's default is core_attn alone, which is Megatron-LM's selective recomputation. DeepSeek-V3
// recomputes RMSNorm and the MLA up-projections (report section 3.3.2) and the SwiGLU output of its MoE
// (section 3.3.3): layernorm, mla_up_proj, moe_act. (Megatron-Core's `moe` and `shared_experts` modules,
// which rerun the token dispatch, are not modelled.)
enum RecomputeModule : std::uint8_t {
  kRecomputeCoreAttention = 1U << 0U,
  kRecomputeNorms = 1U << 1U,
  kRecomputeMlaUpProjection = 1U << 2U,
  kRecomputeMoeActivation = 1U << 3U,
  kRecomputeMlp = 1U << 4U,
};
using RecomputeModules = std::uint8_t;
// The modules with their Megatron-Core names and what each frees (one table for the scenario reader,
// its error messages and the run notes).
struct RecomputeModuleInfo {
  RecomputeModules bit;
  std::string_view name;
  std::string_view what;
};
inline constexpr std::array<RecomputeModuleInfo, 5> kRecomputeModuleTable{{
    {kRecomputeCoreAttention, "core_attn", "the attention core"},
    {kRecomputeNorms, "layernorm", "the two norms, their outputs freed"},
    {kRecomputeMlaUpProjection, "mla_up_proj", "MLA's up-projections and RoPE, per-head Q, K, V freed"},
    {kRecomputeMoeActivation, "moe_act", "the routed experts' activation, fc2 input freed"},
    {kRecomputeMlp, "mlp", "the dense MLP, only its input kept"},
}};
// Megatron-Core's names of the set bits, in the order above: "core_attn, layernorm".
std::string recompute_module_names(RecomputeModules modules);

// Bytes per element of an FP8 tensor with an fp32 scale per 1x128 tile (DeepSeek-V3 report section
// 3.3.2: activations and dispatched tokens): 1 + 4/128.
inline constexpr double kFp8TiledBytesPerElement = 1.0 + 4.0 / 128.0;

struct Shard {
  std::int64_t tp = 1;
  std::int64_t cp = 1;
  std::int64_t ep = 1;
  std::int64_t expert_tp = 1;  // tensor parallelism inside each expert (Megatron's expert_tensor_parallel_size)
  bool sequence_parallel = false;
  double moe_imbalance = 1.0;  // tokens on the busiest expert rank / the balanced share
  // Eager PyTorch under bf16 autocast with fp32 parameters (the single-GPU ground truth) instead of
  // Megatron's fused kernels: the residual stream and norms stay in fp32, each norm output is cast to
  // bf16 by a separate kernel, RoPE is five elementwise passes (rotate-half, two multiplies, add), the
  // attention output is copied when transposed back, and the loss upcasts the logits to fp32 (about
  // 14 B per logit forward and backward).
  bool eager = false;
  // Attention core implementation. Flash (default): one fused kernel, causal blocks skipped.
  // Unfused (Megatron-LM's "core attention" before FlashAttention, used by the SC'21 and Korthikanti
  // et al. 2022 runs): scores = baddbmm(Q, K^T) over the full s x s (no causal skipping), the fused
  // scale-mask-softmax kernel (reads the scores, writes the probabilities), attention dropout (reads
  // the probabilities, writes the dropped ones and a 1-byte mask), context = bmm(P, V); backward: the
  // four batched GEMMs dP = dO V^T, dV = P^T dO, dQ = dS K, dK = dS^T Q and the dropout and softmax
  // backward kernels (read gradient + mask or probabilities, write gradient). Every s x s tensor is
  // 2 bytes per element (fp16/bf16).
  bool flash_attention = true;
  // With flash_attention: cuDNN's fused attention (compute::AttentionShape::cudnn), which Transformer
  // Engine selects over FlashAttention on Hopper, instead of the flash backend's kernel. Same FLOPs,
  // bytes and memory; only the measured efficiency differs.
  bool cudnn_attention = false;
  // Hidden and attention dropout on (Megatron's bias-dropout-add writes a 1-byte mask per element;
  // with unfused attention, the attention dropout kernels above). Flash kernels fuse their dropout.
  bool dropout = false;
  // With Recompute::kSelective: which modules rerun (RecomputeModule bits).
  RecomputeModules recompute_modules = kRecomputeCoreAttention;
};

struct MicroBatch {
  std::int64_t batch = 1;  // sequences
  std::int64_t seq = 0;    // tokens per sequence
};

// Where an op sits inside a transformer block, so that the step lowering can place the tensor-,
// sequence- and expert-parallel collectives between segments (Megatron-LM's placement):
//   attention: norm1 .. residual1            [SP: all-gather before, reduce-scatter after; else all-reduce after]
//   mlp:       norm2 .. fc2 (dense) or norm2, router, top-k, permute (MoE)   [same TP collectives as attention]
//   experts:   the routed experts' GEMMs     [EP: all-to-all dispatch before, combine after]
//   combine:   unpermute, shared experts, residual2 (MoE)
enum class Segment : std::uint8_t { kNone, kAttention, kMlp, kExperts, kCombine };

struct Op {
  std::string name;       // "L3.fc1", "logits", "adamw"
  Segment segment = Segment::kNone;
  Phase phase = Phase::kForward;
  std::int64_t layer = -1;  // transformer block, -1 for embedding / head / optimizer
  compute::Kernel kernel;
  double model_flops = 0.0;  // Megatron convention (0 for recompute: it is not model work)
  // The same convention applied to all work executed, recomputation included: the HFU numerator, so
  // HFU >= MFU and they differ only by recomputation.
  double hardware_flops = 0.0;
  bool attention_core = false;  // one of the unfused attention core's kernels (backward emitted as a block)
  bool qkv_projection = false;  // a query/key/value projection GEMM (kept, not recomputed, by Recompute::kSaveQkv)
  RecomputeModules module = 0;  // the RecomputeModule whose selective recomputation reruns this forward op
  // Eager PyTorch only: the op comes after the last tensor its block saves for backward, so an
  // early-stopping checkpoint does not rerun it (see eager_recompute_cast).
  bool past_last_saved = false;
};

// Whether a layer's forward op runs again in the backward under a whole-layer recompute policy (kFull:
// every op; kSaveQkv: all but the q/k/v projections).
inline bool recomputed(const Op& forward_op, Recompute policy) {
  if (forward_op.past_last_saved) return false;
  return policy == Recompute::kFull || (policy == Recompute::kSaveQkv && !forward_op.qkv_projection);
}
// Eager PyTorch recomputes a block through torch.utils.checkpoint(use_reentrant=False), which stops the
// rerun as soon as every tensor the block saved for backward exists again ("early stop", on by default;
// docs.pytorch.org/docs/stable/checkpoint). The last tensors a dense block saves are the down
// projection's operands (the activation output and its bf16 weight), packed before that GEMM runs, so
// the down projection and the residual add after it are not rerun (layer_forward marks them
// past_last_saved). The rerun happens outside the forward's autocast region, whose cache of bf16 weight
// copies is gone: the block's weights on this rank are cast again, 4 B read + 2 B written each.
// (Megatron's own checkpoint function reruns the whole layer and casts nothing.)
Op eager_recompute_cast(const ModelSpec& m, std::int64_t layer, const Shard& s);
// One block's parameters on a rank of shard `s`: attention and norms split by TP, router whole, shared
// experts and a dense MLP by TP (`dense`); routed experts by EP x expert TP (`routed`, 0 for a dense
// layer). The one split the memory model, the step simulator and the eager recompute cast share.
struct BlockParameters {
  double dense = 0.0;
  double routed = 0.0;
};
BlockParameters block_parameters(const ModelSpec& m, std::int64_t layer, const Shard& s);

// The share of a micro-batch's T tokens one rank runs through its experts (Megatron-Core's
// dispatcher): the tokens it owns (1/tp with sequence parallelism, all with tp = 1) pooled over the
// expert-TP group (x expert_tp); with tp > 1 and no sequence parallelism (not a valid MoE plan:
// check_plan) the replicated T. Used by the expert ops and the memory model.
double moe_token_share(const Shard& s);
inline bool recomputes_layer(Recompute policy) { return policy == Recompute::kFull || policy == Recompute::kSaveQkv; }

// One transformer block: forward ops, or backward ops (with the recompute ops first when asked).
std::vector<Op> layer_forward(const ModelSpec& m, std::int64_t layer, const Shard& s, const MicroBatch& mb);
std::vector<Op> layer_backward(const ModelSpec& m, std::int64_t layer, const Shard& s, const MicroBatch& mb,
                               Recompute recompute);
// Embedding lookup (first pipeline stage) and output head: final norm, logits, cross-entropy (last).
std::vector<Op> embedding_forward(const ModelSpec& m, const Shard& s, const MicroBatch& mb);
std::vector<Op> embedding_backward(const ModelSpec& m, const Shard& s, const MicroBatch& mb);
// With MTP modules (ModelSpec::mtp_layers) the head's ops repeat once per module ("mtpK." names).
std::vector<Op> head_forward(const ModelSpec& m, const Shard& s, const MicroBatch& mb);
// One head, the decoder's.
std::vector<Op> decoder_head_forward(const ModelSpec& m, const Shard& s, const MicroBatch& mb);
std::vector<Op> decoder_head_backward(const ModelSpec& m, const Shard& s, const MicroBatch& mb);
std::vector<Op> head_backward(const ModelSpec& m, const Shard& s, const MicroBatch& mb);
// Fused AdamW over `parameters` local fp32 master parameters (30 bytes each: read fp32 param, fp32
// grad, two fp32 moments, write param and moments, and the bf16 copy used by forward/backward).
inline constexpr double kAdamBytesPerParameter = 30.0;
// Eager PyTorch keeps fp32 parameters and no bf16 copy: 28 bytes (param r+w, grad r, moments r+w).
inline constexpr double kAdamBytesPerParameterFp32Params = 28.0;
// Adam's moments in bf16 (DeepSeek-V3 report 3.3.3; Megatron-Core --use-precision-aware-optimizer with
// --exp-avg-dtype / --exp-avg-sq-dtype bf16): the two moments read and written at 2 B instead of 4.
inline constexpr double kBf16MomentsSavedBytes = 8.0;
Op optimizer_step(std::int64_t parameters, double bytes_per_parameter = kAdamBytesPerParameter);
// A memory-bound op of `bytes` bytes moved (reads + writes) of the given class.
Op memory(std::string name, Phase phase, std::int64_t layer, double bytes, compute::MemoryOpClass cls);
// Eager autocast with fp32 parameters, per parameter and micro-batch: the forward's cast of the fp32
// weight to bf16 (4 B read, 2 B written), and the backward's accumulation of the bf16 weight gradient
// into the fp32 .grad (2 B read, 4 B written): 6 B each.
inline constexpr double kAutocastBytesPerParameter = 6.0;

// Every op of one full training step on a single GPU (no pipeline): per micro-batch, embedding,
// all blocks and head forward, then backward in reverse; after all micro-batches, the optimizer.
std::vector<Op> single_gpu_step(const ModelSpec& m, const MicroBatch& mb, std::int64_t microbatches,
                                Recompute recompute, double adam_bytes_per_parameter = 30.0, bool eager = false);

// Megatron-LM's num_floating_point_operations(args, batch_size) for a global batch of `sequences`
// sequences of length `seq`, generalised to models whose first layers are dense (MoE layers use
// top_k x expert_ffn, dense layers ffn) and to MLA (its projections replace the QKV term). Does not
// count the MoE router GEMM (Megatron omits it).
double megatron_model_flops(const ModelSpec& m, std::int64_t sequences, std::int64_t seq);

// PaLM's convention (Chowdhery et al. 2022, appendix B): 6 N + 12 L H Q T FLOPs per token, N the
// (active) parameters that take part in matrix multiplies (embedding lookups excluded: the token
// embedding counts once, as the output layer, when tied), H heads, Q head dimension, T sequence length.
double palm_model_flops(const ModelSpec& m, std::int64_t sequences, std::int64_t seq);

}  // namespace mfusim::workload
