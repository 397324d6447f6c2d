#include "core/engine.hpp"

#include <gtest/gtest.h>

#include <chrono>

#include <string>
#include <vector>

#include "core/error.hpp"

namespace mfusim::core {
namespace {

// A component with N unfinished items that nobody will ever complete.
class Waiting final : public PendingWork {
 public:
  explicit Waiting(std::size_t n) : n_(n) {}
  std::size_t pending_count() const override { return n_; }
  void describe_pending(std::vector<std::string>& out, std::size_t max_items) const override {
    for (std::size_t i = 0; i < n_ && i < max_items; ++i) out.push_back("item " + std::to_string(i) + " waits for a peer");
  }
  std::size_t n_;
};

TEST(Engine, RunsToCompletionAndAdvancesTheClock) {
  Engine e;
  std::vector<std::int64_t> seen;
  e.schedule_at(SimTime::from_ps(30), [&] { seen.push_back(e.now().ps()); });
  e.schedule_after(Duration::from_ps(10), [&] {
    seen.push_back(e.now().ps());
    e.schedule_after(Duration::from_ps(5), [&] { seen.push_back(e.now().ps()); });
  });
  const RunResult r = e.run();
  EXPECT_EQ(r.status, RunStatus::kCompleted);
  EXPECT_EQ(seen, (std::vector<std::int64_t>{10, 15, 30}));
  EXPECT_EQ(r.end_time, SimTime::from_ps(30));
  EXPECT_EQ(r.events, 3u);
}

TEST(Engine, ReportsStalledWithWhatIsBlocked) {
  Engine e;
  Waiting w(2);
  e.add_pending_source(w);
  e.schedule_after(Duration::from_ns(1), [] {});
  const RunResult r = e.run();
  EXPECT_EQ(r.status, RunStatus::kStalled) << "queue empty but 2 items unfinished: that is a stall, not success";
  EXPECT_EQ(r.pending_items, 2u);
  ASSERT_EQ(r.blocked.size(), 2u);
  EXPECT_EQ(r.blocked[0], "item 0 waits for a peer");
  EXPECT_EQ(r.end_time, SimTime::from_ps(1000));
}

TEST(Engine, CompletedWhenSourcesHaveNothingPending) {
  Engine e;
  Waiting w(0);
  e.add_pending_source(w);
  EXPECT_EQ(e.run().status, RunStatus::kCompleted);
}

TEST(Engine, TimeLimitStopsAndCanResume) {
  Engine e;
  int ran = 0;
  for (int i = 1; i <= 10; ++i) e.schedule_at(SimTime::from_ps(i * 100), [&] { ++ran; });
  RunResult r = e.run({SimTime::from_ps(450), std::nullopt, std::nullopt});
  EXPECT_EQ(r.status, RunStatus::kTimeLimit);
  EXPECT_EQ(ran, 4) << "events at 100..400 run, 500 is beyond the limit";
  EXPECT_EQ(e.now(), SimTime::from_ps(450)) << "the clock stops at the limit";
  r = e.run();
  EXPECT_EQ(r.status, RunStatus::kCompleted);
  EXPECT_EQ(ran, 10);
}

TEST(Engine, EventLimitStops) {
  Engine e;
  // A self-rescheduling event never ends on its own.
  std::function<void()> tick = [&] { e.schedule_after(Duration::from_ns(1), tick); };
  e.schedule_after(Duration::zero(), tick);
  const RunResult r = e.run({std::nullopt, 1000, std::nullopt});
  EXPECT_EQ(r.status, RunStatus::kEventLimit);
  EXPECT_EQ(r.events, 1000u);
}

TEST(Engine, WallLimitStopsARunThatNeverEnds) {
  Engine e;
  std::function<void()> tick = [&] { e.schedule_after(Duration::from_ns(1), tick); };
  e.schedule_after(Duration::zero(), tick);
  RunLimits limits;
  limits.max_wall_seconds = 0.05;
  const auto t0 = std::chrono::steady_clock::now();
  const RunResult r = e.run(limits);
  const double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_EQ(r.status, RunStatus::kWallLimit);
  EXPECT_EQ(to_string(r.status), "wall-limit");
  EXPECT_EQ(r.events % Engine::kWallCheckInterval, 0u) << "the clock is read every kWallCheckInterval events";
  EXPECT_GE(took, 0.05);
  EXPECT_LT(took, 5.0) << "the guard must stop the run soon after the limit (sanitizer builds included)";
  // Resumable like the other limits: the run continues where it stopped.
  const RunResult more = e.run({std::nullopt, r.events + 10, std::nullopt});
  EXPECT_EQ(more.status, RunStatus::kEventLimit);
  EXPECT_EQ(more.events, r.events + 10);
}

TEST(Engine, WallLimitDoesNotStopAShortRun) {
  Engine e;
  int ran = 0;
  for (int i = 0; i < 100; ++i) e.schedule_at(SimTime::from_ps(i), [&] { ++ran; });
  RunLimits limits;
  limits.max_wall_seconds = 60.0;
  EXPECT_EQ(e.run(limits).status, RunStatus::kCompleted);
  EXPECT_EQ(ran, 100);
}

TEST(Engine, CancelledEventDoesNotRun) {
  Engine e;
  bool ran = false;
  const EventId id = e.schedule_after(Duration::from_ns(5), [&] { ran = true; });
  e.schedule_after(Duration::from_ns(1), [&] { EXPECT_TRUE(e.cancel(id)); });
  e.run();
  EXPECT_FALSE(ran);
  EXPECT_EQ(e.now(), SimTime::from_ps(1000)) << "the cancelled event must not advance the clock";
}

TEST(Engine, SchedulingInThePastIsAnInternalError) {
  Engine e;
  e.schedule_at(SimTime::from_ps(100), [&] { e.schedule_at(SimTime::from_ps(50), [] {}); });
  EXPECT_THROW(e.run(), InternalError);
}

TEST(Engine, TwoEnginesInOneProcessAreIndependent) {
  Engine a, b;
  int ran_a = 0, ran_b = 0;
  a.schedule_at(SimTime::from_ps(7), [&] { ++ran_a; });
  b.schedule_at(SimTime::from_ps(9), [&] { ++ran_b; });
  b.schedule_at(SimTime::from_ps(11), [&] { ++ran_b; });
  EXPECT_EQ(a.run().end_time, SimTime::from_ps(7));
  EXPECT_EQ(ran_b, 0) << "running engine a must not touch engine b";
  EXPECT_EQ(b.run().end_time, SimTime::from_ps(11));
  EXPECT_EQ(ran_a, 1);
  EXPECT_EQ(ran_b, 2);
}

TEST(Engine, SameScheduleGivesSameTrace) {
  auto trace = [] {
    Engine e;
    std::vector<int> order;
    for (int i = 0; i < 100; ++i) {
      e.schedule_at(SimTime::from_ps((i * 37) % 10), [&order, i] { order.push_back(i); }, i % 3);
    }
    e.run();
    return order;
  };
  EXPECT_EQ(trace(), trace()) << "identical inputs must give an identical event order";
}

}  // namespace
}  // namespace mfusim::core
