#pragma once
// A data/tensor/pipeline/context/expert-parallel training plan, its validity rules and Megatron-style
// rank placement.
//
// GPUs = tp x cp x dp x pp. Placement follows Megatron-Core's RankGenerator: `order` lists the
// dimensions from fastest- to slowest-varying (default tp-cp-ep-dp-pp: TP innermost, so a TP group sits
// inside one node when tp <= GPUs per node). Dense layers use tp, cp, dp, pp (ep is skipped). Expert
// layers use a second generator over the same ranks (Megatron-Core >= 0.10's "MoE parallel folding",
// parallel_state.py's expert_decoder_rank_generator): sizes expert_tp, ep, expert_dp = tp x cp x dp /
// (ep x expert_tp) and pp, in the same order with cp dropped (size 1); an order without ep places it
// just before dp. So by default (expert_tp = tp, cp = 1) an EP group is ep consecutive DP ranks; with
// cp > 1 it takes in the CP ranks first, and with expert_tp < tp the TP ranks beyond expert_tp (often
// inside one node). Megatron requires both generators to give the same pipeline groups.
//
// Validity (each violated rule names the key and the valid values):
//   tp x cp x dp x pp = GPUs; tp divides heads (and kv heads, or kv heads divide tp: replication);
//   pp x virtual_stages <= layers (uneven splits allowed); ep divides experts; ep x expert_tp divides
//   tp x cp x dp; expert_tp divides the expert width; the expert placement's pipeline groups equal the
//   dense ones (`order`); an MoE model with tp > 1 needs sequence parallelism (Megatron-LM's rule); cp divides the sequence (2 cp for the load-balanced causal split);
//   micro_batch x dp divides global_batch; interleaved needs virtual_stages >= 2 and micro-batches a
//   multiple of pp; dualpipe needs an even pp and an even number of micro-batches >= 2 pp; sequence parallelism needs tp > 1.
#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "workload/memory_model.hpp"
#include "workload/model_spec.hpp"
#include "workload/pipeline_schedule.hpp"

