#include "network/topology_fabric.hpp"

namespace mfusim::network {

TopologyFabric::TopologyFabric(const topology::Topology& topology, topology::Router& router)
    : topology_(topology), router_(router) {
  links_.reserve(topology.links().size());
  for (const auto& l : topology.links()) links_.push_back(LinkSpec{l.bandwidth, l.latency});
}

}  // namespace mfusim::network
