#include "network/flow_network.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <map>
#include <random>
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

using Done = std::vector<std::pair<TransferId, SimTime>>;  // in callback order

NetworkModel::Callback record(Done& done) {
  return [&done](TransferId id, SimTime t) { done.emplace_back(id, t); };
}

// ---- Event scheme --------------------------------------------------------------------------------------

TEST(FlowNetwork, SimultaneousStartsAndEndsCostOneSolveEach) {
  // 5 links of 10 GB/s, 10 transfers of 1 MB on each: every transfer gets 1 GB/s and all 50 finish at
  // 1 us + 1 ms, in one wake-up; one solve when they join, one when they leave.
  TestFabric fabric(6);
  for (EndpointId i = 1; i <= 5; ++i) fabric.set_route(0, i, {fabric.add_link(10e9, Duration::from_us(1))});
  core::Engine engine;
  FlowNetwork net(engine, fabric);
  Done done;
  for (int k = 0; k < 10; ++k) {
    for (EndpointId i = 1; i <= 5; ++i) net.start(0, i, Bytes(1'000'000), record(done));
  }
  ASSERT_EQ(engine.run().status, core::RunStatus::kCompleted);
  ASSERT_EQ(done.size(), 50u);
  for (std::size_t k = 0; k < done.size(); ++k) {
    EXPECT_EQ(done[k].first, k) << "callbacks of one instant run in transfer-id order";
    EXPECT_EQ(done[k].second, SimTime::zero() + Duration::from_us(1001));
  }
  EXPECT_EQ(net.stats().solves, 2u);
  EXPECT_EQ(net.stats().wakeups, 1u);
  EXPECT_EQ(net.stats().peak_active, 50u);
}

TEST(FlowNetwork, TransfersStartedByCallbacksJoinTheSameInstantsSolve) {
  // Zero latency: a transfer started in a completion callback joins at once, so the solve of the
  // completion instant already includes it (3 solves in all, not 4).
  TestFabric fabric(2);
  fabric.set_route(0, 1, {fabric.add_link(1e9)});
  core::Engine engine;
  FlowNetwork net(engine, fabric);
  Done done;
  std::vector<std::size_t> active_at_solve;
  net.set_solve_observer([&] { active_at_solve.push_back(net.active_count()); });
  NetworkModel::Callback next = [&](TransferId id, SimTime t) {
    done.emplace_back(id, t);
    if (id == 0) net.start(0, 1, Bytes(1000), record(done));
  };
  net.start(0, 1, Bytes(1000), next);
  engine.run();
  ASSERT_EQ(done.size(), 2u);
  EXPECT_EQ(done[1].second, SimTime::zero() + Duration::from_us(2)) << "1000 B at 1 GB/s, twice in a row";
  EXPECT_EQ(active_at_solve, (std::vector<std::size_t>{1, 1, 0}));
}

TEST(FlowNetwork, LateJoinerSlowsTheFirstAndTheWakeupMoves) {
  // One 10 GB/s link. A (10 MB) starts at 0, B (2 MB) at 0.5 ms. A alone sends 5 MB by 0.5 ms; then both
  // get 5 GB/s: B finishes at 0.5 + 0.4 = 0.9 ms, A has 3 MB left at 0.9 ms, alone again: 1.2 ms.
  TestFabric fabric(3);
  const LinkId l = fabric.add_link(10e9);
  fabric.set_route(0, 2, {l});
  fabric.set_route(1, 2, {l});
  core::Engine engine;
  FlowNetwork net(engine, fabric);
  Done done;
  net.start(0, 2, Bytes(10'000'000), record(done));
  engine.schedule_at(SimTime::zero() + Duration::from_us(500),
                     [&] { net.start(1, 2, Bytes(2'000'000), record(done)); });
  engine.run();
  ASSERT_EQ(done.size(), 2u);
  EXPECT_EQ(done[0], std::make_pair(TransferId{1}, SimTime::zero() + Duration::from_us(900)));
  EXPECT_EQ(done[1], std::make_pair(TransferId{0}, SimTime::zero() + Duration::from_us(1200)));
}

