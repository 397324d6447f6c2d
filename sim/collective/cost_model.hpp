#pragma once
// NCCL's collective cost model and tuner, NCCL 2.30.7 (src/graph/tuning.cc ncclTopoTuneModel,
// ncclTopoGetAlgoTime; src/enqueue.cc topoGetAlgoInfo), on a Communicator's derived graph, plus a
// point-to-point model for send/recv and all-to-all. Constants: tuner_constants.hpp; equations:
// ../shared/reference/nccl-model.md section 5; docs/models/collectives.md.
//
// Time of one collective of S bytes (nccl-tests size), algorithm a, protocol p, in us and GB/s:
//   t = lat(a, p) + S / (1000 x algbw(a, p, S) x eta(slice)), slice as in efficiency_curve.hpp
// Bandwidth (per channel bw = bwIntra for <= 2 nodes or CollNet, else bwInter; nCh graph channels):
//   busBw = nCh x bw;  Ring LL: min(llMaxBw, 0.5 busBw);  Ring LL128: min(0.92 busBw, nCh x perChMaxRingLL128Bw)
//   Tree (all-reduce): min(0.92 busBw, nCh x perChMaxTreeBw), then LL: min(busBw / 3.8, llMaxBw),
//     LL128: min(busBw x (7/9 on 1 node, else 120/128), nCh x perChMaxTreeLL128Bw)
//   NVLS / NVLSTree: bw = min(speed x nvlsEff x (h-1)/h x (2 for all-reduce, else (ppn-1)/ppn),
//     bwInter x (2 for NVLSTree on <= 2 nodes) [multi-node only], perChMaxNVLSTreeBw [NVLSTree]), nCh = h
//   PAT: x 0.75;  CollNetDirect all-reduce: / (f - (f-1)/2), f = ppn / nCh, x 0.85 on SM90+
//   algbw = busBw x n / nsteps (Ring, NVLS, NVLSTree; nsteps = 2(n-1), n-1, n for all-reduce, AG/RS,
//     broadcast/reduce), x 0.5 (Tree, CollNet all-reduce), unchanged (non-ring AG/RS)
//   Tree all-reduce (and NVLSTree on SM100): algbw x treeCorrectionFactor[p][log2(S >> 6)]
// Latency (hwLat per hop: intra = NVLink or PCI, inter = NET; ppn = n / nNodes):
//   Ring AR/AG/RS: baseLat + (nsteps - nInter) max(intra, netOverhead) + nInter x inter,
//     nInter = 2(N-1) AR, N-1 AG/RS (0 on one node); netOverhead 1 us (Intel) / 2 us (AMD), x3 Simple,
//     multi-node only; ring Simple all-reduce across nodes with S / (CTAs x n) >= 64: lat x 1.4 (SM80+)
//   Ring broadcast/reduce: baseLat + hop (one node: identical channels assumed) or + n x hop (Simple: the
//     Tree hop) across nodes
//   Tree: baseLat + 2((ppn-1) intra + log2(N) inter);  NVLS: intra (25 us) + inter (multi-node)
//   NVLSTree: intra + 2 log2(N) inter;  CollNetDirect: 2(min(1, ppn-1) intra + 0.4 (ppn-1)) + inter;
//   CollNetChain: 2 (ppn-1) intra + inter;  PAT: baseLat + log2(N) inter / 3.5 + 2.8 n
//   (inter uses the Tree row when ppn = 1; IB adds no graph latency)
// Selection: the (algorithm, protocol) with the smallest NCCL time (eta = 1), ties to the first in
// NCCL's order, over the enabled ones: LL128 where NCCL enables it by default (NVLink inside nodes,
// Volta+), NVLS/NVLSTree/CollNet/PAT Simple only, NVLSTree multi-node only, NVLS across nodes and
// CollNet only with CollNet enabled on SHARP switches (NCCL_COLLNET_ENABLE), CollNetDirect only with
// NVSwitch, PAT only with one GPU per node. TuningOptions::selection and CollectiveCall::selection restrict
// the choice like NCCL_ALGO / NCCL_PROTO; a restriction that leaves nothing is an InputError.
// Assumptions beyond NCCL's source: balanced trees (no x0.85 TREE-pattern factor), x86 hosts, InfiniBand
// (graph latencyInter 0).
//
// Point-to-point (NCCL does not cost it in its tuner; constants are ours, docs/models/collectives.md):
//   send/recv:  t = baseLat[Ring][p] + hwLat[link][Ring][p] + S / bw, bw = T (same node) or
//               NIC x 0.95 (other node; nccl-points.yaml: 46-49 of 50 GB/s per NDR NIC), LL (x 0.5 bw)
//               when S <= channels x 16 KiB (NCCL_P2P_LL_THRESHOLD), else Simple
//   all-to-all: t = ceil((n-1) / 8) x (p2p latency of the farthest peer) + max over ranks of
//               max(intra bytes / T, inter bytes / (NICs per node x NIC x 0.95 / ranks per node))
//               (8 = NCCL_MAX_DEV_WORK_P2P_PER_BATCH peers per batch; PXN spreads a node's traffic over
//               its NICs), LL when every pair moves <= 16 KiB
// Zero bytes, or a single rank, take zero time (NCCL returns before launching a kernel / copies locally).
#include <cstdint>
#include <map>
#include <string>
#include <tuple>
#include <vector>

