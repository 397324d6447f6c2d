#include "core/event_queue.hpp"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

namespace mfusim::core {
namespace {

TEST(EventQueue, OrdersByTimeThenPriorityThenInsertion) {
  EventQueue q;
  std::vector<std::string> ran;
  auto add = [&](std::int64_t t, int prio, std::string name) {
    q.push(SimTime::from_ps(t), prio, [&ran, name] { ran.push_back(name); });
  };
  add(20, 0, "t20");
  add(10, 5, "t10-p5");
  add(10, -1, "t10-p-1");
  add(10, 5, "t10-p5-second");
  add(5, 0, "t5");
  while (!q.empty()) q.pop().callback();
  const std::vector<std::string> expected{"t5", "t10-p-1", "t10-p5", "t10-p5-second", "t20"};
  EXPECT_EQ(ran, expected) << "earlier time first; at equal time lower priority first; then insertion order";
}

TEST(EventQueue, CancelRemovesOnlyThatEvent) {
  EventQueue q;
  int a = 0, b = 0;
  const EventId ida = q.push(SimTime::from_ps(1), 0, [&] { ++a; });
  q.push(SimTime::from_ps(2), 0, [&] { ++b; });
  EXPECT_TRUE(q.is_pending(ida));
  EXPECT_TRUE(q.cancel(ida));
  EXPECT_FALSE(q.cancel(ida)) << "a second cancel is a no-op";
  EXPECT_EQ(q.size(), 1u);
  EXPECT_EQ(q.next_time(), SimTime::from_ps(2)) << "the cancelled event must not be the next one";
  q.pop().callback();
  EXPECT_EQ(a, 0);
  EXPECT_EQ(b, 1);
  EXPECT_TRUE(q.empty());
}

TEST(EventQueue, StaleIdDoesNotCancelARecycledSlot) {
  EventQueue q;
  const EventId old_id = q.push(SimTime::from_ps(1), 0, [] {});
  q.pop();
  int ran = 0;
  const EventId new_id = q.push(SimTime::from_ps(2), 0, [&] { ++ran; });
  EXPECT_EQ(new_id.slot, old_id.slot) << "the slot is recycled";
  EXPECT_FALSE(q.cancel(old_id)) << "the old handle's generation no longer matches";
  q.pop().callback();
  EXPECT_EQ(ran, 1);
}

TEST(EventQueue, MatchesASortedReferenceOnRandomWorkload) {
  // Property: with random pushes, cancels and pops, the pop order equals sorting the surviving events
  // by (time, priority, insertion index).
  std::mt19937_64 rng(42);
  EventQueue q;
  struct Ref {
    std::int64_t time;
    int priority;
    std::uint64_t seq;
    EventId id;
    bool cancelled;
  };
  std::vector<Ref> refs;
  std::vector<std::uint64_t> popped;
  for (std::uint64_t i = 0; i < 20000; ++i) {
    const auto t = static_cast<std::int64_t>(rng() % 1000);
    const int prio = static_cast<int>(rng() % 3);
    const EventId id = q.push(SimTime::from_ps(t), prio, [&popped, i] { popped.push_back(i); });
    refs.push_back({t, prio, i, id, false});
    if (rng() % 4 == 0) {
      auto& victim = refs[rng() % refs.size()];
      if (q.cancel(victim.id)) victim.cancelled = true;
    }
  }
  while (!q.empty()) q.pop().callback();
  std::vector<Ref> expected;
  for (const auto& r : refs) {
    if (!r.cancelled) expected.push_back(r);
  }
  std::stable_sort(expected.begin(), expected.end(), [](const Ref& a, const Ref& b) {
    return a.time != b.time ? a.time < b.time : a.priority < b.priority;
  });
  ASSERT_EQ(popped.size(), expected.size());
  for (std::size_t i = 0; i < popped.size(); ++i) {
    ASSERT_EQ(popped[i], expected[i].seq) << "pop #" << i << " out of order";
  }
}

}  // namespace
}  // namespace mfusim::core
