#include "workload/task_label.hpp"

namespace mfusim::workload {

std::string_view to_string(OpPart p) {
  switch (p) {
    case OpPart::kNone: return "";
    case OpPart::kEmbedding: return "embedding";
    case OpPart::kHead: return "head";
    case OpPart::kAttention: return "attention";
    case OpPart::kAttentionPre: return "attention-pre";
    case OpPart::kAttentionPost: return "attention-post";
    case OpPart::kMlp: return "mlp";
    case OpPart::kRouter: return "router";
    case OpPart::kExperts: return "experts";
    case OpPart::kCombine: return "combine";
    case OpPart::kLayer: return "layer";
    case OpPart::kOptimizer: return "optimizer";
    case OpPart::kStage: return "stage";
    case OpPart::kAutocast: return "autocast";
    case OpPart::kTpInput: return "tp-input";
    case OpPart::kTpOutput: return "tp-output";
    case OpPart::kTpRegather: return "tp-regather";
    case OpPart::kEpDispatch: return "ep-dispatch";
    case OpPart::kEpCombine: return "ep-combine";
    case OpPart::kEtpGather: return "etp-gather";
    case OpPart::kEtpScatter: return "etp-scatter";
    case OpPart::kCpAllGather: return "cp-all-gather";
    case OpPart::kCpRing: return "cp-ring";
    case OpPart::kCpReduceScatter: return "cp-reduce-scatter";
    case OpPart::kSendActivation: return "send-activation";
    case OpPart::kSendGradient: return "send-gradient";
    case OpPart::kGradBucket: return "grad-bucket";
    case OpPart::kExpertGrads: return "expert-grads";
    case OpPart::kEmbeddingGrads: return "embedding-grads";
    case OpPart::kParamGather: return "param-gather";
    case OpPart::kFsdpGather: return "fsdp-gather";
    case OpPart::kFsdpReduceScatter: return "fsdp-reduce-scatter";
  }
  return "?";
}

std::string_view to_string(Pass p) {
  switch (p) {
    case Pass::kNone: return "";
    case Pass::kForward: return "fwd";
    case Pass::kBackward: return "bwd";
    case Pass::kBackwardInput: return "bwd-input";
    case Pass::kBackwardWeight: return "bwd-weight";
    case Pass::kRecompute: return "recompute";
    case Pass::kGradientSync: return "grad-sync";
    case Pass::kOptimizer: return "optimizer";
    case Pass::kParameterSync: return "param-sync";
  }
  return "?";
}

std::string short_name(const TaskLabel& l) {
  std::string s;
  const auto word = [&s](std::string_view w) {
    if (w.empty()) return;
    if (!s.empty()) s += ' ';
    s += w;
  };
  std::string_view letter;
  switch (l.pass) {
    case Pass::kForward: letter = "F"; break;
    case Pass::kBackward: letter = "B"; break;
    case Pass::kBackwardInput: letter = "Bi"; break;
    case Pass::kBackwardWeight: letter = "Bw"; break;
    case Pass::kRecompute: letter = "R"; break;
    default: break;
  }
  if (!letter.empty() && l.microbatch >= 0) {
    s = std::string(letter) + std::to_string(l.microbatch);
    if (l.chunk >= 0) s += "." + std::to_string(l.chunk);
  }
  if (l.layer_begin >= 0 && l.layer_end > l.layer_begin) {
    word(l.layer_end - l.layer_begin == 1 ? "L" + std::to_string(l.layer_begin)
                                          : "L" + std::to_string(l.layer_begin) + "-" + std::to_string(l.layer_end - 1));
  }
  if (l.part == OpPart::kStage) return s;  // pipeline exercise: "F3"
  word(to_string(l.of));
  word(to_string(l.part));
  if (l.index >= 0) word(std::to_string(l.index));
  return s;
}

}  // namespace mfusim::workload
