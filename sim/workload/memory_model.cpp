#include "workload/memory_model.hpp"

#include "workload/parallel_plan.hpp"

#include <algorithm>
#include <cmath>

namespace mfusim::workload {
namespace {
double d(std::int64_t v) { return static_cast<double>(v); }
}  // namespace

std::vector<MemoryItem> MemoryBreakdown::largest(std::size_t n) const {
  std::vector<MemoryItem> sorted = items;
  std::stable_sort(sorted.begin(), sorted.end(), [](const MemoryItem& a, const MemoryItem& b) { return a.bytes > b.bytes; });
  if (sorted.size() > n) sorted.resize(n);
  return sorted;
}

double activation_bytes_per_token(const ModelSpec& m, std::int64_t layer, const MemoryPlan& plan) {
  const double h = d(m.hidden);
  const double t = d(plan.shard.tp);
  const double sp = plan.shard.sequence_parallel ? t : 1.0;
  if (plan.recompute == Recompute::kFull) return 2.0 * h / sp;
  const double r = d(m.heads * m.head_dim) / h;
  const double k = d(m.kv_heads) / d(m.heads);
  const double a = d(m.heads);
  if (plan.recompute == Recompute::kSaveQkv) {
    // The layer input and the kept q, k, v projection outputs (MLA: the per-head Q, K, V).
    double qkv = 2.0 * h * r * (1.0 + 2.0 * k);
    if (m.mla) {
      const MlaSpec& x = *m.mla;
      const double qk = d(x.qk_nope_head_dim + x.qk_rope_head_dim);
      qkv = 2.0 * a * (qk + qk + d(x.v_head_dim));
    }
    return 2.0 * h / sp + qkv / t;
  }
  const double s = d(plan.micro_batch.seq);
  double outside = 8.0 * h + (plan.shard.dropout ? 2.0 * h : 0.0) + (plan.fp32_residual ? 4.0 * h : 0.0);
  double inside = 2.0 * h * r * (1.0 + 2.0 * k) + 2.0 * h * r;
  if (m.mla) {
    // MLA keeps the latent inputs of the up-projections and the full per-head Q, K, V.
    const MlaSpec& x = *m.mla;
    const double qk = d(x.qk_nope_head_dim + x.qk_rope_head_dim);
    inside = 2.0 * (d(x.q_lora_rank) + d(x.kv_lora_rank + x.qk_rope_head_dim)) +
             2.0 * a * (qk + qk + d(x.v_head_dim)) + 2.0 * a * d(x.v_head_dim);
  }
  const bool glu = m.activation == Activation::kSwiGlu;
  const double glu_factor = glu ? (plan.eager_swiglu ? 3.0 : 2.0) : 1.0;
  double experts = 0.0;  // per token of T; split as below
  if (m.is_moe_layer(layer)) {
    const MoeSpec& e = *m.moe;
    const double routed = d(e.top_k) * plan.shard.moe_imbalance;
    // Permuted copies of the routed tokens' inputs, expert MLP terms for top_k tokens, router probs.
    experts = routed * (2.0 * h + 2.0 * d(e.expert_ffn) * glu_factor + 2.0 * d(e.expert_ffn));
    inside += d(e.shared_experts) * (2.0 * d(e.shared_expert_ffn) * glu_factor + 2.0 * d(e.shared_expert_ffn));
    outside += 4.0 * d(e.experts);
  } else {
    inside += 2.0 * d(m.ffn) * glu_factor + 2.0 * d(m.ffn);
  }
  if (plan.recompute != Recompute::kSelective) {
    inside += plan.shard.flash_attention ? 4.0 * a : (plan.shard.dropout ? 5.0 : 4.0) * a * s;
  }
  // Expert terms: a rank runs T / tp x expert_tp of the T tokens at width f / expert_tp with sequence
  // parallelism (ops.cpp, moe_tokens_per_rank), all T at f / expert_tp without: per token of T, 1/tp or
  // 1/expert_tp.
  const double expert_split = plan.shard.sequence_parallel ? t : d(plan.shard.expert_tp);
  return outside / sp + inside / t + experts / expert_split;
}

MemoryBreakdown estimate_memory(const ModelSpec& m, const MemoryPlan& plan) {
  MemoryBreakdown b;
  const Shard& sh = plan.shard;
  const double tp = d(sh.tp);
  // The first stage: its chunk(s) of the model (parallel_plan.hpp's split).
  const std::int64_t positions = plan.pp * plan.virtual_stages;
  double layers_here = 0.0;
  for (std::int64_t c = 0; c < plan.virtual_stages; ++c) layers_here += d(layers_at_position(m.layers, positions, c * plan.pp));
  // Parameters on this rank (first stage).
  double params = 0.0, expert = 0.0;  // expert: the routed experts' share of params
  for (std::int64_t l = 0; l < static_cast<std::int64_t>(layers_here); ++l) {
    const BlockParameters block = block_parameters(m, l, sh);
    params += block.dense + block.routed;
    expert += block.routed;
  }
  params += d(m.embedding_parameters()) / tp;
  if (plan.pp == 1) params += d(m.output_parameters()) / tp;
  b.parameters_on_rank = params;

  // Sharded over dp ranks (dense parameters) and expert_dp ranks (routed experts): the per-rank count
  // of a sharded state of `bytes` per parameter.
  const double dense = params - expert;
  const auto sharded = [&](double bytes) { return bytes * (dense / d(plan.dp) + expert / d(std::max<std::int64_t>(1, plan.expert_dp))); };
  double weights = 2.0 * params, grads = plan.grad_bytes * params, optimizer = 12.0 * params;
  const double fp32_copy_bytes = plan.grad_bytes < 4.0 && !plan.grads_on_demand ? 4.0 : 0.0;
  double fp32_grad_copy = fp32_copy_bytes * params;
  switch (plan.sharding) {
    case Sharding::kNone: break;
    case Sharding::kOptimizer: optimizer = sharded(12.0); fp32_grad_copy = sharded(fp32_copy_bytes); break;
    case Sharding::kGradients:
      optimizer = sharded(12.0);
      fp32_grad_copy = sharded(fp32_copy_bytes);
      grads = sharded(plan.grad_bytes);
      break;
    case Sharding::kParameters: {
      optimizer = sharded(12.0);
      fp32_grad_copy = sharded(fp32_copy_bytes);
      grads = sharded(plan.grad_bytes);
      // Sharded weights plus the gathered bf16 weights of two layers (current + prefetched).
      weights = sharded(2.0) + 2.0 * 2.0 * params / std::max(1.0, layers_here);
      break;
    }
  }
  b.items.push_back({"weights (bf16)", weights});
  b.items.push_back({plan.grad_bytes < 4.0 ? "gradients (16-bit)" : "gradients (fp32)", grads});
  b.items.push_back({"optimizer states (fp32 master + Adam)", optimizer});

  const double tokens = d(plan.micro_batch.batch) * d(plan.micro_batch.seq) / d(sh.cp);
  double per_mb = 0.0;  // all layers of this stage, one micro-batch
  for (std::int64_t l = 0; l < static_cast<std::int64_t>(layers_here); ++l) per_mb += activation_bytes_per_token(m, l, plan) * tokens;
  b.activation_bytes_per_layer = per_mb / std::max(1.0, layers_here);
  double in_flight = 1.0;
  switch (plan.pipeline) {
    case PipelineKind::kNone: in_flight = 1.0; break;
    case PipelineKind::kGpipe: in_flight = d(plan.microbatches); break;
    case PipelineKind::kOneFOneB: in_flight = d(std::min(plan.microbatches, plan.pp)); break;
    case PipelineKind::kInterleaved:
      in_flight = d(std::min(plan.microbatches, plan.pp)) * (1.0 + d(plan.pp - 1) / d(plan.pp * plan.virtual_stages));
      break;
  }
  b.items.push_back({"activations (" + std::to_string(static_cast<int>(in_flight)) + " micro-batches in flight)", per_mb * in_flight});
  // Embedding stage: token ids (int64) and the embedding output per in-flight micro-batch.
  const double sp = sh.sequence_parallel ? tp : 1.0;
  b.items.push_back({"embedding activations", in_flight * tokens * (8.0 + (plan.shard.dropout ? 2.0 * d(m.hidden) / sp : 0.0))});
  if (plan.pp == 1) {
    // Output layer input and fp32 logits / softmax for the loss (Megatron: 4sbh(1 + V/h) / tp).
    const double per_logit = plan.eager_loss ? 10.0 : 4.0;
    b.items.push_back({"output layer and loss", tokens * (4.0 * d(m.hidden) + per_logit * d(m.vocab)) / tp});
  }
  for (const auto& i : b.items) b.total_bytes += i.bytes;
  if (plan.grads_on_demand) {
    // max(start of backward: everything but the gradients, optimizer step: model states only).
    b.total_bytes = std::max(b.total_bytes - grads, weights + grads + optimizer);
  }
  if (fp32_grad_copy > 0.0) {
    // The optimizer step's fp32 gradient copy exists only between the step and the next zero_grad,
    // while no activations are held: max(training phase, optimizer step).
    b.items.push_back({"fp32 gradient copy (optimizer step only)", fp32_grad_copy});
    b.total_bytes = std::max(b.total_bytes, weights + grads + optimizer + fp32_grad_copy);
  }
  return b;
}

}  // namespace mfusim::workload
