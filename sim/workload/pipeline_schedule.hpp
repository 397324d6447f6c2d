#pragma once
// Pipeline-parallel schedules as per-stage action lists. Stage s of p runs its actions in order; an
// action is a forward (F), a backward (B: input gradient, or input + weight gradient when the schedule
// does not split them) or a weight-gradient pass (W) of one micro-batch on one model chunk. Cross-stage
// dependencies are implied: F(chunk c, mb i) on stage s needs F of the previous virtual stage, B needs
// B of the next one; W needs the same stage's B. Executing the lists with those dependencies (see
// tests/model/pipeline_schedule_test.cpp) gives the familiar timelines:
//
//   GPipe         all F, then all B                            bubble (p-1)/(m+p-1) of the step
//   1F1B          warm-up of p-1-s F, steady F/B pairs, cool-down B   same bubble, p in flight
//   interleaved   Megatron's interleaved 1F1B over v chunks per stage (virtual stage c*p + s),
//                 in groups of p micro-batches                   bubble (p-1)/(v m + p - 1)
//   zb-h1         1F1B with B split into B and W; stage s defers its W passes by s micro-batches and
//                 runs the deferred ones in the cool-down, filling the last stages' tail bubble with
//                 the same peak activation memory as 1F1B (Qi et al., "Zero Bubble Pipeline
//                 Parallelism", ICLR 2024, section 3.1): bubble (p-1)(T_F + T_B - T_W) vs 1F1B's
//                 (p-1)(T_F + T_B + T_W)
//   dualpipe      DeepSeek-V3's bidirectional pipeline (DeepSeek-AI 2024, section 3.2.1) reduced to its
//                 schedule shape: each stage holds chunks s and p-1-s, half of the micro-batches enter at
//                 each end, and each stage alternates the two directions' 1F1B sequences; the overlap of
//                 forward and backward computation-communication inside a chunk pair is not modelled
#include <cstdint>
#include <functional>
#include <optional>
#include <string_view>
#include <vector>

#include "core/task_graph.hpp"

namespace mfusim::workload {

enum class PipelineSchedule : std::uint8_t { kGpipe, kOneFOneB, kInterleaved, kZeroBubbleH1, kDualPipe };
std::string_view to_string(PipelineSchedule s);

enum class PassKind : std::uint8_t { kForward, kBackward, kWeight };

struct PipelineAction {
  PassKind pass;
  std::int32_t microbatch;
  std::int32_t chunk;  // model chunk on this stage (0 .. v-1); virtual stage = chunk * p + stage
  bool operator==(const PipelineAction&) const = default;
};

struct ScheduleShape {
  std::int32_t stages = 1;
  std::int32_t microbatches = 1;
  std::int32_t chunks = 1;  // virtual stages per rank (interleaved); 2 for dualpipe
};

// One action list per stage. Backward passes combine B and W except in zb-h1.
// Throws InputError when the shape does not suit the schedule (interleaved: m a multiple of p).
std::vector<std::vector<PipelineAction>> build_schedule(PipelineSchedule schedule, const ScheduleShape& shape);

struct StageChunk {
  std::int32_t stage;
  std::int32_t chunk;
  bool operator==(const StageChunk&) const = default;
};

// Where a micro-batch's forward pass goes after (stage, chunk), or comes from; nullopt at the ends of
// the model. Interleaved: virtual stage c * p + s. DualPipe: chunk 0 runs stages 0 .. p-1, chunk 1
// (the second copy) runs stages p-1 .. 0.
std::optional<StageChunk> forward_successor(PipelineSchedule schedule, const ScheduleShape& shape, StageChunk at);
std::optional<StageChunk> forward_predecessor(PipelineSchedule schedule, const ScheduleShape& shape, StageChunk at);
// The (stage, chunk) where micro-batch `mb` enters the model (DualPipe: the second half enters at the
// last stage, chunk 1).
StageChunk entry_point(PipelineSchedule schedule, const ScheduleShape& shape, std::int32_t mb);

// The schedule as a task graph: one stream per stage running its actions in order; point-to-point
// hand-offs of `p2p` duration between stages (concurrent, not queued). Dependencies: a
// forward waits for the previous virtual stage's forward (via its hand-off), a backward for the next
// virtual stage's backward and for its own forward, a weight pass for its backward.
core::TaskGraph schedule_task_graph(PipelineSchedule schedule, const ScheduleShape& shape,
                                    const std::function<core::Duration(std::int32_t stage, const PipelineAction&)>& duration,
                                    core::Duration p2p);

}  // namespace mfusim::workload
