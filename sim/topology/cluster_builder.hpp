#pragma once
// Builds a Topology from a cluster description, in one of two forms:
//
// Parametric (how vendors sell clusters):
//   name: dgx-h100-superpod
//   nodes: 32                       # NVLink domains; --set nodes=2048 scales it
//   node:
//     kind: dgx-h100                # catalog node kind (GPU, GPUs per node, NVSwitch, NIC, NICs)
//     gpu / gpus / nic / nics       # optional overrides of the kind
//     nvlink_bandwidth: 450GBps     # optional; default: the GPU's NVLink bandwidth per direction
//     nvlink_latency: 0.3us         # per GPU<->NVSwitch link
//     pcie_latency: 0.5us           # per GPU<->NIC link
//   scale_out:
//     nic_bandwidth: 400Gbps        # optional; default: the NIC's port bandwidth
//     pxn: true                     # inter-node traffic hops over NVLink to the destination's rail
//   fabric:
//     kind: rail-optimized          # rail-optimized | fat-tree | single-switch | none | ring | torus
//     switch: Quantum-2-QM9700      # catalog switch (radix, port bandwidth)
//     radix: 64                     # optional override
//     oversubscription: 1           # leaf downlink:uplink ratio
//     tiers: 2                      # optional check: switch tiers the Clos must come out with
//     link_latency: 0.85us          # per fabric cable
//     dims: [4, 4]                  # torus only
//
// Explicit (irregular graphs):
//   name: my-graph
//   gpu: H100-SXM5-80GB
//   gpus_forward: false
//   devices: [{name: g0, kind: gpu, node: 0, local: 0}, {name: s0, kind: switch}, ...]
//   links:   [{between: [g0, s0], bandwidth: 50GBps, latency: 1us, kind: fabric}, ...]
//
// Fabric construction (folded Clos, docs/models/network.md): leaves take `down` = floor(R*o/(o+1))
// NIC ports (R radix, o oversubscription) and ceil(used_down/o) uplinks. rail-optimized leaves group
// NIC r of `down` consecutive nodes (one rail per leaf, as in DGX SuperPOD scalable units; with fewer
// nodes than `down`, a leaf takes several rails); fat-tree leaves group `down` consecutive NIC ports.
// Above the leaves, while more than R switches remain, pods of R/2 switches get U aggregation
// switches each (U = uplinks per member) and the recursion continues per plane; a final tier joins
// at most R switches with the fewest switches the radix allows (parallel cables where needed).
#include <filesystem>
#include <string>
#include <vector>

#include "config/node.hpp"
#include "hardware/catalog.hpp"
#include "topology/topology.hpp"

namespace mfusim::topology {

// `catalog` must outlive the returned Topology (it keeps pointers to the specs).
// `path` prefixes key paths in errors ("cluster" when the topology is a scenario's section).
Topology build_topology(const config::Node& root, const hardware::Catalog& catalog, config::Node* resolved = nullptr,
                        const std::string& path = "");

Topology load_topology(const std::filesystem::path& path, const std::vector<std::string>& overrides,
                       const hardware::Catalog& catalog, config::Node* resolved = nullptr);

}  // namespace mfusim::topology
