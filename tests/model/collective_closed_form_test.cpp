// Closed-form checks of the collective models (docs/models/collectives.md), with the calibrated
// efficiency switched off (eta = 1) so that the times are NCCL 2.30.7's cost model:
//   - ring all-reduce on n GPUs of one NVSwitch node (uniform links) = baseLat + 2(n-1)(alpha + S/(nB)),
//     alpha = hwLat[NVLink][Ring][p], B = 12 x 30 GB/s at the protocol's efficiency (Simple 1, LL128 0.92,
//     LL 0.5 capped at llMaxBw 141); all-gather / reduce-scatter baseLat + (n-1)(alpha + S/(nB));
//     broadcast baseLat + alpha + S/B;
//   - tree all-reduce across N nodes = 8.4 + 2((ppn-1) 4.0 + log2(N) 14) + S / (0.5 min(0.92 nCh bw,
//     nCh perChMaxTreeBw)); NVLS = 25 us + S / 272 GB/s; NVLSTree = 25 + 2 log2(N) 20.9 + S / algbw;
//   - the flow fidelity equals the analytical one for a collective alone on the fabric (within 1%);
//   - collectives of two communicators that share a link take longer at flow fidelity (the shared link
//     is split max-min fairly: twice the bandwidth term) and exactly as long as alone at analytical.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "collective/analytical_collectives.hpp"
#include "collective/flow_collectives.hpp"
#include "core/engine.hpp"
#include "network/flow_network.hpp"
#include "network/topology_fabric.hpp"
#include "topology/router.hpp"
#include "unit/collective/test_topologies.hpp"

namespace mfusim::collective {
namespace {

using core::Bytes;
using test_support::preset;

constexpr std::int64_t kMiB = 1 << 20;
constexpr std::int64_t kGiB = std::int64_t{1} << 30;

TuningOptions plain(Selection s = {}) {
  TuningOptions o;
  o.efficiency = EfficiencyCurve::none();
  o.selection = std::move(s);
  return o;
}

CollectiveCall call_of(CollectiveOp op, std::int64_t bytes, Rank root = 0) {
  CollectiveCall c;
  c.op = op;
  c.bytes = Bytes(bytes);
  c.root = root;
  return c;
}

double us(double microseconds) {
  return microseconds * 1e-6;
}

// Runs calls concurrently at one fidelity; returns each one's duration in seconds.
class Harness {
 public:
  Harness(const topology::Topology& t, Fidelity f, TuningOptions o)
      : t_(t), router_(t), fabric_(t, router_), net_(engine_, fabric_) {
    if (f == Fidelity::kFlow) {
      model_ = std::make_unique<FlowCollectives>(engine_, t, net_, fabric_, CostModel(std::move(o)));
    } else {
      model_ = std::make_unique<AnalyticalCollectives>(engine_, t, CostModel(std::move(o)));
    }
    engine_.add_pending_source(net_);
    engine_.add_pending_source(*model_);
  }

  std::vector<double> run(const std::vector<std::pair<const Communicator*, CollectiveCall>>& calls) {
    std::vector<double> out(calls.size(), -1.0);
    for (std::size_t i = 0; i < calls.size(); ++i) {
      model_->start(*calls[i].first, calls[i].second,
                    [&out, i](const CollectiveResult& r) { out[i] = r.duration().seconds(); });
    }
    EXPECT_EQ(engine_.run().status, core::RunStatus::kCompleted);
    return out;
  }
  double run_one(const Communicator& c, const CollectiveCall& call) { return run({{&c, call}}).front(); }
  const CollectiveModel& model() const { return *model_; }