namespace mfusim::workload {

enum class Dim : std::uint8_t { kTp, kCp, kEp, kDp, kPp };
std::string_view to_string(Dim d);

// Megatron's default placement order, fastest-varying first: tp-cp-ep-dp-pp.
std::vector<Dim> default_order();

enum class ContextParallel : std::uint8_t { kRing, kAllGather };

// How the MoE token dispatch and combine move tokens between the EP ranks.
//   kAllToAll: Megatron-Core's all-to-all dispatcher: one NCCL all-to-all over the EP group, every routed
//              copy (token x top_k) sent separately, in the activations' dtype (bf16).
//   kDeepEp:   DeepSeek's DeepEP normal kernels (DeepSeek-V3 report section 3.2.2): a token goes once over
//              InfiniBand to each node that holds one of its experts (to the GPU with the sender's in-node
//              index), then over NVLink to each GPU there that holds one; both hops run at once
//              (pipelined), on 20 SMs; tokens toward the experts in bf16, or FP8 (ep_fp8_dispatch).
enum class EpDispatcher : std::uint8_t { kAllToAll, kDeepEp };

struct ParallelPlan {
  std::int64_t tp = 1;
  std::int64_t pp = 1;
  std::int64_t dp = 1;
  std::int64_t cp = 1;
  std::int64_t ep = 1;
  // Tensor parallelism inside each expert; 0 = the plan's tp, Megatron's default
  // (--expert-tensor-parallel-size unset: arguments.py sets it to --tensor-model-parallel-size).
  std::int64_t expert_tp = 0;
  std::int64_t expert_tp_size() const { return expert_tp > 0 ? expert_tp : tp; }
  std::int64_t virtual_stages = 1;
  // Decoder layers on the first and the last pipeline position (Megatron-Core's
  // --decoder-first-pipeline-num-layers / --decoder-last-pipeline-num-layers; with interleaving the first
  // and last model chunks, with DualPipe positions 0 and pp - 1); 0: automatic (layers_at_position). The
  // other positions share the remaining layers by the automatic rule.
  std::int64_t first_stage_layers = 0;
  std::int64_t last_stage_layers = 0;
  std::int64_t positions() const { return schedule == PipelineSchedule::kDualPipe ? pp : pp * virtual_stages; }
  bool sequence_parallel = false;
  PipelineSchedule schedule = PipelineSchedule::kOneFOneB;
  Sharding sharding = Sharding::kNone;
  ContextParallel cp_kind = ContextParallel::kRing;
  EpDispatcher ep_dispatcher = EpDispatcher::kAllToAll;
  // DeepEP only: tokens toward the experts (forward dispatch, backward combine) in FP8, 1 B per element
  // plus an fp32 scale per 128 (DeepSeek-V3 report section 3.3.2); back from them in bf16. The
  // scenario's default: on with DeepEP and FP8 GEMMs (Megatron-Core's DeepEP path dispatches bf16).
  bool ep_fp8_dispatch = false;
  std::vector<Dim> order = default_order();
  std::int64_t micro_batch = 1;
  std::int64_t global_batch = 1;
  double moe_imbalance = 1.0;
  // Overlap, named after Megatron-LM's flags.
  bool overlap_grad_reduce = true;   // --overlap-grad-reduce
  bool overlap_param_gather = true;  // --overlap-param-gather
  bool tp_comm_overlap = false;      // --tp-comm-overlap
  // Backward of a column-parallel linear (QKV, FC1): the input-gradient collective (all-reduce, or
  // reduce-scatter with SP) is issued asynchronously after the dgrad GEMM and overlaps the wgrad GEMM;
  // with SP the input is re-gathered for the wgrad while the dgrad runs. Megatron-LM's
  // LinearWithGradAccumulationAndAsyncCommunication (the async tensor-parallel all-reduce, default since
  // late 2021; with SP since v3.0). false: the collective follows the whole block backward (Megatron-LM
  // of SC'21).
  bool tp_backward_overlap = true;
  // Expert-parallel all-to-all (and expert-TP collectives) of a forward overlapped with the computation of
  // the backward it is paired with, and vice versa (pipeline_schedule.hpp overlapped_pairs()): DeepSeek-V3's
  // DualPipe (its point: "both all-to-all and PP communication can be fully hidden", section 3.2.1) and
  // Megatron-Core's --overlap-moe-expert-parallel-comm. Off: the all-to-all blocks the compute stream.
  bool ep_comm_overlap = false;
  // Whether passes are paired at all: with expert parallelism (ep > 1 only on MoE models, check_plan),
  // and not with sharded parameters (FSDP's per-block gathers share one stream between the two passes
  // in a fixed order, which the interleaving could deadlock). The step lowering and the memory model ask.
  bool pairs_passes() const { return ep_comm_overlap && ep > 1 && sharding != Sharding::kParameters; }
  std::int64_t bucket_bytes = 40'000'000 * 2;  // --ddp-bucket-size: 40M elements (bf16) by default
  // Bytes per gradient element in the data-parallel reduction and the persistent gradient buffer:
  // 4 (fp32: Megatron forces fp32 accumulation and all-reduce for bf16 training) or 2 (bf16 with
  // --grad-reduce-in-bf16 / NeMo grad_reduce_in_fp32: false; fp16 training, whose gradients Megatron
  // accumulates and reduces in fp16 unless --accumulate-allreduce-grads-in-fp32).
  double grad_reduce_bytes = 4.0;
  // Hybrid sharding (PyTorch FSDP HYBRID_SHARD, MaxText dcn_data_parallelism x FSDP, Megatron's
  // --num-distributed-optimizer-instances): the sharded states (sharding != none) are split over groups
  // of shard_group data-parallel ranks (consecutive in the DP group, so within nodes first), replicated
  // dp / shard_group times; gathers and reduce-scatters run in the shard group and each reduced shard is
  // then all-reduced across the replicas. 0 = the whole DP group.
  std::int64_t shard_group = 0;
  std::int64_t shard_size() const { return shard_group > 0 ? shard_group : dp; }
  // Context-parallel ranks hold the same weights as their data-parallel peers and compute gradients on
  // other tokens of the same sequences, so gradients are reduced, and states sharded, over dp x cp
  // ranks: Megatron-Core's data-parallel group "with context parallel" (the distributed optimizer's
  // data_parallel_group, the DDP buffers' dp_cp_group) and torchtitan's FSDP mesh dp_shard_cp.
  std::int64_t dp_cp() const { return dp * cp; }
  // Ranks one sharded state is split over: the shard group's DP ranks, each with its cp ranks.
  std::int64_t shard_ranks() const { return shard_size() * cp; }
  // Ranks holding the same expert weights, over which expert gradients are reduced and expert states
  // sharded: Megatron-Core's expert data parallel size, tp x cp x dp / (ep x expert_tp) (the expert
  // layers' ranks of a stage are ep x expert_tp x expert-dp; TP ranks beyond expert_tp hold copies).
  std::int64_t expert_dp() const { return std::max<std::int64_t>(1, tp * cp * dp / (ep * expert_tp_size())); }

