// Pipeline schedules executed on the engine with uniform stages and free communication, against their
// closed forms: 1F1B and GPipe bubble (p-1)/(m+p-1); interleaving divides the bubble by v; ZB-H1's
// bubble is (p-1)(T_F + T_B - T_W) where 1F1B's is (p-1)(T_F + T_B + T_W) (Qi et al. 2024).
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <tuple>

#include "core/engine.hpp"
#include "core/error.hpp"
#include "workload/pipeline_schedule.hpp"

namespace mfusim::workload {
namespace {

using core::Duration;

struct Result {
  core::RunStatus status;
  Duration step;
  double bubble;  // mean idle share of the stage streams
};

Result run(PipelineSchedule sched, ScheduleShape shape, Duration tf, Duration tb, Duration tw, Duration p2p = Duration::zero()) {
  const auto g = schedule_task_graph(
      sched, shape,
      [&](std::int32_t, const PipelineAction& a) {
        // Per chunk, a stage's share of the model: times divide by the number of chunks.
        const Duration t = a.pass == PassKind::kForward ? tf : a.pass == PassKind::kBackward ? tb : tw;
        return Duration::from_ps(t.ps() / shape.chunks);
      },
      p2p);
  g.validate();
  core::Engine e;
  core::TaskGraphRun r(e, g);
  r.start();
  const auto res = e.run();
  const auto busy = r.busy_time();
  const Duration step = r.makespan().since_start();
  double idle = 0;
  for (std::int32_t s = 0; s < shape.stages; ++s) idle += 1.0 - static_cast<double>(busy[static_cast<std::size_t>(s)].ps()) / static_cast<double>(step.ps());
  return {res.status, step, idle / shape.stages};
}

const Duration kF = Duration::from_us(100), kB = Duration::from_us(200), kBin = Duration::from_us(100),
               kW = Duration::from_us(100);

class OneFOneB : public testing::TestWithParam<std::pair<int, int>> {};
TEST_P(OneFOneB, BubbleMatchesClosedForm) {
  const auto [p, m] = GetParam();
  for (auto sched : {PipelineSchedule::kOneFOneB, PipelineSchedule::kGpipe}) {
    const Result r = run(sched, {p, m, 1}, kF, kB, Duration::zero());
    ASSERT_EQ(r.status, core::RunStatus::kCompleted) << to_string(sched) << " stalled";
    EXPECT_EQ(r.step, (kF + kB) * (m + p - 1)) << to_string(sched) << " p=" << p << " m=" << m << ": (m+p-1)(tf+tb)";
    EXPECT_NEAR(r.bubble, static_cast<double>(p - 1) / (m + p - 1), 1e-12) << to_string(sched) << ": (p-1)/(m+p-1)";
  }
}
INSTANTIATE_TEST_SUITE_P(Shapes, OneFOneB, testing::Values(std::pair{2, 2}, std::pair{4, 8}, std::pair{8, 8}, std::pair{8, 32},
                                                           std::pair{4, 3}));

TEST(Interleaved, DividesTheBubbleByV) {
  for (auto [p, m, v] : {std::tuple{4, 8, 2}, std::tuple{4, 16, 4}, std::tuple{8, 16, 2}, std::tuple{2, 4, 3}}) {
    // 120 and 240 us divide evenly into 2, 3 and 4 chunks (whole picoseconds).
    const Duration tf = Duration::from_us(120), tb = Duration::from_us(240);
    const Result r = run(PipelineSchedule::kInterleaved, {p, m, v}, tf, tb, Duration::zero());
    ASSERT_EQ(r.status, core::RunStatus::kCompleted) << "interleaved p=" << p << " m=" << m << " v=" << v << " stalled";
    // Each stage computes m(tf+tb); the bubble is (p-1)(tf+tb)/v: step = (m + (p-1)/v)(tf+tb).
    const double want = (m + static_cast<double>(p - 1) / v) * (tf + tb).seconds();
    EXPECT_NEAR(r.step.seconds() / want, 1.0, 1e-9) << "p=" << p << " m=" << m << " v=" << v;
    const double one_f_one_b = static_cast<double>(p - 1) / (m + p - 1);
    EXPECT_LT(r.bubble, one_f_one_b) << "interleaving must shrink the bubble";
  }
}

TEST(ZeroBubbleH1, BelowOneFOneBWithTheClosedForm) {
  for (auto [p, m] : {std::pair{4, 8}, std::pair{8, 16}, std::pair{4, 4}}) {
    const Result zb = run(PipelineSchedule::kZeroBubbleH1, {p, m, 1}, kF, kBin, kW);
    ASSERT_EQ(zb.status, core::RunStatus::kCompleted);
    const Result f1b1 = run(PipelineSchedule::kOneFOneB, {p, m, 1}, kF, kBin + kW, Duration::zero());
    EXPECT_LT(zb.step, f1b1.step) << "ZB-H1 must beat 1F1B (p=" << p << ", m=" << m << ")";
    // Step = m (T_F + T_B + T_W) + (p-1)(T_F + T_B - T_W).
    const Duration want = (kF + kBin + kW) * m + (kF + kBin - kW) * (p - 1);
    EXPECT_EQ(zb.step, want) << "p=" << p << " m=" << m << ": ZB-H1 bubble (p-1)(T_F+T_B-T_W)";
  }
}

TEST(DualPipe, RunsWithoutStallAndBeatsOneFOneB) {
  for (auto [p, m] : {std::pair{4, 8}, std::pair{8, 16}, std::pair{2, 4}}) {
    const Result dp = run(PipelineSchedule::kDualPipe, {p, m, 2}, kF * 2, kB * 2, Duration::zero());
    ASSERT_EQ(dp.status, core::RunStatus::kCompleted) << "dualpipe p=" << p << " m=" << m << " stalled";
    const Result f1b1 = run(PipelineSchedule::kOneFOneB, {p, m, 1}, kF, kB, Duration::zero());
    EXPECT_LE(dp.step, f1b1.step) << "bidirectional feeding should not lengthen the step (p=" << p << ", m=" << m << ")";
  }
}

TEST(Schedules, MoreMicrobatchesNeverIncreaseTheBubble) {
  for (auto sched : {PipelineSchedule::kOneFOneB, PipelineSchedule::kGpipe, PipelineSchedule::kZeroBubbleH1}) {
    double previous = 1.0;
    for (int m : {4, 8, 16, 32}) {
      const Result r = run(sched, {4, m, 1}, kF, kBin, kW, Duration::from_us(5));
      ASSERT_EQ(r.status, core::RunStatus::kCompleted);
      EXPECT_LE(r.bubble, previous + 1e-12) << to_string(sched) << ": m=" << m;
      previous = r.bubble;
    }
  }
}

TEST(Schedules, EveryPassAppearsOnce) {
  const ScheduleShape shape{4, 8, 2};
  for (auto sched : {PipelineSchedule::kInterleaved, PipelineSchedule::kDualPipe}) {
    const auto lists = build_schedule(sched, shape);
    std::map<std::tuple<int, int, int>, int> seen;
    for (std::size_t s = 0; s < lists.size(); ++s) {
      for (const auto& a : lists[s]) ++seen[{static_cast<int>(a.pass), a.microbatch, a.chunk}];
    }
    for (const auto& [k, n] : seen) {
      if (std::get<0>(k) == static_cast<int>(PassKind::kWeight)) {
        EXPECT_LE(n, 4) << to_string(sched) << ": a W only where that stage split the backward";
        continue;
      }
      EXPECT_EQ(n, 4) << to_string(sched) << ": a pass appears on every stage once";
    }
    // Every W follows a split backward of its micro-batch and chunk on the same stage.
    for (const auto& l : lists) {
      for (std::size_t i = 0; i < l.size(); ++i) {
        if (l[i].pass != PassKind::kWeight) continue;
        const bool after = std::any_of(l.begin(), l.begin() + static_cast<std::ptrdiff_t>(i), [&](const PipelineAction& x) {
          return x.pass == PassKind::kBackward && x.split && x.microbatch == l[i].microbatch && x.chunk == l[i].chunk;
        });
        EXPECT_TRUE(after) << to_string(sched) << ": W of micro-batch " << l[i].microbatch;
      }
    }
  }
}

TEST(OverlappedPairs, WithoutAPipelineEveryBackwardPairsWithTheNextForward) {
  // pp = 1: F0 B0 F1 B1 ... F(m-1) B(m-1). B(i) and F(i + 1) pair (nothing waits on their outputs
  // elsewhere): m - 1 pairs; F(i) B(i) never do (the backward needs that forward).
  for (int m : {2, 3, 8}) {
    const ScheduleShape shape{1, m, 1};
    const auto lists = build_schedule(PipelineSchedule::kOneFOneB, shape);
    const auto pairs = overlapped_pairs(PipelineSchedule::kOneFOneB, shape, lists);
    ASSERT_EQ(pairs[0].size(), static_cast<std::size_t>(m - 1)) << "m=" << m;
    for (std::size_t k : pairs[0]) {
      EXPECT_EQ(lists[0][k].pass, PassKind::kBackward);
      EXPECT_EQ(lists[0][k + 1].microbatch, lists[0][k].microbatch + 1) << "B(i) with F(i + 1)";
    }
  }
}

TEST(OverlappedPairs, DualPipePairsItsMainSteps) {
  // DeepSeek's reference: stage s (h = min(s, p - 1 - s), c = m / 2 per direction) overlaps [F0 B1] and
  // [F1 B0] in each of its c - p + h + 1 main steps and [F1 B0] in each of its p/2 - h - 1 fifth
  // steps; the two middle stages run their first F0 B1 one after the other.
  for (auto [p, m] : {std::pair{2, 4}, std::pair{4, 8}, std::pair{4, 12}, std::pair{8, 16}, std::pair{8, 40}}) {
    const ScheduleShape shape{p, m, 2};
    const auto lists = build_schedule(PipelineSchedule::kDualPipe, shape);
    const auto pairs = overlapped_pairs(PipelineSchedule::kDualPipe, shape, lists);
    for (int s = 0; s < p; ++s) {
      const int h = std::min(s, p - 1 - s), c = m / 2;
      const bool middle = s == p / 2 - 1 || s == p / 2;
      const int want = 2 * (c - p + h + 1) - (middle ? 1 : 0) + (p / 2 - h - 1);
      EXPECT_EQ(pairs[static_cast<std::size_t>(s)].size(), static_cast<std::size_t>(want)) << "p=" << p << " m=" << m << " stage " << s;
      for (std::size_t k : pairs[static_cast<std::size_t>(s)]) {
        const auto& x = lists[static_cast<std::size_t>(s)][k];
        const auto& y = lists[static_cast<std::size_t>(s)][k + 1];
        EXPECT_EQ(x.pass, PassKind::kForward);
        EXPECT_EQ(y.pass, PassKind::kBackward);
        EXPECT_NE(x.chunk, y.chunk) << "a forward of one direction with a backward of the other";
      }
    }
  }
}

TEST(OverlappedPairs, CombinedInterleavedPairsEverySteadyStateStep) {
  // Megatron-Core's combined 1F1B with virtual stages (ScheduleShape::combined): stage s runs
  // (p - s - 1) x 2 + (v - 1) p + 1 warm-up forwards (one more than without), then pairs each
  // steady-state forward with the backward after it: m v - warm-up pairs, never of one micro-batch and
  // model chunk; warm-up and cool-down passes alone. The pairs, run as Megatron runs them (both inputs
  // received before, both outputs sent after), complete, and cost at most the pairs' serialisation:
  // the step is no shorter than the plain interleaved one.
  for (auto [p, m, v] : {std::tuple{2, 4, 2}, std::tuple{4, 8, 2}, std::tuple{4, 8, 4}, std::tuple{8, 16, 3}, std::tuple{2, 2, 2}}) {
    const ScheduleShape plain{p, m, v};
    ScheduleShape shape = plain;
    shape.combined = true;
    const auto lists = build_schedule(PipelineSchedule::kInterleaved, shape);
    const auto pairs = overlapped_pairs(PipelineSchedule::kInterleaved, shape, lists);
    for (int s = 0; s < p; ++s) {
      const auto& l = lists[static_cast<std::size_t>(s)];
      const int warmup = std::min((p - s - 1) * 2 + (v - 1) * p + 1, m * v);
      int leading = 0;
      while (leading < static_cast<int>(l.size()) && l[static_cast<std::size_t>(leading)].pass == PassKind::kForward) ++leading;
      EXPECT_EQ(leading, std::min(warmup + 1, m * v)) << "p=" << p << " v=" << v << " stage " << s << ": warm-up + the first steady forward";
      EXPECT_EQ(pairs[static_cast<std::size_t>(s)].size(), static_cast<std::size_t>(m * v - warmup)) << "p=" << p << " stage " << s;
      for (std::size_t k : pairs[static_cast<std::size_t>(s)]) {
        EXPECT_EQ(l[k].pass, PassKind::kForward);
        EXPECT_EQ(l[k + 1].pass, PassKind::kBackward);
        EXPECT_FALSE(l[k].microbatch == l[k + 1].microbatch && l[k].chunk == l[k + 1].chunk) << "a backward needs its own forward";
      }
    }
    const auto unit = [](std::int32_t, const PipelineAction& a) { return Duration::from_us(a.pass == PassKind::kForward ? 100 : 200); };
    const auto makespan = [&](const ScheduleShape& sh, bool overlapped) {
      const auto g = schedule_task_graph(PipelineSchedule::kInterleaved, sh, unit, Duration::from_us(5), overlapped);
      core::Engine e;
      core::TaskGraphRun r(e, g);
      r.start();
      EXPECT_EQ(e.run().status, core::RunStatus::kCompleted) << "p=" << p << " m=" << m << " v=" << v << ": the paired schedule must not deadlock";
      return r.makespan().since_start();
    };
    EXPECT_GE(makespan(shape, true), makespan(plain, false)) << "pairing itself hides nothing here (no communication to overlap)";
  }
}

TEST(DualPipe, BubbleLiesBetweenDeepSeeksTable2AndOneFOneB) {
  // DeepSeek-V3 report, Table 2: DualPipe's bubble is (PP/2 - 1)(F&B + B - 3W), with F, B, W a chunk's
  // forward, input-gradient and weight-gradient times and F&B an overlapped forward and (whole)
  // backward, here F + B + W (free communication, nothing to overlap); 1F1B's is (PP - 1)(F + B + W).
  // The reference order, run as DualPipe runs a pair (both inputs before, both outputs after) with each
  // output sent when its pass ends, lands between the two: never below Table 2's ideal, well below
  // 1F1B's (p = 8, m = 20, F = B = W: 6 units against Table 2's 3 and 1F1B's 21). Each stage computes
  // m (F + B + W); the step is that plus the bubble.
  for (auto [p, m] : {std::pair{4, 8}, std::pair{8, 20}, std::pair{8, 32}, std::pair{16, 40}}) {
    for (auto [f, b, w] : {std::tuple{1, 1, 1}, std::tuple{2, 2, 1}, std::tuple{3, 4, 2}}) {
      const Duration F = Duration::from_us(100 * f), B = Duration::from_us(100 * b), W = Duration::from_us(100 * w);
      const auto g = schedule_task_graph(
          PipelineSchedule::kDualPipe, {p, m, 2},
          [&](std::int32_t, const PipelineAction& a) {
            if (a.pass == PassKind::kForward) return F;
            if (a.pass == PassKind::kWeight) return W;
            return a.split ? B : B + W;
          },
          Duration::zero(), /*overlapped=*/true);
      core::Engine e;
      core::TaskGraphRun r(e, g);
      r.start();
      ASSERT_EQ(e.run().status, core::RunStatus::kCompleted);
      const Duration bubble = r.makespan().since_start() - (F + B + W) * m;
      const Duration table2 = (F + B + W + B - W * 3) * (p / 2 - 1), one_f_one_b = (F + B + W) * (p - 1);
      const std::string what = "p=" + std::to_string(p) + " m=" + std::to_string(m) + " F,B,W=" + std::to_string(f) + "," +
                               std::to_string(b) + "," + std::to_string(w);
      EXPECT_GE(bubble, table2) << what << ": not below (PP/2 - 1)(F&B + B - 3W)";
      EXPECT_LT(bubble * 2, one_f_one_b) << what << ": under half of 1F1B's (PP - 1)(F + B + W)";
      if (p == 8 && m == 20 && f == 1 && b == 1 && w == 1) {
        EXPECT_EQ(bubble, F * 6) << what;
      }
    }
  }
}

TEST(DualPipe, NeedsAnEvenMicroBatchCountOfAtLeastTwiceTheStages) {
  EXPECT_THROW(build_schedule(PipelineSchedule::kDualPipe, {4, 6, 2}), core::InputError) << "m < 2p";
  EXPECT_THROW(build_schedule(PipelineSchedule::kDualPipe, {4, 9, 2}), core::InputError) << "odd m";
  EXPECT_NO_THROW(build_schedule(PipelineSchedule::kDualPipe, {4, 8, 2}));
}

}  // namespace
}  // namespace mfusim::workload
