#pragma once
// The Fabric a network model sees, over a built Topology and its Router: links are the topology's
// directed links (same ids), endpoints are GPU indexes, routes come from the Router's cache.
#include "network/fabric.hpp"
#include "topology/router.hpp"
#include "topology/topology.hpp"

namespace mfusim::network {

class TopologyFabric final : public Fabric {
 public:
  // Both must outlive this object.
  TopologyFabric(const topology::Topology& topology, topology::Router& router);

  std::size_t endpoint_count() const override { return topology_.gpu_count(); }
  std::size_t link_count() const override { return links_.size(); }
  const LinkSpec& link(LinkId id) const override { return links_[id]; }
  std::span<const LinkId> route(EndpointId src, EndpointId dst) override { return router_.route(src, dst); }

 private:
  const topology::Topology& topology_;
  topology::Router& router_;
  std::vector<LinkSpec> links_;
};

}  // namespace mfusim::network
