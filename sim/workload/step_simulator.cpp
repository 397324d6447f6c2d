#include "workload/step_simulator.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <memory>
#include <optional>
#include <tuple>
#include <unordered_map>
#include <utility>

#include "core/error.hpp"

namespace mfusim::workload {
namespace {

using core::Duration;
using core::StreamIndex;
using core::TaskIndex;

constexpr double kAct = 2.0;       // bf16 bytes per activation element
// SMs DeepEP's dispatch and combine kernels hold: "only 20 SMs are sufficient to fully utilize the
// bandwidths of IB and NVLink" (DeepSeek-V3 report section 3.2.2), split between the two hops.
constexpr int kDeepEpSms = 20;
constexpr double kParamBytesBf16 = 2.0;  // parameters as gathered: bf16 (Megatron, FSDP mixed precision)
constexpr double kParamBytesFp32 = 4.0;  // eager fp32 parameters (StepConfig::eager)

core::Bytes bytes(double b) { return core::Bytes(static_cast<std::int64_t>(std::llround(b))); }

struct RankStreams {
  std::int64_t rank;
  std::int32_t stage;
  StreamIndex compute, cp, dp, send, sendb, tp;
  double flops = 0.0;
  // Overlapped forward/backward pairs (ParallelPlan::ep_comm_overlap): each pass's all-to-all stream,
  // and the backward's own TP and CP streams (so that no side stream orders one pass's collectives
  // behind the other's, which the interleaved compute order could deadlock).
  StreamIndex pair_ep[2] = {0, 0};
  StreamIndex pair_tp = 0, pair_cp = 0;
  // DeepEP (ParallelPlan::ep_dispatcher): the InfiniBand hop's stream, beside the NVLink hop; [1] for
  // the backward of an overlapped pair.
  StreamIndex rdma[2] = {0, 0};
};

// Task-count model of estimate_step_tasks() (fitted on the shipped scenarios, see the unit test).
constexpr double kTasksPerLayerPass = 3.0;
constexpr double kTasksPerChunkPass = 2.0;
constexpr double kTasksPerRankFixed = 16.0;

class Builder {
 public:
  Builder(const StepConfig& cfg, const compute::KernelCostModel& cost)
      : cfg_(cfg), m_(*cfg.model), p_(cfg.plan), cost_(cost), layout_(cfg.plan) {
    shape_ = ScheduleShape{static_cast<std::int32_t>(p_.pp), static_cast<std::int32_t>(p_.microbatches()),
                           static_cast<std::int32_t>(p_.schedule == PipelineSchedule::kDualPipe ? 2 : p_.virtual_stages)};
    // Megatron-Core's combined 1F1B: interleaved schedules pair their steady state (ScheduleShape::combined).
    shape_.combined = p_.schedule == PipelineSchedule::kInterleaved && p_.pairs_passes() && m_.moe.has_value();
    schedule_ = build_schedule(p_.schedule, shape_);
    shard_ = shard_of(p_, cfg.flash_attention, cfg.dropout, cfg.eager, cfg.cudnn_attention);
    shard_.recompute_modules = cfg.recompute_modules;
    param_bytes_ = cfg.eager ? kParamBytesFp32 : kParamBytesBf16;
    mb_ = MicroBatch{p_.micro_batch, cfg.seq};
    tokens_ = static_cast<double>(mb_.batch * mb_.seq / p_.cp);
    positions_ = p_.positions();
    if (p_.pairs_passes() && m_.moe) {
      pairs_ = overlapped_pairs(p_.schedule, shape_, schedule_);
    }
    if (p_.ep_dispatcher == EpDispatcher::kDeepEp && p_.ep > 1 && m_.moe) {
      EpSpread spread;
      if (auto problem = deepep_spread(p_, cfg.gpus_per_node, &spread)) throw core::InputError("parallel.ep_dispatcher: " + problem->message);
      deepep_ = true;
      spread_ = spread;
      fanout_ = deepep_fanout(m_.moe->experts, m_.moe->top_k, m_.moe->max_nodes, spread);
    }
  }

  StepProgram build() {
    if (cfg_.expansion == Expansion::kSymmetric) {
      for (std::int64_t s = 0; s < p_.pp; ++s) prog_.ranks.push_back(layout_.rank(0, 0, 0, s));
    } else {
      for (std::int64_t r = 0; r < p_.gpus(); ++r) prog_.ranks.push_back(r);
    }
    for (std::int64_t r : prog_.ranks) {
      const std::string n = "r" + std::to_string(r) + ".";
      RankStreams rs{r, static_cast<std::int32_t>(layout_.coord(r, Dim::kPp)), g().add_stream(n + "compute"),
                     g().add_stream(n + "cp"), g().add_stream(n + "dp"), g().add_stream(n + "send"),
                     g().add_stream(n + "sendb"), g().add_stream(n + "tp"), 0.0};
      if (!pairs_.empty()) {
        rs.pair_ep[0] = g().add_stream(n + "ep.f");
        rs.pair_ep[1] = g().add_stream(n + "ep.b");
        rs.pair_tp = g().add_stream(n + "tp.b");
        rs.pair_cp = g().add_stream(n + "cp.b");
      }
      if (deepep_) {
        rs.rdma[0] = g().add_stream(n + "rdma");
        if (!pairs_.empty()) rs.rdma[1] = g().add_stream(n + "rdma.b");
      }
      index_[r] = streams_.size();
      streams_.push_back(rs);
      prog_.compute_stream.push_back(rs.compute);
    }
    for (std::size_t i = 0; i < streams_.size(); ++i) emit_rank(i);
    link_pipeline();
    // Mean over the simulated ranks: in symmetric expansion each stands for the same number of GPUs, so
    // the mean times all GPUs is the step's executed total (stages differ: embedding, output layer).
    double sum = 0.0;
    for (const auto& rs : streams_) sum += rs.flops;
    prog_.executed_flops_per_rank = streams_.empty() ? 0.0 : sum / static_cast<double>(streams_.size());
    return std::move(prog_);
  }

 private:
  core::TaskGraph& g() { return prog_.graph; }

  // --- layers of a model chunk ------------------------------------------------------------------
  std::int64_t position(std::int32_t stage, std::int32_t chunk) const {
    return pipeline_position(p_.pp, stage, chunk, p_.schedule == PipelineSchedule::kDualPipe);
  }
  // Layers [begin, end) at a pipeline position (parallel_plan.hpp: uneven remainders go to the middle).
  std::pair<std::int64_t, std::int64_t> layers_at(std::int64_t pos) const {
    // The MTP blocks too, on the last position; the plan's first / last stage layer counts.
    return blocks_at_position(m_, positions_, pos, p_.first_stage_layers, p_.last_stage_layers);
  }

  // --- groups ------------------------------------------------------------------------------------
  std::shared_ptr<const GroupSet> groups_for(Dim d, std::int64_t rank) {
    return stage_groups(static_cast<int>(d), rank, [this, d](std::int64_t r) {
      return layout_.group_of(r, d);  // Dim::kEp: the all-to-all groups (the expert generator's EP groups)
    });
  }
  // Cache codes of the group sets that are not one Dim's (groups_for uses the Dim's value).
  static constexpr int kExpertDpGroups = 98, kDpCpGroups = 99, kReplicaGroups = 100, kShardGroups = 101, kExpertTpGroups = 102,
                       kEpRailGroups = 103, kEpNodeGroups = 104;
  // The rank's group by `group_of` first, then (symmetric expansion) every other such group on the same
  // pipeline stage: they all run the same collective now. Cached under `code`.
  template <class GroupOf>
  std::shared_ptr<const GroupSet> stage_groups(int code, std::int64_t rank, GroupOf group_of) {
    const auto stage = layout_.coord(rank, Dim::kPp);
    const auto key = std::tuple{code, cfg_.expansion == Expansion::kFull ? rank : -1 - stage};
    if (auto it = group_cache_.find(key); it != group_cache_.end()) return it->second;
    auto set = std::make_shared<GroupSet>();
    const auto own = group_of(rank);
    set->push_back(own);
    if (cfg_.expansion == Expansion::kSymmetric) {
      std::vector<bool> seen(static_cast<std::size_t>(p_.gpus()), false);
      for (auto x : own) seen[static_cast<std::size_t>(x)] = true;
      for (std::int64_t r = 0; r < p_.gpus(); ++r) {
        if (seen[static_cast<std::size_t>(r)] || layout_.coord(r, Dim::kPp) != stage) continue;
        auto grp = group_of(r);
        for (auto x : grp) seen[static_cast<std::size_t>(x)] = true;
        set->push_back(std::move(grp));
      }
    }
    group_cache_.emplace(key, set);
    return set;
  }
  // The ranks gradients are reduced over: data parallel with context parallel (ParallelPlan::dp_cp).
  std::shared_ptr<const GroupSet> dp_cp_groups(std::int64_t rank) {
    return stage_groups(kDpCpGroups, rank, [this](std::int64_t r) { return layout_.dp_cp_group_of(r); });
  }
  // Hybrid sharding: the rank's dp x cp groups split into shard groups (consecutive blocks of
  // shard_ranks() members) or replica groups (the ranks at the same place in every block), own group
  // first, as groups_for. With one shard group per dp x cp group, those groups themselves.
  std::shared_ptr<const GroupSet> dp_groups(std::int64_t rank, bool replicas) {
    const std::int64_t s = p_.shard_ranks();
    MFUSIM_CHECK(s >= 1 && p_.dp_cp() % s == 0, "shard_group must divide dp");
    if (!replicas && s == p_.dp_cp()) return dp_cp_groups(rank);
    const auto key = std::tuple{replicas ? kReplicaGroups : kShardGroups, cfg_.expansion == Expansion::kFull ? rank : -1 - layout_.coord(rank, Dim::kPp)};
    if (auto it = group_cache_.find(key); it != group_cache_.end()) return it->second;
    auto set = std::make_shared<GroupSet>();
    for (const auto& dp_group : *dp_cp_groups(rank)) {
      const std::int64_t blocks = p_.dp_cp() / s;
      for (std::int64_t i = 0; i < (replicas ? s : blocks); ++i) {
        std::vector<std::int64_t> grp;
        for (std::int64_t j = 0; j < (replicas ? blocks : s); ++j) {
          grp.push_back(dp_group[static_cast<std::size_t>(replicas ? i + j * s : i * s + j)]);
        }
        if (std::find(grp.begin(), grp.end(), rank) != grp.end()) {
          set->insert(set->begin(), std::move(grp));
        } else {
          set->push_back(std::move(grp));
        }
      }
    }
    group_cache_.emplace(key, set);
    return set;
  }
  // Megatron's --ddp-bucket-size: 40M elements by default, at least 1M x the dp x cp group's size.
  double bucket_elements() const {
    return std::max(static_cast<double>(p_.bucket_bytes) / 2.0, 1e6 * static_cast<double>(p_.dp_cp()));
  }
  // One gradient reduction of `bytes` on the dp stream, after task `after`: an all-reduce over the DP
  // group, or with sharded states a reduce-scatter in the shard group, followed with hybrid sharding by
  // the all-reduce of the rank's reduced shard (bytes / shard_size) across the replicas. Returns the
  // task the optimizer waits for.
  TaskIndex reduce_gradients(RankStreams& rs, OpPart part, double bytes, TaskIndex after) {
    const bool sharded = p_.sharding != Sharding::kNone;
    const TaskIndex t = comm_task(rs, rs.dp, part, OpPart::kNone, sharded ? CollectiveKind::kReduceScatter : CollectiveKind::kAllReduce,
                                  Dim::kDp, bytes, dp_groups(rs.rank, false));
    g().add_dependency(t, after);
    if (p_.shard_size() == p_.dp) return t;
    const TaskIndex r = comm_task(rs, rs.dp, part, OpPart::kNone, CollectiveKind::kAllReduce, Dim::kDp,
                                  bytes / static_cast<double>(p_.shard_ranks()), dp_groups(rs.rank, true));
    g().add_dependency(r, t);
    return r;
  }
  // --- task emission -----------------------------------------------------------------------------
  // Tasks carry no name in the graph: their TaskLabel (the current action's, with `part`) says what
  // they are, formatted only when a trace or timeline asks (task_label.hpp).
  TaskIndex task(const RankStreams& rs, StreamIndex stream, OpPart part, Duration d, TaskKind kind) {
    const TaskIndex t = g().add_task(std::string(), stream, d);
    if (stream == rs.compute) {
      // Overlapped TP collectives of the previous segment must be done before this kernel starts.
      for (TaskIndex j : tp_join_) g().add_dependency(t, j);
      tp_join_.clear();
      on_compute_stream(t);
    }
    TaskInfo info;
    info.kind = kind;
    info.rank = rs.rank;
    info.label = ctx_;
    info.label.part = part;
    prog_.info.resize(g().tasks().size());
    prog_.info[t] = info;
    last_[stream] = t;
    return t;
  }

