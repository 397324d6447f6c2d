#include "network/analytical_network.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>

#include "core/error.hpp"

namespace mfusim::network {

AnalyticalNetwork::AnalyticalNetwork(core::Engine& engine, Fabric& fabric) : engine_(engine), fabric_(fabric) {}

AnalyticalNetwork::RouteCost AnalyticalNetwork::route_cost(EndpointId src, EndpointId dst) {
  RouteCost cost{core::Duration::zero(), core::Bandwidth(0.0)};
  if (src == dst) return cost;
  double bottleneck = std::numeric_limits<double>::infinity();
  for (const LinkId l : fabric_.route(src, dst)) {
    const LinkSpec& spec = fabric_.link(l);
    cost.latency += spec.latency;
    bottleneck = std::min(bottleneck, spec.bandwidth.value());
  }
  if (bottleneck != std::numeric_limits<double>::infinity()) cost.bottleneck = core::Bandwidth(bottleneck);
  return cost;
}

core::Duration AnalyticalNetwork::transfer_time(EndpointId src, EndpointId dst, core::Bytes size) {
  check_transfer(fabric_, src, dst, size);
  const RouteCost cost = route_cost(src, dst);
  if (cost.bottleneck.value() <= 0.0 || size.count() == 0) return cost.latency;
  return cost.latency + size / cost.bottleneck;
}

TransferId AnalyticalNetwork::start_transfer(EndpointId src, EndpointId dst, core::Bytes size, Callback on_done,
                                             double max_rate) {
  check_transfer(fabric_, src, dst, size);
  if (!(max_rate >= 0.0)) throw core::InputError("transfer rate cap must be >= 0 bytes/s");
  const RouteCost cost = route_cost(src, dst);
  core::Duration time = cost.latency;
  if (cost.bottleneck.value() > 0.0 && size.count() > 0) {
    // The slower of the route's bottleneck and the sender's cap.
    const double rate = max_rate > 0.0 ? std::min(max_rate, cost.bottleneck.value()) : cost.bottleneck.value();
    time += core::Duration::from_seconds(size.as_double() / rate);
  }

  std::uint32_t slot = 0;
  if (!free_slots_.empty()) {
    slot = free_slots_.back();
    free_slots_.pop_back();
  } else {
    MFUSIM_CHECK(transfers_.size() < std::numeric_limits<std::uint32_t>::max(),
                 "AnalyticalNetwork: too many transfers");
    slot = static_cast<std::uint32_t>(transfers_.size());
    transfers_.emplace_back();
    callbacks_.emplace_back();
    free_slots_.reserve(transfers_.capacity());  // never grows when transfers end
  }
  const TransferId id = next_id_++;
  transfers_[slot] = Transfer{id, src, dst, size, engine_.now(), cost.latency, cost.bottleneck, true};
  callbacks_[slot] = std::move(on_done);
  ++live_;
  engine_.schedule_after(time, [this, slot] { finish(slot); });
  return id;
}

void AnalyticalNetwork::finish(std::uint32_t slot) {
  Transfer& t = transfers_[slot];
  MFUSIM_CHECK(t.live, "AnalyticalNetwork: completion of a transfer that is not in flight");
  t.live = false;
  --live_;
  const TransferId id = t.id;
  Callback callback = std::move(callbacks_[slot]);
  callbacks_[slot] = nullptr;
  free_slots_.push_back(slot);
  // The slot is released first: the callback may start new transfers (and reuse it).
  if (callback) callback(id, engine_.now());
}

void AnalyticalNetwork::describe_pending(std::vector<std::string>& out, std::size_t max_items) const {
  std::vector<const Transfer*> live;
  for (const Transfer& t : transfers_) {
    if (t.live) live.push_back(&t);
  }
  std::sort(live.begin(), live.end(), [](const Transfer* a, const Transfer* b) { return a->id < b->id; });
  const core::SimTime now = engine_.now();
  for (std::size_t i = 0; i < live.size() && i < max_items; ++i) {
    const Transfer& t = *live[i];
    // Bytes drain at the bottleneck rate once the latency has elapsed.
    const double draining = std::max(0.0, (now - t.start - t.latency).seconds());
    const double left = std::clamp(t.size.as_double() - draining * t.bottleneck.value(), 0.0, t.size.as_double());
    out.push_back(describe_transfer(t.id, t.src, t.dst, left));
  }
}

}  // namespace mfusim::network
