// The training-step simulator against closed forms, with an ideal compute model (every kernel at peak,
// no launch overhead) and a closed-form communication model:
//   time(collective over n ranks, S bytes) = alpha + f(n) S / B,  f = 2(n-1)/n for all-reduce,
//   (n-1)/n for all-gather, reduce-scatter and all-to-all, 1 for send/recv (ring algorithms).
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <set>
#include <tuple>

#include "compute/kernel_cost_model.hpp"
#include "core/engine.hpp"
#include "core/error.hpp"
#include "workload/model_spec.hpp"
#include "workload/single_gpu_step.hpp"
#include "workload/step_simulator.hpp"

namespace mfusim::workload {
namespace {

using core::Duration;

compute::CalibrationTables ideal_tables() {
  compute::CalibrationTables t;
  t.gpu = "H100-SXM5-80GB";
  t.source = "ideal";
  t.gemm_bf16 = {{1, 1, 1, 1.0}, {1e5, 1e5, 1e5, 1.0}};
  t.attention = {{false, true, 1, 64, 1.0}, {false, true, 1e6, 64, 1.0}, {true, true, 1, 64, 1.0}, {true, true, 1e6, 64, 1.0}};
  for (auto c : {compute::MemoryOpClass::kElementwise, compute::MemoryOpClass::kNorm, compute::MemoryOpClass::kSoftmax,
                 compute::MemoryOpClass::kCopy}) {
    t.memory_bound.push_back({c, 1.0, 3.35e12});
    t.memory_bound.push_back({c, 1e12, 3.35e12});
  }
  t.launch_overhead_us = 0.0;
  return t;
}

const hardware::Catalog& catalog() {
  static const hardware::Catalog c = hardware::Catalog::load(hardware::Catalog::default_dir());
  return c;
}

class AlphaBeta final : public CommunicationModel {
 public:
  AlphaBeta(core::Engine& e, double bandwidth, Duration alpha) : e_(e), bw_(bandwidth), alpha_(alpha) {}
  void start(const CommRequest& r, std::function<void()> done) override {
    const double n = static_cast<double>(r.groups->front().size());
    double f = 1.0;
    switch (r.kind) {
      case CollectiveKind::kAllReduce: f = 2.0 * (n - 1) / n; break;
      case CollectiveKind::kAllGather:
      case CollectiveKind::kReduceScatter:
      case CollectiveKind::kAllToAll: f = (n - 1) / n; break;
      default: f = 1.0;
    }
    const Duration t = bw_ <= 0 ? Duration::zero() : alpha_ + Duration::from_seconds(f * r.bytes.as_double() / bw_);
    ++calls;
    ++active_;
    e_.schedule_after(t, [this, done = std::move(done)] {
      --active_;
      done();
    });
  }
  // Any running collective slows compute by `slowdown` (a stand-in for SM contention).
  Duration kernel_time(std::int64_t, Duration planned) const override {
    return active_ > 0 ? Duration::from_seconds(planned.seconds() * slowdown) : planned;
  }
  int calls = 0;
  double slowdown = 1.0;

