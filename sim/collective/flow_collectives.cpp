#include "collective/flow_collectives.hpp"

#include <algorithm>
#include <cmath>
#include <string>
#include <utility>
#include <vector>

#include "core/error.hpp"

namespace mfusim::collective {

FlowCollectives::FlowCollectives(core::Engine& engine, const topology::Topology& topology,
                                 network::NetworkModel& network, network::Fabric& fabric, CostModel cost_model,
                                 SmContention sm)
    : CollectiveModel(engine, topology, std::move(cost_model), sm), network_(network), fabric_(fabric) {
  if (fabric_.endpoint_count() != topology.gpu_count()) {
    throw core::InputError("flow collectives: the fabric has " + std::to_string(fabric_.endpoint_count()) +
                           " endpoints but the topology has " + std::to_string(topology.gpu_count()) + " GPUs");
  }
  link_load_.assign(fabric_.link_count(), 0.0);
}

CollectiveId FlowCollectives::start(const Communicator& comm, const CollectiveCall& call, Callback on_done) {
  if (&comm.topology() != &topology_) throw core::InputError("the communicator belongs to another topology");
  // Plan and refuse oversized lowerings before any state changes.
  CollectivePlan plan = cost_model_.plan(comm, call);
  const std::size_t count = transfer_count(comm, call, plan);
  if (count > kMaxTransfers) {
    throw core::InputError("flow fidelity: " + std::string(to_string(call.op)) + " on " + comm.describe() + " needs " +
                           std::to_string(count) + " transfers (limit " + std::to_string(kMaxTransfers) +
                           "); use the analytical fidelity");
  }
  // Its SMs are counted as held until the cost model's time for it alone (the flows' real end depends
  // on traffic still to come): the contention a kernel sees is then the same as at analytical fidelity.
  const core::SimTime until = engine_.now() + plan.time();
  const std::uint32_t slot = begin(comm, call, std::move(plan), std::move(on_done), until);
  Running& r = running_[slot];
  const CollectiveId id = r.id;

  scratch_.clear();
  scratch_.reserve(count);
  lower_to_transfers(comm, r.call, r.plan, scratch_);

  if (staged_.size() < running_.size()) {
    staged_.resize(running_.size());
    staged_left_.resize(running_.size(), 0);
  }
  std::vector<Staged>& staged = staged_[slot];
  staged.clear();
  staged.reserve(scratch_.size());

  // Payload load per link; each transfer's start delay.
  const std::int64_t latency_ps = r.plan.latency.ps();
  touched_.clear();
  for (const Transfer& t : scratch_) {
    const auto route = fabric_.route(comm.gpu(t.src), comm.gpu(t.dst));
    std::int64_t route_ps = 0;
    for (const network::LinkId l : route) {
      if (link_load_[l] == 0.0) touched_.push_back(l);
      link_load_[l] += t.bytes;
      route_ps += fabric_.link(l).latency.ps();
    }
    staged.push_back({t, std::max<std::int64_t>(0, latency_ps - route_ps), 0.0});
  }
  double phys_seconds = 0.0;
  for (const network::LinkId l : touched_) {
    phys_seconds = std::max(phys_seconds, link_load_[l] / fabric_.link(l).bandwidth.value());
    link_load_[l] = 0.0;
  }
  const double target_seconds = r.plan.transfer.seconds();
  const double scale = phys_seconds > 0.0 && target_seconds > 0.0 ? target_seconds / phys_seconds : 1.0;
  last_scale_ = scale;

  if (staged.empty()) {
    engine_.schedule_after(r.plan.time(), [this, slot] { finish(slot); });
    return id;
  }
  // Scale < 1: the links are slower than NCCL's model assumes for them: shrink the bytes so that the
  // lone collective takes the calibrated time. Scale > 1: NCCL itself is slower than the wire (its
  // per-channel speed, protocol overheads): keep the real bytes and cap each transfer at the rate that
  // takes the calibrated time, so that a collective sharing links with others only slows when the
  // links, not its own sender, run out (docs/models/collectives.md).
  if (scale <= 1.0) {
    for (Staged& st : staged) st.transfer.bytes = std::round(st.transfer.bytes * scale);
  } else {
    for (Staged& st : staged) st.max_rate = st.transfer.bytes / target_seconds;
  }
  std::stable_sort(staged.begin(), staged.end(),
                   [](const Staged& a, const Staged& b) { return a.delay_ps < b.delay_ps; });
  r.transfers_total = staged.size();
  r.transfers_left = staged.size();
  transfers_started_ += staged.size();
  // One launch per distinct delay, the batches in order of delay.
  std::vector<std::pair<std::size_t, std::size_t>> batches;
  for (std::size_t b = 0; b < staged.size();) {
    std::size_t e = b + 1;
    while (e < staged.size() && staged[e].delay_ps == staged[b].delay_ps) ++e;
    batches.emplace_back(b, e);
    b = e;
  }
  staged_left_[slot] = batches.size();
  for (const auto& [b, e] : batches) {
    const std::int64_t delay = staged[b].delay_ps;
    if (delay == 0) {
      launch(slot, b, e);
    } else {
      const std::size_t bb = b;
      const std::size_t ee = e;
      engine_.schedule_after(core::Duration::from_ps(delay), [this, slot, bb, ee] { launch(slot, bb, ee); });
    }
  }
  return id;
}

void FlowCollectives::launch(std::uint32_t slot, std::size_t begin, std::size_t end) {
  const Running& r = running_[slot];
  std::vector<Staged>& staged = staged_[slot];
  for (std::size_t i = begin; i < end; ++i) {
    const Transfer& t = staged[i].transfer;
    network_.start(r.comm->gpu(t.src), r.comm->gpu(t.dst), core::Bytes(static_cast<std::int64_t>(t.bytes)),
                   [this, slot](network::TransferId, core::SimTime) { transfer_done(slot); }, staged[i].max_rate);
  }
  if (--staged_left_[slot] == 0) {
    staged.clear();
    staged.shrink_to_fit();
  }
}

void FlowCollectives::transfer_done(std::uint32_t slot) {
  Running& r = running_[slot];
  MFUSIM_CHECK(r.live && r.transfers_left > 0, "flow collectives: unexpected transfer completion");
  if (--r.transfers_left > 0) return;
  finish(slot);
}

}  // namespace mfusim::collective
