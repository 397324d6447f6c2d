#pragma once
// Topologies for the collective tests: the presets under topologies/ (with --set overrides) and
// explicit graphs written inline.
#include <filesystem>
#include <string>
#include <vector>

#include "config/loader.hpp"
#include "hardware/catalog.hpp"
#include "topology/cluster_builder.hpp"
#include "topology/topology.hpp"

namespace mfusim::collective::test_support {

inline const hardware::Catalog& catalog() {
  static const hardware::Catalog c = hardware::Catalog::load(hardware::Catalog::default_dir());
  return c;
}

inline topology::Topology preset(const std::string& name, const std::vector<std::string>& overrides = {}) {
  const std::filesystem::path root = MFUSIM_SOURCE_DIR;
  return topology::load_topology(root / "topologies" / (name + ".yaml"), overrides, catalog());
}

inline topology::Topology from_text(const std::string& yaml) {
  return topology::build_topology(config::parse_text(yaml, "test.yaml"), catalog());
}

// Four single-GPU nodes: GPUs 0 and 1 on leaf A, 2 and 3 on leaf B, one uplink A-B; every cable
// 50 GB/s and 1 us. A 2-rank collective between {0, 2} and one between {1, 3} both cross the uplink.
inline topology::Topology shared_uplink() {
  return from_text(R"(
name: shared-uplink
gpu: H100-SXM5-80GB
devices:
  - {name: g0, kind: gpu, node: 0, local: 0}
  - {name: g1, kind: gpu, node: 1, local: 0}
  - {name: g2, kind: gpu, node: 2, local: 0}
  - {name: g3, kind: gpu, node: 3, local: 0}
  - {name: leafA, kind: switch}
  - {name: leafB, kind: switch}
links:
  - {between: [g0, leafA], bandwidth: 50GBps, latency: 1us}
  - {between: [g1, leafA], bandwidth: 50GBps, latency: 1us}
  - {between: [g2, leafB], bandwidth: 50GBps, latency: 1us}
  - {between: [g3, leafB], bandwidth: 50GBps, latency: 1us}
  - {between: [leafA, leafB], bandwidth: 50GBps, latency: 1us}
)");
}

}  // namespace mfusim::collective::test_support
