#pragma once
// Flow fidelity: each collective is lowered to concurrent long-lived transfers on a network::NetworkModel
// (flow_lowering.hpp), so collectives of different communicators contend where they share links.
//
// Model. For a collective with CostModel plan (latency term L, bandwidth term B = S / (algbw x eta)) and
// transfers f of payload bytes b_f over routes R_f (the Fabric's) with latencies L_f:
//   T_phys = max over links l of (sum of b_f over f crossing l) / bandwidth(l)
//            (the time the links need for the payload, alone: the max-min makespan when the busiest link
//            is every transfer's bottleneck, as on the symmetric rings, trees and NVLS exchanges here);
//   x      = B / T_phys: every transfer carries x b_f bytes, so that alone on the fabric the transfers
//            drain in B (x > 1 stands for what NCCL loses to protocol flags, synchronisation and
//            pipelining - LL moves 2 bytes per payload byte - and for the calibrated eta; x < 1 where
//            NCCL's model credits more than the links carry, e.g. NVLSTree on two nodes);
//   start  transfer f starts at t0 + max(0, L - L_f), so every transfer enters its bandwidth phase at
//            t0 + L (latency first, then bandwidth, as in the network model): the latency term loads no
//            link and is not stretched by contention;
//   done   = when the last transfer completes.
// Alone, the collective therefore takes L + B, the analytical time, up to the max-min makespan's
// deviation from T_phys and picosecond rounding (tests: within 1%). Beside other traffic, each transfer
// gets its max-min share of every link it crosses, and the collective ends when its slowest transfer
// does. Transfers with equal start delays start from one engine event.
// Limits: at most kMaxTransfers transfers per collective (all-to-all over ~1,450 ranks); beyond, start()
// throws core::InputError (use the analytical fidelity). No chunk-level pipelining: a slow link slows
// the whole transfer, not individual steps, and a collective cannot start using a link before its
// latency term has passed.
#include <cstdint>
#include <vector>

#include "collective/collective_model.hpp"
#include "collective/flow_lowering.hpp"
#include "network/fabric.hpp"
#include "network/network_model.hpp"

namespace mfusim::collective {

class FlowCollectives final : public CollectiveModel {
 public:
  static constexpr std::size_t kMaxTransfers = std::size_t{1} << 21;

  // `network` moves the transfers; `fabric` is the one it runs on (routes and capacities for the
  // scaling above; endpoints = the topology's GPU indexes, as network::TopologyFabric provides). All
  // must outlive this object; register it with engine.add_pending_source().
  FlowCollectives(core::Engine& engine, const topology::Topology& topology, network::NetworkModel& network,
                  network::Fabric& fabric, CostModel cost_model = CostModel(), SmContention sm = {});

  CollectiveId start(const Communicator& comm, const CollectiveCall& call, Callback on_done) override;
  Fidelity fidelity() const override { return Fidelity::kFlow; }

  // The byte scale x of the most recently started collective (diagnostics and tests).
  double last_scale() const { return last_scale_; }
  std::size_t transfers_started() const { return transfers_started_; }

 private:
  struct Staged {
    Transfer transfer;
    std::int64_t delay_ps = 0;
    double max_rate = 0.0;  // bytes/s cap at the sender (0 = none)
  };
  void launch(std::uint32_t slot, std::size_t begin, std::size_t end);
  void transfer_done(std::uint32_t slot);

  network::NetworkModel& network_;
  network::Fabric& fabric_;
  std::vector<Transfer> scratch_;
  std::vector<std::vector<Staged>> staged_;  // by slot: transfers waiting for their start
  std::vector<std::size_t> staged_left_;     // by slot: batches not launched yet
  std::vector<double> link_load_;
  std::vector<network::LinkId> touched_;
  double last_scale_ = 1.0;
  std::size_t transfers_started_ = 0;
};

}  // namespace mfusim::collective