  TaskIndex comm_task(const RankStreams& rs, StreamIndex stream, OpPart part, OpPart of, CollectiveKind kind, Dim dim,
                      double nbytes, std::shared_ptr<const GroupSet> groups, int sms = -1) {
    const TaskIndex t = g().add_async_task(std::string(), stream);
    if (stream == rs.compute) on_compute_stream(t);
    TaskInfo info;
    info.kind = TaskKind::kComm;
    info.label = ctx_;
    info.label.part = part;
    info.label.of = of;
    info.dim = dim;
    info.rank = rs.rank;
    info.request = static_cast<std::int32_t>(prog_.requests.size());
    prog_.requests.push_back(CommRequest{kind, dim, bytes(nbytes), groups, sms});
    if (cfg_.expansion == Expansion::kFull && kind != CollectiveKind::kSendRecv && groups->front().size() > 1) {
      // Members of one group issue their collectives in the same order: the k-th of this group.
      const auto key = std::tuple{static_cast<int>(dim), groups->front().front(), rendezvous_count_[{static_cast<int>(dim), rs.rank}]++};
      auto it = rendezvous_.find(key);
      if (it == rendezvous_.end()) {
        it = rendezvous_.emplace(key, static_cast<std::int32_t>(prog_.rendezvous_size.size())).first;
        prog_.rendezvous_size.push_back(static_cast<std::int32_t>(groups->front().size()));
      }
      info.rendezvous = it->second;
    }
    prog_.info.resize(g().tasks().size());
    prog_.info[t] = info;
    last_[stream] = t;
    return t;
  }

  // --- overlapped forward/backward pairs (ParallelPlan::ep_comm_overlap) ---------------------------
  // While a pair is emitted (pair_ = 0 for its forward, 1 for its backward), the EP all-to-all and
  // expert-TP collectives go to the pass's own stream instead of the compute stream, and the pass's next
  // task on the compute stream waits for them; that task starts a new block of the pass. The two passes'
  // compute-stream tasks are then issued block by block, alternately (forward block 1, backward block 1,
  // forward block 2, ...: DeepSeek-V3's Figure 4 arrangement), so each pass's communication runs beside
  // the other's kernels (which it slows by holding SMs, as any collective does).
  void on_compute_stream(TaskIndex t) {
    for (TaskIndex j : pair_join_) g().add_dependency(t, j);
    pair_join_.clear();
    if (pair_ >= 0 && pair_break_) {
      pair_starts_[pair_].push_back(t);
      pair_break_ = false;
    }
    if (!pairs_.empty()) compute_order_.push_back(t);
  }
  // The stream a blocking dispatcher collective goes to: the compute stream, or in a pair the pass's own.
  StreamIndex dispatcher_stream(const RankStreams& rs) const { return pair_ >= 0 ? rs.pair_ep[pair_] : rs.compute; }
  void after_dispatcher_collective(const RankStreams& rs, TaskIndex t) {
    if (pair_ < 0) return;
    if (auto prev = last_.find(rs.compute); prev != last_.end()) g().add_dependency(t, prev->second);
    pair_join_.push_back(t);
    pair_break_ = true;
  }
  // Issue order of the pair whose compute-stream tasks are compute_order_[from ..): the forward's up to
  // `split`, then the backward's; each split into blocks at pair_starts_.
  void interleave_pair(std::size_t from, std::size_t split) {
    std::vector<std::vector<TaskIndex>> blocks[2];
    for (int c = 0; c < 2; ++c) {
      const std::size_t b = c == 0 ? from : split, e = c == 0 ? split : compute_order_.size();
      std::size_t next = 0;
      for (std::size_t i = b; i < e; ++i) {
        const TaskIndex t = compute_order_[i];
        const bool starts = next < pair_starts_[c].size() && pair_starts_[c][next] == t;
        if (starts) ++next;
        if (blocks[c].empty() || starts) blocks[c].emplace_back();
        blocks[c].back().push_back(t);
      }
      pair_starts_[c].clear();
    }
    std::size_t at = from;
    for (std::size_t i = 0; i < std::max(blocks[0].size(), blocks[1].size()); ++i) {
      for (int c = 0; c < 2; ++c) {
        if (i >= blocks[c].size()) continue;
        for (TaskIndex t : blocks[c][i]) compute_order_[at++] = t;
      }
    }
  }

  // Accumulates consecutive kernels into one compute task (exact on a serial stream). Selective
  // recomputation's ops (Phase::kRecompute inside a backward segment, which come before the segment's
  // backward ops) accumulate apart and become a recompute task ahead of it, so the breakdown shows them.
  struct Pending {
    Duration time;
    double flops = 0.0;
    bool any = false;
    TaskKind kind = TaskKind::kCompute;
    Duration rerun;  // selective recomputation ahead of `time`
    double rerun_flops = 0.0;
  };
  static Pending pending(TaskKind kind) {
    Pending p;
    p.kind = kind;
    return p;
  }

  void add_ops(Pending& pend, const std::vector<const Op*>& ops) {
    for (const Op* op : ops) {
      Duration t;
      const auto cached = op_time_.find(op);
      if (cached != op_time_.end()) {
        t = cached->second;
      } else {
        compute::Kernel k = op->kernel;
        if (k.kind == compute::KernelKind::kGemm) k.dtype = cfg_.gemm_dtype;
        t = cost_.time(k);
      }
      if (op->phase == Phase::kRecompute && pend.kind == TaskKind::kCompute) {
        pend.rerun += t;
        pend.rerun_flops += op->hardware_flops;
      } else {
        pend.time += t;
        pend.flops += op->hardware_flops;
      }
      pend.any = true;
    }
  }

  // A GEMM run as `chunks` GEMMs of m / chunks rows each (Transformer Engine's split overlaps): each
  // chunk is looked up in the efficiency tables at its own size and pays its own launch; the B operand
  // is read once per chunk.
  // sm_margin: SMs the GEMM leaves to a communication kernel for its whole run (Transformer Engine's
  // set_sm_margin): it runs on SMs - sm_margin of them, i.e. SMs / (SMs - sm_margin) times longer.
  void add_chunked(Pending& pend, const Op* op, std::int64_t chunks, int sm_margin = 0) {
    if (op->phase == Phase::kRecompute) {  // reruns are not split
      add_ops(pend, {op});
      return;
    }
    compute::Kernel k = op->kernel;
    const int sms = cost_.gpu().sm_count;
    const double margin = sm_margin > 0 && sms > sm_margin ? static_cast<double>(sms) / static_cast<double>(sms - sm_margin) : 1.0;
    if (k.kind != compute::KernelKind::kGemm || chunks <= 1 || k.gemm.m < 2 * chunks) {
      if (margin == 1.0) {
        add_ops(pend, {op});
        return;
      }
      Pending one = pending(pend.kind);
      add_ops(one, {op});
      pend.time += Duration::from_seconds(one.time.seconds() * margin);
      pend.flops += one.flops;
      pend.any = true;
      return;
    }
    k.dtype = cfg_.gemm_dtype;
    const double m = static_cast<double>(k.gemm.m), n = static_cast<double>(k.gemm.n), kk = static_cast<double>(k.gemm.k);
    k.gemm.m = k.gemm.m / chunks;
    const double mc = static_cast<double>(k.gemm.m);
    k.flops *= mc / m;
    k.bytes *= (mc * kk + kk * n + mc * n) / (m * kk + kk * n + m * n);
    const Duration chunked = cost_.time(k) * chunks;
    pend.time += margin == 1.0 ? chunked : Duration::from_seconds(chunked.seconds() * margin);
    pend.flops += op->hardware_flops;
    pend.any = true;
  }

  void flush(RankStreams& rs, Pending& pend, OpPart part) {
    if (!pend.any) return;
    if (pend.rerun > Duration::zero()) {
      const TaskLabel saved = ctx_;
      ctx_.pass = Pass::kRecompute;
      task(rs, rs.compute, part, pend.rerun, TaskKind::kRecompute);
      ctx_ = saved;
      rs.flops += pend.rerun_flops;
    }
    if (pend.time > Duration::zero() || pend.rerun == Duration::zero()) task(rs, rs.compute, part, pend.time, pend.kind);
    rs.flops += pend.flops;
    pend = pending(pend.kind);
  }

