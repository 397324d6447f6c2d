#include "scenario/communication.hpp"

#include <algorithm>
#include <limits>

namespace mfusim::scenario {

RingCommunication::RingCommunication(core::Engine& engine, const topology::Topology& topology)
    : engine_(engine), topology_(topology), router_(topology) {}

RingCommunication::RouteCost RingCommunication::route_cost(std::int64_t a, std::int64_t b) {
  RouteCost c{std::numeric_limits<double>::infinity(), core::Duration::zero()};
  for (auto l : router_.route(static_cast<topology::GpuIndex>(a), static_cast<topology::GpuIndex>(b))) {
    const auto& link = topology_.links()[l];
    c.bandwidth = std::min(c.bandwidth, link.bandwidth.value());
    c.latency += link.latency;
  }
  return c;
}

core::Duration RingCommunication::estimate(const workload::CommRequest& r) {
  const auto& g = r.groups->front();
  const auto n = static_cast<double>(g.size());
  if (g.size() < 2 || r.bytes.count() == 0) return core::Duration::zero();
  const double S = r.bytes.as_double();
  if (r.kind == workload::CollectiveKind::kSendRecv) {
    const RouteCost c = route_cost(g[0], g[1]);
    return c.latency + core::Duration::from_seconds(S / c.bandwidth);
  }
  double bw = std::numeric_limits<double>::infinity();
  core::Duration lat;
  for (std::size_t i = 0; i < g.size(); ++i) {
    const RouteCost c = route_cost(g[i], g[(i + 1) % g.size()]);
    bw = std::min(bw, c.bandwidth);
    lat = std::max(lat, c.latency);
  }
  const double steps = r.kind == workload::CollectiveKind::kAllReduce ? 2.0 * (n - 1) : (n - 1);
  return lat * static_cast<std::int64_t>(steps) + core::Duration::from_seconds(steps * (S / n) / bw);
}

void RingCommunication::start(const workload::CommRequest& request, std::function<void()> done) {
  engine_.schedule_after(estimate(request), std::move(done));
}

}  // namespace mfusim::scenario
