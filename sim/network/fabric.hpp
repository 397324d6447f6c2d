#pragma once
// What a network model needs to know about the cluster: directed links with a capacity and a latency,
// and the route (ordered link list) from one endpoint (a GPU) to another. The topology layer provides
// the implementation over its graph (routing, ECMP, route cache); tests provide small hand-made ones.
#include <cstdint>
#include <span>

#include "core/time.hpp"
#include "core/units.hpp"

namespace mfusim::network {

using LinkId = std::uint32_t;      // dense, 0 .. link_count()-1
using EndpointId = std::uint32_t;  // dense GPU index, 0 .. endpoint_count()-1

struct LinkSpec {
  core::Bandwidth bandwidth;  // per direction; > 0
  core::Duration latency;     // propagation + switching delay of this hop; >= 0
};

class Fabric {
 public:
  virtual ~Fabric() = default;
  virtual std::size_t endpoint_count() const = 0;
  virtual std::size_t link_count() const = 0;
  virtual const LinkSpec& link(LinkId id) const = 0;
  // Links traversed from src to dst, in order; empty when src == dst. The span stays valid for the
  // lifetime of the Fabric (implementations cache routes).
  virtual std::span<const LinkId> route(EndpointId src, EndpointId dst) = 0;
};

}  // namespace mfusim::network
