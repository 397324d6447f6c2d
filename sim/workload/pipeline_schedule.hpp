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
//   dualpipe      DeepSeek-V3's bidirectional pipeline (DeepSeek-AI 2024, section 3.2.1, Figure 5), in
//                 the order of DeepSeek's reference implementation (github.com/deepseek-ai/DualPipe,
//                 dualpipe.py, DualPipe.step): each stage holds chunks s and p-1-s, half of the
//                 micro-batches enter at each end (m even, m >= 2p), and stage s runs its eight steps
//                 (nF0, nF0F1, nB1W1F1, nF0B1F1B0, nB1F1B0, nB1B0, nWB0, nW; phase 0 is the direction
//                 entering at stage 0 on the first half of the stages, the other one on the second
//                 half), the zero-bubble backwards split into B and a later W; its main step's forward
//                 and backward pairs are overlapped_pairs() below, run overlapped by the step lowering
//                 (ParallelPlan::ep_comm_overlap)
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
  // A backward whose weight-gradient part runs later, as a W action of the same micro-batch and chunk
  // (zb-h1's every backward; DualPipe's zero-bubble ones).
  bool split = false;
  // DualPipe: this forward and the next action (a backward of the other direction) are one
  // "overlapped forward and backward chunk" (overlapped_pairs()).
  bool overlap_next = false;
  bool operator==(const PipelineAction&) const = default;
};

struct ScheduleShape {
  std::int32_t stages = 1;
  std::int32_t microbatches = 1;
  std::int32_t chunks = 1;  // virtual stages per rank (interleaved); 2 for dualpipe
  // Interleaved only: Megatron-Core's combined 1F1B (--overlap-moe-expert-parallel-comm with virtual
  // stages; schedules.py forward_backward_pipelining_with_interleaving, get_pp_rank_microbatches): one
  // more warm-up forward, "to ensure the forward and backward computations are independent", then each
  // steady-state step's forward and backward run as one pair (overlapped_pairs()).
  bool combined = false;
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

// Forward/backward pairs that run as one overlapped unit (DeepSeek-V3's DualPipe "overlapped forward
// and backward chunks", section 3.2.1 and Figure 4; Megatron-Core's --overlap-moe-expert-parallel-comm
// pairs a step's forward and backward the same way): on each stage, actions k and k + 1, one a forward
// and the other a backward of another micro-batch, interleave, so that the communication of one hides
// behind the computation of the other. Returns, per stage, the indices k that start a pair. Every
// adjacent forward/backward (either order) is a candidate except (a) the same micro-batch (a backward
// needs its forward) and (b) a pair ending with the stage's last action (the step ends with it).
// DualPipe: the pairs of its main steps (PipelineAction::overlap_next). Interleaved with
// ScheduleShape::combined: every steady-state forward with the backward after it, as Megatron-Core's
// combined 1F1B merges them (warm-up and cool-down passes run alone). Other schedules: as DualPipe
// runs a pair (both inputs received before it starts, both outputs sent after it ends), pairing can
// only delay, so a candidate is kept where it delays nothing. The lists run on abstract time (forward 1,
// backward 2 units, a split backward and a W 1 each, free hand-offs; a stage starts its next action as
// soon as its inputs are there), and a pair x, y is kept when y's input is there when x starts and the
// consumer of x's output on the next virtual stage starts at least y's duration after x ends (its
// slack absorbs the delay). Kept pairs change no start time of that abstract run, so the interleaving
// cannot deadlock. With pp = 1 every B(i), F(i + 1) pairs; in a pipeline only what its slack allows
// (none in a tight 1F1B steady state, where pairing would serialize neighbouring stages).
std::vector<std::vector<std::size_t>> overlapped_pairs(PipelineSchedule schedule, const ScheduleShape& shape,
                                                       const std::vector<std::vector<PipelineAction>>& lists);

// The schedule as a task graph: one stream per stage running its actions in order; point-to-point
// hand-offs of `p2p` duration between stages (concurrent, not queued). Dependencies: a
// forward waits for the previous virtual stage's forward (via its hand-off), a backward for the next
// virtual stage's backward and for its own forward, a weight pass for its backward.
// `overlapped`: each pair of overlapped_pairs() runs as DualPipe runs it, both inputs received before
// its first pass starts and both outputs sent after its second ends.
core::TaskGraph schedule_task_graph(PipelineSchedule schedule, const ScheduleShape& shape,
                                    const std::function<core::Duration(std::int32_t stage, const PipelineAction&)>& duration,
                                    core::Duration p2p, bool overlapped = false);

}  // namespace mfusim::workload
