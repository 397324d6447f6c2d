#include "collective/cost_model.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include "core/error.hpp"
#include "core/strings.hpp"

namespace mfusim::collective {
namespace {

using A = Algorithm;
using P = Protocol;

constexpr std::size_t idx(GpuArch a) {
  return static_cast<std::size_t>(a);
}
constexpr std::size_t idx(Protocol p) {
  return static_cast<std::size_t>(p);
}

// Model refinements of ncclTopoTuneModel (NCCL 2.30.7 src/graph/tuning.cc).
constexpr double kRingLlFactor = 0.5;
constexpr double kRingLl128Factor = 0.92;
constexpr double kTreeFactor = 0.92;
constexpr double kTreeLlDivisor = 3.8;
constexpr double kTreeLl128SingleNode = 7.0 / 9.0;
constexpr double kTreeLl128MultiNode = 120.0 / 128.0;
constexpr double kPatFactor = 0.75;
constexpr double kCollNetDirectSm90Factor = 0.85;
constexpr double kTreeAlgbwRatio = 0.5;
// CollNetDirect latency: 0.4 us arity serialization per extra local rank.
constexpr double kCollNetArityLatencyUs = 0.4;
// PAT latency: log part divides the network hop by 3.5, linear part 2.8 us per rank.
constexpr double kPatLogDivisor = 3.5;
constexpr double kPatLinearUs = 2.8;
// getNetOverhead: 1 us Intel (and other) hosts, 2 us AMD; x3 for Simple.
constexpr double kNetOverheadIntelUs = 1.0;
constexpr double kNetOverheadAmdUs = 2.0;
constexpr double kNetOverheadSimpleFactor = 3.0;
// Ring Simple all-reduce across nodes ("plateau effect"): latency x 1.4 on SM80+, 1.9 before, when
// S / (nChannels x nRanks) >= 64 (ncclTopoGetAlgoTime).
constexpr double kRingPlateauSm80 = 1.4;
constexpr double kRingPlateauOld = 1.9;
constexpr double kRingPlateauBytes = 64.0;
// treeCorrectionFactor applies for log2(S >> 6) below 23 (Tree) and 24 (NVLSTree on SM100, x86).
constexpr int kTreeCorrectionLimit = 23;
constexpr int kNvlsTreeCorrectionLimit = 24;
// Channel reduction for small sizes (src/enqueue.cc topoGetAlgoInfo; src/include/comm.h, device.h):
// threads per CTA and bytes per thread before another channel is used.
constexpr int kSimpleThreads = 512;            // NCCL_SIMPLE_MAX_NTHREADS
constexpr int kMaxThreads = 640;               // NCCL_MAX_NTHREADS (Tree, PAT)
constexpr int kLlThreads = 512;                // NCCL_LL_MAX_NTHREADS
constexpr int kLl128Threads = 640;             // NCCL_LL128_MAX_NTHREADS
constexpr double kLlThreadThreshold = 8;       // NCCL_LL_THREAD_THRESHOLD (x nRanks for ring)
constexpr double kLl128ThreadThreshold = 8;    // NCCL_LL128_THREAD_THRESHOLD
constexpr double kSimpleThreadThreshold = 64;  // NCCL_SIMPLE_THREAD_THRESHOLD
// Point-to-point (ours, docs/models/collectives.md): NDR NICs deliver 46-49 of 50 GB/s in nccl-tests
// send/recv (nccl-points.yaml, nccl-tests issues 267 and 290): 0.95.
constexpr double kP2pNetEfficiency = 0.95;
constexpr double kP2pLlThresholdPerChannel = 16384;  // NCCL_P2P_LL_THRESHOLD, bytes per channel
constexpr double kP2pPeersPerBatch = 8;              // NCCL_MAX_DEV_WORK_P2P_PER_BATCH
constexpr double kP2pNetChannelBandwidth = 14;       // NCCL_P2P_PER_CHANNEL_NET_BW, GB/s
constexpr double kP2pLlBandwidthFactor = 0.5;        // LL: half of each 16-byte line is flags

constexpr double kInf = std::numeric_limits<double>::infinity();

int log2i(std::int64_t x) {
  int r = -1;
  while (x > 0) {
    x >>= 1;
    ++r;
  }
  return r;
}

bool contains(const std::vector<A>& v, A a) {
  return std::find(v.begin(), v.end(), a) != v.end();
}
bool contains(const std::vector<P>& v, P p) {
  return std::find(v.begin(), v.end(), p) != v.end();
}

bool nccl_tuned(CollectiveOp op) {
  return op != CollectiveOp::kAllToAll && op != CollectiveOp::kAllToAllV && op != CollectiveOp::kSendRecv;
}

// Which algorithms NCCL 2.30.7 considers for an operation.
bool implements(CollectiveOp op, A a) {
  switch (op) {
    case CollectiveOp::kAllReduce:
      return a != A::kPat && a != A::kP2p;
    case CollectiveOp::kAllGather:
    case CollectiveOp::kReduceScatter:
      return a == A::kRing || a == A::kPat || a == A::kNvls || a == A::kCollNetDirect;
    case CollectiveOp::kBroadcast:
    case CollectiveOp::kReduce:
      return a == A::kRing;
    default:
      return a == A::kP2p;
  }
}

std::string implemented_list(CollectiveOp op) {
  std::vector<std::string> names;
  for (A a : all_algorithms()) {
    if (implements(op, a)) names.emplace_back(to_string(a));
  }
  return core::join(names);
}

core::Duration us(double microseconds) {
  return core::Duration::from_seconds(microseconds * 1e-6);
}

double nsteps_of(CollectiveOp op, double n) {
  if (op == CollectiveOp::kAllReduce) return 2.0 * (n - 1.0);
  if (op == CollectiveOp::kAllGather || op == CollectiveOp::kReduceScatter) return n - 1.0;
  return n;
}

}  // namespace

CostModel::CostModel(TuningOptions options) : options_(std::move(options)) {}

CostModel::Entry CostModel::tune(const Communicator& comm, CollectiveOp op, A a, P p, bool collnet, bool nvls) const {
  Entry e;
  const CommGraph& g = comm.graph();
  const TunerConstants& c = options_.constants;
  const double n = static_cast<double>(comm.size());
  const std::size_t nodes = comm.node_count();
  const double N = static_cast<double>(nodes);
  const double ppn = n / N;
  const double ppn_i = std::floor(n / N);  // nRanks / nNodes in integer arithmetic
  const bool coll_net = a == A::kCollNetDirect || a == A::kCollNetChain;
  const bool is_nvls = a == A::kNvls || a == A::kNvlsTree;
  const bool ar = op == CollectiveOp::kAllReduce;
  const bool ag_rs = op == CollectiveOp::kAllGather || op == CollectiveOp::kReduceScatter;

  // Enablement.
  auto fail = [&e](std::string why) {
    e.reason = std::move(why);
    return e;
  };
  if (!implements(op, a)) {
    return fail(std::string(to_string(a)) + " does not implement " + std::string(to_string(op)) + " (NCCL " +
                c.nccl_version + ": " + implemented_list(op) + ")");
  }
  if ((is_nvls || coll_net || a == A::kPat) && p != P::kSimple) {
    return fail(std::string(to_string(a)) + " runs the Simple protocol only");
  }
  if (p == P::kLl128 && !g.ll128) return fail("LL128 is not enabled on this topology (needs NVLink inside nodes)");
  if (is_nvls) {
    if (!nvls) return fail("NVLS is disabled (NCCL_NVLS_ENABLE=0)");
    if (!g.nvls) return fail(g.nvls_unavailable);
    if (a == A::kNvlsTree && nodes == 1) return fail("nvls_tree needs more than one node");
    if (a == A::kNvls && nodes > 1 && !(collnet && g.sharp)) {
      return fail("nvls across nodes needs CollNet (SHARP switches and NCCL_COLLNET_ENABLE)");
    }
    if (a == A::kNvls && ag_rs && nodes > 1) return fail("nvls all-gather/reduce-scatter across nodes is not modelled");
  }
  if (coll_net) {
    if (nodes == 1) return fail(std::string(to_string(a)) + " needs more than one node");
    if (!g.sharp) return fail(std::string(to_string(a)) + " needs a fabric switch with SHARP (catalog sharp: true)");
    if (!collnet) return fail("CollNet is disabled (NCCL_COLLNET_ENABLE=0)");
    if (a == A::kCollNetDirect && !g.nvswitch) return fail("collnet_direct needs an NVSwitch in every node");
    if (ag_rs) return fail("collnet all-gather/reduce-scatter is not modelled");
  }
  if (a == A::kPat) {
    if (comm.max_ranks_per_node() != 1) return fail("pat needs one GPU per node");
    if (comm.size() < 2) return fail("pat needs at least two ranks");
  }

  // Bandwidth.
  const std::size_t arch = idx(g.arch);
  const std::size_t scale = nodes <= 2 ? nodes - 1 : 2;
  const std::size_t ll_row = nodes == 1 ? arch : (options_.cpu == CpuVendor::kAmd ? 1 : 0);
  const double ll_max_bw = c.ll_max_bw[ll_row][scale];
  const double per_ch_tree = c.per_channel_max_tree_bw[arch][scale];
  const double per_ch_ring_ll128 = c.per_channel_max_ring_ll128_bw[arch][scale];
  const double per_ch_tree_ll128 = c.per_channel_max_tree_ll128_bw[arch][scale];
  const double per_ch_nvls_tree = c.per_channel_max_nvls_tree_bw[arch][scale];

  double bw = (nodes <= 2 || coll_net) ? g.bw_intra : g.bw_inter;
  double nch = static_cast<double>(g.channels);
  if (is_nvls) {
    nch = static_cast<double>(g.nvls_heads);
    double intra = g.nvls_speed * c.nvls_efficiency[arch] * (nch - 1.0) / nch;
    intra *= ar ? 2.0 : (ppn - 1.0) / ppn;
    const double inter = nodes == 1 ? kInf : g.bw_inter * ((nodes <= 2 && a == A::kNvlsTree) ? 2.0 : 1.0);
    bw = std::min({intra, inter, a == A::kNvlsTree ? per_ch_nvls_tree : kInf});
    if (!(bw > 0)) return fail("nvls_tree has no bandwidth on this GPU generation");
  }
  double bus = nch * bw;
  if (a == A::kRing && p == P::kLl) bus = std::min(ll_max_bw, bus * kRingLlFactor);
  if (a == A::kRing && p == P::kLl128) bus = std::min(bus * kRingLl128Factor, nch * per_ch_ring_ll128);
  if (a == A::kTree && ar) bus = std::min(bus * kTreeFactor, nch * per_ch_tree);
  if (a == A::kTree && p == P::kLl) bus = std::min(bus / kTreeLlDivisor, ll_max_bw);
  if (a == A::kTree && p == P::kLl128) {
    bus = std::min(bus * (nodes == 1 ? kTreeLl128SingleNode : kTreeLl128MultiNode), nch * per_ch_tree_ll128);
  }
  if (a == A::kPat) bus *= kPatFactor;
  if (a == A::kCollNetDirect && ar) {
    double f = ppn / nch;
    f -= (f - 1.0) / 2.0;
    bus /= f;
    if (g.sm >= 90) bus *= kCollNetDirectSm90Factor;
  }
  const double nsteps = nsteps_of(op, n);
  if (!(a != A::kRing && ag_rs)) {
    bus *= (a == A::kRing || is_nvls) ? n / nsteps : kTreeAlgbwRatio;
  }
  e.bandwidth_gbps = bus;

  // Latency.
  const HwLink intra_hw = g.intra_link;
  double lat = c.base_latency(a, p);
  double intra_lat = c.hw_latency(intra_hw, a, p);
  const double inter_lat = ppn == 1.0 ? c.hw_latency(HwLink::kNet, A::kTree, p) : c.hw_latency(HwLink::kNet, a, p);
  const double log_nodes = static_cast<double>(log2i(static_cast<std::int64_t>(nodes)));
  switch (a) {
    case A::kRing: {
      if (op == CollectiveOp::kBroadcast || op == CollectiveOp::kReduce) {
        const HwLink hw = nodes == 1 ? intra_hw : HwLink::kNet;
        if (nodes == 1) {
          // One NVSwitch node: every channel gets the same ring (sameChannels), one hop of latency.
          lat += c.hw_latency(hw, a, p);
        } else {
          const double hop = p == P::kSimple ? c.hw_latency(hw, A::kTree, p) : c.hw_latency(hw, a, p);
          lat += nsteps * hop;
        }
      } else {
        double overhead = 0;
        if (nodes > 1) {
          overhead = options_.cpu == CpuVendor::kAmd ? kNetOverheadAmdUs : kNetOverheadIntelUs;
          if (p == P::kSimple) overhead *= kNetOverheadSimpleFactor;
        }
        intra_lat = std::max(intra_lat, overhead);
        const double n_inter = nodes == 1 ? 0.0 : (ar ? 2.0 * (N - 1.0) : N - 1.0);
        lat += (nsteps - n_inter) * intra_lat + n_inter * inter_lat;
      }
      break;
    }
    case A::kTree:
      lat += 2.0 * ((ppn_i - 1.0) * intra_lat + log_nodes * inter_lat);
      break;
    case A::kCollNetDirect:
      lat += 2.0 * (std::min(1.0, ppn_i - 1.0) * intra_lat + (ppn_i - 1.0) * kCollNetArityLatencyUs) + inter_lat;
      break;
    case A::kCollNetChain:
      lat += 2.0 * (ppn_i - 1.0) * intra_lat + inter_lat;
      break;
    case A::kNvls:
      lat = intra_lat + (nodes > 1 ? inter_lat : 0.0);
      break;
    case A::kNvlsTree:
      lat += intra_lat + 2.0 * log_nodes * inter_lat;
      break;
    case A::kPat:
      lat += log_nodes * (inter_lat / kPatLogDivisor) + n * kPatLinearUs;
      break;
    case A::kP2p:
      break;
  }
  e.latency_us = lat;
  e.ok = e.bandwidth_gbps > 0;
  if (!e.ok) e.reason = "no bandwidth";
  return e;
}

std::vector<Candidate> CostModel::candidates(const Communicator& comm, CollectiveOp op, core::Bytes bytes,
                                             const Selection& selection) const {
  MFUSIM_CHECK(nccl_tuned(op), "candidates() is for NCCL-tuned collectives");
  const CommGraph& g = comm.graph();
  const TunerConstants& c = options_.constants;
  const Selection& sel = selection.empty() ? options_.selection : selection;
  // Asking for CollNet or NVLS by name enables it (as NCCL_COLLNET_ENABLE / NCCL_NVLS_ENABLE would).
  const bool collnet = options_.collnet || contains(sel.algorithms, A::kCollNetDirect) ||
                       contains(sel.algorithms, A::kCollNetChain) ||
                       (contains(sel.algorithms, A::kNvls) && comm.node_count() > 1);
  const bool nvls = options_.nvls || contains(sel.algorithms, A::kNvls) || contains(sel.algorithms, A::kNvlsTree);
  const double S = bytes.as_double();
  const int log_size = log2i(bytes.count() >> 6);
  std::vector<Candidate> out;
  for (std::size_t ai = 0; ai < kTunedAlgorithms; ++ai) {
    const auto a = static_cast<A>(ai);
    for (P p : all_protocols()) {
      Candidate cand;
      cand.algorithm = a;
      cand.protocol = p;
      if ((!sel.algorithms.empty() && !contains(sel.algorithms, a)) ||
          (!sel.protocols.empty() && !contains(sel.protocols, p))) {
        cand.unavailable = "not selected";
        out.push_back(cand);
        continue;
      }
      const Entry e = tune(comm, op, a, p, collnet, nvls);
      if (!e.ok) {
        cand.unavailable = e.reason;
        out.push_back(cand);
        continue;
      }
      double bw = e.bandwidth_gbps;
      double lat = e.latency_us;
      const bool ar = op == CollectiveOp::kAllReduce;
      if (a == A::kTree && ar && log_size >= 0 && log_size < kTreeCorrectionLimit) {
        bw *= c.tree_correction[idx(p)][static_cast<std::size_t>(log_size)];
      }
      if (a == A::kNvlsTree && ar && log_size >= 0 && log_size < kNvlsTreeCorrectionLimit && g.sm >= 100) {
        bw *= c.tree_correction[idx(p)][static_cast<std::size_t>(log_size)];
      }
      if (a == A::kRing && p == P::kSimple && comm.node_count() > 1 && ar &&
          S / (static_cast<double>(g.ctas) * static_cast<double>(comm.size())) >= kRingPlateauBytes) {
        lat *= g.sm >= 80 ? kRingPlateauSm80 : kRingPlateauOld;
      }
      cand.available = true;
      cand.latency_us = lat;
      cand.bandwidth_gbps = bw;
      cand.time_us = lat + S / (1000.0 * bw);
      out.push_back(cand);
    }
  }
  return out;
}

int CostModel::channels_for(const Communicator& comm, A a, P p, core::Bytes bytes) const {
  const CommGraph& g = comm.graph();
  if (a == A::kNvls || a == A::kNvlsTree) return g.nvls_ctas;
  int threads = kSimpleThreads;
  double threshold = kSimpleThreadThreshold;
  if (p == P::kLl) {
    threads = kLlThreads;
    threshold = kLlThreadThreshold * (a == A::kRing ? static_cast<double>(comm.size()) : 1.0);
  } else if (p == P::kLl128) {
    threads = kLl128Threads;
    threshold = kLl128ThreadThreshold;
  } else if (a == A::kTree || a == A::kPat) {
    threads = kMaxThreads;
  }
  int nc = g.ctas;
  while (bytes.as_double() < nc * threads * threshold && nc >= 2) --nc;
  return nc;
}

CollectivePlan CostModel::plan(const Communicator& comm, const CollectiveCall& call) const {
  if (!cache_enabled_ || !call.selection.empty() || !call.pair_bytes.empty()) return plan_uncached(comm, call);
  const PlanKey key{&comm, static_cast<int>(call.op), call.bytes.count(), call.root, call.peer};
  const auto it = cache_.find(key);
  if (it != cache_.end()) return it->second;
  return cache_.emplace(key, plan_uncached(comm, call)).first->second;
}

CollectivePlan CostModel::plan_uncached(const Communicator& comm, const CollectiveCall& call) const {
  const std::size_t n = comm.size();
  if (call.bytes.count() < 0) throw core::InputError(std::string(to_string(call.op)) + ": negative size");
  if (has_root(call.op) && call.root >= n) {
    throw core::InputError(std::string(to_string(call.op)) + ": root rank " + std::to_string(call.root) +
                           " is outside the communicator (valid: 0 to " + std::to_string(n - 1) + ")");
  }
  const Selection& sel = call.selection.empty() ? options_.selection : call.selection;
  if (!nccl_tuned(call.op)) return plan_p2p(comm, call, sel);

  CollectivePlan plan;
  plan.op = call.op;
  plan.bytes = call.bytes;
  plan.ranks = n;
  if (n == 1 || call.bytes.count() == 0) {
    plan.algorithm = A::kRing;
    plan.protocol = P::kSimple;
    plan.bandwidth_gbps = 0;
    plan.channels = 0;
    return plan;
  }
  const auto cands = candidates(comm, call.op, call.bytes, sel);
  const Candidate* best = nullptr;
  for (const auto& c : cands) {
    if (c.available && (best == nullptr || c.time_us < best->time_us)) best = &c;
  }
  if (best == nullptr) {
    // One reason per algorithm: its Simple candidate's (every algorithm runs Simple), else the first.
    std::vector<std::string> seen;
    for (std::size_t ai = 0; ai < kTunedAlgorithms; ++ai) {
      const Candidate* why = nullptr;
      for (const auto& c : cands) {
        if (static_cast<std::size_t>(c.algorithm) != ai || c.unavailable == "not selected") continue;
        if (why == nullptr || c.protocol == P::kSimple) why = &c;
      }
      if (why != nullptr) seen.push_back(std::string(to_string(why->algorithm)) + ": " + why->unavailable);
    }
    throw core::InputError("no algorithm/protocol available for " + std::string(to_string(call.op)) + " on " +
                           comm.describe() + " (" + core::join(seen, "; ") + ")");
  }
  plan.algorithm = best->algorithm;
  plan.protocol = best->protocol;
  plan.latency_us = best->latency_us;
  plan.bandwidth_gbps = best->bandwidth_gbps;
  plan.nccl_time_us = best->time_us;
  // eta's argument: the slice of the buffer each rank works on (efficiency_curve.hpp).
  double slice = call.bytes.as_double() / static_cast<double>(n);
  if (plan.algorithm == A::kTree) {
    slice = call.bytes.as_double();
  } else if (plan.algorithm == A::kNvlsTree || plan.algorithm == A::kCollNetDirect ||
             plan.algorithm == A::kCollNetChain || (plan.algorithm == A::kNvls && comm.node_count() > 1)) {
    slice = call.bytes.as_double() / static_cast<double>(comm.max_ranks_per_node());
  }
  plan.efficiency = options_.efficiency.at(slice);
  plan.latency = us(best->latency_us);
  plan.transfer = us(call.bytes.as_double() / (1000.0 * best->bandwidth_gbps * plan.efficiency));
  plan.channels = channels_for(comm, plan.algorithm, plan.protocol, call.bytes);
  return plan;
}

CollectivePlan CostModel::plan_p2p(const Communicator& comm, const CollectiveCall& call, const Selection& sel) const {
  const CommGraph& g = comm.graph();
  const TunerConstants& c = options_.constants;
  const std::size_t n = comm.size();
  const bool ll_allowed = sel.protocols.empty() || contains(sel.protocols, P::kLl);
  const double net_bw = g.nic_bandwidth * kP2pNetEfficiency;
  auto hop_latency = [&](HwLink link, P p) { return c.base_latency(A::kRing, p) + c.hw_latency(link, A::kRing, p); };

  CollectivePlan plan;
  plan.op = call.op;
  plan.algorithm = A::kP2p;
  plan.ranks = n;
  plan.efficiency = 1.0;

  if (call.op == CollectiveOp::kSendRecv) {
    if (call.root >= n || call.peer >= n) {
      throw core::InputError("sendrecv: ranks " + std::to_string(call.root) + " -> " + std::to_string(call.peer) +
                             " are outside the communicator (valid: 0 to " + std::to_string(n - 1) + ")");
    }
    plan.bytes = call.bytes;
    if (call.root == call.peer || call.bytes.count() == 0) {
      plan.protocol = P::kSimple;
      return plan;
    }
    const bool same_node = comm.node_slot(call.root) == comm.node_slot(call.peer);
    const HwLink link = same_node ? g.intra_link : HwLink::kNet;
    const int channels =
        same_node ? g.p2p_channels
                  : std::min(g.p2p_channels,
                             std::max(1, static_cast<int>(std::ceil(g.nic_bandwidth / kP2pNetChannelBandwidth))));
    const double S = call.bytes.as_double();
    const P p = ll_allowed && S <= channels * kP2pLlThresholdPerChannel ? P::kLl : P::kSimple;
    double bw = same_node ? g.intra_bandwidth : net_bw;
    if (p == P::kLl) bw *= kP2pLlBandwidthFactor;
    plan.protocol = p;
    plan.channels = channels;
    plan.latency_us = hop_latency(link, p);
    plan.bandwidth_gbps = bw;
    plan.nccl_time_us = plan.latency_us + S / (1000.0 * bw);
    plan.latency = us(plan.latency_us);
    plan.transfer = us(S / (1000.0 * bw));
    return plan;
  }

  // All-to-all(v): per-rank intra- and inter-node bytes, in both directions.
  std::vector<double> intra_out(n, 0), intra_in(n, 0), inter_out(n, 0), inter_in(n, 0);
  double largest_pair = 0;
  double largest_send = 0;
  if (call.op == CollectiveOp::kAllToAllV) {
    if (call.pair_bytes.size() != n * n) {
      throw core::InputError("all-to-allv: needs " + std::to_string(n * n) + " pair sizes (n x n for " +
                             std::to_string(n) + " ranks), got " + std::to_string(call.pair_bytes.size()));
    }
  }
  const double even = call.bytes.as_double() / static_cast<double>(n);
  for (std::size_t s = 0; s < n; ++s) {
    double sent = 0;
    for (std::size_t d = 0; d < n; ++d) {
      double b = even;
      if (call.op == CollectiveOp::kAllToAllV) {
        const auto v = call.pair_bytes[s * n + d];
        if (v.count() < 0)
          throw core::InputError("all-to-allv: negative size for pair " + std::to_string(s) + " -> " +
                                 std::to_string(d));
        b = v.as_double();
      }
      sent += b;
      if (s == d) continue;
      largest_pair = std::max(largest_pair, b);
      if (comm.node_slot(static_cast<Rank>(s)) == comm.node_slot(static_cast<Rank>(d))) {
        intra_out[s] += b;
        intra_in[d] += b;
      } else {
        inter_out[s] += b;
        inter_in[d] += b;
      }
    }
    largest_send = std::max(largest_send, sent);
  }
  plan.bytes = call.op == CollectiveOp::kAllToAllV ? core::Bytes(static_cast<std::int64_t>(largest_send)) : call.bytes;
  if (n == 1 || largest_pair == 0) {
    plan.protocol = P::kSimple;
    return plan;
  }
  const P p = ll_allowed && largest_pair <= kP2pLlThresholdPerChannel ? P::kLl : P::kSimple;
  const double ll = p == P::kLl ? kP2pLlBandwidthFactor : 1.0;
  double worst = 0;  // ns (bytes / GB/s)
  for (std::size_t r = 0; r < n; ++r) {
    const double k = static_cast<double>(comm.node_size(comm.node_slot(static_cast<Rank>(r))));
    const double intra = std::max(intra_out[r], intra_in[r]) / (g.intra_bandwidth * ll);
    double inter = 0;
    if (comm.node_count() > 1) {
      const double per_gpu = static_cast<double>(g.nics_per_node) * net_bw / k;
      inter = std::max(inter_out[r], inter_in[r]) / (per_gpu * ll);
    }
    worst = std::max({worst, intra, inter});
  }
  const HwLink far = comm.node_count() > 1 ? HwLink::kNet : g.intra_link;
  plan.protocol = p;
  plan.channels = g.p2p_channels;
  plan.latency_us = std::ceil(static_cast<double>(n - 1) / kP2pPeersPerBatch) * hop_latency(far, p);
  plan.transfer = us(worst / 1000.0);
  plan.bandwidth_gbps = plan.bytes.as_double() / worst;  // bytes per ns = GB/s
  plan.nccl_time_us = plan.latency_us + worst / 1000.0;
  plan.latency = us(plan.latency_us);
  return plan;
}

}  // namespace mfusim::collective
