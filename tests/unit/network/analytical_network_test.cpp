#include "network/analytical_network.hpp"

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "core/engine.hpp"
#include "core/error.hpp"
#include "unit/network/test_fabric.hpp"

namespace mfusim::network {
namespace {

using core::Bytes;
using core::Duration;
using core::SimTime;
using test_support::TestFabric;

TEST(AnalyticalNetwork, TimeIsLatencyPlusSizeOverBottleneck) {
  TestFabric fabric(3);
  const LinkId a = fabric.add_link(100e9, Duration::from_ns(200));
  const LinkId b = fabric.add_link(20e9, Duration::from_ns(800));
  fabric.set_route(0, 1, {a, b});
  core::Engine engine;
  AnalyticalNetwork net(engine, fabric);
  SimTime done;
  net.start(0, 1, Bytes(2'000'000), [&](TransferId, SimTime t) { done = t; });
  engine.run();
  // 1 us + 2e6 B / 20e9 B/s = 1 us + 100 us.
  EXPECT_EQ(done, SimTime::zero() + Duration::from_us(101)) << "latency sum + size / min bandwidth";
  EXPECT_EQ(net.transfer_time(0, 1, Bytes(2'000'000)), Duration::from_us(101));
}

TEST(AnalyticalNetwork, ConcurrentTransfersDoNotContend) {
  TestFabric fabric(2);
  const LinkId a = fabric.add_link(10e9, Duration::from_ns(100));
  fabric.set_route(0, 1, {a});
  core::Engine engine;
  AnalyticalNetwork net(engine, fabric);
  std::vector<SimTime> done;
  for (int i = 0; i < 5; ++i) net.start(0, 1, Bytes(1'000'000), [&](TransferId, SimTime t) { done.push_back(t); });
  engine.run();
  ASSERT_EQ(done.size(), 5u);
  for (const SimTime t : done) EXPECT_EQ(t, SimTime::zero() + Duration::from_ns(100) + Duration::from_us(100));
}

TEST(AnalyticalNetwork, LocalAndZeroByteTransfers) {
  TestFabric fabric(2);
  const LinkId a = fabric.add_link(10e9, Duration::from_ns(700));
  fabric.set_route(0, 1, {a});
  core::Engine engine;
  AnalyticalNetwork net(engine, fabric);
  std::map<TransferId, SimTime> done;
  const auto cb = [&](TransferId id, SimTime t) { done[id] = t; };
  const TransferId local = net.start(1, 1, Bytes(1 << 20), cb);
  const TransferId empty = net.start(0, 1, Bytes(0), cb);
  engine.run();
  EXPECT_EQ(done.at(local), SimTime::zero()) << "src == dst completes after zero time";
  EXPECT_EQ(done.at(empty), SimTime::zero() + Duration::from_ns(700)) << "zero bytes still pay the latency";
}

TEST(AnalyticalNetwork, CallbacksMayStartTransfersAndIdsFollowStartOrder) {
  TestFabric fabric(2);
  const LinkId a = fabric.add_link(1e9, Duration::from_ns(0));
  fabric.set_route(0, 1, {a});
  core::Engine engine;
  AnalyticalNetwork net(engine, fabric);
  std::vector<std::pair<TransferId, SimTime>> done;
  std::function<void(TransferId, SimTime)> chain = [&](TransferId id, SimTime t) {
    done.emplace_back(id, t);
    if (done.size() < 3) net.start(0, 1, Bytes(1000), chain);
  };
  EXPECT_EQ(net.start(0, 1, Bytes(1000), chain), 0u);
  engine.run();
  ASSERT_EQ(done.size(), 3u);
  for (std::size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(done[i].first, i);
    EXPECT_EQ(done[i].second, SimTime::zero() + Duration::from_us(static_cast<std::int64_t>(i + 1)));
  }
  EXPECT_EQ(net.pending_count(), 0u);
}

TEST(AnalyticalNetwork, PendingTransfersAreDescribed) {
  TestFabric fabric(2);
  const LinkId a = fabric.add_link(1e9, Duration::from_us(1));
  fabric.set_route(0, 1, {a});
  core::Engine engine;
  AnalyticalNetwork net(engine, fabric);
  engine.add_pending_source(net);
  net.start(0, 1, Bytes(1'000'000), nullptr);  // 1 us + 1 ms
  const auto r = engine.run({.until = SimTime::zero() + Duration::from_us(501), .max_events = {}, .max_wall_seconds = {}});
  EXPECT_EQ(r.status, core::RunStatus::kTimeLimit);
  EXPECT_EQ(r.pending_items, 1u);
  std::vector<std::string> lines;
  net.describe_pending(lines, 10);
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0], "transfer #0 0->1: 500000 bytes left") << "after 500 us of draining at 1 GB/s";
}

TEST(AnalyticalNetwork, BadEndpointsAndSizesAreInputErrors) {
  TestFabric fabric(2);
  core::Engine engine;
  AnalyticalNetwork net(engine, fabric);
  try {
    net.start(0, 2, Bytes(1), nullptr);
    FAIL() << "expected InputError";
  } catch (const core::InputError& e) {
    EXPECT_STREQ(e.what(), "transfer from GPU 0 to GPU 2: the fabric has 2 GPUs (valid: 0 to 1)");
  }
  EXPECT_THROW(net.start(0, 0, Bytes(-1), nullptr), core::InputError);
}

}  // namespace
}  // namespace mfusim::network