 private:
  core::Engine& e_;
  double bw_;
  Duration alpha_;
  int active_ = 0;
};

ModelSpec tiny_model(std::int64_t layers) {
  ModelSpec m;
  m.name = "tiny";
  m.layers = layers;
  m.hidden = 1024;
  m.heads = 8;
  m.kv_heads = 8;
  m.head_dim = 128;
  m.ffn = 4096;
  m.vocab = 8;
  m.seq_length = 1024;
  m.attention = AttentionType::kMha;
  m.tied_embeddings = false;
  return m;
}

struct Outcome {
  StepResult result;
  int comm_calls;
};

// H100 kernel costs from the ideal tables (peak rates): the tests' common cost model.
const compute::KernelCostModel& ideal_cost() {
  static const compute::KernelCostModel cost(catalog().gpu("H100-SXM5-80GB"), ideal_tables(), false);
  return cost;
}

StepConfig config(const ModelSpec& m, const ParallelPlan& plan) {
  StepConfig cfg;
  cfg.model = &m;
  cfg.plan = plan;
  cfg.seq = m.seq_length;
  return cfg;
}

Outcome simulate(const ModelSpec& m, ParallelPlan plan, double bandwidth = 0, Expansion x = Expansion::kSymmetric,
                 double slowdown = 1.0) {
  const compute::KernelCostModel& cost = ideal_cost();
  StepConfig cfg = config(m, plan);
  cfg.expansion = x;
  const StepProgram prog = build_step_program(cfg, cost);
  core::Engine e;
  AlphaBeta comm(e, bandwidth, bandwidth > 0 ? Duration::from_us(10) : Duration::zero());
  comm.slowdown = slowdown;
  Outcome r{simulate_step(cfg, prog, cost, comm, e), 0};
  r.comm_calls = comm.calls;
  EXPECT_EQ(r.result.run.status, core::RunStatus::kCompleted) << "the step must complete";
  return r;
}

ParallelPlan plan(std::int64_t tp, std::int64_t pp, std::int64_t dp, std::int64_t m, PipelineSchedule s = PipelineSchedule::kOneFOneB) {
  ParallelPlan p;
  p.tp = tp;
  p.pp = pp;
  p.dp = dp;
  p.micro_batch = 1;
  p.global_batch = m * dp;
  p.schedule = s;
  return p;
}

TEST(StepSimulator, OneFOneBBubbleIsTheClosedForm) {
  // Uniform stages (embedding and head are tiny next to 8 layers per stage), free communication. The
  // closed form is the bubble's share of the pipeline phase (the step minus the optimizer).
  for (auto [p, m] : {std::pair{4, 8}, std::pair{4, 16}, std::pair{8, 8}}) {
    const Outcome r = simulate(tiny_model(8 * p), plan(1, p, 1, m));
    const StepBreakdown& b = r.result.breakdown;
    const double bubble = b.bubble.seconds() / (r.result.step_time - b.optimizer).seconds();
    EXPECT_NEAR(bubble, static_cast<double>(p - 1) / (m + p - 1), 0.005) << "p=" << p << " m=" << m << ": (p-1)/(m+p-1)";
  }
}

TEST(StepSimulator, BreakdownSumsToTheStep) {
  const Outcome r = simulate(tiny_model(8), plan(2, 2, 2, 4), 100e9);
  const StepBreakdown& b = r.result.breakdown;
  Duration sum = b.compute + b.recompute + b.optimizer + b.bubble + b.other;
  for (const auto& [d, t] : b.exposed) sum += t;
  EXPECT_EQ(sum, r.result.step_time) << "compute + exposed comm + bubble + optimizer + other = step time";
  EXPECT_GT(b.exposed.at(Dim::kTp), Duration::zero()) << "TP collectives sit on the critical path";
}

TEST(StepSimulator, InterleavingShrinksTheBubble) {
  const Outcome base = simulate(tiny_model(16), plan(1, 4, 1, 8));
  ParallelPlan inter = plan(1, 4, 1, 8, PipelineSchedule::kInterleaved);
  inter.virtual_stages = 2;
  const Outcome r = simulate(tiny_model(16), inter);
  EXPECT_LT(r.result.breakdown.bubble, base.result.breakdown.bubble);
  EXPECT_NEAR(r.result.breakdown.bubble.seconds() / base.result.breakdown.bubble.seconds(), 0.5, 0.05)
      << "v = 2 halves the bubble";
}

TEST(StepSimulator, ZeroBubbleBeatsOneFOneB) {
  const Outcome base = simulate(tiny_model(16), plan(1, 4, 1, 8));
  const Outcome zb = simulate(tiny_model(16), plan(1, 4, 1, 8, PipelineSchedule::kZeroBubbleH1));
  EXPECT_LT(zb.result.step_time, base.result.step_time);
}

TEST(StepSimulator, SymmetricEqualsFullExpansion) {
  for (auto p : {plan(2, 2, 2, 4), plan(1, 2, 4, 4), plan(2, 1, 2, 2)}) {
    const Outcome sym = simulate(tiny_model(4), p, 50e9, Expansion::kSymmetric);
    const Outcome full = simulate(tiny_model(4), p, 50e9, Expansion::kFull);
    EXPECT_EQ(sym.result.step_time, full.result.step_time)
        << "tp=" << p.tp << " pp=" << p.pp << " dp=" << p.dp << ": simulating one rank per stage must equal all ranks";
    EXPECT_LT(sym.comm_calls, full.comm_calls + 1);
  }
}

// 16 layers of the tiny model at sequence 4096 and micro-batch 4 on 8-way data parallelism, with
// `microbatches` per step and buckets of one layer each (a layer holds 12.6M parameters > 8M).
struct DataParallelCase {
  ModelSpec m;
  ParallelPlan p;
  double per_layer_params = 0.0;
};
DataParallelCase data_parallel_case(std::int64_t microbatches) {
  DataParallelCase c{tiny_model(16), plan(1, 1, 8, microbatches), 0.0};
  c.m.seq_length = 4096;
  c.p.micro_batch = 4;
  c.p.global_batch = microbatches * 4 * 8;
  c.p.bucket_bytes = 2;  // the minimum bucket (1M x dp elements) is below one layer: one bucket per layer
  c.per_layer_params = static_cast<double>(c.m.attention_parameters() + c.m.layer_norm_parameters() + c.m.dense_mlp_parameters());
  return c;
}

TEST(StepSimulator, DataParallelReductionIsHiddenUntilTheLastBucket) {
  // One bucket per layer; at 400 GB/s a bucket reduces faster than a layer's backward, so with overlap
  // only the last bucket (the first layer's, released at the very end) is exposed; without overlap all
  // are: 16 x (alpha + 2 (dp-1)/dp x bytes / B), bytes = params x 4 (fp32, Megatron's default for bf16)
  // or x 2 (grad_reduce_dtype bf16 / fp16).
  DataParallelCase c = data_parallel_case(2);
  const Outcome overlapped = simulate(c.m, c.p, 400e9);
  const double bucket_time = 10e-6 + 2.0 * 7 / 8 * c.per_layer_params * 4.0 / 400e9;
  const double exposed_overlap = overlapped.result.breakdown.exposed.at(Dim::kDp).seconds();
  // The last bucket overlaps the embedding backward that follows layer 0, so at most one bucket shows.
  EXPECT_LE(exposed_overlap, bucket_time * 1.001) << "overlap: only (part of) the last bucket is exposed";
  EXPECT_GT(exposed_overlap, bucket_time * 0.5) << "the last bucket cannot be hidden";
  c.p.overlap_grad_reduce = false;
  for (const double bytes : {4.0, 2.0}) {
    c.p.grad_reduce_bytes = bytes;
    const double serial = simulate(c.m, c.p, 400e9).result.breakdown.exposed.at(Dim::kDp).seconds();
    EXPECT_NEAR(serial / (16 * (10e-6 + 2.0 * 7 / 8 * c.per_layer_params * bytes / 400e9)), 1.0, 0.15)
        << "no overlap, " << bytes << " B per gradient: every bucket is exposed, each moving params x " << bytes << " B";
  }
}

TEST(StepSimulator, DistributedOptimizerGathersParametersBucketByBucketBehindTheForward) {
  // --overlap-param-gather: one all-gather per bucket (here one layer each), in forward order, each
  // awaited by its layer's first forward. A bucket gathers faster than a layer's forward, so only the
  // first bucket and the last gradient bucket are exposed, not the 16 layers' gathers (the chunk-level
  // model exposed them all).
  DataParallelCase c = data_parallel_case(1);
  c.p.sharding = Sharding::kOptimizer;
  const double per_layer_params = c.per_layer_params;
  const double gather = 10e-6 + 7.0 / 8 * per_layer_params * 2.0 / 400e9;        // bf16 parameters
  const double reduce = 10e-6 + 7.0 / 8 * per_layer_params * 4.0 / 400e9;        // fp32 reduce-scatter
  const double exposed = simulate(c.m, c.p, 400e9).result.breakdown.exposed.at(Dim::kDp).seconds();
  EXPECT_LE(exposed, 1.05 * (gather + reduce)) << "only the first parameter bucket and the last gradient bucket are exposed";
  EXPECT_LT(exposed, 0.25 * 16 * gather) << "the later buckets' gathers run behind the forward";
  c.p.overlap_param_gather = false;  // the gather then runs after the optimizer step, exposed
  EXPECT_GT(simulate(c.m, c.p, 400e9).result.breakdown.exposed.at(Dim::kDp).seconds(), exposed + 0.9 * 16 * (gather - 10e-6))
      << "without overlap every bucket's gather is exposed";
}

TEST(StepSimulator, HybridShardingReducesInShardGroupsThenAcrossReplicas) {
  // ZeRO-1 over shard groups of 4 of the 8 DP ranks (2 replicas), nothing overlapped: each of the 16
  // one-layer buckets is reduce-scattered in its shard group (alpha + 3/4 x 4P / B) and its reduced
  // quarter all-reduced across the 2 replicas (alpha + 2 x 1/2 x 4P/4 / B); after the optimizer the
  // bf16 parameters are all-gathered in the shard group (alpha + 3/4 x 2 x 16P / B).
  DataParallelCase c = data_parallel_case(1);
  c.p.sharding = Sharding::kOptimizer;
  c.p.overlap_grad_reduce = false;
  c.p.overlap_param_gather = false;
  c.p.shard_group = 4;
  const double pl = c.per_layer_params, bw = 400e9, alpha = 10e-6;
  const double expected = 16 * (alpha + 0.75 * pl * 4.0 / bw + alpha + pl * 4.0 / 4.0 / bw) + alpha + 0.75 * 16 * pl * 2.0 / bw;
  const double exposed = simulate(c.m, c.p, bw).result.breakdown.exposed.at(Dim::kDp).seconds();
  EXPECT_NEAR(exposed / expected, 1.0, 0.02) << "shard-group reduce-scatters, replica all-reduces and the shard-group gather";
  EXPECT_EQ(simulate(c.m, c.p, bw, Expansion::kFull).result.step_time, simulate(c.m, c.p, bw).result.step_time)
      << "every rank simulated (the shard and replica groups meet at their rendezvous) equals the symmetric lowering";
  c.p.shard_group = 0;  // the whole DP group: reduce-scatter over 8 ranks, no replica all-reduce
  const double whole = 16 * (alpha + 7.0 / 8 * pl * 4.0 / bw) + alpha + 7.0 / 8 * 16 * pl * 2.0 / bw;
  EXPECT_NEAR(simulate(c.m, c.p, bw).result.breakdown.exposed.at(Dim::kDp).seconds() / whole, 1.0, 0.02);
}

TEST(StepSimulator, ContextParallelRanksJoinTheGradientReduction) {
  // CP ranks hold the same weights as their DP peers and compute gradients on other tokens, so each
  // bucket is reduce-scattered over dp x cp = 8 ranks (Megatron-Core's dp_cp group), and the optimizer
  // updates 1/8 of the stage's parameters.
  DataParallelCase c = data_parallel_case(1);
  c.p.dp = 4;
  c.p.cp = 2;
  c.p.global_batch = 4 * 4;
  c.p.sharding = Sharding::kOptimizer;
  const StepProgram prog = build_step_program(config(c.m, c.p), ideal_cost());
  const RankLayout layout(c.p);
  int buckets = 0;
  for (core::TaskIndex t = 0; t < prog.info.size(); ++t) {
    const TaskInfo& info = prog.info[t];
    if (info.kind != TaskKind::kComm || info.label.part != OpPart::kGradBucket) continue;
    ++buckets;
    const CommRequest& req = prog.requests[static_cast<std::size_t>(info.request)];
    const auto& own = req.groups->front();
    ASSERT_EQ(own.size(), 8u) << "a gradient bucket is reduced over dp x cp = 4 x 2 ranks, not over the 4 DP ranks alone";
    const std::int64_t cp_peer = layout.rank(0, 1 - layout.coord(info.rank, Dim::kCp), layout.coord(info.rank, Dim::kDp), 0);
    EXPECT_NE(std::find(own.begin(), own.end(), cp_peer), own.end()) << "the rank's context-parallel peer is in its gradient group";
  }
  EXPECT_GT(buckets, 0);
  // Experts: tp 2, ep 2, dp 4, expert_tp 1: expert gradients are reduced over tp x dp / (ep x expert_tp)
  // = 4 ranks (Megatron-Core's expert data parallel size); with expert_tp left at its default (= tp)
  // over 2. Megatron-Core's expert generator (order expert_tp-ep-expert_dp-pp) puts the TP pair in one
  // EP group (they hold different experts) and the rank's expert-DP peers on the other DP indices.
  ModelSpec moe = tiny_model(4);
  moe.moe = MoeSpec{4, 2, 1024, 0, 0, 1, 0};
  ParallelPlan e = plan(2, 1, 4, 1);
  e.ep = 2;
  e.sequence_parallel = true;
  e.sharding = Sharding::kOptimizer;
  EXPECT_EQ(e.expert_dp(), 2) << "expert_tp defaults to tp (Megatron's --expert-tensor-parallel-size)";
  e.expert_tp = 1;
  EXPECT_EQ(e.expert_dp(), 4);
  const StepProgram mp = build_step_program(config(moe, e), ideal_cost());
  const RankLayout el(e);
  int expert_reductions = 0;
  for (core::TaskIndex t = 0; t < mp.info.size(); ++t) {
    const TaskInfo& info = mp.info[t];
    if (info.kind != TaskKind::kComm || info.label.part != OpPart::kExpertGrads) continue;
    ++expert_reductions;
    const auto& own = mp.requests[static_cast<std::size_t>(info.request)].groups->front();
    ASSERT_EQ(own.size(), 4u) << "expert gradients are reduced over tp x dp / ep = 4 ranks";
    const std::int64_t tp_peer = el.rank(1 - el.coord(info.rank, Dim::kTp), 0, el.coord(info.rank, Dim::kDp), 0);
    EXPECT_EQ(std::find(own.begin(), own.end(), tp_peer), own.end()) << "with expert_tp 1 the TP peer is in the rank's EP group";
    const auto ep_group = el.group_of(info.rank, Dim::kEp);
    EXPECT_NE(std::find(ep_group.begin(), ep_group.end(), tp_peer), ep_group.end());
    for (auto r : own) EXPECT_EQ(el.coord(r, Dim::kTp), el.coord(info.rank, Dim::kTp)) << "expert-DP peers: same TP rank, other DP indices";
  }
  EXPECT_GT(expert_reductions, 0);
  ParallelPlan x = c.p;
  EXPECT_EQ(x.dp_cp(), 8);
  EXPECT_EQ(x.shard_ranks(), 8);
  x.shard_group = 2;
  EXPECT_EQ(x.shard_ranks(), 4) << "a hybrid shard group of 2 DP ranks spans their 2 x 2 CP ranks";
}

TEST(StepSimulator, ExpertTensorParallelGroupsGatherTheRoutedTokens) {
  // Megatron-Core's all-to-all dispatcher with TP (sequence parallel): each TP rank routes its own
  // T / tp tokens, so the MoE block has no all-gather of the hidden states; after the dispatch the expert-TP
  // group all-gathers its routed tokens (output expert_tp x T / tp x top_k tokens of h, bf16) and after
  // the experts reduce-scatters them, in the forward and (reversed) in the backward. tp 2, ep 2, dp 4,
  // 4 experts of top-2, T = 1,024 tokens of h = 1,024.
  ModelSpec moe = tiny_model(2);
  moe.moe = MoeSpec{4, 2, 1024, 0, 0, 1, 0};
  ParallelPlan e = plan(2, 1, 4, 1);
  e.ep = 2;
  e.sequence_parallel = true;
  const auto count = [&](const ParallelPlan& p, const ModelSpec& m) {
    const StepProgram prog = build_step_program(config(m, p), ideal_cost());
    std::map<std::pair<int, int>, int> n;  // (part, kind) -> tasks
    int moe_block_gathers = 0;
    for (core::TaskIndex t = 0; t < prog.info.size(); ++t) {
      const TaskInfo& info = prog.info[t];
      if (info.kind != TaskKind::kComm) continue;
      const CommRequest& req = prog.requests[static_cast<std::size_t>(info.request)];
      if (info.label.part == OpPart::kTpInput && info.label.of == OpPart::kRouter) ++moe_block_gathers;
      if (info.label.part != OpPart::kEtpGather && info.label.part != OpPart::kEtpScatter) continue;
      ++n[{static_cast<int>(info.label.part), static_cast<int>(req.kind)}];
      EXPECT_EQ(req.groups->front().size(), static_cast<std::size_t>(p.expert_tp_size())) << "the expert-TP group";
      EXPECT_DOUBLE_EQ(req.bytes.as_double(), 1024.0 / 2.0 * static_cast<double>(p.expert_tp_size()) * 2.0 * 1024.0 * 2.0)
          << "expert_tp x T / tp x top_k tokens x h x 2 B";
    }
    return std::pair{n, moe_block_gathers};
  };
  const auto [n, gathers] = count(e, moe);
  using K = std::pair<int, int>;
  const int ag = static_cast<int>(CollectiveKind::kAllGather), rs = static_cast<int>(CollectiveKind::kReduceScatter);
  const int g = static_cast<int>(OpPart::kEtpGather), sc = static_cast<int>(OpPart::kEtpScatter);
  // 2 layers x 1 micro-batch, forward and backward (symmetric expansion: one rank per stage).
  EXPECT_EQ(n.at(K{g, ag}), 2) << "forward: routed tokens all-gathered over the expert-TP group";
  EXPECT_EQ(n.at(K{sc, rs}), 2) << "forward: expert outputs reduce-scattered";
  EXPECT_EQ(n.at(K{sc, ag}), 2) << "backward of the reduce-scatter: an all-gather";
  EXPECT_EQ(n.at(K{g, rs}), 2) << "backward of the all-gather: a reduce-scatter";
  EXPECT_EQ(gathers, 0) << "no SP all-gather of the hidden states before an MoE block without shared experts";
  e.expert_tp = 1;
  EXPECT_TRUE(count(e, moe).first.empty()) << "expert_tp 1: each rank runs whole experts on its own tokens";
  e.expert_tp = 0;
  moe.moe->shared_experts = 1;
  moe.moe->shared_expert_ffn = 1024;
  EXPECT_EQ(count(e, moe).second, 4) << "shared experts are a TP MLP on the gathered hidden states (2 layers x fwd, bwd)";
}

TEST(StepSimulator, EpAllToAllRunsOverMegatronCoresExpertGroups) {
  // MoE parallel folding: tp 2, dp 4, ep 4 with expert_tp 1 makes each EP group four consecutive ranks
  // (the TP pair of two DP indices); with expert_tp = tp (2) ep 4 would need tp x dp = 8 divisible by
  // 4 x 2 and strides over the DP indices of one TP rank (0, 2, 4, 6). Every dispatch and combine runs
  // over the rank's EP group, with the rank's own T / tp x top_k routed tokens.
  ModelSpec moe = tiny_model(2);
  moe.moe = MoeSpec{4, 2, 1024, 0, 0, 1, 0};
  ParallelPlan e = plan(2, 1, 4, 1);
  e.ep = 4;
  e.sequence_parallel = true;
  const auto ep_groups = [&](const ParallelPlan& p) {
    const StepProgram prog = build_step_program(config(moe, p), ideal_cost());
    std::set<std::vector<std::int64_t>> groups;
    for (core::TaskIndex t = 0; t < prog.info.size(); ++t) {
      const TaskInfo& info = prog.info[t];
      if (info.kind != TaskKind::kComm || (info.label.part != OpPart::kEpDispatch && info.label.part != OpPart::kEpCombine)) continue;
      const CommRequest& req = prog.requests[static_cast<std::size_t>(info.request)];
      EXPECT_EQ(req.kind, CollectiveKind::kAllToAll);
      EXPECT_DOUBLE_EQ(req.bytes.as_double(), 1024.0 / 2.0 * 2.0 * 1024.0 * 2.0) << "T / tp x top_k tokens x h x 2 B";
      for (const auto& g : *req.groups) groups.insert(g);
    }
    return groups;
  };
  EXPECT_EQ(ep_groups(e), (std::set<std::vector<std::int64_t>>{{0, 2, 4, 6}, {1, 3, 5, 7}})) << "expert_tp = tp: EP over DP ranks";
  e.expert_tp = 1;
  EXPECT_EQ(ep_groups(e), (std::set<std::vector<std::int64_t>>{{0, 1, 2, 3}, {4, 5, 6, 7}})) << "expert_tp 1: EP takes in the TP pair";
}

TEST(StepSimulator, OverlappedPairsHideTheAllToAll) {
  // ParallelPlan::ep_comm_overlap: a forward and the backward paired with it (overlapped_pairs) issue
  // their kernels block by block, alternately, with their all-to-alls on their own streams. Without a
  // pipeline every B(i), F(i + 1) pairs; DualPipe pairs its main steps. On a step whose all-to-alls cost
  // about as much as the expert kernels, less of the all-to-all stays exposed and the step is shorter,
  // and some forward all-to-all runs while a backward kernel of the same rank does; so with an
  // interleaved pipeline, whose steady state Megatron-Core's combined 1F1B pairs. A 1F1B pipeline
  // pairs only where its slack absorbs the delay (warm-up and cool-down edges): never slower.
  ModelSpec moe = tiny_model(8);
  moe.moe = MoeSpec{4, 2, 4096, 0, 0, 1, 0};
  struct Case {
    PipelineSchedule schedule;
    std::int64_t pp;
    bool pairs;
    std::int64_t v = 1;
  };
  for (const Case& k : {Case{PipelineSchedule::kOneFOneB, 1, true}, Case{PipelineSchedule::kDualPipe, 2, true},
                        Case{PipelineSchedule::kDualPipe, 4, true}, Case{PipelineSchedule::kOneFOneB, 2, false},
                        Case{PipelineSchedule::kInterleaved, 2, true, 2}}) {
    ParallelPlan p = plan(1, k.pp, 4, 8, k.schedule);
    p.virtual_stages = k.v;
    p.ep = 4;
    const std::string what = std::string(to_string(k.schedule)) + " pp " + std::to_string(k.pp);
    const auto run = [&](bool overlap) {
      p.ep_comm_overlap = overlap;
      StepConfig cfg = config(moe, p);
      const StepProgram prog = build_step_program(cfg, ideal_cost());
      core::Engine e;
      AlphaBeta comm(e, 100e9, Duration::from_us(10));
      StepResult r = simulate_step(cfg, prog, ideal_cost(), comm, e);
      EXPECT_EQ(r.run.status, core::RunStatus::kCompleted) << what << " overlap " << overlap;
      bool beside = false;  // a forward all-to-all over a backward kernel of the same rank
      for (core::TaskIndex a = 0; a < prog.info.size() && !beside; ++a) {
        const TaskInfo& ia = prog.info[a];
        if (ia.kind != TaskKind::kComm || ia.dim != Dim::kEp || ia.label.pass != Pass::kForward) continue;
        for (core::TaskIndex t = 0; t < prog.info.size() && !beside; ++t) {
          const TaskInfo& it = prog.info[t];
          if (it.kind != TaskKind::kCompute || it.rank != ia.rank ||
              (it.label.pass != Pass::kBackward && it.label.pass != Pass::kBackwardInput)) continue;
          beside = r.spans[t].start < r.spans[a].end && r.spans[a].start < r.spans[t].end;
        }
      }
      return std::pair{std::move(r), beside};
    };
    const auto [off, off_beside] = run(false);
    const auto [on, on_beside] = run(true);
    EXPECT_FALSE(off_beside) << what << ": without the overlap an all-to-all blocks the compute stream";
    if (!k.pairs) {
      EXPECT_LE(on.step_time, off.step_time) << what << ": only pairs the schedule's slack absorbs";
      continue;
    }
    EXPECT_TRUE(on_beside) << what << ": paired passes overlap one's all-to-all with the other's kernels";
    EXPECT_LT(on.breakdown.exposed.at(Dim::kEp), off.breakdown.exposed.at(Dim::kEp)) << what;
    EXPECT_LT(on.step_time, off.step_time) << what;
    Duration sum = on.breakdown.compute + on.breakdown.recompute + on.breakdown.optimizer + on.breakdown.bubble + on.breakdown.other;
    for (const auto& [d, t] : on.breakdown.exposed) sum += t;
    EXPECT_EQ(sum, on.step_time) << what << ": the breakdown still sums to the step";
  }
}

// Two-tier alpha-beta model for DeepEP: a group inside one node of `per_node` GPUs moves at `nvlink`
// B/s per GPU, any other group at `nic`.
class TwoTier final : public CommunicationModel {
 public:
  TwoTier(core::Engine& e, std::int64_t per_node, double nvlink, double nic) : e_(e), per_node_(per_node), nvlink_(nvlink), nic_(nic) {}
  void start(const CommRequest& r, std::function<void()> done) override {
    const auto& g = r.groups->front();
    const double n = static_cast<double>(g.size());
    const bool inside = g.front() / per_node_ == g.back() / per_node_;
    const double f = r.kind == CollectiveKind::kAllReduce ? 2.0 * (n - 1) / n : r.kind == CollectiveKind::kSendRecv ? 1.0 : (n - 1) / n;
    e_.schedule_after(Duration::from_seconds(f * r.bytes.as_double() / (inside ? nvlink_ : nic_)), std::move(done));
  }

