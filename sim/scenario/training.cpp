#include "scenario/training.hpp"

#include <algorithm>
#include <array>
#include <cstdio>
#include <string>
#include <vector>

#include "config/config_error.hpp"
#include "core/error.hpp"
#include "core/strings.hpp"
#include "topology/cluster_builder.hpp"

namespace mfusim::scenario {

std::int64_t gpus_per_node(const topology::Topology& topology) {
  if (topology.node_count() == 0) return 0;
  const std::size_t n = topology.gpu_count() / topology.node_count();
  if (n == 0 || n * topology.node_count() != topology.gpu_count()) return 0;
  for (std::size_t gpu = 0; gpu < topology.gpu_count(); ++gpu) {
    if (topology.node_of(static_cast<topology::GpuIndex>(gpu)) != gpu / n) return 0;
  }
  return static_cast<std::int64_t>(n);
}
namespace {

using config::Choice;
using config::Reader;
using workload::Dim;
using workload::PipelineSchedule;
using workload::Recompute;
using workload::Sharding;

constexpr std::array<Choice<PipelineSchedule>, 5> kSchedules{{
    {"gpipe", PipelineSchedule::kGpipe, "all forwards, then all backwards"},
    {"1f1b", PipelineSchedule::kOneFOneB, "one-forward-one-backward (PipeDream-Flush)"},
    {"interleaved", PipelineSchedule::kInterleaved, "Megatron's interleaved 1F1B over virtual_stages chunks"},
    {"zb-h1", PipelineSchedule::kZeroBubbleH1, "zero-bubble H1 (split weight gradients)"},
    {"dualpipe", PipelineSchedule::kDualPipe, "DeepSeek-V3's bidirectional pipeline"},
}};
constexpr std::array<Choice<Sharding>, 8> kSharding{{
    {"none", Sharding::kNone, "plain data parallelism"},
    {"optimizer", Sharding::kOptimizer, "distributed optimizer / ZeRO-1"},
    {"zero1", Sharding::kOptimizer, "ZeRO-1"},
    {"gradients", Sharding::kGradients, "ZeRO-2"},
    {"zero2", Sharding::kGradients, "ZeRO-2"},
    {"parameters", Sharding::kParameters, "ZeRO-3"},
    {"zero3", Sharding::kParameters, "ZeRO-3"},
    {"fsdp", Sharding::kParameters, "PyTorch FSDP (full sharding)"},
}};
constexpr std::array<Choice<Recompute>, 4> kRecompute{
    {{"none", Recompute::kNone, ""},
     {"selective", Recompute::kSelective, "Megatron: the attention core"},
     {"full", Recompute::kFull, "every layer's forward"},
     {"save_qkv_proj", Recompute::kSaveQkv, "MaxText's remat policy: all but the q/k/v projections"}}};
constexpr std::array<Choice<hardware::Dtype>, 3> kPrecision{{{"bf16", hardware::Dtype::kBf16, "bf16 GEMMs"},
                                                            {"fp16", hardware::Dtype::kFp16, "fp16 GEMMs (as fast as bf16)"},
                                                            {"fp8", hardware::Dtype::kFp8, "fp8 GEMMs (Transformer Engine)"}}};
constexpr std::array<Choice<double>, 3> kGradReduceDtypes{{{"fp32", 4.0, "fp32 gradient buffer and reduction (Megatron's default for bf16)"},
                                                         {"bf16", 2.0, "bf16 (Megatron --grad-reduce-in-bf16)"},
                                                         {"fp16", 2.0, "fp16 (Megatron's default for fp16 training)"}}};
constexpr std::array<Choice<Fidelity>, 2> kFidelity{{{"analytical", Fidelity::kAnalytical, "closed-form, no contention"},
                                                     {"flow", Fidelity::kFlow, "max-min flows sharing links"}}};
constexpr std::array<Choice<workload::EpDispatcher>, 2> kEpDispatchers{
    {{"alltoall", workload::EpDispatcher::kAllToAll, "Megatron-Core's all-to-all dispatcher: an NCCL all-to-all of every routed copy"},
     {"deepep", workload::EpDispatcher::kDeepEp, "DeepSeek's DeepEP: once per node over InfiniBand, then NVLink"}}};
constexpr std::array<Choice<workload::ContextParallel>, 2> kCpKinds{
    {{"ring", workload::ContextParallel::kRing, ""}, {"all-gather", workload::ContextParallel::kAllGather, ""}}};

std::vector<Dim> parse_order(Reader& r, std::string_view key, const std::string& text) {
  std::vector<Dim> out;
  std::size_t start = 0;
  while (start <= text.size()) {
    const auto dash = text.find('-', start);
    const std::string part = text.substr(start, dash == std::string::npos ? std::string::npos : dash - start);
    Dim d;
    if (part == "tp") d = Dim::kTp;
    else if (part == "cp") d = Dim::kCp;
    else if (part == "ep") d = Dim::kEp;
    else if (part == "dp") d = Dim::kDp;
    else if (part == "pp") d = Dim::kPp;
    else r.fail(key, "'" + part + "' is not a parallel dimension (valid: tp, cp, ep, dp, pp; e.g. tp-cp-ep-dp-pp)");
    if (std::find(out.begin(), out.end(), d) != out.end()) r.fail(key, "'" + part + "' appears twice");
    out.push_back(d);
    if (dash == std::string::npos) break;
    start = dash + 1;
  }
  for (Dim d : {Dim::kTp, Dim::kCp, Dim::kDp, Dim::kPp}) {
    if (std::find(out.begin(), out.end(), d) == out.end()) {
      r.fail(key, "'" + text + "' must name tp, cp, dp and pp (and optionally ep), e.g. tp-cp-ep-dp-pp");
    }
  }
  return out;
}

// Plan errors are InfeasiblePlan (training.hpp): same text, a distinct type.
[[noreturn]] void infeasible(const Reader& r, std::string_view key, const std::string& message) {
  try {
    if (key.empty()) r.fail_here(message);
    r.fail(key, message);
  } catch (const config::ConfigError& e) {
    throw InfeasiblePlan(e.mark(), e.key_path(), e.message());
  }
}

std::string gib(double bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f GiB", bytes / (1024.0 * 1024.0 * 1024.0));
  return buf;
}

// training.recompute_modules: Megatron-Core's --recompute-modules names (workload::RecomputeModule).
// Read whatever training.recompute is (a sweep may switch it), used by recompute: selective only (mfusim
// run says so in a note).
workload::RecomputeModules read_recompute_modules(Reader& tr, const workload::ModelSpec& model) {
  const auto& kModules = workload::kRecomputeModuleTable;
  std::string valid;
  for (const auto& m : kModules) valid += (valid.empty() ? "" : ", ") + std::string(m.name) + " (" + std::string(m.what) + ")";
  const auto names = tr.list<std::string>("recompute_modules");
  if (names.empty()) tr.fail("recompute_modules", "is empty: list what selective recomputation reruns (valid: " + valid + "), or set recompute: none");
  workload::RecomputeModules set = 0;
  bool dense_layer = false;
  for (std::int64_t l = 0; l < model.layers; ++l) dense_layer = dense_layer || !model.is_moe_layer(l);
  for (const std::string& name : names) {
    const auto it = std::find_if(kModules.begin(), kModules.end(), [&](const workload::RecomputeModuleInfo& m) { return m.name == name; });
    if (it == kModules.end()) {
      if (name == "moe" || name == "shared_experts") {
        tr.fail("recompute_modules", "'" + name + "' (Megatron-Core recomputes the MoE layer with its token dispatch) is not modelled; valid: " + valid);
      }
      tr.fail("recompute_modules", "unknown module '" + name + "'; valid: " + valid);
    }
    if ((set & it->bit) != 0) tr.fail("recompute_modules", "'" + name + "' is listed twice");
    if (it->bit == workload::kRecomputeMlaUpProjection && !model.mla) tr.fail("recompute_modules", "mla_up_proj needs a model with MLA attention (model '" + model.name + "' has none)");
    if (it->bit == workload::kRecomputeMoeActivation && !model.moe) tr.fail("recompute_modules", "moe_act needs an MoE model (model '" + model.name + "' has no experts)");
    if (it->bit == workload::kRecomputeMlp && !dense_layer) tr.fail("recompute_modules", "mlp recomputes dense MLPs; model '" + model.name + "' has none (every layer is MoE: moe_act)");
    set |= it->bit;
  }
  return set;
}

// What would lower the peak of a plan that does not fit, leaving out what it already does.
std::string memory_remedies(const TrainingSetup& t) {
  std::vector<std::string> r;
  if (t.recompute != workload::Recompute::kFull) r.emplace_back("training.recompute: full");
  if (t.plan.sharding == workload::Sharding::kNone) r.emplace_back("parallel.sharding: optimizer");
  else if (t.plan.sharding != workload::Sharding::kParameters) r.emplace_back("parallel.sharding: parameters");
  if (t.plan.pp > 1 && t.plan.schedule == workload::PipelineSchedule::kGpipe) r.emplace_back("parallel.schedule: 1f1b");
  r.emplace_back("a larger tp or pp");
  if (t.plan.micro_batch > 1) r.emplace_back("a smaller training.micro_batch");
  std::string out;
  for (std::size_t i = 0; i < r.size(); ++i) out += (i == 0 ? "" : i + 1 == r.size() ? ", or " : ", ") + r[i];
  return out;
}
}  // namespace

workload::MemoryPlan memory_plan(const TrainingSetup& t) {
  return memory_plan(t, t.plan, t.recompute);
}

workload::MemoryPlan memory_plan(const TrainingSetup& t, const workload::ParallelPlan& p, workload::Recompute recompute) {
  workload::MemoryPlan m;
  m.shard = workload::shard_of(p, t.flash_attention, t.dropout > 0.0, t.eager);
  m.shard.recompute_modules = t.recompute_modules;
  m.fp8_activations = t.fp8_activations;
  m.bf16_moments = t.bf16_moments;
  // Eager PyTorch's activation and state accounting (memory_model.hpp), as for the single-GPU ground truth.
  m.eager_swiglu = m.eager_loss = m.fp32_residual = m.grads_on_demand = t.eager;
  m.pp = p.pp;
  m.virtual_stages = p.virtual_stages;
  m.first_stage_layers = p.first_stage_layers;
  m.last_stage_layers = p.last_stage_layers;
  m.dp = p.shard_ranks();  // the ranks the sharded states are split over (hybrid sharding: the shard group), x cp
  m.expert_dp = p.expert_dp();
  switch (p.schedule) {
    case PipelineSchedule::kGpipe: m.pipeline = workload::PipelineKind::kGpipe; break;
    case PipelineSchedule::kInterleaved: m.pipeline = workload::PipelineKind::kInterleaved; break;
    case PipelineSchedule::kDualPipe: m.pipeline = workload::PipelineKind::kDualPipe; break;
    default: m.pipeline = workload::PipelineKind::kOneFOneB; break;  // ZB-H1 keeps 1F1B's peak
  }
  if (p.pp == 1) m.pipeline = workload::PipelineKind::kNone;
  m.overlapped_pairs = p.pairs_passes();
  m.microbatches = p.microbatches();
  m.micro_batch = {p.micro_batch, t.seq};
  m.recompute = recompute;
  m.sharding = p.sharding;
  m.grad_bytes = p.grad_reduce_bytes;
  return m;
}

TrainingSetup read_training(Reader& r, bool check_plan) {
  TrainingSetup t;
  t.catalog = std::make_unique<hardware::Catalog>(hardware::Catalog::load(hardware::Catalog::default_dir()));
  {
    Reader c = r.mapping("cluster");
    config::Node resolved;
    t.topology = topology::build_topology(c.node(), *t.catalog, &resolved, "cluster");
    if (r.resolved() != nullptr) r.resolved()->adopt("cluster", resolved);
  }
  const std::int64_t gpus = static_cast<std::int64_t>(t.topology.gpu_count());
  if (r.has("model")) {
    const config::MapEntry* e = r.node().find("model");
    if (e->value.is_scalar()) {
      const auto name = r.required<std::string>("model");
      try {
        t.model = workload::load_catalog_model(workload::default_model_dir(), name);
      } catch (const config::ConfigError&) {
        throw;
      } catch (const core::InputError& err) {
        r.fail("model", err.what());
      }
    } else {
      Reader m = r.mapping("model");
      t.model = workload::read_model(m);
    }
  } else {
    r.required<std::string>("model");
  }

  Reader tr = r.mapping("training");
  t.plan.global_batch = tr.required<std::int64_t>("global_batch");
  t.plan.micro_batch = tr.optional<std::int64_t>("micro_batch", 1);
  t.seq = tr.optional<std::int64_t>("seq_length", t.model.seq_length);
  if (t.seq < 1) tr.fail("seq_length", "must be at least 1");
  t.precision = tr.choice<hardware::Dtype>("precision", kPrecision, hardware::Dtype::kBf16);
  if (t.precision == hardware::Dtype::kFp8 && !t.topology.gpu_spec->peak_fp8) {
    tr.fail("precision", t.topology.gpu_spec->name + " has no fp8 tensor cores (valid: bf16)");
  }
  t.recompute = tr.choice<Recompute>("recompute", kRecompute, Recompute::kNone);
  t.fp8_activations = tr.optional<bool>("fp8_activations", false);
  if (t.fp8_activations && t.precision != hardware::Dtype::kFp8) {
    tr.fail("fp8_activations", "keeps the FP8 copies of the Linear inputs that FP8 GEMMs make, so it needs training.precision: fp8");
  }
  if (tr.has("recompute_modules")) t.recompute_modules = read_recompute_modules(tr, t.model);
  static constexpr std::array<Choice<FlopConvention>, 2> kConventions{
      {{"megatron", FlopConvention::kMegatron, "Megatron-LM's num_floating_point_operations"},
       {"palm", FlopConvention::kPalm, "PaLM's 6N + 12 L H Q T per token"}}};
  t.flop_convention = tr.choice<FlopConvention>("flop_convention", kConventions, FlopConvention::kMegatron);
  const auto optimizer = tr.optional<std::string>("optimizer", "adamw");
  if (optimizer != "adamw" && optimizer != "adam") {
    tr.fail("optimizer", "unknown optimizer '" + optimizer + "' (valid: adamw, adam: the same cost)");
  }
  static constexpr std::array<Choice<bool>, 2> kMoments{
      {{"fp32", false, "Adam's two moments in fp32 (12 B of optimizer state per parameter with the fp32 master)"},
       {"bf16", true, "in bf16, as DeepSeek-V3 trains (8 B; Megatron-Core's precision-aware optimizer)"}}};
  t.bf16_moments = tr.choice<bool>("adam_moments", kMoments, false);
  enum class Attention : std::uint8_t { kFlash, kCudnn, kUnfused };
  static constexpr std::array<Choice<Attention>, 3> kAttention{
      {{"flash", Attention::kFlash, "one fused kernel (FlashAttention-2 in PyTorch), causal blocks skipped"},
       {"cudnn", Attention::kCudnn, "cuDNN's fused attention, what Transformer Engine (Megatron-Core, NeMo) runs on Hopper; causal blocks skipped"},
       {"unfused", Attention::kUnfused, "Megatron-LM's core attention before FlashAttention: s x s scores, softmax, dropout, bmm"}}};
  const Attention attention = tr.choice<Attention>("attention", kAttention, Attention::kFlash);
  t.flash_attention = attention != Attention::kUnfused;
  t.cudnn_attention = attention == Attention::kCudnn;
  t.dropout = tr.optional<double>("dropout", 0.0);
  if (!(t.dropout >= 0.0 && t.dropout < 1.0)) tr.fail("dropout", "must be a probability in [0, 1)");
  static constexpr std::array<Choice<bool>, 2> kKernels{
      {{"fused", false, "Megatron-LM / Transformer Engine fused kernels, bf16 parameters"},
       {"eager", true, "plain PyTorch modules under bf16 autocast with fp32 parameters (e.g. DDP / FSDP without mixed-precision parameters)"}}};
  t.eager = tr.choice<bool>("kernels", kKernels, false);
  const bool check_memory = tr.optional<bool>("check_memory", true);
  if (tr.has("tokens_to_train")) {
    t.tokens_to_train = tr.required<double>("tokens_to_train");
    if (!(*t.tokens_to_train > 0)) tr.fail("tokens_to_train", "must be greater than zero (e.g. 15e12)");
  }
  tr.finish();
  // Read before the plan's rules, so a typo here is reported even when the plan is infeasible.
  t.power = read_power(r);
  t.cost = read_cost(r);

  Reader p = r.mapping("parallel");
  auto& plan = t.plan;
  plan.tp = p.optional<std::int64_t>("tp", 1);
  plan.pp = p.optional<std::int64_t>("pp", 1);
  plan.cp = p.optional<std::int64_t>("cp", 1);
  const std::int64_t others = std::max<std::int64_t>(1, plan.tp * plan.pp * plan.cp);
  if (check_plan && !p.has("dp") && gpus % others != 0) {
    infeasible(p, "", "tp x pp x cp = " + std::to_string(others) + " does not divide the cluster's " + std::to_string(gpus) +
                " GPUs, so no dp fits");
  }
  plan.dp = p.optional<std::int64_t>("dp", gpus % others == 0 ? gpus / others : 1);
  plan.ep = p.optional<std::int64_t>("ep", 1);
  plan.expert_tp = p.optional<std::int64_t>("expert_tp", 0);  // 0: the plan's tp (Megatron's default)
  if (plan.expert_tp < 0) infeasible(p, "expert_tp", "expert_tp " + std::to_string(plan.expert_tp) + " must be at least 1 (0 or left out: the plan's tp)");
  plan.virtual_stages = p.optional<std::int64_t>("virtual_stages", 1);
  plan.first_stage_layers = p.optional<std::int64_t>("first_stage_layers", 0);
  plan.last_stage_layers = p.optional<std::int64_t>("last_stage_layers", 0);
  plan.sequence_parallel = p.optional<bool>("sequence_parallel", plan.tp > 1);
  plan.schedule = p.choice<PipelineSchedule>("schedule", kSchedules, plan.virtual_stages > 1 ? PipelineSchedule::kInterleaved
                                                                                          : PipelineSchedule::kOneFOneB);
  plan.sharding = p.choice<Sharding>("sharding", kSharding, Sharding::kOptimizer);
  plan.cp_kind = p.choice<workload::ContextParallel>("cp_kind", kCpKinds, workload::ContextParallel::kRing);
  plan.order = parse_order(p, "order", p.optional<std::string>("order", "tp-cp-ep-dp-pp"));
  plan.moe_imbalance = p.optional<double>("moe_imbalance", 1.0);
  plan.overlap_grad_reduce = p.optional<bool>("overlap_grad_reduce", true);
  plan.overlap_param_gather = p.optional<bool>("overlap_param_gather", true);
  plan.tp_comm_overlap = p.optional<bool>("tp_comm_overlap", false);
  plan.tp_backward_overlap = p.optional<bool>("tp_backward_overlap", true);
  // DualPipe is built around this overlap (DeepSeek-V3 report, section 3.2.1), so it is on with it.
  plan.ep_comm_overlap = p.optional<bool>("ep_comm_overlap", plan.schedule == PipelineSchedule::kDualPipe);
  plan.ep_dispatcher = p.choice<workload::EpDispatcher>("ep_dispatcher", kEpDispatchers, workload::EpDispatcher::kAllToAll);
  const bool deepep = plan.ep_dispatcher == workload::EpDispatcher::kDeepEp;
  plan.ep_fp8_dispatch = p.optional<bool>("ep_fp8_dispatch", deepep && t.precision == hardware::Dtype::kFp8);
  if (plan.ep_fp8_dispatch && !deepep) {
    infeasible(p, "ep_fp8_dispatch", "FP8 dispatch needs parallel.ep_dispatcher: deepep (Megatron-Core's all-to-all dispatcher sends bf16)");
  }
  if (plan.ep_fp8_dispatch && t.precision != hardware::Dtype::kFp8) {
    infeasible(p, "ep_fp8_dispatch", "FP8 dispatch feeds FP8 expert GEMMs: it needs training.precision: fp8 (here " +
                                         std::string(hardware::to_string(t.precision)) + ")");
  }
  plan.bucket_bytes = 2 * p.optional<std::int64_t>("bucket_size", 40'000'000);
  // Megatron-LM's defaults: bf16 (and fp8) training accumulates and reduces gradients in fp32 (forced by
  // its arguments.py); fp16 training in fp16 (--accumulate-allreduce-grads-in-fp32 off by default).
  plan.shard_group = p.optional<std::int64_t>("shard_group", plan.dp);  // default: shard over the whole DP group
  if (plan.dp >= 1) {  // (a dp below 1 is reported by check_plan)
    if (plan.shard_group < 1 || plan.dp % plan.shard_group != 0) {
      infeasible(p, "shard_group", "shard_group " + std::to_string(plan.shard_group) + " must divide dp = " + std::to_string(plan.dp) +
                                       " (the data-parallel ranks each shard group holds; dp / shard_group replicas)");
    }
    if (plan.sharding == Sharding::kNone && plan.shard_group != plan.dp) {
      infeasible(p, "shard_group", "hybrid sharding needs parallel.sharding optimizer, gradients or parameters (sharding is none)");
    }
  }
  plan.grad_reduce_bytes = p.choice<double>("grad_reduce_dtype", kGradReduceDtypes, t.precision == hardware::Dtype::kFp16 ? 2.0 : 4.0);
  auto problems = check_plan ? workload::check_plan(plan, t.model, gpus, t.seq) : std::vector<workload::PlanProblem>{};
  if (check_plan && problems.empty() && plan.ep_dispatcher == workload::EpDispatcher::kDeepEp && plan.ep > 1) {
    if (auto problem = workload::deepep_spread(plan, gpus_per_node(t.topology), nullptr)) problems.push_back(*problem);
  }
  for (const auto& problem : problems) {
    const std::string key = problem.key;
    if (key == "global_batch" || key == "micro_batch") infeasible(tr, key, problem.message);
    infeasible(p, key, problem.message);
  }
  p.finish();

  if (auto f = r.maybe_mapping("fidelity")) {
    t.network = f->choice<Fidelity>("network", kFidelity, Fidelity::kAnalytical);
    t.collectives = f->choice<Fidelity>("collectives", kFidelity, t.network);
    f->finish();
  }

  t.memory = workload::estimate_memory(t.model, memory_plan(t));
  t.memory_capacity = t.topology.gpu_spec->hbm_capacity.as_double();
  t.fits = t.memory.total_bytes <= t.memory_capacity;
  if (!t.fits && check_memory && check_plan) {
    std::string largest;
    for (const auto& item : t.memory.largest()) largest += (largest.empty() ? "" : ", ") + item.name + " " + gib(item.bytes);
    const std::string where = t.plan.pp > 1 ? " on pipeline stage " + std::to_string(t.memory.stage) + " of " + std::to_string(t.plan.pp) : "";
    infeasible(p, "", "the plan does not fit: " + gib(t.memory.total_bytes) + " per GPU" + where + " > " + gib(t.memory_capacity) + " on " +
                t.topology.gpu_spec->name + " (largest: " + largest +
                "); try " + memory_remedies(t));
  }
  return t;
}

}  // namespace mfusim::scenario