  std::int64_t gpus() const { return tp * pp * dp * cp; }
  // Micro-batches per pipeline per step: global_batch / (micro_batch x dp).
  std::int64_t microbatches() const { return global_batch / (micro_batch * dp); }
};

// Layers held by pipeline position `pos` of `positions` for a model of `layers` blocks. An uneven
// remainder goes to the middle positions first, sparing the first (embedding, most in-flight
// activations) and the last (output layer and loss), as with Megatron's --decoder-first/last-pipeline-
// num-layers (Llama 3.1 405B: 126 layers on 16 stages = 7 + 14 x 8 + 7).
// With `first` / `last` > 0 (ParallelPlan::first_stage_layers / last_stage_layers) the first / last
// position holds that many and the others share the rest by the same rule.
std::int64_t layers_at_position(std::int64_t layers, std::int64_t positions, std::int64_t pos, std::int64_t first = 0,
                                std::int64_t last = 0);
// First layer index of a position.
std::int64_t first_layer_at_position(std::int64_t layers, std::int64_t positions, std::int64_t pos, std::int64_t first = 0,
                                     std::int64_t last = 0);
// The blocks [begin, end) of position `pos`: its decoder layers and, on the last position, the model's
// MTP blocks after them (ModelSpec::mtp_layers).
std::pair<std::int64_t, std::int64_t> blocks_at_position(const ModelSpec& m, std::int64_t positions, std::int64_t pos,
                                                         std::int64_t first = 0, std::int64_t last = 0);
// Pipeline position of model chunk `chunk` on stage `stage` of `pp`: chunk x pp + stage (interleaving's
// round-robin; chunk 0 without it), or with DualPipe (two chunks, positions = pp) stage for the first
// direction and pp - 1 - stage for the second.
inline std::int64_t pipeline_position(std::int64_t pp, std::int64_t stage, std::int64_t chunk, bool dualpipe) {
  if (dualpipe) return chunk == 0 ? stage : pp - 1 - stage;
  return chunk * pp + stage;
}

struct PlanProblem {
  std::string key;      // plan key the problem is about ("tp", "global_batch", ...)
  std::string message;  // what is wrong and what would be valid
};

// Every rule the plan breaks for this model, cluster size and sequence length (empty: valid).
// What one rank of `plan` computes on (ops.hpp): the plan's partitioning plus the attention
// implementation and dropout of the training setup. The one place a plan becomes a Shard, shared by the
// step lowering, the memory model and plan search's lower bound so that they cannot disagree.
// `cudnn_attention` changes kernel efficiencies only (the memory model ignores it).
Shard shard_of(const ParallelPlan& plan, bool flash_attention, bool dropout, bool eager = false, bool cudnn_attention = false);

std::vector<PlanProblem> check_plan(const ParallelPlan& plan, const ModelSpec& model, std::int64_t gpus,
                                    std::int64_t seq_length);

// Rank <-> coordinates under plan.order, and the groups of a dimension.
class RankLayout {
 public:
  explicit RankLayout(const ParallelPlan& plan);
  std::int64_t rank(std::int64_t tp, std::int64_t cp, std::int64_t dp, std::int64_t pp) const;
  // Dense coordinate; Dim::kEp: the expert generator's ep coordinate (the rank's place in its EP group).
  std::int64_t coord(std::int64_t rank, Dim d) const;
  // All groups of `d`, each the ranks that differ only in that coordinate, in coordinate order.
  // Dim::kEp: the expert generator's EP groups (the all-to-all groups).
  std::vector<std::vector<std::int64_t>> groups(Dim d) const;
  std::vector<std::int64_t> group_of(std::int64_t rank, Dim d) const;
  // The ranks with the rank's tp and pp coordinates (ParallelPlan::dp_cp), data-parallel index
  // outer and cp inner, so that consecutive blocks of shard_ranks() members are the shard groups.
  std::vector<std::int64_t> dp_cp_group_of(std::int64_t rank) const;
  // Megatron-Core's expert groups (expert generator): expert-TP (expert_tp_size() ranks splitting each
  // expert; by default the TP group), and expert data parallel (ParallelPlan::expert_dp ranks holding
  // the same expert shard: expert gradients are reduced and expert states sharded over it).
  std::vector<std::int64_t> expert_tp_group_of(std::int64_t rank) const;
  std::vector<std::int64_t> expert_dp_group_of(std::int64_t rank) const;
  // Whether the expert generator's pipeline coordinate equals the dense one on every rank (Megatron-Core
  // asserts it): the product of the sizes placed before pp is the same in both generators.
  bool expert_pipeline_matches() const;

