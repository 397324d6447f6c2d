#include "core/task_graph.hpp"

#include <gtest/gtest.h>

#include "core/error.hpp"

namespace mfusim::core {
namespace {

TEST(TaskGraph, DependenciesAndStreamsSerialize) {
  TaskGraph g;
  const auto s0 = g.add_stream("s0");
  const auto s1 = g.add_stream("s1");
  const auto a = g.add_task("a", s0, Duration::from_us(10));
  const auto b = g.add_task("b", s0, Duration::from_us(5));
  g.add_task("c", s1, Duration::from_us(1), {a});
  g.validate();
  Engine e;
  TaskGraphRun run(e, g);
  run.start();
  const RunResult r = e.run();
  EXPECT_EQ(r.status, RunStatus::kCompleted);
  EXPECT_EQ(run.spans()[b].start, SimTime::zero() + Duration::from_us(10)) << "b waits for a on the same stream";
  EXPECT_EQ(run.spans()[2].start, SimTime::zero() + Duration::from_us(10)) << "c starts when a ends";
  EXPECT_EQ(run.makespan(), SimTime::zero() + Duration::from_us(15));
  EXPECT_EQ(run.busy_time()[s0], Duration::from_us(15));
}

TEST(TaskGraph, IssueOrderOverridesTheOrderOfAdding) {
  // set_issue_order: the stream runs b before a although a was added first.
  TaskGraph g;
  const auto s = g.add_stream("s");
  const auto a = g.add_task("a", s, Duration::from_us(10));
  const auto b = g.add_task("b", s, Duration::from_us(5));
  g.set_issue_order(s, {b, a});
  g.validate();
  Engine e;
  TaskGraphRun run(e, g);
  run.start();
  EXPECT_EQ(e.run().status, RunStatus::kCompleted);
  EXPECT_EQ(run.spans()[b].start, SimTime::zero()) << "b is issued first";
  EXPECT_EQ(run.spans()[a].start, SimTime::zero() + Duration::from_us(5)) << "a follows b";
  g.set_issue_order(s, {b});
  EXPECT_THROW(g.validate(), InputError) << "an issue order must list every task of its stream";
  g.set_issue_order(s, {b, b});
  EXPECT_THROW(g.validate(), InputError) << "and each once";
}

TEST(TaskGraph, CycleIsAnInputErrorNamingTheCycle) {
  TaskGraph g;
  const auto s = g.add_stream("s");
  g.add_task("a", s, Duration::from_us(1), {2});
  g.add_task("b", s, Duration::from_us(1), {0});
  g.add_task("c", s, Duration::from_us(1), {1});
  try {
    g.validate();
    FAIL() << "a -> c -> b -> a is a cycle";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("dependency cycle"), std::string::npos) << e.what();
  }
}

TEST(TaskGraph, StreamOrderDeadlockIsReportedAsStalled) {
  // s1: A then B; s2: C then D. A waits for D, C waits for B: no task can start.
  TaskGraph g;
  const auto s1 = g.add_stream("s1");
  const auto s2 = g.add_stream("s2");
  const auto A = g.add_task("A", s1, Duration::from_us(1));
  const auto B = g.add_task("B", s1, Duration::from_us(1));
  const auto C = g.add_task("C", s2, Duration::from_us(1));
  const auto D = g.add_task("D", s2, Duration::from_us(1));
  g.add_dependency(A, D);
  g.add_dependency(C, B);
  g.validate();
  Engine e;
  TaskGraphRun run(e, g);
  run.start();
  const RunResult r = e.run();
  ASSERT_EQ(r.status, RunStatus::kStalled);
  EXPECT_EQ(r.pending_items, 4u);
  ASSERT_EQ(r.blocked.size(), 2u);
  EXPECT_EQ(r.blocked[0], "stream 's1': task 'A' waits for 'D' (stream 's2', queued behind 'C')");
  EXPECT_EQ(r.blocked[1], "stream 's2': task 'C' waits for 'B' (stream 's1', queued behind 'A')");
}

}  // namespace
}  // namespace mfusim::core

namespace mfusim::core {
namespace {

TEST(TaskGraph, AsyncTasksCompleteWhenTheLauncherSaysSo) {
  TaskGraph g;
  const auto s = g.add_stream("comm");
  const auto c = g.add_stream("compute");
  const auto send = g.add_async_task("send", s);
  const auto after = g.add_task("after", c, Duration::from_us(1), {send});
  g.validate();
  Engine e;
  int launched = 0;
  TaskGraphRun run(e, g, [&](TaskIndex t, std::function<void()> done) {
    EXPECT_EQ(t, send);
    ++launched;
    e.schedule_after(Duration::from_us(7), std::move(done));  // the "network" takes 7 us
  });
  run.start();
  EXPECT_EQ(e.run().status, RunStatus::kCompleted);
  EXPECT_EQ(launched, 1);
  EXPECT_EQ(run.spans()[send].end, SimTime::zero() + Duration::from_us(7));
  EXPECT_EQ(run.spans()[after].end, SimTime::zero() + Duration::from_us(8)) << "dependent starts when the launcher completes";
}

TEST(TaskGraph, AsyncTaskNeverCompletedIsAStall) {
  TaskGraph g;
  const auto s = g.add_stream("comm");
  g.add_async_task("recv without a send", s);
  Engine e;
  TaskGraphRun run(e, g, [](TaskIndex, std::function<void()>) {});
  run.start();
  const RunResult r = e.run();
  EXPECT_EQ(r.status, RunStatus::kStalled) << "an unfinished communication must be reported, not hang";
  ASSERT_EQ(r.blocked.size(), 1u);
  EXPECT_EQ(r.blocked[0], "stream 'comm': 'recv without a send' started but never completed");
}

}  // namespace
}  // namespace mfusim::core
