#include "collective/communicator.hpp"

#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "unit/collective/test_topologies.hpp"

namespace mfusim::collective {
namespace {

using test_support::preset;

std::string error_of(const topology::Topology& t, std::vector<topology::GpuIndex> gpus) {
  try {
    Communicator c(t, std::move(gpus));
  } catch (const core::InputError& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(Communicator, RanksAreOrderedByNodeThenLocalIndex) {
  const auto t = preset("tiny-2nodes");
  const Communicator c(t, {9, 0, 8, 1});
  EXPECT_EQ(c.gpus(), (std::vector<topology::GpuIndex>{0, 1, 8, 9}));
  EXPECT_EQ(c.node_count(), 2u);
  EXPECT_EQ(c.node_begin(1), 2u);
  EXPECT_EQ(c.node_id(1), 1u);
  EXPECT_EQ(c.node_slot(3), 1u);
  EXPECT_EQ(c.max_ranks_per_node(), 2u);
  EXPECT_EQ(c.describe(), "4 GPUs (2 nodes x 2)");
}

TEST(Communicator, BadGpuListsAreInputErrors) {
  const auto t = preset("tiny-1node");
  EXPECT_EQ(error_of(t, {}), "a communicator needs at least one GPU");
  EXPECT_EQ(error_of(t, {0, 8}), "GPU 8 is not in topology 'tiny-1node' (it has 8 GPUs: 0 to 7)");
  EXPECT_EQ(error_of(t, {3, 1, 3}), "GPU 3 appears twice in the communicator");
  EXPECT_THROW(Communicator::first_gpus(t, 9), core::InputError);
}

TEST(Communicator, DgxH100NodeGetsNcclsGraph) {
  // nccl-model.md 2.3: DGX H100 ring/tree graph 12 x 30 GB/s, 24 CTAs; NVLS 8 heads x 40 GB/s, 16 CTAs.
  const auto t = preset("tiny-1node");
  const auto g = Communicator::first_gpus(t, 8).graph();
  EXPECT_EQ(g.arch, GpuArch::kHopper);
  EXPECT_EQ(g.intra_link, HwLink::kNvlink);
  EXPECT_NEAR(g.intra_bandwidth, 370.8, 1e-9);  // 18 links x 20.6 GB/s
  EXPECT_EQ(g.channels, 12);
  EXPECT_DOUBLE_EQ(g.bw_intra, 30.0);
  EXPECT_EQ(g.ctas, 24);
  EXPECT_TRUE(g.nvls);
  EXPECT_EQ(g.nvls_heads, 8);
  EXPECT_DOUBLE_EQ(g.nvls_speed, 40.0);
  EXPECT_EQ(g.nvls_ctas, 16);
  EXPECT_TRUE(g.ll128);
  EXPECT_FALSE(g.sharp);
  EXPECT_EQ(g.p2p_channels, 32);
  EXPECT_EQ(g.sm_count, 132);
}

TEST(Communicator, DgxA100AndH800Graphs) {
  const auto a100 = preset("tiny-1node", {"node.kind=dgx-a100"});
  const auto ga = Communicator::first_gpus(a100, 8).graph();
  EXPECT_NEAR(ga.intra_bandwidth, 240.0, 1e-9);  // 12 x 20 GB/s
  EXPECT_EQ(ga.channels, 12);
  EXPECT_DOUBLE_EQ(ga.bw_intra, 20.0);
  EXPECT_EQ(ga.ctas, 24);
  EXPECT_FALSE(ga.nvls);
  EXPECT_NE(ga.nvls_unavailable.find("scale_up.nvls: false"), std::string::npos);

  // H800: 8 NVLinks = 164.8 GB/s; ring 8 x 20 (4 x 40 duplicated), NVLS 8 x 15 (nccl-model.md 2.3).
  const auto h800 = preset("tiny-1node", {"node.gpu=H800-SXM5-80GB"});
  const auto gh = Communicator::first_gpus(h800, 8).graph();
  EXPECT_NEAR(gh.intra_bandwidth, 164.8, 1e-9);
  EXPECT_EQ(gh.channels, 8);
  EXPECT_DOUBLE_EQ(gh.bw_intra, 20.0);
  EXPECT_EQ(gh.ctas, 16);
  EXPECT_EQ(gh.nvls_heads, 8);
  EXPECT_DOUBLE_EQ(gh.nvls_speed, 15.0);
}

TEST(Communicator, MultiNodeGraphsHaveOneChannelPerNic) {
  // 8 x NDR -> 8 x 48 GB/s, 16 CTAs; 8 x HDR -> 8 x 24 GB/s (nccl-model.md 2.3).
  const auto h = preset("tiny-2nodes");
  const auto gh = Communicator::first_gpus(h, 16).graph();
  EXPECT_EQ(gh.channels, 8);
  EXPECT_EQ(gh.nics_per_node, 8);
  EXPECT_DOUBLE_EQ(gh.nic_bandwidth, 50.0);
  EXPECT_DOUBLE_EQ(gh.bw_inter, 48.0);
  EXPECT_EQ(gh.ctas, 16);
  EXPECT_TRUE(gh.sharp);  // Quantum-2 QM9700
  EXPECT_TRUE(gh.nvls);
  EXPECT_EQ(gh.p2p_channels, 16);

  const auto a = preset("dgx-a100-superpod", {"nodes=2"});
  const auto ga = Communicator::first_gpus(a, 16).graph();
  EXPECT_EQ(ga.channels, 8);
  EXPECT_DOUBLE_EQ(ga.bw_inter, 24.0);
  EXPECT_EQ(ga.ctas, 16);

  // One GPU per node: its own NIC only, no NVLS.
  const Communicator one(h, {0, 8});
  EXPECT_EQ(one.graph().channels, 1);
  EXPECT_EQ(one.max_ranks_per_node(), 1u);
  EXPECT_FALSE(one.graph().nvls);
}

TEST(Communicator, Nvl72RackGraph) {
  // 18 NVLink5 links x 40.1 GB/s = 721.8 GB/s; SM100 speeds: 8 x 90 duplicated to 16 x 45, 32 CTAs;
  // NVLS heads capped at the 24 single-node SM100 NVLS CTAs, (24 + 1) x 24 <= 721.8.
  const auto t = preset("gb200-nvl72", {"nodes=1"});
  const auto g = Communicator::first_gpus(t, 72).graph();
  EXPECT_NEAR(g.intra_bandwidth, 721.8, 1e-9);
  EXPECT_EQ(g.channels, 16);
  EXPECT_DOUBLE_EQ(g.bw_intra, 45.0);
  EXPECT_EQ(g.ctas, 32);
  EXPECT_EQ(g.nvls_heads, 24);
  EXPECT_DOUBLE_EQ(g.nvls_speed, 24.0);
  EXPECT_EQ(g.nvls_ctas, 24);
}

TEST(Communicator, RingsEnterAndLeaveEachNodeOnTheChannelsRail) {
  const auto t = preset("tiny-2nodes");
  const auto c = Communicator::first_gpus(t, 16);
  for (std::size_t ch = 0; ch < 8; ++ch) {
    const auto ring = c.ring(ch);
    EXPECT_EQ(std::set<Rank>(ring.begin(), ring.end()).size(), 16u) << "channel " << ch << " is not a permutation";
    // Node 0 is walked starting at local ch, node 1 too; the inter-node edge goes local ch-1 -> local ch.
    EXPECT_EQ(ring[0], ch);
    EXPECT_EQ(ring[7], (ch + 7) % 8);
    EXPECT_EQ(ring[8], 8 + ch);
    EXPECT_EQ(c.head(ch, 1), 8 + ch);
  }
}

TEST(Communicator, DoubleBinaryTreesAreTreesWithAtMostTwoChildren) {
  for (std::size_t nodes = 1; nodes <= 40; ++nodes) {
    std::vector<int> interior_in(nodes, 0);
    for (int tree = 0; tree < 2; ++tree) {
      std::vector<int> children(nodes, 0);
      int roots = 0;
      for (std::size_t s = 0; s < nodes; ++s) {
        const auto p = Communicator::tree_parent(tree, s, nodes);
        if (p < 0) {
          ++roots;
          continue;
        }
        ASSERT_LT(static_cast<std::size_t>(p), nodes);
        ASSERT_NE(static_cast<std::size_t>(p), s);
        ++children[static_cast<std::size_t>(p)];
      }
      EXPECT_EQ(roots, 1) << nodes << " nodes, tree " << tree;
      for (std::size_t s = 0; s < nodes; ++s) {
        EXPECT_LE(children[s], 2) << nodes << " nodes, tree " << tree << ", node " << s;
        if (children[s] > 0) ++interior_in[s];
        // Following parents reaches the root.
        std::int64_t x = static_cast<std::int64_t>(s);
        std::size_t steps = 0;
        while (x >= 0 && steps <= nodes) {
          x = Communicator::tree_parent(tree, static_cast<std::size_t>(x), nodes);
          ++steps;
        }
        EXPECT_LE(steps, nodes) << "cycle in tree " << tree << " over " << nodes << " nodes";
      }
    }
    if (nodes % 2 == 0) {
      for (std::size_t s = 0; s < nodes; ++s) {
        EXPECT_LT(interior_in[s], 2) << "node " << s << " of " << nodes << " is interior in both trees";
      }
    }
  }
}

}  // namespace
}  // namespace mfusim::collective
