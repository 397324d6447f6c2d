#include "scenario/plan_search.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <map>
#include <numeric>
#include <sstream>

#include "compute/kernel_cost_model.hpp"
#include "config/loader.hpp"
#include "config/overrides.hpp"
#include "core/engine.hpp"
#include "core/error.hpp"
#include "core/parallel.hpp"
#include "core/strings.hpp"
#include "scenario/collective_communication.hpp"
#include "scenario/scenario.hpp"

namespace mfusim::scenario {
namespace {

using workload::ParallelPlan;
using Schedule = workload::PipelineSchedule;
using workload::Recompute;
using workload::Sharding;

constexpr double kGiB = 1024.0 * 1024.0 * 1024.0;

// Plan keys the search enumerates (a --fix pins them) and the other plan keys a --fix may set (they keep
// the scenario's value otherwise).
const std::vector<std::string>& searched_keys() {
  static const std::vector<std::string> keys{"parallel.tp",          "parallel.cp",
                                             "parallel.pp",          "parallel.dp",
                                             "parallel.ep",          "parallel.expert_tp",
                                             "parallel.virtual_stages",
                                             "parallel.schedule",    "parallel.sharding",
                                             "parallel.shard_group", "parallel.sequence_parallel",
                                             "training.micro_batch", "training.recompute"};
  return keys;
}
const std::vector<std::string>& other_plan_keys() {
  static const std::vector<std::string> keys{"parallel.order",
                                             "parallel.cp_kind",
                                             "parallel.moe_imbalance",
                                             "parallel.overlap_grad_reduce",
                                             "parallel.overlap_param_gather",
                                             "parallel.tp_comm_overlap",
                                             "parallel.tp_backward_overlap",
                                             "parallel.ep_comm_overlap",
                                             "parallel.ep_dispatcher",
                                             "parallel.ep_fp8_dispatch",
                                             "parallel.bucket_size"};
  return keys;
}

std::string str(std::int64_t v) {
  return std::to_string(v);
}

std::string gib(double bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f GiB", bytes / kGiB);
  return buf;
}

std::string seconds(core::Duration d) {
  char buf[32];
  const double s = d.seconds();
  if (std::fabs(s) >= 1.0)
    std::snprintf(buf, sizeof buf, "%.3f s", s);
  else
    std::snprintf(buf, sizeof buf, "%.1f ms", s * 1e3);
  return buf;
}

std::vector<std::int64_t> divisors(std::int64_t n) {
  std::vector<std::int64_t> out;
  for (std::int64_t d = 1; d * d <= n; ++d) {
    if (n % d == 0) {
      out.push_back(d);
      if (d != n / d) out.push_back(n / d);
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::string_view sharding_token(Sharding s) {
  switch (s) {
    case Sharding::kNone:
      return "zero0";
    case Sharding::kOptimizer:
      return "zero1";
    case Sharding::kGradients:
      return "zero2";
    case Sharding::kParameters:
      return "zero3";
  }
  return "?";
}
std::string_view sharding_key(Sharding s) {
  switch (s) {
    case Sharding::kNone:
      return "none";
    case Sharding::kOptimizer:
      return "optimizer";
    case Sharding::kGradients:
      return "gradients";
    case Sharding::kParameters:
      return "parameters";
  }
  return "?";
}
std::string_view recompute_name(Recompute r) {
  switch (r) {
    case Recompute::kNone:
      return "none";
    case Recompute::kSelective:
      return "selective";
    case Recompute::kFull:
      return "full";
    case Recompute::kSaveQkv:
      return "save_qkv_proj";
  }
  return "?";
}

// A pin is one value (--fix key=v) or a set (--fix key=v1,v2,...): the values the search may use.
template <class T>
using Pin = std::optional<std::vector<T>>;

// What the user pinned with --fix (read back from scenarios the fixes were applied to, so values went
// through the scenario's own parsing and checks).
struct Pins {
  Pin<std::int64_t> tp, cp, pp, dp, ep, expert_tp, virtual_stages, micro_batch, shard_group;
  Pin<Schedule> schedule;
  Pin<Sharding> sharding;
  Pin<bool> sequence_parallel;
  Pin<Recompute> recompute;
};

template <class T>
bool allowed(const Pin<T>& pin, const T& v) {
  return !pin || std::find(pin->begin(), pin->end(), v) != pin->end();
}

struct Simulated {
  core::Duration step_time;
  double mfu = 0.0;
  workload::StepBreakdown breakdown;
};

Simulated simulate_candidate(const TrainingSetup& t, const PlanCandidate& c, Fidelity fidelity,
                             const compute::KernelCostModel& cost) {
  workload::StepConfig cfg;
  cfg.model = &t.model;
  cfg.plan = c.plan;
  cfg.seq = t.seq;
  cfg.recompute = c.recompute;
  cfg.recompute_modules = t.recompute_modules;  // the scenario's, for the plans that recompute selectively
  cfg.bf16_moments = t.bf16_moments;
  cfg.gemm_dtype = t.precision;
  cfg.flash_attention = t.flash_attention;
  cfg.cudnn_attention = t.cudnn_attention;
  cfg.dropout = t.dropout > 0.0;
  cfg.eager = t.eager;
  cfg.gpus_per_node = gpus_per_node(t.topology);
  const auto program = workload::build_step_program(cfg, cost);
  core::Engine engine;
  CollectiveCommunication comm(engine, t.topology, fidelity);
  const auto step = workload::simulate_step(cfg, program, cost, comm, engine);
  if (step.run.status != core::RunStatus::kCompleted) {
    throw core::SimulationError("simulation " + std::string(core::to_string(step.run.status)));
  }
  return Simulated{step.step_time, step.mfu, step.breakdown};
}

// --- Branch and bound: a lower bound on the analytical step time (docs/search.md, "Lower bound") ---
//
// The step simulator (workload/step_simulator.cpp) runs each simulated rank's kernels and its
// non-overlapped TP collectives on one serial compute stream, in its schedule's order; contention only
// stretches kernels (compute_slowdown >= 1). For pipeline stage s with positions q (virtual stages) and
// per-micro-batch pass times F(q) (forward), B(q) (backward; a split one: input part only), W(q) (weight
// part), computed from the same op lists and kernel costs:
//   head_s  no compute of stage s starts before a micro-batch's forward has crossed every earlier
//           position of its first chunk: min over its forward positions q of sum_{q' < q} F(q');
//   busy_s  the sum of its actions' pass times (serial stream);
//   tail_s  when its last action is a backward at position q, that gradient still has to cross every
//           earlier position: sum_{q' < q} B(q');
// step time >= max_s head_s + busy_s + tail_s (1F1B with even stages: (m + p - 1) (F + B), the closed form).
// The MoE dispatch and combine count where they block the compute stream (ep_per_layer_pass: passes not
// paired). Left out (the bound stays below): optimizer, DP/CP/PP communication, EP communication of
// paired passes and recomputed forwards, TP collectives of the embedding and head, all TP collectives
// when tp_comm_overlap is on, and contention.
struct LayerTimes {
  core::Duration fwd, bwd_input, bwd_weight;  // kernels only
  core::Duration recompute;  // the kernels a whole-layer policy reruns (eager: up to the last saved tensor)
};
struct ShardTimes {
  std::vector<LayerTimes> layers;
  core::Duration emb_f, emb_b_input, emb_b_weight, head_f, head_b_input, head_b_weight;
};

class LowerBound {
 public:
  LowerBound(const TrainingSetup& t, const compute::KernelCostModel& cost)
      : t_(t), cost_(cost), comm_(engine_, t.topology, Fidelity::kAnalytical), gpus_per_node_(gpus_per_node(t.topology)) {}

  core::Duration operator()(const PlanCandidate& c) {
    const ParallelPlan& p = c.plan;
    const auto& m = t_.model;
    const ShardTimes& st = shard_times(c);
    const bool dual = p.schedule == Schedule::kDualPipe;
    const workload::ScheduleShape shape{static_cast<std::int32_t>(p.pp), static_cast<std::int32_t>(p.microbatches()),
                                        static_cast<std::int32_t>(dual ? 2 : p.virtual_stages),
                                        p.schedule == Schedule::kInterleaved && p.pairs_passes() && m.moe.has_value()};
    const auto schedule = workload::build_schedule(p.schedule, shape);
    const std::int64_t positions = p.positions();
    const workload::RankLayout layout(p);
    core::Duration best = core::Duration::zero();
    // Per-position pass times (TP collectives on the compute stream use stage s's own group).
    std::vector<core::Duration> F(static_cast<std::size_t>(positions)), B(F.size()), Bin(F.size()), W(F.size());
    std::vector<std::int64_t> stage_of(F.size());
    for (std::int32_t s = 0; s < p.pp; ++s) {
      for (std::int32_t ch = 0; ch < shape.chunks; ++ch) {
        const std::int64_t pos = workload::pipeline_position(p.pp, s, ch, dual);
        stage_of[static_cast<std::size_t>(pos)] = s;
      }
    }
    const std::vector<core::Duration> ep_of_stage = ep_per_layer_pass(c, layout);
    for (std::int64_t pos = 0; pos < positions; ++pos) {
      const auto i = static_cast<std::size_t>(pos);
      // Decoder layers only: an MTP block on the last position (and its head) is left out, which keeps
      // the bound below the simulated step.
      const auto& pl = c.plan;
      const std::int64_t lb = workload::first_layer_at_position(m.layers, positions, pos, pl.first_stage_layers, pl.last_stage_layers);
      const std::int64_t le = lb + workload::layers_at_position(m.layers, positions, pos, pl.first_stage_layers, pl.last_stage_layers);
      const TpPass tp_fwd = tp_per_layer_pass(c, layout, stage_of[i], false);
      const TpPass tp_bwd = tp_per_layer_pass(c, layout, stage_of[i], true);
      const core::Duration ep = ep_of_stage[static_cast<std::size_t>(stage_of[i])];
      core::Duration f, bi, bw;
      for (std::int64_t l = lb; l < le; ++l) {
        const auto& lt = st.layers[static_cast<std::size_t>(l)];
        const bool moe = m.is_moe_layer(l);
        const core::Duration tp_layer = moe ? tp_fwd.moe + ep : tp_fwd.dense;
        const core::Duration tp_layer_bwd = moe ? tp_bwd.moe + ep : tp_bwd.dense;
        f += lt.fwd + tp_layer;
        bi += lt.bwd_input + tp_layer_bwd;
        bi += lt.recompute;
        if (c.recompute == Recompute::kFull) bi += tp_layer;
        bw += lt.bwd_weight;
      }
      if (pos == 0) {
        f += st.emb_f;
        bi += st.emb_b_input;
        bw += st.emb_b_weight;
      }
      if (pos == positions - 1) {
        f += st.head_f;
        bi += st.head_b_input;
        bw += st.head_b_weight;
      }
      F[i] = f;
      B[i] = bi + bw;
      Bin[i] = bi;
      W[i] = bw;
    }
    // A split backward (zb-h1, DualPipe's zero-bubble ones) hands its gradient on before its W: the
    // tail's crossing counts input gradients only wherever the schedule splits any.
    bool splits = false;
    for (const auto& l : schedule) {
      for (const auto& a : l) splits = splits || a.split;
    }
    std::vector<core::Duration> prefix_f(F.size() + 1), prefix_b(F.size() + 1);
    for (std::size_t i = 0; i < F.size(); ++i) {
      prefix_f[i + 1] = prefix_f[i] + F[i];
      prefix_b[i + 1] = prefix_b[i] + (splits ? Bin[i] : B[i]);
    }
    for (std::int32_t s = 0; s < p.pp; ++s) {
      const auto& actions = schedule[static_cast<std::size_t>(s)];
      if (actions.empty()) continue;
      auto position = [&](std::int32_t chunk) {
        return static_cast<std::size_t>(workload::pipeline_position(p.pp, s, chunk, dual));
      };
      core::Duration busy, head = core::Duration::max();
      for (const auto& a : actions) {
        const auto q = position(a.chunk);
        switch (a.pass) {
          case workload::PassKind::kForward:
            busy += F[q];
            head = std::min(head, prefix_f[q]);
            break;
          case workload::PassKind::kBackward:
            busy += a.split ? Bin[q] : B[q];
            break;
          case workload::PassKind::kWeight:
            busy += W[q];
            break;
        }
      }
      if (head == core::Duration::max()) head = core::Duration::zero();
      const auto& last = actions.back();
      const core::Duration tail =
          last.pass == workload::PassKind::kBackward ? prefix_b[position(last.chunk)] : core::Duration::zero();
      best = std::max(best, head + busy + tail);
    }
    // Margin for the picosecond rounding of stretched kernels: 1 ppm below.
    return best - core::Duration::from_seconds(best.seconds() * 1e-6);
  }

 private:
  // Kernel times of one shard (tp, cp, ep, sp, micro-batch, recompute): shared by every plan with it.
  const ShardTimes& shard_times(const PlanCandidate& c) {
    const auto& p = c.plan;
    char key[256];
    std::snprintf(key, sizeof key, "%lld %lld %lld %lld %d %.17g %lld %d", static_cast<long long>(p.tp),
                  static_cast<long long>(p.cp), static_cast<long long>(p.ep), static_cast<long long>(p.expert_tp_size()),
                  p.sequence_parallel ? 1 : 0, p.moe_imbalance, static_cast<long long>(p.micro_batch),
                  static_cast<int>(c.recompute));
    auto [it, inserted] = shards_.try_emplace(key);
    if (!inserted) return it->second;
    // As Builder (step_simulator.cpp) with the search's StepConfig (the scenario's attention and dropout).
    workload::Shard shard = workload::shard_of(p, t_.flash_attention, t_.dropout > 0.0, t_.eager, t_.cudnn_attention);
    shard.recompute_modules = t_.recompute_modules;
    const workload::MicroBatch mb{p.micro_batch, t_.seq};
    auto add_times = [&](const std::vector<workload::Op>& ops, core::Duration* all, core::Duration* input,
                         core::Duration* weight) {
      for (const auto& op : ops) {
        compute::Kernel k = op.kernel;
        if (k.kind == compute::KernelKind::kGemm) k.dtype = t_.precision;
        const core::Duration d = cost_.time(k);
        if (all != nullptr) *all += d;
        if (op.phase == workload::Phase::kBackwardWeight) {
          if (weight != nullptr) *weight += d;
        } else if (input != nullptr) {
          *input += d;
        }
      }
    };
    ShardTimes& st = it->second;
    const auto& m = t_.model;
    const Recompute bwd_rc = c.recompute == Recompute::kSelective ? Recompute::kSelective : Recompute::kNone;
    for (std::int64_t l = 0; l < m.layers; ++l) {
      LayerTimes lt;
      add_times(workload::layer_forward(m, l, shard, mb), &lt.fwd, nullptr, nullptr);
      add_times(workload::layer_backward(m, l, shard, mb, bwd_rc), nullptr, &lt.bwd_input, &lt.bwd_weight);
      if (workload::recomputes_layer(c.recompute)) {
        auto ops = workload::layer_backward(m, l, shard, mb, c.recompute);
        std::erase_if(ops, [](const workload::Op& op) { return op.phase != workload::Phase::kRecompute; });
        add_times(ops, &lt.recompute, nullptr, nullptr);
      }
      st.layers.push_back(lt);
    }
    add_times(workload::embedding_forward(m, shard, mb), &st.emb_f, nullptr, nullptr);
    add_times(workload::embedding_backward(m, shard, mb), nullptr, &st.emb_b_input, &st.emb_b_weight);
    add_times(workload::head_forward(m, shard, mb), &st.head_f, nullptr, nullptr);
    add_times(workload::head_backward(m, shard, mb), nullptr, &st.head_b_input, &st.head_b_weight);
    return st;
  }

  // The TP collectives one layer pass (forward, backward or its recomputation) puts on the compute
  // stream, as the step simulator emits them: sequence parallelism: an all-gather before and a
  // reduce-scatter after each block; without: an all-reduce after each. A dense layer has two such
  // blocks; an MoE layer its attention block, the MoE block only with shared experts (a TP MLP), plus
  // the expert-TP gather and reduce-scatter of the routed tokens (expert_tp > 1, passes not paired). None when
  // tp_comm_overlap runs them on their own stream. In a backward pass with tp_backward_overlap the
  // block's output collective runs beside the wgrad GEMM (left out); the all-gather before the block
  // remains.
  struct TpPass {
    core::Duration dense, moe;
  };
  TpPass tp_per_layer_pass(const PlanCandidate& c, const workload::RankLayout& layout, std::int64_t stage, bool backward) {
    const auto& p = c.plan;
    if (p.tp == 1 || p.tp_comm_overlap) return {};
    const bool async = backward && p.tp_backward_overlap;
    const double nbytes =
        static_cast<double>(p.micro_batch * t_.seq / p.cp) * static_cast<double>(t_.model.hidden) * 2.0;  // bf16
    const auto group = layout.group_of(layout.rank(0, 0, 0, stage), workload::Dim::kTp);
    core::Duration block;
    if (p.sequence_parallel) {
      const core::Duration gather = collective_time(group, workload::CollectiveKind::kAllGather, nbytes);
      block = async ? gather : gather + collective_time(group, workload::CollectiveKind::kReduceScatter, nbytes);
    } else if (!async) {
      block = collective_time(group, workload::CollectiveKind::kAllReduce, nbytes);
    }
    TpPass out{block * 2, block};
    const auto& moe = t_.model.moe;
    if (!moe) return out;
    if (moe->shared_experts > 0) out.moe += block;
    const std::int64_t etp = p.expert_tp_size();
    // With paired passes (pairs_passes) the expert-TP collectives run on the pass's own stream, beside
    // the other pass's kernels: left out.
    if (etp > 1 && p.sequence_parallel && !p.pairs_passes()) {  // (tp = 1 with expert_tp > 1: returned above)
      const double routed = nbytes / static_cast<double>(p.tp) * static_cast<double>(etp) * static_cast<double>(moe->top_k);
      const auto etp_group = layout.expert_tp_group_of(layout.rank(0, 0, 0, stage));
      out.moe += collective_time(etp_group, workload::CollectiveKind::kAllGather, routed) +
                 collective_time(etp_group, workload::CollectiveKind::kReduceScatter, routed);
    }
    return out;
  }

  // The EP dispatch and combine of one MoE layer pass, as the step simulator emits them when passes are
  // not paired (ParallelPlan::pairs_passes() false): each on the compute stream's critical path, the
  // next kernel waiting for it. All-to-all dispatcher: one all-to-all of T / tp (SP) x top_k routed
  // copies of h (bf16) each way; DeepEP: its two hops start together and the next kernel waits for
  // both, so the longer counts (toward the experts FP8 with ep_fp8_dispatch). Forward: dispatch +
  // combine; backward: the same two volumes. Zero with paired passes (they may hide it) or ep = 1.
  // A recomputed forward's all-to-alls are left out (the bound stays below).
  // Per pipeline stage (each stage's own groups; DeepEP's spread and fanout once per plan).
  std::vector<core::Duration> ep_per_layer_pass(const PlanCandidate& c, const workload::RankLayout& layout) {
    const auto& p = c.plan;
    const auto& moe = t_.model.moe;
    std::vector<core::Duration> out(static_cast<std::size_t>(p.pp), core::Duration::zero());
    if (p.ep == 1 || !moe || p.pairs_passes()) return out;
    const double tokens = static_cast<double>(p.micro_batch * t_.seq / p.cp) / (p.sequence_parallel ? static_cast<double>(p.tp) : 1.0);
    const double h = static_cast<double>(t_.model.hidden);
    const auto kind = workload::CollectiveKind::kAllToAll;
    const bool deepep = p.ep_dispatcher == workload::EpDispatcher::kDeepEp;
    workload::EpSpread spread;
    if (deepep && workload::deepep_spread(p, gpus_per_node_, &spread)) return out;  // invalid: reported elsewhere
    const auto fan = workload::deepep_fanout(moe->experts, moe->top_k, moe->max_nodes, spread);
    for (std::int64_t stage = 0; stage < p.pp; ++stage) {
      const std::int64_t rank = layout.rank(0, 0, 0, stage);
      const auto group = layout.group_of(rank, workload::Dim::kEp);
      if (!deepep) {
        out[static_cast<std::size_t>(stage)] = collective_time(group, kind, tokens * static_cast<double>(moe->top_k) * h * 2.0) * 2;
        continue;
      }
      const auto hop_pair = [&](double elem) {
        core::Duration t = core::Duration::zero();
        if (spread.nodes > 1) t = std::max(t, collective_time(workload::ep_rail_group(group, rank, gpus_per_node_), kind, tokens * fan.nodes * h * elem));
        if (spread.per_node > 1) t = std::max(t, collective_time(workload::ep_node_group(group, rank, gpus_per_node_), kind, tokens * fan.gpus * h * elem));
        return t;
      };
      out[static_cast<std::size_t>(stage)] = hop_pair(workload::deepep_element_bytes(p, true)) + hop_pair(workload::deepep_element_bytes(p, false));
    }
    return out;
  }

  core::Duration collective_time(const std::vector<std::int64_t>& group, workload::CollectiveKind kind, double nbytes) {
    const core::Bytes b(static_cast<std::int64_t>(std::llround(nbytes)));
    const auto key = std::tuple{group, static_cast<int>(kind), b.count()};
    if (auto it = collectives_.find(key); it != collectives_.end()) return it->second;
    workload::CommRequest req{kind, workload::Dim::kTp, b,
                              std::make_shared<workload::GroupSet>(workload::GroupSet{group})};
    const core::SimTime start = engine_.now();
    core::SimTime end = start;
    comm_.start(req, [&] { end = engine_.now(); });
    engine_.run();
    const core::Duration d = end - start;
    collectives_.emplace(key, d);
    return d;
  }

  const TrainingSetup& t_;
  const compute::KernelCostModel& cost_;
  core::Engine engine_;
  CollectiveCommunication comm_;
  std::map<std::string, ShardTimes> shards_;
  std::map<std::tuple<std::vector<std::int64_t>, int, std::int64_t>, core::Duration> collectives_;
  std::int64_t gpus_per_node_ = 0;
};

std::string error_text(const std::exception_ptr& e) {
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& x) {
    return x.what();
  } catch (...) {
    return "unknown error";
  }
}

// Checks a --fix assignment's key before it is applied; returns the key.
std::string fix_key(const std::string& fix) {
  const auto eq = fix.find('=');
  if (eq == std::string::npos || eq == 0) {
    throw core::InputError("--fix " + fix + ": expected key=value, e.g. --fix parallel.tp=8");
  }
  const std::string key = fix.substr(0, eq);
  std::vector<std::string> valid = searched_keys();
  valid.insert(valid.end(), other_plan_keys().begin(), other_plan_keys().end());
  if (std::find(valid.begin(), valid.end(), key) != valid.end()) return key;
  std::string message = "--fix " + fix + ": '" + key + "' is not a plan key";
  std::optional<std::string> suggestion;
  for (const auto& k : valid) {
    if (k.size() > key.size() && k.compare(k.size() - key.size(), key.size(), key) == 0 &&
        k[k.size() - key.size() - 1] == '.') {
      suggestion = k;
      break;
    }
  }
  if (!suggestion) suggestion = core::closest_match(key, valid);
  if (suggestion) message += " (did you mean '" + *suggestion + "'?)";
  message += "; plan keys: " + core::join(valid) + " (other scenario keys: --set)";
  throw core::InputError(message);
}

void check_pin(const std::string& key, std::int64_t value, std::int64_t gpus, bool divides_gpus) {
  if (value < 1) throw core::InputError("--fix " + key + "=" + str(value) + ": must be at least 1");
  if (divides_gpus && gpus % value != 0) {
    std::string valid;
    for (auto d : divisors(gpus)) valid += (valid.empty() ? "" : ", ") + str(d);
    throw core::InputError("--fix " + key + "=" + str(value) + ": " + str(value) + " does not divide the cluster's " +
                           str(gpus) + " GPUs (valid: " + valid + ")");
  }
}

void check_limit(const char* flag, std::int64_t v, std::int64_t min) {
  if (v < min) throw core::InputError(std::string(flag) + ": " + str(v) + " must be at least " + str(min));
}

}  // namespace

std::string plan_string(const PlanCandidate& c) {
  const auto& p = c.plan;
  std::string s = "tp=" + str(p.tp);
  if (p.tp > 1 && !p.sequence_parallel) s += "/no-sp";
  s += " cp=" + str(p.cp) + " pp=" + str(p.pp) + " v=" + str(p.virtual_stages) + " dp=" + str(p.dp) +
       " ep=" + str(p.ep) + (p.expert_tp_size() != p.tp ? "/etp" + str(p.expert_tp_size()) : std::string()) +
       " mb=" + str(p.micro_batch) + " ";
  s += p.pp > 1 ? std::string(workload::to_string(p.schedule)) : std::string("no-pp");
  s += " " + std::string(sharding_token(p.sharding));
  if (p.shard_size() < p.dp) s += "/" + str(p.shard_group);  // hybrid: shard groups of this many DP ranks
  s += " rc=" + std::string(recompute_name(c.recompute));
  if (p.first_stage_layers > 0 || p.last_stage_layers > 0) {
    s += " layers=" + str(p.first_stage_layers) + "/" + str(p.last_stage_layers);  // set end-stage layer counts (0: automatic)
  }
  return s;
}

std::vector<std::string> plan_overrides(const PlanCandidate& c, bool moe) {
  const auto& p = c.plan;
  std::vector<std::string> out{"parallel.tp=" + str(p.tp), "parallel.cp=" + str(p.cp), "parallel.pp=" + str(p.pp),
                               "parallel.dp=" + str(p.dp), "parallel.ep=" + str(p.ep)};
  if (moe) out.push_back("parallel.expert_tp=" + str(p.expert_tp_size()));
  out.insert(out.end(), {
          "parallel.virtual_stages=" + str(p.virtual_stages),
          "parallel.schedule=" + std::string(workload::to_string(p.schedule)),
          "parallel.sharding=" + std::string(sharding_key(p.sharding)),
          "parallel.shard_group=" + str(p.shard_size()),
          std::string("parallel.sequence_parallel=") + (p.sequence_parallel ? "true" : "false"),
          "training.micro_batch=" + str(p.micro_batch),
          "training.recompute=" + std::string(recompute_name(c.recompute)),
          // Candidates place layers automatically (the scenario's end-stage counts belong to its pp).
          "parallel.first_stage_layers=" + str(p.first_stage_layers), "parallel.last_stage_layers=" + str(p.last_stage_layers)});
  return out;
}

std::string_view to_string(PlanStatus s) {
  switch (s) {
    case PlanStatus::kOk:
      return "ok";
    case PlanStatus::kInvalid:
      return "invalid";
    case PlanStatus::kOutOfMemory:
      return "oom";
    case PlanStatus::kDominated:
      return "dominated";
    case PlanStatus::kError:
      return "error";
    case PlanStatus::kPruned:
      return "pruned";
  }
  return "?";
}

bool ranks_before(const PlanEvaluation& a, const PlanEvaluation& b) {
  if (a.step_time != b.step_time) return a.step_time < b.step_time;
  if (a.peak_memory_bytes != b.peak_memory_bytes) return a.peak_memory_bytes < b.peak_memory_bytes;
  const auto& pa = a.candidate.plan;
  const auto& pb = b.candidate.plan;
  const auto replica_a = pa.tp * pa.cp * pa.pp, replica_b = pb.tp * pb.cp * pb.pp;
  if (replica_a != replica_b) return replica_a < replica_b;
  if (a.candidate.recompute != b.candidate.recompute) return a.candidate.recompute < b.candidate.recompute;
  return a.name < b.name;
}

SearchResult search_plans(const std::filesystem::path& scenario, const SearchOptions& options) {
  return search_plans(config::load_file(scenario), scenario.string(), options);
}

SearchResult search_plans(const config::Node& loaded, const std::string& source, const SearchOptions& o) {
  check_limit("--max-micro-batch", o.max_micro_batch, 1);
  check_limit("--min-micro-batch", o.min_micro_batch, 1);
  if (o.min_micro_batch > o.max_micro_batch) {
    throw core::InputError("--min-micro-batch " + str(o.min_micro_batch) + " is above --max-micro-batch " +
                           str(o.max_micro_batch));
  }
  for (auto [flag, v] : {std::pair{"--max-tp", o.max_tp},
                         {"--max-pp", o.max_pp},
                         {"--max-cp", o.max_cp},
                         {"--max-virtual-stages", o.max_virtual_stages}}) {
    check_limit(flag, v, 0);
  }
  config::Node root = loaded;
  for (const auto& s : o.overrides) config::apply_override(root, s);
  std::vector<std::string> fixed;
  // --fix key=v1,v2,...: a set of values for a searched key. Each value is read by applying it to a
  // copy of the scenario (so it goes through the scenario's own parsing and checks); the scenario's
  // own plan keeps its value.
  std::map<std::string, std::vector<PlanCandidate>> sets;  // key -> the plan each listed value gives
  std::vector<std::pair<std::string, std::vector<std::string>>> set_fixes;
  for (const auto& f : o.fixes) {
    const auto key = fix_key(f);
    if (std::find(fixed.begin(), fixed.end(), key) != fixed.end())
      throw core::InputError("--fix " + f + ": " + key + " is fixed twice");
    fixed.push_back(key);
    const std::string value = f.substr(f.find('=') + 1);
    if (value.find(',') == std::string::npos) {
      config::apply_override(root, f, "--fix");
      continue;
    }
    const auto& searched = searched_keys();
    if (std::find(searched.begin(), searched.end(), key) == searched.end()) {
      throw core::InputError("--fix " + f + ": a list of values is only allowed for a searched key (" +
                             core::join(searched) + ")");
    }
    std::vector<std::string> values;
    std::istringstream list(value + ",");  // the trailing comma makes a final empty item visible
    for (std::string v; std::getline(list, v, ',');) {
      if (v.empty()) throw core::InputError("--fix " + f + ": empty value in the list");
      values.push_back(v);
    }
    set_fixes.emplace_back(key, values);
  }
  for (const auto& [key, values] : set_fixes) {
    for (const auto& v : values) {
      config::Node copy = root;
      config::apply_override(copy, key + "=" + v, "--fix");
      const Scenario one = build_scenario(copy, source, /*check_plan=*/false);
      if (!one.training) break;  // reported below for the scenario itself
      sets[key].push_back(PlanCandidate{one.training->plan, one.training->recompute});
    }
  }
  const Scenario base = build_scenario(root, source, /*check_plan=*/false);
  if (!base.training)
    throw core::InputError(source + ": search needs a training scenario (sections cluster, model, parallel, training)");
  const TrainingSetup& t = *base.training;
  const auto& model = t.model;
  const std::int64_t gpus = static_cast<std::int64_t>(t.topology.gpu_count());
  const std::int64_t gbs = t.plan.global_batch;

  Pins pin;
  const auto is_fixed = [&fixed](const char* k) { return std::find(fixed.begin(), fixed.end(), k) != fixed.end(); };
  // The pinned values of a key: from the value sets, else the (single-value) fixed scenario.
  const auto pinned = [&](const char* key, auto& slot, auto get) {
    using T = typename std::decay_t<decltype(slot)>::value_type::value_type;
    if (!is_fixed(key)) return;
    std::vector<T> values;
    if (const auto it = sets.find(key); it != sets.end()) {
      for (const auto& one : it->second) {
        const T x = get(one);
        if (std::find(values.begin(), values.end(), x) == values.end()) values.push_back(x);
      }
    } else {
      values.push_back(get(PlanCandidate{t.plan, t.recompute}));
    }
    slot = values;
  };
  pinned("parallel.tp", pin.tp, [](const PlanCandidate& x) { return x.plan.tp; });
  pinned("parallel.cp", pin.cp, [](const PlanCandidate& x) { return x.plan.cp; });
  pinned("parallel.pp", pin.pp, [](const PlanCandidate& x) { return x.plan.pp; });
  pinned("parallel.dp", pin.dp, [](const PlanCandidate& x) { return x.plan.dp; });
  pinned("parallel.ep", pin.ep, [](const PlanCandidate& x) { return x.plan.ep; });
  pinned("parallel.expert_tp", pin.expert_tp, [](const PlanCandidate& x) { return x.plan.expert_tp_size(); });
  pinned("parallel.virtual_stages", pin.virtual_stages, [](const PlanCandidate& x) { return x.plan.virtual_stages; });
  pinned("training.micro_batch", pin.micro_batch, [](const PlanCandidate& x) { return x.plan.micro_batch; });
  pinned("parallel.schedule", pin.schedule, [](const PlanCandidate& x) { return x.plan.schedule; });
  pinned("parallel.sharding", pin.sharding, [](const PlanCandidate& x) { return x.plan.sharding; });
  pinned("parallel.shard_group", pin.shard_group, [](const PlanCandidate& x) { return x.plan.shard_size(); });
  pinned("parallel.sequence_parallel", pin.sequence_parallel,
         [](const PlanCandidate& x) { return x.plan.sequence_parallel; });
  pinned("training.recompute", pin.recompute, [](const PlanCandidate& x) { return x.recompute; });
  for (auto [key, slot, divides] : {std::tuple{"parallel.tp", &pin.tp, true},
                                    {"parallel.cp", &pin.cp, true},
                                    {"parallel.pp", &pin.pp, true},
                                    {"parallel.dp", &pin.dp, true},
                                    {"parallel.ep", &pin.ep, false},
                                    {"parallel.expert_tp", &pin.expert_tp, false},
                                    {"parallel.virtual_stages", &pin.virtual_stages, false},
                                    {"training.micro_batch", &pin.micro_batch, false}}) {
    if (*slot) {
      for (const auto v : **slot) check_pin(key, v, gpus, divides);
    }
  }

  const std::int64_t domain = static_cast<std::int64_t>(t.topology.node_gpus(0).size());
  const std::int64_t max_tp = o.max_tp > 0 ? o.max_tp : domain;
  const std::int64_t max_pp = o.max_pp > 0 ? o.max_pp : model.layers;
  const std::int64_t max_cp = o.max_cp > 0 ? o.max_cp : std::max<std::int64_t>(1, t.seq / kMinTokensPerCpRank);
  const std::int64_t max_v = o.max_virtual_stages > 0 ? o.max_virtual_stages : model.layers;

  // The template every candidate starts from: the scenario's plan keys that are not searched.
  ParallelPlan templ = t.plan;
  // The scenario's shard group belongs to its own dp: candidates start from the whole DP group (0) and
  // the enumeration below sets their hybrid shard groups.
  templ.shard_group = 0;
  // Layer counts on the end stages belong to the scenario's pp: candidates place layers automatically.
  templ.first_stage_layers = templ.last_stage_layers = 0;

  SearchResult result;
  result.scenario = base.name;
  result.gpus = gpus;
  result.moe = model.moe.has_value();
  result.memory_capacity = t.memory_capacity;
  double headroom = o.headroom_bytes;
  if (o.headroom_usable) {
    const auto& gpu = *t.topology.gpu_spec;
    if (!gpu.usable_memory) {
      throw core::InputError("--headroom usable: " + gpu.name + " has no usable_memory in the hardware catalog (give a size instead)");
    }
    headroom += t.memory_capacity - gpu.usable_memory->as_double();
  }
  if (!(headroom >= 0.0) || headroom >= t.memory_capacity) {
    throw core::InputError("--headroom " + gib(headroom) + ": must be at least 0 and below the GPU's " + gib(t.memory_capacity));
  }
  result.headroom_bytes = headroom;
  const double usable = t.memory_capacity - headroom;
  result.refine_fidelity = t.collectives;
  std::vector<PlanCandidate> candidates;

  const std::array<Sharding, 4> shardings{Sharding::kNone, Sharding::kOptimizer, Sharding::kGradients,
                                          Sharding::kParameters};
  // Megatron's three policies; MaxText's save_qkv_proj only when pinned (--fix training.recompute=...).
  const std::array<Recompute, 4> recomputes{Recompute::kNone, Recompute::kSelective, Recompute::kSaveQkv,
                                            Recompute::kFull};
  for (std::int64_t tp : divisors(gpus)) {
    if (pin.tp ? !allowed(pin.tp, tp) : tp > max_tp) continue;
    for (std::int64_t cp : divisors(gpus / tp)) {
      if (pin.cp ? !allowed(pin.cp, cp) : cp > max_cp) continue;
      for (std::int64_t pp : divisors(gpus / (tp * cp))) {
        if (pin.pp ? !allowed(pin.pp, pp) : pp > max_pp) continue;
        const std::int64_t dp = gpus / (tp * cp * pp);
        if (!allowed(pin.dp, dp)) continue;
        std::vector<std::int64_t> vs{1};
        if (pp > 1) {
          for (std::int64_t v = 2; v <= std::min(max_v, model.layers / pp); ++v) {
            if (model.layers % (pp * v) == 0) vs.push_back(v);
          }
        }
        if (pin.virtual_stages) vs = *pin.virtual_stages;
        std::vector<Schedule> v1_schedules{Schedule::kOneFOneB};
        if (pp > 1) {
          v1_schedules.push_back(Schedule::kGpipe);
          v1_schedules.push_back(Schedule::kZeroBubbleH1);
          if (pp % 2 == 0) v1_schedules.push_back(Schedule::kDualPipe);
        }
        // (ep, expert_tp) pairs; expert_tp is stored as 0 when it equals tp (Megatron's default). MoE
        // models: expert_tp each divisor of tp that divides the expert width, and for each the divisors
        // ep of the experts with ep x expert_tp dividing the stage's tp x cp x dp ranks (Megatron-Core's
        // expert placement). Dense models: ep 1, expert_tp the default. Pins replace either list as
        // given (check_plan reports what they break).
        std::vector<std::int64_t> etps;
        if (pin.expert_tp) {
          etps = *pin.expert_tp;
        } else if (model.moe) {
          for (auto x : divisors(tp)) {
            if (model.moe->expert_ffn % x == 0) etps.push_back(x);
          }
        } else {
          etps = {tp};
        }
        std::vector<std::pair<std::int64_t, std::int64_t>> expert_plans;
        for (std::int64_t etp : etps) {
          std::vector<std::int64_t> eps{1};
          if (pin.ep) {
            eps = *pin.ep;
          } else if (model.moe) {
            eps.clear();
            for (auto e : divisors(model.moe->experts)) {
              if ((tp * cp * dp) % (e * etp) == 0) eps.push_back(e);
            }
          }
          for (std::int64_t e : eps) expert_plans.emplace_back(e, etp == tp ? 0 : etp);
        }
        // Micro-batches: divisors of the per-replica batch (none when dp does not divide the batch:
        // one candidate with micro_batch 1 then records why).
        std::vector<std::int64_t> mbs;
        if (pin.micro_batch) {
          mbs = *pin.micro_batch;
        } else if (gbs % dp != 0) {
          mbs = {1};
        } else {
          for (auto m : divisors(gbs / dp)) {
            if (m >= o.min_micro_batch && m <= o.max_micro_batch) mbs.push_back(m);
          }
        }
        for (std::int64_t v : vs) {
          std::vector<Schedule> schedules = v > 1 ? std::vector<Schedule>{Schedule::kInterleaved} : v1_schedules;
          if (pin.schedule && pin.schedule->size() == 1) {
            schedules = *pin.schedule;  // one pinned schedule is tried wherever it is asked for
          } else if (pin.schedule) {
            // A set: those of its schedules that fit this pipeline shape (interleaved needs v > 1).
            std::erase_if(schedules, [&](Schedule x) { return !allowed(pin.schedule, x); });
          }
          for (Schedule schedule : schedules) {
            for (const auto& [ep, etp] : expert_plans) {
              for (std::int64_t mb : mbs) {
                for (Sharding sh : shardings) {
                  if (pin.sharding ? !allowed(pin.sharding, sh) : (dp == 1 && sh != Sharding::kNone)) continue;
                  // Shard groups (0: the whole DP group). Hybrid sharding (FSDP's HYBRID_SHARD) is
                  // enumerated for sharded parameters: every divisor S of dp from 2 up; a pin
                  // (--fix parallel.shard_group=S,...) applies to any sharding whose dp S divides.
                  std::vector<std::int64_t> groups;
                  if (pin.shard_group) {
                    for (std::int64_t g : *pin.shard_group) {
                      if (dp % g != 0 || (sh == Sharding::kNone && g != dp)) continue;
                      const std::int64_t x = g == dp ? 0 : g;
                      if (std::find(groups.begin(), groups.end(), x) == groups.end()) groups.push_back(x);
                    }
                  } else {
                    groups.push_back(0);
                    if (sh == Sharding::kParameters) {
                      for (std::int64_t g : divisors(dp)) {
                        if (g >= 2 && g < dp) groups.push_back(g);
                      }
                    }
                  }
                  for (std::int64_t group : groups) {
                    for (Recompute rc : recomputes) {
                      if (!allowed(pin.recompute, rc) || (rc == Recompute::kSaveQkv && !pin.recompute)) continue;
                      // Sequence parallelism: on with tp > 1 unless pinned (a pinned set may try both).
                      std::vector<bool> sps{tp > 1};
                      if (pin.sequence_parallel) {
                        sps.clear();
                        for (bool want : *pin.sequence_parallel) {
                          if (std::find(sps.begin(), sps.end(), want && tp > 1) == sps.end())
                            sps.push_back(want && tp > 1);
                        }
                      }
                      for (bool sp : sps) {
                        PlanCandidate c;
                        c.plan = templ;
                        c.plan.tp = tp;
                        c.plan.cp = cp;
                        c.plan.pp = pp;
                        c.plan.dp = dp;
                        c.plan.ep = ep;
                        c.plan.expert_tp = etp;
                        c.plan.virtual_stages = v;
                        c.plan.schedule = schedule;
                        // DualPipe comes with its all-to-all overlap (the scenario's default for it);
                        // other schedules keep the scenario's setting unless that came with DualPipe.
                        c.plan.ep_comm_overlap = schedule == Schedule::kDualPipe ||
                                                 (templ.schedule != Schedule::kDualPipe && templ.ep_comm_overlap);
                        c.plan.micro_batch = mb;
                        c.plan.sharding = sh;
                        c.plan.shard_group = group;
                        c.plan.sequence_parallel = sp;
                        c.recompute = rc;
                        candidates.push_back(std::move(c));
                      }
                    }
                  }
                }
              }
            }
          }
        }
      }
    }
  }

  // The scenario's own plan (as written, with the fixes), wherever it falls.
  PlanCandidate own{t.plan, t.recompute};
  const std::string own_name = plan_string(own);
  result.plans.reserve(candidates.size() + 1);
  for (auto& c : candidates) {
    PlanEvaluation e;
    e.name = plan_string(c);
    e.candidate = std::move(c);
    if (e.name == own_name) {
      e.scenario_plan = true;
      result.scenario_plan = result.plans.size();
    }
    result.plans.push_back(std::move(e));
  }
  if (!result.scenario_plan) {
    PlanEvaluation e;
    e.name = own_name;
    e.candidate = own;
    e.scenario_plan = true;
    result.scenario_plan = result.plans.size();
    result.plans.push_back(std::move(e));
  }
  result.enumerated = result.plans.size();

  // 1-2: rules and memory, closed form.
  std::vector<std::size_t> survivors;
  const std::int64_t per_node = gpus_per_node(t.topology);
  for (std::size_t i = 0; i < result.plans.size(); ++i) {
    auto& e = result.plans[i];
    auto problems = workload::check_plan(e.candidate.plan, model, gpus, t.seq);
    if (problems.empty() && e.candidate.plan.ep_dispatcher == workload::EpDispatcher::kDeepEp && e.candidate.plan.ep > 1) {
      if (auto problem = workload::deepep_spread(e.candidate.plan, per_node, nullptr)) problems.push_back(*problem);
    }
    if (!problems.empty()) {
      e.status = PlanStatus::kInvalid;
      for (const auto& p : problems) e.reason += (e.reason.empty() ? "" : "; ") + p.key + ": " + p.message;
      ++result.invalid;
      continue;
    }
    const auto memory = workload::estimate_memory(model, memory_plan(t, e.candidate.plan, e.candidate.recompute));
    e.peak_memory_bytes = memory.total_bytes;
    if (memory.total_bytes > usable) {
      e.status = PlanStatus::kOutOfMemory;
      std::string largest;
      for (const auto& item : memory.largest())
        largest += (largest.empty() ? "" : ", ") + item.name + " " + gib(item.bytes);
      e.reason =
          gib(memory.total_bytes) + " per GPU" +
          (e.candidate.plan.pp > 1 ? " on stage " + std::to_string(memory.stage) : "") + " > " + gib(usable) +
          (o.headroom_bytes > 0.0 ? " (" + gib(t.memory_capacity) + " less " + gib(o.headroom_bytes) + " headroom)"
                                  : "") +
          " (largest: " + largest + ")";
      ++result.out_of_memory;
      continue;
    }
    survivors.push_back(i);
  }
  // 2b: keep, of each plan's recompute variants that fit, the one with the least recomputation (and the
  // scenario's own plan, whose rank the user wants).
  {
    std::map<std::string, std::pair<Recompute, std::size_t>> least;  // plan without rc -> least rc fitting
    auto stem = [](const PlanEvaluation& e) { return e.name.substr(0, e.name.rfind(" rc=")); };
    for (auto i : survivors) {
      const auto& e = result.plans[i];
      auto [it, inserted] = least.emplace(stem(e), std::pair{e.candidate.recompute, i});
      if (!inserted && e.candidate.recompute < it->second.first) it->second = {e.candidate.recompute, i};
    }
    std::vector<std::size_t> kept;
    for (auto i : survivors) {
      auto& e = result.plans[i];
      const auto& best = least.at(stem(e));
      if (e.candidate.recompute == best.first || e.scenario_plan) {
        kept.push_back(i);
        continue;
      }
      e.status = PlanStatus::kDominated;
      e.reason = "the same plan with rc=" + std::string(recompute_name(best.first)) +
                 " fits and recomputes less (never slower)";
      ++result.dominated;
    }
    survivors = std::move(kept);
  }

  // 3: every survivor at analytical fidelity, in parallel; results land in their own slots.
  const auto cost = compute::KernelCostModel::for_gpu(*t.catalog, *t.topology.gpu_spec,
                                                      compute::KernelCostModel::default_calibration_dir());
  auto run_phase = [&](const std::vector<std::size_t>& which, Fidelity fidelity, std::string_view phase, bool refine,
                       std::size_t done_before = 0, std::size_t total = 0) {
    if (total == 0) total = which.size();
    std::vector<std::optional<Simulated>> out(which.size());
    const auto errors = core::run_jobs(
        which.size(), o.threads,
        [&](std::size_t j) { out[j] = simulate_candidate(t, result.plans[which[j]].candidate, fidelity, cost); },
        [&](std::size_t done) {
          if (o.progress) o.progress(phase, done_before + done, total);
        });
    for (std::size_t j = 0; j < which.size(); ++j) {
      auto& e = result.plans[which[j]];
      if (errors[j]) {
        e.status = PlanStatus::kError;
        e.reason = (refine ? "refinement: " : "") + error_text(errors[j]);
        ++result.errors;
        continue;
      }
      if (!refine) e.analytical_step_time = out[j]->step_time;
      e.step_time = out[j]->step_time;
      e.mfu = out[j]->mfu;
      e.breakdown = out[j]->breakdown;
      e.refined = refine;
    }
  };
  if (o.dry_run) return result;
  // Plans whose step programs are identical are simulated once: the step simulator treats ZeRO-2 exactly
  // as ZeRO-1 (gradients reduce-scattered, parameters all-gathered; ZeRO-2 only saves memory), so a
  // zero2 plan takes its zero1 twin's result (and ranks by memory against it).
  std::vector<std::size_t> unique, twin_of(result.plans.size(), SIZE_MAX);
  {
    std::map<std::string, std::size_t> seen;
    auto program_key = [](const PlanEvaluation& e) {
      PlanCandidate c = e.candidate;
      if (c.plan.sharding == Sharding::kGradients) c.plan.sharding = Sharding::kOptimizer;
      return plan_string(c);
    };
    for (auto i : survivors) {
      const auto [it, inserted] = seen.emplace(program_key(result.plans[i]), i);
      if (inserted)
        unique.push_back(i);
      else
        twin_of[i] = it->second;
    }
  }
  // Lower bounds (serial: the shard and collective caches are shared), then the simulations.
  if (o.bound) {
    LowerBound bound(t, cost);
    for (auto i : unique) {
      auto& e = result.plans[i];
      try {
        e.lower_bound = bound(e.candidate);
      } catch (const std::exception&) {
        e.lower_bound = core::Duration::zero();  // no bound: simulated early, the simulation says what is wrong
      }
    }
  }
  if (!o.bound) {
    run_phase(unique, Fidelity::kAnalytical, "simulating", false);
  } else {
    // Increasing bound (then enumeration order); the scenario's own plan (or its twin) first, always simulated.
    const std::size_t own_root =
        result.scenario_plan
            ? (twin_of[*result.scenario_plan] == SIZE_MAX ? *result.scenario_plan : twin_of[*result.scenario_plan])
            : SIZE_MAX;
    std::vector<std::size_t> order = unique;
    std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
      if ((a == own_root) != (b == own_root)) return a == own_root;
      return result.plans[a].lower_bound < result.plans[b].lower_bound;
    });
    // The best K must be exact: the caller's top, the runner-up of the why-line, the plans to refine.
    std::size_t k = std::max<std::size_t>(o.keep, 2);
    if (t.collectives != Fidelity::kAnalytical) k = std::max(k, o.refine);
    std::vector<core::Duration> times;  // simulated analytical step times so far
    std::size_t next = 0;
    while (next < order.size()) {
      if (times.size() >= k) {
        std::nth_element(times.begin(), times.begin() + static_cast<std::ptrdiff_t>(k - 1), times.end());
        const core::Duration kth = times[k - 1];
        if (result.plans[order[next]].lower_bound > kth) {
          char why[160];
          for (std::size_t j = next; j < order.size(); ++j) {
            auto& e = result.plans[order[j]];
            std::snprintf(why, sizeof why, "lower bound %.6f s > %zu-th best simulated step time %.6f s",
                          e.lower_bound.seconds(), k, kth.seconds());
            e.status = PlanStatus::kPruned;
            e.reason = why;
          }
          break;
        }
      }
      const std::size_t end = std::min(order.size(), next + kBoundBatch);
      const std::vector<std::size_t> batch(order.begin() + static_cast<std::ptrdiff_t>(next),
                                           order.begin() + static_cast<std::ptrdiff_t>(end));
      run_phase(batch, Fidelity::kAnalytical, "simulating", false, next, order.size());
      for (auto i : batch) {
        if (result.plans[i].status == PlanStatus::kOk) times.push_back(result.plans[i].analytical_step_time);
      }
      next = end;
    }
    result.simulations = next;
  }
  for (auto i : survivors) {
    if (twin_of[i] == SIZE_MAX) continue;
    auto& e = result.plans[i];
    const auto& twin = result.plans[twin_of[i]];
    e.status = twin.status;
    e.lower_bound = twin.lower_bound;
    if (twin.status != PlanStatus::kOk) {
      e.reason = twin.reason;
      if (twin.status == PlanStatus::kError) ++result.errors;
      continue;
    }
    e.analytical_step_time = twin.analytical_step_time;
    e.step_time = twin.step_time;
    e.mfu = twin.mfu;
    e.breakdown = twin.breakdown;
    e.reason = "step simulated once for it and " + twin.name + " (the same step program)";
  }
  for (auto i : survivors) {
    if (result.plans[i].status == PlanStatus::kPruned) ++result.pruned;
  }
  result.simulated = survivors.size() - result.pruned;
  if (!o.bound) result.simulations = unique.size();