 private:
  core::Engine& e_;
  std::int64_t per_node_;
  double nvlink_, nic_;
};

TEST(DeepEp, FanoutIsTheExpectedNodesAndGpusPerToken) {
  // Top-k experts drawn without replacement from the experts of m nodes (node-limited routing): a node
  // of e experts is hit with probability 1 - C(m e - e, k) / C(m e, k).
  // DeepSeek-V3: 256 experts over EP 64 = 8 nodes x 8 GPUs, top 8, at most 4 nodes.
  const DeepEpFanout ds = deepep_fanout(256, 8, 4, EpSpread{8, 8});
  EXPECT_NEAR(ds.nodes, 3.6290, 1e-4) << "4 x (1 - C(96, 8) / C(128, 8))";
  EXPECT_NEAR(ds.gpus, 7.3594, 1e-4) << "32 x (1 - C(124, 8) / C(128, 8))";
  const DeepEpFanout free = deepep_fanout(256, 8, 0, EpSpread{8, 8});
  EXPECT_NEAR(free.nodes, 5.2947, 1e-4) << "no node limit: 8 x (1 - C(224, 8) / C(256, 8))";
  const DeepEpFanout one = deepep_fanout(8, 2, 0, EpSpread{1, 8});
  EXPECT_DOUBLE_EQ(one.nodes, 1.0) << "one node";
  EXPECT_DOUBLE_EQ(one.gpus, 2.0) << "one expert per GPU: top 2 hits 2 GPUs";
  const DeepEpFanout all = deepep_fanout(4, 4, 0, EpSpread{2, 1});
  EXPECT_DOUBLE_EQ(all.nodes, 2.0) << "top_k = experts: every node";
}

TEST(DeepEp, GroupsFollowNodesAndUnevenSpreadsAreRefused) {
  ParallelPlan p = plan(1, 1, 16, 1);
  p.ep = 16;
  EpSpread s;
  EXPECT_FALSE(deepep_spread(p, 8, &s).has_value());
  EXPECT_EQ(s.nodes, 2);
  EXPECT_EQ(s.per_node, 8);
  const RankLayout layout(p);
  const auto group = layout.group_of(3, Dim::kEp);
  EXPECT_EQ(ep_node_group(group, 3, 8), (std::vector<std::int64_t>{0, 1, 2, 3, 4, 5, 6, 7}));
  EXPECT_EQ(ep_rail_group(group, 3, 8), (std::vector<std::int64_t>{3, 11})) << "the same place on each node";
  ParallelPlan tp2 = plan(2, 1, 8, 1);
  tp2.ep = 8;
  tp2.expert_tp = 2;  // EP groups stride over DP indices: ranks 0, 2, ..., 14
  ASSERT_FALSE(deepep_spread(tp2, 8, &s).has_value());
  EXPECT_EQ(s.per_node, 4);
  EXPECT_EQ(ep_rail_group(RankLayout(tp2).group_of(0, Dim::kEp), 0, 8), (std::vector<std::int64_t>{0, 8}));
  ParallelPlan uneven = plan(1, 1, 24, 1);
  uneven.ep = 12;  // ranks 0-11: 8 on node 0, 4 on node 1
  const auto problem = deepep_spread(uneven, 8, nullptr);
  ASSERT_TRUE(problem.has_value()) << "12 EP ranks cannot spread evenly over nodes of 8";
  EXPECT_EQ(problem->key, "ep_dispatcher");
  EXPECT_NE(problem->message.find("alltoall"), std::string::npos) << problem->message;
  EXPECT_TRUE(deepep_spread(p, 0, nullptr).has_value()) << "unknown node size";
}

TEST(StepSimulator, DeepEpSendsATokenOncePerNodeThenOverNvlink) {
  // EP 16 over 2 nodes of 8, 16 experts, top 4. Megatron-Core's all-to-all sends each of a token's
  // 4 routed copies (bf16) over the EP group; DeepEP sends it once to each of its expert nodes over the
  // rail group {r, r + 8} and once to each expert GPU over the node group, concurrently; with FP8
  // dispatch the way toward the experts is FP8 (1 B + 4 B per 128 elements), the way back bf16. Request sizes are the closed
  // forms (to the byte); with NVLink 8x the NIC the step gets shorter and less of it is exposed all-to-all.
  ModelSpec moe = tiny_model(2);
  moe.moe = MoeSpec{16, 4, 1024, 0, 0, 1, 0};
  ParallelPlan p = plan(1, 1, 16, 2);
  p.ep = 16;
  const double tokens = 1024.0, h = 1024.0;
  const DeepEpFanout fan = deepep_fanout(16, 4, 0, EpSpread{2, 8});
  const auto run = [&](EpDispatcher d, hardware::Dtype dtype, std::map<std::pair<std::size_t, bool>, std::set<double>>* sizes) {
    p.ep_dispatcher = d;
    p.ep_fp8_dispatch = dtype == hardware::Dtype::kFp8;  // ParallelPlan::ep_fp8_dispatch (DeepEP only)
    StepConfig cfg = config(moe, p);
    cfg.gpus_per_node = 8;
    cfg.gemm_dtype = dtype;
    const StepProgram prog = build_step_program(cfg, ideal_cost());
    for (core::TaskIndex t = 0; sizes != nullptr && t < prog.info.size(); ++t) {
      const TaskInfo& info = prog.info[t];
      if (info.kind != TaskKind::kComm || info.dim != Dim::kEp) continue;
      const CommRequest& req = prog.requests[static_cast<std::size_t>(info.request)];
      const bool toward = (info.label.part == OpPart::kEpDispatch) == (info.label.pass == Pass::kForward);
      (*sizes)[{req.groups->front().size(), toward}].insert(req.bytes.as_double());
    }
    core::Engine e;
    TwoTier comm(e, 8, 400e9, 50e9);
    StepResult r = simulate_step(cfg, prog, ideal_cost(), comm, e);
    EXPECT_EQ(r.run.status, core::RunStatus::kCompleted);
    return r;
  };
  std::map<std::pair<std::size_t, bool>, std::set<double>> a2a, deepep, fp8;
  const StepResult plain = run(EpDispatcher::kAllToAll, hardware::Dtype::kBf16, &a2a);
  const StepResult two_hop = run(EpDispatcher::kDeepEp, hardware::Dtype::kBf16, &deepep);
  run(EpDispatcher::kDeepEp, hardware::Dtype::kFp8, &fp8);
  const auto one = [](const std::set<double>& s) { return s.size() == 1 ? *s.begin() : -1.0; };
  EXPECT_EQ(a2a.size(), 2u) << "one all-to-all over the 16 ranks, both ways";
  EXPECT_NEAR(one(a2a[{16, true}]), tokens * 4 * h * 2, 1.0) << "every routed copy, bf16";
  EXPECT_NEAR(one(deepep[{2, true}]), tokens * fan.nodes * h * 2, 1.0) << "rail group: once per expert node";
  EXPECT_NEAR(one(deepep[{8, true}]), tokens * fan.gpus * h * 2, 1.0) << "node group: once per expert GPU";
  EXPECT_NEAR(one(deepep[{2, false}]), tokens * fan.nodes * h * 2, 1.0) << "the combine comes back the same way";
  EXPECT_NEAR(one(fp8[{2, true}]), tokens * fan.nodes * h * (1.0 + 4.0 / 128.0), 1.0) << "FP8 toward the experts";
  EXPECT_NEAR(one(fp8[{2, false}]), tokens * fan.nodes * h * 2, 1.0) << "bf16 back from them";
  EXPECT_LT(two_hop.breakdown.exposed.at(Dim::kEp), plain.breakdown.exposed.at(Dim::kEp));
  EXPECT_LT(two_hop.step_time, plain.step_time);
  Duration sum = two_hop.breakdown.compute + two_hop.breakdown.recompute + two_hop.breakdown.optimizer +
                 two_hop.breakdown.bubble + two_hop.breakdown.other;
  for (const auto& [d, t] : two_hop.breakdown.exposed) sum += t;
  EXPECT_EQ(sum, two_hop.step_time) << "the breakdown sums to the step";
  // Without a node size the dispatcher cannot place its hops.
  p.ep_dispatcher = EpDispatcher::kDeepEp;
  p.ep_fp8_dispatch = false;
  EXPECT_THROW(build_step_program(config(moe, p), ideal_cost()), core::InputError);
  // With overlapped pairs (pp = 1: every B(i), F(i + 1)) and in full expansion it still completes.
  p.ep_comm_overlap = true;
  StepConfig cfg = config(moe, p);
  cfg.gpus_per_node = 8;
  for (Expansion x : {Expansion::kSymmetric, Expansion::kFull}) {
    cfg.expansion = x;
    const StepProgram prog = build_step_program(cfg, ideal_cost());
    core::Engine e;
    TwoTier comm(e, 8, 400e9, 50e9);
    EXPECT_EQ(simulate_step(cfg, prog, ideal_cost(), comm, e).run.status, core::RunStatus::kCompleted);
  }
}

TEST(StepSimulator, SaveQkvProjRecomputesTheLayerButItsProjections) {
  // MaxText's save_qkv_proj: the backward recomputes each block's forward except the q/k/v projection,
  // so its recompute time is full recompute's minus layers x micro-batches x the QKV GEMM.
  const ModelSpec m = tiny_model(4);
  ParallelPlan p = plan(1, 1, 1, 2);
  StepConfig cfg = config(m, p);
  const auto recompute_time = [&](Recompute r) {
    cfg.recompute = r;
    const StepProgram prog = build_step_program(cfg, ideal_cost());
    core::Engine e;
    AlphaBeta comm(e, 0, Duration::zero());
    return simulate_step(cfg, prog, ideal_cost(), comm, e).breakdown.recompute.seconds();
  };
  double qkv = 0.0;
  for (const Op& op : layer_forward(m, 0, shard_of(p, true, false, false), MicroBatch{1, m.seq_length})) {
    if (op.qkv_projection) qkv += ideal_cost().time(op.kernel).seconds();
  }
  ASSERT_GT(qkv, 0.0);
  const double full = recompute_time(Recompute::kFull), saved = recompute_time(Recompute::kSaveQkv);
  EXPECT_NEAR(saved, full - 4 * 2 * qkv, 1e-9) << "4 layers x 2 micro-batches, one QKV GEMM each not recomputed";
}

TEST(StepSimulator, RecomputeModulesRerunTheirOpsAsRecomputeTasks) {
  // Selective recomputation by module (Megatron-Core's --recompute-modules): the backward reruns exactly
  // the forward ops of the listed modules, shown as recomputation; the dense MLP's checkpoint also reruns
  // its TP collectives (SP: the input all-gather and the output reduce-scatter), two per layer and
  // micro-batch.
  const ModelSpec m = tiny_model(4);
  ParallelPlan p = plan(2, 1, 1, 2);
  p.sequence_parallel = true;
  StepConfig cfg = config(m, p);
  cfg.recompute = Recompute::kSelective;
  struct Run {
    double recompute, step;
    int comm_calls;
  };
  const auto run = [&](RecomputeModules modules) {
    cfg.recompute_modules = modules;
    const StepProgram prog = build_step_program(cfg, ideal_cost());
    core::Engine e;
    AlphaBeta comm(e, 0, Duration::zero());
    const StepResult r = simulate_step(cfg, prog, ideal_cost(), comm, e);
    EXPECT_EQ(r.run.status, core::RunStatus::kCompleted);
    return Run{r.breakdown.recompute.seconds(), r.step_time.seconds(), comm.calls};
  };
  Shard shard = shard_of(p, true, false, false);
  const auto module_time = [&](RecomputeModules modules) {
    double t = 0.0;
    for (const Op& op : layer_forward(m, 0, shard, MicroBatch{1, m.seq_length})) {
      if ((op.module & modules) != 0) t += ideal_cost().time(op.kernel).seconds();
    }
    return t;
  };
  const RecomputeModules more = kRecomputeCoreAttention | kRecomputeNorms | kRecomputeMlp;
  ASSERT_GT(module_time(kRecomputeCoreAttention), 0.0);
  const Run core = run(kRecomputeCoreAttention), all = run(more);
  EXPECT_NEAR(core.recompute, 4 * 2 * module_time(kRecomputeCoreAttention), 1e-9)
      << "4 layers x 2 micro-batches rerun the attention core (Megatron's selective recomputation), shown as recompute";
  EXPECT_NEAR(all.recompute, 4 * 2 * module_time(more), 1e-9) << "... and with layernorm and mlp, the norms and the MLP too";
  EXPECT_EQ(all.comm_calls - core.comm_calls, 4 * 2 * 2) << "the MLP rerun's all-gather and reduce-scatter per layer and micro-batch";
  EXPECT_NEAR(all.step - core.step, all.recompute - core.recompute, 1e-9) << "on one GPU stream the reruns add their time";
}

TEST(StepSimulator, MtpModuleRunsItsBlockAndASecondHead) {
  // A multi-token-prediction module (mtp_layers: 1) on one GPU: each micro-batch runs one more block
  // (with the module's embedding lookup, norms and projection) and the output head a second time,
  // forward and backward; nothing else changes.
  const ModelSpec m = tiny_model(4);
  ModelSpec mtp = m;
  mtp.mtp_layers = 1;
  const ParallelPlan p = plan(1, 1, 1, 3);
  const auto compute = [&](const ModelSpec& model) {
    const StepConfig cfg = config(model, p);
    const StepProgram prog = build_step_program(cfg, ideal_cost());
    core::Engine e;
    AlphaBeta comm(e, 0, Duration::zero());
    return simulate_step(cfg, prog, ideal_cost(), comm, e).breakdown.compute.seconds();
  };
  const Shard shard = shard_of(p, true, false, false);
  const MicroBatch mb{1, m.seq_length};
  double extra = 0.0;
  for (const auto& ops : {layer_forward(mtp, 4, shard, mb), layer_backward(mtp, 4, shard, mb, Recompute::kNone),
                          decoder_head_forward(m, shard, mb), decoder_head_backward(m, shard, mb)}) {
    for (const Op& op : ops) extra += ideal_cost().time(op.kernel).seconds();
  }
  ASSERT_GT(extra, 0.0);
  EXPECT_NEAR(compute(mtp) - compute(m), 3 * extra, 1e-9) << "3 micro-batches x (the MTP block + a head), forward and backward";
}

TEST(StepSimulator, OverlappedCommunicationSlowsCompute) {
  // DP buckets reduce during the backward (compute-bound here: 16K tokens per micro-batch, 400 GB/s):
  // with a 1.5x slowdown while they run, the backward kernels that overlap them take longer, and the
  // step too; without overlap nothing changes.
  ModelSpec m = tiny_model(16);
  m.seq_length = 4096;
  ParallelPlan p = plan(1, 1, 8, 2);
  p.micro_batch = 4;
  p.global_batch = 2 * 4 * 8;
  p.bucket_bytes = 20'000'000;
  const Outcome base = simulate(m, p, 400e9);
  const Outcome slowed = simulate(m, p, 400e9, Expansion::kSymmetric, 1.5);
  EXPECT_GT(slowed.result.step_time, base.result.step_time);
  EXPECT_GT(slowed.result.slowdown_time, Duration::zero());
  EXPECT_GT(slowed.result.breakdown.compute, base.result.breakdown.compute) << "the breakdown shows the slower kernels";
  p.overlap_grad_reduce = false;
  p.overlap_param_gather = false;
  const Outcome serial = simulate(m, p, 400e9, Expansion::kSymmetric, 1.5);
  const Outcome serial_base = simulate(m, p, 400e9);
  EXPECT_EQ(serial.result.breakdown.compute, serial_base.result.breakdown.compute)
      << "nothing overlaps the reductions, so nothing slows down";
}

TEST(StepSimulator, TensorParallelCommOverlapHidesCollectivesBehindKernels) {
  ModelSpec m = tiny_model(8);
  m.seq_length = 4096;
  ParallelPlan p = plan(4, 1, 2, 2);
  p.sequence_parallel = true;
  const Outcome serial = simulate(m, p, 50e9);
  p.tp_comm_overlap = true;
  const Outcome overlapped = simulate(m, p, 50e9);
  EXPECT_LT(overlapped.result.step_time, serial.result.step_time);
  EXPECT_LT(overlapped.result.breakdown.exposed.at(Dim::kTp), serial.result.breakdown.exposed.at(Dim::kTp))
      << "--tp-comm-overlap runs the block's collectives beside its kernels";
  const Outcome full = simulate(m, p, 50e9, Expansion::kFull);
  EXPECT_EQ(full.result.step_time, overlapped.result.step_time) << "symmetric = full expansion with overlap too";
}

TEST(StepSimulator, AsyncBackwardRunsTheInputGradientCollectiveBesideTheWgrad) {
  // Megatron's backward of a column-parallel linear: the input-gradient reduce-scatter (SP) or
  // all-reduce starts after the dgrad GEMM and runs beside the wgrad GEMM; with SP the block's input is
  // gathered again for the wgrad beside the dgrad. Without the overlap (Megatron-LM of SC'21) the
  // collective follows the block.
  ModelSpec m = tiny_model(8);
  m.seq_length = 4096;
  m.hidden = 4096;
  m.heads = 32;
  m.kv_heads = 32;
  m.ffn = 16384;
  for (const bool sp : {true, false}) {
    ParallelPlan p = plan(4, 1, 2, 2);
    p.sequence_parallel = sp;
    // Links fast enough that one collective takes less than one GEMM (the regime Megatron targets; when
    // communication dominates, the re-gather's extra traffic can make SP's async backward slower).
    p.tp_backward_overlap = false;
    const Outcome serial = simulate(m, p, 400e9);
    p.tp_backward_overlap = true;
    const Outcome async = simulate(m, p, 400e9);
    EXPECT_LT(async.result.breakdown.exposed.at(Dim::kTp), serial.result.breakdown.exposed.at(Dim::kTp))
        << "sp=" << sp << ": the backward's input-gradient collective hides behind the wgrad GEMM";
    EXPECT_LT(async.result.step_time, serial.result.step_time) << "sp=" << sp;
    // 8 layers x 2 blocks x 2 micro-batches: one re-gather per backward block with SP, none without.
    EXPECT_EQ(async.comm_calls - serial.comm_calls, sp ? 8 * 2 * 2 : 0) << "sp=" << sp;
  }
}

TEST(StepSimulator, TransformerEngineOverlapSplitsTheForwardReduceScatter) {
  // --tp-comm-overlap (SP): in each forward block the output reduce-scatter is pipelined with the last
  // GEMM in 4 chunks: 3/4 of its bytes beside the GEMM (on the 24 (attention) / 20 (MLP) SMs the GEMM
  // leaves free, so it holds none of the GEMM's), the last chunk's 1/4 after it on those SMs; the
  // all-gathers are ring exchanges on copy engines (no SMs).
  const ModelSpec m = tiny_model(2);
  ParallelPlan p = plan(2, 1, 1, 1);
  p.sequence_parallel = true;
  p.tp_comm_overlap = true;
  const StepProgram prog = build_step_program(config(m, p), ideal_cost());
  const double block = static_cast<double>(m.seq_length) * static_cast<double>(m.hidden) * 2.0;  // bf16, mb = 1
  std::map<std::pair<OpPart, int>, std::vector<double>> fwd;  // (segment, sms) -> bytes of its TP collectives
  for (core::TaskIndex t = 0; t < prog.info.size(); ++t) {
    const TaskInfo& info = prog.info[t];
    if (info.kind != TaskKind::kComm || info.dim != Dim::kTp || info.label.pass != Pass::kForward || info.label.layer_begin != 0) continue;
    const CommRequest& req = prog.requests[static_cast<std::size_t>(info.request)];
    fwd[{info.label.of, req.sms}].push_back(req.bytes.as_double());
  }
  using Bytes = std::vector<double>;
  const Bytes beside{block, 0.75 * block}, tail{0.25 * block};
  EXPECT_EQ((fwd[{OpPart::kAttention, 0}]), beside) << "the all-gather before QKV, then the body of proj's reduce-scatter";
  EXPECT_EQ((fwd[{OpPart::kMlp, 0}]), beside) << "the all-gather before FC1, then the body of FC2's reduce-scatter";
  EXPECT_EQ((fwd[{OpPart::kAttention, 24}]), tail) << "proj: the last chunk after the GEMM";
  EXPECT_EQ((fwd[{OpPart::kMlp, 20}]), tail) << "FC2: the last chunk after the GEMM";
}

TEST(StepSimulator, EveryTaskIsLabeled) {
  // 1F1B over p = 4 stages of 2 layers, m = 4 micro-batches, TP 2 with sequence parallelism, DP 2,
  // full recomputation: every stage runs a forward and a backward (with the recomputed forward) of
  // every micro-batch over exactly its own layers, and every task says what it is.
  const ModelSpec m = tiny_model(8);
  ParallelPlan p = plan(2, 4, 2, 4);
  p.sequence_parallel = true;
  StepConfig cfg = config(m, p);
  cfg.recompute = Recompute::kFull;
  const StepProgram prog = build_step_program(cfg, ideal_cost());
  ASSERT_EQ(prog.ranks.size(), 4u) << "one simulated rank per stage";
  std::map<std::tuple<std::int64_t, std::int32_t, Pass>, std::set<std::int32_t>> layers;  // (rank, mb, pass) -> layers
  int tp = 0, dp = 0, sends = 0;
  for (core::TaskIndex t = 0; t < prog.info.size(); ++t) {
    const TaskInfo& info = prog.info[t];
    const TaskLabel& l = info.label;
    EXPECT_NE(l.part, OpPart::kNone) << "task " << t << " has no part";
    EXPECT_NE(l.pass, Pass::kNone) << "task " << t << " (" << task_name(prog, t) << ") has no pass";
    if (l.layer_begin >= 0 && l.microbatch >= 0) {
      for (auto x = l.layer_begin; x < l.layer_end; ++x) layers[{info.rank, l.microbatch, l.pass}].insert(x);
    }
    if (info.kind == TaskKind::kRecompute) {
      EXPECT_EQ(l.pass, Pass::kRecompute);
      EXPECT_GE(l.microbatch, 0) << "recomputation belongs to a micro-batch's backward";
    }
    if (info.kind != TaskKind::kComm) continue;
    const CommRequest& req = prog.requests[static_cast<std::size_t>(info.request)];
    EXPECT_GT(req.bytes.count(), 0) << task_name(prog, t);
    if (info.dim == Dim::kTp) {
      ++tp;
      EXPECT_EQ(req.groups->front().size(), 2u) << "TP group of 2";
      EXPECT_TRUE(l.part == OpPart::kTpInput || l.part == OpPart::kTpOutput || l.part == OpPart::kTpRegather)
          << task_name(prog, t);
      EXPECT_NE(l.of, OpPart::kNone) << task_name(prog, t) << ": a TP collective names the segment it serves";
    } else if (info.dim == Dim::kDp) {
      ++dp;
      EXPECT_TRUE(l.pass == Pass::kGradientSync || l.pass == Pass::kParameterSync) << task_name(prog, t);
    } else if (info.dim == Dim::kPp && req.kind == CollectiveKind::kSendRecv) {
      ++sends;
      EXPECT_GE(l.microbatch, 0) << "a hand-off carries its micro-batch";
    }
  }
  EXPECT_GT(tp, 0);
  EXPECT_GT(dp, 0);
  EXPECT_EQ(sends, 2 * 3 * 4) << "activations and gradients over 3 stage boundaries for 4 micro-batches";
  for (std::size_t s = 0; s < prog.ranks.size(); ++s) {
    const std::set<std::int32_t> own{static_cast<std::int32_t>(2 * s), static_cast<std::int32_t>(2 * s + 1)};
    for (std::int32_t mb = 0; mb < 4; ++mb) {
      for (Pass pass : {Pass::kForward, Pass::kBackward, Pass::kRecompute}) {
        EXPECT_EQ((layers[{prog.ranks[s], mb, pass}]), own) << "stage " << s << ", micro-batch " << mb << ", " << to_string(pass);
      }
    }
  }
  TaskLabel l;
  l.part = OpPart::kAttention;
  l.pass = Pass::kForward;
  l.microbatch = 3;
  l.layer_begin = 5;
  l.layer_end = 6;
  EXPECT_EQ(short_name(l), "F3 L5 attention");
  l.part = OpPart::kTpOutput;
  l.of = OpPart::kMlp;
  l.pass = Pass::kBackward;
  l.chunk = 1;
  EXPECT_EQ(short_name(l), "B3.1 L5 mlp tp-output");
  TaskLabel bucket;
  bucket.part = OpPart::kGradBucket;
  bucket.pass = Pass::kGradientSync;
  bucket.index = 2;
  bucket.layer_begin = 4;
  bucket.layer_end = 8;
  EXPECT_EQ(short_name(bucket), "L4-7 grad-bucket 2");
}

TEST(StepSimulator, PropertiesHold) {
  // More bandwidth never slows the step.
  Duration previous = Duration::max();
  for (double bw : {10e9, 50e9, 200e9, 800e9}) {
    const Outcome r = simulate(tiny_model(8), plan(2, 2, 2, 4), bw);
    EXPECT_LE(r.result.step_time, previous) << bw / 1e9 << " GB/s made the step slower";
    previous = r.result.step_time;
  }
  // More micro-batches never increase the bubble fraction.
  double bubble = 1.0;
  for (int m : {2, 4, 8, 16}) {
    const Outcome r = simulate(tiny_model(8), plan(1, 4, 1, m), 100e9);
    const double f = r.result.breakdown.bubble.seconds() / r.result.step_time.seconds();
    EXPECT_LE(f, bubble + 1e-9) << "m=" << m;
    bubble = f;
  }
  // Doubling DP with a fixed per-GPU batch keeps compute time.
  const Outcome d2 = simulate(tiny_model(8), plan(1, 1, 2, 4), 100e9);
  const Outcome d4 = simulate(tiny_model(8), plan(1, 1, 4, 4), 100e9);
  EXPECT_EQ(d2.result.breakdown.compute, d4.result.breakdown.compute);
}

// The size guard's estimate (estimate_step_tasks) against the task count actually built: within a factor
// of 2.5 above and 1.5 below (shipped scenarios: 0.9 to 1.6), so the memory guard neither fires on plans that fit nor misses ones that do not.
TEST(StepSimulator, TaskEstimateTracksTheBuiltGraph) {
  const ModelSpec m = tiny_model(8);
  for (auto p : {plan(1, 1, 1, 8), plan(2, 2, 2, 4), plan(1, 4, 1, 16), plan(2, 4, 1, 8, PipelineSchedule::kZeroBubbleH1),
                 plan(1, 2, 2, 32)}) {
    for (auto x : {Expansion::kSymmetric, Expansion::kFull}) {
      StepConfig cfg = config(m, p);
      cfg.expansion = x;
      const double estimate = estimate_step_tasks(cfg);
      const auto built = static_cast<double>(build_step_program(cfg, ideal_cost()).graph.tasks().size());
      EXPECT_LT(estimate, 2.5 * built) << "tp=" << p.tp << " pp=" << p.pp << " dp=" << p.dp << " m=" << p.microbatches();
      EXPECT_GT(estimate, built / 1.5) << "tp=" << p.tp << " pp=" << p.pp << " dp=" << p.dp << " m=" << p.microbatches();
    }
  }
}

TEST(StepSimulator, AStepTooLargeForMemoryFailsBeforeBuilding) {
  const compute::KernelCostModel& cost = ideal_cost();
  const ModelSpec m = tiny_model(8);
  StepConfig cfg = config(m, plan(1, 1, 1, 100'000'000));  // 1e8 micro-batches: ~7e9 tasks, ~2 TB of host memory
  try {
    build_step_program(cfg, cost);
    FAIL() << "expected an InputError before anything is built";
  } catch (const core::InputError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("100000000 micro-batches"), std::string::npos) << what;
    EXPECT_NE(what.find("raise training.micro_batch"), std::string::npos) << what;
  }
  // Full expansion of many GPUs names the symmetric alternative.
  cfg.plan = plan(8, 1, 4096, 64);
  cfg.expansion = Expansion::kFull;
  try {
    build_step_program(cfg, cost);
    FAIL() << "expected an InputError for full expansion of 32768 GPUs";
  } catch (const core::InputError& e) {
    EXPECT_NE(std::string(e.what()).find("use symmetric expansion"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace mfusim::workload

namespace mfusim::workload {
namespace {

// ZeRO-3 / FSDP with blocks as wrapping units: per step, one gather per block in forward and one in
// backward, one reduce-scatter per block, plus one for the non-block (embedding, output) gradients,
// all on the data-parallel stream. When the network is slow, that stream is the step: the step cannot
// be shorter than the serial sum of its collectives' closed-form times.
TEST(StepSimulator, FsdpGathersAndReducesEachBlockOnOneStream) {
  const ModelSpec m = tiny_model(8);
  ParallelPlan p = plan(1, 1, 2, 1);
  p.sharding = Sharding::kParameters;
  const Outcome fast = simulate(m, p, 1e15);
  EXPECT_EQ(fast.comm_calls, 8 + 8 + 8 + 1) << "8 forward gathers, 8 backward gathers, 8 block reduce-scatters, 1 non-block";

  const double bw = 1e9;  // slow: every collective takes far longer than a block's kernels
  const StepProgram prog = build_step_program(config(m, p), ideal_cost());
  double serial = 0.0;
  for (const auto& r : prog.requests) serial += 10e-6 + 0.5 * r.bytes.as_double() / bw;  // alpha + (n-1)/n S/B, n = 2
  const Outcome slow = simulate(m, p, bw);
  EXPECT_GE(slow.result.step_time.seconds(), serial * (1 - 1e-9)) << "collectives of one communicator run one at a time";
  EXPECT_LT(slow.result.step_time.seconds(), serial * 1.05) << "with a slow network the step is its communication";
}

}  // namespace
}  // namespace mfusim::workload

namespace mfusim::workload {
namespace {

// Without recomputation the executed FLOPs are the model FLOPs, so HFU = MFU, also when pipeline
// stages carry different work (the last one has the output layer): HFU counts every GPU's work, not
// the busiest stage's times the GPU count.
TEST(StepSimulator, HfuEqualsMfuWithoutRecomputationAcrossUnevenStages) {
  ModelSpec m = tiny_model(8);
  m.vocab = 32000;  // a large output layer on the last stage only
  const Outcome r = simulate(m, plan(1, 4, 1, 8));
  EXPECT_NEAR(r.result.hfu / r.result.mfu, 1.0, 1e-9) << "hfu " << r.result.hfu << " mfu " << r.result.mfu;
}

TEST(StepSimulator, EagerOnOneGpuIsTheSingleGpuStepsKernelTime) {
  // training.kernels: eager ties the step simulator to the single-GPU ground-truth path: on one GPU
  // (no communication) with the measured H100 tables, a step is the single-GPU op list's kernels
  // back to back, so the simulated step equals predict_single_gpu_step's GPU time (its host-launch
  // queue aside). GPT-style 1.3B of workloads/calibration/measure_training_steps.py, micro-batches
  // 1 and 4 (gradient accumulation 1 and 2), with and without full recomputation.
  const auto& gpu = catalog().gpu("H100-SXM5-80GB");
  const auto cost = compute::KernelCostModel::for_gpu(catalog(), gpu, compute::KernelCostModel::default_calibration_dir());
  ModelSpec m;
  m.name = "gpt-1.3b";
  m.family = "gpt";
  m.layers = 24;
  m.hidden = 2048;
  m.heads = 16;
  m.kv_heads = 16;
  m.head_dim = 128;
  m.ffn = 8192;
  m.vocab = 50304;
  m.seq_length = 2048;
  m.norm = Norm::kLayerNorm;
  m.activation = Activation::kGelu;
  m.position = Position::kLearned;
  m.tied_embeddings = true;
  m.linear_bias = true;
  m.attention = AttentionType::kMha;
  for (auto [mb, accumulation] : {std::pair{1, 1}, std::pair{4, 2}}) {
    for (Recompute rc : {Recompute::kNone, Recompute::kFull}) {
      StepConfig cfg = config(m, plan(1, 1, 1, accumulation));
      cfg.plan.micro_batch = mb;
      cfg.plan.global_batch = mb * accumulation;
      cfg.plan.sequence_parallel = false;
      cfg.plan.sharding = Sharding::kNone;
      cfg.recompute = rc;
      cfg.eager = true;
      const StepProgram prog = build_step_program(cfg, cost);
      core::Engine e;
      AlphaBeta comm(e, 0, Duration::zero());
      const StepResult r = simulate_step(cfg, prog, cost, comm, e);
      ASSERT_EQ(r.run.status, core::RunStatus::kCompleted);
      const StepPrediction single = predict_single_gpu_step(m, MicroBatch{mb, m.seq_length}, accumulation, rc, cost, true, {});
      EXPECT_NEAR(r.step_time.seconds() / single.gpu_time.seconds(), 1.0, 0.002)
          << "mb " << mb << " x " << accumulation << " recompute " << static_cast<int>(rc) << ": simulated "
          << r.step_time.seconds() * 1e3 << " ms, single-GPU kernels " << single.gpu_time.seconds() * 1e3 << " ms";
      EXPECT_EQ(comm.calls, 0) << "one GPU: no communication";
    }
  }
}

}  // namespace
}  // namespace mfusim::workload
