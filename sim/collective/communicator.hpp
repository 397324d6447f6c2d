#pragma once
// A communicator: any subset of a topology's GPUs, with the channel structure NCCL would build on it.
//
// Ranks are ordered as NCCL orders them: by node, then by local index (the topology's GPU index order).
// From the topology the communicator derives what NCCL's graph search (src/graph/search.cc, connect.cc,
// ../shared/reference/nccl-model.md section 2) would find, using NCCL's own link figures:
//   T          per-GPU NVLink bandwidth NCCL assumes = topology NVLink bandwidth x (NCCL per-link GB/s /
//              datasheet per-link GB/s), e.g. H100: 450 GB/s x 20.6/25 = 370.8 GB/s;
//   NIC        port rate / 8 (400 Gb/s -> 50 GB/s), the bottleneck of the GPU->NIC and NIC->leaf links;
//   one node   ring/tree graph: over the arch's intra-node speed array from the highest s <= T, c =
//              floor(T / s) channels; keep (c, s) if c*s beats the best so far; stop when c*s reaches T or
//              the next speed is <= 0.49 x the best's (ncclTopoCompute); then duplicate (2c channels at
//              s/2) when s >= 25, unless SM > 80 and s < 50 and c > 4 (ncclTopoDupChannels):
//              DGX A100 12 x 20, DGX H100 12 x 30, H800 8 x 20, GB200 (NVL72) 16 x 45 GB/s;
//   multi-node one channel per NIC the communicator's GPUs reach in a node (the fewest over nodes), at
//              the highest inter-node speed <= the NIC rate whose intra-node share fits T:
//              8 x NDR -> 8 x 48, 8 x HDR -> 8 x 24 GB/s; bwIntra = bwInter (a simplification of the
//              search's second pass, which may raise bwIntra);
//   CTAs       2 x graph channels (connect.cc), doubled again on SM90+ multi-node when bwIntra > 45 and
//              fewer than 16, at most 64 (MAXCHANNELS): 24 on one DGX A100/H100, 16 multi-node;
//   NVLS       Hopper+ GPU with nvls: true and an NVSwitch: one head per GPU (per NIC multi-node), at
//              most the NVLS CTA count (16 SM90, 24/32 SM100 single/multi-node; an assumption for domains
//              larger than that, e.g. NVL72); speed = the highest intra speed s with (heads + 1) s <= T
//              (each channel loads every GPU link once and its head's twice): DGX H100 8 x 40, H800 8 x 15;
//   SHARP      the fabric switch has sharp: true (CollNet needs it and NCCL_COLLNET_ENABLE);
//   p2p        pow2 >= CTAs channels (32 on one H100 node, 16 multi-node).
// Channel c's ring visits the nodes in order and, inside each node, starts at local slot c mod k (k =
// the node's ranks in the communicator), so channel c enters and leaves each node on rail c (with PXN).
// The tree is NCCL's double binary tree over nodes (src/graph/trees.cc: a binary tree that alternates
// leaves and interior nodes; the second tree mirrors the first for an even node count and shifts it by
// one for an odd count), with a chain inside each node hanging off the channel's head GPU.
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "collective/tuner_constants.hpp"
#include "topology/topology.hpp"

namespace mfusim::collective {

using Rank = std::uint32_t;

// What NCCL's topology search would produce for a communicator (GB/s per channel, NCCL units).
struct CommGraph {
  GpuArch arch = GpuArch::kVolta;
  bool arch_known = false;  // false: a non-NVIDIA GPU modelled with NCCL's Volta row
  int sm = 70;              // SM version
  int sm_count = 1;         // streaming multiprocessors per GPU (catalog)
  HwLink intra_link = HwLink::kNvlink;
  double intra_bandwidth = 0;    // T, GB/s per GPU into the node's scale-up network
  int channels = 1;              // ring/tree graph channels
  double bw_intra = 0;           // GB/s per channel
  double bw_inter = 0;           // GB/s per channel
  int ctas = 1;                  // runtime ring/tree channels (one CTA, i.e. one SM, each)
  int nics_per_node = 0;         // NICs the communicator uses per node (multi-node)
  double nic_bandwidth = 0;      // GB/s per NIC
  bool nvswitch = false;         // every node of the communicator has an NVSwitch
  bool nvls = false;             // NVLink SHARP usable
  std::string nvls_unavailable;  // why not, when !nvls
  int nvls_heads = 0;            // NVLS graph channels
  double nvls_speed = 0;         // GB/s per NVLS channel (intra)
  int nvls_ctas = 0;
  bool sharp = false;  // in-network reduction in the scale-out fabric (CollNet)
  bool ll128 = false;  // NCCL enables LL128 by default here
  int p2p_channels = 1;
};

class Communicator {
 public:
  // `gpus`: distinct GPU indexes of `topology`, in any order. Throws core::InputError when empty, out
  // of range or repeated. The topology must outlive the communicator.
  Communicator(const topology::Topology& topology, std::vector<topology::GpuIndex> gpus);

  // The first `count` GPUs of the topology.
  static Communicator first_gpus(const topology::Topology& topology, std::size_t count);

  const topology::Topology& topology() const { return *topology_; }
  std::size_t size() const { return gpus_.size(); }
  topology::GpuIndex gpu(Rank r) const { return gpus_[r]; }
  const std::vector<topology::GpuIndex>& gpus() const { return gpus_; }

  std::size_t node_count() const { return node_ids_.size(); }
  // Ranks [node_begin(s), node_end(s)) live on the s-th node of the communicator.
  Rank node_begin(std::size_t slot) const { return node_start_[slot]; }
  Rank node_end(std::size_t slot) const { return node_start_[slot + 1]; }
  std::size_t node_size(std::size_t slot) const { return node_start_[slot + 1] - node_start_[slot]; }
  std::uint32_t node_id(std::size_t slot) const { return node_ids_[slot]; }
  std::size_t node_slot(Rank r) const { return rank_node_[r]; }
  std::size_t max_ranks_per_node() const { return max_per_node_; }
  std::size_t min_ranks_per_node() const { return min_per_node_; }

  const CommGraph& graph() const { return graph_; }

  // The rank at position `i` of channel `channel`'s ring (i in [0, size)).
  Rank ring_at(std::size_t channel, std::size_t i) const;
  // Channel `channel`'s ring, all ranks in order.
  std::vector<Rank> ring(std::size_t channel) const;
  // The head (NIC-facing) rank of node slot `slot` for a channel: local slot channel mod node size.
  Rank head(std::size_t channel, std::size_t slot) const;
  // Parent node slot of `slot` in double-binary tree `tree` (0 or 1) over `nodes` nodes; -1 for the root.
  static std::int64_t tree_parent(int tree, std::size_t slot, std::size_t nodes);

  // "16 GPUs (2 nodes x 8)".
  std::string describe() const;

 private:
  void derive_graph();

  const topology::Topology* topology_;
  std::vector<topology::GpuIndex> gpus_;
  std::vector<Rank> node_start_;
  std::vector<std::uint32_t> node_ids_;
  std::vector<std::uint32_t> rank_node_;
  std::size_t max_per_node_ = 0;
  std::size_t min_per_node_ = 0;
  CommGraph graph_;
};

}  // namespace mfusim::collective
