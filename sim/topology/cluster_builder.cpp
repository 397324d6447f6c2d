#include "topology/cluster_builder.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <map>
#include <utility>

#include "config/config_error.hpp"
#include "config/loader.hpp"
#include "config/overrides.hpp"
#include "config/reader.hpp"
#include "core/error.hpp"
#include "core/strings.hpp"
#include "core/unit_parser.hpp"

namespace mfusim::topology {
namespace {

using config::Choice;
using config::Reader;
using core::Bandwidth;
using core::Duration;

// Default per-link latencies, derived from NCCL's per-hop latency table (hwLat, Ring/LL, NCCL 2.27;
// ../shared/reference/nccl-model.md): a GPU-to-GPU NVLink hop costs 0.6 us, split evenly over its two
// links (GPU->NVSwitch->GPU); a PCIe hop 1.0 us, split over GPU->NIC and NIC->GPU ends of a path; a
// network hop through one switch 2.7 us, of which the two PCIe halves are 1.0 us and the two fabric
// cables (NIC->leaf->NIC) the remaining 1.7 us, i.e. 0.85 us per cable. These are end-to-end software
// plus hardware figures; they are overridable per topology and will be recalibrated from measurements.
constexpr Duration kNvlinkLatency = Duration::from_ns(300);
constexpr Duration kPcieLatency = Duration::from_ns(500);
constexpr Duration kFabricLatency = Duration::from_ns(850);

enum class FabricKind { kRailOptimized, kFatTree, kSingleSwitch, kNone, kRing, kTorus };
constexpr std::array<Choice<FabricKind>, 6> kFabricKinds{{
    {"rail-optimized", FabricKind::kRailOptimized, "one leaf per rail per group of nodes, Clos above"},
    {"fat-tree", FabricKind::kFatTree, "leaves take consecutive NIC ports, Clos above"},
    {"single-switch", FabricKind::kSingleSwitch, "every NIC on one ideal switch (no radix limit)"},
    {"none", FabricKind::kNone, "no scale-out network (one node)"},
    {"ring", FabricKind::kRing, "one GPU per node, neighbours linked in a ring (teaching)"},
    {"torus", FabricKind::kTorus, "one GPU per node, a k-dimensional torus (teaching)"},
}};

std::string fabric_kind_name(FabricKind k) {
  for (const auto& c : kFabricKinds) {
    if (c.value == k) return std::string(c.name);
  }
  return "?";
}

int positive(Reader& r, std::string_view key, int fallback, int max) {
  const int v = r.optional<int>(key, fallback);
  if (v < 1 || v > max) r.fail(key, std::to_string(v) + " is out of range (valid: 1 to " + std::to_string(max) + ")");
  return v;
}

// "800 Gb/s": a bandwidth as NIC and switch ports are rated, in gigabits per second.
std::string gbps_text(Bandwidth b) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g Gb/s", b.value() * 8.0 / 1e9);
  return buf;
}

Bandwidth positive_bw(Reader& r, std::string_view key, Bandwidth fallback) {
  const Bandwidth b = r.optional<Bandwidth>(key, fallback);
  if (!(b.value() > 0)) r.fail(key, "must be greater than zero");
  return b;
}

template <class F>
auto catalog_lookup(Reader& r, std::string_view key, F&& lookup) -> decltype(lookup(std::string())) {
  const auto name = r.required<std::string>(key);
  try {
    return lookup(name);
  } catch (const core::InputError& e) {
    r.fail(key, e.what());
  }
}

struct Builder {
  Topology& t;
  Duration fabric_latency;
  Bandwidth port_bw;
  int radix = 0;

  DeviceId add_switch(std::uint32_t tier, std::size_t index) {
    return t.add_device(Device{DeviceKind::kSwitch, kNone, kNone, tier,
                               "t" + std::to_string(tier) + "-sw" + std::to_string(index)});
  }