  auto ranked = [&result]() {
    std::vector<std::size_t> r;
    for (std::size_t i = 0; i < result.plans.size(); ++i) {
      if (result.plans[i].status == PlanStatus::kOk) r.push_back(i);
    }
    std::sort(r.begin(), r.end(), [&result](std::size_t a, std::size_t b) {
      const auto& pa = result.plans[a];
      const auto& pb = result.plans[b];
      if (pa.refined != pb.refined) return pa.refined;
      return ranks_before(pa, pb);
    });
    return r;
  };
  result.ranking = ranked();

  // 4: the best at the scenario's own fidelity.
  if (t.collectives != Fidelity::kAnalytical && o.refine > 0 && !result.ranking.empty()) {
    std::vector<std::size_t> top(
        result.ranking.begin(),
        result.ranking.begin() + static_cast<std::ptrdiff_t>(std::min(o.refine, result.ranking.size())));
    std::sort(top.begin(), top.end());
    run_phase(top, t.collectives, "refining", true);
    for (auto i : top) result.refined += result.plans[i].refined ? std::size_t{1} : std::size_t{0};
    result.ranking = ranked();
  }
  for (std::size_t k = 0; k < result.ranking.size(); ++k) result.plans[result.ranking[k]].rank = k + 1;
  if (result.scenario_plan && result.plans[*result.scenario_plan].status == PlanStatus::kOk) {
    const auto own_time = result.plans[*result.scenario_plan].analytical_step_time;
    for (const auto& e : result.plans) {
      if (e.status == PlanStatus::kPruned && e.lower_bound <= own_time) ++result.pruned_maybe_before_scenario_plan;
    }
  }
  return result;
}

std::string explain_win(const PlanEvaluation& best, const PlanEvaluation& runner_up) {
  // The tokens of the two plan strings that differ ("tp=8 pp=4" vs "tp=4 pp=8").
  auto tokens = [](const std::string& s) {
    std::vector<std::string> out;
    std::size_t start = 0;
    while (start <= s.size()) {
      const auto sp = s.find(' ', start);
      out.push_back(s.substr(start, sp == std::string::npos ? std::string::npos : sp - start));
      if (sp == std::string::npos) break;
      start = sp + 1;
    }
    return out;
  };
  const auto a = tokens(best.name), b = tokens(runner_up.name);
  std::string da, db;
  for (std::size_t i = 0; i < std::min(a.size(), b.size()); ++i) {
    if (a[i] != b[i]) {
      da += (da.empty() ? "" : " ") + a[i];
      db += (db.empty() ? "" : " ") + b[i];
    }
  }
  std::string line = da + " beats " + db + ": ";
  const core::Duration gap = runner_up.step_time - best.step_time;
  if (gap > core::Duration::zero()) {
    line += seconds(gap) + " faster (" + seconds(best.step_time) + " vs " + seconds(runner_up.step_time) + ")";
    // Breakdown items, runner-up minus best: positive = the best spends less there.
    std::vector<std::pair<std::string, core::Duration>> diffs;
    const auto& x = best.breakdown;
    const auto& y = runner_up.breakdown;
    diffs.emplace_back("compute", y.compute - x.compute);
    diffs.emplace_back("recompute", y.recompute - x.recompute);
    diffs.emplace_back("pipeline bubble", y.bubble - x.bubble);
    diffs.emplace_back("optimizer", y.optimizer - x.optimizer);
    diffs.emplace_back("other", y.other - x.other);
    for (auto d :
         {workload::Dim::kTp, workload::Dim::kCp, workload::Dim::kEp, workload::Dim::kDp, workload::Dim::kPp}) {
      auto get = [d](const workload::StepBreakdown& s) {
        const auto it = s.exposed.find(d);
        return it == s.exposed.end() ? core::Duration::zero() : it->second;
      };
      diffs.emplace_back("exposed " + std::string(workload::to_string(d)) + " communication", get(y) - get(x));
    }
    // Largest magnitude first; equal magnitudes keep the listed order (stable sort).
    std::stable_sort(diffs.begin(), diffs.end(), [](const auto& p, const auto& q) {
      return std::llabs(p.second.ps()) > std::llabs(q.second.ps());
    });
    int shown = 0;
    for (const auto& [name, d] : diffs) {
      if (shown == 3 || std::llabs(d.ps()) * 100 < gap.ps()) break;  // items under 1% of the gap are noise
      line += std::string(shown == 0 ? ": " : ", ") + seconds(d.ps() >= 0 ? d : core::Duration::zero() - d) +
              (d.ps() >= 0 ? " less " : " more ") + name;
      ++shown;
    }
  } else {
    line += "the same step time (" + seconds(best.step_time) + "); wins the tie-break on ";
    if (best.peak_memory_bytes != runner_up.peak_memory_bytes) {
      line += "peak memory (" + gib(best.peak_memory_bytes) + " vs " + gib(runner_up.peak_memory_bytes) + ")";
    } else {
      const auto& p = best.candidate.plan;
      const auto& q = runner_up.candidate.plan;
      if (p.tp * p.cp * p.pp != q.tp * q.cp * q.pp)
        line += "fewer GPUs per model replica";
      else if (best.candidate.recompute != runner_up.candidate.recompute)
        line += "less recomputation";
      else
        line += "the plan's name (alphabetical)";
    }
  }
  return line;
}

std::string nothing_feasible_message(const SearchResult& r) {
  std::string m = "no feasible plan: " + std::to_string(r.enumerated) + " enumerated, " + std::to_string(r.invalid) +
                  " break a plan rule, " + std::to_string(r.out_of_memory) + " do not fit in " +
                  gib(r.memory_capacity - r.headroom_bytes) + (r.headroom_bytes > 0.0 ? " (after the headroom)" : "") +
                  ", " + std::to_string(r.errors) + " failed to simulate";
  // The most common rule (first problem's key and message start) and the smallest memory need.
  std::map<std::string, std::size_t> rules;
  const PlanEvaluation* smallest = nullptr;
  for (const auto& e : r.plans) {
    if (e.status == PlanStatus::kInvalid) ++rules[e.reason.substr(0, e.reason.find(';'))];
    if (e.status == PlanStatus::kOutOfMemory &&
        (smallest == nullptr || e.peak_memory_bytes < smallest->peak_memory_bytes))
      smallest = &e;
  }
  if (!rules.empty()) {
    const auto top =
        std::max_element(rules.begin(), rules.end(), [](const auto& a, const auto& b) { return a.second < b.second; });
    m += "; most common rule broken (" + std::to_string(top->second) + " plans): " + top->first;
  }
  if (smallest != nullptr) m += "; smallest memory need: " + smallest->name + " needs " + smallest->reason;
  m += ". Loosen --fix / --max-* limits, or use more GPUs (see the --csv list for every plan's reason)";
  return m;
}

std::string search_csv(const SearchResult& r) {
  std::string out =
      "index,plan,status,reason,tp,cp,pp,virtual_stages,dp,ep,micro_batch,schedule,sharding,shard_group,recompute,"
      "sequence_"
      "parallel,"
      "scenario_plan,peak_memory_gib,analytical_step_time_s,step_time_s,refined,mfu,rank,compute_s,recompute_s,"
      "exposed_tp_s,exposed_cp_s,exposed_ep_s,exposed_pp_s,exposed_dp_s,bubble_s,optimizer_s,other_s,lower_bound_s\n";
  auto quoted = [](const std::string& s) {
    std::string q = "\"";
    for (char c : s) q += c == '"' ? std::string("\"\"") : std::string(1, c);
    return q + "\"";
  };
  auto num = [](double v) {
    char buf[40];
    std::snprintf(buf, sizeof buf, "%.9g", v);
    return std::string(buf);
  };
  for (std::size_t i = 0; i < r.plans.size(); ++i) {
    const auto& e = r.plans[i];
    const auto& p = e.candidate.plan;
    out += str(static_cast<std::int64_t>(i)) + "," + quoted(e.name) + "," + std::string(to_string(e.status)) + "," +
           quoted(e.reason) + "," + str(p.tp) + "," + str(p.cp) + "," + str(p.pp) + "," + str(p.virtual_stages) + "," +
           str(p.dp) + "," + str(p.ep) + "," + str(p.micro_batch) + "," + std::string(workload::to_string(p.schedule)) +
           "," + std::string(sharding_key(p.sharding)) + "," + str(p.shard_size()) + "," +
           std::string(recompute_name(e.candidate.recompute)) + "," + (p.sequence_parallel ? "true" : "false") + "," +
           (e.scenario_plan ? "true" : "false") + ",";
    out += e.status == PlanStatus::kInvalid ? "," : num(e.peak_memory_bytes / kGiB) + ",";
    const std::string bound = e.lower_bound > core::Duration::zero() ? num(e.lower_bound.seconds()) : std::string();
    if (e.status != PlanStatus::kOk) {
      out += ",,,,,,,,,,,,,," + bound + "\n";
      continue;
    }
    const auto& b = e.breakdown;
    auto exposed = [&b](workload::Dim d) {
      const auto it = b.exposed.find(d);
      return it == b.exposed.end() ? 0.0 : it->second.seconds();
    };
    out += num(e.analytical_step_time.seconds()) + "," + num(e.step_time.seconds()) + "," +
           (e.refined ? "true" : "false") + "," + num(e.mfu) + "," + str(static_cast<std::int64_t>(e.rank)) + "," +
           num(b.compute.seconds()) + "," + num(b.recompute.seconds()) + "," + num(exposed(workload::Dim::kTp)) + "," +
           num(exposed(workload::Dim::kCp)) + "," + num(exposed(workload::Dim::kEp)) + "," +
           num(exposed(workload::Dim::kPp)) + "," + num(exposed(workload::Dim::kDp)) + "," + num(b.bubble.seconds()) +
           "," + num(b.optimizer.seconds()) + "," + num(b.other.seconds()) + "," + bound + "\n";
  }
  return out;
}

}  // namespace mfusim::scenario
