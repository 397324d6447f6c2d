#pragma once
// The figures `mfusim describe topology` prints, computed from a built Topology.
//
// Definitions:
//   injection bandwidth  per GPU, per direction: its NVLink bandwidth (scale-up) and the capacity of
//                        its NIC share (scale-out: NIC port rate / GPUs per NIC).
//   bisection bandwidth  per direction, across the worst halving of the GPUs. Folded Clos:
//                        min(total NIC injection, min over switch tiers of the uplink capacity leaving
//                        that tier) / 2. Ring / torus: 2 cables per ring crossing the cut, over the
//                        rings of the largest dimension. Single node: GPUs x NVLink / 2. Explicit
//                        graphs: not computed (min cut of an arbitrary graph).
//   diameter             the longest route, in links, from GPU 0 and from the last GPU to every GPU
//                        (all pairs for direct topologies up to 1,024 GPUs). Equal to the true
//                        diameter on the symmetric presets.
#include <map>
#include <optional>
#include <string>

#include "core/units.hpp"
#include "topology/router.hpp"
#include "topology/topology.hpp"

namespace mfusim::topology {

struct TopologySummary {
  std::size_t gpus = 0;
  std::size_t nodes = 0;
  std::size_t gpus_per_node = 0;
  std::map<std::string, std::size_t> devices;      // by kind ("switch tier 1", ...)
  std::map<std::string, std::size_t> cables;       // full-duplex cables by link kind
  core::Bandwidth nvlink_per_gpu;                  // per direction
  core::Bandwidth scale_out_per_gpu;               // per direction; 0 without NICs
  std::optional<core::Bandwidth> bisection;        // per direction
  std::size_t diameter = 0;                        // links
  std::size_t switch_tiers = 0;
};

TopologySummary summarize(const Topology& t, Router& router);
std::string format_summary(const Topology& t, const TopologySummary& s);

}  // namespace mfusim::topology
