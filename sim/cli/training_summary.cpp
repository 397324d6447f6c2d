#include "cli/training_summary.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <limits>
#include <set>
#include <string>

#include "collective/tuner_constants.hpp"
#include "scenario/energy.hpp"
#include "scenario/training.hpp"
#include "workload/parallel_plan.hpp"

namespace mfusim::cli {

report::RunSummary summarize(const scenario::Scenario& sc, const scenario::SimulationResult& r) {
  report::RunSummary s;
  s.scenario = sc.name;
  s.description = sc.description;
  s.source = sc.source;
  s.status = std::string(core::to_string(r.run.status));
  s.step_time_ps = r.step_time.ps();
  s.end_time_ps = r.run.end_time.ps();
  s.events = r.run.events;
  s.pending_items = r.run.pending_items;
  s.blocked = r.run.blocked;
  if (sc.pipeline) {
    s.metrics.push_back({"bubble_fraction", "bubble fraction", r.bubble_fraction, ""});
    s.metrics.push_back({"ideal_bubble_fraction", "ideal (p-1)/(m+p-1)", r.ideal_bubble_fraction, ""});
  }
  for (const auto& st : r.streams) s.streams.push_back({st.name, st.busy.ps(), st.utilization});
  if (sc.training) add_training_summary(sc, r, s);
  return s;
}

namespace {

constexpr double kGiB = 1024.0 * 1024.0 * 1024.0;

// "0-7", "0-14 step 2" (an arithmetic progression), else the first six and "...".
std::string ranks_text(const std::vector<std::int64_t>& g) {
  if (g.size() == 1) return std::to_string(g[0]);
  const std::int64_t step = g[1] - g[0];
  bool progression = step > 0;
  for (std::size_t i = 2; i < g.size() && progression; ++i) progression = g[i] - g[i - 1] == step;
  if (progression) {
    return std::to_string(g.front()) + "-" + std::to_string(g.back()) + (step == 1 ? "" : " step " + std::to_string(step));
  }
  std::string out;
  for (std::size_t i = 0; i < std::min<std::size_t>(g.size(), 6); ++i) out += (i == 0 ? "" : ", ") + std::to_string(g[i]);
  return out + (g.size() > 6 ? ", ..." : "");
}

// A note when the NICs are faster than NCCL's graph search will drive one channel on this GPU
// architecture (its highest inter-node speed, src/graph/search.cc: 48 GB/s on Hopper): collectives
// across nodes then run at that speed per NIC whatever the NIC (docs/models/collectives.md), so a
// faster-NIC what-if shows nothing for them; send/recv and all-to-all still use the NIC's bandwidth.
// Only for NICs a quarter or more above that speed: a 400 Gb/s NIC (50 GB/s) on Hopper is what the
// table was made for.
std::string nic_speed_note(const scenario::TrainingSetup& t) {
  const auto& topo = t.topology;
  if (topo.node_count() < 2 || topo.nic_spec == nullptr) return "";
  // GB/s: GPU 0's NIC at its slower side (GPU link or leaf link, which runs at min(NIC, switch port)).
  const topology::DeviceId nic_dev = topo.nic_of(0);
  if (nic_dev == topology::kNone) return "";
  double nic = std::numeric_limits<double>::infinity();
  for (const auto l : topo.out_links(nic_dev)) nic = std::min(nic, topo.links()[l].bandwidth.value() / 1e9);
  const auto arch = collective::gpu_arch(topo.gpu_spec->architecture);
  const double cap = collective::inter_node_speeds(arch).front();
  if (!std::isfinite(nic) || !(nic >= 1.25 * cap)) return "";
  std::string arch_name = topo.gpu_spec->architecture;
  if (!arch_name.empty()) arch_name[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(arch_name[0])));
  char buf[400];
  std::snprintf(buf, sizeof buf,
                "collectives: NCCL's graph search drives at most %g GB/s per NIC channel on %s GPUs "
                "(src/graph/search.cc), below the NICs' %g GB/s: collectives across nodes run at that speed, "
                "send/recv and all-to-all at the NICs'",
                cap, arch_name.c_str(), nic);
  return buf;
}

// Rank 0's groups under the plan's placement (workload::RankLayout: Megatron's dense and expert rank
// generators), each with the nodes it spans: what decides whether its collectives stay on NVLink.
std::vector<report::GroupRow> parallel_groups(const scenario::TrainingSetup& t) {
  using workload::Dim;
  const auto& p = t.plan;
  const workload::RankLayout layout(p);
  std::vector<report::GroupRow> out;
  const auto add = [&](const char* name, const std::vector<std::int64_t>& g) {
    if (g.size() < 2) return;
    std::set<std::uint32_t> nodes;
    for (auto r : g) nodes.insert(t.topology.node_of(static_cast<topology::GpuIndex>(r)));
    out.push_back({name, static_cast<std::int64_t>(g.size()), static_cast<std::int64_t>(nodes.size()), ranks_text(g)});
  };
  add("TP", layout.group_of(0, Dim::kTp));
  add("CP", layout.group_of(0, Dim::kCp));
  add("DP", layout.group_of(0, Dim::kDp));
  add("PP", layout.group_of(0, Dim::kPp));
  if (t.model.moe) {
    add("EP", layout.group_of(0, Dim::kEp));
    if (p.expert_tp_size() != p.tp) add("ETP", layout.expert_tp_group_of(0));
    add("EDP", layout.expert_dp_group_of(0));
  }
  return out;
}

}  // namespace

