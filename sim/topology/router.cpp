#include "topology/router.hpp"

#include <algorithm>

#include "core/error.hpp"

namespace mfusim::topology {
namespace {
constexpr std::size_t kBlockSize = std::size_t{1} << 20;  // LinkIds per route-storage block

std::uint64_t splitmix64(std::uint64_t x) {
  x += 0x9E3779B97F4A7C15ULL;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
  return x ^ (x >> 31);
}
}  // namespace

Router::Router(const Topology& topology) : t_(topology) {
  const auto& devs = t_.devices();
  forwards_.resize(devs.size());
  for (DeviceId d = 0; d < devs.size(); ++d) {
    const DeviceKind k = devs[d].kind;
    forwards_[d] = k == DeviceKind::kSwitch || k == DeviceKind::kNvSwitch || (k == DeviceKind::kGpu && t_.gpus_forward) ||
                   (k == DeviceKind::kNic && t_.nic_spec == nullptr);
  }
  if (t_.nic_spec != nullptr) {
    std::uint32_t nics = 0;
    for (GpuIndex g : t_.node_gpus(0)) nics += t_.nic_of(g) != kNone ? 1U : 0U;
    gpus_per_nic_ = nics > 0 ? static_cast<std::uint32_t>(t_.node_gpus(0).size()) / nics : 1;
  }
}

const std::vector<std::uint16_t>& Router::distances_to(DeviceId target) {
  auto it = distances_.find(target);
  if (it != distances_.end()) return it->second;
  // Reverse BFS over full-duplex cables: link l and l ^ 1 are the two directions of one cable, so
  // out-links of v name the in-links too. Only forwarding devices (and the target) are expanded.
  std::vector<std::uint16_t> dist(t_.devices().size(), kUnreachable);
  dist[target] = 0;
  bfs_queue_.clear();
  bfs_queue_.push_back(target);
  for (std::size_t head = 0; head < bfs_queue_.size(); ++head) {
    const DeviceId v = bfs_queue_[head];
    if (v != target && !forwards_[v]) continue;
    for (LinkId l : t_.out_links(v)) {
      const DeviceId w = t_.links()[l].dst;
      if (dist[w] == kUnreachable) {
        MFUSIM_CHECK(dist[v] + 1 < kUnreachable, "topology diameter exceeds 65534 hops");
        dist[w] = static_cast<std::uint16_t>(dist[v] + 1);
        bfs_queue_.push_back(w);
      }
    }
  }
  return distances_.emplace(target, std::move(dist)).first->second;
}

void Router::append_path(DeviceId from, DeviceId to, std::uint64_t hash, std::vector<LinkId>& out) {
  const auto& dist = distances_to(to);
  if (dist[from] == kUnreachable) {
    throw core::InputError("topology '" + t_.name + "': no route from " + t_.devices()[from].name + " to " +
                           t_.devices()[to].name);
  }
  DeviceId cur = from;
  for (std::uint64_t hop = 0; cur != to; ++hop) {
    candidates_.clear();
    for (LinkId l : t_.out_links(cur)) {
      const DeviceId w = t_.links()[l].dst;
      if (dist[w] + 1 == dist[cur] && (w == to || forwards_[w])) candidates_.push_back(l);
    }
    MFUSIM_CHECK(!candidates_.empty(), "routing found no next hop from " + t_.devices()[cur].name);
    const LinkId chosen =
        candidates_.size() == 1 ? candidates_.front() : candidates_[splitmix64(hash + hop) % candidates_.size()];
    out.push_back(chosen);
    cur = t_.links()[chosen].dst;
  }
}

void Router::append_nvlink_hop(DeviceId a, DeviceId b, std::vector<LinkId>& out) const {
  if (a == b) return;
  const LinkId direct = t_.link_between(a, b);
  if (direct != kNone) {
    out.push_back(direct);
    return;
  }
  const DeviceId sw = t_.nvswitch(t_.devices()[a].node);
  MFUSIM_CHECK(sw != kNone, "no NVLink path inside node between " + t_.devices()[a].name + " and " + t_.devices()[b].name);
  out.push_back(t_.link_between(a, sw));
  out.push_back(t_.link_between(sw, b));
}

GpuIndex Router::nic_host(GpuIndex g) const {
  const std::uint32_t local = t_.local_of(g);
  return t_.node_gpus(t_.node_of(g))[(local / gpus_per_nic_) * gpus_per_nic_];
}

DeviceId Router::leaf_of(DeviceId nic) const {
  for (LinkId l : t_.out_links(nic)) {
    const DeviceId w = t_.links()[l].dst;
    if (t_.devices()[w].kind == DeviceKind::kSwitch) return w;
  }
  throw core::InputError("topology '" + t_.name + "': NIC " + t_.devices()[nic].name + " is not cabled to a switch");
}

std::span<const LinkId> Router::store(const std::vector<LinkId>& links) {
  if (blocks_.empty() || block_used_ + links.size() > kBlockSize) {
    blocks_.push_back(std::make_unique<LinkId[]>(std::max(kBlockSize, links.size())));
    block_used_ = 0;
  }
  LinkId* dst = blocks_.back().get() + block_used_;
  std::copy(links.begin(), links.end(), dst);
  block_used_ += links.size();
  return {dst, links.size()};
}

std::span<const LinkId> Router::route(GpuIndex a, GpuIndex b) {
  MFUSIM_CHECK(a < t_.gpu_count() && b < t_.gpu_count(), "route between unknown GPUs");
  if (a == b) return {};
  const std::uint64_t key = (static_cast<std::uint64_t>(a) << 32) | b;
  if (auto it = cache_.find(key); it != cache_.end()) return it->second;

  scratch_.clear();
  const DeviceId A = t_.gpu(a);
  const DeviceId B = t_.gpu(b);
  const std::uint64_t hash = splitmix64(key);
  const bool same_node = t_.node_of(a) == t_.node_of(b);
  if (same_node && !t_.gpus_forward && (t_.nvswitch(t_.node_of(a)) != kNone || t_.link_between(A, B) != kNone)) {
    append_nvlink_hop(A, B, scratch_);
  } else if (t_.nic_spec != nullptr) {
    const GpuIndex dst_host = nic_host(b);
    const DeviceId nic_d = t_.nic_of(dst_host);
    // PXN: leave on the NIC of the destination's rail; otherwise on a's own NIC.
    const GpuIndex src_host = t_.pxn ? t_.node_gpus(t_.node_of(a))[t_.local_of(dst_host)] : nic_host(a);
    const DeviceId nic_s = t_.nic_of(src_host);
    append_nvlink_hop(A, t_.gpu(src_host), scratch_);
    scratch_.push_back(t_.link_between(t_.gpu(src_host), nic_s));
    const DeviceId leaf_d = leaf_of(nic_d);
    append_path(nic_s, leaf_d, hash, scratch_);
    scratch_.push_back(t_.link_between(leaf_d, nic_d));
    scratch_.push_back(t_.link_between(nic_d, t_.gpu(dst_host)));
    append_nvlink_hop(t_.gpu(dst_host), B, scratch_);
  } else {
    append_path(A, B, hash, scratch_);
  }
  const auto span = store(scratch_);
  cache_.emplace(key, span);
  return span;
}

}  // namespace mfusim::topology
