#include "collective/flow_lowering.hpp"

#include <gtest/gtest.h>

#include <map>
#include <set>
#include <utility>
#include <vector>

#include "unit/collective/test_topologies.hpp"

namespace mfusim::collective {
namespace {

using core::Bytes;
using test_support::preset;

constexpr double kS = 1 << 30;

struct Lowered {
  CollectivePlan plan;
  std::vector<Transfer> transfers;
  std::vector<double> sent, received;
};

Lowered lower(const Communicator& c, CollectiveOp op, Selection sel = {}, Rank root = 0) {
  TuningOptions o;
  o.collnet = true;
  const CostModel m(o);
  CollectiveCall call;
  call.op = op;
  call.bytes = Bytes(static_cast<std::int64_t>(kS));
  call.root = root;
  call.selection = std::move(sel);
  Lowered l;
  l.plan = m.plan(c, call);
  lower_to_transfers(c, call, l.plan, l.transfers);
  EXPECT_EQ(l.transfers.size(), transfer_count(c, call, l.plan)) << to_string(l.plan.algorithm);
  l.sent.assign(c.size(), 0);
  l.received.assign(c.size(), 0);
  for (const auto& t : l.transfers) {
    EXPECT_NE(t.src, t.dst);
    l.sent[t.src] += t.bytes;
    l.received[t.dst] += t.bytes;
  }
  return l;
}

TEST(FlowLowering, RingAllReduceMovesTwoNMinusOneOverNOfTheBufferPerRank) {
  const auto t = preset("tiny-2nodes");
  const auto c = Communicator::first_gpus(t, 16);
  const auto l = lower(c, CollectiveOp::kAllReduce, {{Algorithm::kRing}, {}});
  EXPECT_EQ(l.transfers.size(), 8u * 16u);  // 8 channels x 16 ring edges
  for (std::size_t r = 0; r < 16; ++r) {
    EXPECT_NEAR(l.sent[r], 2.0 * 15 / 16 * kS, 1e-3);
    EXPECT_NEAR(l.received[r], 2.0 * 15 / 16 * kS, 1e-3);
  }
  // Channel c crosses between the nodes on rail c (local c-1 -> local c, PXN routes it via GPU c).
  std::set<std::pair<Rank, Rank>> inter;
  for (const auto& tr : l.transfers) {
    if (c.node_slot(tr.src) != c.node_slot(tr.dst)) inter.insert({tr.src % 8, tr.dst % 8});
  }
  EXPECT_EQ(inter.size(), 8u);
  for (const auto& [s, d] : inter) EXPECT_EQ((s + 1) % 8, d);
}

TEST(FlowLowering, AllGatherAndBroadcastVolumes) {
  const auto t = preset("tiny-1node");
  const auto c = Communicator::first_gpus(t, 8);
  const auto ag = lower(c, CollectiveOp::kAllGather, {{Algorithm::kRing}, {}});
  for (std::size_t r = 0; r < 8; ++r) EXPECT_NEAR(ag.sent[r], 7.0 / 8 * kS, 1e-3);
  const auto bc = lower(c, CollectiveOp::kBroadcast, {}, 3);
  EXPECT_EQ(bc.plan.algorithm, Algorithm::kRing);
  for (std::size_t r = 0; r < 8; ++r) {
    EXPECT_NEAR(bc.received[r], r == 3 ? 0.0 : kS, 1e-3) << "rank " << r;
  }
  EXPECT_NEAR(bc.sent[3], kS, 1e-3);
  const auto rd = lower(c, CollectiveOp::kReduce, {}, 3);
  for (std::size_t r = 0; r < 8; ++r) EXPECT_NEAR(rd.sent[r], r == 3 ? 0.0 : kS, 1e-3) << "rank " << r;
}

TEST(FlowLowering, TreesNvlsAndCollNet) {
  const auto t = preset("dgx-h100-superpod", {"nodes=4"});
  const auto c = Communicator::first_gpus(t, 32);
  // Tree: 2 trees x 8 channels x (chains + tree edges) x 2 directions, S / 16 each.
  const auto tree = lower(c, CollectiveOp::kAllReduce, {{Algorithm::kTree}, {}});
  EXPECT_EQ(tree.transfers.size(), 2u * 8u * 2u * 31u);
  for (const auto& tr : tree.transfers) EXPECT_DOUBLE_EQ(tr.bytes, kS / 16);
  // NVLSTree: 4 x 56 NVLS pairs of 2S/8, and head-to-head tree edges on the same rail.
  const auto nt = lower(c, CollectiveOp::kAllReduce, {{Algorithm::kNvlsTree}, {}});
  EXPECT_EQ(nt.transfers.size(), 4u * 56u + 2u * 8u * 2u * 3u);
  for (const auto& tr : nt.transfers) {
    if (c.node_slot(tr.src) == c.node_slot(tr.dst)) {
      EXPECT_DOUBLE_EQ(tr.bytes, 2 * kS / 8);
    } else {
      EXPECT_EQ(tr.src % 8, tr.dst % 8) << "inter-node NVLSTree edge between different rails";
    }
  }
  // CollNet: NVLS-like pairs + one ring per rail over the nodes, S / 8 once.
  const auto cn = lower(c, CollectiveOp::kAllReduce, {{Algorithm::kCollNetDirect}, {}});
  EXPECT_EQ(cn.plan.algorithm, Algorithm::kCollNetDirect);
  EXPECT_EQ(cn.transfers.size(), 4u * 56u + 8u * 4u);
}

TEST(FlowLowering, NvlsPairsAndPointToPoint) {
  const auto t = preset("tiny-1node");
  const auto c = Communicator::first_gpus(t, 8);
  const auto nvls = lower(c, CollectiveOp::kAllReduce);
  EXPECT_EQ(nvls.plan.algorithm, Algorithm::kNvls);
  EXPECT_EQ(nvls.transfers.size(), 56u);
  for (std::size_t r = 0; r < 8; ++r) EXPECT_NEAR(nvls.sent[r], 2.0 * 7 / 8 * kS, 1e-3);
  const auto a2a = lower(c, CollectiveOp::kAllToAll);
  EXPECT_EQ(a2a.transfers.size(), 56u);
  for (const auto& tr : a2a.transfers) EXPECT_DOUBLE_EQ(tr.bytes, kS / 8);
}

}  // namespace
}  // namespace mfusim::collective