TEST(FlowNetwork, ARateCapAtTheSenderLeavesTheRestOfTheLinkToOthers) {
  // One 10 GB/s link. A (4 MB) is capped at 2 GB/s at its sender, B (8 MB) is not. Max-min: A gets its
  // cap, B the remaining 8 GB/s: B ends at 1 ms, then A is still at its cap: 4 MB / 2 GB/s = 2 ms.
  TestFabric fabric(3);
  const LinkId l = fabric.add_link(10e9);
  fabric.set_route(0, 2, {l});
  fabric.set_route(1, 2, {l});
  core::Engine engine;
  FlowNetwork net(engine, fabric);
  Done done;
  net.start(0, 2, Bytes(4'000'000), record(done), 2e9);
  net.start(1, 2, Bytes(8'000'000), record(done));
  engine.run();
  ASSERT_EQ(done.size(), 2u);
  EXPECT_EQ(done[0], std::make_pair(TransferId{1}, SimTime::zero() + Duration::from_us(1000))) << "B gets link - cap";
  EXPECT_EQ(done[1], std::make_pair(TransferId{0}, SimTime::zero() + Duration::from_us(2000))) << "A never exceeds its cap";
}

TEST(FlowNetwork, LocalAndZeroByteTransfersSkipTheSolver) {
  TestFabric fabric(2);
  fabric.set_route(0, 1, {fabric.add_link(1e9, Duration::from_ns(700))});
  core::Engine engine;
  FlowNetwork net(engine, fabric);
  Done done;
  net.start(1, 1, Bytes(1 << 20), record(done));
  net.start(0, 1, Bytes(0), record(done));
  engine.run();
  ASSERT_EQ(done.size(), 2u);
  EXPECT_EQ(done[0].second, SimTime::zero()) << "src == dst completes after zero time";
  EXPECT_EQ(done[1].second, SimTime::zero() + Duration::from_ns(700)) << "zero bytes pay the latency only";
  EXPECT_EQ(net.stats().solves, 0u);
}

TEST(FlowNetwork, PendingTransfersAreDescribed) {
  TestFabric fabric(3);
  const LinkId l = fabric.add_link(1e9, Duration::from_us(1));
  fabric.set_route(0, 2, {l});
  fabric.set_route(1, 2, {l});
  core::Engine engine;
  FlowNetwork net(engine, fabric);
  engine.add_pending_source(net);
  net.start(0, 2, Bytes(1'000'000), nullptr);
  net.start(1, 2, Bytes(3'000'000), nullptr);
  // Both join at 1 us and get 0.5 GB/s: at 401 us each has sent 200 kB.
  const auto r = engine.run({.until = SimTime::zero() + Duration::from_us(401), .max_events = {}, .max_wall_seconds = {}});
  EXPECT_EQ(r.status, core::RunStatus::kTimeLimit);
  EXPECT_EQ(r.pending_items, 2u);
  std::vector<std::string> lines;
  net.describe_pending(lines, 10);
  EXPECT_EQ(lines,
            (std::vector<std::string>{"transfer #0 0->2: 800000 bytes left", "transfer #1 1->2: 2800000 bytes left"}));
  lines.clear();
  net.describe_pending(lines, 1);
  EXPECT_EQ(lines.size(), 1u);
  EXPECT_EQ(engine.run().status, core::RunStatus::kCompleted) << "the run resumes and completes";
}

TEST(FlowNetwork, BadEndpointsAndSizesAreInputErrors) {
  TestFabric fabric(2);
  core::Engine engine;
  FlowNetwork net(engine, fabric);
  try {
    net.start(3, 0, Bytes(1), nullptr);
    FAIL() << "expected InputError";
  } catch (const core::InputError& e) {
    EXPECT_STREQ(e.what(), "transfer from GPU 3 to GPU 0: the fabric has 2 GPUs (valid: 0 to 1)");
  }
  try {
    net.start(0, 1, Bytes(-5), nullptr);
    FAIL() << "expected InputError";
  } catch (const core::InputError& e) {
    EXPECT_STREQ(e.what(), "transfer from GPU 0 to GPU 1: negative size -5 bytes");
  }
  EXPECT_EQ(net.pending_count(), 0u);
}

