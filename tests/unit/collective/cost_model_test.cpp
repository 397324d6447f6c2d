#include "collective/cost_model.hpp"

#include <gtest/gtest.h>

#include <string>

#include "core/error.hpp"
#include "unit/collective/test_topologies.hpp"

namespace mfusim::collective {
namespace {

using core::Bytes;
using test_support::preset;

constexpr std::int64_t kMiB = 1 << 20;
constexpr std::int64_t kGiB = std::int64_t{1} << 30;

TuningOptions plain() {
  TuningOptions o;
  o.efficiency = EfficiencyCurve::none();
  return o;
}

Candidate find(const std::vector<Candidate>& cands, Algorithm a, Protocol p) {
  for (const auto& c : cands) {
    if (c.algorithm == a && c.protocol == p) return c;
  }
  ADD_FAILURE() << "no candidate " << to_string(a) << "/" << to_string(p);
  return {};
}

CollectivePlan plan(const CostModel& m, const Communicator& c, CollectiveOp op, std::int64_t bytes, Selection s = {}) {
  CollectiveCall call;
  call.op = op;
  call.bytes = Bytes(bytes);
  call.selection = std::move(s);
  return m.plan(c, call);
}

std::string error_of(const CostModel& m, const Communicator& c, CollectiveOp op, Selection s) {
  try {
    plan(m, c, op, kMiB, std::move(s));
  } catch (const core::InputError& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(CostModel, TunerConstantsAreNccl2307) {
  const auto c = TunerConstants::nccl_2_30_7();
  EXPECT_EQ(c.nccl_version, "2.30.7");
  EXPECT_DOUBLE_EQ(c.base_latency(Algorithm::kRing, Protocol::kLl), 6.6);
  EXPECT_DOUBLE_EQ(c.base_latency(Algorithm::kTree, Protocol::kSimple), 8.4);
  EXPECT_DOUBLE_EQ(c.hw_latency(HwLink::kNvlink, Algorithm::kRing, Protocol::kSimple), 3.4);
  EXPECT_DOUBLE_EQ(c.hw_latency(HwLink::kNet, Algorithm::kNvlsTree, Protocol::kSimple), 20.9);
  EXPECT_DOUBLE_EQ(c.hw_latency(HwLink::kNvlink, Algorithm::kNvls, Protocol::kSimple), 25.0);
  EXPECT_DOUBLE_EQ(c.ll_max_bw[2][0], 141.0);
  EXPECT_DOUBLE_EQ(c.per_channel_max_tree_bw[2][2], 36.0);
  EXPECT_DOUBLE_EQ(c.per_channel_max_nvls_tree_bw[2][2], 45.5);
  EXPECT_DOUBLE_EQ(c.nvls_efficiency[3], 0.74);
  EXPECT_DOUBLE_EQ(c.tree_correction[2][11], 0.5);
}

TEST(CostModel, DgxH100RingTreeAndNvlsMatchNcclsFormulas) {
  const auto t = preset("tiny-1node");
  const auto c = Communicator::first_gpus(t, 8);
  const CostModel m(plain());
  const auto cands = m.candidates(c, CollectiveOp::kAllReduce, Bytes(kGiB));
  // Ring: busBw = 12 x 30 = 360 GB/s; algbw = busBw x 8 / 14; lat = baseLat + 14 x hwLat.
  const auto simple = find(cands, Algorithm::kRing, Protocol::kSimple);
  EXPECT_NEAR(simple.bandwidth_gbps, 360.0 * 8 / 14, 1e-9);
  EXPECT_NEAR(simple.latency_us, 8.4 + 14 * 3.4, 1e-9);
  const auto ll = find(cands, Algorithm::kRing, Protocol::kLl);
  EXPECT_NEAR(ll.bandwidth_gbps, 141.0 * 8 / 14, 1e-9);  // min(llMaxBw 141, 0.5 x 360)
  EXPECT_NEAR(ll.latency_us, 6.6 + 14 * 0.6, 1e-9);
  const auto ll128 = find(cands, Algorithm::kRing, Protocol::kLl128);
  EXPECT_NEAR(ll128.bandwidth_gbps, 0.92 * 360 * 8 / 14, 1e-9);  // min(0.92 x 360, 12 x 36.7)
  EXPECT_NEAR(ll128.latency_us, 14.0 + 14 * 1.9, 1e-9);
  // Tree on one node: min(0.92 x 360, 12 x 38.7) x 0.5, lat 8.4 + 2 x 7 x 4.0 (no correction at 1 GiB).
  const auto tree = find(cands, Algorithm::kTree, Protocol::kSimple);
  EXPECT_NEAR(tree.bandwidth_gbps, 0.92 * 360 * 0.5, 1e-9);
  EXPECT_NEAR(tree.latency_us, 8.4 + 2 * 7 * 4.0, 1e-9);
  // NVLS: 8 heads x 40 x 0.85 x 7/8 x 2 = 476 GB/s busBw -> algbw 272 (nccl-model.md 4.4); 25 us.
  const auto nvls = find(cands, Algorithm::kNvls, Protocol::kSimple);
  EXPECT_NEAR(nvls.bandwidth_gbps, 272.0, 1e-9);
  EXPECT_NEAR(nvls.latency_us, 25.0, 1e-12);
  EXPECT_FALSE(find(cands, Algorithm::kNvls, Protocol::kLl).available);
  EXPECT_FALSE(find(cands, Algorithm::kNvlsTree, Protocol::kSimple).available);
  EXPECT_FALSE(find(cands, Algorithm::kPat, Protocol::kSimple).available);
}

TEST(CostModel, H100SelectionSwitchesLikeNccl) {
  const auto t = preset("tiny-1node");
  const auto c = Communicator::first_gpus(t, 8);
  const CostModel m;
  // Small messages: ring LL; from a few MB: NVLS (nccl-model.md 6: ring LL -> NVLS near 1 MB on DGX H100).
  EXPECT_EQ(plan(m, c, CollectiveOp::kAllReduce, 8).algorithm, Algorithm::kRing);
  EXPECT_EQ(plan(m, c, CollectiveOp::kAllReduce, 8).protocol, Protocol::kLl);
  EXPECT_EQ(plan(m, c, CollectiveOp::kAllReduce, kMiB).protocol, Protocol::kLl);
  EXPECT_EQ(plan(m, c, CollectiveOp::kAllReduce, 4 * kMiB).algorithm, Algorithm::kNvls);
  EXPECT_EQ(plan(m, c, CollectiveOp::kAllReduce, 4 * kGiB).algorithm, Algorithm::kNvls);
  // Without NVLS: LL, then LL128, then Simple as the size grows, all on the ring.
  TuningOptions no_nvls;
  no_nvls.nvls = false;
  const CostModel r(no_nvls);
  EXPECT_EQ(plan(r, c, CollectiveOp::kAllReduce, kMiB).protocol, Protocol::kLl);
  EXPECT_EQ(plan(r, c, CollectiveOp::kAllReduce, 8 * kMiB).protocol, Protocol::kLl128);
  EXPECT_EQ(plan(r, c, CollectiveOp::kAllReduce, kGiB).protocol, Protocol::kSimple);
  int previous = 0;
  for (std::int64_t s = 8; s <= 4 * kGiB; s *= 2) {
    const auto p = plan(r, c, CollectiveOp::kAllReduce, s);
    EXPECT_EQ(p.algorithm, Algorithm::kRing);
    EXPECT_GE(static_cast<int>(p.protocol), previous) << "protocol went back at " << s << " B";
    previous = static_cast<int>(p.protocol);
  }
}

TEST(CostModel, MultiNodeSelectionUsesTreesThenNvlsTreeOrRing) {
  const CostModel m;
  const auto h = preset("dgx-h100-superpod", {"nodes=16"});
  const auto ch = Communicator::first_gpus(h, 128);
  EXPECT_EQ(plan(m, ch, CollectiveOp::kAllReduce, 8).algorithm, Algorithm::kTree);
  EXPECT_EQ(plan(m, ch, CollectiveOp::kAllReduce, 8).protocol, Protocol::kLl);
  EXPECT_EQ(plan(m, ch, CollectiveOp::kAllReduce, kGiB).algorithm, Algorithm::kNvlsTree);
  // A100 (no NVLS): tree for small and mid sizes, ring Simple for the largest.
  const auto a = preset("dgx-a100-superpod", {"nodes=16"});
  const auto ca = Communicator::first_gpus(a, 128);
  EXPECT_EQ(plan(m, ca, CollectiveOp::kAllReduce, 8).algorithm, Algorithm::kTree);
  EXPECT_EQ(plan(m, ca, CollectiveOp::kAllReduce, 8 * kGiB).algorithm, Algorithm::kRing);
  EXPECT_EQ(plan(m, ca, CollectiveOp::kAllReduce, 8 * kGiB).protocol, Protocol::kSimple);
}

TEST(CostModel, MultiNodeRingLatencyAndPlateau) {
  // 2 nodes x 8 H100: ring Simple all-reduce latency = 8.4 + (30 - 2) x max(3.4, 3 x 1.0) + 2 x 14,
  // times 1.4 (SM80+ plateau) once S / (16 CTAs x 16 ranks) >= 64 B.
  const auto t = preset("tiny-2nodes");
  const auto c = Communicator::first_gpus(t, 16);
  const CostModel m(plain());
  const double lat = 8.4 + 28 * 3.4 + 2 * 14.0;
  EXPECT_NEAR(
      find(m.candidates(c, CollectiveOp::kAllReduce, Bytes(1024)), Algorithm::kRing, Protocol::kSimple).latency_us, lat,
      1e-9);
  EXPECT_NEAR(
      find(m.candidates(c, CollectiveOp::kAllReduce, Bytes(kMiB)), Algorithm::kRing, Protocol::kSimple).latency_us,
      lat * 1.4, 1e-9);
  // Tree: 8.4 + 2 x (7 x 4.0 + log2(2) x 14); bw min(0.92 x 8 x 48, 8 x 41.4) x 0.5, corrected at 1 MiB (x0.5).
  const auto tree = find(m.candidates(c, CollectiveOp::kAllReduce, Bytes(kMiB)), Algorithm::kTree, Protocol::kSimple);
  EXPECT_NEAR(tree.latency_us, 8.4 + 2 * (7 * 4.0 + 14.0), 1e-9);
  EXPECT_NEAR(tree.bandwidth_gbps, 8 * 41.4 * 0.5 * 0.5, 1e-9);
  // NVLSTree on 2 nodes: min(40 x 0.85 x 7/8 x 2, 2 x 48, 57.7) = 57.7 per head; 25 + 2 x 20.9.
  const auto nt = find(m.candidates(c, CollectiveOp::kAllReduce, Bytes(kGiB)), Algorithm::kNvlsTree, Protocol::kSimple);
  EXPECT_NEAR(nt.bandwidth_gbps, 8 * 57.7 * 16.0 / 30.0, 1e-9);
  EXPECT_NEAR(nt.latency_us, 25.0 + 2 * 20.9, 1e-9);
}

TEST(CostModel, PatIsForOneGpuPerNodeAllGather) {
  const auto t = preset("dgx-h100-superpod", {"nodes=8"});
  const Communicator one_per_node(t, {0, 8, 16, 24, 32, 40, 48, 56});
  const CostModel m;
  bool pat_chosen = false;
  for (std::int64_t s = 1024; s <= kGiB; s *= 4) {
    pat_chosen = pat_chosen || plan(m, one_per_node, CollectiveOp::kAllGather, s).algorithm == Algorithm::kPat;
  }
  EXPECT_TRUE(pat_chosen) << "PAT never wins for 1 GPU per node all-gather";
  // PAT latency: 8 + log2(8) x 14 / 3.5 + 8 x 2.8 (ppn = 1 uses the Tree NET row: 14).
  const auto pat =
      find(m.candidates(one_per_node, CollectiveOp::kAllGather, Bytes(kMiB)), Algorithm::kPat, Protocol::kSimple);
  EXPECT_NEAR(pat.latency_us, 8 + 3 * 14 / 3.5 + 8 * 2.8, 1e-9);
  const auto all = Communicator::first_gpus(t, 64);
  EXPECT_FALSE(
      find(m.candidates(all, CollectiveOp::kAllGather, Bytes(kMiB)), Algorithm::kPat, Protocol::kSimple).available);
}

TEST(CostModel, SelectionsActLikeNcclAlgoAndProto) {
  const auto t = preset("tiny-1node");
  const auto c = Communicator::first_gpus(t, 8);
  const CostModel m;
  const auto forced = plan(m, c, CollectiveOp::kAllReduce, kGiB, {{Algorithm::kTree}, {}});
  EXPECT_EQ(forced.algorithm, Algorithm::kTree);
  const auto proto = plan(m, c, CollectiveOp::kAllReduce, 8, {{Algorithm::kRing}, {Protocol::kSimple}});
  EXPECT_EQ(proto.protocol, Protocol::kSimple);
  EXPECT_EQ(error_of(m, c, CollectiveOp::kAllGather, {{Algorithm::kTree}, {}}),
            "no algorithm/protocol available for all-gather on 8 GPUs (1 node x 8) (tree: tree does not implement "
            "all-gather (NCCL 2.30.7: ring, collnet_direct, nvls, pat))");
  const auto a100 = preset("tiny-1node", {"node.kind=dgx-a100"});
  const auto ca = Communicator::first_gpus(a100, 8);
  EXPECT_NE(
      error_of(m, ca, CollectiveOp::kAllReduce, {{Algorithm::kNvls}, {}}).find("A100-SXM4-80GB has no NVLink SHARP"),
      std::string::npos);
  EXPECT_NE(
      error_of(m, c, CollectiveOp::kAllReduce, {{Algorithm::kCollNetDirect}, {}}).find("needs more than one node"),
      std::string::npos);
  // CollNet asked for by name on a SHARP fabric is enabled (as NCCL_COLLNET_ENABLE=1 would).
  const auto t2 = preset("tiny-2nodes");
  const auto c2 = Communicator::first_gpus(t2, 16);
  EXPECT_EQ(plan(m, c2, CollectiveOp::kAllReduce, kGiB, {{Algorithm::kCollNetDirect}, {}}).algorithm,
            Algorithm::kCollNetDirect);
}

TEST(CostModel, ZeroBytesAndSingleRanksTakeNoTime) {
  const auto t = preset("tiny-1node");
  const CostModel m;
  EXPECT_EQ(plan(m, Communicator::first_gpus(t, 8), CollectiveOp::kAllReduce, 0).time(), core::Duration::zero());
  EXPECT_EQ(plan(m, Communicator::first_gpus(t, 1), CollectiveOp::kAllReduce, kGiB).time(), core::Duration::zero());
  CollectiveCall bad;
  bad.op = CollectiveOp::kBroadcast;
  bad.bytes = Bytes(1024);
  bad.root = 8;
  EXPECT_THROW(m.plan(Communicator::first_gpus(t, 8), bad), core::InputError);
}

TEST(CostModel, ChannelsShrinkForSmallMessages) {
  const auto t = preset("tiny-1node");
  const auto c = Communicator::first_gpus(t, 8);
  const CostModel m;
  // Ring LL: 512 threads x 8 B x 8 ranks per channel.
  EXPECT_EQ(m.channels_for(c, Algorithm::kRing, Protocol::kLl, Bytes(8)), 1);
  EXPECT_EQ(m.channels_for(c, Algorithm::kRing, Protocol::kLl, Bytes(4 * 32768)), 4);
  EXPECT_EQ(m.channels_for(c, Algorithm::kRing, Protocol::kSimple, Bytes(kGiB)), 24);
  EXPECT_EQ(m.channels_for(c, Algorithm::kNvls, Protocol::kSimple, Bytes(8)), 16);
}

TEST(CostModel, EfficiencyCurveScalesTheBandwidthTerm) {
  const auto t = preset("tiny-1node");
  const auto c = Communicator::first_gpus(t, 8);
  const auto calibrated = plan(CostModel(), c, CollectiveOp::kAllReduce, 64 * kMiB);
  const auto raw = plan(CostModel(plain()), c, CollectiveOp::kAllReduce, 64 * kMiB);
  EXPECT_EQ(raw.efficiency, 1.0);
  // 64 MiB over 8 ranks = 8 MiB per rank: halfway (in log2) between 4 MiB (0.67) and 16 MiB (0.83).
  EXPECT_NEAR(calibrated.efficiency, 0.75, 1e-12);
  EXPECT_EQ(calibrated.latency, raw.latency);
  EXPECT_NEAR(calibrated.transfer.seconds(), raw.transfer.seconds() / 0.75, 1e-12);
}

TEST(CostModel, PointToPoint) {
  const auto t = preset("tiny-2nodes");
  const auto c = Communicator::first_gpus(t, 16);
  const CostModel m;
  CollectiveCall call;
  call.op = CollectiveOp::kSendRecv;
  call.bytes = Bytes(kGiB);
  call.root = 0;
  call.peer = 1;
  // Same node: Simple, 8.4 + 3.4 us, 370.8 GB/s.
  auto p = m.plan(c, call);
  EXPECT_EQ(p.protocol, Protocol::kSimple);
  EXPECT_NEAR(p.latency_us, 11.8, 1e-9);
  EXPECT_NEAR(p.transfer.seconds(), static_cast<double>(kGiB) / 370.8e9, 1e-12);
  // Other node: 8.4 + 14 us at 0.95 x 50 GB/s.
  call.peer = 8;
  p = m.plan(c, call);
  EXPECT_NEAR(p.latency_us, 22.4, 1e-9);
  EXPECT_NEAR(p.transfer.seconds(), static_cast<double>(kGiB) / 47.5e9, 1e-12);
  // Small: LL, 6.6 + 2.7 us.
  call.bytes = Bytes(1024);
  EXPECT_EQ(m.plan(c, call).protocol, Protocol::kLl);
  EXPECT_NEAR(m.plan(c, call).latency_us, 9.3, 1e-9);

  // All-to-all on 2 x 8: half of each rank's buffer leaves the node over 8 NICs shared by 8 GPUs
  // (47.5 GB/s each), two batches of 8 peers at 22.4 us.
  CollectiveCall a2a;
  a2a.op = CollectiveOp::kAllToAll;
  a2a.bytes = Bytes(kGiB);
  const auto pa = m.plan(c, a2a);
  EXPECT_NEAR(pa.transfer.seconds(), static_cast<double>(kGiB) / 2 / 47.5e9, 1e-12);
  EXPECT_NEAR(pa.latency_us, 2 * 22.4, 1e-9);
  // all-to-allv with the uniform matrix is the same.
  CollectiveCall v;
  v.op = CollectiveOp::kAllToAllV;
  v.pair_bytes.assign(256, Bytes(kGiB / 16));
  EXPECT_EQ(m.plan(c, v).time(), pa.time());
  v.pair_bytes.resize(10);
  EXPECT_THROW(m.plan(c, v), core::InputError);
}

}  // namespace
}  // namespace mfusim::collective
