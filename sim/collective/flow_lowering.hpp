#pragma once
// Lowering of a planned collective to the point-to-point transfers its algorithm moves, for the flow
// fidelity (flow_collectives.hpp). Each transfer is long-lived: it carries everything one connection
// (one edge of one channel's ring or tree) moves during the whole collective, so a ring phase is one
// set of concurrent transfers, not 2(n-1) chunk steps per rank. Bytes are payload bytes (S = the
// nccl-tests size, G = graph channels, n ranks, k ranks of the node, N nodes, H NVLS heads):
//   Ring all-reduce          G channels x n ring edges, 2(n-1)/n x S/G each
//   Ring all-gather/r-scatter and PAT (same volume, ring pattern assumed)   (n-1)/n x S/G per edge
//   Ring broadcast / reduce  G channels x (n-1) edges of the chain from / to the root, S/G each
//   Tree all-reduce          2 trees x G channels: every intra-node chain edge and every inter-node
//                            tree edge (between the channel's head GPUs), up and down, S/(2G) each
//   NVLS (one node)          every ordered GPU pair of the node, 2S/k (all-reduce: the switch reduces
//                            the slice each head loads and multicasts the result) or S/k (AG/RS); the
//                            multicast is represented by its unicast equivalent
//   NVLSTree                 the NVLS pairs of every node + for each head h < H and each tree, the
//                            inter-node tree edges between the nodes' h-th heads, S/(2H) up and down
//   CollNet (SHARP), NVLS across nodes   the NVLS pairs + per rail r < G a ring over the nodes' rail-r
//                            heads carrying S/G once (in-network reduction: each NIC sends its share
//                            once and receives the result once)
//   send/recv                one transfer of S;  all-to-all(v): one transfer per ordered pair
// The lowering of CollNet, NVLS multicast and PAT is an approximation of their traffic volume and
// link usage, not of their exact pattern.
#include <cstddef>
#include <vector>

#include "collective/communicator.hpp"
#include "collective/cost_model.hpp"

namespace mfusim::collective {

struct Transfer {
  Rank src = 0;
  Rank dst = 0;
  double bytes = 0;
};

// Number of transfers lower_to_transfers() produces (computed without building them).
std::size_t transfer_count(const Communicator& comm, const CollectiveCall& call, const CollectivePlan& plan);

// Appends the transfers of the planned collective to `out`.
void lower_to_transfers(const Communicator& comm, const CollectiveCall& call, const CollectivePlan& plan,
                        std::vector<Transfer>& out);

}  // namespace mfusim::collective