 private:
  std::int64_t size(Dim d) const;
  // Expert generator: Dim::kTp = expert_tp, kEp = ep, kDp = expert_dp, kPp = pp.
  std::int64_t expert_size(Dim d) const;
  std::int64_t expert_coord(std::int64_t rank, Dim d) const;
  std::vector<std::int64_t> expert_group_of(std::int64_t rank, Dim d) const;
  ParallelPlan plan_;
  std::vector<Dim> order_;         // dense placement dims, fastest first (no ep)
  std::vector<Dim> expert_order_;  // expert placement dims, fastest first (no cp)
};

// --- DeepEP's dispatch (EpDispatcher::kDeepEp) -----------------------------------------------------
// GPUs are numbered node by node, gpus_per_node to a node (rank = GPU index, node = rank / gpus_per_node).
// An EP group spans `nodes` nodes with `per_node` members on each; a rank's rail group is the members at
// its own place among its node's members, one per node (where its InfiniBand hop goes), its node group
// the members on its node (where the NVLink hop goes).
struct EpSpread {
  std::int64_t nodes = 1;
  std::int64_t per_node = 1;
};
// Every EP group's spread; a problem (key "ep_dispatcher") when the groups do not all put the same
// number of members on each node they touch, which the two-hop dispatch needs.
std::optional<PlanProblem> deepep_spread(const ParallelPlan& plan, std::int64_t gpus_per_node, EpSpread* spread);
std::vector<std::int64_t> ep_rail_group(const std::vector<std::int64_t>& ep_group, std::int64_t rank, std::int64_t gpus_per_node);
std::vector<std::int64_t> ep_node_group(const std::vector<std::int64_t>& ep_group, std::int64_t rank, std::int64_t gpus_per_node);

// Expected distinct nodes and distinct GPUs one token's routed experts lie on, for an EP group of
// `spread` holding `experts` experts evenly (experts / (nodes x per_node) per GPU). The token's top_k
// experts are taken as drawn uniformly without replacement from the experts of m nodes, m = min(
// max_nodes, nodes) with node-limited routing (MoeSpec::max_nodes), else all nodes: a node is missed
// with probability C(m e - e, k) / C(m e, k) for e experts per node, a GPU likewise with its e /
// per_node; the expectation is m (or m x per_node) times the probability of a hit. DeepSeek-V3 (256
// experts, top 8, at most 4 of 8 nodes, 8 GPUs a node): 3.63 nodes and 7.36 GPUs per token.
struct DeepEpFanout {
  double nodes = 1.0;
  double gpus = 1.0;
};
DeepEpFanout deepep_fanout(std::int64_t experts, std::int64_t top_k, std::int64_t max_nodes, EpSpread spread);
// Bytes per element DeepEP moves: toward the experts (forward dispatch, backward combine) FP8 with
// ep_fp8_dispatch, 1 B plus one fp32 scale per 128 elements (DeepSeek-V3 report section 3.3.2, with the
// 1 x 128 tile scaling of section 3.3.1); otherwise, and back from the experts, bf16.
inline double deepep_element_bytes(const ParallelPlan& plan, bool toward_experts) {
  return toward_experts && plan.ep_fp8_dispatch ? kFp8TiledBytesPerElement : 2.0;
}

}  // namespace mfusim::workload
