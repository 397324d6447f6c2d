#include "workload/model_spec.hpp"

#include <algorithm>
#include <array>

#include "config/config_error.hpp"
#include "config/loader.hpp"
#include "config/reader.hpp"
#include "core/error.hpp"
#include "core/strings.hpp"

#ifndef MFUSIM_SOURCE_DIR
#error "MFUSIM_SOURCE_DIR must be defined by the build"
#endif

namespace mfusim::workload {
namespace {

using config::Choice;
using config::Reader;

constexpr std::array<Choice<Norm>, 2> kNorms{{{"rmsnorm", Norm::kRmsNorm, ""}, {"layernorm", Norm::kLayerNorm, ""}}};
constexpr std::array<Choice<Activation>, 3> kActivations{{{"swiglu", Activation::kSwiGlu, ""},
                                                          {"gelu", Activation::kGelu, ""},
                                                          {"squared-relu", Activation::kSquaredRelu, ""}}};
constexpr std::array<Choice<Position>, 4> kPositions{{{"rope", Position::kRope, ""},
                                                      {"learned", Position::kLearned, ""},
                                                      {"alibi", Position::kAlibi, ""},
                                                      {"none", Position::kNone, ""}}};
constexpr std::array<Choice<AttentionType>, 3> kAttention{
    {{"mha", AttentionType::kMha, ""}, {"gqa", AttentionType::kGqa, ""}, {"mla", AttentionType::kMla, ""}}};

// Upper bounds on model dimensions. They lie far above every published model (largest in the catalog:
// 128 layers, hidden 25,600, ffn 102,400, 256 experts, vocab 256,000) and keep every parameter and FLOP
// count inside 64-bit integers: layers x experts x hidden x ffn x 3 < 2^61.
constexpr std::int64_t kMaxDimension = std::int64_t{1} << 20;  // ffn, heads, head_dim, MLA ranks
constexpr std::int64_t kMaxLayers = 4096;
constexpr std::int64_t kMaxHidden = std::int64_t{1} << 18;
constexpr std::int64_t kMaxExperts = 1024;
constexpr std::int64_t kMaxVocab = std::int64_t{1} << 22;
constexpr std::int64_t kMaxSequence = std::int64_t{1} << 24;

std::int64_t positive(Reader& r, std::string_view key, std::int64_t max = kMaxDimension) {
  const std::int64_t v = r.required<std::int64_t>(key);
  if (v < 1) r.fail(key, std::to_string(v) + " must be at least 1");
  if (v > max) r.fail(key, std::to_string(v) + " is out of range (valid: 1 to " + std::to_string(max) + ")");
  return v;
}

std::int64_t non_negative(Reader& r, std::string_view key, std::int64_t fallback) {
  const std::int64_t v = r.optional<std::int64_t>(key, fallback);
  if (v < 0) r.fail(key, std::to_string(v) + " must not be negative");
  if (v > kMaxDimension) r.fail(key, std::to_string(v) + " is out of range (valid: 0 to " + std::to_string(kMaxDimension) + ")");
  return v;
}

std::int64_t mlp_matrices(Activation a) { return a == Activation::kSwiGlu ? 3 : 2; }

}  // namespace

bool ModelSpec::is_moe_layer(std::int64_t layer) const {
  if (!moe) return false;
  if (layer >= layers) return is_moe_layer(layers - 1);
  if (layer < moe->first_dense_layers) return false;
  return (layer - moe->first_dense_layers) % moe->layer_frequency == 0;
}

std::int64_t ModelSpec::moe_layer_count() const {
  std::int64_t n = 0;
  for (std::int64_t l = 0; l < layers; ++l) n += is_moe_layer(l) ? 1 : 0;
  return n;
}

std::int64_t ModelSpec::query_width() const { return heads * head_dim; }

std::int64_t ModelSpec::attention_parameters() const {
  const std::int64_t h = hidden;
  if (attention == AttentionType::kMla) {
    const MlaSpec& m = *mla;
    const std::int64_t qk = m.qk_nope_head_dim + m.qk_rope_head_dim;
    const std::int64_t q = m.q_lora_rank > 0 ? h * m.q_lora_rank + m.q_lora_rank + m.q_lora_rank * heads * qk : h * heads * qk;
    const std::int64_t kv = h * (m.kv_lora_rank + m.qk_rope_head_dim) + m.kv_lora_rank +
                            m.kv_lora_rank * heads * (m.qk_nope_head_dim + m.v_head_dim);
    return q + kv + heads * m.v_head_dim * h;
  }
  std::int64_t p = h * heads * head_dim + 2 * h * kv_heads * head_dim + heads * head_dim * h;
  if (linear_bias) p += heads * head_dim + 2 * kv_heads * head_dim + h;
  return p;
}

std::int64_t ModelSpec::dense_mlp_parameters() const {
  std::int64_t p = mlp_matrices(activation) * hidden * ffn;
  if (linear_bias) p += (activation == Activation::kSwiGlu ? 2 : 1) * ffn + hidden;
  return p;
}

std::int64_t ModelSpec::moe_mlp_parameters() const {
  if (!moe) return 0;
  const std::int64_t m = mlp_matrices(activation);
  return hidden * moe->experts + moe->experts * m * hidden * moe->expert_ffn +
         moe->shared_experts * m * hidden * moe->shared_expert_ffn;
}

std::int64_t ModelSpec::moe_active_mlp_parameters() const {
  if (!moe) return 0;
  const std::int64_t m = mlp_matrices(activation);
  return hidden * moe->experts + moe->top_k * m * hidden * moe->expert_ffn +
         moe->shared_experts * m * hidden * moe->shared_expert_ffn;
}

std::int64_t ModelSpec::layer_norm_parameters() const { return (norm == Norm::kLayerNorm ? 4 : 2) * hidden; }

std::int64_t ModelSpec::embedding_parameters() const {
  return vocab * hidden + (position == Position::kLearned ? seq_length * hidden : 0);
}

std::int64_t ModelSpec::output_parameters() const {
  return (tied_embeddings ? 0 : vocab * hidden) + (norm == Norm::kLayerNorm ? 2 : 1) * hidden;
}

std::int64_t ModelSpec::total_parameters() const {
  std::int64_t p = embedding_parameters() + output_parameters();
  for (std::int64_t l = 0; l < layers; ++l) {
    p += attention_parameters() + layer_norm_parameters() + (is_moe_layer(l) ? moe_mlp_parameters() : dense_mlp_parameters());
  }
  return p;
}

std::int64_t ModelSpec::mtp_parameters() const {
  std::int64_t p = 0;
  for (std::int64_t l = layers; l < blocks(); ++l) {
    p += attention_parameters() + layer_norm_parameters() + (is_moe_layer(l) ? moe_mlp_parameters() : dense_mlp_parameters()) +
         mtp_extra_parameters();
  }
  return p;
}

std::int64_t ModelSpec::active_parameters() const {
  std::int64_t p = embedding_parameters() + output_parameters();
  for (std::int64_t l = 0; l < layers; ++l) {
    p += attention_parameters() + layer_norm_parameters() +
         (is_moe_layer(l) ? moe_active_mlp_parameters() : dense_mlp_parameters());
  }
  return p;
}

ModelSpec read_model(Reader& r) {
  ModelSpec m;
  if (r.has("schema")) {
    const auto schema = r.required<std::string>("schema");
    if (schema != "mfusim-model/1") r.fail("schema", "unsupported schema '" + schema + "' (expected mfusim-model/1)");
  }
  m.name = r.required<std::string>("name");
  m.family = r.optional<std::string>("family", "other");
  m.layers = positive(r, "layers", kMaxLayers);
  m.hidden = positive(r, "hidden", kMaxHidden);
  m.heads = positive(r, "heads");
  m.kv_heads = r.has("kv_heads") ? positive(r, "kv_heads") : m.heads;
  m.head_dim = r.has("head_dim") ? positive(r, "head_dim") : m.hidden / m.heads;
  if (!r.has("head_dim") && m.hidden % m.heads != 0) {
    r.fail("heads", std::to_string(m.heads) + " heads do not divide hidden=" + std::to_string(m.hidden) +
                        "; give head_dim explicitly");
  }
  if (m.heads % m.kv_heads != 0) {
    r.fail("kv_heads", std::to_string(m.kv_heads) + " does not divide heads=" + std::to_string(m.heads));
  }
  m.ffn = positive(r, "ffn");
  m.vocab = positive(r, "vocab", kMaxVocab);
  m.seq_length = positive(r, "seq_length", kMaxSequence);
  m.norm = r.choice<Norm>("norm", kNorms);
  m.activation = r.choice<Activation>("activation", kActivations);
  m.position = r.choice<Position>("position", kPositions);
  m.tied_embeddings = r.required<bool>("tied_embeddings");
  m.linear_bias = r.optional<bool>("linear_bias", false);
  {
    Reader a = r.mapping("attention");
    m.attention = a.choice<AttentionType>("type", kAttention);
    if (auto w = a.maybe<std::int64_t>("sliding_window")) {
      if (*w < 1) a.fail("sliding_window", "must be at least 1");
      m.sliding_window = *w;
    }
    if (m.attention == AttentionType::kMla) {
      MlaSpec mla;
      mla.q_lora_rank = non_negative(a, "q_lora_rank", 0);
      mla.kv_lora_rank = positive(a, "kv_lora_rank");
      mla.qk_nope_head_dim = positive(a, "qk_nope_head_dim");
      mla.qk_rope_head_dim = positive(a, "qk_rope_head_dim");
      mla.v_head_dim = positive(a, "v_head_dim");
      m.mla = mla;
    }
    a.finish();
    if (m.attention == AttentionType::kMha && m.kv_heads != m.heads) {
      r.fail("kv_heads", "MHA needs kv_heads = heads (" + std::to_string(m.heads) + "); use attention.type: gqa");
    }
  }
  if (auto moe = r.maybe_mapping("moe")) {
    MoeSpec s;
    s.experts = positive(*moe, "experts", kMaxExperts);
    s.top_k = positive(*moe, "top_k");
    if (s.top_k > s.experts) moe->fail("top_k", std::to_string(s.top_k) + " exceeds experts=" + std::to_string(s.experts));
    s.expert_ffn = positive(*moe, "expert_ffn");
    s.shared_experts = non_negative(*moe, "shared_experts", 0);
    if (s.shared_experts > kMaxExperts) {
      moe->fail("shared_experts", std::to_string(s.shared_experts) + " is out of range (valid: 0 to " +
                                      std::to_string(kMaxExperts) + ")");
    }
    s.shared_expert_ffn = s.shared_experts > 0 ? positive(*moe, "shared_expert_ffn") : non_negative(*moe, "shared_expert_ffn", 0);
    s.layer_frequency = moe->optional<std::int64_t>("layer_frequency", 1);
    if (s.layer_frequency < 1 || s.layer_frequency > m.layers) {
      moe->fail("layer_frequency", "must be between 1 and layers=" + std::to_string(m.layers));
    }
    s.first_dense_layers = non_negative(*moe, "first_dense_layers", 0);
    if (s.first_dense_layers >= m.layers) {
      moe->fail("first_dense_layers", std::to_string(s.first_dense_layers) + " leaves no MoE layer of " + std::to_string(m.layers));
    }
    s.max_nodes = non_negative(*moe, "max_nodes", 0);
    if (s.max_nodes > kMaxExperts) {
      moe->fail("max_nodes", std::to_string(s.max_nodes) + " is out of range (valid: 0 for no limit, or 1 to " +
                                 std::to_string(kMaxExperts) + ")");
    }
    moe->finish();
    m.moe = s;
  }
  m.mtp_layers = non_negative(r, "mtp_layers", 0);
  if (m.mtp_layers > m.layers) r.fail("mtp_layers", std::to_string(m.mtp_layers) + " is out of range (valid: 0 to layers=" + std::to_string(m.layers) + ")");
  m.parameters_published = r.maybe<double>("parameters_published");
  m.active_parameters_published = r.maybe<double>("active_parameters_published");
  m.sources = r.has("sources") ? r.list<std::string>("sources") : std::vector<std::string>{};
  r.maybe<std::string>("note");
  r.finish();
  return m;
}

const std::filesystem::path& default_model_dir() {
  static const std::filesystem::path kDir = std::filesystem::path(MFUSIM_SOURCE_DIR) / "workloads" / "models";
  return kDir;
}

std::vector<std::string> catalog_model_names(const std::filesystem::path& dir) {
  std::vector<std::string> names;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
    if (e.path().extension() == ".yaml") names.push_back(e.path().stem().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

ModelSpec load_catalog_model(const std::filesystem::path& dir, std::string_view name) {
  const auto path = dir / (std::string(name) + ".yaml");
  if (!std::filesystem::exists(path)) {
    const auto names = catalog_model_names(dir);
    std::string message = "unknown model '" + std::string(name) + "'";
    if (auto m = core::closest_match(name, names)) message += " (did you mean '" + *m + "'?)";
    throw core::InputError(message + "; the catalog has: " + core::join(names));
  }
  const config::Node root = config::load_file(path);
  Reader r(root, "", nullptr);
  ModelSpec m = read_model(r);
  if (m.name != name) r.fail("name", "'" + m.name + "' does not match the file name '" + std::string(name) + ".yaml'");
  return m;
}

}  // namespace mfusim::workload