TEST(FlowNetwork, TwoSimulationsInOneProcessAreIndependent) {
  TestFabric fabric(2);
  fabric.set_route(0, 1, {fabric.add_link(1e9)});
  core::Engine e1;
  core::Engine e2;
  FlowNetwork n1(e1, fabric);
  FlowNetwork n2(e2, fabric);
  Done d1;
  Done d2;
  n1.start(0, 1, Bytes(1000), record(d1));
  n2.start(0, 1, Bytes(1000), record(d2));
  n2.start(0, 1, Bytes(1000), record(d2));
  e1.run();
  e2.run();
  EXPECT_EQ(d1.back().second, SimTime::zero() + Duration::from_us(1));
  EXPECT_EQ(d2.back().second, SimTime::zero() + Duration::from_us(2));
}

// ---- Property tests on random graphs and flow sets -----------------------------------------------------

struct Start {
  std::int64_t at_ns = 0;
  EndpointId src = 0;
  EndpointId dst = 0;
  std::int64_t size = 0;
  int follow_ups = 0;  // transfers started, one after another, from the completion callback
};

struct Case {
  std::uint32_t seed = 0;
  std::uint32_t endpoints = 0;
  std::uint32_t vertices = 0;
  std::uint32_t extra_edges = 0;
  std::vector<Start> starts;
};

