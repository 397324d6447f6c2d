#include "workload/memory_model.hpp"

#include "workload/parallel_plan.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>

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
  // Selective recomputation's modules (ops.hpp, RecomputeModule): what each frees is subtracted below.
  const RecomputeModules rerun = plan.recompute == Recompute::kSelective ? plan.shard.recompute_modules : RecomputeModules{0};
  // A Linear input kept in FP8 (MemoryPlan::fp8_activations): (1 + 4/128) B per element for 2 B.
  const double q8 = plan.fp8_activations ? kFp8TiledBytesPerElement / 2.0 : 1.0;
  // The two norm inputs, the two norm outputs (QKV and fc1 / router inputs; freed by layernorm
  // recomputation), dropout masks, the fp32 residual's extra bytes.
  double outside = 4.0 * h + ((rerun & kRecomputeNorms) != 0 ? 0.0 : 4.0 * h * q8) + (plan.shard.dropout ? 2.0 * h : 0.0) +
                   (plan.fp32_residual ? 4.0 * h : 0.0);
  // An MTP module's input: its two norms' inputs (4h) and the projection's [2h] input (4h).
  if (m.is_mtp_layer(layer)) outside += 8.0 * h;
  double inside = 2.0 * h * r * (1.0 + 2.0 * k) + 2.0 * h * r;
  if (m.mla) {
    // MLA keeps the latent inputs of the up-projections and the full per-head Q, K, V (freed by
    // mla_up_proj recomputation).
    const MlaSpec& x = *m.mla;
    const double qk = d(x.qk_nope_head_dim + x.qk_rope_head_dim);
    inside = 2.0 * (d(x.q_lora_rank) + d(x.kv_lora_rank)) * q8 + 2.0 * d(x.qk_rope_head_dim) +
             ((rerun & kRecomputeMlaUpProjection) != 0 ? 0.0 : 2.0 * a * (qk + qk + d(x.v_head_dim))) +
             2.0 * a * d(x.v_head_dim);
  }
  const bool glu = m.activation == Activation::kSwiGlu;
  const double glu_factor = glu ? (plan.eager_swiglu ? 3.0 : 2.0) : 1.0;
  double experts_h = 0.0, experts_f = 0.0;  // per token of T, at width h and f; split as below
  if (m.is_moe_layer(layer)) {
    const MoeSpec& e = *m.moe;
    const double routed = d(e.top_k) * plan.shard.moe_imbalance;
    // The routed tokens' inputs to the first expert GEMM (width h), the expert MLP's terms (width f)
    // for top_k tokens, router probs.
    experts_h = routed * 2.0 * h * q8;
    // moe_act recomputation frees the activation's output (the fc2 input).
    experts_f = routed * (2.0 * d(e.expert_ffn) * glu_factor * q8 +
                          ((rerun & kRecomputeMoeActivation) != 0 ? 0.0 : 2.0 * d(e.expert_ffn) * q8));
    inside += d(e.shared_experts) * (2.0 * d(e.shared_expert_ffn) * glu_factor + 2.0 * d(e.shared_expert_ffn) * q8);
    outside += 4.0 * d(e.experts);
  } else if ((rerun & kRecomputeMlp) == 0) {  // mlp recomputation keeps only the MLP's input (outside)
    inside += 2.0 * d(m.ffn) * glu_factor + 2.0 * d(m.ffn) * q8;
  }
  if ((rerun & kRecomputeCoreAttention) == 0) {
    inside += plan.shard.flash_attention ? 4.0 * a : (plan.shard.dropout ? 5.0 : 4.0) * a * s;
  }
  // Expert terms: a rank runs moe_token_share x T tokens (ops.hpp), the width-h inputs whole and the
  // width-f terms split expert_tp ways.
  const double pooled = moe_token_share(plan.shard);
  return outside / sp + inside / t + experts_h * pooled + experts_f * pooled / d(std::max<std::int64_t>(1, plan.shard.expert_tp));
}