#include "collective/communicator.hpp"
#include "collective/efficiency_curve.hpp"
#include "collective/tuner_constants.hpp"
#include "collective/types.hpp"
#include "core/time.hpp"
#include "core/units.hpp"

namespace mfusim::collective {

enum class CpuVendor { kIntel, kAmd };

// NCCL_ALGO / NCCL_PROTO: when a list is non-empty, only its members may be chosen.
struct Selection {
  std::vector<Algorithm> algorithms;
  std::vector<Protocol> protocols;
  bool empty() const { return algorithms.empty() && protocols.empty(); }
};

struct TuningOptions {
  Selection selection;   // defaults for every call (NCCL_ALGO / NCCL_PROTO)
  bool nvls = true;      // NCCL_NVLS_ENABLE
  bool collnet = false;  // NCCL_COLLNET_ENABLE (CollNet needs SHARP switches too)
  CpuVendor cpu = CpuVendor::kIntel;
  TunerConstants constants = TunerConstants::nccl_2_30_7();
  EfficiencyCurve efficiency = EfficiencyCurve::calibrated();
};

// One collective call on a communicator.
struct CollectiveCall {
  CollectiveOp op = CollectiveOp::kAllReduce;
  core::Bytes bytes;                    // nccl-tests size (types.hpp); all-to-allv: ignored
  Rank root = 0;                        // broadcast / reduce root; send/recv: the sender
  Rank peer = 0;                        // send/recv: the receiver
  std::vector<core::Bytes> pair_bytes;  // all-to-allv: n x n, [src * n + dst]
  Selection selection;                  // overrides TuningOptions::selection for this call when not empty
  int sms = -1;                         // SMs held per GPU while it runs; -1: the plan's channels
};

// What the tuner decided and how long it takes (analytical fidelity).
struct CollectivePlan {
  CollectiveOp op = CollectiveOp::kAllReduce;
  Algorithm algorithm = Algorithm::kRing;
  Protocol protocol = Protocol::kSimple;
  core::Bytes bytes;  // nccl-tests size (all-to-allv: the largest per-rank send total)
  std::size_t ranks = 0;
  double latency_us = 0;      // latency term
  double bandwidth_gbps = 0;  // NCCL's modelled algorithm bandwidth (corrections applied), GB/s
  double efficiency = 1;      // eta(slice) (efficiency_curve.hpp)
  double nccl_time_us = 0;    // NCCL's own estimate (eta = 1)
  core::Duration latency;     // latency_us
  core::Duration transfer;    // bytes / (bandwidth x efficiency)
  int channels = 0;           // CTAs (one SM each) per GPU while it runs
  core::Duration time() const { return latency + transfer; }
};

// One (algorithm, protocol) as NCCL's tuner evaluates it for an operation and size.
struct Candidate {
  Algorithm algorithm = Algorithm::kRing;
  Protocol protocol = Protocol::kSimple;
  bool available = false;
  std::string unavailable;  // why not, when !available
  double latency_us = 0;
  double bandwidth_gbps = 0;  // after the size-dependent corrections
  double time_us = 0;         // NCCL's estimate
};

class CostModel {
 public:
  explicit CostModel(TuningOptions options = {});

  const TuningOptions& options() const { return options_; }

  // Validates the call (root/peer ranks, all-to-allv matrix size, non-negative sizes; InputError) and
  // returns the tuner's choice and its time.
  CollectivePlan plan(const Communicator& comm, const CollectiveCall& call) const;

  // Remembers plan()'s answer per (communicator address, op, size, root, peer) for calls without a
  // per-call selection or all-to-allv matrix: a training step repeats the same few collectives
  // thousands of times. Only for owners whose communicators all outlive this model and are never
  // re-created at a freed address (scenario::CollectiveCommunication keeps them all for the step).
  void cache_plans_per_communicator() { cache_enabled_ = true; }

  // Every tuned (algorithm, protocol) pair for an NCCL-tuned operation, in NCCL's order, honouring the
  // selection (unselected pairs are unavailable with the reason "not selected").
  std::vector<Candidate> candidates(const Communicator& comm, CollectiveOp op, core::Bytes bytes,
                                    const Selection& selection = {}) const;

  // CTAs a ring/tree-family algorithm launches for `bytes` (NCCL reduces channels for small sizes).
  int channels_for(const Communicator& comm, Algorithm a, Protocol p, core::Bytes bytes) const;

 private:
  struct Entry {
    bool ok = false;
    std::string reason;
    double latency_us = 0;
    double bandwidth_gbps = 0;
  };
  Entry tune(const Communicator& comm, CollectiveOp op, Algorithm a, Protocol p, bool collnet, bool nvls) const;
  CollectivePlan plan_p2p(const Communicator& comm, const CollectiveCall& call, const Selection& sel) const;
  CollectivePlan plan_uncached(const Communicator& comm, const CollectiveCall& call) const;

  TuningOptions options_;
  bool cache_enabled_ = false;
  using PlanKey = std::tuple<const Communicator*, int, std::int64_t, Rank, Rank>;
  mutable std::map<PlanKey, CollectivePlan> cache_;
};

}  // namespace mfusim::collective
