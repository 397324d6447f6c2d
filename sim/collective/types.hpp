#pragma once
// The vocabulary of the collective layer: operations, NCCL's algorithms and protocols, fidelities, and
// the nccl-tests bus-bandwidth convention.
//
// Sizes follow nccl-tests (the `size` column), which is also the byte count NCCL's tuner sees
// (ncclFuncMaxSendRecvCount, ../shared/reference/nccl-model.md section 1):
//   all-reduce, broadcast, reduce   S = the buffer (count x element size)
//   all-gather                      S = the output buffer (n x per-rank input)
//   reduce-scatter                  S = the input buffer (n x per-rank output)
//   all-to-all                      S = one rank's send buffer (S/n to each rank, itself included)
//   send/recv                       S = the message
// algbw = S / t;  busbw = algbw x factor, with factor (nccl-tests doc/PERFORMANCE.md, src/*.cu *GetBw):
//   all-reduce 2(n-1)/n;  all-gather, reduce-scatter, all-to-all(v) (n-1)/n;  broadcast, reduce,
//   send/recv 1.
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace mfusim::collective {

enum class CollectiveOp {
  kAllReduce,
  kAllGather,
  kReduceScatter,
  kBroadcast,
  kReduce,
  kAllToAll,
  kAllToAllV,
  kSendRecv
};

// NCCL's algorithms in NCCL's own order (src/include/device.h NCCL_ALGO_*), which is also the order in
// which the tuner breaks ties; kP2p is NCCL's point-to-point engine (send/recv, all-to-all), which the
// tuner does not cost.
enum class Algorithm { kTree, kRing, kCollNetDirect, kCollNetChain, kNvls, kNvlsTree, kPat, kP2p };
inline constexpr std::size_t kTunedAlgorithms = 7;  // kTree .. kPat

// NCCL's protocols in NCCL's order (NCCL_PROTO_LL, NCCL_PROTO_LL128, NCCL_PROTO_SIMPLE).
enum class Protocol { kLl, kLl128, kSimple };
inline constexpr std::size_t kProtocols = 3;

enum class Fidelity { kAnalytical, kFlow };

// Canonical names: "all-reduce", "ring", "nvls_tree", "LL128", "analytical" ...
std::string_view to_string(CollectiveOp op);
std::string_view to_string(Algorithm a);
std::string_view to_string(Protocol p);
std::string_view to_string(Fidelity f);

const std::vector<CollectiveOp>& all_ops();
const std::vector<Algorithm>& all_algorithms();  // tuned ones and kP2p
const std::vector<Protocol>& all_protocols();

// Parsing is case-insensitive and ignores '-' and '_' ("allreduce", "All_Reduce", "NVLSTree", "ll128").
// Unknown names throw core::InputError: "unknown <what> 'x' (did you mean 'y'?); valid: a, b, ...".
CollectiveOp parse_op(std::string_view text, std::string_view what = "collective");
Algorithm parse_algorithm(std::string_view text, std::string_view what = "algorithm");
Protocol parse_protocol(std::string_view text, std::string_view what = "protocol");
Fidelity parse_fidelity(std::string_view text, std::string_view what = "fidelity");
// A comma-separated list ("ring,tree"); empty items are errors.
std::vector<Algorithm> parse_algorithms(std::string_view text, std::string_view what = "algorithm");
std::vector<Protocol> parse_protocols(std::string_view text, std::string_view what = "protocol");

// nccl-tests' bus-bandwidth factor for `ranks` ranks (0 for a single rank where the factor is (n-1)/n).
double bus_bandwidth_factor(CollectiveOp op, std::size_t ranks);

// Whether the operation reduces (redop column of nccl-tests) and whether it has a root.
bool is_reduction(CollectiveOp op);
bool has_root(CollectiveOp op);

}  // namespace mfusim::collective