  // TP collectives. Without --tp-comm-overlap they run on the compute stream (the kernels wait). With
  // it (Megatron's userbuffer overlap, approximated): a block's input all-gather and output
  // reduce-scatter / all-reduce run on the rank's `tp` stream alongside the block's kernels, from the
  // block's start; the next block waits for them, so the block takes max(kernels, collectives).
  void tp_collective(RankStreams& rs, CollectiveKind kind, OpPart part, OpPart of) {
    if (p_.tp == 1) return;
    const double nbytes = tokens_ * static_cast<double>(m_.hidden) * kAct;
    if (!p_.tp_comm_overlap) {
      comm_task(rs, rs.compute, part, of, kind, Dim::kTp, nbytes, groups_for(Dim::kTp, rs.rank));
      return;
    }
    const TaskIndex t = comm_task(rs, rs.tp, part, of, kind, Dim::kTp, nbytes, groups_for(Dim::kTp, rs.rank));
    if (tp_anchor_ != core::TaskIndex(-1)) g().add_dependency(t, tp_anchor_);
    tp_join_.push_back(t);
  }
  void tp_block_output(RankStreams& rs, OpPart of) {
    tp_collective(rs, p_.sequence_parallel ? CollectiveKind::kReduceScatter : CollectiveKind::kAllReduce, OpPart::kTpOutput, of);
  }
  // `gather`: whether the block's input is all-gathered (with SP); false for an MoE block without
  // shared experts, whose ranks route their own tokens.
  void tp_block_input(RankStreams& rs, OpPart of, bool gather = true) {
    // The block starts after the last kernel so far: overlapped collectives start there too.
    const auto prev = last_.find(rs.compute);
    tp_anchor_ = prev != last_.end() ? prev->second : core::TaskIndex(-1);
    if (gather && p_.sequence_parallel) tp_collective(rs, CollectiveKind::kAllGather, OpPart::kTpInput, of);
  }
  // Index of the block's column-parallel wgrad (QKV / FC1: the last weight-gradient GEMM of a backward
  // block, right after its dgrad), or v.size() when there is none (weight-split passes, odd blocks).
  static std::size_t column_parallel_wgrad(const std::vector<const Op*>& v) {
    for (std::size_t i = v.size(); i-- > 1;) {
      if (v[i]->phase != Phase::kBackwardWeight) continue;
      const bool dgrad_before = v[i - 1]->phase == Phase::kBackwardInput && v[i - 1]->kernel.kind == compute::KernelKind::kGemm;
      return dgrad_before ? i : v.size();
    }
    return v.size();
  }
  double tp_bytes() const { return tokens_ * static_cast<double>(m_.hidden) * kAct; }
  // A TP collective of `bytes` on the tp stream that starts with the next kernel of the compute stream
  // (after the last one emitted so far) and runs beside it.
  TaskIndex tp_beside_next_kernel(RankStreams& rs, OpPart part, OpPart of, CollectiveKind kind, double bytes, int sms) {
    const auto prev = last_.find(rs.compute);
    const TaskIndex t = comm_task(rs, rs.tp, part, of, kind, Dim::kTp, bytes, groups_for(Dim::kTp, rs.rank), sms);
    if (prev != last_.end()) g().add_dependency(t, prev->second);
    return t;
  }

  // Emits v[from..] of a backward block whose column-parallel dgrad / wgrad are v[w - 1] / v[w]:
  //   [v[from] .. before the dgrad] | SP: the input re-gathered (tp stream) beside the dgrad, for the
  //   wgrad | the input-gradient reduce-scatter (SP) or all-reduce (tp stream) beside the wgrad |
  //   [the rest] after the collective.
  // sms_*: SMs the two collectives hold (-1: NCCL's channels).
  void column_parallel_backward(RankStreams& rs, Pending& pend, const std::vector<const Op*>& v, std::size_t from,
                                std::size_t w, OpPart part, OpPart of, int sms_regather, int sms_reduce) {
    add_ops(pend, {v.begin() + static_cast<std::ptrdiff_t>(from), v.begin() + static_cast<std::ptrdiff_t>(w - 1)});
    flush(rs, pend, part);
    const TaskIndex regather =
        p_.sequence_parallel
            ? tp_beside_next_kernel(rs, OpPart::kTpRegather, of, CollectiveKind::kAllGather, tp_bytes(), sms_regather)
            : core::TaskIndex(-1);
    add_ops(pend, {v[w - 1]});
    flush(rs, pend, part);
    const TaskIndex dgrad = last_[rs.compute];
    const TaskIndex out = comm_task(rs, rs.tp, OpPart::kTpOutput, of,
                                    p_.sequence_parallel ? CollectiveKind::kReduceScatter : CollectiveKind::kAllReduce,
                                    Dim::kTp, tp_bytes(), groups_for(Dim::kTp, rs.rank), sms_reduce);
    g().add_dependency(out, dgrad);
    add_ops(pend, {v[w]});
    flush(rs, pend, part);
    if (regather != core::TaskIndex(-1)) g().add_dependency(last_[rs.compute], regather);
    tp_join_.push_back(out);  // the next kernel (the norm's backward, or the next block) waits for it
    add_ops(pend, {v.begin() + static_cast<std::ptrdiff_t>(w + 1), v.end()});
    flush(rs, pend, part);
  }

  // Megatron's async backward of a column-parallel linear (ParallelPlan::tp_backward_overlap), without
  // --tp-comm-overlap: the block's all-gather (SP) stays before it on the compute stream (the caller's
  // tp_block_input); the input-gradient collective runs beside the wgrad. Returns false (nothing
  // emitted) where it does not apply: the collective then follows the block.
  bool async_backward_block(RankStreams& rs, Pending& pend, const std::vector<const Op*>& v, OpPart part, OpPart of) {
    if (p_.tp == 1 || !p_.tp_backward_overlap || p_.tp_comm_overlap) return false;
    const std::size_t w = column_parallel_wgrad(v);
    if (w == v.size()) return false;
    column_parallel_backward(rs, pend, v, 0, w, part, of, -1, -1);
    return true;
  }

  // --tp-comm-overlap: Transformer Engine's userbuffer overlap, GEMM by GEMM, as Megatron-Core / NeMo
  // configure it for H100 (the ub_tp_comm_overlap_cfg of NVIDIA's GPT-3 175B benchmark,
  // docs/models/parallelism.md; sequence parallelism only):
  //   forward:  the input all-gather beside the block's first GEMM (QKV / FC1: ring exchange over copy
  //             engines, no SMs), which the next kernels wait for; the output reduce-scatter pipelined
  //             with the last GEMM (proj / FC2) in kUbSplits chunks on rs_sms SMs that the GEMM leaves
  //             free for its whole run (set_sm_margin): all but the last chunk's reduce-scatter beside
  //             the GEMM, the last chunk's after it, exposed;
  //   backward: the output-gradient all-gather beside the first dgrad (proj / FC2, ring exchange); the
  //             input re-gather beside the column-parallel dgrad and the input-gradient reduce-scatter
  //             beside its wgrad (bulk overlap on bulk_*_sms SMs).
  // Returns false (nothing emitted) where the block does not have that shape; the block-level
  // approximation of tp_collective() then applies.
  bool ub_block(RankStreams& rs, Pending& pend, const std::vector<const Op*>& v, OpPart part, bool backward) {
    if (p_.tp == 1 || !p_.tp_comm_overlap || !p_.sequence_parallel) return false;
    const bool attn = part == OpPart::kAttention;
    // NeMo's H100 userbuffer configuration: proj_fprop pipeline 24 SMs / 4 splits, fc2_fprop 20 / 4;
    // qkv_dgrad bulk 4 SMs, qkv_wgrad 8; fc1_dgrad 2, fc1_wgrad 4; *_fprop / *_dgrad ring exchange.
    constexpr int kUbSplits = 4;
    const int rs_sms = attn ? 24 : 20;
    const int bulk_dgrad_sms = attn ? 4 : 2;
    const int bulk_wgrad_sms = attn ? 8 : 4;
    const auto is_linear = [](const Op* op) {
      return op->kernel.kind == compute::KernelKind::kGemm && !op->attention_core && op->phase != Phase::kRecompute;
    };
    std::size_t first = v.size();
    for (std::size_t i = 0; i < v.size() && first == v.size(); ++i) {
      if (is_linear(v[i])) first = i;
    }
    if (first == v.size()) return false;
    const auto gather_beside = [&](std::size_t i) {
      // ops before v[i], then the all-gather on the tp stream beside v[i] (split into tp chunks, one per
      // peer's shard); the kernels after wait for it.
      add_ops(pend, {v.begin(), v.begin() + static_cast<std::ptrdiff_t>(i)});
      flush(rs, pend, part);
      const TaskIndex ag = tp_beside_next_kernel(rs, OpPart::kTpInput, part, CollectiveKind::kAllGather, tp_bytes(), 0);
      add_chunked(pend, v[i], p_.tp);
      flush(rs, pend, part);
      tp_join_.push_back(ag);
    };
    if (backward) {
      const std::size_t w = column_parallel_wgrad(v);
      if (w == v.size() || w < first + 2) return false;
      gather_beside(first);
      column_parallel_backward(rs, pend, v, first + 1, w, part, part, bulk_dgrad_sms, bulk_wgrad_sms);
      return true;
    }
    std::size_t last = v.size();
    for (std::size_t i = v.size(); i-- > first + 1 && last == v.size();) {
      if (is_linear(v[i])) last = i;
    }
    if (last == v.size()) return false;
    gather_beside(first);
    add_ops(pend, {v.begin() + static_cast<std::ptrdiff_t>(first + 1), v.begin() + static_cast<std::ptrdiff_t>(last)});
    flush(rs, pend, part);
    const double splits = static_cast<double>(kUbSplits);
    // The GEMM leaves rs_sms SMs to the reduce-scatter for its whole run (set_sm_margin), so the
    // reduce-scatter holds no SMs of its own here (that would count them twice).
    tp_beside_next_kernel(rs, OpPart::kTpOutput, part, CollectiveKind::kReduceScatter, tp_bytes() * (splits - 1.0) / splits, 0);
    add_chunked(pend, v[last], kUbSplits, rs_sms);
    flush(rs, pend, part);
    const TaskIndex tail = comm_task(rs, rs.tp, OpPart::kTpOutput, part, CollectiveKind::kReduceScatter, Dim::kTp,
                                     tp_bytes() / splits, groups_for(Dim::kTp, rs.rank), rs_sms);  // after the GEMM: on its SMs
    g().add_dependency(tail, last_[rs.compute]);
    tp_join_.push_back(tail);
    add_ops(pend, {v.begin() + static_cast<std::ptrdiff_t>(last + 1), v.end()});
    flush(rs, pend, part);
    return true;
  }
  // The MoE dispatch or combine (part) of a forward or backward pass. `toward_experts`: the forward's
  // dispatch and the backward's combine (the gradient of the combined output goes to the experts).
  void ep_all_to_all(RankStreams& rs, OpPart part, bool backward) {
    if (p_.ep == 1) return;
    const double tokens = tokens_ / (p_.sequence_parallel ? static_cast<double>(p_.tp) : 1.0);
    const double h = static_cast<double>(m_.hidden);
    if (!deepep_) {
      const double routed = tokens * static_cast<double>(m_.moe->top_k) * h * kAct;
      after_dispatcher_collective(rs, comm_task(rs, dispatcher_stream(rs), part, OpPart::kExperts, CollectiveKind::kAllToAll, Dim::kEp,
                                                routed, groups_for(Dim::kEp, rs.rank)));
      return;
    }
    // DeepEP (EpDispatcher::kDeepEp): each token once to each node holding one of its experts, over
    // InfiniBand to the rank at the sender's place in that node (an all-to-all over the rail group of
    // tokens x fanout.nodes x h elements per rank: (nodes - 1) / nodes of them leave the node), and
    // once to each GPU holding one of its experts, over NVLink from that rank (an all-to-all over the
    // node group of tokens x fanout.gpus x h per rank, by symmetry). The combine runs the same paths
    // back. DeepEP pipelines the hops in one kernel: here both start together and the experts wait for
    // both. Toward the experts in FP8 with ep_fp8_dispatch, back from them in bf16 (section 3.3.2).
    const bool toward_experts = (part == OpPart::kEpDispatch) != backward;
    const double elem = deepep_element_bytes(p_, toward_experts);
    const bool rail = spread_.nodes > 1, node = spread_.per_node > 1;
    const int sms = rail && node ? kDeepEpSms / 2 : kDeepEpSms;
    const auto prev = last_.find(rs.compute);
    const std::optional<TaskIndex> router = prev != last_.end() ? std::optional<TaskIndex>(prev->second) : std::nullopt;
    if (node) {
      auto groups = stage_groups(kEpNodeGroups, rs.rank, [this](std::int64_t r) { return ep_node_group(layout_.group_of(r, Dim::kEp), r, cfg_.gpus_per_node); });
      after_dispatcher_collective(rs, comm_task(rs, dispatcher_stream(rs), part, OpPart::kExperts, CollectiveKind::kAllToAll, Dim::kEp,
                                                tokens * fanout_.gpus * h * elem, groups, sms));
    }
    if (rail) {
      auto groups = stage_groups(kEpRailGroups, rs.rank, [this](std::int64_t r) { return ep_rail_group(layout_.group_of(r, Dim::kEp), r, cfg_.gpus_per_node); });
      const TaskIndex t = comm_task(rs, rs.rdma[pair_ == 1 ? 1 : 0], part, OpPart::kExperts, CollectiveKind::kAllToAll, Dim::kEp,
                                    tokens * fanout_.nodes * h * elem, groups, sms);
      if (router) g().add_dependency(t, *router);
      pair_join_.push_back(t);  // the next compute-stream task waits for it (on_compute_stream)
      if (pair_ >= 0) pair_break_ = true;
    }
  }
  // Expert tensor parallelism (expert_tp > 1): the routed tokens of the expert-TP group, gathered
  // (output size: expert_tp x the rank's own T / tp x top_k tokens of h; T with tp = 1) or
  // reduce-scattered (input size), on the compute stream as Megatron-Core's dispatcher runs them.
  // An MoE model with tp > 1 runs sequence parallel (check_plan), so every rank owns T / tp tokens.
  void expert_tp_collective(RankStreams& rs, OpPart part, CollectiveKind kind) {
    const std::int64_t etp = p_.expert_tp_size();
    if (etp <= 1 || (p_.tp > 1 && !p_.sequence_parallel)) return;
    const double bytes = tokens_ / static_cast<double>(p_.tp) * static_cast<double>(etp) *
                         static_cast<double>(m_.moe->top_k) * static_cast<double>(m_.hidden) * kAct;
    after_dispatcher_collective(rs, comm_task(rs, dispatcher_stream(rs), part, OpPart::kExperts, kind, Dim::kTp, bytes,
                                              stage_groups(kExpertTpGroups, rs.rank, [this](std::int64_t r) { return layout_.expert_tp_group_of(r); })));
  }
  double kv_bytes() const {
    // K and V of the full sequence for this rank's KV heads: what ring attention circulates.
    const double kv_heads = static_cast<double>(std::max<std::int64_t>(1, m_.kv_heads / p_.tp));
    const double width = m_.mla ? static_cast<double>(m_.mla->kv_lora_rank + m_.mla->qk_rope_head_dim)
                                : kv_heads * static_cast<double>(m_.head_dim);
    return 2.0 * static_cast<double>(mb_.batch * mb_.seq) * width * kAct;
  }

