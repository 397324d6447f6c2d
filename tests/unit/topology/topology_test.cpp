#include <gtest/gtest.h>

#include <set>
#include <string>

#include "config/loader.hpp"
#include "config/overrides.hpp"
#include "core/error.hpp"
#include "hardware/catalog.hpp"
#include "topology/cluster_builder.hpp"
#include "topology/router.hpp"
#include "topology/summary.hpp"

namespace mfusim::topology {
namespace {

const std::filesystem::path kRoot = MFUSIM_SOURCE_DIR;

const hardware::Catalog& catalog() {
  static const hardware::Catalog c = hardware::Catalog::load(hardware::Catalog::default_dir());
  return c;
}

Topology preset(const std::string& name, std::vector<std::string> overrides = {}) {
  return load_topology(kRoot / "topologies" / (name + ".yaml"), overrides, catalog());
}

Topology from_text(const std::string& yaml) { return build_topology(config::parse_text(yaml, "t.yaml"), catalog()); }

std::string error_of(const std::string& yaml) {
  try {
    from_text(yaml);
  } catch (const core::InputError& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(Topology, EveryPresetBuildsAndRoutesAllPairsFromGpu0) {
  for (const char* name : {"tiny-2gpu", "tiny-1node", "tiny-2nodes", "dgx-h100-superpod", "dgx-a100-superpod",
                           "h100-fat-tree-2to1", "gb200-nvl72", "ring-8", "torus-4x4"}) {
    const Topology t = preset(name);
    Router r(t);
    for (GpuIndex b = 1; b < t.gpu_count(); ++b) {
      const auto path = r.route(0, b);
      ASSERT_FALSE(path.empty()) << name << ": no route 0 -> " << b;
      EXPECT_EQ(t.links()[path.front()].src, t.gpu(0)) << name << ": route must start at the source GPU";
      EXPECT_EQ(t.links()[path.back()].dst, t.gpu(b)) << name << ": route must end at the destination GPU";
      for (std::size_t i = 1; i < path.size(); ++i) {
        ASSERT_EQ(t.links()[path[i - 1]].dst, t.links()[path[i]].src) << name << ": route is not contiguous";
      }
    }
  }
}

TEST(Topology, DgxH100SuperpodShape) {
  const Topology t = preset("dgx-h100-superpod");
  EXPECT_EQ(t.gpu_count(), 1024u);
  EXPECT_EQ(t.node_count(), 128u);
  Router r(t);
  const auto s = summarize(t, r);
  EXPECT_EQ(s.devices.at("switch tier 1"), 32u) << "4 SUs of 32 nodes x 8 rails = 32 rail leaves";
  EXPECT_EQ(s.devices.at("switch tier 2"), 16u) << "32 leaves x 32 uplinks / 64 ports = 16 spines";
  EXPECT_DOUBLE_EQ(s.scale_out_per_gpu.value(), 50e9);
  EXPECT_DOUBLE_EQ(s.bisection->value(), 1024 * 50e9 / 2) << "non-blocking: half the injection";
  EXPECT_EQ(s.diameter, 8u) << "GPU-NVSwitch-GPU(PXN)-NIC-leaf-spine-leaf-NIC-GPU";
}

TEST(Topology, NodeCountIsAParameter) {
  const Topology t = preset("dgx-h100-superpod", {"nodes=2048"});
  EXPECT_EQ(t.gpu_count(), 16384u);
}

TEST(Topology, OversubscriptionHalvesBisection) {
  const Topology full = preset("h100-fat-tree-2to1", {"fabric.oversubscription=1"});
  const Topology half = preset("h100-fat-tree-2to1");
  Router rf(full), rh(half);
  const double ratio = summarize(half, rh).bisection->value() / summarize(full, rf).bisection->value();
  EXPECT_NEAR(ratio, 0.5, 0.05) << "2:1 leaves must roughly halve the bisection bandwidth";
}

TEST(Topology, NicFasterThanTheSwitchPortIsCappedAndSaysSo) {
  // A NIC-to-leaf cable runs at min(NIC, switch port): an 800 Gb/s NIC on Quantum-2's 400 Gb/s ports
  // carries 400 Gb/s (50 GB/s), and the topology says so rather than leaving a what-if flat and silent.
  const Topology stock = preset("dgx-h100-superpod", {"nodes=4"});
  EXPECT_TRUE(stock.notes.empty()) << "a stock DGX H100 SuperPOD caps nothing";
  const Topology fast = preset("dgx-h100-superpod", {"nodes=4", "scale_out.nic_bandwidth=800Gbps"});
  Router r(fast);
  EXPECT_DOUBLE_EQ(summarize(fast, r).scale_out_per_gpu.value(), 50e9) << "capped at the 400 Gb/s switch port";
  ASSERT_EQ(fast.notes.size(), 2u);
  EXPECT_NE(fast.notes[0].find("above the switch port's 400 Gb/s"), std::string::npos) << fast.notes[0];
  EXPECT_NE(fast.notes[1].find("ConnectX-7"), std::string::npos) << fast.notes[1];
  // With 800 Gb/s switch ports only the NIC's own rating is noted, and the links carry 100 GB/s.
  const Topology xdr = preset("dgx-h100-superpod", {"nodes=4", "scale_out.nic_bandwidth=800Gbps", "fabric.switch=Quantum-X800-Q3400"});
  Router rx(xdr);
  EXPECT_DOUBLE_EQ(summarize(xdr, rx).scale_out_per_gpu.value(), 100e9);
  ASSERT_EQ(xdr.notes.size(), 1u);
  EXPECT_NE(xdr.notes[0].find("rated 400 Gb/s"), std::string::npos) << xdr.notes[0];
}

TEST(Routing, PxnEntersTheDestinationRailOverNvlink) {
  const Topology t = preset("dgx-h100-superpod");
  Router r(t);
  // GPU 1 of node 0 to GPU 5 of node 40 (another SU): with PXN the data crosses NVLink to GPU 5 of node
  // 0 and leaves on NIC 5, so the fabric part stays on rail 5.
  const auto path = r.route(1, 40 * 8 + 5);
  ASSERT_GE(path.size(), 4u);
  EXPECT_EQ(t.links()[path[0]].kind, LinkKind::kNvlink);
  EXPECT_EQ(t.links()[path[1]].dst, t.gpu(5)) << "proxy GPU is GPU 5 of the source node";
  EXPECT_EQ(t.devices()[t.links()[path[2]].dst].local, 5u) << "leaves on NIC 5";
  const Topology no_pxn = preset("dgx-h100-superpod", {"scale_out.pxn=false"});
  Router r2(no_pxn);
  const auto direct = r2.route(1, 40 * 8 + 5);
  EXPECT_EQ(no_pxn.devices()[no_pxn.links()[direct[0]].dst].kind, DeviceKind::kNic) << "without PXN: own NIC first";
}

TEST(Routing, EcmpIsDeterministicAndSpreads) {
  const Topology t = preset("dgx-h100-superpod");
  Router a(t), b(t);
  std::set<DeviceId> spines;
  for (GpuIndex dst = 256; dst < 1024; dst += 8) {  // GPU 0 to GPU 0 of nodes in other SUs
    const auto pa = a.route(0, dst);
    const auto pb = b.route(0, dst);
    ASSERT_TRUE(std::equal(pa.begin(), pa.end(), pb.begin(), pb.end())) << "same pair, same path";
    for (LinkId l : pa) {
      if (t.devices()[t.links()[l].dst].tier == 2) spines.insert(t.links()[l].dst);
    }
  }
  EXPECT_GT(spines.size(), 8u) << "different destinations should hash onto different spines";
}

TEST(Routing, RingRoutesTheShortWayAround) {
  const Topology t = preset("ring-8");
  Router r(t);
  EXPECT_EQ(r.route(0, 1).size(), 1u);
  EXPECT_EQ(r.route(0, 7).size(), 1u) << "7 is 0's neighbour the other way round";
  EXPECT_EQ(r.route(0, 4).size(), 4u);
}

TEST(Topology, RingOfOneGpuHasNoCutAndNoCrash) {
  // A one-node ring has no cables: its summary must say "no bisection", not read GPU 0's first link.
  // (Found by the topology fuzzer.)
  const Topology t = from_text("name: x\nnodes: 1\nnode: {gpu: H100-SXM5-80GB, gpus: 1}\nfabric: {kind: ring}\n");
  Router r(t);
  const auto s = summarize(t, r);
  EXPECT_FALSE(s.bisection.has_value()) << "one GPU cannot be cut in half";
  EXPECT_EQ(s.diameter, 0u);
  const Topology ring8 = preset("ring-8");
  Router r8(ring8);
  ASSERT_TRUE(summarize(ring8, r8).bisection.has_value());
  EXPECT_DOUBLE_EQ(summarize(ring8, r8).bisection->value(), 2 * 50e9) << "cutting a ring crosses two 50 GB/s cables";
}

TEST(TopologyErrors, BadInputsNameTheProblem) {
  EXPECT_NE(error_of("name: x\nnodes: 2\nnode: {kind: dgx-h100}\nfabric: {kind: none}\n")
                .find("'none' connects nothing between nodes, but there are 2 nodes"),
            std::string::npos);
  EXPECT_NE(error_of("name: x\nnode: {kind: dgx-h10}\nfabric: {kind: none}\n").find("did you mean 'dgx-h100'?"),
            std::string::npos);
  EXPECT_NE(error_of("name: x\nnode: {kind: dgx-h100, nvlink_bandwidth: 0GBps}\nfabric: {kind: none}\n")
                .find("node.nvlink_bandwidth: must be greater than zero"),
            std::string::npos);
  EXPECT_NE(error_of("name: x\nnode: {kind: dgx-h100, nics: 3}\nfabric: {kind: fat-tree, switch: Quantum-2-QM9700}\n")
                .find("3 NICs cannot serve 8 GPUs evenly"),
            std::string::npos);
  EXPECT_NE(error_of("name: x\nnodes: 6\nnode: {gpu: H100-SXM5-80GB, gpus: 1}\nfabric: {kind: torus, dims: [2, 2]}\n")
                .find("the torus has 4 positions but there are 6 nodes"),
            std::string::npos);
}

TEST(TopologyErrors, ExplicitGraphs) {
  const std::string base = "name: x\ngpu: H100-SXM5-80GB\ndevices:\n  - {name: g0, kind: gpu, node: 0, local: 0}\n"
                           "  - {name: g1, kind: gpu, node: 1, local: 0}\n  - {name: s, kind: switch}\n";
  EXPECT_EQ(from_text(base + "links:\n  - {between: [g0, s], bandwidth: 50GBps}\n  - {between: [g1, s], bandwidth: 50GBps}\n")
                .gpu_count(),
            2u);
  EXPECT_NE(error_of(base + "links:\n  - {between: [g0, sw], bandwidth: 50GBps}\n").find("unknown device 'sw' (did you mean 's'?)"),
            std::string::npos);
  EXPECT_NE(error_of(base + "links:\n  - {between: [g0, s], bandwidth: 50GBps}\n").find("is disconnected: g1"),
            std::string::npos);
  EXPECT_NE(error_of(base + "links:\n  - {between: [g0, s], bandwidth: -1GBps}\n").find("negative quantities are not allowed"),
            std::string::npos);
  EXPECT_NE(error_of(base + "links:\n  - {between: [g0, s], bandwidth: 50GBps}\n  - {between: [g1, s], bandwidth: 0GBps}\n")
                .find("bandwidth: must be greater than zero"),
            std::string::npos);
  EXPECT_NE(error_of("name: x\ngpu: H100-SXM5-80GB\ndevices:\n  - {name: g0, kind: gpu, node: 0, local: 0}\n"
                     "  - {name: g1, kind: gpu, node: 0, local: 1}\n  - {name: g2, kind: gpu, node: 1, local: 0}\n"
                     "  - {name: s, kind: switch}\nlinks:\n  - {between: [g0, s], bandwidth: 1GBps}\n"
                     "  - {between: [g1, s], bandwidth: 1GBps}\n  - {between: [g2, s], bandwidth: 1GBps}\n")
                .find("node 1 has 1 GPUs but node 0 has 2"),
            std::string::npos);
}

}  // namespace
}  // namespace mfusim::topology