namespace {

// Micro-batches' worth of this stage's layers held at once by pipeline stage `stage` (activations of
// a micro-batch live from its forward to its backward on the stage):
//   no pipeline: 1; GPipe: m (all forwards before any backward);
//   1F1B: min(m, pp - s) (s's warm-up forwards pp - s - 1, plus the one in steady state);
//   interleaved (v chunks per rank): Megatron's warm-up is 2 (pp - s - 1) + (v - 1) pp chunk-forwards
//   (capped at m v), plus one in steady state; a chunk is 1/v of the stage's layers. On stage 0 this is
//   pp (1 + 1/v) - 1/v = pp (1 + (pp - 1)/(pp v)), Korthikanti et al.'s interleaving factor.
// With overlapped pairs (MemoryPlan::overlapped_pairs) a paired forward builds its activations while its
// backward partner still holds its own: one micro-batch more (at most m); interleaved, one chunk more
// (Megatron-Core's combined 1F1B runs one more warm-up chunk-forward, ScheduleShape::combined); DualPipe's
// pp + 1 positions already count it.
double micro_batches_in_flight_of_schedule(const MemoryPlan& plan, std::int64_t stage, std::int64_t extra_chunks);
double micro_batches_in_flight(const MemoryPlan& plan, std::int64_t stage) {
  const bool paired = plan.overlapped_pairs && plan.pipeline != PipelineKind::kDualPipe;
  if (plan.pipeline == PipelineKind::kInterleaved) return micro_batches_in_flight_of_schedule(plan, stage, paired ? 1 : 0);
  const double n = micro_batches_in_flight_of_schedule(plan, stage, 0);
  return paired ? std::min(n + 1.0, d(plan.microbatches)) : n;
}
double micro_batches_in_flight_of_schedule(const MemoryPlan& plan, std::int64_t stage, std::int64_t extra_chunks) {
  switch (plan.pipeline) {
    case PipelineKind::kNone: return 1.0;
    case PipelineKind::kGpipe: return d(plan.microbatches);
    case PipelineKind::kOneFOneB: return d(std::min(plan.microbatches, plan.pp - stage));
    case PipelineKind::kInterleaved: {
      const std::int64_t v = plan.virtual_stages;
      const std::int64_t chunks =
          std::min(plan.microbatches * v, 2 * (plan.pp - stage - 1) + (v - 1) * plan.pp + 1 + extra_chunks);
      return d(chunks) / d(v);
    }
    case PipelineKind::kDualPipe:
      // DeepSeek-V3 (Table 2): pp + 1 positions' activations on every rank, at most one per micro-batch
      // (each passes through one of the rank's two positions); a rank holds two positions.
      return d(std::min(plan.microbatches, plan.pp + 1)) / 2.0;
  }
  return 1.0;
}

std::string in_flight_label(double in_flight) {
  // Whole micro-batches print as integers; interleaving's fractional counts with two decimals.
  if (in_flight == std::floor(in_flight)) return std::to_string(static_cast<std::int64_t>(in_flight));
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f", in_flight);
  return buf;
}

}  // namespace

