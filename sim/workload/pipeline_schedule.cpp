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
PipelineAction B(std::int32_t mb, std::int32_t chunk = 0) { return {PassKind::kBackward, mb, chunk}; }
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
// visit chunks in reverse. Warm-up: (p - s - 1) * 2 + (v - 1) * p forward steps.
Actions interleaved(std::int32_t p, std::int32_t s, std::int32_t m, std::int32_t v) {
  const std::int32_t total = m * v;
  const auto mb_of = [p, v](std::int32_t k) { return (k / (p * v)) * p + k % p; };
  const auto fwd_chunk = [p, v](std::int32_t k) { return (k / p) % v; };
  const auto bwd_chunk = [p, v](std::int32_t k) { return v - 1 - (k / p) % v; };
  const std::int32_t warmup = std::min((p - s - 1) * 2 + (v - 1) * p, total);
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

// DualPipe: stage s runs chunk 0 (position s of the downward pipeline, micro-batches [0, m/2)) and
// chunk 1 (position p-1-s of the upward pipeline, micro-batches [m/2, m)), each in 1F1B order. The
// merge of the two orders per stage comes from a list-scheduling pass on abstract time (F = 1, B = 2
// units, free communication): a free stage starts whichever head is ready, a backward before a
// forward, on ties the direction that entered closer to it. The merged orders inherit a consistent
// global order from that pass, so the static schedule cannot deadlock whatever the real durations.
std::vector<Actions> dualpipe(std::int32_t p, std::int32_t m) {
  if (p % 2 != 0 || m < 2) throw core::InputError("dualpipe needs an even number of stages and at least 2 micro-batches");
  const std::int32_t half = m / 2;
  const ScheduleShape shape{p, m, 2};
  std::vector<std::array<Actions, 2>> lists(static_cast<std::size_t>(p));
  for (std::int32_t s = 0; s < p; ++s) {
    lists[static_cast<std::size_t>(s)][0] = one_f_one_b(p, s, 0, half, 0);
    lists[static_cast<std::size_t>(s)][1] = one_f_one_b(p, p - 1 - s, half, m - half, 1);
  }
  using Key = std::tuple<int, std::int32_t, std::int32_t, std::int32_t>;  // pass, mb, stage, chunk
  std::map<Key, std::int64_t> finish;
  const auto done_by = [&](PassKind k, std::int32_t mb, StageChunk at, std::int64_t t) {
    auto it = finish.find(Key{static_cast<int>(k), mb, at.stage, at.chunk});
    return it != finish.end() && it->second <= t;
  };
  const auto ready = [&](const PipelineAction& a, std::int32_t s, std::int64_t t) {
    const StageChunk here{s, a.chunk};
    if (a.pass == PassKind::kForward) {
      const auto prev = forward_predecessor(PipelineSchedule::kDualPipe, shape, here);
      return !prev || done_by(PassKind::kForward, a.microbatch, *prev, t);
    }
    const auto next = forward_successor(PipelineSchedule::kDualPipe, shape, here);
    return done_by(PassKind::kForward, a.microbatch, here, t) && (!next || done_by(PassKind::kBackward, a.microbatch, *next, t));
  };
  std::vector<Actions> out(static_cast<std::size_t>(p));
  std::vector<std::array<std::size_t, 2>> head(static_cast<std::size_t>(p), {0, 0});
  std::vector<std::int64_t> busy_until(static_cast<std::size_t>(p), 0);
  std::size_t remaining = 0;
  for (const auto& l : lists) remaining += l[0].size() + l[1].size();
  for (std::int64_t t = 0; remaining > 0; ++t) {
    MFUSIM_CHECK(t < 1'000'000'000, "dualpipe list scheduling did not converge");
    for (std::int32_t s = 0; s < p; ++s) {
      const auto si = static_cast<std::size_t>(s);
      if (busy_until[si] > t) continue;
      int pick = -1;
      const int first = s < p / 2 ? 0 : 1;
      for (int k = 0; k < 2; ++k) {
        const int dir = (first + k) % 2;
        const auto& l = lists[si][static_cast<std::size_t>(dir)];
        if (head[si][static_cast<std::size_t>(dir)] == l.size()) continue;
        const PipelineAction& a = l[head[si][static_cast<std::size_t>(dir)]];
        if (!ready(a, s, t)) continue;
        if (pick < 0 || (a.pass == PassKind::kBackward &&
                         lists[si][static_cast<std::size_t>(pick)][head[si][static_cast<std::size_t>(pick)]].pass != PassKind::kBackward)) {
          pick = dir;
        }
      }
      if (pick < 0) continue;
      const auto pd = static_cast<std::size_t>(pick);
      const PipelineAction a = lists[si][pd][head[si][pd]++];
      const std::int64_t end = t + (a.pass == PassKind::kForward ? 1 : 2);
      finish[Key{static_cast<int>(a.pass), a.microbatch, s, a.chunk}] = end;
      busy_until[si] = end;
      out[si].push_back(a);
      --remaining;
    }
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
        a = interleaved(p, s, m, v);
        break;
      case PipelineSchedule::kZeroBubbleH1: {
        // 1F1B with B and W split; W of micro-batch j runs after B of micro-batch j + s.
        std::int32_t next_w = 0;
        for (const PipelineAction& x : one_f_one_b(p, s, 0, m, 0)) {
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

core::TaskGraph schedule_task_graph(PipelineSchedule schedule, const ScheduleShape& shape,
                                    const std::function<core::Duration(std::int32_t, const PipelineAction&)>& duration,
                                    core::Duration p2p) {
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
  const auto find = [&](PassKind k, std::int32_t mb, StageChunk at) {
    auto it = task.find(Key{k, mb, at.stage, at.chunk});
    MFUSIM_CHECK(it != task.end(), "schedule misses a pass of micro-batch " + std::to_string(mb) + " on stage " +
                                       std::to_string(at.stage));
    return it->second;
  };
  for (const auto& [key, t] : task) {
    const auto [kind, mb, s, c] = key;
    const StageChunk here{s, c};
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