 private:
  const topology::Topology& t_;
  core::Engine engine_;
  topology::Router router_;
  network::TopologyFabric fabric_;
  network::FlowNetwork net_;
  std::unique_ptr<CollectiveModel> model_;
};

TEST(CollectiveClosedForm, RingAllReduceIsTwoNMinusOneAlphaPlusSOverNB) {
  const auto t = preset("tiny-1node");
  struct Proto {
    Protocol p;
    double base, alpha, busbw;
  };
  const Proto protos[] = {{Protocol::kSimple, 8.4, 3.4, 360.0},
                          {Protocol::kLl128, 14.0, 1.9, 0.92 * 360.0},
                          {Protocol::kLl, 6.6, 0.6, 141.0}};
  for (const std::size_t n : std::initializer_list<std::size_t>{2, 4, 8}) {
    const auto comm = Communicator::first_gpus(t, n);
    for (const auto& pr : protos) {
      for (const Fidelity f : {Fidelity::kAnalytical, Fidelity::kFlow}) {
        Harness h(t, f, plain({{Algorithm::kRing}, {pr.p}}));
        for (const std::int64_t S : {std::int64_t{64} * 1024, 256 * kMiB}) {
          const double dn = static_cast<double>(n);
          const double expected =
              us(pr.base) + 2.0 * (dn - 1.0) * (us(pr.alpha) + static_cast<double>(S) / (dn * pr.busbw * 1e9));
          const double got = h.run_one(comm, call_of(CollectiveOp::kAllReduce, S));
          const double tolerance = f == Fidelity::kAnalytical ? 2e-12 : 0.01 * expected;
          EXPECT_NEAR(got, expected, tolerance)
              << "n=" << n << " " << to_string(pr.p) << " " << S << " B at " << to_string(f);
        }
      }
    }
  }
}

TEST(CollectiveClosedForm, AllGatherReduceScatterAndBroadcast) {
  const auto t = preset("tiny-1node");
  const auto comm = Communicator::first_gpus(t, 8);
  Harness h(t, Fidelity::kAnalytical, plain({{Algorithm::kRing}, {Protocol::kSimple}}));
  const double S = static_cast<double>(kGiB);
  const double nm1 = 7.0 * (us(3.4) + S / (8.0 * 360e9));
  EXPECT_NEAR(h.run_one(comm, call_of(CollectiveOp::kAllGather, kGiB)), us(8.4) + nm1, 2e-12);
  EXPECT_NEAR(h.run_one(comm, call_of(CollectiveOp::kReduceScatter, kGiB)), us(8.4) + nm1, 2e-12);
  // Broadcast: algbw = busBw (nsteps = n), one hop of latency on one node.
  EXPECT_NEAR(h.run_one(comm, call_of(CollectiveOp::kBroadcast, kGiB, 5)), us(8.4 + 3.4) + S / 360e9, 2e-12);
  // Flow fidelity, same numbers within 1%.
  Harness hf(t, Fidelity::kFlow, plain({{Algorithm::kRing}, {Protocol::kSimple}}));
  EXPECT_NEAR(hf.run_one(comm, call_of(CollectiveOp::kAllGather, kGiB)), us(8.4) + nm1, 0.01 * (us(8.4) + nm1));
  EXPECT_NEAR(hf.run_one(comm, call_of(CollectiveOp::kBroadcast, kGiB, 5)), us(8.4 + 3.4) + S / 360e9,
              0.01 * (us(8.4 + 3.4) + S / 360e9));
}

TEST(CollectiveClosedForm, TreeNvlsAndNvlsTree) {
  const double S = static_cast<double>(kGiB);
  // 4 DGX H100 nodes, tree Simple at 1 GiB (no tree correction above 256 MiB): busBw = min(0.92 x 8 x 48,
  // 8 x 36.0) = 288 GB/s, algbw 144; latency 8.4 + 2 (7 x 4.0 + 2 x 14).
  const auto t4 = preset("dgx-h100-superpod", {"nodes=4"});
  const auto c4 = Communicator::first_gpus(t4, 32);
  for (const Fidelity f : {Fidelity::kAnalytical, Fidelity::kFlow}) {
    Harness tree(t4, f, plain({{Algorithm::kTree}, {Protocol::kSimple}}));
    const double expected_tree = us(8.4 + 2 * (7 * 4.0 + 2 * 14.0)) + S / 144e9;
    EXPECT_NEAR(tree.run_one(c4, call_of(CollectiveOp::kAllReduce, kGiB)), expected_tree,
                f == Fidelity::kAnalytical ? 2e-12 : 0.01 * expected_tree);
    // NVLSTree: per head min(40 x 0.85 x 7/8 x 2, 48, 45.5) = 45.5, busBw 8 x 45.5 = 364, algbw x 32/62;
    // latency 25 + 2 x log2(4) x 20.9.
    Harness nt(t4, f, plain({{Algorithm::kNvlsTree}, {}}));
    const double expected_nt = us(25 + 2 * 2 * 20.9) + S / (364e9 * 32.0 / 62.0);
    EXPECT_NEAR(nt.run_one(c4, call_of(CollectiveOp::kAllReduce, kGiB)), expected_nt,
                f == Fidelity::kAnalytical ? 2e-12 : 0.01 * expected_nt);
  }
  // NVLS on one DGX H100: 25 us + S / 272 GB/s.
  const auto t1 = preset("tiny-1node");
  const auto c1 = Communicator::first_gpus(t1, 8);
  for (const Fidelity f : {Fidelity::kAnalytical, Fidelity::kFlow}) {
    Harness nvls(t1, f, plain({{Algorithm::kNvls}, {}}));
    const double expected = us(25) + S / 272e9;
    EXPECT_NEAR(nvls.run_one(c1, call_of(CollectiveOp::kAllReduce, kGiB)), expected,
                f == Fidelity::kAnalytical ? 2e-12 : 0.01 * expected);
  }
}

TEST(CollectiveClosedForm, FlowEqualsAnalyticalForAnIsolatedCollective) {
  struct Case {
    const char* topology;
    std::vector<std::string> overrides;
    std::size_t gpus;
  };
  const Case cases[] = {{"tiny-1node", {}, 8},
                        {"tiny-2nodes", {}, 16},
                        {"dgx-h100-superpod", {"nodes=8"}, 64},
                        {"dgx-a100-superpod", {"nodes=4"}, 32},
                        {"gb200-nvl72", {"nodes=1"}, 72}};
  const CollectiveOp ops[] = {CollectiveOp::kAllReduce, CollectiveOp::kAllGather, CollectiveOp::kReduceScatter,
                              CollectiveOp::kBroadcast, CollectiveOp::kAllToAll};
  for (const auto& cs : cases) {
    const auto t = preset(cs.topology, cs.overrides);
    const auto comm = Communicator::first_gpus(t, cs.gpus);
    Harness a(t, Fidelity::kAnalytical, TuningOptions{});
    Harness f(t, Fidelity::kFlow, TuningOptions{});
    for (const auto op : ops) {
      for (const std::int64_t S : {std::int64_t{1} << 16, 16 * kMiB, kGiB}) {
        const auto call = call_of(op, S);
        const double ta = a.run_one(comm, call);
        const double tf = f.run_one(comm, call);
        EXPECT_NEAR(tf, ta, 0.01 * ta) << cs.topology << " " << to_string(op) << " " << S << " B";
      }
    }
  }
}

TEST(CollectiveClosedForm, SharedUplinkSlowsBothAllReducesAtFlowFidelityOnly) {
  // GPUs 0, 1 on leaf A and 2, 3 on leaf B, one 50 GB/s uplink: {0, 2} and {1, 3} each push S through it
  // in each direction. Alone: lat + B (B: NCCL's calibrated transfer time). Together at flow fidelity
  // they share the uplink: each gets half of it, so its S bytes take 2 S / C, unless NCCL's own rate
  // (S / B, the cap of each transfer at its sender) is the slower: lat + max(B, 2 S / C).
  const auto t = test_support::shared_uplink();
  const Communicator g1(t, {0, 2});
  const Communicator g2(t, {1, 3});
  const auto call = call_of(CollectiveOp::kAllReduce, kGiB);
  const auto plan = CostModel().plan(g1, call);
  const double lat = plan.latency.seconds();
  const double bw = plan.transfer.seconds();
  for (const Fidelity f : {Fidelity::kAnalytical, Fidelity::kFlow}) {
    Harness alone(t, f, TuningOptions{});
    const double t_alone = alone.run_one(g1, call);
    EXPECT_NEAR(t_alone, lat + bw, 0.01 * (lat + bw));
    Harness both(t, f, TuningOptions{});
    const auto together = both.run({{&g1, call}, {&g2, call}});
    for (const double t_both : together) {
      if (f == Fidelity::kAnalytical) {
        EXPECT_DOUBLE_EQ(t_both, t_alone) << "analytical collectives must not see each other";
      } else {
        const double wire = 2.0 * static_cast<double>(kGiB) / 50e9;  // S = 2(n-1)/n x size = size for n = 2
        const double want = lat + std::max(bw, wire);
        EXPECT_NEAR(t_both, want, 0.02 * want) << "the shared uplink must halve each one's rate";
        EXPECT_GT(t_both, t_alone * 1.5) << "sharing the uplink must slow both";
      }
    }
  }
}

TEST(CollectiveClosedForm, DataParallelGroupsContendOnAnOversubscribedFatTreeButNotOnRails) {
  // Eight data-parallel groups (one per local GPU index, as with TP = 8), each all-reducing 1 GiB over 32
  // nodes at once. Rail-optimized and non-blocking: every group stays on its own rail, no slowdown.
  // 2:1 oversubscribed fat-tree: the groups' rings share leaf uplinks and all slow down.
  for (const char* name : {"dgx-h100-superpod", "h100-fat-tree-2to1"}) {
    const auto t = preset(name, {"nodes=32"});
    std::vector<Communicator> groups;
    for (topology::GpuIndex local = 0; local < 8; ++local) {
      std::vector<topology::GpuIndex> gpus;
      for (topology::GpuIndex node = 0; node < 32; ++node) gpus.push_back(node * 8 + local);
      groups.emplace_back(t, gpus);
    }
    const auto call = call_of(CollectiveOp::kAllReduce, kGiB);
    std::vector<std::pair<const Communicator*, CollectiveCall>> calls;
    for (const auto& g : groups) calls.push_back({&g, call});
    for (const Fidelity f : {Fidelity::kAnalytical, Fidelity::kFlow}) {
      Harness alone(t, f, TuningOptions{});
      const double t_alone = alone.run_one(groups[0], call);
      Harness all(t, f, TuningOptions{});
      const auto together = all.run(calls);
      const double slowest = *std::max_element(together.begin(), together.end());
      const bool oversubscribed = std::string(name) == "h100-fat-tree-2to1";
      if (f == Fidelity::kFlow && oversubscribed) {
        EXPECT_GT(slowest, 1.3 * t_alone) << name << ": " << slowest / t_alone;
        std::cout << name << ": 8 DP groups together take " << slowest / t_alone << "x as long as one alone\n";
      } else {
        EXPECT_NEAR(slowest, t_alone, 0.01 * t_alone) << name << " at " << to_string(f);
      }
    }
  }
}

}  // namespace
}  // namespace mfusim::collective