  // A layer's ops depend only on the layer and the direction (shard, micro-batch and recompute mode are
  // fixed for the step): built once and reused by every micro-batch and chunk pass, with their kernel
  // times (a step emits the same layer thousands of times).
  struct LayerOps {
    std::vector<Op> ops;
    std::vector<Duration> time;  // per op, GEMMs at the step's dtype
  };
  const std::vector<Op>& layer_ops(std::int64_t layer, bool backward) {
    auto [it, inserted] = ops_cache_.try_emplace(std::pair{layer, backward});
    if (inserted) {
      auto& e = it->second;
      e.ops = backward ? layer_backward(m_, layer, shard_, mb_,
                                        cfg_.recompute == Recompute::kSelective ? Recompute::kSelective : Recompute::kNone)
                       : layer_forward(m_, layer, shard_, mb_);
      for (const Op& op : e.ops) {
        compute::Kernel k = op.kernel;
        if (k.kind == compute::KernelKind::kGemm) k.dtype = cfg_.gemm_dtype;
        e.time.push_back(cost_.time(k));
        op_time_.emplace(&op, e.time.back());
      }
    }
    return it->second.ops;
  }

  // Selective recomputation of the dense MLP (RecomputeModule kRecomputeMlp) under TP: Megatron-Core's
  // checkpoint reruns the MLP's forward whole, its TP collectives included (SP: the input all-gather and
  // the output reduce-scatter; else the output all-reduce), before the MLP's backward. Emits the reruns
  // of `v` (a rerun pre-MLP norm first) as recompute tasks with those collectives and returns the rest.
  std::vector<const Op*> mlp_rerun_with_collectives(RankStreams& rs, const std::vector<const Op*>& v) {
    std::vector<const Op*> norms, reruns, rest;
    for (const Op* op : v) {
      if (op->phase != Phase::kRecompute) rest.push_back(op);
      else (op->module == kRecomputeMlp ? reruns : norms).push_back(op);
    }
    if (reruns.empty()) return v;
    const TaskLabel saved = ctx_;
    ctx_.pass = Pass::kRecompute;
    Pending rc = pending(TaskKind::kRecompute);
    add_ops(rc, norms);
    flush(rs, rc, OpPart::kMlp);
    tp_block_input(rs, OpPart::kMlp);
    add_ops(rc, reruns);
    flush(rs, rc, OpPart::kMlp);
    tp_block_output(rs, OpPart::kMlp);
    ctx_ = saved;
    return rest;
  }

  // One transformer block, forward (or its recomputation) or backward, as segments and collectives.
  void emit_layer(RankStreams& rs, std::int64_t layer, bool backward, bool recompute, bool with_weight,
                  bool weight_only) {
    const TaskLabel saved = ctx_;
    ctx_.layer_begin = static_cast<std::int32_t>(layer);
    ctx_.layer_end = static_cast<std::int32_t>(layer + 1);
    if (recompute) ctx_.pass = Pass::kRecompute;
    emit_layer_ops(rs, layer, backward, recompute, with_weight, weight_only);
    ctx_ = saved;
  }
  void emit_layer_ops(RankStreams& rs, std::int64_t layer, bool backward, bool recompute, bool with_weight,
                      bool weight_only) {
    const std::vector<Op>& ops = layer_ops(layer, backward);
    Pending pend = pending(recompute ? TaskKind::kRecompute : TaskKind::kCompute);
    auto select = [&](Segment seg) {
      std::vector<const Op*> v;
      if (recompute && cfg_.eager && seg == Segment::kAttention) v.push_back(&recompute_cast(layer));
      for (const Op& op : ops) {
        if (op.segment != seg) continue;
        if (recompute && !recomputed(op, cfg_.recompute)) continue;  // kept by the policy (kSaveQkv)
        const bool weight = op.phase == Phase::kBackwardWeight;
        if (weight_only ? !weight : (weight && !with_weight)) continue;
        v.push_back(&op);
      }
      return v;
    };
    if (weight_only) {
      for (Segment seg : {Segment::kCombine, Segment::kExperts, Segment::kMlp, Segment::kAttention}) add_ops(pend, select(seg));
      flush(rs, pend, OpPart::kLayer);
      return;
    }
    const bool moe = m_.is_moe_layer(layer);
    auto attention = [&] {
      auto v = select(Segment::kAttention);
      if (p_.cp == 1 && ub_block(rs, pend, v, OpPart::kAttention, backward)) return;
      tp_block_input(rs, OpPart::kAttention);
      if (p_.cp > 1 && !backward) {
        // Ring attention: KV chunks circulate (cp stream) while the attention kernel runs.
        std::vector<const Op*> pre, core, post;
        for (const Op* op : v) {
          const bool in_core = op->kernel.kind == compute::KernelKind::kAttention || op->attention_core;
          (in_core ? core : core.empty() ? pre : post).push_back(op);
        }
        add_ops(pend, pre);
        flush(rs, pend, OpPart::kAttentionPre);
        if (p_.cp_kind == ContextParallel::kAllGather) {
          comm_task(rs, rs.compute, OpPart::kCpAllGather, OpPart::kAttention, CollectiveKind::kAllGather, Dim::kCp, kv_bytes(), groups_for(Dim::kCp, rs.rank));
          add_ops(pend, core);
          flush(rs, pend, OpPart::kAttention);
        } else {
          const auto prev = last_.find(rs.compute);
          const TaskIndex kv = comm_task(rs, rs.cp, OpPart::kCpRing, OpPart::kAttention, CollectiveKind::kAllGather, Dim::kCp, kv_bytes() * static_cast<double>(p_.cp - 1) / static_cast<double>(p_.cp),
                                         groups_for(Dim::kCp, rs.rank));
          if (prev != last_.end()) g().add_dependency(kv, prev->second);
          add_ops(pend, core);
          flush(rs, pend, OpPart::kAttention);
          pending_cp_ = kv;
        }
        add_ops(pend, post);
        flush(rs, pend, OpPart::kAttentionPost);
        if (pending_cp_ != core::TaskIndex(-1)) {
          g().add_dependency(last_[rs.compute], pending_cp_);
          pending_cp_ = core::TaskIndex(-1);
        }
      } else {
        if (p_.cp > 1) {
          // Backward: dK, dV are reduce-scattered back around the ring after the attention backward.
          add_ops(pend, v);
          flush(rs, pend, OpPart::kAttention);
          comm_task(rs, rs.compute, OpPart::kCpReduceScatter, OpPart::kAttention, CollectiveKind::kReduceScatter, Dim::kCp, kv_bytes(), groups_for(Dim::kCp, rs.rank));
        } else {
          if (backward && with_weight && async_backward_block(rs, pend, v, OpPart::kAttention, OpPart::kAttention)) return;
          add_ops(pend, v);
          flush(rs, pend, OpPart::kAttention);
        }
      }
      tp_block_output(rs, OpPart::kAttention);
    };
    auto mlp = [&] {
      if (!moe) {
        auto v = select(Segment::kMlp);
        if (backward && p_.tp > 1) v = mlp_rerun_with_collectives(rs, v);
        if (ub_block(rs, pend, v, OpPart::kMlp, backward)) return;
        tp_block_input(rs, OpPart::kMlp);
        if (backward && with_weight && async_backward_block(rs, pend, v, OpPart::kMlp, OpPart::kMlp)) return;
        add_ops(pend, v);
        flush(rs, pend, OpPart::kMlp);
        tp_block_output(rs, OpPart::kMlp);
        return;
      }
      // Megatron-Core's all-to-all token dispatcher (tp > 1 requires sequence parallelism with MoE):
      // each TP rank routes its own T / tp tokens, so the routed experts need no all-gather of the
      // hidden states; the tokens an expert-TP group receives are all-gathered over it after the
      // dispatch (its ranks hold f / expert_tp of each local expert) and the outputs reduce-scattered
      // before the combine. Shared experts are a TP MLP on the gathered hidden states: with them the
      // block keeps the SP all-gather before and reduce-scatter after.
      const bool shared = m_.moe->shared_experts > 0;
      if (!backward) {
        tp_block_input(rs, OpPart::kRouter, shared);
        add_ops(pend, select(Segment::kMlp));
        flush(rs, pend, OpPart::kRouter);
        ep_all_to_all(rs, OpPart::kEpDispatch, backward);
        expert_tp_collective(rs, OpPart::kEtpGather, CollectiveKind::kAllGather);
        add_ops(pend, select(Segment::kExperts));
        flush(rs, pend, OpPart::kExperts);
        expert_tp_collective(rs, OpPart::kEtpScatter, CollectiveKind::kReduceScatter);
        ep_all_to_all(rs, OpPart::kEpCombine, backward);
        add_ops(pend, select(Segment::kCombine));
        flush(rs, pend, OpPart::kCombine);
        if (shared) tp_block_output(rs, OpPart::kRouter);
      } else {
        tp_block_input(rs, OpPart::kRouter, shared);
        add_ops(pend, select(Segment::kCombine));
        flush(rs, pend, OpPart::kCombine);
        ep_all_to_all(rs, OpPart::kEpCombine, backward);
        expert_tp_collective(rs, OpPart::kEtpScatter, CollectiveKind::kAllGather);  // the reduce-scatter's backward
        add_ops(pend, select(Segment::kExperts));
        flush(rs, pend, OpPart::kExperts);
        expert_tp_collective(rs, OpPart::kEtpGather, CollectiveKind::kReduceScatter);  // the all-gather's backward
        ep_all_to_all(rs, OpPart::kEpDispatch, backward);
        add_ops(pend, select(Segment::kMlp));
        flush(rs, pend, OpPart::kRouter);
        if (shared) tp_block_output(rs, OpPart::kRouter);
      }
    };
    if (backward) {
      // A selective recomputation op is tagged with the attention segment and comes first.
      mlp();
      attention();
    } else {
      attention();
      mlp();
    }
  }

