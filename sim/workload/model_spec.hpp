#pragma once
// A decoder-only transformer's architecture, as the model catalog (workloads/models/*.yaml, schema
// mfusim-model/1, documented in workloads/models/README.md) describes it, and its parameter counts.
//
// Parameter count (per layer, h = hidden, a = heads, g = kv heads, d = head_dim, f = ffn):
//   attention (MHA/GQA): h*a*d (Q) + 2*h*g*d (K, V) + a*d*h (output)       [+ a*d + 2*g*d + h biases]
//   attention (MLA):     h*q_lora + q_lora*a*(d_nope + d_rope) + h*(kv_lora + d_rope)
//                        + kv_lora*a*(d_nope + d_v) + a*d_v*h + q_lora + kv_lora (the two inner norms)
//   dense MLP:           3*h*f (SwiGLU: gate, up, down) or 2*h*f (GELU, squared ReLU)  [+ f + h biases]
//   MoE MLP:             h*E (router) + E*3*h*f_e + S*3*h*f_s (routed and shared experts, SwiGLU)
//   norms:               2*h per layer (RMSNorm) or 4*h (LayerNorm, with bias)
// plus embeddings v*h, learned positions s*h, an untied output layer v*h and the final norm.
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace mfusim::config {
class Reader;
}

namespace mfusim::workload {

enum class Norm { kRmsNorm, kLayerNorm };
enum class Activation { kSwiGlu, kGelu, kSquaredRelu };
enum class Position { kRope, kLearned, kAlibi, kNone };
enum class AttentionType { kMha, kGqa, kMla };

struct MlaSpec {
  std::int64_t q_lora_rank = 0;
  std::int64_t kv_lora_rank = 0;
  std::int64_t qk_nope_head_dim = 0;
  std::int64_t qk_rope_head_dim = 0;
  std::int64_t v_head_dim = 0;
};

struct MoeSpec {
  std::int64_t experts = 0;
  std::int64_t top_k = 0;
  std::int64_t expert_ffn = 0;
  std::int64_t shared_experts = 0;
  std::int64_t shared_expert_ffn = 0;
  std::int64_t layer_frequency = 1;
  std::int64_t first_dense_layers = 0;
  // Node-limited routing (DeepSeek-V3 report section 2.1.2, M = 4 in section 4.2): each token's routed
  // experts lie on at most this many nodes of its EP group. 0: no limit. Only DeepEP's dispatch
  // (EpDispatcher::kDeepEp), which sends a token once per node, moves fewer bytes for it.
  std::int64_t max_nodes = 0;
};

struct ModelSpec {
  std::string name;
  std::string family;
  std::int64_t layers = 0;
  std::int64_t hidden = 0;
  std::int64_t heads = 0;
  std::int64_t kv_heads = 0;
  std::int64_t head_dim = 0;
  std::int64_t ffn = 0;
  std::int64_t vocab = 0;
  std::int64_t seq_length = 0;
  Norm norm = Norm::kRmsNorm;
  Activation activation = Activation::kSwiGlu;
  Position position = Position::kRope;
  bool tied_embeddings = false;
  bool linear_bias = false;
  AttentionType attention = AttentionType::kGqa;
  std::optional<std::int64_t> sliding_window;
  std::optional<MlaSpec> mla;
  std::optional<MoeSpec> moe;
  // Multi-token prediction (DeepSeek-V3 report, section 2.2; Megatron-Core --mtp-num-layers): D
  // sequential modules after the decoder, each a transformer block of the last layer's kind (MoE for
  // DeepSeek-V3) fed by a projection M_k [2h -> h] of two RMSNorms (the previous depth's hidden state and
  // the embedding of the token k ahead), followed by the shared output head and its own loss. Blocks
  // layers .. layers + mtp_layers - 1 of this spec; they sit on the last pipeline position, after the
  // decoder (Megatron-Core places them on the last stage), and the model's published parameter count
  // leaves them out (total_parameters() does too; mtp_parameters() counts them).
  std::int64_t mtp_layers = 0;
  std::optional<double> parameters_published;
  std::optional<double> active_parameters_published;
  std::vector<std::string> sources;

  // Whether transformer block `layer` (0-based) uses the MoE MLP. MTP blocks (layer >= layers) are of
  // the last decoder layer's kind.
  bool is_moe_layer(std::int64_t layer) const;
  bool is_mtp_layer(std::int64_t layer) const { return layer >= layers; }
  std::int64_t blocks() const { return layers + mtp_layers; }  // decoder and MTP blocks
  // One MTP module's parameters besides its block: the projection M_k (2h x h) and three RMSNorms (the
  // two inputs' and the shared head's); the embedding and output head are shared.
  std::int64_t mtp_extra_parameters() const { return 2 * hidden * hidden + 3 * hidden; }
  std::int64_t mtp_parameters() const;  // all MTP modules, blocks included
  std::int64_t moe_layer_count() const;
  // Parameters of one block's attention, dense MLP, MoE MLP (all experts), norms.
  std::int64_t attention_parameters() const;
  std::int64_t dense_mlp_parameters() const;
  std::int64_t moe_mlp_parameters() const;         // router + routed + shared experts
  std::int64_t moe_active_mlp_parameters() const;  // router + top_k routed + shared experts
  std::int64_t layer_norm_parameters() const;
  std::int64_t embedding_parameters() const;       // token (+ learned position) embeddings
  std::int64_t output_parameters() const;          // untied output layer (0 if tied) + final norm
  std::int64_t total_parameters() const;
  std::int64_t active_parameters() const;          // per token (MoE: top_k experts)
  // Attention widths: query heads x head dim, and the K/V projection width.
  std::int64_t query_width() const;
};

// Reads one model (a mapping in the mfusim-model/1 schema). Throws ConfigError on bad input.
ModelSpec read_model(config::Reader& r);

// workloads/models/NAME.yaml under `dir`; an unknown name lists the catalog (with did-you-mean).
ModelSpec load_catalog_model(const std::filesystem::path& dir, std::string_view name);
std::vector<std::string> catalog_model_names(const std::filesystem::path& dir);
const std::filesystem::path& default_model_dir();

}  // namespace mfusim::workload
