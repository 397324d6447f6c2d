// Per-step FLOPs: the sum of the operator breakdown's model FLOPs must equal Megatron-LM's
// num_floating_point_operations (megatron/training/training.py), transcribed below from its Python
// source, for dense (MHA and GQA) and MoE models.
#include <gtest/gtest.h>

#include "config/loader.hpp"
#include "config/reader.hpp"
#include "workload/model_spec.hpp"
#include "workload/ops.hpp"

namespace mfusim::workload {
namespace {

ModelSpec model(const std::string& yaml) {
  const config::Node n = config::parse_text(yaml, "model.yaml");
  config::Reader r(n, "", nullptr);
  return read_model(r);
}

// Megatron-LM num_floating_point_operations(args, batch_size), all layers MoE when num_experts is set.
double megatron_reference(double layers, double hidden, double heads, double groups, double kv_channels, double ffn,
                          double vocab, double seq, double batch, bool swiglu, double topk, double shared_ffn) {
  const double query_projection_size = kv_channels * heads;
  const double ratio = query_projection_size / hidden;
  const double gated = swiglu ? 3.0 / 2.0 : 1.0;
  const double expansion_factor = 3 * 2 * 2;
  return expansion_factor * batch * seq * layers * hidden * hidden *
         (((1 + (groups / heads) + (seq / hidden)) * ratio) + ((ffn / hidden) * topk * gated) +
          ((shared_ffn / hidden) * gated) + (vocab / (2 * layers * hidden)));
}

double op_model_flops(const ModelSpec& m, std::int64_t batch, std::int64_t seq, bool include_router) {
  double total = 0.0;
  for (const auto& op : single_gpu_step(m, {batch, seq}, 1, Recompute::kNone)) {
    if (!include_router && op.name.find("router") != std::string::npos) continue;
    total += op.model_flops;
  }
  return total;
}

TEST(ModelFlops, DenseGptMatchesMegatron) {
  const ModelSpec m = model(
      "name: gpt\nlayers: 24\nhidden: 2048\nheads: 16\nffn: 8192\nvocab: 51200\nseq_length: 2048\nnorm: layernorm\n"
      "activation: gelu\nposition: learned\ntied_embeddings: true\nlinear_bias: true\nattention: {type: mha}\n");
  const double want = megatron_reference(24, 2048, 16, 16, 128, 8192, 51200, 2048, 4, false, 1, 0);
  EXPECT_NEAR(op_model_flops(m, 4, 2048, true) / want, 1.0, 1e-12) << "sum of op model FLOPs vs Megatron's formula";
  EXPECT_NEAR(megatron_model_flops(m, 4, 2048) / want, 1.0, 1e-12);
}

TEST(ModelFlops, GqaSwigluMatchesMegatron) {
  const ModelSpec m = model(
      "name: llama\nlayers: 32\nhidden: 4096\nheads: 32\nkv_heads: 8\nffn: 14336\nvocab: 128256\nseq_length: 8192\n"
      "norm: rmsnorm\nactivation: swiglu\nposition: rope\ntied_embeddings: false\nattention: {type: gqa}\n");
  const double want = megatron_reference(32, 4096, 32, 8, 128, 14336, 128256, 8192, 2, true, 1, 0);
  EXPECT_NEAR(op_model_flops(m, 2, 8192, true) / want, 1.0, 1e-12);
  // 6N + attention: the non-attention part is 6 x (non-embedding parameters + output layer) per token.
  const double tokens = 2.0 * 8192;
  const double attention = 12.0 * 32 * 4096 * 8192 * tokens;  // 12 L h s per token (a*d = h)
  const double six_n = 6.0 * static_cast<double>(m.total_parameters() - m.embedding_parameters() -
                                                  m.layers * m.layer_norm_parameters() - m.hidden) * tokens;
  EXPECT_NEAR((six_n + attention) / want, 1.0, 1e-12) << "6N + attention with N = GEMM weights";
}

TEST(ModelFlops, MoeMatchesMegatronPlusRouter) {
  const ModelSpec m = model(
      "name: moe\nlayers: 32\nhidden: 4096\nheads: 32\nkv_heads: 8\nffn: 14336\nvocab: 32000\nseq_length: 4096\n"
      "norm: rmsnorm\nactivation: swiglu\nposition: rope\ntied_embeddings: false\nattention: {type: gqa}\n"
      "moe: {experts: 8, top_k: 2, expert_ffn: 14336}\n");
  const double want = megatron_reference(32, 4096, 32, 8, 128, 14336, 32000, 4096, 1, true, 2, 0);
  EXPECT_NEAR(op_model_flops(m, 1, 4096, false) / want, 1.0, 1e-12) << "Megatron omits the router GEMM";
  const double router = 3.0 * 2.0 * 4096 * 4096 * 8 * 32;  // 3 x 2 T h E per layer
  EXPECT_NEAR(op_model_flops(m, 1, 4096, true) / (want + router), 1.0, 1e-12);
}

TEST(ModelFlops, MtpAddsABlockItsProjectionAndAHead) {
  // Multi-token prediction (mtp_layers: 1): Megatron's num_floating_point_operations adds, per MTP module
  // and token, 3 x 2 x (3h + 2h^2) (its norms and projection) and one more output layer 3 x 2 x h V; the
  // module's block counts as one more layer of the last layer's kind (here MoE: the 33-layer formula).
  const std::string yaml =
      "name: moe\nlayers: 32\nhidden: 4096\nheads: 32\nkv_heads: 8\nffn: 14336\nvocab: 32000\nseq_length: 4096\n"
      "norm: rmsnorm\nactivation: swiglu\nposition: rope\ntied_embeddings: false\nattention: {type: gqa}\n"
      "moe: {experts: 8, top_k: 2, expert_ffn: 14336}\n";
  const ModelSpec m = model(yaml + "mtp_layers: 1\n");
  const double t = 4096, h = 4096;
  const double want = megatron_reference(33, 4096, 32, 8, 128, 14336, 32000, 4096, 1, true, 2, 0) +
                      6.0 * t * (3.0 * h + 2.0 * h * h) + 6.0 * t * h * 32000;
  EXPECT_NEAR(megatron_model_flops(m, 1, 4096) / want, 1.0, 1e-12) << "the MFU numerator with the MTP module";
  const double norms = 6.0 * t * 3.0 * h;  // memory-bound ops carry no model FLOPs in the op model
  EXPECT_NEAR(op_model_flops(m, 1, 4096, false) / (want - norms), 1.0, 1e-12)
      << "the ops: the MTP block, its projection GEMM and a second logits GEMM";
  EXPECT_EQ(m.mtp_parameters() - model(yaml).mtp_parameters(),
            m.attention_parameters() + m.layer_norm_parameters() + m.moe_mlp_parameters() + 2 * 4096 * 4096 + 3 * 4096)
      << "one MoE block, the 2h x h projection and three norms";
  EXPECT_EQ(m.total_parameters(), model(yaml).total_parameters()) << "published counts leave the MTP module out";
}

TEST(ModelFlops, RecomputeAddsExecutedButNotModelFlops) {
  const ModelSpec m = model(
      "name: llama\nlayers: 4\nhidden: 1024\nheads: 8\nffn: 4096\nvocab: 32000\nseq_length: 2048\nnorm: rmsnorm\n"
      "activation: swiglu\nposition: rope\ntied_embeddings: false\nattention: {type: mha}\n");
  double model_none = 0, model_full = 0, exec_none = 0, exec_full = 0;
  for (const auto& op : single_gpu_step(m, {1, 2048}, 1, Recompute::kNone)) {
    model_none += op.model_flops;
    exec_none += op.kernel.flops;
  }
  for (const auto& op : single_gpu_step(m, {1, 2048}, 1, Recompute::kFull)) {
    model_full += op.model_flops;
    exec_full += op.kernel.flops;
  }
  EXPECT_DOUBLE_EQ(model_full, model_none) << "recomputation is not model work";
  EXPECT_GT(exec_full, exec_none * 1.2) << "full recompute re-executes every block's forward";
}

TEST(ModelFlops, SaveQkvProjRecomputesAllButTheProjections) {
  // MaxText's save_qkv_proj: the backward re-executes every forward op of the block except the q/k/v
  // projection, whose outputs are kept: executed FLOPs = full recompute's - the QKV GEMMs' (2 s h (h + 2 kv d)).
  const ModelSpec m = model(
      "name: llama\nlayers: 4\nhidden: 1024\nheads: 8\nkv_heads: 2\nffn: 4096\nvocab: 32000\nseq_length: 2048\nnorm: rmsnorm\n"
      "activation: swiglu\nposition: rope\ntied_embeddings: false\nattention: {type: gqa}\n");
  const auto executed = [&](Recompute r) {
    double f = 0;
    for (const auto& op : single_gpu_step(m, {1, 2048}, 1, r)) f += op.kernel.flops;
    return f;
  };
  const double qkv = 2.0 * 2048 * 1024 * (1024 + 2 * 2 * 128);
  EXPECT_NEAR(executed(Recompute::kSaveQkv), executed(Recompute::kFull) - 4 * qkv, 1.0) << "4 layers, one QKV GEMM each kept";
  std::size_t recomputed_qkv = 0;
  for (const auto& op : single_gpu_step(m, {1, 2048}, 1, Recompute::kSaveQkv)) {
    recomputed_qkv += op.phase == Phase::kRecompute && op.name.find(".qkv") != std::string::npos ? 1U : 0U;
  }
  EXPECT_EQ(recomputed_qkv, 0U) << "the q/k/v projections are not recomputed";
}

TEST(ModelFlops, EagerRecomputeStopsAfterTheLastSavedTensor) {
  // Eager PyTorch (torch.utils.checkpoint, use_reentrant=False) stops rerunning a block once its last
  // saved tensors (the down projection's operands) exist again: executed FLOPs = full recompute's -
  // the down-projection GEMMs' (2 s h ffn per layer), with no residual2 rerun; the block's weights are
  // cast to bf16 again (6 B per parameter), which Megatron-style recompute does not do.
  const ModelSpec m = model(
      "name: gpt\nlayers: 4\nhidden: 1024\nheads: 8\nffn: 4096\nvocab: 32000\nseq_length: 2048\nnorm: layernorm\n"
      "activation: gelu\nposition: learned\ntied_embeddings: true\nlinear_bias: true\nattention: {type: mha}\n");
  const auto executed = [&](bool eager) {
    double f = 0;
    for (const auto& op : single_gpu_step(m, {1, 2048}, 1, Recompute::kFull, 30.0, eager)) f += op.kernel.flops;
    return f;
  };
  const double fc2 = 2.0 * 2048 * 1024 * 4096;
  EXPECT_NEAR(executed(true), executed(false) - 4 * fc2, 1.0) << "4 layers, the down projection not rerun in eager";
  std::size_t fc2_reruns = 0, residual2_reruns = 0, casts = 0;
  double cast_bytes = 0;
  for (const auto& op : single_gpu_step(m, {1, 2048}, 1, Recompute::kFull, 30.0, true)) {
    if (op.phase != Phase::kRecompute) continue;
    fc2_reruns += op.name.find(".fc2") != std::string::npos ? 1U : 0U;
    residual2_reruns += op.name.find(".residual2") != std::string::npos ? 1U : 0U;
    if (op.name.find("autocast.weights.recompute") != std::string::npos) {
      ++casts;
      cast_bytes += op.kernel.bytes;
    }
  }
  EXPECT_EQ(fc2_reruns, 0U);
  EXPECT_EQ(residual2_reruns, 0U);
  EXPECT_EQ(casts, 4U) << "one weight cast per recomputed block";
  const double block = static_cast<double>(m.attention_parameters() + m.layer_norm_parameters() + m.dense_mlp_parameters());
  EXPECT_DOUBLE_EQ(cast_bytes, 4 * 6.0 * block) << "fp32 read + bf16 write of every block weight";
  for (const auto& op : single_gpu_step(m, {1, 2048}, 1, Recompute::kFull, 30.0, false)) {
    EXPECT_EQ(op.name.find("autocast"), std::string::npos) << "Megatron-style recompute casts nothing: " << op.name;
  }
}

TEST(ModelFlops, TensorParallelSplitsGemmsEvenly) {
  const ModelSpec m = model(
      "name: llama\nlayers: 2\nhidden: 4096\nheads: 32\nkv_heads: 8\nffn: 14336\nvocab: 32000\nseq_length: 4096\n"
      "norm: rmsnorm\nactivation: swiglu\nposition: rope\ntied_embeddings: false\nattention: {type: gqa}\n");
  double one = 0, eight = 0;
  for (const auto& op : layer_forward(m, 0, Shard{}, {1, 4096})) one += op.model_flops;
  for (const auto& op : layer_forward(m, 0, Shard{8, 1, 1, 1, true, 1.0, false}, {1, 4096})) eight += op.model_flops;
  EXPECT_NEAR(eight * 8 / one, 1.0, 1e-12) << "TP=8 must give each rank 1/8 of a block's FLOPs";
}

TEST(ModelFlops, ExpertTensorParallelismSplitsTheExpertsWorkOverTheTpRanks) {
  // Megatron-Core with sequence parallelism: each TP rank routes its T / tp tokens and the expert-TP group
  // pools its members' tokens. expert_tp = tp: T tokens at width f / tp; expert_tp = 1: T / tp tokens at
  // full width. Either way one TP rank does 1/tp of the group's expert FLOPs (no rank repeats another's).
  const ModelSpec m = model(
      "name: moe\nlayers: 1\nhidden: 4096\nheads: 32\nkv_heads: 8\nffn: 14336\nvocab: 32000\nseq_length: 4096\n"
      "norm: rmsnorm\nactivation: swiglu\nposition: rope\ntied_embeddings: false\nattention: {type: gqa}\n"
      "moe: {experts: 8, top_k: 2, expert_ffn: 14336}\n");
  const auto expert_flops = [&](const Shard& s) {
    double f = 0;
    for (const auto& op : layer_forward(m, 0, s, {1, 4096})) {
      if (op.name.find(".expert.") != std::string::npos) f += op.model_flops;
    }
    return f;
  };
  const double one = expert_flops(Shard{});
  EXPECT_NEAR(expert_flops(Shard{2, 1, 1, 2, true, 1.0, false}) * 2 / one, 1.0, 1e-12) << "expert_tp = tp = 2";
  EXPECT_NEAR(expert_flops(Shard{2, 1, 1, 1, true, 1.0, false}) * 2 / one, 1.0, 1e-12) << "expert_tp = 1 < tp = 2";
  // tp = 1, expert_tp = 2 (folding): the pair pools both ranks' T tokens, 2T at width f / 2: one rank's
  // share is the work of its own T tokens (until 2026-12-07 it ran T at f / 2, half the work).
  EXPECT_NEAR(expert_flops(Shard{1, 1, 1, 2, false, 1.0, false}) / one, 1.0, 1e-12) << "tp = 1, expert_tp = 2";
}

// Megatron-LM's unfused core attention (SC'21 / Korthikanti et al. era): the same model FLOPs as the
// flash core, executed as batched GEMMs over the full s x s scores, plus softmax and dropout passes
// over 2-byte scores: forward softmax reads + writes (4 B), dropout reads, writes and stores a 1-byte
// mask (5 B); backward dropout 5 B and softmax reads probabilities and gradient, writes one (6 B).
TEST(UnfusedAttention, BatchedGemmsAndScoreTrafficMatchClosedForms) {
  const ModelSpec m = model(
      "name: gpt\nlayers: 2\nhidden: 2304\nheads: 24\nffn: 9216\nvocab: 51200\nseq_length: 2048\nnorm: layernorm\n"
      "activation: gelu\nposition: learned\ntied_embeddings: true\nlinear_bias: true\nattention: {type: mha}\n");
  const std::int64_t b = 4, s = 2048, a = 24, dh = 96;
  Shard flash;
  Shard unfused;
  unfused.flash_attention = false;
  unfused.dropout = true;
  const double scores = static_cast<double>(b * a * s * s);
  double model_flash = 0, model_unfused = 0, gemm_flops = 0, score_bytes = 0;
  for (const auto& op : layer_forward(m, 0, flash, {b, s})) model_flash += op.model_flops;
  for (const auto& op : layer_forward(m, 0, unfused, {b, s})) {
    model_unfused += op.model_flops;
    if (!op.attention_core) continue;
    if (op.kernel.kind == compute::KernelKind::kGemm) {
      EXPECT_EQ(op.kernel.gemm.count, b * a) << op.name << ": one GEMM per (sequence, head)";
      gemm_flops += op.kernel.flops;
    } else {
      score_bytes += op.kernel.bytes;
    }
  }
  EXPECT_NEAR(model_unfused / model_flash, 1.0, 1e-12) << "the implementation must not change model FLOPs";
  EXPECT_NEAR(gemm_flops / (2.0 * 2.0 * scores * dh), 1.0, 1e-12) << "QK^T and PV over the full (unmasked) s x s";
  // Forward: softmax 4 B + dropout 5 B per score.
  EXPECT_NEAR(score_bytes / (9.0 * scores), 1.0, 1e-12);
  double bwd_gemm = 0, bwd_bytes = 0;
  for (const auto& op : layer_backward(m, 0, unfused, {b, s}, Recompute::kNone)) {
    if (!op.attention_core) continue;
    EXPECT_EQ(op.phase, Phase::kBackwardInput) << op.name << ": attention has no weight gradient";
    if (op.kernel.kind == compute::KernelKind::kGemm) bwd_gemm += op.kernel.flops;
    else bwd_bytes += op.kernel.bytes;
  }
  EXPECT_NEAR(bwd_gemm / (2.0 * gemm_flops), 1.0, 1e-12) << "dP, dV, dQ, dK: twice the forward GEMMs";
  EXPECT_NEAR(bwd_bytes / (11.0 * scores), 1.0, 1e-12) << "dropout 5 B + softmax 6 B per score";
  // Selective recomputation replays exactly the forward core (Korthikanti et al.).
  double recompute_flops = 0;
  for (const auto& op : layer_backward(m, 0, unfused, {b, s}, Recompute::kSelective)) {
    if (op.phase == Phase::kRecompute) {
      EXPECT_TRUE(op.attention_core) << op.name;
      EXPECT_EQ(op.model_flops, 0.0) << op.name << ": recomputation is not model work";
      recompute_flops += op.kernel.flops;
    }
  }
  EXPECT_NEAR(recompute_flops / gemm_flops, 1.0, 1e-12);
}

}  // namespace
}  // namespace mfusim::workload
