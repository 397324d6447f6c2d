#pragma once
// One training step of a parallel plan, lowered to per-rank op graphs and run on the engine.
//
// Lowering (docs/models/parallelism.md). Each simulated rank gets streams: `compute` (kernels, and the
// TP / EP / blocking CP collectives, which Megatron runs on the critical path unless --tp-comm-overlap),
// `cp` (ring-attention KV exchange, overlapped with the attention kernel), `dp` (gradient buckets,
// parameter all-gathers), `send` / `sendb` (pipeline activations and gradients). A pipeline action
// (forward, backward or weight pass of one micro-batch on one model chunk) becomes the segments of its
// layers' ops (ops.hpp), with the TP collectives between segments (SP: all-gather before, reduce-scatter
// after; otherwise one all-reduce after each block's output), EP all-to-all around the experts, and a
// point-to-point hand-off to the next virtual stage. Gradient buckets (--ddp-bucket-size elements, fp32)
// are reduced over data parallelism as the last micro-batch's backward releases their layers
// (--overlap-grad-reduce) or after the whole backward; the optimizer step then runs on the local (or
// distributed-optimizer-sharded) parameters; the distributed optimizer's parameter all-gather is
// overlapped with the next step's forward (--overlap-param-gather), i.e. issued at the start of the step
// and awaited by each chunk's first forward.
//
// Overlapped forward/backward pairs (ParallelPlan::ep_comm_overlap, pipeline_schedule.hpp
// overlapped_pairs()): the pair's EP all-to-alls and expert-TP collectives run on per-pass streams
// (`ep.f`, `ep.b`; the backward's TP and CP collectives on `tp.b`, `cp.b`) and the two passes' kernels
// are issued on the compute stream block by block, alternately (TaskGraph::set_issue_order).
//
// DeepEP (ParallelPlan::ep_dispatcher): each dispatch or combine is an all-to-all over the rank's node
// group (NVLink hop; on the compute stream or the pair's EP stream) and one over its rail group
// (InfiniBand hop; on `rdma`, `rdma.b` for a pair's backward), started together; the next kernel waits
// for both.
//
// Contention: a kernel that starts while collectives of its rank are running progresses at 1 / the
// slowdown factor until they end (CommunicationModel::kernel_time; SM and HBM contention,
// collective/sm_contention.hpp).
//
// Symmetry: in `symmetric` mode only one rank per pipeline stage is simulated (tp = cp = dp = 0); each
// collective lists every equivalent group (CommRequest::groups) so the network sees all their traffic.
// `full` mode simulates every rank, each collective starting when all its members arrive; tests check
// both agree on small plans.
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "compute/kernel_cost_model.hpp"
#include "core/engine.hpp"
#include "core/task_graph.hpp"
#include "workload/communication.hpp"
#include "workload/memory_model.hpp"
#include "workload/model_spec.hpp"
#include "workload/ops.hpp"
#include "workload/parallel_plan.hpp"
#include "workload/task_label.hpp"

