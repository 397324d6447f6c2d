// Closed-form checks of the network models (docs/models/network.md):
//   - one transfer alone on its route takes L + S / B (L = summed link latencies, B = bottleneck);
//   - n equal transfers on one link share it equally and finish together at L + n S / B;
//   - transfers with different bottlenecks get their max-min rates, and the rates are re-allocated when a
//     transfer finishes (parking lot);
//   - the analytical and flow models agree for a transfer that is alone;
//   - on the tiny-2nodes preset, an 8-to-1 incast per direction drains the shared NIC at line rate.
#include <gtest/gtest.h>

#include <cstdint>
#include <filesystem>
#include <map>
#include <vector>

#include "core/engine.hpp"
#include "hardware/catalog.hpp"
#include "network/analytical_network.hpp"
#include "network/flow_network.hpp"
#include "network/topology_fabric.hpp"
#include "topology/cluster_builder.hpp"
#include "topology/router.hpp"
#include "unit/network/test_fabric.hpp"

namespace mfusim::network {
namespace {

using core::Bytes;
using core::Duration;
using core::SimTime;
using test_support::TestFabric;

// Completion times by transfer id.
struct Recorder {
  std::map<TransferId, SimTime> done;
  NetworkModel::Callback callback() {
    return [this](TransferId id, SimTime t) { done[id] = t; };
  }
};

// Time of S bytes at B bytes/s, rounded to the picosecond as the models round it.
Duration drain(double bytes, double bandwidth) {
  return Duration::from_seconds(bytes / bandwidth);
}

TEST(NetworkClosedForm, OneFlowOnOneLinkIsLatencyPlusSizeOverBandwidth) {
  TestFabric fabric(2);
  const LinkId l = fabric.add_link(50e9, Duration::from_ns(1500));
  fabric.set_route(0, 1, {l});
  core::Engine engine;
  FlowNetwork net(engine, fabric);
  Recorder rec;
  const TransferId id = net.start(0, 1, Bytes(64 << 20), rec.callback());
  ASSERT_EQ(engine.run().status, core::RunStatus::kCompleted);
  // 1.5 us + 67108864 B / 50e9 B/s = 1.5 us + 1342.17728 us = 1343677280 ps, exactly.
  EXPECT_EQ(rec.done.at(id).ps(), 1'343'677'280) << "one flow on one link must take latency + size / bandwidth";
  EXPECT_EQ(net.stats().solves, 2u) << "one solve when the flow joins, one when it leaves";
}

TEST(NetworkClosedForm, OneFlowOnARouteIsBottleneckedByItsSlowestLink) {
  TestFabric fabric(2);
  const LinkId a = fabric.add_link(100e9, Duration::from_ns(300));
  const LinkId b = fabric.add_link(25e9, Duration::from_ns(850));
  const LinkId c = fabric.add_link(50e9, Duration::from_ns(500));
  fabric.set_route(0, 1, {a, b, c});
  core::Engine engine;
  FlowNetwork net(engine, fabric);
  Recorder rec;
  net.start(0, 1, Bytes(1'000'000), rec.callback());
  engine.run();
  // L = 0.3 + 0.85 + 0.5 us = 1.65 us; S / B = 1e6 B / 25e9 B/s = 40 us.
  EXPECT_EQ(rec.done.at(0), SimTime::zero() + Duration::from_ns(1650) + Duration::from_us(40))
      << "time = sum of latencies + size / min bandwidth on the route";
}

class EqualFlowsOnOneLink : public ::testing::TestWithParam<int> {};

TEST_P(EqualFlowsOnOneLink, FinishTogetherAtNTimesTheSingleTime) {
  const int n = GetParam();
  const double bw = 25e9;
  const Duration latency = Duration::from_ns(700);
  const double size = 8e6;
  TestFabric fabric(static_cast<std::size_t>(n) + 1);
  const LinkId shared = fabric.add_link(bw, latency);
  for (int i = 1; i <= n; ++i) fabric.set_route(static_cast<EndpointId>(i), 0, {shared});
  core::Engine engine;
  FlowNetwork net(engine, fabric);
  Recorder rec;
  for (int i = 1; i <= n; ++i) net.start(static_cast<EndpointId>(i), 0, Bytes(8'000'000), rec.callback());
  ASSERT_EQ(engine.run().status, core::RunStatus::kCompleted);
  ASSERT_EQ(rec.done.size(), static_cast<std::size_t>(n));
  // Each gets B / n; all finish at L + n S / B (single time L + S / B, bandwidth part times n). The rate
  // B / n and the product are rounded separately, hence 1 ps of slack.
  const SimTime expected = SimTime::zero() + latency + drain(n * size, bw);
  for (const auto& [id, t] : rec.done) {
    EXPECT_NEAR(static_cast<double>(t.ps()), static_cast<double>(expected.ps()), 1.0)
        << "transfer " << id << " of " << n << " equal flows must finish at L + n*S/B";
    EXPECT_EQ(t, rec.done.begin()->second) << "equal flows must finish at the same picosecond";
  }
  EXPECT_EQ(net.stats().wakeups, 1u) << "n equal flows complete in one wake-up";
  EXPECT_EQ(net.stats().solves, 2u) << "n simultaneous joins and n simultaneous ends cost one solve each";
}

INSTANTIATE_TEST_SUITE_P(N, EqualFlowsOnOneLink, ::testing::Values(1, 2, 3, 7, 64, 1000));

// Parking lot: links X and Y of 10 GB/s (no latency). A crosses X and Y, B crosses X, C1 and C2 cross Y.
//   0   .. 0.3 s: Y shared by A, C1, C2: 10/3 GB/s each; X: A = 10/3, B gets the rest, 20/3.
//   0.3 s: C1 (1 GB) done. A, C2 have sent 1 GB, B 2 GB. Y: A, C2 5 each; X: A 5, B 5.
//   0.5 s: C2 (2 GB) done. A and B have sent 2 GB and 3 GB. Y: A alone, but X: A, B 5 each (A now
//          bottlenecked on X).
//   0.7 s: A (3 GB) done. B has sent 4 GB. X: B alone at 10.
//   0.8 s: B (5 GB) done.
TEST(NetworkClosedForm, ParkingLotGetsMaxMinRatesAndReallocatesOnCompletion) {
  TestFabric fabric(5);
  const LinkId x = fabric.add_link(10e9);
  const LinkId y = fabric.add_link(10e9);
  fabric.set_route(0, 1, {x, y});  // A
  fabric.set_route(0, 2, {x});     // B
  fabric.set_route(3, 1, {y});     // C1
  fabric.set_route(4, 1, {y});     // C2
  core::Engine engine;
  FlowNetwork net(engine, fabric);
  Recorder rec;
  std::vector<std::map<TransferId, double>> rates;  // after each solve
  net.set_solve_observer([&] {
    std::map<TransferId, double> r;
    for (const auto& f : net.active_flows()) r[f.id] = f.rate;
    rates.push_back(r);
  });
  const TransferId a = net.start(0, 1, Bytes(3'000'000'000), rec.callback());
  const TransferId b = net.start(0, 2, Bytes(5'000'000'000), rec.callback());
  const TransferId c1 = net.start(3, 1, Bytes(1'000'000'000), rec.callback());
  const TransferId c2 = net.start(4, 1, Bytes(2'000'000'000), rec.callback());
  ASSERT_EQ(engine.run().status, core::RunStatus::kCompleted);

  ASSERT_GE(rates.size(), 3u);
  EXPECT_NEAR(rates[0].at(a), 10e9 / 3, 1e-3) << "A: Y's fair share among A, C1, C2";
  EXPECT_NEAR(rates[0].at(c1), 10e9 / 3, 1e-3);
  EXPECT_NEAR(rates[0].at(b), 20e9 / 3, 1e-3) << "B: what A leaves of X";
  EXPECT_NEAR(rates[1].at(a), 5e9, 1e-3) << "after C1: Y shared by A and C2";
  EXPECT_NEAR(rates[1].at(b), 5e9, 1e-3) << "after C1: B drops to X - A";
  EXPECT_NEAR(rates[2].at(a), 5e9, 1e-3) << "after C2: A's bottleneck moves to X";
  EXPECT_NEAR(rates[2].at(b), 5e9, 1e-3);

  // Lazy updates go through 1/3 rates: allow 2 ps of rounding.
  const auto near = [&](TransferId id, std::int64_t ms) {
    EXPECT_NEAR(static_cast<double>(rec.done.at(id).ps()), static_cast<double>(Duration::from_ms(ms).ps()), 2.0)
        << "transfer " << id << " must finish at " << ms << " ms (see the timeline above the test)";
  };
  near(c1, 300);
  near(c2, 500);
  near(a, 700);
  near(b, 800);
}

TEST(NetworkClosedForm, AnalyticalAndFlowAgreeForAFlowAlone) {
  TestFabric fabric(2);
  const LinkId a = fabric.add_link(450e9, Duration::from_ns(300));
  const LinkId b = fabric.add_link(50e9, Duration::from_ns(500));
  const LinkId c = fabric.add_link(50e9, Duration::from_ns(850));
  fabric.set_route(0, 1, {a, b, c});
  for (const std::int64_t size : {0LL, 1LL, 4096LL, 1'000'003LL, 1LL << 30}) {
    core::Engine e1;
    core::Engine e2;
    AnalyticalNetwork analytical(e1, fabric);
    FlowNetwork flow(e2, fabric);
    Recorder r1;
    Recorder r2;
    analytical.start(0, 1, Bytes(size), r1.callback());
    flow.start(0, 1, Bytes(size), r2.callback());
    e1.run();
    e2.run();
    EXPECT_EQ(r1.done.at(0), r2.done.at(0)) << "size " << size << ": a lone flow takes L + S/B in both models";
    EXPECT_EQ(r1.done.at(0), SimTime::zero() + Duration::from_ns(1650) +
                                 (size > 0 ? drain(static_cast<double>(size), 50e9) : Duration::zero()));
  }
}

// tiny-2nodes: two DGX H100 nodes, one leaf switch. Per route: NVLink links 450 GB/s and 0.3 us each,
// PCIe GPU<->NIC links and fabric cables at the NIC's 50 GB/s, 0.5 us and 0.85 us
// (sim/topology/cluster_builder.cpp). With PXN, GPU i of node 0 reaches GPU 8 (rail 0 of node 1) as
// GPU i -> NVSwitch -> GPU 0 -> NIC 0 -> leaf -> NIC 8 -> GPU 8: L = 0.6 + 0.5 + 1.7 + 0.5 = 3.3 us; from
// GPU 0 itself L = 2.7 us. 8 GPUs of node 0 send S to GPU 8 and 8 GPUs of node 1 send S to GPU 0 (16
// transfers, the two directions on disjoint directed links). NIC 0's 50 GB/s is the bottleneck of 8
// transfers and busy from 2.7 us on, so the last byte arrives at 2.7 us + 8 S / B. GPU 0's own transfer
// runs alone for 0.6 us (30,000 B), then at B/8: it finishes at 3.3 us + (S - 30,000) * 8 / B; the other
// seven then share B and finish together at 2.7 us + 8 S / B.
TEST(NetworkClosedForm, TinyTwoNodesIncastDrainsTheNicAtLineRate) {
  const hardware::Catalog catalog = hardware::Catalog::load(hardware::Catalog::default_dir());
  const topology::Topology topo = topology::load_topology(
      std::filesystem::path(MFUSIM_SOURCE_DIR) / "topologies" / "tiny-2nodes.yaml", {}, catalog);
  topology::Router router(topo);
  TopologyFabric fabric(topo, router);
  ASSERT_EQ(fabric.endpoint_count(), 16u);

  const double bw = 50e9;
  const double size = 16 * 1024 * 1024;
  for (EndpointId i = 0; i < 8; ++i) {
    Duration latency = Duration::zero();
    double bottleneck = 1e300;
    for (const LinkId l : fabric.route(i, 8)) {
      latency += fabric.link(l).latency;
      bottleneck = std::min(bottleneck, fabric.link(l).bandwidth.value());
    }
    EXPECT_EQ(latency, Duration::from_ns(i == 0 ? 2700 : 3300)) << "route latency of GPU " << i << " -> GPU 8";
    EXPECT_EQ(bottleneck, bw) << "route bottleneck of GPU " << i << " -> GPU 8: the NIC";
  }

  core::Engine engine;
  FlowNetwork net(engine, fabric);
  engine.add_pending_source(net);
  Recorder rec;
  std::vector<TransferId> to8;
  std::vector<TransferId> to0;
  for (EndpointId i = 0; i < 8; ++i) to8.push_back(net.start(i, 8, Bytes(16 << 20), rec.callback()));
  for (EndpointId i = 8; i < 16; ++i) to0.push_back(net.start(i, 0, Bytes(16 << 20), rec.callback()));
  ASSERT_EQ(engine.run().status, core::RunStatus::kCompleted);
  ASSERT_EQ(rec.done.size(), 16u);

  const auto first = static_cast<double>((Duration::from_ns(3300) + drain((size - 30'000) * 8, bw)).ps());
  const auto last = static_cast<double>((Duration::from_ns(2700) + drain(8 * size, bw)).ps());
  EXPECT_EQ(first, 2'682'854'560.0);
  EXPECT_EQ(last, 2'687'054'560.0);
  for (const auto& ids : {to8, to0}) {
    EXPECT_NEAR(static_cast<double>(rec.done.at(ids[0]).ps()), first, 2.0)
        << "the rail GPU's own transfer: 0.6 us alone, then B/8: 3.3 us + (S - 30 kB) * 8 / B";
    for (std::size_t k = 1; k < 8; ++k) {
      EXPECT_NEAR(static_cast<double>(rec.done.at(ids[k]).ps()), last, 2.0)
          << "transfer " << ids[k] << ": the NIC drains 8 S at B from 2.7 us on: 2.7 us + 8 S / B";
    }
  }
}

}  // namespace
}  // namespace mfusim::network
