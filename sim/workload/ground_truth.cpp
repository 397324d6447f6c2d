#include "workload/ground_truth.hpp"

#include "config/config_error.hpp"
#include "config/loader.hpp"
#include "config/reader.hpp"

namespace mfusim::workload {
namespace {

const config::Node& need(const config::Node& map, const char* key) {
  const config::MapEntry* e = map.find(key);
  if (e == nullptr) throw config::ConfigError(map.mark(), key, std::string("missing required key '") + key + "'");
  return e->value;
}

std::int64_t integer(const config::Node& map, const char* key) {
  return config::ValueCodec<std::int64_t>::decode(need(map, key), key);
}

}  // namespace

std::vector<MeasuredStep> load_measured_steps(const std::filesystem::path& file) {
  const config::Node root = config::load_file(file);
  const auto schema = config::ValueCodec<std::string>::decode(need(root, "schema"), "schema");
  if (schema != "mfusim-training-steps/1") {
    throw config::ConfigError(need(root, "schema").mark(), "schema", "unsupported schema '" + schema + "'");
  }
  std::vector<MeasuredStep> out;
  for (const config::Node& run : need(root, "runs").items()) {
    MeasuredStep s;
    s.id = config::ValueCodec<std::string>::decode(need(run, "id"), "id");
    const config::Node& m = need(run, "model");
    const auto family = config::ValueCodec<std::string>::decode(need(m, "family"), "model.family");
    const bool gpt = family == "gpt";
    ModelSpec& x = s.model;
    x.name = s.id;
    x.family = family;
    x.layers = integer(m, "layers");
    x.hidden = integer(m, "hidden");
    x.heads = integer(m, "heads");
    x.kv_heads = integer(m, "kv_heads");
    x.head_dim = x.hidden / x.heads;
    x.ffn = integer(m, "ffn");
    x.vocab = integer(m, "vocab");
    x.seq_length = integer(m, "seq");
    x.norm = gpt ? Norm::kLayerNorm : Norm::kRmsNorm;
    x.activation = gpt ? Activation::kGelu : Activation::kSwiGlu;
    x.position = gpt ? Position::kLearned : Position::kRope;
    x.tied_embeddings = gpt;
    x.linear_bias = gpt;
    x.attention = x.kv_heads == x.heads ? AttentionType::kMha : AttentionType::kGqa;
    s.micro_batch = integer(run, "micro_batch");
    const auto recompute = config::ValueCodec<std::string>::decode(need(run, "recompute"), "recompute");
    s.recompute = recompute == "full" ? Recompute::kFull : recompute == "selective" ? Recompute::kSelective : Recompute::kNone;
    s.status = config::ValueCodec<std::string>::decode(need(run, "status"), "status");
    if (s.status == "ok") {
      s.step_time_s = config::ValueCodec<double>::decode(need(run, "step_time_s"), "step_time_s");
      s.peak_allocated_gib = config::ValueCodec<double>::decode(need(run, "peak_allocated_gib"), "peak_allocated_gib");
      s.mfu = config::ValueCodec<double>::decode(need(run, "mfu"), "mfu");
      for (auto [key, field] : {std::pair{"host_enqueue_time_s", &s.host_enqueue_time_s}, {"fwd_time_s", &s.fwd_time_s},
                                {"bwd_time_s", &s.bwd_time_s}, {"optimizer_time_s", &s.optimizer_time_s}}) {
        if (const config::MapEntry* h = run.find(key)) *field = config::ValueCodec<double>::decode(h->value, key);
      }
    }
    out.push_back(std::move(s));
  }
  return out;
}

std::vector<GroundTruthRow> compare_single_gpu(const std::vector<MeasuredStep>& runs, const compute::KernelCostModel& cost,
                                               const std::vector<HostOverhead>& host) {
  std::vector<GroundTruthRow> rows;
  for (const auto& run : runs) {
    if (run.status != "ok") continue;
    GroundTruthRow r;
    r.measured = run;
    r.predicted = predict_single_gpu_step(run.model, {run.micro_batch, run.model.seq_length}, 1, run.recompute, cost, true, host);
    r.time_error = r.predicted.step_time.seconds() / run.step_time_s - 1.0;
    r.memory_error = r.predicted.memory.total_bytes / (run.peak_allocated_gib * 1024.0 * 1024.0 * 1024.0) - 1.0;
    rows.push_back(std::move(r));
  }
  return rows;
}

}  // namespace mfusim::workload
