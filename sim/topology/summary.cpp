#include "topology/summary.hpp"

#include <algorithm>
#include <cstdio>

#include "core/unit_parser.hpp"

namespace mfusim::topology {
namespace {
std::string gbps(core::Bandwidth b) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.1f GB/s", b.value() / 1e9);
  return buf;
}
}  // namespace

TopologySummary summarize(const Topology& t, Router& router) {
  TopologySummary s;
  s.gpus = t.gpu_count();
  s.nodes = t.node_count();
  s.gpus_per_node = t.node_gpus(0).size();
  const auto& devs = t.devices();
  const auto& links = t.links();
  std::map<std::uint32_t, double> uplink_capacity;  // by tier: capacity of links from tier t to tier t+1
  double injection = 0.0;
  for (const auto& d : devs) {
    std::string key(to_string(d.kind));
    if (d.kind == DeviceKind::kSwitch) {
      key += " tier " + std::to_string(d.tier);
      s.switch_tiers = std::max<std::size_t>(s.switch_tiers, d.tier);
    }
    ++s.devices[key];
  }
  for (LinkId l = 0; l < links.size(); ++l) {
    const Link& link = links[l];
    if (l % 2 == 0) ++s.cables[std::string(to_string(link.kind))];
    const Device& a = devs[link.src];
    const Device& b = devs[link.dst];
    if (a.kind == DeviceKind::kNic && b.kind == DeviceKind::kSwitch) injection += link.bandwidth.value();
    if (a.kind == DeviceKind::kSwitch && b.kind == DeviceKind::kSwitch && b.tier == a.tier + 1) {
      uplink_capacity[a.tier] += link.bandwidth.value();
    }
  }
  // Per-GPU figures from GPU 0's links.
  const DeviceId g0 = t.gpu(0);
  for (LinkId l : t.out_links(g0)) {
    if (links[l].kind == LinkKind::kNvlink) s.nvlink_per_gpu = s.nvlink_per_gpu + links[l].bandwidth;
  }
  if (t.nic_spec != nullptr && injection > 0) s.scale_out_per_gpu = core::Bandwidth(injection / static_cast<double>(s.gpus));

  if (t.fabric_kind == "rail-optimized" || t.fabric_kind == "fat-tree" || t.fabric_kind == "single-switch") {
    double limit = injection;
    for (const auto& [tier, cap] : uplink_capacity) limit = std::min(limit, cap);
    s.bisection = core::Bandwidth(limit / 2.0);
  } else if (t.fabric_kind == "none") {
    s.bisection = core::Bandwidth(s.nvlink_per_gpu.value() * static_cast<double>(s.gpus) / 2.0);
  } else if (t.fabric_kind == "ring" || t.fabric_kind == "torus") {
    // Cutting the largest dimension k in half crosses 2 cables (1 when k = 2) in each of its N / k rings.
    const std::size_t k = static_cast<std::size_t>(*std::max_element(t.torus_dims.begin(), t.torus_dims.end()));
    // A ring of one GPU (k = 1) has no cables and no cut.
    const auto g0_links = t.out_links(g0);
    if (k > 1 && !g0_links.empty()) {
      const core::Bandwidth link_bw = links[g0_links.front()].bandwidth;
      s.bisection = core::Bandwidth(link_bw.value() * (k > 2 ? 2.0 : 1.0) * static_cast<double>(s.gpus / k));
    }
  }

  std::vector<GpuIndex> sources{0};
  if (s.gpus > 1) sources.push_back(static_cast<GpuIndex>(s.gpus - 1));
  if (t.gpus_forward && s.gpus <= 1024) {
    sources.clear();
    for (GpuIndex g = 0; g < s.gpus; ++g) sources.push_back(g);
  }
  for (GpuIndex a : sources) {
    for (GpuIndex b = 0; b < s.gpus; ++b) {
      s.diameter = std::max(s.diameter, router.route(a, b).size());
      s.diameter = std::max(s.diameter, router.route(b, a).size());
    }
  }
  return s;
}

std::string format_summary(const Topology& t, const TopologySummary& s) {
  std::string out;
  out += "topology     " + t.name + "\n";
  if (!t.description.empty()) out += "             " + t.description + "\n";
  out += "GPUs         " + std::to_string(s.gpus) + " (" + std::to_string(s.nodes) + (s.nodes == 1 ? " node x " : " nodes x ") +
         std::to_string(s.gpus_per_node) + " " + t.gpu_spec->name + ")\n";
  out += "fabric       " + t.fabric_kind;
  if (t.switch_spec != nullptr) {
    out += ", " + t.switch_spec->name + ", " + std::to_string(s.switch_tiers) + " switch tier(s)";
    char buf[64];
    std::snprintf(buf, sizeof buf, ", oversubscription %g:1", t.oversubscription);
    out += buf;
  }
  if (t.nic_spec != nullptr) out += std::string(", PXN ") + (t.pxn ? "on" : "off");
  out += "\ndevices     ";
  for (const auto& [k, n] : s.devices) out += " " + k + ": " + std::to_string(n) + ";";
  out += "\ncables      ";
  for (const auto& [k, n] : s.cables) out += " " + k + ": " + std::to_string(n) + ";";
  if (s.cables.empty()) out += " none";
  out += "\nper GPU      NVLink " + gbps(s.nvlink_per_gpu) + ", scale-out " + gbps(s.scale_out_per_gpu) +
         " (per direction)\n";
  std::string bisection = "not computed for this topology kind";
  if (s.bisection) {
    bisection = gbps(*s.bisection) + " per direction";
  } else if (s.gpus == 1) {
    bisection = "none (one GPU)";
  }
  out += "bisection    " + bisection + "\n";
  out += "diameter     " + std::to_string(s.diameter) + " links\n";
  for (const auto& n : t.notes) out += "note: " + n + "\n";
  return out;
}

}  // namespace mfusim::topology