  void emit_ops(RankStreams& rs, const std::vector<Op>& ops, OpPart part, bool weight_only = false,
                bool with_weight = true) {
    const auto prev = last_.find(rs.compute);
    tp_anchor_ = prev != last_.end() ? prev->second : core::TaskIndex(-1);
    Pending pend;
    std::vector<const Op*> v;
    for (const Op& op : ops) {
      const bool weight = op.phase == Phase::kBackwardWeight;
      if (weight_only ? !weight : (weight && !with_weight)) continue;
      v.push_back(&op);
    }
    add_ops(pend, v);
    flush(rs, pend, part);
  }

  void emit_rank(std::size_t i) {
    RankStreams& rs = streams_[i];
    const std::int32_t s = rs.stage;
    const auto& actions = schedule_[static_cast<std::size_t>(s)];
    // The last action of each chunk on this stage that computes weight gradients (a backward, or the W
    // of a split one) releases the chunk's gradients.
    std::map<std::int32_t, std::size_t> final_bwd;
    for (std::size_t k = 0; k < actions.size(); ++k) {
      const auto& a = actions[k];
      if ((a.pass == PassKind::kBackward && !a.split) || a.pass == PassKind::kWeight) final_bwd[a.chunk] = k;
    }
    std::map<std::int32_t, bool> chunk_started;
    std::vector<std::pair<std::int64_t, TaskIndex>> layer_done;  // (layer, task after which its grads are final)
    param_gather_at_start(rs);
    const std::vector<std::size_t> no_pairs;
    const auto& pairs = pairs_.empty() ? no_pairs : pairs_[static_cast<std::size_t>(s)];
    std::size_t next_pair = 0, pair_from = 0, pair_split = 0;
    const RankStreams plain = rs;
    // The pair's backward is emitted as if it followed the task before the pair (its anchors and
    // "previous kernel" are that task, not the forward's last, which is issued after its first block);
    // what the forward leaves for the next kernel waits until the pair is done.
    std::optional<TaskIndex> before_pair;
    std::vector<TaskIndex> forward_joins, forward_pair_joins;
    for (std::size_t k = 0; k < actions.size(); ++k) {
      const PipelineAction& a = actions[k];
      if (next_pair < pairs.size() && pairs[next_pair] == k) {
        pair_ = 0;
        pair_from = compute_order_.size();
        const auto prev = last_.find(rs.compute);
        before_pair = prev != last_.end() ? std::optional<TaskIndex>(prev->second) : std::nullopt;
      } else if (pair_ == 0) {
        pair_ = 1;
        pair_split = compute_order_.size();
        rs.tp = plain.pair_tp;  // the backward's own side streams
        rs.cp = plain.pair_cp;
        if (before_pair) last_[rs.compute] = *before_pair; else last_.erase(rs.compute);
        forward_joins = std::exchange(tp_join_, {});
        forward_pair_joins = std::exchange(pair_join_, {});
      }
      const std::int64_t pos = position(s, a.chunk);
      const auto [lb, le] = layers_at(pos);
      const bool first = pos == 0, last = pos == positions_ - 1;
      ctx_ = TaskLabel{};
      ctx_.pass = a.pass == PassKind::kForward ? Pass::kForward
                  : a.pass == PassKind::kWeight ? Pass::kBackwardWeight
                  : a.split                     ? Pass::kBackwardInput
                                                : Pass::kBackward;
      ctx_.microbatch = a.microbatch;
      ctx_.chunk = static_cast<std::int16_t>(shape_.chunks > 1 ? a.chunk : -1);
      const auto before = static_cast<TaskIndex>(g().tasks().size());
      if (p_.sharding == Sharding::kParameters) fsdp_gather(rs, a, lb, le);
      if (a.pass == PassKind::kForward) {
        if (cfg_.eager) emit_ops(rs, {autocast_op(pos, lb, le, false)}, OpPart::kAutocast);
        if (first) {
          emit_ops(rs, embedding_forward(m_, shard_, mb_), OpPart::kEmbedding);
          tp_block_output(rs, OpPart::kEmbedding);
        }
        const bool first_forward = !chunk_started[a.chunk];
        for (std::int64_t l = lb; l < le; ++l) {
          fsdp_unit_begin(l);
          const auto layer_begin = static_cast<TaskIndex>(g().tasks().size());
          emit_layer(rs, l, false, false, true, false);
          if (first_forward) {
            if (auto it = bucket_gather_.find({rs.rank, l}); it != bucket_gather_.end()) {
              g().add_dependency(first_on_stream(layer_begin, static_cast<TaskIndex>(g().tasks().size()), rs.compute), it->second - 1);
            }
          }
          fsdp_unit_end(rs);
        }
        if (last) {
          tp_block_input(rs, OpPart::kHead);
          emit_ops(rs, head_forward(m_, shard_, mb_), OpPart::kHead);
        }
      } else if (a.pass == PassKind::kBackward) {
        if (last) {
          emit_ops(rs, head_backward(m_, shard_, mb_), OpPart::kHead, false, !a.split);
          tp_block_output(rs, OpPart::kHead);
        }
        for (std::int64_t l = le - 1; l >= lb; --l) {
          fsdp_unit_begin(l);
          if (recomputes_layer(cfg_.recompute)) emit_layer(rs, l, false, true, true, false);
          emit_layer(rs, l, true, false, !a.split, false);
          fsdp_unit_end(rs);
          if (!a.split && final_bwd[a.chunk] == k) {
            layer_done.emplace_back(l, last_[rs.compute]);
            fsdp_reduce_layer(rs, l);
          }
        }
        if (first) emit_ops(rs, embedding_backward(m_, shard_, mb_), OpPart::kEmbedding, false, !a.split);
        if (cfg_.eager) emit_ops(rs, {autocast_op(pos, lb, le, true)}, OpPart::kAutocast, false, !a.split);
      } else {
        if (last) emit_ops(rs, head_backward(m_, shard_, mb_), OpPart::kHead, true);
        for (std::int64_t l = le - 1; l >= lb; --l) {
          emit_layer(rs, l, true, false, true, true);
          if (final_bwd[a.chunk] == k) layer_done.emplace_back(l, last_[rs.compute]);
        }
        if (first) emit_ops(rs, embedding_backward(m_, shard_, mb_), OpPart::kEmbedding, true);
        if (cfg_.eager) emit_ops(rs, {autocast_op(pos, lb, le, true)}, OpPart::kAutocast, true);
      }
      const auto after = static_cast<TaskIndex>(g().tasks().size());
      if (after > before) {
        first_task_[{rs.rank, static_cast<int>(a.pass), a.microbatch, a.chunk}] = first_on_stream(before, after, rs.compute);
        last_task_[{rs.rank, static_cast<int>(a.pass), a.microbatch, a.chunk}] = last_[rs.compute];
      }
      if (a.pass == PassKind::kForward && !chunk_started[a.chunk]) {
        chunk_started[a.chunk] = true;
        if (auto it = gather_[{rs.rank, a.chunk}]; it != 0) g().add_dependency(first_task_[{rs.rank, 0, a.microbatch, a.chunk}], it - 1);
      }
      // Hand-off to the next (forward) or previous (backward) virtual stage.
      if (a.pass == PassKind::kForward && !last) {
        send(rs, rs.send, OpPart::kSendActivation, a, true);
      } else if (a.pass == PassKind::kBackward && !first) {
        send(rs, rs.sendb, OpPart::kSendGradient, a, false);
      }
      if (pair_ == 1) {
        interleave_pair(pair_from, pair_split);
        pair_ = -1;
        ++next_pair;
        rs.tp = plain.tp;
        rs.cp = plain.cp;
        last_[rs.compute] = compute_order_.back();
        tp_join_.insert(tp_join_.end(), forward_joins.begin(), forward_joins.end());
        pair_join_.insert(pair_join_.end(), forward_pair_joins.begin(), forward_pair_joins.end());
      }
    }
    ctx_ = TaskLabel{};
    gradient_sync(rs, layer_done);
    if (!pairs_.empty()) {
      g().set_issue_order(rs.compute, std::move(compute_order_));
      compute_order_.clear();
    }
  }

  TaskIndex first_on_stream(TaskIndex begin, TaskIndex end, StreamIndex stream) const {
    for (TaskIndex t = begin; t < end; ++t) {
      if (g_const().tasks()[t].stream == stream) return t;
    }
    return begin;
  }
  const core::TaskGraph& g_const() const { return prog_.graph; }

