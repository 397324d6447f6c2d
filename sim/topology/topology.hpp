#pragma once
// The cluster as a directed graph: GPUs, NICs, NVSwitch domains and fabric switches are devices; every
// cable is two directed links (full duplex), each with a per-direction capacity and a latency. A
// Topology is built once (cluster_spec.hpp), validated, then frozen; ids are dense indices so the hot
// paths (routing, the network models) index flat arrays.
//
// Modeling choices (docs/models/network.md):
//   - An NVLink domain (the NVSwitch chips of a DGX/HGX board, or the 18 NVLink-switch chips of an NVL72
//     rack) is one switch device: each GPU has one link to it carrying the GPU's whole NVLink bandwidth
//     per direction. Traffic between two GPUs of a domain crosses two links (GPU->switch->GPU).
//   - Each NIC hangs off one GPU (rail i = NIC i = GPU i's PCIe neighbour) by a link at the NIC's port
//     bandwidth, and has one uplink to its leaf switch.
//   - Parallel cables between two switches are separate links (ECMP chooses among them).
#include <cstdint>
#include <limits>
#include <span>
#include <string>
#include <vector>

#include "core/time.hpp"
#include "core/units.hpp"
#include "hardware/catalog.hpp"

namespace mfusim::topology {

using DeviceId = std::uint32_t;
using LinkId = std::uint32_t;
using GpuIndex = std::uint32_t;
inline constexpr std::uint32_t kNone = std::numeric_limits<std::uint32_t>::max();

enum class DeviceKind : std::uint8_t { kGpu, kNic, kNvSwitch, kSwitch };
enum class LinkKind : std::uint8_t { kNvlink, kPcie, kFabric };
std::string_view to_string(DeviceKind k);
std::string_view to_string(LinkKind k);

struct Device {
  DeviceKind kind;
  std::uint32_t node = kNone;   // node (NVLink domain) index for GPUs, NICs and NVSwitches
  std::uint32_t local = kNone;  // GPU/NIC index within its node (= rail for NICs)
  std::uint32_t tier = 0;       // fabric switches: 1 = leaf, 2 = spine, 3 = core ...
  std::string name;
};

struct Link {
  DeviceId src;
  DeviceId dst;
  LinkKind kind;
  core::Bandwidth bandwidth;  // per direction
  core::Duration latency;
};

class Topology {
 public:
  std::string name;
  std::string description;
  const hardware::GpuSpec* gpu_spec = nullptr;  // points into the Catalog the topology was built from
  const hardware::NicSpec* nic_spec = nullptr;  // null without scale-out
  const hardware::SwitchSpec* switch_spec = nullptr;
  std::string fabric_kind;        // rail-optimized | fat-tree | single-switch | none | ring | torus | explicit
  double oversubscription = 1.0;  // leaf downlink:uplink capacity ratio (1 = non-blocking)
  bool gpus_forward = false;      // direct GPU-GPU topologies (ring, torus): GPUs relay traffic
  bool pxn = true;                // inter-node traffic enters the destination's rail over NVLink first
  std::vector<int> torus_dims;    // ring / torus: the size of each dimension
  // What the builder capped or assumed that a user would not see from the inputs alone (e.g. a NIC
  // bandwidth above the switch port's: the NIC-to-leaf link runs at the port's). Run reports print them.
  std::vector<std::string> notes;

  DeviceId add_device(Device d);
  // Adds two directed links (a->b and b->a); returns the id of a->b (b->a is id + 1).
  LinkId add_cable(DeviceId a, DeviceId b, LinkKind kind, core::Bandwidth bandwidth, core::Duration latency);
  // Builds adjacency and per-node indexes; then validate() (throws InputError) and freezes.
  void finalize();

  const std::vector<Device>& devices() const { return devices_; }
  const std::vector<Link>& links() const { return links_; }
  std::size_t gpu_count() const { return gpus_.size(); }
  std::size_t node_count() const { return node_gpus_.size(); }
  DeviceId gpu(GpuIndex g) const { return gpus_[g]; }
  GpuIndex gpu_index(DeviceId d) const { return gpu_index_[d]; }
  std::uint32_t node_of(GpuIndex g) const { return devices_[gpus_[g]].node; }
  std::uint32_t local_of(GpuIndex g) const { return devices_[gpus_[g]].local; }
  std::span<const GpuIndex> node_gpus(std::uint32_t node) const { return node_gpus_[node]; }
  // The NVSwitch device of a node, or kNone.
  DeviceId nvswitch(std::uint32_t node) const { return node_nvswitch_[node]; }
  // The NIC attached to a GPU, or kNone.
  DeviceId nic_of(GpuIndex g) const { return gpu_nic_[g]; }
  std::span<const LinkId> out_links(DeviceId d) const {
    return {out_.data() + out_offset_[d], out_.data() + out_offset_[d + 1]};
  }
  // The first link from a to b, or kNone.
  LinkId link_between(DeviceId a, DeviceId b) const;

 private:
  void validate() const;

  std::vector<Device> devices_;
  std::vector<Link> links_;
  std::vector<DeviceId> gpus_;
  std::vector<GpuIndex> gpu_index_;
  std::vector<std::vector<GpuIndex>> node_gpus_;
  std::vector<DeviceId> node_nvswitch_;
  std::vector<DeviceId> gpu_nic_;
  std::vector<std::uint32_t> out_offset_;
  std::vector<LinkId> out_;
};

}  // namespace mfusim::topology
