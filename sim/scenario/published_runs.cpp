#include "scenario/published_runs.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>

#include "config/config_error.hpp"
#include "config/loader.hpp"
#include "config/overrides.hpp"
#include "config/reader.hpp"
#include "core/error.hpp"
#include "core/strings.hpp"
#include "scenario/scenario.hpp"
#include "scenario/simulation.hpp"

namespace mfusim::scenario {
namespace {

using config::Mark;
using config::Node;
using config::Reader;

Node scalar(const std::string& v) { return Node::scalar(v, Mark{}); }
Node scalar(std::int64_t v) { return Node::scalar(std::to_string(v), Mark{}); }

std::string number(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

bool sc21_source(const std::string& source) {
  return source.find("SC'21") != std::string::npos || source.find("arXiv:2104.04473") != std::string::npos;
}
// NVIDIA's throughput benchmarks that state Transformer Engine's TP communication overlap: the
// Megatron-LM README ("We perform fine-grained overlapping of data-parallel (--overlap-grad-reduce
// --overlap-param-gather), tensor-parallel (--tp-comm-overlap) and pipeline-parallel communication"),
// and the NeMo recipes of dgxc-benchmarking (ub_tp_comm_overlap: true in nemo_megatron's GPT-3 175B
// configuration; MegatronCommOverlapCallback(tp_comm_overlap=True) with userbuffers configurations in
// the NeMo 2.0 Llama 3.1 405B and Nemotron-4 340B performance recipes). Not MaxText (JAX).
bool tp_comm_overlap_source(const std::string& source) {
  if (source.find("Megatron-LM README") != std::string::npos) return true;
  if (source.find("dgxc-benchmarking") == std::string::npos) return false;
  return source.find("nemo_megatron/") != std::string::npos || source.find("llama3.1/") != std::string::npos ||
         source.find("nemotron/") != std::string::npos;
}
// Runs whose attention is cuDNN's fused attention on H100 (training.attention: cudnn). Transformer
// Engine's DotProductAttention prefers its cuDNN backend (FusedAttention) over FlashAttention on Hopper
// "for performance reasons" (get_attention_backend in transformer_engine/pytorch/attention/
// dot_product_attention/utils.py); Megatron-Core (`--transformer-impl transformer_engine`, its default,
// and required by the README's --tp-comm-overlap) and NeMo build their layers from it. MaxText on GPU:
// the dgxc-benchmarking recipes run attention=cudnn_flash_te (the rows' notes say so).
bool cudnn_attention_source(const std::string& source) {
  return source.find("Megatron-LM README") != std::string::npos ||
         source.find("megatron/core/") != std::string::npos || source.find("dgxc-benchmarking") != std::string::npos;
}
// The MaxText recipes of dgxc-benchmarking (maxtext/configure.sh: POLICY="save_qkv_proj",
// remat_policy=${POLICY}) recompute every layer op but the q/k/v projections; the schema calls that
// "selective" (the rows' notes name the policy), Megatron's selective recompute is another policy.
bool maxtext_source(const std::string& source) {
  return source.find("dgxc-benchmarking") != std::string::npos && source.find("maxtext/") != std::string::npos;
}
bool pre_flash_attention_source(const std::string& source) {
  return sc21_source(source) || source.find("arXiv:2205.05198") != std::string::npos;
}

// One run, read strictly (unknown keys are errors), turned into a scenario tree, or a reason why not.
struct Built {
  Node scenario;
  std::string unsupported;
};

Built build_run(Reader& run, ValidationRow& row) {
  Built b;
  row.id = run.required<std::string>("id");
  const auto source = run.required<std::string>("source");
  row.confidence = run.required<std::string>("confidence");
  row.derived = run.list<std::string>("derived");
  run.required<std::string>("notes");

  Reader m = run.mapping("model");
  const auto family = m.required<std::string>("family");
  const auto layers = m.required<std::int64_t>("layers");
  const auto hidden = m.required<std::int64_t>("hidden");
  const auto heads = m.required<std::int64_t>("heads");
  const auto kv_heads = m.required<std::int64_t>("kv_heads");
  const auto head_dim = m.required<std::int64_t>("head_dim");
  const auto ffn = m.required<std::int64_t>("ffn_hidden");
  const auto mlp = m.required<std::string>("mlp");
  const auto vocab = m.required<std::int64_t>("vocab");
  const auto seq = m.required<std::int64_t>("seq_len");
  const auto tied = m.required<bool>("tied_embeddings");
  const auto attention = m.required<std::string>("attention");
  const auto params_b = m.required<double>("params_b");
  Node model = Node::mapping(Mark{});
  model.set("name", scalar(row.id + "-model"));
  model.set("family", scalar(family));
  model.set("layers", scalar(layers));
  model.set("hidden", scalar(hidden));
  model.set("heads", scalar(heads));
  model.set("kv_heads", scalar(kv_heads));
  model.set("head_dim", scalar(head_dim));
  model.set("ffn", scalar(ffn));
  model.set("vocab", scalar(vocab));
  model.set("seq_length", scalar(seq));
  const bool gpt = family == "gpt";
  model.set("norm", scalar(gpt ? "layernorm" : family == "other" ? "layernorm" : "rmsnorm"));
  model.set("activation", scalar(mlp == "swiglu" ? "swiglu" : "gelu"));
  model.set("position", scalar(gpt ? "learned" : "rope"));
  model.set("tied_embeddings", scalar(tied ? "true" : "false"));
  model.set("linear_bias", scalar(gpt ? "true" : "false"));
  Node att = Node::mapping(Mark{});
  // MLA's latent dimensions are only in the notes: MLA runs are modelled as MHA with the given head_dim.
  att.set("type", scalar(attention == "gqa" ? "gqa" : "mha"));
  model.set("attention", att);
  model.set("parameters_published", scalar(number(params_b * 1e9)));
  if (m.has("moe")) {
    Reader moe = m.mapping("moe");
    Node x = Node::mapping(Mark{});
    x.set("experts", scalar(moe.required<std::int64_t>("experts")));
    x.set("top_k", scalar(moe.required<std::int64_t>("top_k")));
    const auto expert_ffn = moe.required<std::int64_t>("expert_ffn_hidden");
    x.set("expert_ffn", scalar(expert_ffn));
    const auto shared = moe.required<std::int64_t>("shared_experts");
    x.set("shared_experts", scalar(shared));
    if (shared > 0) x.set("shared_expert_ffn", scalar(expert_ffn));
    x.set("layer_frequency", scalar(moe.required<std::int64_t>("moe_layer_freq")));
    x.set("first_dense_layers", scalar(moe.required<std::int64_t>("dense_layers")));
    moe.finish();
    model.set("moe", x);
  }
  m.finish();

  Reader c = run.mapping("cluster");
  const auto gpu = c.required<std::string>("gpu");
  const auto gpus = c.required<std::int64_t>("gpus");
  if (gpus < 1 || gpus > (std::int64_t{1} << 20)) c.fail("gpus", std::to_string(gpus) + " is out of range (valid: 1 to 1048576)");
  const auto per_node = c.required<std::int64_t>("gpus_per_node");
  if (per_node < 1 || per_node > 1024) {
    c.fail("gpus_per_node", std::to_string(per_node) + " is out of range (valid: 1 to 1024)");
  }
  const auto scale_up = c.required<std::string>("scale_up");
  Reader so = c.mapping("scale_out");
  const auto nics = so.required<std::int64_t>("nics_per_node");
  if (nics < 0) so.fail("nics_per_node", std::to_string(nics) + " must not be negative");
  const auto nic_gbps = so.required<std::int64_t>("nic_gbps");
  if (nic_gbps < 1 || nic_gbps > 100'000) so.fail("nic_gbps", std::to_string(nic_gbps) + " is out of range (valid: 1 to 100000)");
  const auto fabric = so.required<std::string>("fabric");
  so.maybe<std::int64_t>("tiers");
  const auto oversub = so.maybe<double>("oversubscription");
  const auto tech = so.required<std::string>("technology");
  so.finish();
  c.finish();
  static const std::map<std::string, std::string> kGpus{{"a100-sxm4-40gb", "A100-SXM4-40GB"},
                                                        {"a100-sxm4-80gb", "A100-SXM4-80GB"},
                                                        {"h100-sxm5-80gb", "H100-SXM5-80GB"},
                                                        {"h800-sxm5-80gb", "H800-SXM5-80GB"},
                                                        {"h200-sxm-141gb", "H200-SXM-141GB"}};
  const auto g = kGpus.find(gpu);
  if (g == kGpus.end()) b.unsupported = "accelerator '" + gpu + "' is not in the hardware catalog with a known peak";
  // Fewer GPUs than a node: one partial node.
  const std::int64_t node_gpus = std::min(gpus, per_node);
  if (gpus % node_gpus != 0) b.unsupported = "gpus is not a multiple of gpus_per_node";
  Node cluster = Node::mapping(Mark{});
  cluster.set("name", scalar(row.id + "-cluster"));
  cluster.set("nodes", scalar(gpus / std::max<std::int64_t>(1, node_gpus)));
  Node node = Node::mapping(Mark{});
  if (g != kGpus.end()) node.set("gpu", scalar(g->second));
  node.set("gpus", scalar(node_gpus));
  const bool roce = tech == "roce";
  const std::string nic = nic_gbps >= 800 ? "ConnectX-8-XDR800" : nic_gbps >= 400 ? (roce ? "ConnectX-7-RoCE400" : "ConnectX-7-NDR400")
                                                                                  : "ConnectX-6-HDR200";
  (void)scale_up;
  if (gpus > per_node) {
    node.set("nic", scalar(nic));
    node.set("nics", scalar(std::clamp<std::int64_t>(nics, 1, node_gpus)));
    Node f = Node::mapping(Mark{});
    f.set("kind", scalar(fabric == "rail-optimized" ? "rail-optimized" : "fat-tree"));
    f.set("switch", scalar(roce ? "Spectrum-4-SN5600" : nic_gbps >= 400 ? "Quantum-2-QM9700" : "Quantum-QM8700"));
    f.set("oversubscription", scalar(number(oversub.value_or(1.0))));
    cluster.set("fabric", f);
    Node out = Node::mapping(Mark{});
    out.set("nic_bandwidth", scalar(std::to_string(nic_gbps) + "Gbps"));
    cluster.set("scale_out", out);
  } else {
    Node f = Node::mapping(Mark{});
    f.set("kind", scalar("none"));
    cluster.set("fabric", f);
  }
  cluster.set("node", node);

  Reader p = run.mapping("parallel");
  Node plan = Node::mapping(Mark{});
  const auto vpp = p.required<std::int64_t>("vpp");
  for (const char* k : {"tp", "pp", "dp", "cp", "ep"}) plan.set(k, scalar(p.required<std::int64_t>(k)));
  plan.set("virtual_stages", scalar(vpp));
  if (vpp > 1) plan.set("schedule", scalar("interleaved"));
  const bool sp = p.required<bool>("sequence_parallel");
  plan.set("sequence_parallel", scalar((sp && p.required<std::int64_t>("tp") > 1) ? "true" : "false"));
  const auto zero = p.required<std::int64_t>("zero");
  if (zero < 0 || zero > 3) p.fail("zero", std::to_string(zero) + " is not a ZeRO stage (valid: 0, 1, 2, 3)");
  static const char* kSharding[] = {"none", "optimizer", "gradients", "parameters"};
  plan.set("sharding", scalar(kSharding[zero]));
  // Framework era: the SC'21 runs (Megatron-LM of early 2021) all-reduced a column-parallel linear's
  // input gradient after its whole backward; the async tensor-parallel all-reduce that overlaps it with
  // the weight-gradient GEMM came to Megatron-LM later in 2021 (ParallelPlan::tp_backward_overlap).
  if (sc21_source(source)) plan.set("tp_backward_overlap", scalar("false"));
  // MaxText's recipe shards over ici_fsdp (8) x dcn_fsdp nodes, dcn_fsdp = 16 from 64 nodes on, with
  // dcn_data_parallelism = nodes / 16 replicas (maxtext/configure.sh): hybrid sharding over 128 GPUs.
  if (maxtext_source(source) && zero == 3 && gpus / per_node >= 64) plan.set("shard_group", scalar(std::int64_t{8 * 16}));
  if (tp_comm_overlap_source(source) && sp && p.required<std::int64_t>("tp") > 1) plan.set("tp_comm_overlap", scalar("true"));
  p.finish();

  Reader t = run.mapping("training");
  Node training = Node::mapping(Mark{});
  training.set("global_batch", scalar(t.required<std::int64_t>("global_batch")));
  training.set("micro_batch", scalar(t.required<std::int64_t>("micro_batch")));
  training.set("seq_length", scalar(seq));
  const auto recompute = t.required<std::string>("recompute");
  training.set("recompute", scalar(maxtext_source(source) && recompute == "selective" ? "save_qkv_proj" : recompute));
  training.set("precision", scalar(t.required<std::string>("precision")));
  const auto optimizer = t.required<std::string>("optimizer");
  if (optimizer != "adam" && optimizer != "adamw") b.unsupported = "optimizer '" + optimizer + "' (only Adam/AdamW are modelled)";
  training.set("check_memory", scalar("false"));
  // Framework era: the SC'21 (Narayanan et al., arXiv:2104.04473) and Korthikanti et al.
  // (arXiv:2205.05198) runs predate FlashAttention (Dao et al., May 2022) in Megatron-LM and
  // DeepSpeed: their GPT models ran Megatron's unfused core attention with dropout 0.1 (Megatron-LM's
  // --attention-dropout and --hidden-dropout defaults; Korthikanti et al.'s activation memory
  // 34sbh + 5as^2b counts those dropout masks and the s x s scores). Later sources use fused attention.
  if (pre_flash_attention_source(source)) {
    training.set("attention", scalar("unfused"));
    training.set("dropout", scalar("0.1"));
  } else if (cudnn_attention_source(source)) {
    training.set("attention", scalar("cudnn"));
  }
  t.finish();

  Reader ms = run.mapping("measured");
  row.measured_step_time_s = ms.required<double>("step_time_s");
  if (!(row.measured_step_time_s > 0)) ms.fail("step_time_s", "must be greater than zero");
  ms.required<double>("tokens_per_s_per_gpu");
  row.measured_mfu = ms.maybe<double>("mfu");
  ms.maybe<double>("tflops_per_gpu");
  row.measured_peak_memory_gib = ms.maybe<double>("peak_memory_gib");
  ms.required<std::string>("flops_convention");
  ms.finish();
  run.finish();

  b.scenario = Node::mapping(Mark{});
  b.scenario.set("name", scalar(row.id));
  b.scenario.set("cluster", cluster);
  b.scenario.set("model", model);
  b.scenario.set("parallel", plan);
  b.scenario.set("training", training);
  return b;
}

}  // namespace

std::vector<PublishedRun> read_published_runs(const std::filesystem::path& file) {
  const Node root = config::load_file(file);
  Reader r(root, "", nullptr);
  const auto schema = r.required<std::string>("schema");
  if (schema != "published-runs/1") r.fail("schema", "unsupported schema '" + schema + "' (expected published-runs/1)");
  auto runs = r.mappings("runs");
  r.finish();
  std::vector<PublishedRun> out;
  std::vector<std::string> seen;
  for (auto& run : runs) {
    PublishedRun p;
    Built b = build_run(run, p.row);  // schema errors propagate: the file is malformed
    if (std::find(seen.begin(), seen.end(), p.row.id) != seen.end()) run.fail("id", "'" + p.row.id + "' appears twice");
    seen.push_back(p.row.id);
    p.scenario = std::move(b.scenario);
    p.unsupported = std::move(b.unsupported);
    out.push_back(std::move(p));
  }
  return out;
}

namespace {

// An id that names no run of the file, with the closest id as a suggestion.
core::InputError no_such_run(const std::string& prefix, const std::filesystem::path& file, const std::string& id,
                             const std::vector<std::string>& ids) {
  const auto near = core::closest_match(id, ids);
  return core::InputError(prefix + file.string() + " has no run '" + id + "'" +
                          (near ? " (did you mean '" + *near + "'?)" : "") + "; it has " + std::to_string(ids.size()) +
                          " runs");
}

}  // namespace

ValidationReport validate_published_runs(const std::filesystem::path& file, const std::vector<std::string>& only_ids,
                                         const std::vector<std::string>& overrides) {
  ValidationReport report;
  report.file = file.string();
  report.overrides = overrides;
  std::vector<double> errors;
  auto runs = read_published_runs(file);
  // Every --only id must name a run: a typo would otherwise replay nothing and report no error.
  std::vector<std::string> ids;
  for (const auto& run : runs) ids.push_back(run.row.id);
  for (const auto& id : only_ids) {
    if (std::find(ids.begin(), ids.end(), id) == ids.end()) throw no_such_run("--only: ", file, id, ids);
  }
  for (auto& run : runs) {
    ValidationRow row = run.row;
    if (!only_ids.empty() && std::find(only_ids.begin(), only_ids.end(), row.id) == only_ids.end()) continue;
    if (!run.unsupported.empty()) {
      row.status = "unsupported";
      row.reason = run.unsupported;
      report.rows.push_back(row);
      continue;
    }
    for (const auto& o : overrides) config::apply_override(run.scenario, o);  // a malformed path: exit code 2
    try {
      const Scenario sc = build_scenario(run.scenario, report.file + "#" + row.id);
      const SimulationResult res = simulate(sc);
      if (res.run.status != core::RunStatus::kCompleted || !res.step) {
        row.status = "failed";
        row.reason = "simulation " + std::string(core::to_string(res.run.status));
      } else {
        row.status = "ok";
        row.predicted_step_time_s = res.step->step_time.seconds();
        row.error_pct = 100.0 * (row.predicted_step_time_s / row.measured_step_time_s - 1.0);
        row.predicted_mfu = res.step->mfu;
        row.predicted_peak_memory_gib = sc.training->memory.total_bytes / (1024.0 * 1024.0 * 1024.0);
        row.fits = sc.training->fits;
        errors.push_back(std::fabs(row.error_pct));
      }
    } catch (const config::ConfigError& e) {
      // A --set key that no scenario has fails every run: an error of the command, not of this run.
      const auto& source = e.mark().source;
      if (e.message().rfind("unknown key", 0) == 0 && source && source->rfind("(--set ", 0) == 0) throw;
      row.status = "unsupported";
      row.reason = e.what();
    } catch (const core::InputError& e) {
      // The run is well-formed but mfusim cannot express it (a plan rule it does not support).
      row.status = "unsupported";
      row.reason = e.what();
    }
    report.rows.push_back(row);
  }
  report.simulated = errors.size();
  if (!errors.empty()) {
    double sum = 0.0;
    for (double e : errors) sum += e;
    report.mape_pct = sum / static_cast<double>(errors.size());
    std::sort(errors.begin(), errors.end());
    const std::size_t n = errors.size();
    report.median_abs_error_pct = n % 2 ? errors[n / 2] : 0.5 * (errors[n / 2 - 1] + errors[n / 2]);
    report.max_abs_error_pct = errors.back();
  }
  return report;
}

config::Node published_run_scenario(const std::filesystem::path& file, const std::string& id) {
  const Node root = config::load_file(file);
  Reader r(root, "", nullptr);
  r.required<std::string>("schema");
  auto runs = r.mappings("runs");
  std::vector<std::string> ids;
  for (auto& run : runs) {
    ValidationRow row;
    Built b = build_run(run, row);
    if (row.id != id) {
      ids.push_back(row.id);
      continue;
    }
    if (!b.unsupported.empty()) throw core::InputError(file.string() + ": " + id + ": " + b.unsupported);
    return b.scenario;
  }
  throw no_such_run("", file, id, ids);
}

std::string format_validation(const ValidationReport& r) {
  std::string out;
  char line[512];
  for (const auto& o : r.overrides) out += "override (every run): --set " + o + "\n";
  if (!r.overrides.empty()) out += "\n";
  std::snprintf(line, sizeof line, "%-44s %-6s %10s %10s %8s %7s %7s  %s\n", "run", "conf", "measured s", "predicted", "error",
                "MFU", "pub.MFU", "status");
  out += line;
  std::map<std::string, std::vector<double>> by_conf;
  for (const auto& row : r.rows) {
    if (row.status != "ok") {
      std::snprintf(line, sizeof line, "%-44s %-6s %10.3f %10s %8s %7s %7s  %s: %s\n", row.id.c_str(), row.confidence.c_str(),
                    row.measured_step_time_s, "-", "-", "-", "-", row.status.c_str(), row.reason.c_str());
      out += line;
      continue;
    }
    by_conf[row.confidence].push_back(std::fabs(row.error_pct));
    std::string pub = row.measured_mfu ? std::to_string(*row.measured_mfu).substr(0, 5) : "-";
    std::snprintf(line, sizeof line, "%-44s %-6s %10.3f %10.3f %+7.1f%% %7.3f %7s  ok%s\n", row.id.c_str(), row.confidence.c_str(),
                  row.measured_step_time_s, row.predicted_step_time_s, row.error_pct, row.predicted_mfu, pub.c_str(),
                  row.fits ? "" : " (memory model: does not fit)");
    out += line;
  }
  std::snprintf(line, sizeof line, "\n%zu of %zu runs simulated; mean absolute error %.1f%%, median %.1f%%, max %.1f%%\n",
                r.simulated, r.rows.size(), r.mape_pct, r.median_abs_error_pct, r.max_abs_error_pct);
  out += line;
  for (const auto& [conf, errs] : by_conf) {
    double s = 0;
    for (double e : errs) s += e;
    std::vector<double> sorted = errs;
    std::sort(sorted.begin(), sorted.end());
    const std::size_t n = sorted.size();
    const double median = n % 2 ? sorted[n / 2] : 0.5 * (sorted[n / 2 - 1] + sorted[n / 2]);
    std::snprintf(line, sizeof line, "  confidence %-6s: %zu runs, mean %.1f%%, median %.1f%%, max %.1f%%\n", conf.c_str(), n,
                  s / static_cast<double>(n), median, sorted.back());
    out += line;
  }
  out += "MFU: mfusim's own count (Megatron-LM convention) on the predicted step time; the published MFU uses each "
         "source's own convention and is shown for orientation only.\n";
  return out;
}

}  // namespace mfusim::scenario
