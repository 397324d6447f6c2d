#include "topology/topology.hpp"

#include <boost/graph/adjacency_list.hpp>
#include <boost/graph/connected_components.hpp>

#include <algorithm>
#include <map>
#include <utility>

#include "core/error.hpp"
#include "core/unit_parser.hpp"

namespace mfusim::topology {

std::string_view to_string(DeviceKind k) {
  switch (k) {
    case DeviceKind::kGpu: return "gpu";
    case DeviceKind::kNic: return "nic";
    case DeviceKind::kNvSwitch: return "nvswitch";
    case DeviceKind::kSwitch: return "switch";
  }
  return "?";
}

std::string_view to_string(LinkKind k) {
  switch (k) {
    case LinkKind::kNvlink: return "nvlink";
    case LinkKind::kPcie: return "pcie";
    case LinkKind::kFabric: return "fabric";
  }
  return "?";
}

DeviceId Topology::add_device(Device d) {
  devices_.push_back(std::move(d));
  return static_cast<DeviceId>(devices_.size() - 1);
}

LinkId Topology::add_cable(DeviceId a, DeviceId b, LinkKind kind, core::Bandwidth bandwidth, core::Duration latency) {
  MFUSIM_CHECK(a < devices_.size() && b < devices_.size() && a != b, "cable between invalid devices");
  links_.push_back(Link{a, b, kind, bandwidth, latency});
  links_.push_back(Link{b, a, kind, bandwidth, latency});
  return static_cast<LinkId>(links_.size() - 2);
}

LinkId Topology::link_between(DeviceId a, DeviceId b) const {
  for (LinkId l : out_links(a)) {
    if (links_[l].dst == b) return l;
  }
  return kNone;
}

void Topology::finalize() {
  const std::size_t n = devices_.size();
  // Out-link adjacency in CSR form, links in insertion order per device.
  out_offset_.assign(n + 1, 0);
  for (const auto& l : links_) ++out_offset_[l.src + 1];
  for (std::size_t i = 1; i <= n; ++i) out_offset_[i] += out_offset_[i - 1];
  out_.resize(links_.size());
  std::vector<std::uint32_t> fill(out_offset_.begin(), out_offset_.end() - 1);
  for (LinkId l = 0; l < links_.size(); ++l) out_[fill[links_[l].src]++] = l;

  // GPUs in (node, local) order define the GPU index (the rank order NCCL and Megatron see).
  gpus_.clear();
  for (DeviceId d = 0; d < n; ++d) {
    if (devices_[d].kind == DeviceKind::kGpu) gpus_.push_back(d);
  }
  std::stable_sort(gpus_.begin(), gpus_.end(), [this](DeviceId a, DeviceId b) {
    return std::pair(devices_[a].node, devices_[a].local) < std::pair(devices_[b].node, devices_[b].local);
  });
  gpu_index_.assign(n, kNone);
  for (GpuIndex g = 0; g < gpus_.size(); ++g) gpu_index_[gpus_[g]] = g;
  std::uint32_t nodes = 0;
  for (DeviceId d : gpus_) nodes = std::max(nodes, devices_[d].node + 1);
  node_gpus_.assign(nodes, {});
  for (GpuIndex g = 0; g < gpus_.size(); ++g) node_gpus_[devices_[gpus_[g]].node].push_back(g);
  node_nvswitch_.assign(nodes, kNone);
  gpu_nic_.assign(gpus_.size(), kNone);
  for (DeviceId d = 0; d < n; ++d) {
    const Device& dev = devices_[d];
    if (dev.kind == DeviceKind::kNvSwitch && dev.node < nodes) node_nvswitch_[dev.node] = d;
    if (dev.kind == DeviceKind::kNic) {
      for (LinkId l : out_links(d)) {
        const DeviceId peer = links_[l].dst;
        if (devices_[peer].kind == DeviceKind::kGpu) gpu_nic_[gpu_index_[peer]] = d;
      }
    }
  }
  validate();
}

void Topology::validate() const {
  if (gpus_.empty()) throw core::InputError("topology '" + name + "' has no GPUs");
  for (const auto& l : links_) {
    const auto where = "link " + devices_[l.src].name + " -> " + devices_[l.dst].name;
    if (!(l.bandwidth.value() > 0)) throw core::InputError(where + ": bandwidth must be greater than zero");
    if (l.latency < core::Duration::zero()) throw core::InputError(where + ": latency must not be negative");
  }
  // Node layout: nodes numbered 0..N-1 without gaps, each with the same number of GPUs, local indexes
  // 0..k-1 (plans tile nodes by GPU count, so a ragged layout is an input error).
  const std::size_t per_node = node_gpus_.front().size();
  for (std::uint32_t node = 0; node < node_gpus_.size(); ++node) {
    const auto& g = node_gpus_[node];
    if (g.size() != per_node) {
      throw core::InputError("topology '" + name + "': node " + std::to_string(node) + " has " +
                             std::to_string(g.size()) + " GPUs but node 0 has " + std::to_string(per_node) +
                             " (every node must hold the same number of GPUs)");
    }
    for (std::size_t i = 0; i < g.size(); ++i) {
      if (devices_[gpus_[g[i]]].local != i) {
        throw core::InputError("topology '" + name + "': GPUs of node " + std::to_string(node) +
                               " must have local indexes 0.." + std::to_string(per_node - 1) + " without gaps or repeats");
      }
    }
  }
  // Connectivity: every device must be reachable from GPU 0 over cables (undirected view).
  using Graph = boost::adjacency_list<boost::vecS, boost::vecS, boost::undirectedS>;
  Graph graph(devices_.size());
  for (LinkId l = 0; l < links_.size(); l += 2) boost::add_edge(links_[l].src, links_[l].dst, graph);
  std::vector<int> component(devices_.size());
  boost::connected_components(graph, component.data());
  const int main = component[gpus_.front()];
  std::vector<std::string> cut_off;
  for (DeviceId d = 0; d < devices_.size(); ++d) {
    if (component[d] != main && cut_off.size() < 5) cut_off.push_back(devices_[d].name);
  }
  if (!cut_off.empty()) {
    std::string list;
    for (const auto& s : cut_off) list += (list.empty() ? "" : ", ") + s;
    throw core::InputError("topology '" + name + "' is disconnected: " + list + " cannot reach " +
                           devices_[gpus_.front()].name + " (check the links)");
  }
}

}  // namespace mfusim::topology
