#include "collective/communicator.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <set>

#include "core/error.hpp"

namespace mfusim::collective {
namespace {

using topology::DeviceId;
using topology::DeviceKind;
using topology::GpuIndex;
using topology::LinkKind;
using topology::Topology;

constexpr double kGB = 1e9;
// Numerical slack when comparing bandwidth sums against speed multiples (GB/s).
constexpr double kSlack = 1e-9;
// MAXCHANNELS (src/include/device.h, NCCL 2.30.7: 64).
constexpr int kMaxChannels = 64;
// The graph search looks for at most MAXCHANNELS/2 channels before duplication.
constexpr int kMaxGraphChannels = kMaxChannels / 2;
// NVLS CTAs (src/transport/nvls.cc): NVLS_NCHANNELS_SM90 16; SM100 24 single node, 32 multi-node.
constexpr int kNvlsCtasSm90 = 16;
constexpr int kNvlsCtasSm100SingleNode = 24;
constexpr int kNvlsCtasSm100MultiNode = 32;
// ncclTopoCompute: lower the speed only while the next one is above 0.49 x the best solution's speed.
constexpr double kSearchMinSpeedRatio = 0.49;
// ncclTopoDupChannels: duplicate when bwIntra >= 25, skipped on SM > 80 when bwIntra < 50 and > 4 channels.
constexpr double kDupMinSpeed = 25.0;
constexpr double kDupSm90MinSpeed = 50.0;
constexpr int kDupSm90MaxChannels = 4;
// connect.cc: on SM90+ multi-node with bwIntra > 45 and fewer than 16 channels, double again.
constexpr double kSm90MultiNodeDoubleSpeed = 45.0;
constexpr int kSm90MultiNodeDoubleBelow = 16;

int pow2_up(int x) {
  int p = 1;
  while (p < x) p *= 2;
  return p;
}

// Sum (and count, minimum) of the bandwidths (GB/s) of a GPU's NVLink links, or of its other links.
double out_bandwidth(const Topology& t, GpuIndex g, bool nvlink, int* count, double* min_bw) {
  double sum = 0;
  int n = 0;
  double lo = std::numeric_limits<double>::infinity();
  for (const auto l : t.out_links(t.gpu(g))) {
    const auto& link = t.links()[l];
    if ((link.kind == LinkKind::kNvlink) != nvlink) continue;
    sum += link.bandwidth.value() / kGB;
    lo = std::min(lo, link.bandwidth.value() / kGB);
    ++n;
  }
  if (count != nullptr) *count = n;
  if (min_bw != nullptr) *min_bw = n > 0 ? lo : 0.0;
  return sum;
}

// The smallest bandwidth (GB/s) on the NIC's links (GPU->NIC and NIC->leaf).
double nic_bandwidth(const Topology& t, DeviceId nic) {
  double bw = std::numeric_limits<double>::infinity();
  for (const auto l : t.out_links(nic)) bw = std::min(bw, t.links()[l].bandwidth.value() / kGB);
  return std::isfinite(bw) ? bw : 0.0;
}

}  // namespace

Communicator::Communicator(const Topology& topology, std::vector<GpuIndex> gpus)
    : topology_(&topology), gpus_(std::move(gpus)) {
  if (gpus_.empty()) throw core::InputError("a communicator needs at least one GPU");
  const std::size_t total = topology.gpu_count();
  for (GpuIndex g : gpus_) {
    if (g >= total) {
      throw core::InputError("GPU " + std::to_string(g) + " is not in topology '" + topology.name + "' (it has " +
                             std::to_string(total) + " GPUs: 0 to " + std::to_string(total - 1) + ")");
    }
  }
  // The topology's GPU index order is (node, local): NCCL's rank order.
  std::sort(gpus_.begin(), gpus_.end());
  for (std::size_t i = 1; i < gpus_.size(); ++i) {
    if (gpus_[i] == gpus_[i - 1]) {
      throw core::InputError("GPU " + std::to_string(gpus_[i]) + " appears twice in the communicator");
    }
  }
  rank_node_.resize(gpus_.size());
  for (Rank r = 0; r < gpus_.size(); ++r) {
    const std::uint32_t node = topology.node_of(gpus_[r]);
    if (node_ids_.empty() || node_ids_.back() != node) {
      node_ids_.push_back(node);
      node_start_.push_back(r);
    }
    rank_node_[r] = static_cast<std::uint32_t>(node_ids_.size() - 1);
  }
  node_start_.push_back(static_cast<Rank>(gpus_.size()));
  min_per_node_ = gpus_.size();
  for (std::size_t s = 0; s < node_ids_.size(); ++s) {
    max_per_node_ = std::max(max_per_node_, node_size(s));
    min_per_node_ = std::min(min_per_node_, node_size(s));
  }
  derive_graph();
}

Communicator Communicator::first_gpus(const Topology& topology, std::size_t count) {
  if (count == 0 || count > topology.gpu_count()) {
    throw core::InputError("cannot take " + std::to_string(count) + " GPUs: topology '" + topology.name + "' has " +
                           std::to_string(topology.gpu_count()) + " GPUs (valid: 1 to " +
                           std::to_string(topology.gpu_count()) + ")");
  }
  std::vector<GpuIndex> g(count);
  for (std::size_t i = 0; i < count; ++i) g[i] = static_cast<GpuIndex>(i);
  return Communicator(topology, std::move(g));
}

void Communicator::derive_graph() {
  const Topology& t = *topology_;
  CommGraph& g = graph_;
  MFUSIM_CHECK(t.gpu_spec != nullptr, "topology without a GPU spec");
  const auto& spec = *t.gpu_spec;
  g.arch = gpu_arch(spec.architecture, &g.arch_known);
  g.sm = sm_version(g.arch);
  g.sm_count = std::max(1, spec.sm_count);
  const std::size_t nodes = node_count();
  const double ppn = static_cast<double>(size()) / static_cast<double>(nodes);
  const GpuIndex first = gpus_.front();

  // Intra-node bandwidth per GPU as NCCL sees it.
  int nvlinks = 0;
  const double nvlink_bw = out_bandwidth(t, first, true, &nvlinks, nullptr);
  double scale = 1.0;
  if (g.arch_known && spec.scale_up.links > 0 && spec.scale_up.bandwidth_per_direction.value() > 0) {
    const double datasheet_per_link = spec.scale_up.bandwidth_per_direction.value() / kGB / spec.scale_up.links;
    scale = nccl_nvlink_bandwidth_per_link(g.arch) / datasheet_per_link;
  }
  if (nvlinks > 0) {
    g.intra_link = HwLink::kNvlink;
    g.intra_bandwidth = nvlink_bw * scale;
  } else {
    double lo = 0;
    out_bandwidth(t, first, false, nullptr, &lo);
    g.intra_link = HwLink::kPci;
    g.intra_bandwidth = lo;
  }
  g.nvswitch = true;
  for (std::size_t s = 0; s < nodes; ++s) g.nvswitch = g.nvswitch && t.nvswitch(node_ids_[s]) != topology::kNone;
  g.ll128 = g.arch_known && (max_per_node_ == 1 || g.intra_link == HwLink::kNvlink);
  const double T = g.intra_bandwidth;

  if (nodes == 1) {
    // Ring/tree graph inside one node: ncclTopoCompute tries speeds from the highest, keeps a solution
    // only if it carries more (channels x speed), stops once it carries the GPU's total bandwidth, and
    // does not go below 0.49 x the speed of the best solution found.
    int best_channels = 0;
    double best_speed = 0;
    for (const double s : intra_node_speeds(g.arch)) {
      if (s > T + kSlack) continue;
      if (best_channels > 0 && s / best_speed <= kSearchMinSpeedRatio) break;
      const int c = std::min(kMaxGraphChannels, static_cast<int>(std::floor(T / s + kSlack)));
      if (c * s > best_channels * best_speed + kSlack) {
        best_channels = c;
        best_speed = s;
      }
      if (best_channels * best_speed >= T - kSlack) break;
    }
    if (best_channels == 0) {
      // Slower than every speed in the array: one channel at the link's speed.
      best_channels = 1;
      best_speed = std::max(T, 1e-3);
    }
    if (best_speed >= kDupMinSpeed &&
        !(g.sm > 80 && best_speed < kDupSm90MinSpeed && best_channels > kDupSm90MaxChannels)) {
      best_channels *= 2;
      best_speed /= 2;
    }
    g.channels = best_channels;
    g.bw_intra = g.bw_inter = best_speed;
  } else {
    // One channel per NIC the communicator reaches in every node.
    int nics = std::numeric_limits<int>::max();
    double nic_bw = std::numeric_limits<double>::infinity();
    if (t.nic_spec != nullptr) {
      std::uint32_t node0_nics = 0;
      for (GpuIndex x : t.node_gpus(0)) node0_nics += t.nic_of(x) != topology::kNone ? 1U : 0U;
      const std::size_t per_node = t.node_gpus(0).size();
      const std::size_t gpus_per_nic = node0_nics > 0 ? per_node / node0_nics : 1;
      for (std::size_t s = 0; s < nodes; ++s) {
        std::set<DeviceId> used;
        for (Rank r = node_begin(s); r < node_end(s); ++r) {
          const auto node_gpus = t.node_gpus(node_ids_[s]);
          const std::size_t local = t.local_of(gpus_[r]);
          const DeviceId nic = t.nic_of(node_gpus[(local / gpus_per_nic) * gpus_per_nic]);
          if (nic == topology::kNone) continue;
          used.insert(nic);
          nic_bw = std::min(nic_bw, nic_bandwidth(t, nic));
        }
        nics = std::min(nics, static_cast<int>(used.size()));
      }
    } else {
      // Direct (ring, torus) and explicit topologies: each non-NVLink link of a GPU acts as a NIC.
      int count = 0;
      double lo = 0;
      out_bandwidth(t, first, false, &count, &lo);
      nics = count;
      nic_bw = lo;
    }
    if (nics <= 0 || !(nic_bw > 0) || !std::isfinite(nic_bw)) {
      throw core::InputError("communicator " + describe() + ": its GPUs have no scale-out link in topology '" + t.name +
                             "'");
    }
    g.nics_per_node = nics;
    g.nic_bandwidth = nic_bw;
    const auto speeds = inter_node_speeds(g.arch);
    double speed = speeds.back();
    for (const double s : speeds) {
      const bool fits_nic = s <= nic_bw + kSlack;
      const bool fits_intra = max_per_node_ == 1 || nics * s * (ppn - 1.0) / ppn <= T + kSlack;
      if (fits_nic && fits_intra) {
        speed = s;
        break;
      }
    }
    g.channels = nics;
    g.bw_intra = g.bw_inter = speed;
    g.sharp = t.switch_spec != nullptr && t.switch_spec->sharp;
  }
  g.ctas = 2 * g.channels;
  if (g.sm >= 90 && nodes > 1 && g.bw_intra > kSm90MultiNodeDoubleSpeed && g.ctas < kSm90MultiNodeDoubleBelow) {
    g.ctas *= 2;
  }
  g.ctas = std::clamp(g.ctas, 1, kMaxChannels);
  g.p2p_channels = std::min(kMaxChannels, pow2_up(g.ctas));

  // NVLink SHARP.
  if (!spec.scale_up.nvls) {
    g.nvls_unavailable = spec.name + " has no NVLink SHARP (catalog scale_up.nvls: false)";
  } else if (g.sm < 90) {
    g.nvls_unavailable = "NVLS needs SM90 or later";
  } else if (!g.nvswitch) {
    g.nvls_unavailable = "NVLS needs an NVSwitch in every node";
  } else if (min_per_node_ < 2) {
    g.nvls_unavailable = "NVLS needs at least 2 GPUs per node";
  } else {
    g.nvls_ctas =
        g.arch == GpuArch::kHopper ? kNvlsCtasSm90 : (nodes == 1 ? kNvlsCtasSm100SingleNode : kNvlsCtasSm100MultiNode);
    int heads = static_cast<int>(min_per_node_);
    if (nodes > 1) heads = std::min(heads, g.nics_per_node);
    heads = std::min(heads, g.nvls_ctas);
    for (const double s : intra_node_speeds(g.arch)) {
      if ((heads + 1) * s <= T + kSlack) {
        g.nvls_speed = s;
        break;
      }
    }
    if (heads < 2) {
      g.nvls_unavailable = "NVLS needs at least 2 heads (NICs per node multi-node)";
    } else if (g.nvls_speed <= 0) {
      g.nvls_unavailable = "no NVLS channel speed fits the NVLink bandwidth";
    } else {
      g.nvls = true;
      g.nvls_heads = heads;
    }
  }
}

Rank Communicator::ring_at(std::size_t channel, std::size_t i) const {
  // Walk the nodes in order; inside node slot s the ring starts at local slot channel mod k.
  const std::size_t s = rank_node_[i];
  const std::size_t k = node_size(s);
  const std::size_t offset = i - node_start_[s];
  return node_start_[s] + static_cast<Rank>((channel + offset) % k);
}

std::vector<Rank> Communicator::ring(std::size_t channel) const {
  std::vector<Rank> out(size());
  for (std::size_t i = 0; i < size(); ++i) out[i] = ring_at(channel, i);
  return out;
}

Rank Communicator::head(std::size_t channel, std::size_t slot) const {
  return node_start_[slot] + static_cast<Rank>(channel % node_size(slot));
}

std::int64_t Communicator::tree_parent(int tree, std::size_t slot, std::size_t nodes) {
  MFUSIM_CHECK(slot < nodes, "tree slot out of range");
  const auto n = static_cast<std::int64_t>(nodes);
  const auto i = static_cast<std::int64_t>(slot);
  // Position in the binary tree: tree 1 mirrors (even n) or shifts by one (odd n).
  std::int64_t r = i;
  if (tree == 1) r = n % 2 == 0 ? n - 1 - i : (i - 1 + n) % n;
  if (r == 0) return -1;
  // NCCL's btree: interior nodes are the even positions; the parent clears the lowest set bit and sets
  // the next one (or only clears it when that would leave the tree).
  const std::int64_t bit = r & -r;
  std::int64_t up = (r ^ bit) | (bit << 1);
  if (up >= n) up = r ^ bit;
  if (tree == 1) return n % 2 == 0 ? n - 1 - up : (up + 1) % n;
  return up;
}

std::string Communicator::describe() const {
  std::string s = std::to_string(size()) + (size() == 1 ? " GPU" : " GPUs") + " (" + std::to_string(node_count()) +
                  (node_count() == 1 ? " node" : " nodes");
  if (min_per_node_ == max_per_node_) {
    s += " x " + std::to_string(max_per_node_) + ")";
  } else {
    s += ", " + std::to_string(min_per_node_) + " to " + std::to_string(max_per_node_) + " per node)";
  }
  return s;
}

}  // namespace mfusim::collective
