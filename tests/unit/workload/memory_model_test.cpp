// Memory model vs Megatron-LM's theoretical memory estimate (megatron/training/theoretical_memory_usage.py:
// compute_weight_and_optimizer_memory and compute_activation_memory, transcribed below), which assumes
// GPT-style blocks, selective recompute, sequence parallelism and dropout, and 18 bytes per parameter
// (6 + 12/dp with the distributed optimizer).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "config/loader.hpp"
#include "config/reader.hpp"
#include "workload/memory_model.hpp"

namespace mfusim::workload {
namespace {

struct Args {
  double layers, hidden, heads, groups, kv_channels, ffn, vocab, seq, mbs, tp, pp, dp, microbatches;
  bool untie, swiglu, dist_opt;
};

double megatron_weight_and_optimizer(const Args& a) {
  const double ratio = a.kv_channels * a.heads / a.hidden;
  const double gated = a.swiglu ? 3.0 / 2.0 : 1.0;
  const double in_layers = 2 * a.layers * a.hidden * a.hidden *
                           (((1 + (a.groups / a.heads)) * ratio) + ((a.ffn / a.hidden) * gated) + (2 / a.hidden) +
                            (1 / (a.layers * a.hidden)));
  const double embedding = a.hidden * a.vocab;
  double most_loaded = ((in_layers / a.pp) + embedding) / a.tp;
  if (a.untie && a.pp == 1) most_loaded += embedding / a.tp;
  const double bytes = a.dist_opt ? 6 + (12 / a.dp) : 18;
  return most_loaded * bytes;
}

double megatron_activation(const Args& a) {
  double act = (a.seq * a.mbs * a.hidden) * (18 + (4 * (a.ffn / a.hidden)));
  act *= a.layers;
  act += 8 * a.seq * a.mbs * a.pp;
  act += a.seq * a.mbs * a.hidden * a.pp;
  if (a.pp > 1) act *= std::min(1.0, a.microbatches / a.pp);
  if (a.pp == 1) act += a.seq * a.mbs * a.hidden * 4 * (1 + (a.vocab / a.hidden));
  return act / a.tp;
}

ModelSpec gpt(double layers, double hidden, double heads, double vocab, double seq) {
  const std::string yaml = "name: g\nlayers: " + std::to_string(static_cast<int>(layers)) +
                           "\nhidden: " + std::to_string(static_cast<int>(hidden)) +
                           "\nheads: " + std::to_string(static_cast<int>(heads)) +
                           "\nffn: " + std::to_string(static_cast<int>(4 * hidden)) +
                           "\nvocab: " + std::to_string(static_cast<int>(vocab)) +
                           "\nseq_length: " + std::to_string(static_cast<int>(seq)) +
                           "\nnorm: layernorm\nactivation: gelu\nposition: rope\ntied_embeddings: true\nattention: {type: mha}\n";
  const config::Node n = config::parse_text(yaml, "gpt.yaml");
  config::Reader r(n, "", nullptr);
  return read_model(r);
}

double item(const MemoryBreakdown& b, const std::string& prefix) {
  double s = 0;
  for (const auto& i : b.items) {
    if (i.name.rfind(prefix, 0) == 0) s += i.bytes;
  }
  return s;
}

struct Case {
  const char* name;
  double layers, hidden, heads, vocab, seq, mbs, tp, pp, dp, microbatches;
  bool dist_opt;
};

class MegatronMemory : public testing::TestWithParam<Case> {};

TEST_P(MegatronMemory, MatchesTheoreticalEstimate) {
  const Case c = GetParam();
  const ModelSpec m = gpt(c.layers, c.hidden, c.heads, c.vocab, c.seq);
  MemoryPlan plan;
  plan.shard.tp = static_cast<std::int64_t>(c.tp);
  plan.shard.sequence_parallel = true;
  plan.pp = static_cast<std::int64_t>(c.pp);
  plan.dp = static_cast<std::int64_t>(c.dp);
  plan.pipeline = c.pp > 1 ? PipelineKind::kOneFOneB : PipelineKind::kNone;
  plan.microbatches = static_cast<std::int64_t>(c.microbatches);
  plan.micro_batch = {static_cast<std::int64_t>(c.mbs), static_cast<std::int64_t>(c.seq)};
  plan.recompute = Recompute::kSelective;
  plan.sharding = c.dist_opt ? Sharding::kOptimizer : Sharding::kNone;
  plan.shard.flash_attention = false;
  plan.shard.dropout = true;
  const MemoryBreakdown b = estimate_stage(m, plan, 0);  // Megatron's estimate is the first stage's
  EXPECT_EQ(estimate_memory(m, plan).stage, 0) << c.name << ": the first stage is the most loaded here";
  const Args a{c.layers, c.hidden, c.heads, c.heads, c.hidden / c.heads, 4 * c.hidden, c.vocab, c.seq, c.mbs,
               c.tp, c.pp, c.dp, c.microbatches, false, false, c.dist_opt};
  const double states = item(b, "weights") + item(b, "gradients") + item(b, "optimizer");
  // Megatron counts 2 norms of h per layer and ignores biases and the norms' second vector; we count
  // LayerNorm weight + bias and linear biases: within 0.5%.
  EXPECT_NEAR(states / megatron_weight_and_optimizer(a), 1.0, 0.005) << c.name << ": weights + grads + optimizer";
  const double acts = item(b, "activations") + item(b, "embedding") + item(b, "output");
  EXPECT_NEAR(acts / megatron_activation(a), 1.0, 0.01) << c.name << ": activations";
}

// GPT-3 175B as trained in the Megatron papers (TP 8, PP 8 / PP 16), and a 22B model on one node.
INSTANTIATE_TEST_SUITE_P(Cases, MegatronMemory,
                         testing::Values(Case{"gpt3-175b tp8 pp8", 96, 12288, 96, 51200, 2048, 1, 8, 8, 12, 64, true},
                                         Case{"gpt3-175b tp8 pp16 no distopt", 96, 12288, 96, 51200, 2048, 1, 8, 16, 8, 128, false},
                                         Case{"gpt 22b tp8 pp1", 48, 6144, 64, 51200, 2048, 4, 8, 1, 1, 1, false},
                                         Case{"gpt 1.3b tp1 pp1 few microbatches", 24, 2048, 16, 51200, 2048, 2, 1, 4, 2, 2, true}));

TEST(MemoryModel, KorthikantiTable2) {
  // 34sbh + 5as^2b per layer without parallelism or recomputation (GPT shape, dropout, no flash).
  const ModelSpec m = gpt(1, 4096, 32, 51200, 2048);
  MemoryPlan plan;
  plan.micro_batch = {1, 2048};
  plan.shard.flash_attention = false;
  plan.shard.dropout = true;
  const double per_token = activation_bytes_per_token(m, 0, plan);
  EXPECT_DOUBLE_EQ(per_token, 34.0 * 4096 + 5.0 * 32 * 2048);
  plan.recompute = Recompute::kFull;
  EXPECT_DOUBLE_EQ(activation_bytes_per_token(m, 0, plan), 2.0 * 4096) << "full recompute keeps the layer input";
  plan.recompute = Recompute::kSaveQkv;
  EXPECT_DOUBLE_EQ(activation_bytes_per_token(m, 0, plan), 2.0 * 4096 + 2.0 * 3 * 4096)
      << "save_qkv_proj keeps the layer input and the q, k, v projections (MHA: 3h)";
  plan.recompute = Recompute::kNone;
  plan.shard.tp = 8;
  EXPECT_DOUBLE_EQ(activation_bytes_per_token(m, 0, plan), 10.0 * 4096 + 24.0 * 4096 / 8 + 5.0 * 32 * 2048 / 8)
      << "TP without SP: 10 sbh stay replicated";
}

TEST(MemoryModel, SixteenBitGradientsAndTheOptimizersFp32Copy) {
  // 16-bit gradients (fp16 training, --grad-reduce-in-bf16): a 2 B gradient buffer, and at the optimizer
  // step a 4 B fp32 copy of the optimizer's share of the gradients (all of them with plain DP, 1/dp with
  // the distributed optimizer), which exists only while no activations are held.
  const ModelSpec m = gpt(8, 2048, 16, 51200, 2048);
  for (const Sharding sharding : {Sharding::kNone, Sharding::kOptimizer}) {
    MemoryPlan plan;
    plan.micro_batch = {1, 2048};
    plan.dp = 8;
    plan.sharding = sharding;
    const MemoryBreakdown fp32 = estimate_memory(m, plan);
    plan.grad_bytes = 2.0;
    const MemoryBreakdown half = estimate_memory(m, plan);
    const double params = half.parameters_on_rank;
    const double share = sharding == Sharding::kNone ? 1.0 : 1.0 / 8.0;
    EXPECT_DOUBLE_EQ(item(half, "gradients"), 2.0 * params) << "a 2 B gradient buffer";
    EXPECT_DOUBLE_EQ(item(half, "fp32 gradient copy"), 4.0 * params * share) << "the optimizer's fp32 copy of its gradients";
    const double states = item(half, "weights") + item(half, "gradients") + item(half, "optimizer") + item(half, "fp32 gradient copy");
    EXPECT_DOUBLE_EQ(half.total_bytes, std::max(fp32.total_bytes - 2.0 * params, states))
        << "peak = max(training phase with the 2 B buffer, optimizer step with the copy)";
  }
}

TEST(MemoryModel, Bf16AdamMomentsTakeFourBytesLessPerParameter) {
  // DeepSeek-V3's bf16 moments (training.adam_moments: bf16): fp32 master 4 B + two 2 B moments = 8 B of
  // optimizer state per parameter instead of 12; sharded over dp with the distributed optimizer.
  const ModelSpec m = gpt(4, 1024, 8, 32000, 2048);
  MemoryPlan plan;
  plan.micro_batch = {1, 2048};
  plan.sharding = Sharding::kOptimizer;
  plan.dp = 4;
  const MemoryBreakdown fp32 = estimate_memory(m, plan);
  plan.bf16_moments = true;
  const MemoryBreakdown bf16 = estimate_memory(m, plan);
  EXPECT_NEAR(item(fp32, "optimizer states") - item(bf16, "optimizer states"), 4.0 * fp32.parameters_on_rank / 4.0, 1e-3)
      << "4 B per parameter less, over dp = 4";
  EXPECT_NEAR(fp32.total_bytes - bf16.total_bytes, fp32.parameters_on_rank, 1e-3);
}

TEST(MemoryModel, StatesAreShardedOverDataAndContextParallelRanks) {
  // The distributed optimizer shards over dp x cp ranks (Megatron-Core's data-parallel group with
  // context parallelism): with cp = 2 each rank keeps half the optimizer states of cp = 1 at the same dp,
  // and the weights and gradient buffer are unchanged.
  const ModelSpec m = gpt(8, 2048, 16, 51200, 8192);
  MemoryPlan plan;
  plan.micro_batch = {1, 8192};
  plan.sharding = Sharding::kOptimizer;
  plan.dp = 4;  // shard_ranks() of dp 4, cp 1
  const MemoryBreakdown cp1 = estimate_memory(m, plan);
  plan.shard.cp = 2;
  plan.dp = 8;  // shard_ranks() of dp 4, cp 2
  const MemoryBreakdown cp2 = estimate_memory(m, plan);
  EXPECT_DOUBLE_EQ(item(cp2, "optimizer"), item(cp1, "optimizer") / 2.0) << "optimizer states over dp x cp = 8 ranks";
  EXPECT_DOUBLE_EQ(item(cp2, "weights"), item(cp1, "weights"));
  EXPECT_DOUBLE_EQ(item(cp2, "gradients"), item(cp1, "gradients"));
}

TEST(MemoryModel, RoutedExpertStatesAreShardedOverExpertDataParallelRanks) {
  // Dense parameters' states over dp ranks, routed experts' over expert_dp ranks (Megatron-Core's
  // expert data parallel group, tp x cp x dp / (ep x expert_tp)).
  ModelSpec m = gpt(4, 1024, 8, 32000, 2048);
  m.moe = MoeSpec{8, 2, 2048, 0, 0, 1, 0};
  MemoryPlan plan;
  plan.micro_batch = {1, 2048};
  plan.sharding = Sharding::kOptimizer;
  plan.shard.ep = 4;
  plan.dp = 8;
  plan.expert_dp = 2;
  const MemoryBreakdown b = estimate_memory(m, plan);
  const double routed = 4.0 * 8.0 * 2.0 * 1024.0 * 2048.0 / 4.0;  // layers x experts x (fc1 + fc2) / ep
  const double dense = b.parameters_on_rank - routed;
  EXPECT_NEAR(item(b, "optimizer"), 12.0 * (dense / 8.0 + routed / 2.0), 1.0)
      << "12 B per parameter: dense over 8 ranks, routed experts over 2";
}

TEST(MemoryModel, ExpertInputsArePooledOverTheExpertTpGroup) {
  // Megatron-Core's dispatcher with TP 4 (sequence parallel): a rank routes its own T / 4 tokens; the
  // expert-TP group gathers its members' routed tokens, so per token of T a rank keeps expert_tp / tp of
  // the experts' width-h inputs (2 k h bytes each) and 1 / tp of their width-f terms (f / expert_tp wide).
  ModelSpec m = gpt(4, 1024, 8, 32000, 2048);
  m.activation = Activation::kSwiGlu;
  m.moe = MoeSpec{8, 2, 2048, 0, 0, 1, 0};
  MemoryPlan plan;
  plan.micro_batch = {1, 2048};
  plan.recompute = Recompute::kSelective;
  plan.shard.tp = 4;
  plan.shard.sequence_parallel = true;
  plan.shard.expert_tp = 4;
  const double all = activation_bytes_per_token(m, 0, plan);
  plan.shard.expert_tp = 1;
  const double unsplit = activation_bytes_per_token(m, 0, plan);
  const double h_inputs = 2.0 * 2.0 * 1024.0;  // k x 2h
  EXPECT_NEAR(all - unsplit, h_inputs * (4.0 / 4.0 - 1.0 / 4.0), 1e-9)
      << "expert_tp 4 holds all T tokens' expert inputs, expert_tp 1 its own T / 4; the width-f terms are 1/tp in both";
  plan.shard.tp = 1;
  plan.shard.sequence_parallel = false;
  plan.shard.expert_tp = 2;
  const double etp2 = activation_bytes_per_token(m, 0, plan);
  plan.shard.expert_tp = 1;
  EXPECT_NEAR(etp2 - activation_bytes_per_token(m, 0, plan), h_inputs, 1e-9)
      << "tp 1, expert_tp 2: the pair pools both ranks' tokens, twice the width-h inputs, the same width-f bytes";
}

TEST(MemoryModel, RecomputeModulesFreeWhatTheyRerun) {
  // Megatron-Core's --recompute-modules (ops.hpp, RecomputeModule), per token of a GELU block (f = 4h)
  // at tp 2 without sequence parallelism: layernorm frees the two norm outputs (4h, outside the TP
  // region); mlp frees the MLP's fc1 output and fc2 input (2f + 2f, split by tp); core_attn alone is
  // Megatron's selective recomputation.
  const ModelSpec m = gpt(4, 1024, 8, 32000, 2048);
  MemoryPlan plan;
  plan.micro_batch = {1, 2048};
  plan.recompute = Recompute::kSelective;
  plan.shard.tp = 2;
  const double h = 1024.0, f = 4096.0;
  const auto bytes = [&](RecomputeModules modules) {
    plan.shard.recompute_modules = modules;
    return activation_bytes_per_token(m, 0, plan);
  };
  const double core = bytes(kRecomputeCoreAttention);
  EXPECT_NEAR(core - bytes(kRecomputeCoreAttention | kRecomputeNorms), 4.0 * h, 1e-9) << "layernorm: the two norm outputs";
  EXPECT_NEAR(core - bytes(kRecomputeCoreAttention | kRecomputeMlp), (2.0 * f + 2.0 * f) / 2.0, 1e-9)
      << "mlp: fc1 output and fc2 input, 1/tp each";
  EXPECT_NEAR(bytes(kRecomputeNorms) - bytes(kRecomputeCoreAttention | kRecomputeNorms), 4.0 * 8.0 / 2.0, 1e-9)
      << "without core_attn the flash kernel's fp32 log-sum-exp (4 B per local head) stays";
  plan.recompute = Recompute::kNone;
  EXPECT_DOUBLE_EQ(bytes(kRecomputeNorms | kRecomputeMlp), bytes(kRecomputeCoreAttention)) << "modules apply to selective only";
}

TEST(MemoryModel, DeepSeekRecomputationAndFp8CachedLinearInputs) {
  // DeepSeek-V3's scheme (report 3.3.2-3.3.3) on an MLA + MoE block, tp 1: mla_up_proj frees the per-head
  // Q, K, V (2a (2 d_qk + d_v)); moe_act frees the routed experts' fc2 inputs (k x 2f); FP8-cached Linear
  // inputs take (1 + 4/128) B for 2 B: the norm outputs (4h), MLA's latents (2 (q_lora + kv_lora)), the
  // routed tokens (k x 2h), their SwiGLU inputs (k x 2 x 2f) and fc2 inputs, the shared expert's fc2 input.
  ModelSpec m = gpt(4, 1024, 8, 32000, 2048);
  m.activation = Activation::kSwiGlu;
  m.mla = MlaSpec{384, 128, 64, 32, 64};
  m.moe = MoeSpec{16, 2, 512, 1, 512, 1, 0};
  MemoryPlan plan;
  plan.micro_batch = {1, 2048};
  plan.recompute = Recompute::kSelective;
  const auto bytes = [&](RecomputeModules modules, bool fp8) {
    plan.shard.recompute_modules = modules;
    plan.fp8_activations = fp8;
    return activation_bytes_per_token(m, 0, plan);
  };
  const double h = 1024.0, a = 8.0, k = 2.0, f = 512.0;
  const RecomputeModules core = kRecomputeCoreAttention;
  EXPECT_NEAR(bytes(core, false) - bytes(core | kRecomputeMlaUpProjection, false), 2.0 * a * (96.0 + 96.0 + 64.0), 1e-9)
      << "mla_up_proj: the per-head Q, K (64 + 32 wide) and V (64)";
  EXPECT_NEAR(bytes(core, false) - bytes(core | kRecomputeMoeActivation, false), k * 2.0 * f, 1e-9)
      << "moe_act: the top-k copies' fc2 inputs";
  const double saved = 1.0 - (1.0 + 4.0 / 128.0) / 2.0;  // share of a bf16 Linear input that FP8 saves
  const double linear_inputs = 4.0 * h + 2.0 * (384.0 + 128.0) + k * (2.0 * h + 2.0 * 2.0 * f + 2.0 * f) + 2.0 * f;
  EXPECT_NEAR(bytes(core, false) - bytes(core, true), linear_inputs * saved, 1e-9)
      << "fp8_activations: every Linear input (and the experts' SwiGLU input) at 1 B + an fp32 scale per 128";
  EXPECT_NEAR(bytes(core | kRecomputeNorms | kRecomputeMoeActivation, false) - bytes(core | kRecomputeNorms | kRecomputeMoeActivation, true),
              (linear_inputs - 4.0 * h - k * 2.0 * f) * saved, 1e-9)
      << "what the recomputation frees is not also counted in FP8";
}

// A pipelined plan of one 2,048-token sequence per micro-batch.
MemoryPlan pipelined(std::int64_t pp, PipelineKind kind, std::int64_t microbatches, std::int64_t virtual_stages = 1) {
  MemoryPlan plan;
  plan.micro_batch = {1, 2048};
  plan.pp = pp;
  plan.virtual_stages = virtual_stages;
  plan.pipeline = kind;
  plan.microbatches = microbatches;
  return plan;
}

TEST(MemoryModel, OneFOneBStagesHoldFewerMicroBatchesDownThePipeline) {
  // 1F1B: stage s runs pp - s - 1 warm-up forwards, so it holds min(m, pp - s) micro-batches. GPipe holds
  // all m on every stage.
  const ModelSpec m = gpt(8, 2048, 16, 51200, 2048);
  MemoryPlan plan = pipelined(4, PipelineKind::kOneFOneB, 8);
  const double per_mb = estimate_stage(m, plan, 1).activation_bytes_per_layer * 2.0;  // 2 layers a stage
  for (std::int64_t s = 0; s < 4; ++s) {
    EXPECT_DOUBLE_EQ(item(estimate_stage(m, plan, s), "activations"), per_mb * static_cast<double>(4 - s))
        << "stage " << s << " of 4 holds 4 - s micro-batches";
  }
  plan.microbatches = 2;
  EXPECT_DOUBLE_EQ(item(estimate_stage(m, plan, 0), "activations"), per_mb * 2.0) << "no more than m = 2 in flight";
  plan.pipeline = PipelineKind::kGpipe;
  EXPECT_DOUBLE_EQ(item(estimate_stage(m, plan, 3), "activations"), per_mb * 2.0) << "GPipe: every stage holds m";
}

TEST(MemoryModel, OverlappedPairsHoldOneMoreMicroBatch) {
  // ParallelPlan::ep_comm_overlap outside DualPipe: a paired forward builds its activations while its
  // backward partner still holds its own, one micro-batch more in flight (at most m; interleaved: one
  // chunk more); DualPipe's pp + 1 positions already count it.
  const ModelSpec m = gpt(8, 2048, 16, 51200, 2048);
  MemoryPlan plan = pipelined(4, PipelineKind::kOneFOneB, 8);
  const double per_mb = estimate_stage(m, plan, 1).activation_bytes_per_layer * 2.0;  // 2 layers a stage
  plan.overlapped_pairs = true;
  EXPECT_DOUBLE_EQ(item(estimate_stage(m, plan, 3), "activations"), per_mb * 2.0) << "last stage: 1 + 1";
  EXPECT_DOUBLE_EQ(item(estimate_stage(m, plan, 0), "activations"), per_mb * 5.0) << "first stage: 4 + 1";
  plan.microbatches = 4;
  EXPECT_DOUBLE_EQ(item(estimate_stage(m, plan, 0), "activations"), per_mb * 4.0) << "no more than m = 4";
  plan.microbatches = 8;
  const double dual_before = item(estimate_stage(m, [&] { auto q = plan; q.overlapped_pairs = false; q.pipeline = PipelineKind::kDualPipe; return q; }(), 0), "activations");
  plan.pipeline = PipelineKind::kDualPipe;
  EXPECT_DOUBLE_EQ(item(estimate_stage(m, plan, 0), "activations"), dual_before) << "DualPipe: pp + 1 positions already";
  // Interleaved (pp 4, v 2, m 8): Megatron-Core's combined 1F1B runs one more warm-up chunk-forward, so
  // stage s holds 2 (pp - s - 1) + (v - 1) pp + 2 chunks of half its layers: 12 on stage 0 (6
  // micro-batches' worth, one chunk more than 5.5), 6 on the last (3 instead of 2.5).
  MemoryPlan il = pipelined(4, PipelineKind::kInterleaved, 8, 2);
  const ModelSpec m16 = gpt(16, 2048, 16, 51200, 2048);
  const double per_il = estimate_stage(m16, il, 0).activation_bytes_per_layer * 4.0;  // 4 layers a stage
  il.overlapped_pairs = true;
  EXPECT_DOUBLE_EQ(item(estimate_stage(m16, il, 0), "activations"), per_il * 6.0) << "stage 0: 12 chunks";
  EXPECT_DOUBLE_EQ(item(estimate_stage(m16, il, 3), "activations"), per_il * 3.0) << "last stage: 6 chunks";
}

TEST(MemoryModel, InterleavedStagesHoldMegatronsWarmUpChunks) {
  // Interleaved 1F1B (pp 4, v 2, m 8): stage s holds 2 (pp - s - 1) + (v - 1) pp + 1 chunks of half its
  // layers = 11, 9, 7, 5 chunks = 5.5, 4.5, 3.5, 2.5 micro-batches of the stage's layers; stage 0's 5.5 is
  // Korthikanti et al.'s pp (1 + (pp - 1)/(pp v)).
  const ModelSpec m = gpt(16, 2048, 16, 51200, 2048);
  MemoryPlan plan = pipelined(4, PipelineKind::kInterleaved, 8, 2);
  const double per_mb = estimate_stage(m, plan, 0).activation_bytes_per_layer * 4.0;  // 4 layers a stage
  const double expected[] = {5.5, 4.5, 3.5, 2.5};
  for (std::int64_t s = 0; s < 4; ++s) {
    EXPECT_DOUBLE_EQ(item(estimate_stage(m, plan, s), "activations"), per_mb * expected[s]) << "stage " << s;
  }
  plan.microbatches = 2;  // the warm-up is capped at m v = 4 chunks
  EXPECT_DOUBLE_EQ(item(estimate_stage(m, plan, 0), "activations"), per_mb * 2.0) << "m v = 4 chunks = 2 micro-batches";
}

TEST(MemoryModel, DualPipeHoldsTwoPositionsAndPpPlusOneActivations) {
  // DualPipe (DeepSeek-V3, Table 2: parameters 2x, activations pp + 1): with pp 4, rank 0 holds positions 0
  // and 3 (layers 0-1 and 6-7 of 8, the embedding, the output layer and, tied, its own copy of the word
  // embedding), rank 1 positions 1 and 2; each holds pp + 1 = 5 positions' activations of a micro-batch.
  const ModelSpec m = gpt(8, 2048, 16, 51200, 2048);
  const MemoryPlan plan = pipelined(4, PipelineKind::kDualPipe, 8);
  const MemoryBreakdown end = estimate_stage(m, plan, 0), middle = estimate_stage(m, plan, 1);
  const double word = 51200.0 * 2048.0;
  EXPECT_NEAR(end.parameters_on_rank - middle.parameters_on_rank,
              static_cast<double>(m.embedding_parameters() + m.output_parameters()) + word, 1.0)
      << "the end ranks hold both directions' ends: embedding, final norm and the output layer's word-embedding copy";
  EXPECT_GT(middle.parameters_on_rank, 4.0 * 12.0 * 2048.0 * 2048.0) << "four layers (two positions) on every rank";
  EXPECT_DOUBLE_EQ(item(middle, "activations"), middle.activation_bytes_per_layer * 2.0 * 5.0)
      << "pp + 1 = 5 positions of 2 layers";
  EXPECT_DOUBLE_EQ(item(estimate_stage(m, pipelined(4, PipelineKind::kDualPipe, 2), 1), "activations"),
                   middle.activation_bytes_per_layer * 2.0 * 2.0)
      << "no more than one position per micro-batch: m = 2";
  const MemoryBreakdown one = estimate_stage(m, pipelined(4, PipelineKind::kOneFOneB, 8), 1);
  EXPECT_NEAR(middle.parameters_on_rank, 2.0 * one.parameters_on_rank, 1.0) << "2x 1F1B's parameters on a middle rank";
}

TEST(MemoryModel, MtpModulesSitOnTheLastStage) {
  // An MTP module (mtp_layers: 1) on the last of 2 stages: one more block with its 2h x h projection and
  // three norms, its input's activations (two norm inputs and the projection's 2h-wide input: 8h more per
  // token than a decoder block), and a second head's logits; the first stage is unchanged. (The model's
  // tied embeddings already put a word-embedding copy on the last stage, which the MTP module reuses.)
  const ModelSpec m = gpt(8, 2048, 16, 51200, 2048);
  ModelSpec mtp = m;
  mtp.mtp_layers = 1;
  const MemoryPlan plan = pipelined(2, PipelineKind::kOneFOneB, 8);
  const double h = 2048.0;
  EXPECT_DOUBLE_EQ(estimate_stage(mtp, plan, 0).total_bytes, estimate_stage(m, plan, 0).total_bytes) << "first stage unchanged";
  const MemoryBreakdown with = estimate_stage(mtp, plan, 1), without = estimate_stage(m, plan, 1);
  const double block = static_cast<double>(m.attention_parameters() + m.layer_norm_parameters() + m.dense_mlp_parameters());
  EXPECT_NEAR(with.parameters_on_rank - without.parameters_on_rank, block + 2.0 * h * h + 3.0 * h, 1e-6)
      << "one block, the projection and three norms";
  EXPECT_NEAR(activation_bytes_per_token(mtp, 8, plan) - activation_bytes_per_token(mtp, 7, plan), 8.0 * h, 1e-9)
      << "the MTP block keeps its input's norms and projection input besides a decoder block's";
  EXPECT_NEAR(item(with, "activations") - item(without, "activations"), activation_bytes_per_token(mtp, 8, plan) * 2048.0 * 1.0, 1e-3)
      << "one more block's activations for each of the last stage's 1 micro-batch in flight";
  EXPECT_DOUBLE_EQ(item(with, "output layer"), 2.0 * item(without, "output layer")) << "two heads' logits";
}

TEST(MemoryModel, EndStageLayerCountsMoveLayersBetweenStages) {
  // parallel.first_stage_layers = 2 of 8 layers on 2 stages: stage 0 holds 2 blocks, stage 1 the other 6
  // (automatic: 4 and 4); the activations per micro-batch follow the blocks.
  const ModelSpec m = gpt(8, 2048, 16, 51200, 2048);
  MemoryPlan plan = pipelined(2, PipelineKind::kOneFOneB, 8);
  const MemoryBreakdown even0 = estimate_stage(m, plan, 0), even1 = estimate_stage(m, plan, 1);
  plan.first_stage_layers = 2;
  const MemoryBreakdown set0 = estimate_stage(m, plan, 0), set1 = estimate_stage(m, plan, 1);
  const double block = static_cast<double>(m.attention_parameters() + m.layer_norm_parameters() + m.dense_mlp_parameters());
  EXPECT_NEAR(even0.parameters_on_rank - set0.parameters_on_rank, 2.0 * block, 1e-6) << "two blocks fewer on stage 0";
  EXPECT_NEAR(set1.parameters_on_rank - even1.parameters_on_rank, 2.0 * block, 1e-6) << "two more on stage 1";
  EXPECT_NEAR(item(set0, "activations"), item(even0, "activations") / 2.0, 1e-3) << "half the blocks, the same micro-batches in flight";
}

TEST(MemoryModel, TheLastStageHoldsTheOutputLayerTheLossAndTheTiedEmbeddingCopy) {
  // A large vocabulary and one micro-batch: the last stage's output layer (a copy of the tied word
  // embedding when pp > 1) and its fp32 logits outweigh the first stage's embedding, so the peak is the
  // last stage's. Vocabulary 256K, h 1024, 4 layers on 2 stages, tp 1, no sharding.
  const ModelSpec m = gpt(4, 1024, 8, 256000, 2048);
  const MemoryPlan plan = pipelined(2, PipelineKind::kOneFOneB, 1);
  const MemoryBreakdown first = estimate_stage(m, plan, 0), last = estimate_stage(m, plan, 1);
  const double word = 256000.0 * 1024.0;
  EXPECT_NEAR(last.parameters_on_rank - first.parameters_on_rank, word - static_cast<double>(m.embedding_parameters()) +
                                                                        static_cast<double>(m.output_parameters()), 1.0)
      << "the last stage keeps its own copy of the word embedding and the final norm";
  EXPECT_DOUBLE_EQ(item(last, "output layer and loss"), 2048.0 * (4.0 * 1024.0 + 4.0 * 256000.0))
      << "Megatron's 4 s b h (1 + V/h) on the last stage";
  EXPECT_DOUBLE_EQ(item(first, "output layer and loss"), 0.0) << "no logits on the first stage";
  const MemoryBreakdown peak = estimate_memory(m, plan);
  EXPECT_EQ(peak.stage, 1) << "the last stage is the most loaded";
  EXPECT_DOUBLE_EQ(peak.total_bytes, last.total_bytes);
}

TEST(MemoryModel, StagesHoldTheirOwnLayers) {
  // MoE with two leading dense layers, 8 layers on 4 stages: stage 0 holds the dense layers 0-1, the
  // others MoE layers; with 8 experts and no expert parallelism the MoE stages hold more parameters.
  ModelSpec m = gpt(8, 1024, 8, 32000, 2048);
  m.moe = MoeSpec{8, 2, 2048, 0, 0, 1, 2};
  const MemoryPlan plan = pipelined(4, PipelineKind::kOneFOneB, 4);
  const double embedding = static_cast<double>(m.embedding_parameters());
  EXPECT_NEAR(estimate_stage(m, plan, 0).parameters_on_rank - embedding,
              static_cast<double>(m.attention_parameters() + m.layer_norm_parameters() + m.dense_mlp_parameters()) * 2.0, 1.0)
      << "stage 0 holds dense layers 0 and 1";
  EXPECT_NEAR(estimate_stage(m, plan, 1).parameters_on_rank,
              static_cast<double>(m.attention_parameters() + m.layer_norm_parameters() + m.moe_mlp_parameters()) * 2.0, 1.0)
      << "stage 1 holds MoE layers 2 and 3";
  EXPECT_GT(estimate_memory(m, plan).stage, 0) << "an MoE stage is the most loaded";
}

}  // namespace
}  // namespace mfusim::workload