Case random_case(std::uint32_t seed) {
  std::mt19937 rng(seed * 7919 + 1);
  auto uniform = [&rng](std::int64_t lo, std::int64_t hi) {
    return std::uniform_int_distribution<std::int64_t>(lo, hi)(rng);
  };
  Case c;
  c.seed = seed;
  c.endpoints = static_cast<std::uint32_t>(uniform(2, 12));
  c.vertices = c.endpoints + static_cast<std::uint32_t>(uniform(0, 20));
  c.extra_edges = static_cast<std::uint32_t>(uniform(0, c.vertices));
  const auto n = uniform(1, 60);
  const std::int64_t sizes[] = {0, 1, 1000, 100'000, 1'000'000, 4'000'000};
  for (std::int64_t i = 0; i < n; ++i) {
    Start s;
    s.at_ns = uniform(0, 3) == 0 ? uniform(0, 50'000) : 1000 * uniform(0, 4);  // frequent exact ties
    s.src = static_cast<EndpointId>(uniform(0, c.endpoints - 1));
    s.dst = static_cast<EndpointId>(uniform(0, c.endpoints - 1));
    s.size = uniform(0, 2) == 0 ? uniform(0, 5'000'000) : sizes[uniform(0, 5)];
    s.follow_ups = uniform(0, 4) == 0 ? static_cast<int>(uniform(1, 3)) : 0;
    c.starts.push_back(s);
  }
  return c;
}

struct Record {
  SimTime start;
  SimTime done;
  bool completed = false;
  int completions = 0;
  EndpointId src = 0;
  EndpointId dst = 0;
  std::int64_t size = 0;
  std::vector<std::pair<SimTime, double>> rates;  // rate from each solve on
};

struct Outcome {
  std::map<TransferId, Record> transfers;
  std::vector<TransferId> order;  // callback order
  std::vector<std::string> violations;
  std::uint64_t solves = 0;
  SimTime last;
};

constexpr double kRel = 1e-9;

// Runs `c` on `fabric`, checking the max-min conditions after every solve.
Outcome run_case(const Case& c, TestFabric& fabric, FlowNetwork::SolveMode mode) {
  core::Engine engine;
  FlowNetwork net(engine, fabric, FlowNetwork::Options{mode});
  engine.add_pending_source(net);
  Outcome out;
  std::function<void(TransferId, SimTime, int)> on_done;
  auto launch = [&](EndpointId src, EndpointId dst, std::int64_t size, int follow_ups) {
    const TransferId id = net.start(src, dst, Bytes(size),
                                    [&on_done, follow_ups](TransferId i, SimTime t) { on_done(i, t, follow_ups); });
    Record& r = out.transfers[id];
    r.start = engine.now();
    r.src = src;
    r.dst = dst;
    r.size = size;
  };
  on_done = [&](TransferId id, SimTime t, int follow_ups) {
    out.order.push_back(id);
    Record& r = out.transfers.at(id);
    r.done = t;
    r.completed = true;
    ++r.completions;
    if (follow_ups > 0) {
      const auto next = static_cast<EndpointId>((r.dst + 1 + id) % c.endpoints);
      launch(r.dst, next, r.size / 2 + 1, follow_ups - 1);
    }
  };
  net.set_solve_observer([&] {
    const auto flows = net.active_flows();
    std::vector<double> usage(fabric.link_count(), 0.0);
    std::vector<double> max_rate(fabric.link_count(), 0.0);
    for (const auto& f : flows) {
      for (const LinkId l : f.route) {
        usage[l] += f.rate;
        max_rate[l] = std::max(max_rate[l], f.rate);
      }
      out.transfers.at(f.id).rates.emplace_back(engine.now(), f.rate);
    }
    for (LinkId l = 0; l < fabric.link_count(); ++l) {
      if (usage[l] > fabric.link(l).bandwidth.value() * (1 + kRel)) {
        out.violations.push_back("link " + std::to_string(l) + " over capacity at " +
                                 std::to_string(engine.now().ps()));
      }
    }
    for (const auto& f : flows) {
      bool bottlenecked = false;
      for (const LinkId l : f.route) {
        const bool saturated = usage[l] >= fabric.link(l).bandwidth.value() * (1 - kRel);
        bottlenecked = bottlenecked || (saturated && f.rate >= max_rate[l] * (1 - kRel));
      }
      if (!bottlenecked) {
        out.violations.push_back("transfer " + std::to_string(f.id) +
                                 " crosses no saturated link where its rate is the largest");
      }
    }
  });
  for (const Start& s : c.starts) {
    engine.schedule_at(SimTime::zero() + Duration::from_ns(s.at_ns),
                       [&launch, s] { launch(s.src, s.dst, s.size, s.follow_ups); });
  }
  const auto result = engine.run();
  if (result.status != core::RunStatus::kCompleted) out.violations.push_back("run did not complete");
  out.solves = net.stats().solves;
  for (const auto& [id, r] : out.transfers) out.last = std::max(out.last, r.done);
  return out;
}

class FlowNetworkProperty : public ::testing::TestWithParam<std::uint32_t> {};

TEST_P(FlowNetworkProperty, MaxMinAtEverySolveBytesConservedNeverFasterThanAlone) {
  const Case c = random_case(GetParam());
  TestFabric fabric = test_support::random_graph_fabric(c.seed, c.endpoints, c.vertices, c.extra_edges);
  const Outcome out = run_case(c, fabric, FlowNetwork::SolveMode::kIncremental);
  for (const auto& v : out.violations) ADD_FAILURE() << "seed " << c.seed << ": " << v;

  double delivered_total = 0.0;
  double size_total = 0.0;
  for (const auto& [id, r] : out.transfers) {
    ASSERT_TRUE(r.completed) << "seed " << c.seed << ": transfer " << id << " never completed";
    EXPECT_EQ(r.completions, 1) << "transfer " << id << " completed more than once";
    // Lower bound: L + (S - tolerance) / bottleneck (a transfer may finish up to tolerance / rate early).
    Duration latency = Duration::zero();
    double bottleneck = std::numeric_limits<double>::infinity();
    const auto route = fabric.route(r.src, r.dst);
    for (const LinkId l : route) {
      latency += fabric.link(l).latency;
      bottleneck = std::min(bottleneck, fabric.link(l).bandwidth.value());
    }
    const double size = static_cast<double>(r.size);
    const double tolerance = std::max(FlowNetwork::kCompletionBytes, FlowNetwork::kCompletionRelative * size);
    const double alone_ps =
        route.empty() ? 0.0 : static_cast<double>(latency.ps()) + std::max(size - tolerance, 0.0) / bottleneck * 1e12;
    EXPECT_GE(static_cast<double>((r.done - r.start).ps()), alone_ps - 1.0)
        << "seed " << c.seed << ": transfer " << id << " finished faster than alone on its route (L + S/B)";
    // Bytes delivered: the integral of the piecewise-constant rate over the bandwidth phase.
    double delivered = 0.0;
    for (std::size_t k = 0; k < r.rates.size(); ++k) {
      const SimTime until = k + 1 < r.rates.size() ? r.rates[k + 1].first : r.done;
      delivered += r.rates[k].second * (until - r.rates[k].first).seconds();
    }
    if (route.empty() || r.size == 0) {
      EXPECT_TRUE(r.rates.empty());
      delivered = size;
    } else {
      const double slack = tolerance + bottleneck * 1e-12 + kRel * size;
      EXPECT_NEAR(delivered, size, slack) << "seed " << c.seed << ": transfer " << id << " delivered != size";
    }
    delivered_total += delivered;
    size_total += size;
  }
  EXPECT_NEAR(delivered_total, size_total, 1e-6 * std::max(size_total, 1.0)) << "bytes conserved over all transfers";
}

TEST_P(FlowNetworkProperty, IncrementalEqualsFullResolve) {
  const Case c = random_case(GetParam());
  TestFabric fabric = test_support::random_graph_fabric(c.seed, c.endpoints, c.vertices, c.extra_edges);
  const Outcome inc = run_case(c, fabric, FlowNetwork::SolveMode::kIncremental);
  const Outcome full = run_case(c, fabric, FlowNetwork::SolveMode::kFull);
  ASSERT_EQ(inc.transfers.size(), full.transfers.size());
  EXPECT_EQ(inc.solves, full.solves) << "both modes solve at the same instants";
  for (const auto& [id, r] : full.transfers) {
    const Record& i = inc.transfers.at(id);
    // The solves agree to 1e-12 relative (MaxMinSolver): completion times to a picosecond or two.
    EXPECT_NEAR(static_cast<double>(i.done.ps()), static_cast<double>(r.done.ps()), 2.0)
        << "seed " << c.seed << ": transfer " << id;
    ASSERT_EQ(i.rates.size(), r.rates.size()) << "seed " << c.seed << ": transfer " << id;
    for (std::size_t k = 0; k < r.rates.size(); ++k) {
      EXPECT_NEAR(i.rates[k].second, r.rates[k].second, 1e-9 * r.rates[k].second)
          << "seed " << c.seed << ": transfer " << id << " rate at solve " << k;
    }
  }
}

TEST_P(FlowNetworkProperty, DoublingEveryBandwidthNeverDelaysTheLastCompletion) {
  const Case c = random_case(GetParam());
  TestFabric fabric = test_support::random_graph_fabric(c.seed, c.endpoints, c.vertices, c.extra_edges);
  const Outcome base = run_case(c, fabric, FlowNetwork::SolveMode::kIncremental);
  fabric.scale_bandwidth(2.0);
  const Outcome faster = run_case(c, fabric, FlowNetwork::SolveMode::kIncremental);
  EXPECT_LE(faster.last, base.last) << "seed " << c.seed << ": more bandwidth made the last completion later";
}

TEST_P(FlowNetworkProperty, SameInputsSameOrder) {
  const Case c = random_case(GetParam());
  TestFabric fabric = test_support::random_graph_fabric(c.seed, c.endpoints, c.vertices, c.extra_edges);
  const Outcome a = run_case(c, fabric, FlowNetwork::SolveMode::kIncremental);
  const Outcome b = run_case(c, fabric, FlowNetwork::SolveMode::kIncremental);
  ASSERT_EQ(a.transfers.size(), b.transfers.size());
  EXPECT_EQ(a.order, b.order) << "seed " << c.seed << ": completion callbacks in a different order";
  for (const auto& [id, r] : a.transfers) {
    EXPECT_EQ(r.done, b.transfers.at(id).done) << "seed " << c.seed << ": transfer " << id;
  }
}

INSTANTIATE_TEST_SUITE_P(Seeds, FlowNetworkProperty, ::testing::Range(1u, 41u));

}  // namespace
}  // namespace mfusim::network