namespace mfusim::workload {

enum class Expansion : std::uint8_t { kSymmetric, kFull };

struct StepConfig {
  const ModelSpec* model = nullptr;
  ParallelPlan plan;
  std::int64_t seq = 0;
  Recompute recompute = Recompute::kNone;
  RecomputeModules recompute_modules = kRecomputeCoreAttention;  // with kSelective (Shard::recompute_modules)
  bool bf16_moments = false;  // Adam's moments in bf16 (kBf16MomentsSavedBytes less optimizer traffic)
  hardware::Dtype gemm_dtype = hardware::Dtype::kBf16;
  Expansion expansion = Expansion::kSymmetric;
  bool flash_attention = true;  // Shard::flash_attention
  bool cudnn_attention = false; // Shard::cudnn_attention
  bool dropout = false;         // Shard::dropout
  // Eager PyTorch under bf16 autocast with fp32 parameters (Shard::eager): the eager op forms, autocast
  // weight casts and fp32 gradient accumulation per micro-batch, fused AdamW on fp32 parameters (28 B
  // per parameter) and fp32 parameter all-gathers (ZeRO-3 / FSDP without mixed-precision parameters).
  bool eager = false;
  // GPUs per node of the cluster, numbered node by node (rank / gpus_per_node is the node); 0: not
  // known. Needed by the DeepEP dispatcher (ParallelPlan::ep_dispatcher), whose two hops follow nodes.
  std::int64_t gpus_per_node = 0;
};

enum class TaskKind : std::uint8_t { kCompute, kRecompute, kComm, kOptimizer };

struct TaskInfo {
  TaskKind kind = TaskKind::kCompute;
  Dim dim = Dim::kTp;         // comm only
  std::int64_t rank = 0;      // simulated rank
  std::int32_t request = -1;  // comm only: index into StepProgram::requests
  std::int32_t rendezvous = -1;  // full expansion: collective instance shared by the group's members
  TaskLabel label;               // what the task is (for traces and timelines)
};

struct StepProgram {
  core::TaskGraph graph;
  std::vector<TaskInfo> info;          // per task
  std::vector<CommRequest> requests;   // per communication task
  std::vector<std::int64_t> ranks;     // simulated ranks
  std::vector<core::StreamIndex> compute_stream;  // per simulated rank
  std::vector<std::int32_t> rendezvous_size;      // members per collective instance (full expansion)
  double executed_flops_per_rank = 0.0;           // mean over simulated ranks (Op::hardware_flops)
};

// Size guard. A step's task graph grows with simulated ranks x micro-batches x layers: a plan with
// millions of micro-batches (a huge global_batch over micro_batch x dp), or full expansion of thousands
// of GPUs, would exhaust host memory long before the first event. estimate_step_tasks() bounds the
// number of tasks build_step_program() will create (0.9 to 2.1 times the real count on the shipped scenarios
// and the tests' plans), before anything is built; build_step_program() throws core::InputError, with the estimate
// and what to change, when estimate x kBytesPerTask exceeds kStepMemoryBudget.
// Host memory per task: graph, per-task info, run state and the result's spans and names. Measured
// (peak RSS over tasks built): 230 B on quickstart at 400k tasks, 195 B on deepseek-v3-moe; rounded up.
inline constexpr double kBytesPerTask = 256.0;
inline constexpr double kStepMemoryBudget = 4.0 * 1024 * 1024 * 1024;  // 4 GiB of host memory
double estimate_step_tasks(const StepConfig& config);

StepProgram build_step_program(const StepConfig& config, const compute::KernelCostModel& cost);

// The task's short readable name (task_label.hpp), e.g. "F3 L5 attention"; formatted on demand.
std::string task_name(const StepProgram& program, core::TaskIndex task);

struct StepBreakdown {
  core::Duration compute;
  core::Duration recompute;
  core::Duration optimizer;
  core::Duration bubble;  // waiting for other pipeline stages
  std::map<Dim, core::Duration> exposed;  // communication on the critical path, by dimension
  core::Duration other;
};

// What one simulated rank's GPU did over the step, for the energy model (scenario/energy.hpp).
struct RankActivity {
  std::int64_t rank = 0;
  core::Duration kernel_busy;  // kernels (compute, recompute, optimizer) on its compute stream
  core::Duration comm_only;    // its collectives/transfers in flight while no kernel of it runs
};

struct StepResult {
  core::RunResult run;
  core::Duration step_time;
  std::int64_t critical_rank = 0;  // the simulated rank with the busiest compute stream (bottleneck stage)
  StepBreakdown breakdown;         // of the critical rank; sums to the step time
  double model_flops = 0.0;        // whole step, all GPUs, Megatron convention
  double executed_flops = 0.0;     // whole step, all GPUs: Megatron convention, recomputation included
  double tokens = 0.0;             // per step
  double mfu = 0.0;
  double hfu = 0.0;
  std::size_t tasks = 0;
  // Per simulated rank (StepProgram::ranks order). Each stands for gpus_per_simulated_rank GPUs: in
  // symmetric expansion every rank of a pipeline stage behaves as the one simulated (tp x cp x dp of
  // them), in full expansion 1.
  std::vector<RankActivity> activity;
  double gpus_per_simulated_rank = 1.0;
  core::Duration slowdown_time;  // compute time added by contention with communication (all simulated ranks)
  double wall_seconds = 0.0;
  std::vector<core::TaskGraphRun::Span> spans;
};

StepResult simulate_step(const StepConfig& config, const StepProgram& program, const compute::KernelCostModel& cost,
                         CommunicationModel& comm, core::Engine& engine, const core::RunLimits& limits = {});

}  // namespace mfusim::workload
