#pragma once
// What one task of a lowered step is, in a few bytes: which part of the model (a transformer block's
// attention or MLP segment, the embedding, a gradient bucket, ...), which pass (forward, backward,
// recomputation, ...), which micro-batch, model chunk and layers. The lowering stores one label per
// task (no strings on the hot path); the trace and the timeline format them only when asked
// (docs/timelines.md). Communication tasks additionally carry their CommRequest (collective, bytes,
// group), which the formatter reads next to the label.
#include <cstdint>
#include <string>
#include <string_view>

namespace mfusim::workload {

// The part of the step a task executes.
enum class OpPart : std::uint8_t {
  kNone,
  // compute (the compute stream)
  kEmbedding,      // token embedding (first pipeline position)
  kHead,           // final norm, logits and loss (last pipeline position)
  kAttention,      // a block's attention segment (norm .. residual)
  kAttentionPre,   // context parallelism: the attention segment's ops before the attention kernel
  kAttentionPost,  // ... and after it
  kMlp,            // a dense block's MLP segment
  kRouter,         // MoE: norm, router, top-k, permute
  kExperts,        // MoE: the routed experts' grouped GEMMs
  kCombine,        // MoE: unpermute, shared experts, residual
  kLayer,          // a whole block (weight-gradient pass: all its segments' wgrad GEMMs)
  kOptimizer,      // the optimizer step on the rank's (sharded) parameters
  kStage,          // pipeline exercise: one stage's whole forward or backward pass
  kAutocast,       // eager autocast: fp32 weights cast to bf16 (forward), bf16 weight grads into fp32 (backward)
  // communication
  kTpInput,         // sequence parallelism: all-gather before a block
  kTpOutput,        // reduce-scatter (SP) or all-reduce after a block
  kTpRegather,      // SP backward: the block's input gathered again for the weight gradient
  kEpDispatch,      // expert parallelism: all-to-all of tokens to their experts
  kEpCombine,       // ... and back
  kEtpGather,       // expert tensor parallelism: routed tokens all-gathered over the expert-TP group
  kEtpScatter,      // ... the experts' outputs reduce-scattered back
  kCpAllGather,     // context parallelism (all-gather variant): K and V of the whole sequence
  kCpRing,          // ring attention: K, V chunks circulating during the attention kernel
  kCpReduceScatter, // backward: dK, dV back around the ring
  kSendActivation,  // pipeline hand-off of activations to the next virtual stage
  kSendGradient,    // ... of gradients to the previous one
  kGradBucket,      // data-parallel gradient reduction of one bucket
  kExpertGrads,     // expert-data-parallel gradient reduction
  kEmbeddingGrads,  // tied embeddings: all-reduce between the first and last stage
  kParamGather,     // distributed optimizer: parameter all-gather
  kFsdpGather,      // ZeRO-3 / FSDP: parameter all-gather of a block before its use in a pass
  kFsdpReduceScatter,  // ZeRO-3 / FSDP: a block's gradient reduce-scatter after its backward
};
std::string_view to_string(OpPart p);  // "attention", "tp-output", ...

// The pass a task belongs to. kBackward is a combined backward (input and weight gradients);
// schedules that split it (zb-h1) run kBackwardInput and kBackwardWeight passes.
enum class Pass : std::uint8_t {
  kNone,
  kForward,
  kBackward,
  kBackwardInput,
  kBackwardWeight,
  kRecompute,
  kGradientSync,
  kOptimizer,
  kParameterSync,
};
std::string_view to_string(Pass p);  // "fwd", "bwd", "bwd-input", "bwd-weight", "recompute", ...

struct TaskLabel {
  OpPart part = OpPart::kNone;
  OpPart of = OpPart::kNone;         // communication: the segment it serves (attention, mlp, head, ...)
  Pass pass = Pass::kNone;
  std::int16_t chunk = -1;           // model chunk on the stage (interleaved / dualpipe), -1 if none
  std::int32_t microbatch = -1;      // -1: not tied to a micro-batch
  std::int32_t layer_begin = -1;     // transformer blocks [layer_begin, layer_end); -1 if none
  std::int32_t layer_end = -1;
  std::int32_t index = -1;           // gradient bucket number, pipeline-exercise stage, ...
};

// "F3 L5 attention", "B0.1 L12 mlp tp-output", "grad-bucket 2", "optimizer": short and readable. The
// pass letter is F (forward), B (backward), Bi / Bw (split backward), R (recomputation inside a
// backward), followed by the micro-batch and, with several model chunks per stage, ".chunk".
std::string short_name(const TaskLabel& l);

}  // namespace mfusim::workload