void add_training_summary(const scenario::Scenario& sc, const scenario::SimulationResult& r, report::RunSummary& s) {
  const auto& t = *sc.training;
  const auto& step = *r.step;
  const double gpus = static_cast<double>(t.plan.gpus());
  const double seconds = step.step_time.seconds();
  s.metrics.push_back({"gpus", "GPUs", gpus, "GPUs"});
  // A run stopped by --max-events, --time-limit or --max-wall (or stalled) has not finished its step:
  // rates over a partial step would be wrong, so only what is known is reported (memory, the breakdown
  // so far, the simulated time reached).
  const bool palm = t.flop_convention == scenario::FlopConvention::kPalm;
  const bool partial = r.run.status != core::RunStatus::kCompleted;
  if (partial) {
    s.notes.push_back("partial report: the run stopped (" + std::string(core::to_string(r.run.status)) +
                      ") before the step finished; step time is the simulated time reached and tokens/s, MFU and "
                      "HFU are not reported");
  }
  if (!partial) {
    s.metrics.push_back({"tokens_per_s", "tokens/s", seconds > 0 ? step.tokens / seconds : 0.0, "tokens/s"});
    s.metrics.push_back({"tokens_per_s_per_gpu", "tokens/s/GPU", seconds > 0 ? step.tokens / seconds / gpus : 0.0, "tokens/s"});
    const double palm_mfu =
        seconds > 0 ? workload::palm_model_flops(t.model, t.plan.global_batch, t.seq) /
                          (seconds * gpus * t.topology.gpu_spec->peak(hardware::Dtype::kBf16)->value())
                    : 0.0;
    s.metrics.push_back({"mfu", palm ? "MFU (PaLM FLOPs)" : "MFU (Megatron FLOPs)", palm ? palm_mfu : step.mfu, ""});
    s.metrics.push_back({"mfu_megatron", "MFU, Megatron convention", step.mfu, ""});
    s.metrics.push_back({"mfu_palm", "MFU, PaLM convention", palm_mfu, ""});
    s.metrics.push_back({"hfu", "HFU (incl. recompute)", step.hfu, ""});
  }
  s.metrics.push_back({"model_flops_per_step", "model FLOPs/step", step.model_flops, "FLOP"});
  s.metrics.push_back({"peak_memory_bytes", "peak memory/GPU", t.memory.total_bytes, "B"});
  if (t.plan.pp > 1) s.metrics.push_back({"peak_memory_stage", "peak-memory pipeline stage", static_cast<double>(t.memory.stage), ""});
  s.metrics.push_back({"memory_capacity_bytes", "GPU memory capacity", t.memory_capacity, "B"});
  const auto& gpu = *t.topology.gpu_spec;
  if (gpu.usable_memory) {
    s.metrics.push_back({"memory_usable_bytes", "GPU memory usable by tensors", gpu.usable_memory->as_double(), "B"});
  }
  s.metrics.push_back({"critical_rank", "critical rank", static_cast<double>(step.critical_rank), ""});
  // Energy and cost (scenario/energy.hpp, docs/models/energy.md).
  const auto e = scenario::estimate_energy(t, step);
  s.metrics.push_back({"gpu_power_w", "mean power/GPU", gpus > 0 ? e.gpu_w / gpus : 0.0, "W"});
  s.metrics.push_back({"it_power_w", "IT power", e.it_w, "W"});
  s.metrics.push_back({"facility_power_w", "facility power", e.facility_w, "W"});
  s.metrics.push_back({"energy_per_step_j", "energy/step", e.step_j, "J"});
  s.metrics.push_back({"energy_per_step_kwh", "energy/step (kWh)", e.step_j / 3.6e6, "kWh"});
  s.metrics.push_back({"energy_per_token_j", "energy/token", e.token_j, "J"});
  const auto k = scenario::estimate_cost(e, t.cost, t.tokens_to_train);
  if (k.priced) {
    s.metrics.push_back({"cost_per_step", "cost/step", k.step_cost, k.currency});
    s.metrics.push_back({"cost_per_million_tokens", "cost/1M tokens", k.per_million_tokens, k.currency});
  }
  if (k.has_tokens) {
    s.metrics.push_back({"tokens_to_train", "tokens to train", k.tokens, "tokens"});
    s.metrics.push_back({"time_to_train_s", "time to train", k.time_s, "s"});
    s.metrics.push_back({"time_to_train_days", "time to train (days)", k.time_s / 86400.0, "days"});
    s.metrics.push_back({"gpu_hours", "GPU-hours", k.gpu_hours, "GPU-h"});
    s.metrics.push_back({"energy_to_train_mwh", "energy to train", k.energy_j / 3.6e9, "MWh"});
    if (k.priced) s.metrics.push_back({"cost_to_train", "cost to train", k.cost, k.currency});
  }
  const auto& b = step.breakdown;
  s.breakdown.push_back({"compute_s", "compute", b.compute.seconds(), "s"});
  if (b.recompute > core::Duration::zero()) s.breakdown.push_back({"recompute_s", "recompute", b.recompute.seconds(), "s"});
  for (const auto& [dim, d] : b.exposed) {
    const std::string name(workload::to_string(dim));
    s.breakdown.push_back({"exposed_" + name + "_s", "exposed " + name + " communication", d.seconds(), "s"});
  }
  s.breakdown.push_back({"bubble_s", "pipeline bubble", b.bubble.seconds(), "s"});
  s.breakdown.push_back({"optimizer_s", "optimizer", b.optimizer.seconds(), "s"});
  s.breakdown.push_back({"other_s", "other", b.other.seconds(), "s"});
  for (const auto& item : t.memory.items) {
    std::string key;
    for (char c : item.name) {
      if (c == ' ' || c == '(' || c == ')' || c == '+' || c == '/') {
        if (!key.empty() && key.back() != '_') key += '_';
      } else {
        key += c;
      }
    }
    while (!key.empty() && key.back() == '_') key.pop_back();
    s.memory.push_back({key, item.name, item.bytes, "B"});
  }
  if (gpu.usable_memory && t.memory.total_bytes > gpu.usable_memory->as_double()) {
    // The fit check uses the rated capacity (docs/models/memory.md, "Usable memory"): the peak is above
    // what a process can give its tensors, but within the memory model's error of plans known to run.
    char buf[256];
    std::snprintf(buf, sizeof buf,
                  "memory: the estimated peak %.1f GiB is above the %.1f GiB a training process can use on %s (the rated %.1f GiB less "
                  "the driver's reservation, CUDA context, libraries and NCCL, measured): it may not fit in practice (docs/models/memory.md, \"Usable memory\")",
                  t.memory.total_bytes / kGiB, gpu.usable_memory->as_double() / kGiB, gpu.name.c_str(), gpu.hbm_capacity.as_double() / kGiB);
    s.notes.push_back(buf);
  }
  s.groups = parallel_groups(t);
  for (const auto& n : t.topology.notes) s.notes.push_back("cluster: " + n);
  if (const auto n = nic_speed_note(t); !n.empty()) s.notes.push_back(n);
  s.notes.push_back("kernel times " + r.calibration);
  s.notes.push_back(std::string("communication: NCCL-style collectives (algorithm and protocol chosen as NCCL's tuner does), ") +
                    (t.collectives == scenario::Fidelity::kFlow ? "flow fidelity: max-min sharing of links among all groups"
                                                                : "analytical fidelity: no contention between groups"));
  if (t.recompute == workload::Recompute::kSelective) {
    s.notes.push_back("recompute: selective, rerunning " + workload::recompute_module_names(t.recompute_modules) +
                      " in the backward (training.recompute_modules, Megatron-Core's --recompute-modules)");
  } else if (t.recompute_modules != workload::kRecomputeCoreAttention) {
    s.notes.push_back("training.recompute_modules (" + workload::recompute_module_names(t.recompute_modules) +
                      ") unused: they apply to training.recompute: selective");
  }
  if (t.model.mtp_layers > 0) {
    s.notes.push_back("multi-token prediction: " + std::to_string(t.model.mtp_layers) +
                      " module(s) after the decoder on the last pipeline stage, each a block, a 2h x h projection and another pass "
                      "through the output head (the model's mtp_layers; in the model FLOPs as Megatron counts them)");
  }
  if (t.fp8_activations) {
    s.notes.push_back("memory: Linear inputs kept for the backward in FP8, 1 B + an fp32 scale per 128 values (training.fp8_activations)");
  }
  if (t.model.moe && t.plan.ep > 1) {
    // What each dispatch and combine moves (docs/models/parallelism.md), so the exposed EP time reads.
    const auto& p = t.plan;
    std::string note;
    workload::EpSpread spread;
    if (p.ep_dispatcher == workload::EpDispatcher::kDeepEp && !workload::deepep_spread(p, scenario::gpus_per_node(t.topology), &spread)) {
      const auto fan = workload::deepep_fanout(t.model.moe->experts, t.model.moe->top_k, t.model.moe->max_nodes, spread);
      char buf[320];
      std::snprintf(buf, sizeof buf,
                    "EP dispatch: DeepEP over %lld nodes x %lld GPUs: a token goes once to each of %.2f expert nodes over the scale-out "
                    "network and once to each of %.2f expert GPUs over NVLink%s; %s toward the experts, bf16 back",
                    static_cast<long long>(spread.nodes), static_cast<long long>(spread.per_node), fan.nodes, fan.gpus,
                    t.model.moe->max_nodes > 0 ? (" (at most " + std::to_string(t.model.moe->max_nodes) + " nodes per token)").c_str() : "",
                    p.ep_fp8_dispatch ? "FP8" : "bf16");
      note = buf;
    } else {
      note = "EP dispatch: Megatron-Core's all-to-all, each of a token's " + std::to_string(t.model.moe->top_k) +
             " routed copies sent separately in bf16 (parallel.ep_dispatcher: deepep for DeepEP's two-hop dispatch)";
    }
    if (p.pairs_passes()) note += "; overlapped forward/backward pairs hide part of it (parallel.ep_comm_overlap)";
    s.notes.push_back(note);
  }
  for (const auto& n : e.notes) s.notes.push_back(n);
  s.notes.push_back(palm ? "MFU uses PaLM's 6N + 12 L H Q T FLOPs per token (training.flop_convention)"
                         : "MFU uses Megatron-LM's FLOP convention (attention counted without the causal mask; "
                           "training.flop_convention: palm for PaLM's)");
}

}  // namespace mfusim::cli
