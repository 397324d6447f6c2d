#pragma once
// AnalyticalNetwork: the contention-free baseline network model (docs/models/network.md).
//
// Model
//   A transfer of S bytes from GPU a to GPU b over the route l_1 .. l_k (Fabric::route) takes
//       T = sum_i latency(l_i) + S / min_i bandwidth(l_i)
//   (the alpha-beta or "postal" model: alpha = the summed per-hop latencies, beta = 1 / bottleneck
//   bandwidth). Units: bytes, bytes per second, picoseconds; S / B is rounded once to the nearest
//   picosecond (core::operator/(Bytes, Bandwidth)), so T equals the FlowNetwork time of a transfer that
//   is alone on its route, to the picosecond.
//   src == dst completes after zero time; a zero-byte transfer pays the latency only.
//
// Assumptions and limits
//   No contention: concurrent transfers never slow each other down, so the model is exact only when
//   every link carries at most one transfer at a time and is optimistic otherwise (FlowNetwork shares
//   links max-min fairly). No packetisation, pipelining across hops or protocol overhead beyond what
//   the per-link latencies and bandwidths already carry.
//
// Cost: O(route length) per start() (the route comes from the Fabric's cache), one engine event per
//   transfer, O(1) per completion; transfer records live in a recycled slot array.
//
// Sources: R. Hockney, "The communication challenge for MPP", Parallel Computing 20 (1994) (the
//   alpha-beta model); ASTRA-sim's analytical backend (congestion-unaware mode) uses the same equation.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/engine.hpp"
#include "network/fabric.hpp"
#include "network/network_model.hpp"

namespace mfusim::network {

class AnalyticalNetwork final : public NetworkModel {
 public:
  // Both must outlive this object; register it with engine.add_pending_source() to have unfinished
  // transfers reported when a run stalls.
  AnalyticalNetwork(core::Engine& engine, Fabric& fabric);

  using NetworkModel::start;
  std::string_view name() const override { return "analytical"; }

  std::size_t pending_count() const override { return live_; }
  void describe_pending(std::vector<std::string>& out, std::size_t max_items) const override;

  // The closed form above for one transfer, without starting it.
  core::Duration transfer_time(EndpointId src, EndpointId dst, core::Bytes size);

 protected:
  TransferId start_transfer(EndpointId src, EndpointId dst, core::Bytes size, Callback on_done, double max_rate) override;

 private:
  struct Transfer {
    TransferId id = 0;
    EndpointId src = 0;
    EndpointId dst = 0;
    core::Bytes size;
    core::SimTime start;
    core::Duration latency;
    core::Bandwidth bottleneck;  // 0 for an empty route
    bool live = false;
  };
  struct RouteCost {
    core::Duration latency;
    core::Bandwidth bottleneck;
  };

  RouteCost route_cost(EndpointId src, EndpointId dst);
  void finish(std::uint32_t slot);

  core::Engine& engine_;
  Fabric& fabric_;
  std::vector<Transfer> transfers_;
  std::vector<Callback> callbacks_;
  std::vector<std::uint32_t> free_slots_;
  TransferId next_id_ = 0;
  std::size_t live_ = 0;
};

}  // namespace mfusim::network