  void send(RankStreams& rs, StreamIndex stream, OpPart part, const PipelineAction& a, bool forward) {
    const StageChunk here{rs.stage, a.chunk};
    const auto peer = forward ? forward_successor(p_.schedule, shape_, here) : forward_predecessor(p_.schedule, shape_, here);
    MFUSIM_CHECK(peer.has_value(), "hand-off without a peer stage");
    const std::int64_t to = layout_.rank(layout_.coord(rs.rank, Dim::kTp), layout_.coord(rs.rank, Dim::kCp),
                                         layout_.coord(rs.rank, Dim::kDp), peer->stage);
    auto groups = p2p_groups(rs.rank, to);
    const double nbytes = tokens_ * static_cast<double>(m_.hidden) * kAct / (p_.sequence_parallel ? static_cast<double>(p_.tp) : 1.0);
    const TaskIndex t = comm_task(rs, stream, part, OpPart::kNone, CollectiveKind::kSendRecv, Dim::kPp, nbytes, groups);
    g().add_dependency(t, last_[rs.compute]);
    for (TaskIndex j : tp_join_) g().add_dependency(t, j);  // the block output's overlapped TP collective
    sends_[{to, static_cast<int>(a.pass), a.microbatch, peer->chunk}] = t;
  }

  std::shared_ptr<const GroupSet> p2p_groups(std::int64_t from, std::int64_t to) {
    const auto key = std::tuple{from, to};
    if (auto it = p2p_cache_.find(key); it != p2p_cache_.end()) return it->second;
    auto set = std::make_shared<GroupSet>();
    set->push_back({from, to});
    if (cfg_.expansion == Expansion::kSymmetric) {
      const auto sf = layout_.coord(from, Dim::kPp), st = layout_.coord(to, Dim::kPp);
      for (std::int64_t tp = 0; tp < p_.tp; ++tp) {
        for (std::int64_t cp = 0; cp < p_.cp; ++cp) {
          for (std::int64_t dp = 0; dp < p_.dp; ++dp) {
            const auto a = layout_.rank(tp, cp, dp, sf), b = layout_.rank(tp, cp, dp, st);
            if (a != from) set->push_back({a, b});
          }
        }
      }
    }
    p2p_cache_.emplace(key, set);
    return set;
  }

  // Cross-rank dependencies: a forward waits for the activation hand-off addressed to it, a backward
  // for the gradient hand-off.
  void link_pipeline() {
    for (const auto& [key, first] : first_task_) {
      auto it = sends_.find(key);
      if (it != sends_.end()) g().add_dependency(first, it->second);
    }
  }

  // Eager autocast (StepConfig::eager), as workload::single_gpu_step counts it: once per micro-batch and
  // chunk, every fp32 weight of the chunk except the embeddings is cast to bf16 before the forward, and
  // every bf16 weight gradient is accumulated into its fp32 .grad after the backward
  // (kAutocastBytesPerParameter each).
  // Eager recomputation casts the block's weights again (eager_recompute_cast); one op per layer, kept
  // for the step like the layer ops.
  const Op& recompute_cast(std::int64_t layer) {
    auto [it, inserted] = recompute_casts_.try_emplace(layer);
    if (inserted) it->second = eager_recompute_cast(m_, layer, shard_);
    return it->second;
  }

  Op autocast_op(std::int64_t pos, std::int64_t lb, std::int64_t le, bool grads) const {
    double params = 0.0;
    for (std::int64_t l = lb; l < le; ++l) params += params_of_layer(l, false) + params_of_layer(l, true);
    if (pos == positions_ - 1) params += static_cast<double>(m_.output_parameters()) / static_cast<double>(p_.tp);
    return memory(grads ? "autocast.grads" : "autocast.weights", grads ? Phase::kBackwardWeight : Phase::kForward, -1,
                  kAutocastBytesPerParameter * params, compute::MemoryOpClass::kCopy);
  }

  double params_of_layer(std::int64_t l, bool experts) const {
    const BlockParameters b = block_parameters(m_, l, shard_);
    return experts ? b.routed : b.dense;
  }

  double stage_params(const RankStreams& rs, bool experts) const {
    double total = 0.0;
    for (std::int32_t c = 0; c < shape_.chunks; ++c) {
      const auto pos = position(rs.stage, c);
      const auto [lb, le] = layers_at(pos);
      for (std::int64_t l = lb; l < le; ++l) total += params_of_layer(l, experts);
      if (!experts && pos == 0) total += static_cast<double>(m_.embedding_parameters()) / static_cast<double>(p_.tp);
      if (!experts && pos == positions_ - 1) total += static_cast<double>(m_.output_parameters()) / static_cast<double>(p_.tp);
    }
    return total;
  }

  // Distributed optimizer (--overlap-param-gather): the parameters are all-gathered bucket by bucket
  // (the gradient buckets' size, in the order the forward uses them: chunk by chunk, layer by layer;
  // the embedding with the first bucket of the first position, the output layer with the last
  // bucket of the last), issued at the start of the step on the data-parallel stream (Megatron-Core
  // dispatches them after the previous optimizer step); the forward of a bucket's first layer waits
  // for that bucket (Megatron's forward pre-hook finish_param_sync), so the forward overlaps the later
  // buckets. Only the first bucket of the step is necessarily exposed.
  void param_gather_at_start(RankStreams& rs) {
    if (p_.sharding != Sharding::kOptimizer && p_.sharding != Sharding::kGradients) return;
    if (p_.dp_cp() == 1 || !p_.overlap_param_gather) return;
    const double bucket = bucket_elements();
    const double tp = static_cast<double>(p_.tp);
    int n = 0;
    for (std::int32_t c = 0; c < shape_.chunks; ++c) {
      const std::int64_t pos = position(rs.stage, c);
      const auto [lb, le] = layers_at(pos);
      double acc = pos == 0 ? static_cast<double>(m_.embedding_parameters()) / tp : 0.0;
      std::int64_t begin = lb;
      for (std::int64_t l = lb; l < le; ++l) {
        acc += params_of_layer(l, false);
        const bool last_layer = l + 1 == le;
        if (last_layer && pos == positions_ - 1) acc += static_cast<double>(m_.output_parameters()) / tp;
        if (acc < bucket && !last_layer) continue;
        ctx_ = TaskLabel{};
        ctx_.pass = Pass::kParameterSync;
        ctx_.chunk = static_cast<std::int16_t>(shape_.chunks > 1 ? c : -1);
        ctx_.index = n++;
        ctx_.layer_begin = static_cast<std::int32_t>(begin);
        ctx_.layer_end = static_cast<std::int32_t>(l + 1);
        const TaskIndex t = comm_task(rs, rs.dp, OpPart::kParamGather, OpPart::kNone, CollectiveKind::kAllGather, Dim::kDp,
                                      acc * param_bytes_, dp_groups(rs.rank, false));
        if (begin == lb) {
          gather_[{rs.rank, c}] = t + 1;  // the chunk's first forward task waits for its first bucket
        } else {
          bucket_gather_[{rs.rank, begin}] = t + 1;  // the forward of the bucket's first layer waits for it
        }
        begin = l + 1;
        acc = 0.0;
      }
    }
  }

  // ZeRO-3 / FSDP (PyTorch FSDP with each transformer block as a wrapping unit, DeepSpeed ZeRO-3):
  // before each pass, one parameter all-gather per block, in the order the pass uses the blocks, on
  // the data-parallel communicator's stream (NCCL runs one communicator's collectives in issue order).
  // A block's first kernel waits for its gather. Prefetch is limited as FSDP's limit_all_gathers
  // does: the gather of the k-th block of a pass starts only once block k-2 has finished computing
  // (at most two gathered blocks in flight). The non-block parameters (embedding, output layer) are
  // gathered with the first block. With full recomputation the backward gather serves both the
  // recomputed forward and the backward of the block.
  void fsdp_gather(RankStreams& rs, const PipelineAction& a, std::int64_t lb, std::int64_t le) {
    fsdp_units_.clear();
    fsdp_next_ = 0;
    if (p_.dp_cp() == 1 || a.pass == PassKind::kWeight) return;
    const bool forward = a.pass == PassKind::kForward;
    double block_params = 0.0;
    for (std::int32_t c = 0; c < shape_.chunks; ++c) {
      const auto [b, e] = layers_at(position(rs.stage, c));
      for (std::int64_t l = b; l < e; ++l) block_params += params_of_layer(l, false);
    }
    const double non_block = stage_params(rs, false) - block_params;
    const TaskLabel saved = ctx_;
    if (le <= lb) {
      const TaskIndex t = comm_task(rs, rs.dp, OpPart::kFsdpGather, OpPart::kNone, CollectiveKind::kAllGather, Dim::kDp,
                                    non_block * param_bytes_, dp_groups(rs.rank, false));
      fsdp_waiters_.push_back({t, g().tasks().size()});
      return;
    }
    for (std::int64_t i = 0; i < le - lb; ++i) {
      const std::int64_t l = forward ? lb + i : le - 1 - i;
      const double params = params_of_layer(l, false) + (i == 0 ? non_block : 0.0);
      ctx_.layer_begin = static_cast<std::int32_t>(l);
      ctx_.layer_end = static_cast<std::int32_t>(l + 1);
      const TaskIndex t = comm_task(rs, rs.dp, OpPart::kFsdpGather, OpPart::kNone, CollectiveKind::kAllGather, Dim::kDp,
                                    params * param_bytes_, dp_groups(rs.rank, false));
      fsdp_units_.push_back({l, t});
    }
    ctx_ = saved;
  }

  // The block about to be emitted consumes its gather (FSDP only).
  void fsdp_unit_begin(std::int64_t layer) {
    if (fsdp_next_ < fsdp_units_.size() && fsdp_units_[fsdp_next_].first == layer) {
      fsdp_waiters_.push_back({fsdp_units_[fsdp_next_].second, g().tasks().size()});
      fsdp_current_ = fsdp_next_++;
    } else {
      fsdp_current_ = SIZE_MAX;
    }
  }

  // The block's kernels are emitted: the gather two blocks ahead may start once they finish.
  void fsdp_unit_end(RankStreams& rs) {
    if (fsdp_current_ == SIZE_MAX) return;
    const std::size_t ahead = fsdp_current_ + 2;
    if (ahead < fsdp_units_.size()) g().add_dependency(fsdp_units_[ahead].second, last_[rs.compute]);
    fsdp_current_ = SIZE_MAX;
  }

  // FSDP: each block's gradient reduce-scatter is issued as soon as its (last) backward finishes,
  // interleaved with the gathers on the same stream, as FSDP's post-backward hook does.
  void fsdp_reduce_layer(RankStreams& rs, std::int64_t layer) {
    if (p_.sharding != Sharding::kParameters || p_.dp_cp() == 1) return;
    const TaskLabel saved = ctx_;
    ctx_.layer_begin = static_cast<std::int32_t>(layer);
    ctx_.layer_end = static_cast<std::int32_t>(layer + 1);
    fsdp_reduces_.push_back(reduce_gradients(rs, OpPart::kFsdpReduceScatter, params_of_layer(layer, false) * p_.grad_reduce_bytes,
                                             last_[rs.compute]));
    ctx_ = saved;
  }

