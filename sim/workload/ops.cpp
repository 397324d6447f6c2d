#include "workload/ops.hpp"

#include <algorithm>
#include <cmath>

#include "core/error.hpp"

namespace mfusim::workload {
Op memory(std::string name, Phase phase, std::int64_t layer, double bytes, compute::MemoryOpClass cls) {
  Op op;
  op.name = std::move(name);
  op.phase = phase;
  op.layer = layer;
  op.kernel.kind = compute::KernelKind::kMemory;
  op.kernel.memory_class = cls;
  op.kernel.bytes = bytes;
  return op;
}

namespace {

using compute::Kernel;
using compute::KernelKind;
using compute::MemoryOpClass;

constexpr double kAct = 2.0;   // bytes per bf16 activation or weight element
constexpr double kFp32 = 4.0;  // bytes per fp32 element (gradient accumulation buffers, softmax in CE)

double d(std::int64_t v) { return static_cast<double>(v); }

std::string layer_name(std::int64_t layer, const char* what) { return "L" + std::to_string(layer) + "." + what; }

Op gemm(std::string name, Phase phase, std::int64_t layer, std::int64_t m, std::int64_t n, std::int64_t k,
        std::int64_t count = 1) {
  Op op;
  op.name = std::move(name);
  op.phase = phase;
  op.layer = layer;
  op.kernel.kind = KernelKind::kGemm;
  op.kernel.gemm = {m, n, k, count};
  op.kernel.flops = 2.0 * d(m) * d(n) * d(k) * d(count);
  op.kernel.bytes = (d(m) * d(k) + d(k) * d(n) + d(m) * d(n)) * kAct * d(count);
  op.model_flops = op.kernel.flops;
  op.hardware_flops = op.kernel.flops;
  return op;
}

// Forward GEMM -> its dgrad and wgrad (see ops.hpp). The weight gradient accumulates into an fp32
// buffer (Megatron's gradient-accumulation fusion): read and write k*n fp32 values.
void backward_of(const Op& f, std::vector<Op>& out) {
  const auto& g = f.kernel.gemm;
  Op dgrad = gemm(f.name + ".dgrad", Phase::kBackwardInput, f.layer, g.m, g.k, g.n, g.count);
  dgrad.segment = f.segment;
  out.push_back(dgrad);
  Op wgrad = gemm(f.name + ".wgrad", Phase::kBackwardWeight, f.layer, g.k, g.n, g.m, g.count);
  wgrad.segment = f.segment;
  wgrad.kernel.bytes = (d(g.k) * d(g.m) + d(g.m) * d(g.n)) * kAct * d(g.count) + 2.0 * d(g.k) * d(g.n) * kFp32 * d(g.count);
  out.push_back(wgrad);
}

struct Dims {
  std::int64_t tokens;       // T = b*s/cp, GEMM rows
  std::int64_t sp_tokens;    // tokens of sequence-parallel regions (T/tp with SP)
  std::int64_t local_heads;  // a / tp
  std::int64_t local_kv;     // g / tp (at least 1: KV heads are replicated when g < tp)
};

Dims dims(const ModelSpec& m, const Shard& s, const MicroBatch& mb) {
  MFUSIM_CHECK(mb.seq % s.cp == 0, "sequence length not divisible by CP");
  Dims x;
  x.tokens = mb.batch * mb.seq / s.cp;
  x.sp_tokens = s.sequence_parallel ? std::max<std::int64_t>(1, x.tokens / s.tp) : x.tokens;
  x.local_heads = std::max<std::int64_t>(1, m.heads / s.tp);
  x.local_kv = std::max<std::int64_t>(1, m.kv_heads / s.tp);
  return x;
}

// Fused attention core (flash): executed FLOPs 4 * bh * sq * skv * d (halved by the causal mask;
// a sliding window w limits each query to w keys), model FLOPs without the mask.
Op attention_core(const ModelSpec& m, const Shard& s, const MicroBatch& mb, std::int64_t layer, Phase phase) {
  const Dims x = dims(m, s, mb);
  const std::int64_t sq = mb.seq / s.cp;
  const std::int64_t skv = mb.seq;
  const std::int64_t d_qk = m.mla ? m.mla->qk_nope_head_dim + m.mla->qk_rope_head_dim : m.head_dim;
  const std::int64_t d_v = m.mla ? m.mla->v_head_dim : m.head_dim;
  const double bh = d(mb.batch * x.local_heads);
  const double full = 2.0 * bh * d(sq) * d(skv) * d(d_qk + d_v);  // QK^T and PV, 2 FLOPs per MAC
  double executed = 0.5 * full;                                    // causal: half the blocks
  if (m.sliding_window && *m.sliding_window < skv) {
    executed = full * d(*m.sliding_window) / d(skv) * (1.0 - 0.5 * d(*m.sliding_window) / d(skv));
  }
  const double kv_heads = d(mb.batch * x.local_kv);
  const double io = (bh * d(sq) * d(d_qk + d_v) + kv_heads * d(skv) * d(d_qk + d_v)) * kAct;  // q,o + k,v
  Op op;
  op.name = layer_name(layer, phase == Phase::kBackwardInput ? "attn.bwd" : "attn");
  op.phase = phase;
  op.layer = layer;
  op.kernel.kind = KernelKind::kAttention;
  op.kernel.attention = {mb.batch * x.local_heads, sq, skv, d_qk, true, phase == Phase::kBackwardInput, s.cudnn_attention};
  if (phase == Phase::kBackwardInput) {
    op.kernel.flops = 2.5 * executed;  // FlashAttention-2 backward: 5 GEMMs to the forward's 2
    op.kernel.bytes = 2.0 * io;        // reads q, k, v, o, do; writes dq, dk, dv
    op.model_flops = 2.0 * full;
    op.hardware_flops = 2.0 * full;
  } else {
    op.kernel.flops = executed;
    op.kernel.bytes = io;
    op.model_flops = phase == Phase::kRecompute ? 0.0 : full;
    op.hardware_flops = full;
  }
  return op;
}

// The score matrices of the unfused core: s/cp queries against s keys for each (sequence, local head).
struct ScoreShape {
  std::int64_t sq, skv, heads;
  double scores;  // elements of all score matrices
};
ScoreShape score_shape(const ModelSpec& m, const Shard& s, const MicroBatch& mb) {
  const std::int64_t sq = mb.seq / s.cp;
  const std::int64_t heads = mb.batch * dims(m, s, mb).local_heads;
  return {sq, mb.seq, heads, d(heads) * d(sq) * d(mb.seq)};
}

// Unfused attention core (Shard::flash_attention = false; see ops.hpp): per local head, the full
// s_q x s_kv score matrix is computed, soft-maxed, dropped out and multiplied by V. Appended with
// `phase` (forward or recompute); model FLOPs are the same non-causal count as the flash core's.
void unfused_attention_forward(const ModelSpec& m, const Shard& s, const MicroBatch& mb, std::int64_t layer, Phase phase,
                               std::vector<Op>& out) {
  const auto [sq, skv, heads, scores] = score_shape(m, s, mb);
  const bool recompute = phase == Phase::kRecompute;
  const auto tag = [&](const char* what) { return layer_name(layer, what) + (recompute ? ".recompute" : ""); };
  const auto add = [&](Op op) {
    op.phase = phase;
    op.attention_core = true;
    if (recompute) op.model_flops = 0.0;
    out.push_back(std::move(op));
  };
  add(gemm(tag("attn.qk"), phase, layer, sq, skv, m.head_dim, heads));
  add(memory(tag("attn.softmax"), phase, layer, scores * 2.0 * kAct, MemoryOpClass::kSoftmax));
  if (s.dropout) add(memory(tag("attn.dropout"), phase, layer, scores * (2.0 * kAct + 1.0), MemoryOpClass::kElementwise));
  add(gemm(tag("attn.pv"), phase, layer, sq, m.head_dim, skv, heads));
}

void unfused_attention_backward(const ModelSpec& m, const Shard& s, const MicroBatch& mb, std::int64_t layer, Segment seg,
                                std::vector<Op>& out) {
  const auto [sq, skv, heads, scores] = score_shape(m, s, mb);
  const auto add = [&](Op op) {
    op.phase = Phase::kBackwardInput;
    op.segment = seg;
    op.attention_core = true;
    out.push_back(std::move(op));
  };
  add(gemm(layer_name(layer, "attn.pv.dgrad"), Phase::kBackwardInput, layer, sq, skv, m.head_dim, heads));   // dP = dO V^T
  add(gemm(layer_name(layer, "attn.pv.dv"), Phase::kBackwardInput, layer, skv, m.head_dim, sq, heads));      // dV = P^T dO
  if (s.dropout) add(memory(layer_name(layer, "attn.dropout.bwd"), Phase::kBackwardInput, layer, scores * (2.0 * kAct + 1.0), MemoryOpClass::kElementwise));
  add(memory(layer_name(layer, "attn.softmax.bwd"), Phase::kBackwardInput, layer, scores * 3.0 * kAct, MemoryOpClass::kSoftmax));
  add(gemm(layer_name(layer, "attn.qk.dq"), Phase::kBackwardInput, layer, sq, m.head_dim, skv, heads));      // dQ = dS K
  add(gemm(layer_name(layer, "attn.qk.dk"), Phase::kBackwardInput, layer, skv, m.head_dim, sq, heads));      // dK = dS^T Q
}

// moe_token_share in whole tokens (with sequence parallelism the rank's rounded T / tp, x expert_tp).
std::int64_t moe_tokens_per_rank(const Dims& x, const Shard& s) {
  if (s.sequence_parallel) return std::max<std::int64_t>(1, x.sp_tokens * std::max<std::int64_t>(1, s.expert_tp));
  return static_cast<std::int64_t>(std::llround(static_cast<double>(x.tokens) * moe_token_share(s)));
}

void attention_forward(const ModelSpec& m, const Shard& s, const MicroBatch& mb, std::int64_t layer, Phase phase,
                       std::vector<Op>& out) {
  if (s.flash_attention || m.mla) {
    out.push_back(attention_core(m, s, mb, layer, phase));
    if (phase == Phase::kRecompute) out.back().name += ".recompute";
  } else {
    unfused_attention_forward(m, s, mb, layer, phase, out);
  }
}

void mlp_forward(const ModelSpec& m, std::int64_t layer, std::int64_t width, std::int64_t count, const char* prefix,
                 std::vector<Op>& out, std::int64_t rows) {
  const bool glu = m.activation == Activation::kSwiGlu;
  const std::string p = std::string(prefix);
  out.push_back(gemm(layer_name(layer, (p + "fc1").c_str()), Phase::kForward, layer, rows, (glu ? 2 : 1) * width, m.hidden, count));
  const double act_elems = d(rows) * d(width) * d(count);
  out.push_back(memory(layer_name(layer, (p + "act").c_str()), Phase::kForward, layer, (glu ? 3.0 : 2.0) * act_elems * kAct,
                       MemoryOpClass::kElementwise));
  out.push_back(gemm(layer_name(layer, (p + "fc2").c_str()), Phase::kForward, layer, rows, m.hidden, width, count));
}

}  // namespace

std::string recompute_module_names(RecomputeModules modules) {
  std::string out;
  for (const RecomputeModuleInfo& m : kRecomputeModuleTable) {
    if ((modules & m.bit) != 0) out += (out.empty() ? "" : ", ") + std::string(m.name);
  }
  return out;
}

std::string_view to_string(Phase p) {
  switch (p) {
    case Phase::kForward: return "fwd";
    case Phase::kBackwardInput: return "bwd-input";
    case Phase::kBackwardWeight: return "bwd-weight";
    case Phase::kRecompute: return "recompute";
    case Phase::kOptimizer: return "optimizer";
  }
  return "?";
}

std::vector<Op> layer_forward(const ModelSpec& m, std::int64_t layer, const Shard& s, const MicroBatch& mb) {
  const Dims x = dims(m, s, mb);
  const double h = d(m.hidden);
  std::vector<Op> out;
  const double norm_bytes = s.eager ? 2.0 * d(x.sp_tokens) * h * kFp32 : 2.0 * d(x.sp_tokens) * h * kAct;
  // Residual add (Megatron: fused bias-dropout-add; with dropout it also writes a 1-byte mask).
  const double residual_bytes = s.eager ? d(x.sp_tokens) * h * (2.0 * kFp32 + kAct)
                                        : d(x.sp_tokens) * h * (3.0 * kAct + (s.dropout ? 1.0 : 0.0));
  const auto norm = [&](const char* name) {
    out.push_back(memory(layer_name(layer, name), Phase::kForward, layer, norm_bytes, MemoryOpClass::kNorm));
    out.back().module = kRecomputeNorms;
    if (s.eager) {
      out.push_back(memory(layer_name(layer, (std::string(name) + ".cast").c_str()), Phase::kForward, layer,
                           d(x.sp_tokens) * h * (kFp32 + kAct), MemoryOpClass::kElementwise));
      out.back().module = kRecomputeNorms;
    }
  };
  if (m.is_mtp_layer(layer)) {
    // An MTP module's input (DeepSeek-V3 section 2.2): the embedding of the token k ahead (shared
    // embedding), RMSNorms of it and of the previous depth's hidden state, and the projection M_k of their
    // concatenation [T, 2h] x [2h, h] (its FLOPs split tp ways; no TP collective of its own is modelled).
    out.push_back(memory(layer_name(layer, "mtp.embedding"), Phase::kForward, layer, 2.0 * d(x.tokens) * h * kAct, MemoryOpClass::kCopy));
    out.push_back(memory(layer_name(layer, "mtp.norm_h"), Phase::kForward, layer, norm_bytes, MemoryOpClass::kNorm));
    out.push_back(memory(layer_name(layer, "mtp.norm_e"), Phase::kForward, layer, norm_bytes, MemoryOpClass::kNorm));
    out.push_back(gemm(layer_name(layer, "mtp.proj"), Phase::kForward, layer, x.tokens, std::max<std::int64_t>(1, m.hidden / s.tp), 2 * m.hidden));
  }
  norm("norm1");
  const std::size_t projections = out.size();
  if (m.mla) {
    // MLA (DeepSeek-V2/V3): down-projections are small and not split by TP; up-projections are.
    const MlaSpec& a = *m.mla;
    const std::int64_t qk = a.qk_nope_head_dim + a.qk_rope_head_dim;
    if (a.q_lora_rank > 0) {
      out.push_back(gemm(layer_name(layer, "q_down"), Phase::kForward, layer, x.tokens, a.q_lora_rank, m.hidden));
      out.push_back(gemm(layer_name(layer, "q_up"), Phase::kForward, layer, x.tokens, x.local_heads * qk, a.q_lora_rank));
      out.back().module = kRecomputeMlaUpProjection;
    } else {
      out.push_back(gemm(layer_name(layer, "q"), Phase::kForward, layer, x.tokens, x.local_heads * qk, m.hidden));
    }
    out.push_back(gemm(layer_name(layer, "kv_down"), Phase::kForward, layer, x.tokens, a.kv_lora_rank + a.qk_rope_head_dim, m.hidden));
    out.push_back(gemm(layer_name(layer, "kv_up"), Phase::kForward, layer, x.tokens,
                       x.local_heads * (a.qk_nope_head_dim + a.v_head_dim), a.kv_lora_rank));
    out.back().module = kRecomputeMlaUpProjection;
  } else {
    out.push_back(gemm(layer_name(layer, "qkv"), Phase::kForward, layer, x.tokens, (x.local_heads + 2 * x.local_kv) * m.head_dim, m.hidden));
  }
  for (std::size_t i = projections; i < out.size(); ++i) out[i].qkv_projection = true;
  if (m.position == Position::kRope) {
    const std::int64_t rope_width = m.mla ? x.local_heads * m.mla->qk_rope_head_dim + m.mla->qk_rope_head_dim
                                          : (x.local_heads + x.local_kv) * m.head_dim;
    out.push_back(memory(layer_name(layer, "rope"), Phase::kForward, layer,
                         (s.eager ? 5.0 : 1.0) * 2.0 * d(x.tokens) * d(rope_width) * kAct, MemoryOpClass::kElementwise));
    if (m.mla) out.back().module = kRecomputeMlaUpProjection;
  }
  const std::size_t core = out.size();
  attention_forward(m, s, mb, layer, Phase::kForward, out);
  for (std::size_t i = core; i < out.size(); ++i) out[i].module = kRecomputeCoreAttention;
  if (s.eager) {
    out.push_back(memory(layer_name(layer, "attn.copy"), Phase::kForward, layer,
                         2.0 * d(x.tokens) * d(x.local_heads * m.head_dim) * kAct, MemoryOpClass::kCopy));
  }
  const std::int64_t v_width = m.mla ? x.local_heads * m.mla->v_head_dim : x.local_heads * m.head_dim;
  out.push_back(gemm(layer_name(layer, "proj"), Phase::kForward, layer, x.tokens, m.hidden, v_width));
  out.push_back(memory(layer_name(layer, "residual1"), Phase::kForward, layer, residual_bytes, MemoryOpClass::kElementwise));
  norm("norm2");
  if (m.is_moe_layer(layer)) {
    const MoeSpec& e = *m.moe;
    // Each rank routes its sequence-parallel tokens; the expert-TP group then pools its members'
    // tokens (Megatron-Core's dispatcher), so expert_tp = tp (the default) sees all T tokens at width
    // f / tp, and expert_tp = 1 < tp only the rank's own T / tp at full width (moe_tokens).
    const std::int64_t moe_tokens = moe_tokens_per_rank(x, s);
    out.push_back(gemm(layer_name(layer, "router"), Phase::kForward, layer, x.sp_tokens, e.experts, m.hidden));
    out.push_back(memory(layer_name(layer, "router.topk"), Phase::kForward, layer, d(x.sp_tokens) * d(e.experts) * (kAct + kFp32),
                         MemoryOpClass::kSoftmax));
    out.push_back(memory(layer_name(layer, "permute"), Phase::kForward, layer, 2.0 * d(moe_tokens * e.top_k) * h * kAct, MemoryOpClass::kCopy));
    const std::int64_t local_experts = std::max<std::int64_t>(1, e.experts / s.ep);
    // Tokens per local expert: the EP group's routed tokens (moe_tokens x top_k each) spread over E
    // experts, of which E/ep live here, scaled by the imbalance of the busiest rank.
    const auto per_expert = static_cast<std::int64_t>(
        std::ceil(d(moe_tokens * e.top_k) * d(s.ep) / d(e.experts) * s.moe_imbalance));
    mlp_forward(m, layer, e.expert_ffn / s.expert_tp, local_experts, "expert.", out, std::max<std::int64_t>(1, per_expert));
    out[out.size() - 2].module = kRecomputeMoeActivation;  // expert.act
    out.push_back(memory(layer_name(layer, "unpermute"), Phase::kForward, layer, 2.0 * d(moe_tokens * e.top_k) * h * kAct, MemoryOpClass::kCopy));
    if (e.shared_experts > 0) mlp_forward(m, layer, e.shared_experts * e.shared_expert_ffn / s.tp, 1, "shared.", out, x.tokens);
  } else {
    mlp_forward(m, layer, m.ffn / s.tp, 1, "", out, x.tokens);
    for (std::size_t i = out.size() - 3; i < out.size(); ++i) out[i].module = kRecomputeMlp;  // fc1, act, fc2
  }
  out.push_back(memory(layer_name(layer, "residual2"), Phase::kForward, layer, residual_bytes, MemoryOpClass::kElementwise));
  if (s.eager && !m.is_moe_layer(layer)) {
    // The down projection's operands are the block's last saved tensors (eager_recompute_cast).
    out[out.size() - 2].past_last_saved = true;  // fc2
    out.back().past_last_saved = true;           // residual2
  }
  // Segments: everything up to residual1 is attention; then MLP (MoE: up to the permutation), the
  // routed experts, and the combine (unpermute, shared experts, residual2).
  Segment seg = Segment::kAttention;
  for (Op& op : out) {
    const bool expert = op.name.find(".expert.") != std::string::npos;
    if (seg == Segment::kMlp && expert) seg = Segment::kExperts;
    if (seg == Segment::kExperts && !expert) seg = Segment::kCombine;
    op.segment = seg;
    if (op.name == layer_name(layer, "residual1")) seg = Segment::kMlp;
  }
  return out;
}

std::vector<Op> layer_backward(const ModelSpec& m, std::int64_t layer, const Shard& s, const MicroBatch& mb,
                               Recompute recompute) {
  std::vector<Op> fwd = layer_forward(m, layer, s, mb);
  std::vector<Op> out;
  if (recomputes_layer(recompute)) {
    if (s.eager) out.push_back(eager_recompute_cast(m, layer, s));
    for (Op op : fwd) {
      if (!recomputed(op, recompute)) continue;
      op.phase = Phase::kRecompute;
      op.name += ".recompute";
      op.model_flops = 0.0;
      out.push_back(std::move(op));
    }
  } else if (recompute == Recompute::kSelective) {
    // The selected modules' forward ops, in forward order (each segment's reruns come before its
    // backward ops; the step lowering keeps that order within a segment).
    for (Op op : fwd) {
      if ((op.module & s.recompute_modules) == 0) continue;
      op.phase = Phase::kRecompute;
      op.name += ".recompute";
      op.model_flops = 0.0;
      out.push_back(std::move(op));
    }
  }
  bool core_done = false;
  // Backward in reverse order of the forward.
  for (auto it = fwd.rbegin(); it != fwd.rend(); ++it) {
    const Op& f = *it;
    if (f.attention_core) {
      if (!core_done) unfused_attention_backward(m, s, mb, layer, f.segment, out);
      core_done = true;
      continue;
    }
    switch (f.kernel.kind) {
      case KernelKind::kGemm:
        backward_of(f, out);
        break;
      case KernelKind::kAttention:
        out.push_back(attention_core(m, s, mb, layer, Phase::kBackwardInput));
        out.back().segment = f.segment;
        break;
      case KernelKind::kMemory: {
        // Elementwise/norm backward reads the saved input and the output gradient and writes the
        // input gradient: 1.5x the forward traffic (a residual add's gradient is a pass-through).
        if (f.name.find("residual") != std::string::npos) break;
        Op b = memory(f.name + ".bwd", Phase::kBackwardInput, layer, 1.5 * f.kernel.bytes, f.kernel.memory_class);
        b.segment = f.segment;
        out.push_back(std::move(b));
        break;
      }
      case KernelKind::kOptimizer:
        break;
    }
  }
  return out;
}

std::vector<Op> embedding_forward(const ModelSpec& m, const Shard& s, const MicroBatch& mb) {
  const Dims x = dims(m, s, mb);
  // Gather T rows of h (the vocab-parallel shard contributes its part; the TP reduction is a collective).
  return {memory("embedding", Phase::kForward, -1, 2.0 * d(x.tokens) * d(m.hidden) * kAct, MemoryOpClass::kCopy)};
}

std::vector<Op> embedding_backward(const ModelSpec& m, const Shard& s, const MicroBatch& mb) {
  const Dims x = dims(m, s, mb);
  // Scatter-add of T gradient rows into the fp32 embedding gradient (read-modify-write).
  return {memory("embedding.bwd", Phase::kBackwardWeight, -1, d(x.tokens) * d(m.hidden) * (kAct + 2.0 * kFp32),
                 MemoryOpClass::kCopy)};
}

namespace {
// The output head runs once for the model and once per MTP module (the shared head, each depth's own
// norm and loss): the ops of one head, then copies named "mtpK.<op>".
std::vector<Op> with_mtp_heads(const ModelSpec& m, std::vector<Op> one) {
  const std::size_t n = one.size();
  for (std::int64_t k = 1; k <= m.mtp_layers; ++k) {
    for (std::size_t i = 0; i < n; ++i) {
      Op op = one[i];
      op.name = "mtp" + std::to_string(k) + "." + op.name;
      one.push_back(std::move(op));
    }
  }
  return one;
}
}  // namespace

std::vector<Op> head_forward(const ModelSpec& m, const Shard& s, const MicroBatch& mb) {
  return with_mtp_heads(m, decoder_head_forward(m, s, mb));
}
std::vector<Op> head_backward(const ModelSpec& m, const Shard& s, const MicroBatch& mb) {
  return with_mtp_heads(m, decoder_head_backward(m, s, mb));
}

std::vector<Op> decoder_head_forward(const ModelSpec& m, const Shard& s, const MicroBatch& mb) {
  const Dims x = dims(m, s, mb);
  const std::int64_t v_local = (m.vocab + s.tp - 1) / s.tp;
  std::vector<Op> out;
  const double hd = d(m.hidden);
  out.push_back(memory("final_norm", Phase::kForward, -1, 2.0 * d(x.sp_tokens) * hd * (s.eager ? kFp32 : kAct), MemoryOpClass::kNorm));
  if (s.eager) out.push_back(memory("final_norm.cast", Phase::kForward, -1, d(x.sp_tokens) * hd * (kFp32 + kAct), MemoryOpClass::kElementwise));
  out.push_back(gemm("logits", Phase::kForward, -1, x.tokens, v_local, m.hidden));
  // Vocab-parallel cross-entropy: reads bf16 logits, keeps fp32 softmax statistics. Eager: upcast
  // (2 + 4 B), log-softmax (4 + 4 B) and the loss gather: 14 B per logit.
  out.push_back(memory("cross_entropy", Phase::kForward, -1, d(x.tokens) * d(v_local) * (s.eager ? 14.0 : kAct + kFp32),
                       MemoryOpClass::kSoftmax));
  return out;
}

std::vector<Op> decoder_head_backward(const ModelSpec& m, const Shard& s, const MicroBatch& mb) {
  const Dims x = dims(m, s, mb);
  const std::int64_t v_local = (m.vocab + s.tp - 1) / s.tp;
  std::vector<Op> out;
  out.push_back(memory("cross_entropy.bwd", Phase::kBackwardInput, -1, d(x.tokens) * d(v_local) * (s.eager ? 14.0 : kFp32 + kAct),
                       MemoryOpClass::kSoftmax));
  backward_of(gemm("logits", Phase::kForward, -1, x.tokens, v_local, m.hidden), out);
  out.push_back(memory("final_norm.bwd", Phase::kBackwardInput, -1, 3.0 * d(x.sp_tokens) * d(m.hidden) * (s.eager ? kFp32 : kAct),
                       MemoryOpClass::kNorm));
  return out;
}

Op optimizer_step(std::int64_t parameters, double bytes_per_parameter) {
  Op op;
  op.name = "adamw";
  op.phase = Phase::kOptimizer;
  op.kernel.kind = KernelKind::kOptimizer;
  op.kernel.flops = 0.0;
  op.kernel.bytes = d(parameters) * bytes_per_parameter;
  return op;
}

BlockParameters block_parameters(const ModelSpec& m, std::int64_t layer, const Shard& s) {
  const double tp = d(s.tp);
  BlockParameters b;
  b.dense = d(m.attention_parameters() + m.layer_norm_parameters()) / tp;
  if (m.is_moe_layer(layer)) {
    const MoeSpec& e = *m.moe;
    const double glu = m.activation == Activation::kSwiGlu ? 3.0 : 2.0;
    b.dense += d(m.hidden * e.experts) + d(e.shared_experts) * glu * d(m.hidden * e.shared_expert_ffn) / tp;
    b.routed = d(e.experts) * glu * d(m.hidden * e.expert_ffn) / d(s.ep * s.expert_tp);
  } else {
    b.dense += d(m.dense_mlp_parameters()) / tp;
  }
  if (m.is_mtp_layer(layer)) b.dense += d(m.mtp_extra_parameters()) / tp;
  return b;
}

Op eager_recompute_cast(const ModelSpec& m, std::int64_t layer, const Shard& s) {
  const BlockParameters block = block_parameters(m, layer, s);  // this rank's weights of the block
  Op op = memory(layer_name(layer, "autocast.weights.recompute"), Phase::kRecompute, layer,
                 kAutocastBytesPerParameter * (block.dense + block.routed), MemoryOpClass::kCopy);
  op.segment = Segment::kAttention;
  return op;
}

std::vector<Op> single_gpu_step(const ModelSpec& m, const MicroBatch& mb, std::int64_t microbatches, Recompute recompute,
                                double adam_bytes_per_parameter, bool eager) {
  Shard s;
  s.eager = eager;
  std::vector<Op> out;
  auto append = [&out](std::vector<Op> ops) { out.insert(out.end(), ops.begin(), ops.end()); };
  // Eager autocast casts every fp32 weight to bf16 once per forward (4 B read, 2 B written) and
  // accumulates each bf16 weight gradient into the fp32 .grad (2 B read, 4 B written).
  const double casts = eager ? kAutocastBytesPerParameter * d(m.total_parameters() + m.mtp_parameters() - m.embedding_parameters()) : 0.0;
  for (std::int64_t i = 0; i < microbatches; ++i) {
    if (eager) out.push_back(memory("autocast.weights", Phase::kForward, -1, casts, MemoryOpClass::kCopy));
    append(embedding_forward(m, s, mb));
    for (std::int64_t l = 0; l < m.blocks(); ++l) append(layer_forward(m, l, s, mb));
    append(head_forward(m, s, mb));
    append(head_backward(m, s, mb));
    for (std::int64_t l = m.blocks() - 1; l >= 0; --l) append(layer_backward(m, l, s, mb, recompute));
    append(embedding_backward(m, s, mb));
    if (eager) out.push_back(memory("autocast.grads", Phase::kBackwardWeight, -1, casts, MemoryOpClass::kCopy));
  }
  out.push_back(optimizer_step(m.total_parameters() + m.mtp_parameters(), adam_bytes_per_parameter));
  return out;
}

double megatron_model_flops(const ModelSpec& m, std::int64_t sequences, std::int64_t seq) {
  const double T = d(sequences) * d(seq);
  const double h = d(m.hidden);
  const double glu = m.activation == Activation::kSwiGlu ? 1.5 : 1.0;
  double per_token = 0.0;  // FLOPs per token, summed over layers, x3 for fwd + dgrad + wgrad
  for (std::int64_t l = 0; l < m.blocks(); ++l) {
    if (m.mla) {
      const MlaSpec& a = *m.mla;
      const double qk = d(a.qk_nope_head_dim + a.qk_rope_head_dim);
      const double q = a.q_lora_rank > 0 ? d(a.q_lora_rank) * (h + d(m.heads) * qk) : h * d(m.heads) * qk;
      const double kv = h * d(a.kv_lora_rank + a.qk_rope_head_dim) + d(a.kv_lora_rank) * d(m.heads) * d(a.qk_nope_head_dim + a.v_head_dim);
      const double proj = d(m.heads) * d(a.v_head_dim) * h;
      const double core = d(m.heads) * d(seq) * (qk + d(a.v_head_dim));
      per_token += 6.0 * (q + kv + proj + core);
    } else {
      const double qd = d(m.heads * m.head_dim);
      per_token += 12.0 * h * h * ((1.0 + d(m.kv_heads) / d(m.heads) + d(seq) / h) * (qd / h));
    }
    if (m.is_moe_layer(l)) {
      per_token += 12.0 * h * (d(m.moe->expert_ffn * m.moe->top_k) + d(m.moe->shared_experts * m.moe->shared_expert_ffn)) * glu;
    } else {
      per_token += 12.0 * h * d(m.ffn) * glu;
    }
  }
  // Multi-token prediction (Megatron's num_floating_point_operations with --mtp-num-layers): each
  // module's block (of the last layer's kind, above), its two input norms and the head's norm (3h), the
  // projection (2h x h), and one more pass through the output layer.
  for (std::int64_t l = m.layers; l < m.blocks(); ++l) {
    per_token += 6.0 * (3.0 * h + 2.0 * h * h) + 6.0 * h * d(m.vocab);
  }
  per_token += 6.0 * h * d(m.vocab);
  return T * per_token;
}

double palm_model_flops(const ModelSpec& m, std::int64_t sequences, std::int64_t seq) {
  double n = d(m.active_parameters()) - d(m.embedding_parameters());
  if (m.tied_embeddings) n += d(m.vocab * m.hidden);  // the shared matrix is the output layer's
  const double per_token = 6.0 * n + 12.0 * d(m.layers) * d(m.heads * m.head_dim) * d(seq);
  return d(sequences) * d(seq) * per_token;
}

double moe_token_share(const Shard& s) {
  const double etp = static_cast<double>(std::max<std::int64_t>(1, s.expert_tp));
  if (s.sequence_parallel) return etp / static_cast<double>(s.tp);
  return s.tp == 1 ? etp : 1.0;
}

}  // namespace mfusim::workload