  // Connects `lower` switches, each with `uplinks` free uplinks, through tiers `tier` and above.
  void build_upper(const std::vector<DeviceId>& lower, int uplinks, std::uint32_t tier, std::size_t& counter) {
    if (lower.size() <= 1 || uplinks <= 0) return;
    const auto R = static_cast<std::size_t>(radix);
    if (lower.size() <= R) {
      // Final tier: the fewest switches (a divisor d of `uplinks`) such that each takes uplinks / d
      // parallel cables from every lower switch within its radix.
      int tops = uplinks;
      for (int d = 1; d <= uplinks; ++d) {
        if (uplinks % d == 0 && lower.size() * static_cast<std::size_t>(uplinks / d) <= R) {
          tops = d;
          break;
        }
      }
      for (int j = 0; j < tops; ++j) {
        const DeviceId top = add_switch(tier, counter++);
        for (DeviceId l : lower) {
          for (int k = 0; k < uplinks / tops; ++k) t.add_cable(l, top, LinkKind::kFabric, port_bw, fabric_latency);
        }
      }
      return;
    }
    const std::size_t pod = std::max<std::size_t>(1, R / 2);
    std::vector<std::vector<DeviceId>> planes(static_cast<std::size_t>(uplinks));
    for (std::size_t start = 0; start < lower.size(); start += pod) {
      const std::size_t end = std::min(lower.size(), start + pod);
      for (int j = 0; j < uplinks; ++j) {
        const DeviceId agg = add_switch(tier, counter++);
        for (std::size_t i = start; i < end; ++i) t.add_cable(lower[i], agg, LinkKind::kFabric, port_bw, fabric_latency);
        planes[static_cast<std::size_t>(j)].push_back(agg);
      }
    }
    for (const auto& plane : planes) build_upper(plane, static_cast<int>(R - pod), tier + 1, counter);
  }
};

void build_explicit(Topology& t, Reader& r, const hardware::Catalog& catalog) {
  t.fabric_kind = "explicit";
  t.gpu_spec = &catalog_lookup(r, "gpu", [&](const std::string& n) -> const hardware::GpuSpec& { return catalog.gpu(n); });
  t.gpus_forward = r.optional<bool>("gpus_forward", false);
  static constexpr std::array<Choice<DeviceKind>, 4> kKinds{{{"gpu", DeviceKind::kGpu, ""},
                                                             {"nic", DeviceKind::kNic, ""},
                                                             {"nvswitch", DeviceKind::kNvSwitch, ""},
                                                             {"switch", DeviceKind::kSwitch, ""}}};
  static constexpr std::array<Choice<LinkKind>, 3> kLinkKinds{
      {{"nvlink", LinkKind::kNvlink, ""}, {"pcie", LinkKind::kPcie, ""}, {"fabric", LinkKind::kFabric, ""}}};
  std::map<std::string, DeviceId> by_name;
  std::vector<std::string> names;
  for (auto& d : r.mappings("devices")) {
    Device dev{};
    dev.name = d.required<std::string>("name");
    dev.kind = d.choice<DeviceKind>("kind", kKinds);
    if (dev.kind == DeviceKind::kGpu || dev.kind == DeviceKind::kNic || dev.kind == DeviceKind::kNvSwitch) {
      const int node = d.required<int>("node");
      if (node < 0) d.fail("node", "must not be negative");
      dev.node = static_cast<std::uint32_t>(node);
    }
    if (dev.kind == DeviceKind::kGpu || dev.kind == DeviceKind::kNic) {
      const int local = d.required<int>("local");
      if (local < 0) d.fail("local", "must not be negative");
      dev.local = static_cast<std::uint32_t>(local);
    }
    if (dev.kind == DeviceKind::kSwitch) dev.tier = static_cast<std::uint32_t>(d.optional<int>("tier", 1));
    d.finish();
    if (by_name.count(dev.name)) d.fail("name", "device '" + dev.name + "' is defined twice");
    names.push_back(dev.name);
    const DeviceId id = t.add_device(dev);
    by_name.emplace(dev.name, id);
  }
  for (auto& l : r.mappings("links")) {
    const auto ends = l.list<std::string>("between");
    if (ends.size() != 2) l.fail("between", "expected two device names, e.g. between: [g0, s0]");
    DeviceId id[2];
    for (int i = 0; i < 2; ++i) {
      const auto it = by_name.find(ends[static_cast<std::size_t>(i)]);
      if (it == by_name.end()) {
        std::string message = "unknown device '" + ends[static_cast<std::size_t>(i)] + "'";
        if (auto m = core::closest_match(ends[static_cast<std::size_t>(i)], names)) message += " (did you mean '" + *m + "'?)";
        l.fail("between", message);
      }
      id[i] = it->second;
    }
    if (id[0] == id[1]) l.fail("between", "a link needs two different devices");
    const Bandwidth bw = l.required<Bandwidth>("bandwidth");
    if (!(bw.value() > 0)) l.fail("bandwidth", "must be greater than zero");
    const Duration lat = l.optional<Duration>("latency", Duration::zero());
    const LinkKind kind = l.choice<LinkKind>("kind", kLinkKinds, LinkKind::kFabric);
    l.finish();
    t.add_cable(id[0], id[1], kind, bw, lat);
  }
}

void build_parametric(Topology& t, Reader& r, const hardware::Catalog& catalog) {
  const int nodes = positive(r, "nodes", 1, 1 << 20);
  Reader node = r.mapping("node");
  const hardware::NodeSpec* kind = nullptr;
  if (node.has("kind")) {
    kind = &catalog_lookup(node, "kind", [&](const std::string& n) -> const hardware::NodeSpec& { return catalog.node(n); });
  }
  const auto need = [&](std::string_view key) {
    if (!kind && !node.has(key)) node.fail(key, "required when node.kind is not given");
  };
  need("gpu");
  const std::string gpu_name = node.optional<std::string>("gpu", kind ? kind->gpu : "");
  try {
    t.gpu_spec = &catalog.gpu(gpu_name);
  } catch (const core::InputError& e) {
    node.fail("gpu", e.what());
  }
  const int gpus = positive(node, "gpus", kind ? kind->gpus : 1, 4096);
  const Bandwidth nvlink_bw = positive_bw(node, "nvlink_bandwidth", t.gpu_spec->scale_up.bandwidth_per_direction);
  const Duration nvlink_lat = node.optional<Duration>("nvlink_latency", kNvlinkLatency);
  const Duration pcie_lat = node.optional<Duration>("pcie_latency", kPcieLatency);

  Reader fabric = r.mapping("fabric");
  const FabricKind fk = fabric.choice<FabricKind>("kind", kFabricKinds);
  t.fabric_kind = fabric_kind_name(fk);
  const bool has_nics = fk == FabricKind::kRailOptimized || fk == FabricKind::kFatTree || fk == FabricKind::kSingleSwitch;
  int nics = 0;
  if (has_nics) {
    need("nic");
    const std::string nic_name = node.optional<std::string>("nic", kind ? kind->nic : "");
    try {
      t.nic_spec = &catalog.nic(nic_name);
    } catch (const core::InputError& e) {
      node.fail("nic", e.what());
    }
    nics = positive(node, "nics", kind ? kind->nics : gpus, 4096);
    if (nics > gpus || gpus % nics != 0) {
      node.fail("nics", std::to_string(nics) + " NICs cannot serve " + std::to_string(gpus) +
                            " GPUs evenly (valid: a divisor of " + std::to_string(gpus) + ")");
    }
  }
  node.finish();

  Bandwidth nic_bw = t.nic_spec ? t.nic_spec->port_bandwidth : Bandwidth(0);
  t.pxn = has_nics;
  if (auto so = r.maybe_mapping("scale_out")) {
    if (!has_nics) so->fail_here("scale_out needs a fabric with NICs (rail-optimized, fat-tree or single-switch)");
    t.pxn = so->optional<bool>("pxn", true);
    nic_bw = positive_bw(*so, "nic_bandwidth", nic_bw);
    so->finish();
  }

  // Nodes: GPUs plus one NVLink-domain switch (or a point-to-point mesh for Infinity Fabric).
  const bool mesh = t.gpu_spec->scale_up.kind == "infinity-fabric";
  std::vector<std::vector<DeviceId>> node_gpu(static_cast<std::size_t>(nodes));
  for (int n = 0; n < nodes; ++n) {
    auto& g = node_gpu[static_cast<std::size_t>(n)];
    const auto nn = static_cast<std::uint32_t>(n);
    for (int i = 0; i < gpus; ++i) {
      g.push_back(t.add_device(Device{DeviceKind::kGpu, nn, static_cast<std::uint32_t>(i), 0,
                                      "n" + std::to_string(n) + "-gpu" + std::to_string(i)}));
    }
    if (gpus > 1 && mesh) {
      // Each GPU pair shares one link: per-pair bandwidth = per-GPU bandwidth / links per GPU.
      const Bandwidth per_link = nvlink_bw / static_cast<double>(t.gpu_spec->scale_up.links);
      for (std::size_t a = 0; a < g.size(); ++a) {
        for (std::size_t b = a + 1; b < g.size(); ++b) t.add_cable(g[a], g[b], LinkKind::kNvlink, per_link, nvlink_lat);
      }
    } else if (gpus > 1) {
      const DeviceId sw = t.add_device(Device{DeviceKind::kNvSwitch, nn, kNone, 0, "n" + std::to_string(n) + "-nvswitch"});
      for (DeviceId d : g) t.add_cable(d, sw, LinkKind::kNvlink, nvlink_bw, nvlink_lat);
    }
  }

  Builder b{t, fabric.optional<Duration>("link_latency", kFabricLatency), Bandwidth(0), 0};
  switch (fk) {
    case FabricKind::kNone:
      if (nodes > 1) {
        fabric.fail("kind", "'none' connects nothing between nodes, but there are " + std::to_string(nodes) + " nodes");
      }
      break;
    case FabricKind::kRing:
    case FabricKind::kTorus: {
      if (gpus != 1) node.fail("gpus", "ring and torus fabrics link single-GPU nodes directly (set node.gpus: 1)");
      const Bandwidth link_bw = positive_bw(fabric, "link_bandwidth", nvlink_bw);
      const std::vector<int> dims = fk == FabricKind::kRing ? std::vector<int>{nodes} : fabric.list<int>("dims");
      long long positions = 1;
      for (int d : dims) {
        if (d < 1) fabric.fail("dims", "every dimension must be at least 1");
        positions *= d;
      }
      if (positions != nodes) {
        fabric.fail(fk == FabricKind::kRing ? "kind" : "dims", "the torus has " + std::to_string(positions) +
                                                                   " positions but there are " + std::to_string(nodes) + " nodes");
      }
      t.gpus_forward = true;
      t.torus_dims = dims;
      long long stride = 1;
      for (int d : dims) {
        for (long long n = 0; n < nodes && d > 1; ++n) {
          const long long coord = (n / stride) % d;
          if (d == 2 && coord == 1) continue;  // a ring of two is one cable, not two
          const long long next = n + ((coord + 1) % d - coord) * stride;
          t.add_cable(node_gpu[static_cast<std::size_t>(n)][0], node_gpu[static_cast<std::size_t>(next)][0],
                      LinkKind::kFabric, link_bw, b.fabric_latency);
        }
        stride *= d;
      }
      break;
    }
    case FabricKind::kSingleSwitch:
    case FabricKind::kRailOptimized:
    case FabricKind::kFatTree: {
      t.switch_spec = &catalog_lookup(fabric, "switch", [&](const std::string& n) -> const hardware::SwitchSpec& {
        return catalog.switch_spec(n);
      });
      b.radix = positive(fabric, "radix", t.switch_spec->radix, 1 << 16);
      if (b.radix < 2) fabric.fail("radix", "a switch needs at least 2 ports");
      b.port_bw = positive_bw(fabric, "port_bandwidth", t.switch_spec->port_bandwidth);
      const double o = fabric.optional<double>("oversubscription", 1.0);
      const auto requested_tiers = fabric.maybe<int>("tiers");
      if (requested_tiers && (*requested_tiers < 1 || *requested_tiers > 8)) fabric.fail("tiers", "must be between 1 and 8");
      if (!(o >= 1.0 && o <= 64.0)) fabric.fail("oversubscription", "must be between 1 (non-blocking) and 64");
      t.oversubscription = o;
      const Bandwidth edge_bw = std::min(nic_bw, b.port_bw);
      if (nic_bw > b.port_bw) {
        t.notes.push_back("NIC bandwidth " + gbps_text(nic_bw) + " is above the switch port's " + gbps_text(b.port_bw) +
                          " (" + t.switch_spec->name + "): NIC-to-leaf links run at " + gbps_text(b.port_bw) +
                          " (a faster switch: fabric.switch or fabric.port_bandwidth)");
      }
      if (t.nic_spec != nullptr && nic_bw > t.nic_spec->port_bandwidth) {
        t.notes.push_back("NIC bandwidth " + gbps_text(nic_bw) + " is above the " + t.nic_spec->name + "'s rated " +
                          gbps_text(t.nic_spec->port_bandwidth) + ": modelled as a faster NIC with the " +
                          t.nic_spec->name + "'s latency");
      }
      // NIC k of a node hangs off GPU k * gpus / nics (its rail).
      std::vector<DeviceId> nic_dev;  // index node * nics + rail
      for (int n = 0; n < nodes; ++n) {
        for (int k = 0; k < nics; ++k) {
          const DeviceId nic = t.add_device(Device{DeviceKind::kNic, static_cast<std::uint32_t>(n),
                                                   static_cast<std::uint32_t>(k), 0,
                                                   "n" + std::to_string(n) + "-nic" + std::to_string(k)});
          t.add_cable(node_gpu[static_cast<std::size_t>(n)][static_cast<std::size_t>(k * (gpus / nics))], nic,
                      LinkKind::kPcie, nic_bw, pcie_lat);
          nic_dev.push_back(nic);
        }
      }
      std::size_t counter = 0;
      if (fk == FabricKind::kSingleSwitch) {
        const DeviceId sw = b.add_switch(1, counter++);
        for (DeviceId nic : nic_dev) t.add_cable(nic, sw, LinkKind::kFabric, edge_bw, b.fabric_latency);
        break;
      }
      // Leaves: `down` ports each; ceil(down / o) uplinks.
      const int down_cap = static_cast<int>(std::floor(b.radix * o / (o + 1.0)));
      if (down_cap < 1) fabric.fail("radix", "too small for the oversubscription");
      std::vector<std::vector<DeviceId>> groups;  // NICs per leaf
      if (fk == FabricKind::kRailOptimized) {
        // A leaf serves one rail of up to `down_cap` nodes; when there are fewer nodes than that, it
        // serves several rails of all nodes (as small deployments share leaves between rails).
        const int group_nodes = std::min(nodes, down_cap);
        const int rails_per_leaf = std::clamp(down_cap / group_nodes, 1, nics);
        for (int start = 0; start < nodes; start += group_nodes) {
          const int end = std::min(nodes, start + group_nodes);
          for (int k0 = 0; k0 < nics; k0 += rails_per_leaf) {
            std::vector<DeviceId> g;
            for (int k = k0; k < std::min(nics, k0 + rails_per_leaf); ++k) {
              for (int n = start; n < end; ++n) g.push_back(nic_dev[static_cast<std::size_t>(n * nics + k)]);
            }
            groups.push_back(std::move(g));
          }
        }
      } else {
        for (std::size_t start = 0; start < nic_dev.size(); start += static_cast<std::size_t>(down_cap)) {
          const std::size_t end = std::min(nic_dev.size(), start + static_cast<std::size_t>(down_cap));
          groups.emplace_back(nic_dev.begin() + static_cast<std::ptrdiff_t>(start), nic_dev.begin() + static_cast<std::ptrdiff_t>(end));
        }
      }
      const int used_down = static_cast<int>(groups.front().size());
      const int uplinks = groups.size() > 1 ? static_cast<int>(std::ceil(used_down / o - 1e-9)) : 0;
      if (uplinks > b.radix - used_down) {
        fabric.fail("oversubscription", "a leaf with " + std::to_string(used_down) + " downlinks needs " +
                                             std::to_string(uplinks) + " uplinks, more than its radix allows");
      }
      std::vector<DeviceId> leaves;
      for (const auto& g : groups) {
        const DeviceId leaf = b.add_switch(1, counter++);
        for (DeviceId nic : g) t.add_cable(nic, leaf, LinkKind::kFabric, edge_bw, b.fabric_latency);
        leaves.push_back(leaf);
      }
      b.build_upper(leaves, uplinks, 2, counter);
      if (requested_tiers) {
        // The tier count follows from the radix and the number of leaves; a stated one is checked.
        std::uint32_t built = 1;
        for (const auto& dev : t.devices()) built = std::max(built, dev.kind == DeviceKind::kSwitch ? dev.tier : 1U);
        if (built != static_cast<std::uint32_t>(*requested_tiers)) {
          fabric.fail("tiers", std::to_string(*requested_tiers) + " tiers requested, but " + std::to_string(nodes) +
                                   " nodes on radix-" + std::to_string(b.radix) + " switches need " + std::to_string(built) +
                                   " (set tiers: " + std::to_string(built) + ", or change nodes or radix)");
        }
      }
      break;
    }
  }
  fabric.finish();
}

}  // namespace

Topology build_topology(const config::Node& root, const hardware::Catalog& catalog, config::Node* resolved,
                        const std::string& path) {
  config::ResolvedConfig rc;
  Reader r(root, path, resolved ? &rc : nullptr);
  Topology t;
  t.name = r.required<std::string>("name");
  t.description = r.optional<std::string>("description", "");
  if (r.has("devices") || r.has("links")) {
    build_explicit(t, r, catalog);
  } else {
    build_parametric(t, r, catalog);
  }
  r.finish();
  try {
    t.finalize();
  } catch (const core::InputError& e) {
    r.fail_here(e.what());
  }
  if (resolved) *resolved = rc.to_node();
  return t;
}

Topology load_topology(const std::filesystem::path& path, const std::vector<std::string>& overrides,
                       const hardware::Catalog& catalog, config::Node* resolved) {
  config::Node root = config::load_file(path);
  for (const auto& o : overrides) config::apply_override(root, o);
  return build_topology(root, catalog, resolved);
}

}  // namespace mfusim::topology
