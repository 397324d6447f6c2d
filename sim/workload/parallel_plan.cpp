#include "workload/parallel_plan.hpp"

#include <algorithm>
#include <map>

#include "core/error.hpp"

namespace mfusim::workload {
namespace {

std::string divisors(std::int64_t n, std::int64_t limit = 1 << 30) {
  std::string s;
  for (std::int64_t d = 1; d <= n && d <= limit; ++d) {
    if (n % d == 0) s += (s.empty() ? "" : ", ") + std::to_string(d);
  }
  return s;
}

std::string str(std::int64_t v) { return std::to_string(v); }

}  // namespace

std::int64_t layers_at_position(std::int64_t layers, std::int64_t positions, std::int64_t pos, std::int64_t first_count,
                                std::int64_t last_count) {
  if ((first_count > 0 || last_count > 0) && positions > 1) {
    if (first_count > 0 && pos == 0) return first_count;
    if (last_count > 0 && pos == positions - 1) return last_count;
    const std::int64_t rest = layers - std::max<std::int64_t>(0, first_count) - std::max<std::int64_t>(0, last_count);
    const std::int64_t others = positions - (first_count > 0 ? 1 : 0) - (last_count > 0 ? 1 : 0);
    return others > 0 ? layers_at_position(rest, others, pos - (first_count > 0 ? 1 : 0)) : 0;
  }
  const std::int64_t base = layers / positions, extra = layers % positions;
  if (extra == 0) return base;
  // Middle positions [1, 1 + extra) when they suffice, else the first `extra` positions.
  const std::int64_t first = extra <= positions - 2 ? 1 : 0;
  return base + (pos >= first && pos < first + extra ? 1 : 0);
}

std::int64_t first_layer_at_position(std::int64_t layers, std::int64_t positions, std::int64_t pos, std::int64_t first,
                                     std::int64_t last) {
  std::int64_t begin = 0;
  for (std::int64_t q = 0; q < pos; ++q) begin += layers_at_position(layers, positions, q, first, last);
  return begin;
}

std::pair<std::int64_t, std::int64_t> blocks_at_position(const ModelSpec& m, std::int64_t positions, std::int64_t pos,
                                                         std::int64_t first, std::int64_t last) {
  const std::int64_t begin = first_layer_at_position(m.layers, positions, pos, first, last);
  const std::int64_t end = begin + layers_at_position(m.layers, positions, pos, first, last) + (pos == positions - 1 ? m.mtp_layers : 0);
  return {begin, end};
}

std::vector<Dim> default_order() { return {Dim::kTp, Dim::kCp, Dim::kEp, Dim::kDp, Dim::kPp}; }

std::string_view to_string(Dim d) {
  switch (d) {
    case Dim::kTp: return "tp";
    case Dim::kCp: return "cp";
    case Dim::kEp: return "ep";
    case Dim::kDp: return "dp";
    case Dim::kPp: return "pp";
  }
  return "?";
}

std::vector<PlanProblem> check_plan(const ParallelPlan& p, const ModelSpec& m, std::int64_t gpus, std::int64_t seq) {
  std::vector<PlanProblem> out;
  auto add = [&out](std::string key, std::string message) { out.push_back({std::move(key), std::move(message)}); };
  for (auto [key, v] : {std::pair{"tp", p.tp}, {"pp", p.pp}, {"dp", p.dp}, {"cp", p.cp}, {"ep", p.ep},
                        {"expert_tp", p.expert_tp_size()}, {"virtual_stages", p.virtual_stages},
                        {"micro_batch", p.micro_batch}, {"global_batch", p.global_batch}}) {
    if (v < 1) add(key, str(v) + " must be at least 1");
  }
  if (!out.empty()) return out;
  if (p.gpus() != gpus) {
    const std::int64_t others = p.tp * p.pp * p.cp;
    std::string message = "tp x pp x dp x cp = " + str(p.tp) + " x " + str(p.pp) + " x " + str(p.dp) + " x " + str(p.cp) +
                          " = " + str(p.gpus()) + " GPUs, but the cluster has " + str(gpus);
    if (gpus % others == 0) message += " (with these tp, pp, cp: dp = " + str(gpus / others) + ")";
    add("dp", message);
  }
  if (m.heads % p.tp != 0) add("tp", str(p.tp) + " does not divide heads=" + str(m.heads) + " (valid: " + divisors(m.heads) + ")");
  else if (m.kv_heads % p.tp != 0 && p.tp % m.kv_heads != 0) {
    add("tp", str(p.tp) + " and kv_heads=" + str(m.kv_heads) + " must divide one another (KV heads are split or replicated)");
  }
  // Layers need not divide evenly: stages then hold floor or ceil(layers / (pp x v)) layers, as with
  // Megatron's --decoder-first/last-pipeline-num-layers (Llama 3.1 405B: 126 layers on 16 stages).
  if (p.pp * p.virtual_stages > m.layers) {
    add(p.virtual_stages > 1 ? "virtual_stages" : "pp",
        "pp x virtual_stages = " + str(p.pp * p.virtual_stages) + " model chunks for " + str(m.layers) +
            " layers (valid: at most " + str(m.layers) + "; even splits: " + divisors(m.layers) + ")");
  }
  if (p.first_stage_layers < 0) add("first_stage_layers", str(p.first_stage_layers) + " must be at least 0 (0: automatic)");
  if (p.last_stage_layers < 0) add("last_stage_layers", str(p.last_stage_layers) + " must be at least 0 (0: automatic)");
  if ((p.first_stage_layers > 0 || p.last_stage_layers > 0) && out.empty() && p.pp * p.virtual_stages <= m.layers) {
    // Every position keeps at least one layer; the two ends set alone must hold all of them.
    const std::int64_t positions = p.positions();
    const std::int64_t set = (p.first_stage_layers > 0 ? 1 : 0) + (p.last_stage_layers > 0 ? 1 : 0);
    const std::int64_t rest = m.layers - p.first_stage_layers - p.last_stage_layers;
    const std::string key = p.first_stage_layers > 0 ? "first_stage_layers" : "last_stage_layers";
    if (positions < 2) {
      add(key, "needs at least two pipeline positions (pp x virtual_stages = " + str(positions) + ")");
    } else if (rest < positions - set || (positions == set && rest != 0)) {
      add(key, "first_stage_layers " + str(p.first_stage_layers) + " + last_stage_layers " + str(p.last_stage_layers) + " leave " +
                   str(rest) + " of " + str(m.layers) + " layers for the other " + str(positions - set) +
                   " pipeline positions (valid: each of them at least 1 layer" + (positions == set ? ", and the two ends all of them" : "") + ")");
    }
  }
  if (m.moe) {
    if (m.moe->experts % p.ep != 0) add("ep", str(p.ep) + " does not divide experts=" + str(m.moe->experts) + " (valid: " + divisors(m.moe->experts) + ")");
    const std::int64_t stage_ranks = p.tp * p.cp * p.dp;
    if (stage_ranks % (p.ep * p.expert_tp_size()) != 0) {
      std::string valid;
      for (std::int64_t e = 1; e <= m.moe->experts; ++e) {
        if (m.moe->experts % e == 0 && stage_ranks % (e * p.expert_tp_size()) == 0) valid += (valid.empty() ? "" : ", ") + str(e);
      }
      add("ep", "ep x expert_tp = " + str(p.ep) + " x " + str(p.expert_tp_size()) + " must divide tp x cp x dp = " + str(stage_ranks) +
                    " (the ranks of a pipeline stage, over which experts are placed; valid ep: " + valid + ")");
    } else if (!RankLayout(p).expert_pipeline_matches() ||
               (p.pp > 1 && !p.order.empty() && p.order.back() != Dim::kPp && p.expert_dp() != p.dp)) {
      // Megatron-Core (parallel_state.py): both generators must give the same pipeline groups, and an
      // order without pp last needs the expert and dense data-parallel sizes equal.
      add("order", "with ep=" + str(p.ep) + " and expert_tp=" + str(p.expert_tp_size()) + " the expert placement's pipeline groups or "
                   "data-parallel size differ from the dense layers' (Megatron-Core requires them equal unless pp is last; valid: an "
                   "order ending in pp, e.g. tp-cp-ep-dp-pp)");
    }
    if (m.moe->expert_ffn % p.expert_tp_size() != 0) {
      add("expert_tp", str(p.expert_tp_size()) + (p.expert_tp > 0 ? "" : " (= tp, the default)") + " does not divide expert_ffn=" +
                           str(m.moe->expert_ffn) + " (valid: " + divisors(m.moe->expert_ffn) + ")");
    }
    if (p.tp > 1 && !p.sequence_parallel) {
      // Megatron-LM (arguments.py): "When using MoE and tensor parallelism, sequence parallelism must be used."
      add("sequence_parallel", "an MoE model with tp > 1 needs sequence parallelism (Megatron-LM's rule: each TP rank "
                               "routes its own tokens; valid: true)");
    }
  } else if (p.ep > 1) {
    add("ep", "ep=" + str(p.ep) + " but " + m.name + " has no experts (valid: 1)");
  }
  if (seq % (p.cp > 1 ? 2 * p.cp : 1) != 0) {
    add("cp", "sequence length " + str(seq) + " is not divisible by 2 x cp = " + str(2 * p.cp) +
                  " (the load-balanced causal split gives each rank two chunks)");
  }
  if (p.global_batch % (p.micro_batch * p.dp) != 0) {
    add("micro_batch", "micro_batch x dp = " + str(p.micro_batch) + " x " + str(p.dp) + " does not divide global_batch=" +
                           str(p.global_batch) + " (valid micro_batch: " +
                           (p.global_batch % p.dp == 0 ? divisors(p.global_batch / p.dp) : std::string("none: dp must divide global_batch")) + ")");
  }
  if (p.schedule == PipelineSchedule::kInterleaved) {
    if (p.virtual_stages < 2) add("virtual_stages", "the interleaved schedule needs virtual_stages >= 2");
    if (p.pp < 2) add("schedule", "the interleaved schedule needs pp >= 2 (with pp = 1, set virtual_stages: 1 and schedule: 1f1b)");
    if (p.global_batch % (p.micro_batch * p.dp) == 0 && p.microbatches() % p.pp != 0) {
      add("global_batch", "the interleaved schedule needs micro-batches (" + str(p.microbatches()) + ") to be a multiple of pp=" + str(p.pp));
    }
  } else if (p.virtual_stages > 1) {
    add("virtual_stages", str(p.virtual_stages) + " virtual stages need schedule: interleaved");
  }
  if (p.schedule == PipelineSchedule::kDualPipe && p.pp % 2 != 0) add("pp", "dualpipe needs an even pp, not " + str(p.pp));
  if (p.schedule == PipelineSchedule::kDualPipe && p.global_batch % (p.micro_batch * p.dp) == 0 &&
      (p.microbatches() < 2 * p.pp || p.microbatches() % 2 != 0)) {
    add("micro_batch", "dualpipe needs an even number of micro-batches per pipeline, at least 2 x pp = " + str(2 * p.pp) +
                       " (half enter at each end; DeepSeek's DualPipe asserts it); global_batch / (micro_batch x dp) = " +
                       str(p.microbatches()));
  }
  if (p.sequence_parallel && p.tp == 1) add("sequence_parallel", "sequence parallelism needs tp > 1");
  if (!(p.moe_imbalance >= 1.0)) add("moe_imbalance", "must be at least 1 (1 = perfectly balanced experts)");
  return out;
}

Shard shard_of(const ParallelPlan& p, bool flash_attention, bool dropout, bool eager, bool cudnn_attention) {
  Shard s{p.tp, p.cp, p.ep, p.expert_tp_size(), p.sequence_parallel, p.moe_imbalance, false};
  s.flash_attention = flash_attention;
  s.cudnn_attention = cudnn_attention;
  s.dropout = dropout;
  s.eager = eager;
  return s;
}

RankLayout::RankLayout(const ParallelPlan& plan) : plan_(plan) {
  const bool has_ep = std::find(plan.order.begin(), plan.order.end(), Dim::kEp) != plan.order.end();
  for (Dim d : plan.order) {
    if (d != Dim::kEp) order_.push_back(d);
    if (d == Dim::kDp && !has_ep) expert_order_.push_back(Dim::kEp);
    if (d != Dim::kCp) expert_order_.push_back(d);
  }
  MFUSIM_CHECK(order_.size() == 4, "placement order must name tp, cp, dp and pp once each");
}

std::int64_t RankLayout::expert_size(Dim d) const {
  switch (d) {
    case Dim::kTp: return std::max<std::int64_t>(1, plan_.expert_tp_size());
    case Dim::kEp: return std::max<std::int64_t>(1, plan_.ep);
    case Dim::kDp: return plan_.expert_dp();
    case Dim::kPp: return plan_.pp;
    case Dim::kCp: return 1;
  }
  return 1;
}

namespace {
// Mixed-radix placement (Megatron's RankGenerator): `order` lists the dimensions fastest-varying first,
// `size(d)` their extents; a dimension's stride is the product of the extents before it (for a
// dimension not in the order, of all of them).
template <class Size>
std::int64_t stride_of(const std::vector<Dim>& order, Dim d, Size size) {
  std::int64_t stride = 1;
  for (Dim x : order) {
    if (x == d) break;
    stride *= size(x);
  }
  return stride;
}
template <class Size>
std::int64_t coord_of(const std::vector<Dim>& order, std::int64_t rank, Dim d, Size size) {
  if (std::find(order.begin(), order.end(), d) == order.end()) return 0;
  return (rank / stride_of(order, d, size)) % size(d);
}
}  // namespace

std::int64_t RankLayout::expert_coord(std::int64_t rank, Dim d) const {
  return coord_of(expert_order_, rank, d, [this](Dim x) { return expert_size(x); });
}

std::vector<std::int64_t> RankLayout::expert_group_of(std::int64_t r, Dim d) const {
  const std::int64_t stride = stride_of(expert_order_, d, [this](Dim x) { return expert_size(x); });
  const std::int64_t n = expert_size(d);
  const std::int64_t base = r - expert_coord(r, d) * stride;
  std::vector<std::int64_t> g;
  g.reserve(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) g.push_back(base + i * stride);
  return g;
}

bool RankLayout::expert_pipeline_matches() const {
  return stride_of(order_, Dim::kPp, [this](Dim x) { return size(x); }) ==
         stride_of(expert_order_, Dim::kPp, [this](Dim x) { return expert_size(x); });
}

std::int64_t RankLayout::size(Dim d) const {
  switch (d) {
    case Dim::kTp: return plan_.tp;
    case Dim::kCp: return plan_.cp;
    case Dim::kEp: return plan_.ep;
    case Dim::kDp: return plan_.dp;
    case Dim::kPp: return plan_.pp;
  }
  return 1;
}

std::int64_t RankLayout::rank(std::int64_t tp, std::int64_t cp, std::int64_t dp, std::int64_t pp) const {
  std::int64_t r = 0, stride = 1;
  for (Dim d : order_) {
    const std::int64_t c = d == Dim::kTp ? tp : d == Dim::kCp ? cp : d == Dim::kDp ? dp : pp;
    r += c * stride;
    stride *= size(d);
  }
  return r;
}

std::int64_t RankLayout::coord(std::int64_t rank, Dim d) const {
  if (d == Dim::kEp) return expert_coord(rank, Dim::kEp);
  return coord_of(order_, rank, d, [this](Dim x) { return size(x); });
}

std::vector<std::int64_t> RankLayout::group_of(std::int64_t r, Dim d) const {
  const std::int64_t tp = coord(r, Dim::kTp), cp = coord(r, Dim::kCp), dp = coord(r, Dim::kDp), pp = coord(r, Dim::kPp);
  std::vector<std::int64_t> g;
  switch (d) {
    case Dim::kTp: for (std::int64_t i = 0; i < plan_.tp; ++i) g.push_back(rank(i, cp, dp, pp)); break;
    case Dim::kCp: for (std::int64_t i = 0; i < plan_.cp; ++i) g.push_back(rank(tp, i, dp, pp)); break;
    case Dim::kDp: for (std::int64_t i = 0; i < plan_.dp; ++i) g.push_back(rank(tp, cp, i, pp)); break;
    case Dim::kPp: for (std::int64_t i = 0; i < plan_.pp; ++i) g.push_back(rank(tp, cp, dp, i)); break;
    case Dim::kEp: return expert_group_of(r, Dim::kEp);
  }
  return g;
}

std::vector<std::int64_t> RankLayout::dp_cp_group_of(std::int64_t r) const {
  const std::int64_t tp = coord(r, Dim::kTp), pp = coord(r, Dim::kPp);
  std::vector<std::int64_t> g;
  g.reserve(static_cast<std::size_t>(plan_.dp * plan_.cp));
  for (std::int64_t dp = 0; dp < plan_.dp; ++dp) {
    for (std::int64_t cp = 0; cp < plan_.cp; ++cp) g.push_back(rank(tp, cp, dp, pp));
  }
  return g;
}

std::vector<std::int64_t> RankLayout::expert_tp_group_of(std::int64_t r) const { return expert_group_of(r, Dim::kTp); }

std::vector<std::int64_t> RankLayout::expert_dp_group_of(std::int64_t r) const { return expert_group_of(r, Dim::kDp); }

std::vector<std::vector<std::int64_t>> RankLayout::groups(Dim d) const {
  std::vector<std::vector<std::int64_t>> out;
  std::vector<bool> seen(static_cast<std::size_t>(plan_.gpus()), false);
  for (std::int64_t r = 0; r < plan_.gpus(); ++r) {
    if (seen[static_cast<std::size_t>(r)]) continue;
    auto g = group_of(r, d);
    for (auto x : g) seen[static_cast<std::size_t>(x)] = true;
    out.push_back(std::move(g));
  }
  return out;
}

std::optional<PlanProblem> deepep_spread(const ParallelPlan& plan, std::int64_t gpus_per_node, EpSpread* spread) {
  if (gpus_per_node < 1) {
    return PlanProblem{"ep_dispatcher", "deepep needs a cluster of equal nodes numbered node by node (the GPUs per node are not known)"};
  }
  const RankLayout layout(plan);
  std::optional<EpSpread> common;
  for (const auto& group : layout.groups(Dim::kEp)) {
    std::map<std::int64_t, std::int64_t> members;  // node -> members on it
    for (std::int64_t r : group) ++members[r / gpus_per_node];
    const EpSpread s{static_cast<std::int64_t>(members.size()), members.begin()->second};
    for (const auto& [node, n] : members) {
      if (n != s.per_node) {
        return PlanProblem{"ep_dispatcher", "deepep needs each EP group to put as many members on every node it spans; the group of rank " +
                                                str(group.front()) + " has " + str(s.per_node) + " on node " + str(members.begin()->first) +
                                                " and " + str(n) + " on node " + str(node) + " (valid: ep_dispatcher alltoall, or an ep and "
                                                "order that spread EP groups evenly over nodes of " + str(gpus_per_node) + " GPUs)"};
      }
    }
    if (common && (common->nodes != s.nodes || common->per_node != s.per_node)) {
      const auto spans = [](const EpSpread& x) {
        return str(x.nodes) + (x.nodes == 1 ? " node" : " nodes") + " with " + str(x.per_node) + " on each";
      };
      return PlanProblem{"ep_dispatcher", "deepep needs every EP group spread alike over nodes of " + str(gpus_per_node) +
                                              " GPUs; the group of rank " + str(group.front()) + " spans " + spans(s) + ", the first " +
                                              spans(*common) + " (valid: ep_dispatcher alltoall, or an ep whose groups tile the nodes)"};
    }
    common = s;
  }
  if (spread != nullptr && common) *spread = *common;
  return std::nullopt;
}

std::vector<std::int64_t> ep_node_group(const std::vector<std::int64_t>& ep_group, std::int64_t rank, std::int64_t gpus_per_node) {
  std::vector<std::int64_t> out;
  for (std::int64_t r : ep_group) {
    if (r / gpus_per_node == rank / gpus_per_node) out.push_back(r);
  }
  return out;
}

std::vector<std::int64_t> ep_rail_group(const std::vector<std::int64_t>& ep_group, std::int64_t rank, std::int64_t gpus_per_node) {
  const auto own = ep_node_group(ep_group, rank, gpus_per_node);
  const auto place = std::find(own.begin(), own.end(), rank) - own.begin();
  std::map<std::int64_t, std::vector<std::int64_t>> by_node;
  for (std::int64_t r : ep_group) by_node[r / gpus_per_node].push_back(r);
  std::vector<std::int64_t> out;
  for (const auto& [node, members] : by_node) {
    if (place < static_cast<std::ptrdiff_t>(members.size())) out.push_back(members[static_cast<std::size_t>(place)]);
  }
  return out;
}

namespace {
// Probability that none of `hits` given items is among `draws` drawn without replacement from `total`:
// C(total - hits, draws) / C(total, draws).
double miss_probability(double total, double hits, std::int64_t draws) {
  double p = 1.0;
  for (std::int64_t i = 0; i < draws; ++i) {
    const double left = total - hits - static_cast<double>(i);
    if (left <= 0.0) return 0.0;
    p *= left / (total - static_cast<double>(i));
  }
  return p;
}
}  // namespace

DeepEpFanout deepep_fanout(std::int64_t experts, std::int64_t top_k, std::int64_t max_nodes, EpSpread spread) {
  const std::int64_t m = max_nodes > 0 ? std::min(max_nodes, spread.nodes) : spread.nodes;
  const double per_node = static_cast<double>(experts) / static_cast<double>(spread.nodes);  // experts a node holds
  const double candidates = static_cast<double>(m) * per_node;
  const std::int64_t k = std::min<std::int64_t>(top_k, static_cast<std::int64_t>(candidates));
  DeepEpFanout f;
  f.nodes = static_cast<double>(m) * (1.0 - miss_probability(candidates, per_node, k));
  f.gpus = static_cast<double>(m * spread.per_node) *
           (1.0 - miss_probability(candidates, per_node / static_cast<double>(spread.per_node), k));
  return f;
}

}  // namespace mfusim::workload
