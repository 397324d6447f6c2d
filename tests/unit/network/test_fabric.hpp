#pragma once
// Hand-made Fabrics for the network model tests: links and routes set by the test, or a seeded random
// connected graph with shortest-path routes.
#include <cstdint>
#include <map>
#include <random>
#include <span>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "network/fabric.hpp"

namespace mfusim::network::test_support {

class TestFabric final : public Fabric {
 public:
  explicit TestFabric(std::size_t endpoints) : endpoints_(endpoints) {}

  // bandwidth in bytes/s.
  LinkId add_link(double bandwidth, core::Duration latency = core::Duration::zero()) {
    links_.push_back(LinkSpec{core::Bandwidth(bandwidth), latency});
    return static_cast<LinkId>(links_.size() - 1);
  }
  void set_route(EndpointId src, EndpointId dst, std::vector<LinkId> links) { routes_[{src, dst}] = std::move(links); }
  void scale_bandwidth(double factor) {
    for (LinkSpec& l : links_) l.bandwidth = l.bandwidth * factor;
  }

  std::size_t endpoint_count() const override { return endpoints_; }
  std::size_t link_count() const override { return links_.size(); }
  const LinkSpec& link(LinkId id) const override { return links_.at(id); }
  std::span<const LinkId> route(EndpointId src, EndpointId dst) override {
    if (src == dst) return {};
    const auto it = routes_.find({src, dst});
    if (it == routes_.end()) {
      throw std::logic_error("TestFabric: no route " + std::to_string(src) + " -> " + std::to_string(dst));
    }
    return it->second;
  }

 private:
  std::size_t endpoints_;
  std::vector<LinkSpec> links_;
  std::map<std::pair<EndpointId, EndpointId>, std::vector<LinkId>> routes_;  // node-stable: spans stay valid
};

// A seeded random connected graph: `vertices` vertices, the first `endpoints` of which are the endpoints;
// a random spanning tree plus `extra_edges` random edges, each edge two directed links with a bandwidth
// from {10, 25, 50, 100} GB/s (ties are common) and a latency of 0..1000 ns. Routes: BFS shortest paths
// from every endpoint (lowest-id neighbour first), for all endpoint pairs.
inline TestFabric random_graph_fabric(std::uint32_t seed, std::uint32_t endpoints, std::uint32_t vertices,
                                      std::uint32_t extra_edges) {
  std::mt19937 rng(seed);
  TestFabric fabric(endpoints);
  std::vector<std::vector<std::pair<std::uint32_t, LinkId>>> out(vertices);  // (neighbour, link)
  const double bandwidths[] = {10e9, 25e9, 50e9, 100e9};
  auto add_edge = [&](std::uint32_t a, std::uint32_t b) {
    const double bw = bandwidths[std::uniform_int_distribution<int>(0, 3)(rng)];
    const auto lat = core::Duration::from_ns(std::uniform_int_distribution<std::int64_t>(0, 1000)(rng));
    out[a].emplace_back(b, fabric.add_link(bw, lat));
    out[b].emplace_back(a, fabric.add_link(bw, lat));
  };
  for (std::uint32_t v = 1; v < vertices; ++v) add_edge(v, std::uniform_int_distribution<std::uint32_t>(0, v - 1)(rng));
  for (std::uint32_t e = 0; e < extra_edges; ++e) {
    const auto a = std::uniform_int_distribution<std::uint32_t>(0, vertices - 1)(rng);
    const auto b = std::uniform_int_distribution<std::uint32_t>(0, vertices - 1)(rng);
    if (a != b) add_edge(a, b);
  }
  for (std::uint32_t src = 0; src < endpoints; ++src) {
    std::vector<LinkId> via(vertices, 0);
    std::vector<std::uint32_t> parent(vertices, vertices);
    std::vector<std::uint32_t> queue{src};
    parent[src] = src;
    for (std::size_t head = 0; head < queue.size(); ++head) {
      const std::uint32_t v = queue[head];
      for (const auto& [w, l] : out[v]) {
        if (parent[w] == vertices) {
          parent[w] = v;
          via[w] = l;
          queue.push_back(w);
        }
      }
    }
    for (std::uint32_t dst = 0; dst < endpoints; ++dst) {
      if (dst == src) continue;
      std::vector<LinkId> path;
      for (std::uint32_t v = dst; v != src; v = parent[v]) path.push_back(via[v]);
      fabric.set_route(src, dst, std::vector<LinkId>(path.rbegin(), path.rend()));
    }
  }
  return fabric;
}

}  // namespace mfusim::network::test_support
