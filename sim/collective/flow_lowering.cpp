#include "collective/flow_lowering.hpp"

#include "core/error.hpp"

namespace mfusim::collective {
namespace {

using A = Algorithm;

// Ordered pairs inside every node.
std::size_t node_pairs(const Communicator& comm) {
  std::size_t pairs = 0;
  for (std::size_t s = 0; s < comm.node_count(); ++s) pairs += comm.node_size(s) * (comm.node_size(s) - 1);
  return pairs;
}

void add_node_pairs(const Communicator& comm, double bytes_per_node_size, std::vector<Transfer>& out) {
  for (std::size_t s = 0; s < comm.node_count(); ++s) {
    const double k = static_cast<double>(comm.node_size(s));
    for (Rank i = comm.node_begin(s); i < comm.node_end(s); ++i) {
      for (Rank j = comm.node_begin(s); j < comm.node_end(s); ++j) {
        if (i != j) out.push_back({i, j, bytes_per_node_size / k});
      }
    }
  }
}

// Both directions of every tree edge between the nodes' heads of channel `channel`.
void add_inter_tree(const Communicator& comm, int tree, std::size_t channel, double bytes, std::vector<Transfer>& out) {
  const std::size_t nodes = comm.node_count();
  for (std::size_t s = 0; s < nodes; ++s) {
    const std::int64_t parent = Communicator::tree_parent(tree, s, nodes);
    if (parent < 0) continue;
    const Rank child_head = comm.head(channel, s);
    const Rank parent_head = comm.head(channel, static_cast<std::size_t>(parent));
    out.push_back({child_head, parent_head, bytes});
    out.push_back({parent_head, child_head, bytes});
  }
}

// Position of rank r in channel c's ring.
std::size_t ring_position(const Communicator& comm, std::size_t channel, Rank r) {
  const std::size_t s = comm.node_slot(r);
  const std::size_t k = comm.node_size(s);
  const std::size_t offset = r - comm.node_begin(s);
  return comm.node_begin(s) + (offset + k - channel % k) % k;
}

}  // namespace

std::size_t transfer_count(const Communicator& comm, const CollectiveCall& call, const CollectivePlan& plan) {
  const std::size_t n = comm.size();
  const std::size_t N = comm.node_count();
  const auto G = static_cast<std::size_t>(comm.graph().channels);
  if (n == 1 || plan.bytes.count() == 0) return 0;
  switch (call.op) {
    case CollectiveOp::kSendRecv:
      return call.root == call.peer ? 0 : 1;
    case CollectiveOp::kAllToAll:
    case CollectiveOp::kAllToAllV:
      return n * (n - 1);
    default:
      break;
  }
  switch (plan.algorithm) {
    case A::kRing:
    case A::kPat:
      return G * ((call.op == CollectiveOp::kBroadcast || call.op == CollectiveOp::kReduce) ? n - 1 : n);
    case A::kTree:
      return 2 * G * 2 * (n - 1);
    case A::kNvls:
      return node_pairs(comm) + (N > 1 ? G * N : 0);
    case A::kNvlsTree:
      return node_pairs(comm) + 2 * static_cast<std::size_t>(comm.graph().nvls_heads) * 2 * (N - 1);
    case A::kCollNetDirect:
    case A::kCollNetChain:
      return node_pairs(comm) + G * N;
    case A::kP2p:
      return 0;
  }
  return 0;
}

void lower_to_transfers(const Communicator& comm, const CollectiveCall& call, const CollectivePlan& plan,
                        std::vector<Transfer>& out) {
  const std::size_t n = comm.size();
  const std::size_t N = comm.node_count();
  const auto G = static_cast<std::size_t>(comm.graph().channels);
  const double S = plan.bytes.as_double();
  const double dn = static_cast<double>(n);
  const double dG = static_cast<double>(G);
  if (n == 1 || plan.bytes.count() == 0) return;

  switch (call.op) {
    case CollectiveOp::kSendRecv:
      if (call.root != call.peer) out.push_back({call.root, call.peer, S});
      return;
    case CollectiveOp::kAllToAll:
    case CollectiveOp::kAllToAllV:
      for (Rank s = 0; s < n; ++s) {
        for (Rank d = 0; d < n; ++d) {
          if (s == d) continue;
          const double b =
              call.op == CollectiveOp::kAllToAll ? S / dn : call.pair_bytes[std::size_t{s} * n + d].as_double();
          out.push_back({s, d, b});
        }
      }
      return;
    default:
      break;
  }

  const bool all_reduce = call.op == CollectiveOp::kAllReduce;
  switch (plan.algorithm) {
    case A::kRing:
    case A::kPat: {
      if (call.op == CollectiveOp::kBroadcast || call.op == CollectiveOp::kReduce) {
        // The chain from the root along the ring (broadcast), or along the ring into the root (reduce).
        for (std::size_t c = 0; c < G; ++c) {
          const std::size_t p = ring_position(comm, c, call.root);
          const std::size_t first = call.op == CollectiveOp::kBroadcast ? p : p + 1;
          for (std::size_t j = 0; j + 1 < n; ++j) {
            out.push_back({comm.ring_at(c, (first + j) % n), comm.ring_at(c, (first + j + 1) % n), S / dG});
          }
        }
        return;
      }
      const double per_edge = (all_reduce ? 2.0 : 1.0) * (dn - 1.0) / dn * S / dG;
      for (std::size_t c = 0; c < G; ++c) {
        for (std::size_t i = 0; i < n; ++i) out.push_back({comm.ring_at(c, i), comm.ring_at(c, (i + 1) % n), per_edge});
      }
      return;
    }
    case A::kTree: {
      const double d = S / (2.0 * dG);
      for (int tree = 0; tree < 2; ++tree) {
        for (std::size_t c = 0; c < G; ++c) {
          for (std::size_t s = 0; s < N; ++s) {
            const std::size_t k = comm.node_size(s);
            for (std::size_t j = 0; j + 1 < k; ++j) {
              const Rank a = comm.node_begin(s) + static_cast<Rank>((c + j) % k);
              const Rank b = comm.node_begin(s) + static_cast<Rank>((c + j + 1) % k);
              out.push_back({b, a, d});  // up the chain, towards the head
              out.push_back({a, b, d});  // down
            }
          }
          add_inter_tree(comm, tree, c, d, out);
        }
      }
      return;
    }
    case A::kNvls:
    case A::kNvlsTree:
    case A::kCollNetDirect:
    case A::kCollNetChain: {
      add_node_pairs(comm, (all_reduce ? 2.0 : 1.0) * S, out);
      if (N == 1) return;
      if (plan.algorithm == A::kNvlsTree) {
        const auto H = static_cast<std::size_t>(comm.graph().nvls_heads);
        const double d = S / (2.0 * static_cast<double>(H));
        for (int tree = 0; tree < 2; ++tree) {
          for (std::size_t h = 0; h < H; ++h) add_inter_tree(comm, tree, h, d, out);
        }
        return;
      }
      for (std::size_t r = 0; r < G; ++r) {
        for (std::size_t s = 0; s < N; ++s) out.push_back({comm.head(r, s), comm.head(r, (s + 1) % N), S / dG});
      }
      return;
    }
    case A::kP2p:
      break;
  }
  MFUSIM_CHECK(false, "no lowering for " + std::string(to_string(plan.algorithm)));
}

}  // namespace mfusim::collective