  void gradient_sync(RankStreams& rs, const std::vector<std::pair<std::int64_t, TaskIndex>>& layer_done) {
    // FSDP: each pass's first compute task waits for its gather.
    for (const auto& [gather, first_after] : fsdp_waiters_) {
      for (TaskIndex t = static_cast<TaskIndex>(first_after); t < g().tasks().size(); ++t) {
        if (g().tasks()[t].stream == rs.compute) {
          g().add_dependency(t, gather);
          break;
        }
      }
    }
    fsdp_waiters_.clear();
    std::vector<TaskIndex> reduces;
    const TaskIndex end_of_backward = last_[rs.compute];
    const bool sharded = p_.sharding != Sharding::kNone;
    const CollectiveKind kind = sharded ? CollectiveKind::kReduceScatter : CollectiveKind::kAllReduce;
    if (p_.dp_cp() > 1 && p_.sharding == Sharding::kParameters && !fsdp_reduces_.empty()) {
      // FSDP: the blocks' reduce-scatters were issued during backward; the non-block parameters'
      // gradients (embedding, output layer) follow the end of backward.
      reduces = fsdp_reduces_;
      fsdp_reduces_.clear();
      const double rest = stage_params(rs, false) - sum_dense(layer_done);
      if (rest > 0.0) {
        ctx_ = TaskLabel{};
        ctx_.pass = Pass::kGradientSync;
        reduces.push_back(reduce_gradients(rs, OpPart::kFsdpReduceScatter, rest * p_.grad_reduce_bytes, end_of_backward));
      }
    } else if (p_.dp_cp() > 1) {
      // Buckets in backward order: layers as they complete, bucket_bytes elements each.
      const double bucket = bucket_elements();
      double acc = 0.0;
      int n = 0;
      ctx_ = TaskLabel{};
      ctx_.pass = Pass::kGradientSync;
      std::int64_t lo = -1, hi = -1;  // the bucket's layers
      for (std::size_t i = 0; i < layer_done.size(); ++i) {
        acc += params_of_layer(layer_done[i].first, false);
        lo = lo < 0 ? layer_done[i].first : std::min(lo, layer_done[i].first);
        hi = std::max(hi, layer_done[i].first);
        const bool close = acc >= bucket || i + 1 == layer_done.size();
        if (!close) continue;
        if (i + 1 == layer_done.size()) acc += stage_params(rs, false) - sum_dense(layer_done);
        ctx_.index = n++;
        ctx_.layer_begin = static_cast<std::int32_t>(lo);
        ctx_.layer_end = static_cast<std::int32_t>(hi + 1);
        reduces.push_back(reduce_gradients(rs, OpPart::kGradBucket, acc * p_.grad_reduce_bytes,
                                           p_.overlap_grad_reduce ? layer_done[i].second : end_of_backward));
        lo = hi = -1;
        acc = 0.0;
      }
      if (layer_done.empty()) {
        ctx_ = TaskLabel{};
        ctx_.pass = Pass::kGradientSync;
        ctx_.index = 0;
        reduces.push_back(reduce_gradients(rs, OpPart::kGradBucket, stage_params(rs, false) * p_.grad_reduce_bytes, end_of_backward));
      }
    }
    ctx_ = TaskLabel{};
    ctx_.pass = Pass::kGradientSync;
    const double expert_params = stage_params(rs, true);
    if (expert_params > 0.0 && p_.expert_dp() > 1) {
      auto groups = expert_groups(rs.rank);
      const TaskIndex t = comm_task(rs, rs.dp, OpPart::kExpertGrads, OpPart::kNone, kind, Dim::kDp, expert_params * p_.grad_reduce_bytes, groups);
      g().add_dependency(t, end_of_backward);
      reduces.push_back(t);
    }
    // Tied embeddings, or the MTP stage's copy of the embedding (memory_model.cpp; none with DualPipe,
    // whose end ranks hold both ends), stay equal by an all-reduce of their gradients between the first
    // and the last stage.
    const bool mtp_copy = m_.mtp_layers > 0 && p_.schedule != PipelineSchedule::kDualPipe;
    if ((m_.tied_embeddings || mtp_copy) && p_.pp > 1 && (rs.stage == 0 || rs.stage == p_.pp - 1)) {
      const std::int64_t peer = layout_.rank(layout_.coord(rs.rank, Dim::kTp), layout_.coord(rs.rank, Dim::kCp),
                                             layout_.coord(rs.rank, Dim::kDp), rs.stage == 0 ? p_.pp - 1 : 0);
      auto groups = std::make_shared<GroupSet>(GroupSet{{std::min(rs.rank, peer), std::max(rs.rank, peer)}});
      const TaskIndex t = comm_task(rs, rs.dp, OpPart::kEmbeddingGrads, OpPart::kNone, CollectiveKind::kAllReduce, Dim::kPp,
                                    static_cast<double>(m_.vocab * m_.hidden) / static_cast<double>(p_.tp) * p_.grad_reduce_bytes, groups);
      g().add_dependency(t, end_of_backward);
      reduces.push_back(t);
    }
    // Optimizer on this rank's (sharded) parameters, after every reduction.
    const double local = stage_params(rs, false) / (sharded ? static_cast<double>(p_.shard_ranks()) : 1.0) +
                         expert_params / (sharded ? static_cast<double>(p_.expert_dp()) : 1.0);
    ctx_ = TaskLabel{};
    ctx_.pass = Pass::kOptimizer;
    const TaskIndex opt = task(rs, rs.compute, OpPart::kOptimizer, cost_.time(optimizer_step(static_cast<std::int64_t>(local), (cfg_.eager ? kAdamBytesPerParameterFp32Params : kAdamBytesPerParameter) - (cfg_.bf16_moments ? kBf16MomentsSavedBytes : 0.0)).kernel),
                               TaskKind::kOptimizer);
    for (TaskIndex r : reduces) g().add_dependency(opt, r);
    if (sharded && p_.dp_cp() > 1 && !p_.overlap_param_gather && p_.sharding != Sharding::kParameters) {
      ctx_.pass = Pass::kParameterSync;
      comm_task(rs, rs.compute, OpPart::kParamGather, OpPart::kNone, CollectiveKind::kAllGather, Dim::kDp,
                stage_params(rs, false) * param_bytes_, dp_groups(rs.rank, false));
    }
  }

  double sum_dense(const std::vector<std::pair<std::int64_t, TaskIndex>>& layer_done) const {
    double s = 0.0;
    for (const auto& [l, t] : layer_done) s += params_of_layer(l, false);
    return s;
  }

  std::shared_ptr<const GroupSet> expert_groups(std::int64_t rank) {
    return stage_groups(kExpertDpGroups, rank, [this](std::int64_t r) { return layout_.expert_dp_group_of(r); });
  }