MemoryBreakdown estimate_stage(const ModelSpec& m, const MemoryPlan& plan, std::int64_t stage) {
  MemoryBreakdown b;
  b.stage = stage;
  const Shard& sh = plan.shard;
  const double tp = d(sh.tp);
  // This stage's pipeline positions (parallel_plan.hpp's split of the layers): stage, stage + pp, ...
  // with interleaving; stage and pp - 1 - stage with DualPipe (its two directions, positions = pp).
  const bool dual = plan.pipeline == PipelineKind::kDualPipe;
  const std::int64_t positions = dual ? plan.pp : plan.pp * plan.virtual_stages;
  std::vector<std::int64_t> held;
  for (std::int64_t c = 0; c < (dual ? 2 : plan.virtual_stages); ++c) held.push_back(pipeline_position(plan.pp, stage, c, dual));
  const bool first = std::find(held.begin(), held.end(), 0) != held.end();
  const bool last = std::find(held.begin(), held.end(), positions - 1) != held.end();
  std::vector<std::int64_t> layers;
  for (const std::int64_t pos : held) {
    const auto [begin, end] = blocks_at_position(m, positions, pos, plan.first_stage_layers, plan.last_stage_layers);  // MTP on the last
    for (std::int64_t l = begin; l < end; ++l) layers.push_back(l);
  }
  const double layers_here = d(static_cast<std::int64_t>(layers.size()));
  // Parameters on this rank: its blocks, the embedding on the first stage, the output layer (and final
  // norm) on the last; with tied embeddings and pp > 1 the last stage keeps its own copy of the word
  // embedding for the output projection (Megatron's shared_embedding, kept equal by an all-reduce of
  // its gradient between the first and last stage).
  double params = 0.0, expert = 0.0;  // expert: the routed experts' share of params
  for (const std::int64_t l : layers) {
    const BlockParameters block = block_parameters(m, l, sh);
    params += block.dense + block.routed;
    expert += block.routed;
  }
  if (first) params += d(m.embedding_parameters()) / tp;
  if (last) params += d(m.output_parameters()) / tp;
  // (DualPipe's first and last ranks hold one direction's embedding and the other's output layer.)
  // MTP modules on the last stage look up the embedding of the tokens ahead: a copy there too unless the
  // rank holds the first position (DualPipe's end ranks; Megatron-Core builds the embedding on the MTP
  // stage and keeps it equal to the first stage's).
  const bool tied_copy = m.tied_embeddings && (!first || dual);
  const bool mtp_copy = m.mtp_layers > 0 && !first;
  if (last && plan.pp > 1 && (tied_copy || mtp_copy)) params += d(m.vocab * m.hidden) / tp;
  b.parameters_on_rank = params;

  // Sharded over dp ranks (dense parameters) and expert_dp ranks (routed experts): the per-rank count
  // of a sharded state of `bytes` per parameter.
  const double dense = params - expert;
  const auto sharded = [&](double bytes) { return bytes * (dense / d(plan.dp) + expert / d(std::max<std::int64_t>(1, plan.expert_dp))); };
  const double optimizer_bytes = plan.bf16_moments ? 8.0 : 12.0;  // fp32 master + the two Adam moments
  double weights = 2.0 * params, grads = plan.grad_bytes * params, optimizer = optimizer_bytes * params;
  const double fp32_copy_bytes = plan.grad_bytes < 4.0 && !plan.grads_on_demand ? 4.0 : 0.0;
  double fp32_grad_copy = fp32_copy_bytes * params;
  switch (plan.sharding) {
    case Sharding::kNone: break;
    case Sharding::kOptimizer: optimizer = sharded(optimizer_bytes); fp32_grad_copy = sharded(fp32_copy_bytes); break;
    case Sharding::kGradients:
      optimizer = sharded(optimizer_bytes);
      fp32_grad_copy = sharded(fp32_copy_bytes);
      grads = sharded(plan.grad_bytes);
      break;
    case Sharding::kParameters: {
      optimizer = sharded(optimizer_bytes);
      fp32_grad_copy = sharded(fp32_copy_bytes);
      grads = sharded(plan.grad_bytes);
      // Sharded weights plus the gathered bf16 weights of two layers (current + prefetched).
      weights = sharded(2.0) + 2.0 * 2.0 * params / std::max(1.0, layers_here);
      break;
    }
  }
  b.items.push_back({"weights (bf16)", weights});
  b.items.push_back({plan.grad_bytes < 4.0 ? "gradients (16-bit)" : "gradients (fp32)", grads});
  b.items.push_back({plan.bf16_moments ? "optimizer states (fp32 master, bf16 moments)" : "optimizer states (fp32 master + Adam)", optimizer});

  const double tokens = d(plan.micro_batch.batch) * d(plan.micro_batch.seq) / d(sh.cp);
  double per_mb = 0.0;  // all layers of this stage, one micro-batch
  for (const std::int64_t l : layers) per_mb += activation_bytes_per_token(m, l, plan) * tokens;
  b.activation_bytes_per_layer = per_mb / std::max(1.0, layers_here);
  const double in_flight = micro_batches_in_flight(plan, stage);
  b.items.push_back({"activations (" + in_flight_label(in_flight) + " micro-batches in flight)", per_mb * in_flight});
  if (first) {
    // Embedding stage: token ids (int64) and the embedding output's dropout mask per in-flight micro-batch.
    const double sp = sh.sequence_parallel ? tp : 1.0;
    b.items.push_back({"embedding activations", in_flight * tokens * (8.0 + (plan.shard.dropout ? 2.0 * d(m.hidden) / sp : 0.0))});
  }
  if (last) {
    // Output layer input and fp32 logits / softmax for the loss of the micro-batch in its loss
    // (Megatron: 4sbh(1 + V/h) / tp).
    const double per_logit = plan.eager_loss ? 10.0 : 4.0;
    // Once per head: the decoder's and each MTP module's.
    b.items.push_back({"output layer and loss", d(1 + m.mtp_layers) * tokens * (4.0 * d(m.hidden) + per_logit * d(m.vocab)) / tp});
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

MemoryBreakdown estimate_memory(const ModelSpec& m, const MemoryPlan& plan) {
  // Every stage, the largest wins (ties: the earliest stage).
  MemoryBreakdown peak = estimate_stage(m, plan, 0);
  for (std::int64_t s = 1; s < plan.pp; ++s) {
    MemoryBreakdown b = estimate_stage(m, plan, s);
    if (b.total_bytes > peak.total_bytes) peak = std::move(b);
  }
  return peak;
}

}  // namespace mfusim::workload
