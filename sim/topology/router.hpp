#pragma once
// Routing: the ordered links a transfer from GPU a to GPU b crosses, as NCCL and the fabric route it.
//
//   - Same NVLink domain: GPU -> NVSwitch -> GPU (or the direct link of a point-to-point mesh).
//   - Across nodes with NICs: the destination's rail r (the NIC serving GPU b). With PXN (NCCL's
//     default since 2.12) the data first moves over NVLink to the GPU of a's node that hosts rail r,
//     so it enters the fabric on the destination's rail; without PXN it leaves on a's own NIC. Then
//     NIC -> leaf -> ... -> leaf -> NIC -> GPU b (plus an NVLink hop if b shares its NIC).
//   - Inside the fabric: shortest paths (hop count) over switches. Among equal-cost next hops the
//     choice is deterministic ECMP: a hash of (a, b, hop index) picks one, so different pairs spread
//     over parallel paths while the same pair always takes the same path.
//   - Direct topologies (ring, torus, explicit graphs with gpus_forward): shortest paths through GPUs.
//
// Shortest-path distances come from one reverse breadth-first search per destination switch (or per
// destination GPU in direct topologies), computed lazily and kept; routes are cached per (a, b).
// Memory: one uint16 per device per distinct destination switch (a 16,384-GPU superpod has 512 leaf
// switches and ~37k devices: 38 MB) plus the cached routes.
#include <cstdint>
#include <memory>
#include <span>
#include <unordered_map>
#include <vector>

#include "topology/topology.hpp"

namespace mfusim::topology {

class Router {
 public:
  explicit Router(const Topology& topology);

  // Throws InputError if b cannot be reached from a. The span stays valid for the Router's lifetime.
  std::span<const LinkId> route(GpuIndex a, GpuIndex b);

  std::size_t cached_routes() const { return cache_.size(); }
  std::size_t distance_tables() const { return distances_.size(); }

 private:
  static constexpr std::uint16_t kUnreachable = 0xFFFF;

  const std::vector<std::uint16_t>& distances_to(DeviceId target);
  // Appends the links of a shortest path from `from` to `to`.
  void append_path(DeviceId from, DeviceId to, std::uint64_t hash, std::vector<LinkId>& out);
  void append_nvlink_hop(DeviceId a, DeviceId b, std::vector<LinkId>& out) const;
  GpuIndex nic_host(GpuIndex g) const;  // the GPU whose NIC serves g
  DeviceId leaf_of(DeviceId nic) const;
  std::span<const LinkId> store(const std::vector<LinkId>& links);

  const Topology& t_;
  std::vector<bool> forwards_;
  std::uint32_t gpus_per_nic_ = 1;
  std::unordered_map<DeviceId, std::vector<std::uint16_t>> distances_;
  std::unordered_map<std::uint64_t, std::span<const LinkId>> cache_;
  std::vector<std::unique_ptr<LinkId[]>> blocks_;
  std::size_t block_used_ = 0;
  std::vector<DeviceId> bfs_queue_;
  std::vector<LinkId> scratch_;
  std::vector<LinkId> candidates_;
};

}  // namespace mfusim::topology