  const StepConfig& cfg_;
  const ModelSpec& m_;
  const ParallelPlan& p_;
  const compute::KernelCostModel& cost_;
  RankLayout layout_;
  ScheduleShape shape_;
  std::vector<std::vector<PipelineAction>> schedule_;
  Shard shard_;
  double param_bytes_ = kParamBytesBf16;  // bytes per parameter in parameter all-gathers
  MicroBatch mb_;
  double tokens_ = 0.0;
  std::int64_t positions_ = 1;
  bool deepep_ = false;  // DeepEP dispatch (ep_all_to_all)
  EpSpread spread_;
  DeepEpFanout fanout_;
  StepProgram prog_;
  std::vector<RankStreams> streams_;
  std::map<std::int64_t, std::size_t> index_;
  std::map<StreamIndex, TaskIndex> last_;
  std::map<std::tuple<int, std::int64_t>, std::shared_ptr<const GroupSet>> group_cache_;
  std::map<std::tuple<std::int64_t, std::int64_t>, std::shared_ptr<const GroupSet>> p2p_cache_;
  std::map<std::tuple<int, std::int64_t, std::int64_t>, std::int32_t> rendezvous_;
  std::map<std::pair<int, std::int64_t>, std::int64_t> rendezvous_count_;
  std::map<std::tuple<std::int64_t, int, std::int32_t, std::int32_t>, TaskIndex> first_task_, last_task_, sends_;
  std::map<std::pair<std::int64_t, std::int32_t>, TaskIndex> gather_;  // task + 1 (0 = none)
  std::map<std::pair<std::int64_t, std::int64_t>, TaskIndex> bucket_gather_;  // (rank, first layer) -> task + 1
  std::vector<std::pair<TaskIndex, std::size_t>> fsdp_waiters_;
  std::vector<std::pair<std::int64_t, TaskIndex>> fsdp_units_;  // this pass's (block, gather) in use order
  std::size_t fsdp_next_ = 0;                                   // next unit to be consumed
  std::size_t fsdp_current_ = SIZE_MAX;                         // unit being emitted
  std::vector<TaskIndex> fsdp_reduces_;                         // this rank's per-block reduce-scatters
  TaskLabel ctx_;  // the label of the tasks being emitted (pass, micro-batch, chunk, layers)
  std::map<std::pair<std::int64_t, bool>, LayerOps> ops_cache_;  // node-based: Op addresses stay valid
  std::map<std::int64_t, Op> recompute_casts_;                   // eager only; node-based, addresses stay valid
  std::unordered_map<const Op*, Duration> op_time_;
  TaskIndex pending_cp_ = core::TaskIndex(-1);
  TaskIndex tp_anchor_ = core::TaskIndex(-1);
  std::vector<TaskIndex> tp_join_;
  // Overlapped pairs (on_compute_stream()).
  std::vector<std::vector<std::size_t>> pairs_;  // per stage: overlapped_pairs(); empty when off
  int pair_ = -1;                                // 0 / 1: emitting a pair's forward / backward
  bool pair_break_ = false;                      // the pass's next compute-stream task starts a block
  std::vector<TaskIndex> pair_join_;             // its collectives that task waits for
  std::vector<TaskIndex> pair_starts_[2];        // block starts of the pair's forward and backward
  std::vector<TaskIndex> compute_order_;         // the rank's compute-stream tasks in issue order
};

}  // namespace

std::string task_name(const StepProgram& program, core::TaskIndex task) {
  return short_name(program.info[task].label);
}

double estimate_step_tasks(const StepConfig& config) {
  const ParallelPlan& p = config.plan;
  const double ranks = static_cast<double>(config.expansion == Expansion::kSymmetric ? p.pp : p.gpus());
  const double passes = p.schedule == PipelineSchedule::kZeroBubbleH1 ? 3.0 : 2.0;
  const double chunks = p.schedule == PipelineSchedule::kDualPipe ? 2.0 : static_cast<double>(p.virtual_stages);
  // Each rank runs every micro-batch through each of its chunks, once per pass; a pass over a chunk
  // emits a few tasks per layer (kernel segments, TP/EP collectives) plus the embedding/head and the
  // hand-offs. Layers of a rank: layers / pp (all chunks together).
  const double layers_per_rank = static_cast<double>(config.model->layers) / static_cast<double>(p.pp);
  // Tasks per layer and pass: the kernel segments, plus the TP collectives around attention and MLP, the
  // EP all-to-alls around the experts and the CP exchange; full recomputation replays the forward.
  double per_layer = kTasksPerLayerPass;
  if (p.tp > 1) per_layer += kTasksPerLayerPass;
  if (config.model->moe) per_layer += kTasksPerLayerPass;
  if (p.cp > 1) per_layer += kTasksPerLayerPass / 2;
  const double recompute = recomputes_layer(config.recompute) ? 1.0 : 0.0;
  const double per_microbatch = (passes + recompute) * (per_layer * layers_per_rank + kTasksPerChunkPass * chunks);
  return ranks * (static_cast<double>(p.microbatches()) * per_microbatch + kTasksPerRankFixed);
}

StepProgram build_step_program(const StepConfig& config, const compute::KernelCostModel& cost) {
  MFUSIM_CHECK(config.model != nullptr, "step without a model");
  const double tasks = estimate_step_tasks(config);
  if (tasks * kBytesPerTask > kStepMemoryBudget) {
    char buf[512];
    std::snprintf(buf, sizeof buf,
                  "the step would expand to about %.3g tasks (%.3g GiB of host memory at %.0f bytes each), over the "
                  "%.0f GiB budget: %lld micro-batches per step (global_batch / (micro_batch x dp)) x %lld simulated "
                  "ranks x %lld layers",
                  tasks, tasks * kBytesPerTask / (1024.0 * 1024 * 1024), kBytesPerTask,
                  kStepMemoryBudget / (1024.0 * 1024 * 1024), static_cast<long long>(config.plan.microbatches()),
                  static_cast<long long>(config.expansion == Expansion::kSymmetric ? config.plan.pp : config.plan.gpus()),
                  static_cast<long long>(config.model->layers));
    throw core::InputError(std::string(buf) +
                           (config.expansion == Expansion::kFull
                                ? "; use symmetric expansion (one rank per pipeline stage) or a smaller plan"
                                : "; raise training.micro_batch or lower training.global_batch (fewer micro-batches)"));
  }
  return Builder(config, cost).build();
}

StepResult simulate_step(const StepConfig& config, const StepProgram& program, const compute::KernelCostModel& cost,
                         CommunicationModel& comm, core::Engine& engine, const core::RunLimits& limits) {
  StepResult r;
  const auto& tasks = program.graph.tasks();
  // Full expansion: a collective starts once all members of its group have arrived.
  std::vector<std::int32_t> arrived(program.rendezvous_size.size(), 0);
  std::vector<std::vector<std::function<void()>>> waiting(program.rendezvous_size.size());
  core::TaskGraphRun run(engine, program.graph, [&](TaskIndex t, std::function<void()> done) {
    const TaskInfo& info = program.info[t];
    const CommRequest& req = program.requests[static_cast<std::size_t>(info.request)];
    if (info.rendezvous < 0) {
      comm.start(req, std::move(done));
      return;
    }
    const auto id = static_cast<std::size_t>(info.rendezvous);
    waiting[id].push_back(std::move(done));
    if (++arrived[id] == program.rendezvous_size[id]) {
      comm.start(req, [&waiting, id] {
        for (auto& d : waiting[id]) d();
        waiting[id].clear();
      });
    }
  }, [&](TaskIndex t, core::Duration planned) {
    // Kernels slow down while this rank's collectives hold SMs (those running at the kernel's start,
    // until they end).
    const TaskInfo& info = program.info[t];
    if (info.kind == TaskKind::kComm) return planned;
    const core::Duration d = comm.kernel_time(info.rank, planned);
    if (d > planned) r.slowdown_time += d - planned;
    return d;
  });
  run.set_namer([&program](TaskIndex t) { return task_name(program, t); });
  const auto t0 = std::chrono::steady_clock::now();
  run.start();
  r.run = engine.run(limits);
  r.wall_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  r.spans = run.spans();
  r.tasks = tasks.size();
  r.step_time = run.makespan().since_start();

  // Critical rank: the busiest compute stream (the bottleneck stage; ties: the lowest rank). Its
  // timeline, idle time included, is the breakdown.
  std::vector<core::Duration> stream_busy(program.graph.streams().size());
  for (TaskIndex t = 0; t < tasks.size(); ++t) {
    if (r.spans[t].finished) stream_busy[tasks[t].stream] += r.spans[t].end - r.spans[t].start;
  }
  std::size_t critical = 0;
  for (std::size_t i = 0; i < program.compute_stream.size(); ++i) {
    if (stream_busy[program.compute_stream[i]] > stream_busy[program.compute_stream[critical]]) critical = i;
  }
  r.critical_rank = program.ranks[critical];
  const StreamIndex cs = program.compute_stream[critical];
  StepBreakdown& b = r.breakdown;
  core::Duration busy;
  for (TaskIndex t = 0; t < tasks.size(); ++t) {
    if (tasks[t].stream != cs || !r.spans[t].finished) continue;
    const core::Duration d = r.spans[t].end - r.spans[t].start;
    busy += d;
    switch (program.info[t].kind) {
      case TaskKind::kCompute: b.compute += d; break;
      case TaskKind::kRecompute: b.recompute += d; break;
      case TaskKind::kOptimizer: b.optimizer += d; break;
      case TaskKind::kComm: b.exposed[program.info[t].dim] += d; break;
    }
    // Idle time before this task: waiting on a data-parallel collective counts as exposed DP
    // communication, on a pipeline hand-off as exposed PP communication while the transfer ran and as
    // bubble before it started.
  }
  // Idle on the critical stream: classify each gap by what the next task waited for.
  std::vector<TaskIndex> order;
  for (TaskIndex t = 0; t < tasks.size(); ++t) {
    if (tasks[t].stream == cs && r.spans[t].started) order.push_back(t);
  }
  std::sort(order.begin(), order.end(), [&](TaskIndex a, TaskIndex c) { return r.spans[a].start < r.spans[c].start; });
  core::SimTime cursor = core::SimTime::zero();
  for (TaskIndex t : order) {
    const core::SimTime start = r.spans[t].start;
    if (start > cursor) {
      core::Duration gap = start - cursor;
      // The dependency that finished last explains the wait.
      TaskIndex blocker = t;
      core::SimTime latest = core::SimTime::zero();
      for (TaskIndex d : tasks[t].deps) {
        if (r.spans[d].finished && r.spans[d].end >= latest && tasks[d].stream != cs) {
          latest = r.spans[d].end;
          blocker = d;
        }
      }
      if (blocker != t && program.info[blocker].kind == TaskKind::kComm) {
        // The blocker's stream was busy with communication back to the start of its busy run (a chain
        // of gradient buckets, say): all of that is exposed. For a pipeline hand-off only the transfer
        // itself is exposed communication; waiting for the sender to compute is bubble.
        const Dim dim = program.info[blocker].dim;
        core::SimTime busy_from = r.spans[blocker].start;
        if (dim != Dim::kPp) {
          for (TaskIndex u = blocker; u-- > 0;) {
            if (tasks[u].stream != tasks[blocker].stream || !r.spans[u].finished) continue;
            if (r.spans[u].end < busy_from) break;
            busy_from = std::min(busy_from, r.spans[u].start);
          }
        }
        const core::SimTime from = std::max(cursor, busy_from);
        const core::Duration during = start > from ? start - from : core::Duration::zero();
        b.exposed[dim] += during;
        gap -= during;
        if (dim == Dim::kPp) b.bubble += gap; else b.other += gap;
      } else {
        b.bubble += gap;
      }
    }
    if (r.spans[t].finished) cursor = std::max(cursor, r.spans[t].end);
  }
  if (r.step_time > cursor.since_start()) b.bubble += r.step_time - cursor.since_start();

  // Per-rank activity for the energy model: kernel time, and the time only communication runs (the
  // union of the rank's communication spans minus its kernel spans; kernels of one rank are serial on
  // its compute stream, so their spans do not overlap).
  {
    std::map<std::int64_t, std::size_t> slot;
    for (std::size_t i = 0; i < program.ranks.size(); ++i) slot.emplace(program.ranks[i], i);
    using Interval = std::pair<core::SimTime, core::SimTime>;
    std::vector<std::vector<Interval>> kernels(program.ranks.size()), comms(program.ranks.size());
    r.activity.resize(program.ranks.size());
    for (std::size_t i = 0; i < program.ranks.size(); ++i) r.activity[i].rank = program.ranks[i];
    for (TaskIndex t = 0; t < tasks.size(); ++t) {
      if (!r.spans[t].started) continue;
      const auto it = slot.find(program.info[t].rank);
      if (it == slot.end()) continue;
      const core::SimTime end = r.spans[t].finished ? r.spans[t].end : r.run.end_time;
      if (end <= r.spans[t].start) continue;
      (program.info[t].kind == TaskKind::kComm ? comms : kernels)[it->second].emplace_back(r.spans[t].start, end);
    }
    for (std::size_t i = 0; i < program.ranks.size(); ++i) {
      auto& k = kernels[i];
      auto& c = comms[i];
      std::sort(k.begin(), k.end());
      std::sort(c.begin(), c.end());
      for (const auto& [from, to] : k) r.activity[i].kernel_busy += to - from;
      // Merge the communication spans, then subtract the kernels from each merged interval.
      std::vector<Interval> merged;
      for (const auto& iv : c) {
        if (!merged.empty() && iv.first <= merged.back().second) {
          merged.back().second = std::max(merged.back().second, iv.second);
        } else {
          merged.push_back(iv);
        }
      }
      std::size_t ki = 0;
      for (const auto& [from, to] : merged) {
        core::Duration covered;
        while (ki < k.size() && k[ki].second <= from) ++ki;
        for (std::size_t j = ki; j < k.size() && k[j].first < to; ++j) {
          covered += std::min(to, k[j].second) - std::max(from, k[j].first);
        }
        r.activity[i].comm_only += (to - from) - covered;
      }
    }
    if (!program.ranks.empty()) {
      r.gpus_per_simulated_rank = static_cast<double>(config.plan.gpus()) / static_cast<double>(program.ranks.size());
    }
  }

  // Whole-step figures.
  const ParallelPlan& p = config.plan;
  r.tokens = static_cast<double>(p.global_batch * config.seq);
  r.model_flops = megatron_model_flops(*config.model, p.global_batch, config.seq);
  r.executed_flops = program.executed_flops_per_rank * static_cast<double>(p.gpus());
  const double peak = cost.gpu().peak(hardware::Dtype::kBf16)->value();
  const double denominator = r.step_time.seconds() * static_cast<double>(p.gpus()) * peak;
  if (denominator > 0) {
    r.mfu = r.model_flops / denominator;
    r.hfu = r.executed_flops / denominator;
  }
  return r;
}

std::string_view to_string(CollectiveKind k) {
  switch (k) {
    case CollectiveKind::kAllReduce: return "all-reduce";
    case CollectiveKind::kAllGather: return "all-gather";
    case CollectiveKind::kReduceScatter: return "reduce-scatter";
    case CollectiveKind::kAllToAll: return "all-to-all";
    case CollectiveKind::kSendRecv: return "send-recv";
    case CollectiveKind::kBroadcast: return "broadcast";
  }
  return "?";
}

}  // namespace mfusim::workload
