#include "workload/pipeline_schedule.hpp"

#include <algorithm>
#include <array>
#include <map>
#include <string>
#include <tuple>

#include "core/error.hpp"

namespace mfusim::workload {
namespace {

using Actions = std::vector<PipelineAction>;

PipelineAction F(std::int32_t mb, std::int32_t chunk = 0) { return {PassKind::kForward, mb, chunk}; }
PipelineAction B(std::int32_t mb, std::int32_t chunk = 0, bool split = false) { return {PassKind::kBackward, mb, chunk, split}; }
PipelineAction W(std::int32_t mb, std::int32_t chunk = 0) { return {PassKind::kWeight, mb, chunk}; }

// 1F1B on a pipeline of p positions for micro-batches [first, first + m), at position `pos`.
Actions one_f_one_b(std::int32_t p, std::int32_t pos, std::int32_t first, std::int32_t m, std::int32_t chunk) {
  Actions a;
  const std::int32_t warmup = std::min(p - 1 - pos, m);
  for (std::int32_t i = 0; i < warmup; ++i) a.push_back(F(first + i, chunk));
  for (std::int32_t j = 0; j < m - warmup; ++j) {
    a.push_back(F(first + warmup + j, chunk));
    a.push_back(B(first + j, chunk));
  }
  for (std::int32_t i = m - warmup; i < m; ++i) a.push_back(B(first + i, chunk));
  return a;
}

// Megatron-LM's interleaved schedule (schedules.py, forward_backward_pipelining_with_interleaving):
// the k-th forward step runs chunk (k / p) % v of micro-batch (k / (p v)) p + k % p; backward steps
// visit chunks in reverse. Warm-up: (p - s - 1) * 2 + (v - 1) * p forward steps, one more with
// Megatron-Core's combined 1F1B (ScheduleShape::combined).
std::int32_t interleaved_warmup(std::int32_t p, std::int32_t s, std::int32_t m, std::int32_t v, bool combined) {
  return std::min((p - s - 1) * 2 + (v - 1) * p + (combined ? 1 : 0), m * v);
}
Actions interleaved(std::int32_t p, std::int32_t s, std::int32_t m, std::int32_t v, bool combined) {
  const std::int32_t total = m * v;
  const auto mb_of = [p, v](std::int32_t k) { return (k / (p * v)) * p + k % p; };
  const auto fwd_chunk = [p, v](std::int32_t k) { return (k / p) % v; };
  const auto bwd_chunk = [p, v](std::int32_t k) { return v - 1 - (k / p) % v; };
  const std::int32_t warmup = interleaved_warmup(p, s, m, v, combined);
  Actions a;
  for (std::int32_t k = 0; k < warmup; ++k) a.push_back(F(mb_of(k), fwd_chunk(k)));
  for (std::int32_t j = 0; j < total - warmup; ++j) {
    const std::int32_t k = warmup + j;
    a.push_back(F(mb_of(k), fwd_chunk(k)));
    a.push_back(B(mb_of(j), bwd_chunk(j)));
  }
  for (std::int32_t j = total - warmup; j < total; ++j) a.push_back(B(mb_of(j), bwd_chunk(j)));
  return a;
}

// DualPipe as DeepSeek's reference implementation orders it (DualPipe.step in dualpipe/dualpipe.py),
// for stage s of p with m micro-batches: nh = p / 2 half-pipeline, h = min(s, p - 1 - s), c = m / 2
// micro-batches per direction. Phase 0 is chunk 0 (the direction entering at stage 0, micro-batches
// [0, c)) on the first half of the stages and chunk 1 (entering at stage p - 1, [c, m)) on the second
// half; each direction's forwards and backwards take its micro-batches in order, and W runs the
// weight-gradient part of the oldest split backward (WeightGradStore's FIFO).
//   1 (nh - h - 1) x 2   F0                  5 nh - h - 1   B1, [F1 B0]
//   2 h + 1              F0 F1               6 h + 1        B1 B0, split from the middle on
//   3 nh - h - 1         B1 (split) W F1     7 nh - h - 1   W, B0 (split)
//   4 c - p + h + 1      [F0 B1] [F1 B0]     8 h + 1        W
// [F B] is an overlapped forward-backward chunk (overlap_next on the forward). The two middle stages
// run the first F0 B1 of step 4 one after the other ("we don't overlap these two chunks to further
// reduce bubble size"). The reference's sends and receives are left to the step's dependencies.
std::vector<Actions> dualpipe(std::int32_t p, std::int32_t m) {
  if (p % 2 != 0 || m % 2 != 0 || m < 2 * p) {
    throw core::InputError("dualpipe needs an even number of stages and an even number of micro-batches of at least twice "
                           "the stages (DeepSeek's DualPipe asserts num_chunks % 2 == 0 and num_chunks >= 2 num_ranks)");
  }
  const std::int32_t nh = p / 2, c = m / 2;
  std::vector<Actions> out(static_cast<std::size_t>(p));
  for (std::int32_t s = 0; s < p; ++s) {
    Actions& a = out[static_cast<std::size_t>(s)];
    const std::int32_t h = std::min(s, p - 1 - s);
    const bool second_half = s >= nh, middle = s == nh - 1 || s == nh;
    const auto chunk_of = [second_half](int phase) { return static_cast<std::int32_t>(phase ^ (second_half ? 1 : 0)); };
    std::array<std::int32_t, 2> next_f{0, c}, next_b{0, c};  // per chunk
    std::vector<PipelineAction> weights;                     // split backwards awaiting their W, oldest first
    std::size_t next_w = 0;
    const auto fwd = [&](int phase, bool overlap = false) {
      const std::int32_t ch = chunk_of(phase);
      PipelineAction x = F(next_f[static_cast<std::size_t>(ch)]++, ch);
      x.overlap_next = overlap;
      a.push_back(x);
    };
    const auto bwd = [&](int phase, bool split = false) {
      const std::int32_t ch = chunk_of(phase);
      a.push_back(B(next_b[static_cast<std::size_t>(ch)]++, ch, split));
      if (split) weights.push_back(a.back());
    };
    const auto weight = [&] {
      MFUSIM_CHECK(next_w < weights.size(), "dualpipe: W without a split backward");
      const PipelineAction& x = weights[next_w++];
      a.push_back(W(x.microbatch, x.chunk));
    };
    for (std::int32_t i = 0; i < (nh - h - 1) * 2; ++i) fwd(0);
    for (std::int32_t i = 0; i < h + 1; ++i) {
      fwd(0);
      fwd(1);
    }
    for (std::int32_t i = 0; i < nh - h - 1; ++i) {
      bwd(1, true);
      weight();
      fwd(1);
    }
    for (std::int32_t i = 0; i < c - p + h + 1; ++i) {
      fwd(0, !(i == 0 && middle));
      bwd(1);
      fwd(1, true);
      bwd(0);
    }
    for (std::int32_t i = 0; i < nh - h - 1; ++i) {
      bwd(1);
      fwd(1, true);
      bwd(0);
    }
    bool zb = false;
    for (std::int32_t i = 0; i < h + 1; ++i) {
      if (i == (h + 1) / 2 && h % 2 == 1) zb = true;
      bwd(1, zb);
      if (i == (h + 1) / 2 && h % 2 == 0) zb = true;
      bwd(0, zb);
    }
    for (std::int32_t i = 0; i < nh - h - 1; ++i) {
      weight();
      bwd(0, true);
    }
    for (std::int32_t i = 0; i < h + 1; ++i) weight();
    MFUSIM_CHECK(next_w == weights.size(), "dualpipe: a split backward without its W");
  }
  return out;
}

}  // namespace

std::string_view to_string(PipelineSchedule s) {
  switch (s) {
    case PipelineSchedule::kGpipe: return "gpipe";
    case PipelineSchedule::kOneFOneB: return "1f1b";
    case PipelineSchedule::kInterleaved: return "interleaved";
    case PipelineSchedule::kZeroBubbleH1: return "zb-h1";
    case PipelineSchedule::kDualPipe: return "dualpipe";
  }
  return "?";
}

std::vector<Actions> build_schedule(PipelineSchedule schedule, const ScheduleShape& shape) {
  const std::int32_t p = shape.stages, m = shape.microbatches, v = shape.chunks;
  MFUSIM_CHECK(p >= 1 && m >= 1 && v >= 1, "schedule shape must be positive");
  std::vector<Actions> out(static_cast<std::size_t>(p));
  for (std::int32_t s = 0; s < p; ++s) {
    Actions& a = out[static_cast<std::size_t>(s)];
    switch (schedule) {
      case PipelineSchedule::kGpipe:
        for (std::int32_t i = 0; i < m; ++i) a.push_back(F(i));
        for (std::int32_t i = 0; i < m; ++i) a.push_back(B(i));
        break;
      case PipelineSchedule::kOneFOneB:
        a = one_f_one_b(p, s, 0, m, 0);
        break;
      case PipelineSchedule::kInterleaved:
        if (v < 2) throw core::InputError("the interleaved schedule needs at least 2 virtual stages per rank");
        if (m % p != 0) {
          throw core::InputError("the interleaved schedule needs the number of micro-batches (" + std::to_string(m) +
                                 ") to be a multiple of the pipeline size (" + std::to_string(p) + ")");
        }
        a = interleaved(p, s, m, v, shape.combined);
        break;
      case PipelineSchedule::kZeroBubbleH1: {
        // 1F1B with B and W split; W of micro-batch j runs after B of micro-batch j + s.
        std::int32_t next_w = 0;
        for (PipelineAction x : one_f_one_b(p, s, 0, m, 0)) {
          x.split = x.pass == PassKind::kBackward;
          a.push_back(x);
          if (x.pass == PassKind::kBackward && x.microbatch - s >= 0) a.push_back(W(next_w++));
        }
        while (next_w < m) a.push_back(W(next_w++));
        break;
      }
      case PipelineSchedule::kDualPipe:
        break;  // built below: the two directions' orders depend on each other
    }
  }
  if (schedule == PipelineSchedule::kDualPipe) out = dualpipe(p, m);
  return out;
}

std::optional<StageChunk> forward_successor(PipelineSchedule schedule, const ScheduleShape& shape, StageChunk at) {
  const std::int32_t p = shape.stages;
  if (schedule == PipelineSchedule::kDualPipe) {
    const std::int32_t next = at.chunk == 0 ? at.stage + 1 : at.stage - 1;
    if (next < 0 || next >= p) return std::nullopt;
    return StageChunk{next, at.chunk};
  }
  const std::int32_t vs = at.chunk * p + at.stage + 1;
  if (vs >= p * shape.chunks) return std::nullopt;
  return StageChunk{vs % p, vs / p};
}

std::optional<StageChunk> forward_predecessor(PipelineSchedule schedule, const ScheduleShape& shape, StageChunk at) {
  const std::int32_t p = shape.stages;
  if (schedule == PipelineSchedule::kDualPipe) {
    const std::int32_t prev = at.chunk == 0 ? at.stage - 1 : at.stage + 1;
    if (prev < 0 || prev >= p) return std::nullopt;
    return StageChunk{prev, at.chunk};
  }
  const std::int32_t vs = at.chunk * p + at.stage - 1;
  if (vs < 0) return std::nullopt;
  return StageChunk{vs % p, vs / p};
}

StageChunk entry_point(PipelineSchedule schedule, const ScheduleShape& shape, std::int32_t mb) {
  if (schedule == PipelineSchedule::kDualPipe && mb >= shape.microbatches / 2) return {shape.stages - 1, 1};
  return {0, 0};
}

std::vector<std::vector<std::size_t>> overlapped_pairs(PipelineSchedule schedule, const ScheduleShape& shape,
                                                       const std::vector<std::vector<PipelineAction>>& lists) {
  const auto p = static_cast<std::size_t>(shape.stages);
  MFUSIM_CHECK(lists.size() == p, "one action list per stage");
  if (schedule == PipelineSchedule::kDualPipe) {  // the pairs its construction overlaps
    std::vector<std::vector<std::size_t>> pairs(p);
    for (std::size_t s = 0; s < p; ++s) {
      for (std::size_t k = 0; k + 1 < lists[s].size(); ++k) {
        if (lists[s][k].overlap_next) pairs[s].push_back(k);
      }
    }
    return pairs;
  }
  if (schedule == PipelineSchedule::kInterleaved && shape.combined) {
    // Megatron-Core's combined 1F1B: after the warm-up forwards the list alternates F, B (one step
    // each); every such F and the B after it are one pair; the cool-down backwards run alone.
    std::vector<std::vector<std::size_t>> pairs(p);
    for (std::size_t s = 0; s < p; ++s) {
      const std::int32_t warmup = interleaved_warmup(shape.stages, static_cast<std::int32_t>(s), shape.microbatches, shape.chunks, true);
      const std::int32_t steady = shape.microbatches * shape.chunks - warmup;
      for (std::int32_t j = 0; j < steady; ++j) pairs[s].push_back(static_cast<std::size_t>(warmup + 2 * j));
    }
    return pairs;
  }
  // The lists on abstract time (forward 1 unit, backward 2, a split backward and a W 1 each; free
  // hand-offs), run by the engine as schedule_task_graph's graph: each stage starts its next action as
  // soon as its inputs are there. Its tasks are the lists' actions, stage by stage, in list order.
  const auto units = [](const PipelineAction& a) { return a.pass == PassKind::kBackward && !a.split ? 2 : 1; };
  const core::Duration unit = core::Duration::from_us(1);
  const core::TaskGraph g = schedule_task_graph(
      schedule, shape, [&](std::int32_t, const PipelineAction& a) { return unit * units(a); }, core::Duration::zero());
  core::Engine engine;
  core::TaskGraphRun run(engine, g);
  run.start();
  MFUSIM_CHECK(engine.run().status == core::RunStatus::kCompleted, "pipeline schedule deadlocks");
  const auto& span = run.spans();
  std::vector<std::size_t> base(p + 1, 0);
  for (std::size_t s = 0; s < p; ++s) base[s + 1] = base[s] + lists[s].size();
  MFUSIM_CHECK(g.tasks().size() == base[p], "the action lists are the schedule's");
  using Key = std::tuple<int, std::int32_t, std::int32_t, std::int32_t>;  // pass, mb, stage, chunk
  std::map<Key, std::size_t> id;
  for (std::size_t s = 0; s < p; ++s) {
    for (std::size_t k = 0; k < lists[s].size(); ++k) {
      const auto& x = lists[s][k];
      id.emplace(Key{static_cast<int>(x.pass), x.microbatch, static_cast<std::int32_t>(s), x.chunk}, base[s] + k);
    }
  }
  // When a task's inputs are all there: the latest end among its dependencies (the hand-offs; stream
  // order is not a dependency).
  const auto inputs = [&](std::size_t t) {
    core::SimTime at = core::SimTime::zero();
    for (core::TaskIndex d : g.tasks()[t].deps) at = std::max(at, span[d].end);
    return at;
  };
  // A pair (x then y) starts at x's start and ends at y's end: it is kept when that changes no start
  // time, i.e. y's input is there when x starts (y then starts right after x, as before) and whoever
  // consumes x's output (the next virtual stage's pass of the same micro-batch) starts at least y's
  // duration after x ends.
  const auto consumer_start = [&](const PipelineAction& x, std::int32_t s) -> std::optional<core::SimTime> {
    const StageChunk at{s, x.chunk};
    std::optional<StageChunk> where;
    if (x.pass == PassKind::kForward) where = forward_successor(schedule, shape, at);
    if (x.pass == PassKind::kBackward) where = forward_predecessor(schedule, shape, at);
    if (!where) return std::nullopt;  // no consumer on another stage
    return span[id.at(Key{static_cast<int>(x.pass), x.microbatch, where->stage, where->chunk})].start;
  };
  std::vector<std::vector<std::size_t>> pairs(p);
  for (std::size_t s = 0; s < p; ++s) {
    const auto& l = lists[s];
    for (std::size_t k = 0; k + 2 < l.size(); ++k) {  // (b): the pair's second action is not the stage's last
      const PipelineAction& x = l[k];
      const PipelineAction& y = l[k + 1];
      const bool mixed = (x.pass == PassKind::kForward && y.pass == PassKind::kBackward) ||
                         (x.pass == PassKind::kBackward && y.pass == PassKind::kForward);
      if (!mixed || x.microbatch == y.microbatch) continue;
      const auto& xs = span[base[s] + k];
      if (inputs(base[s] + k + 1) > xs.start) continue;
      const auto consumer = consumer_start(x, static_cast<std::int32_t>(s));
      if (consumer && *consumer < xs.end + unit * units(y)) continue;
      pairs[s].push_back(k);
      ++k;  // an action belongs to one pair at most
    }
  }
  return pairs;
}

core::TaskGraph schedule_task_graph(PipelineSchedule schedule, const ScheduleShape& shape,
                                    const std::function<core::Duration(std::int32_t, const PipelineAction&)>& duration,
                                    core::Duration p2p, bool overlapped) {
  const auto lists = build_schedule(schedule, shape);
  const std::int32_t p = shape.stages;
  core::TaskGraph g;
  std::vector<core::StreamIndex> stage_stream;
  for (std::int32_t s = 0; s < p; ++s) stage_stream.push_back(g.add_stream("stage" + std::to_string(s)));
  // A hand-off is a delay on the dependency: its own stream, so hand-offs never queue behind each
  // other (a FIFO link stream would impose creation order, not readiness order). None when p2p = 0.
  const auto hand_off = [&](const std::string& what, core::TaskIndex after, core::TaskIndex before) {
    if (p2p == core::Duration::zero()) {
      g.add_dependency(before, after);
      return;
    }
    const auto hop = g.add_task(what, g.add_stream(what), p2p, {after});
    g.add_dependency(before, hop);
  };
  using Key = std::tuple<PassKind, std::int32_t, std::int32_t, std::int32_t>;  // pass, mb, stage, chunk
  std::map<Key, core::TaskIndex> task;
  const auto name = [](const PipelineAction& a, std::int32_t s) {
    const char* k = a.pass == PassKind::kForward ? "F" : a.pass == PassKind::kBackward ? "B" : "W";
    return std::string(k) + std::to_string(a.microbatch) + (a.chunk ? "." + std::to_string(a.chunk) : "") + "@" + std::to_string(s);
  };
  for (std::int32_t s = 0; s < p; ++s) {
    for (const PipelineAction& a : lists[static_cast<std::size_t>(s)]) {
      const auto t = g.add_task(name(a, s), stage_stream[static_cast<std::size_t>(s)], duration(s, a));
      MFUSIM_CHECK(task.emplace(Key{a.pass, a.microbatch, s, a.chunk}, t).second, "schedule repeats " + name(a, s));
    }
  }
  const auto find_pass = [&](PassKind k, std::int32_t mb, StageChunk at) {
    auto it = task.find(Key{k, mb, at.stage, at.chunk});
    MFUSIM_CHECK(it != task.end(), "schedule misses a pass of micro-batch " + std::to_string(mb) + " on stage " +
                                       std::to_string(at.stage));
    return it->second;
  };
  // Overlapped pairs: a pair's first pass releases its output with its partner's end, and takes its
  // partner's inputs before it starts.
  std::map<core::TaskIndex, core::TaskIndex> partner, first_of;
  if (overlapped) {
    const auto pairs = overlapped_pairs(schedule, shape, lists);
    for (std::int32_t s = 0; s < p; ++s) {
      const auto& l = lists[static_cast<std::size_t>(s)];
      for (std::size_t k : pairs[static_cast<std::size_t>(s)]) {
        const auto x = find_pass(l[k].pass, l[k].microbatch, {s, l[k].chunk});
        const auto y = find_pass(l[k + 1].pass, l[k + 1].microbatch, {s, l[k + 1].chunk});
        partner[x] = y;
        first_of[y] = x;
      }
    }
  }
  const auto find = [&](PassKind k, std::int32_t mb, StageChunk at) {
    const auto t = find_pass(k, mb, at);
    auto it = partner.find(t);
    return it != partner.end() ? it->second : t;
  };
  for (const auto& [key, pass] : task) {
    const auto [kind, mb, s, c] = key;
    const StageChunk here{s, c};
    const auto first = first_of.find(pass);
    const core::TaskIndex t = first != first_of.end() ? first->second : pass;  // who waits for the inputs
    if (kind == PassKind::kForward) {
      if (auto prev = forward_predecessor(schedule, shape, here)) {
        hand_off("act" + std::to_string(mb) + "." + std::to_string(c) + " " + std::to_string(prev->stage) + "->" + std::to_string(s),
                 find(PassKind::kForward, mb, *prev), t);
      }
    } else if (kind == PassKind::kBackward) {
      g.add_dependency(t, find(PassKind::kForward, mb, here));
      if (auto next = forward_successor(schedule, shape, here)) {
        hand_off("grad" + std::to_string(mb) + "." + std::to_string(c) + " " + std::to_string(next->stage) + "->" + std::to_string(s),
                 find(PassKind::kBackward, mb, *next), t);
      }
    } else {
      g.add_dependency(t, find(PassKind::kBackward, mb, here));
    }
  }
  return g;
}

}  // namespace mfusim::workload
