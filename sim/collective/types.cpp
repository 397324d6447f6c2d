#include "collective/types.hpp"

#include <cctype>

#include "core/error.hpp"
#include "core/strings.hpp"

namespace mfusim::collective {
namespace {

std::string normalized(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c == '-' || c == '_') continue;
    out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return out;
}

template <class E>
E parse_name(std::string_view text, std::string_view what, const std::vector<E>& values) {
  const std::string key = normalized(text);
  std::vector<std::string> names;
  for (E v : values) {
    if (normalized(to_string(v)) == key) return v;
    names.emplace_back(to_string(v));
  }
  std::string message = "unknown " + std::string(what) + " '" + std::string(text) + "'";
  if (auto m = core::closest_match(text, names)) message += " (did you mean '" + *m + "'?)";
  message += "; valid: " + core::join(names);
  throw core::InputError(message);
}

template <class E, class F>
std::vector<E> parse_list(std::string_view text, std::string_view what, F&& parse_one) {
  std::vector<E> out;
  std::size_t start = 0;
  while (true) {
    const std::size_t comma = text.find(',', start);
    const std::string_view item =
        text.substr(start, comma == std::string_view::npos ? std::string_view::npos : comma - start);
    if (item.empty()) {
      throw core::InputError("empty " + std::string(what) + " in the list '" + std::string(text) + "'");
    }
    out.push_back(parse_one(item, what));
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  return out;
}

}  // namespace

std::string_view to_string(CollectiveOp op) {
  switch (op) {
    case CollectiveOp::kAllReduce:
      return "all-reduce";
    case CollectiveOp::kAllGather:
      return "all-gather";
    case CollectiveOp::kReduceScatter:
      return "reduce-scatter";
    case CollectiveOp::kBroadcast:
      return "broadcast";
    case CollectiveOp::kReduce:
      return "reduce";
    case CollectiveOp::kAllToAll:
      return "all-to-all";
    case CollectiveOp::kAllToAllV:
      return "all-to-allv";
    case CollectiveOp::kSendRecv:
      return "sendrecv";
  }
  return "?";
}

std::string_view to_string(Algorithm a) {
  switch (a) {
    case Algorithm::kTree:
      return "tree";
    case Algorithm::kRing:
      return "ring";
    case Algorithm::kCollNetDirect:
      return "collnet_direct";
    case Algorithm::kCollNetChain:
      return "collnet_chain";
    case Algorithm::kNvls:
      return "nvls";
    case Algorithm::kNvlsTree:
      return "nvls_tree";
    case Algorithm::kPat:
      return "pat";
    case Algorithm::kP2p:
      return "p2p";
  }
  return "?";
}

std::string_view to_string(Protocol p) {
  switch (p) {
    case Protocol::kLl:
      return "LL";
    case Protocol::kLl128:
      return "LL128";
    case Protocol::kSimple:
      return "Simple";
  }
  return "?";
}

std::string_view to_string(Fidelity f) {
  switch (f) {
    case Fidelity::kAnalytical:
      return "analytical";
    case Fidelity::kFlow:
      return "flow";
  }
  return "?";
}

const std::vector<CollectiveOp>& all_ops() {
  static const std::vector<CollectiveOp> kOps{
      CollectiveOp::kAllReduce, CollectiveOp::kAllGather, CollectiveOp::kReduceScatter, CollectiveOp::kBroadcast,
      CollectiveOp::kReduce,    CollectiveOp::kAllToAll,  CollectiveOp::kAllToAllV,     CollectiveOp::kSendRecv};
  return kOps;
}

const std::vector<Algorithm>& all_algorithms() {
  static const std::vector<Algorithm> kAlgorithms{Algorithm::kTree,         Algorithm::kRing, Algorithm::kCollNetDirect,
                                                  Algorithm::kCollNetChain, Algorithm::kNvls, Algorithm::kNvlsTree,
                                                  Algorithm::kPat,          Algorithm::kP2p};
  return kAlgorithms;
}

const std::vector<Protocol>& all_protocols() {
  static const std::vector<Protocol> kAll{Protocol::kLl, Protocol::kLl128, Protocol::kSimple};
  return kAll;
}

CollectiveOp parse_op(std::string_view text, std::string_view what) {
  return parse_name(text, what, all_ops());
}
Algorithm parse_algorithm(std::string_view text, std::string_view what) {
  return parse_name(text, what, all_algorithms());
}
Protocol parse_protocol(std::string_view text, std::string_view what) {
  return parse_name(text, what, all_protocols());
}
Fidelity parse_fidelity(std::string_view text, std::string_view what) {
  static const std::vector<Fidelity> kAll{Fidelity::kAnalytical, Fidelity::kFlow};
  return parse_name(text, what, kAll);
}

std::vector<Algorithm> parse_algorithms(std::string_view text, std::string_view what) {
  return parse_list<Algorithm>(text, what,
                               [](std::string_view s, std::string_view w) { return parse_algorithm(s, w); });
}

std::vector<Protocol> parse_protocols(std::string_view text, std::string_view what) {
  return parse_list<Protocol>(text, what, [](std::string_view s, std::string_view w) { return parse_protocol(s, w); });
}

double bus_bandwidth_factor(CollectiveOp op, std::size_t ranks) {
  if (ranks == 0) return 0.0;
  const double n = static_cast<double>(ranks);
  switch (op) {
    case CollectiveOp::kAllReduce:
      return 2.0 * (n - 1.0) / n;
    case CollectiveOp::kAllGather:
    case CollectiveOp::kReduceScatter:
    case CollectiveOp::kAllToAll:
    case CollectiveOp::kAllToAllV:
      return (n - 1.0) / n;
    case CollectiveOp::kBroadcast:
    case CollectiveOp::kReduce:
    case CollectiveOp::kSendRecv:
      return 1.0;
  }
  return 1.0;
}

bool is_reduction(CollectiveOp op) {
  return op == CollectiveOp::kAllReduce || op == CollectiveOp::kReduceScatter || op == CollectiveOp::kReduce;
}

bool has_root(CollectiveOp op) {
  return op == CollectiveOp::kBroadcast || op == CollectiveOp::kReduce;
}

}  // namespace mfusim::collective
