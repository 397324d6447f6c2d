#include "network/flow_network.hpp"

#include <algorithm>
#include <cmath>
#include <utility>

#include "core/error.hpp"

namespace mfusim::network {
namespace {

constexpr double kSecondsPerPs = 1e-12;

}  // namespace

FlowNetwork::FlowNetwork(core::Engine& engine, Fabric& fabric, Options options)
    : engine_(engine), fabric_(fabric), options_(options) {
  const std::size_t links = fabric_.link_count();
  solver_.reserve(links, 0, 0);
  for (LinkId l = 0; l < links; ++l) {
    const double bandwidth = fabric_.link(l).bandwidth.value();
    if (!(bandwidth > 0.0) || !std::isfinite(bandwidth)) {
      throw core::InputError("flow network: link " + std::to_string(l) + " has bandwidth " + std::to_string(bandwidth) +
                             " B/s (must be > 0 and finite)");
    }
    const MaxMinSolver::ConstraintId c = solver_.add_constraint(bandwidth);
    MFUSIM_CHECK(c == l, "FlowNetwork: solver constraint ids must equal link ids");
  }
}

// ---- Transfers -------------------------------------------------------------------------------------

std::uint32_t FlowNetwork::allocate_slot() {
  if (!free_slots_.empty()) {
    const std::uint32_t slot = free_slots_.back();
    free_slots_.pop_back();
    return slot;
  }
  MFUSIM_CHECK(flows_.size() < kNone, "FlowNetwork: too many concurrent transfers");
  const auto slot = static_cast<std::uint32_t>(flows_.size());
  flows_.emplace_back();
  info_.emplace_back();
  callbacks_.emplace_back();
  // Every per-transfer list holds at most one entry per slot: sized with the slots, they never grow
  // during the run once the peak number of concurrent transfers is reached.
  const std::size_t room = flows_.capacity();
  if (free_slots_.capacity() < room) {
    free_slots_.reserve(room);
    active_.reserve(room);
    joining_.reserve(room);
    heap_.reserve(room);
    done_.reserve(room);
    finished_.reserve(room);
  }
  return slot;
}

void FlowNetwork::release_slot(std::uint32_t slot) {
  Flow& f = flows_[slot];
  f.phase = Phase::kFree;
  f.variable = kNone;
  f.heap_pos = kNone;
  f.active_pos = kNone;
  free_slots_.push_back(slot);
  --live_;
}

TransferId FlowNetwork::start_transfer(EndpointId src, EndpointId dst, core::Bytes size, Callback on_done, double max_rate) {
  if (!(max_rate >= 0.0)) throw core::InputError("transfer rate cap must be >= 0 bytes/s");
  check_transfer(fabric_, src, dst, size);
  const std::span<const LinkId> route = src == dst ? std::span<const LinkId>{} : fabric_.route(src, dst);
  core::Duration latency = core::Duration::zero();
  for (const LinkId l : route) latency += fabric_.link(l).latency;

  const std::uint32_t slot = allocate_slot();
  const TransferId id = next_id_++;
  Flow& f = flows_[slot];
  f = Flow{};
  f.id = id;
  f.phase = Phase::kLatency;
  info_[slot] = Info{src, dst, size, route, max_rate};
  callbacks_[slot] = std::move(on_done);
  ++live_;

  if (route.empty() || size.count() == 0) {
    engine_.schedule_after(latency, [this, slot] { finish_unloaded(slot); });
  } else if (latency == core::Duration::zero()) {
    join(slot);
  } else {
    engine_.schedule_after(latency, [this, slot] { join(slot); });
  }
  return id;
}

void FlowNetwork::finish_unloaded(std::uint32_t slot) {
  const TransferId id = flows_[slot].id;
  Callback callback = std::move(callbacks_[slot]);
  callbacks_[slot] = nullptr;
  release_slot(slot);
  ++stats_.completed;
  if (callback) callback(id, engine_.now());
}

void FlowNetwork::join(std::uint32_t slot) {
  flows_[slot].phase = Phase::kJoining;
  joining_.push_back(slot);
  request_resolve();
}

void FlowNetwork::request_resolve() {
  if (resolve_pending_) return;
  resolve_pending_ = true;
  engine_.schedule_at(
      engine_.now(), [this] { resolve(); }, kResolvePriority);
}

// ---- Solving ---------------------------------------------------------------------------------------

double FlowNetwork::bytes_left(const Flow& f, std::int64_t now) const {
  return f.remaining - f.rate * static_cast<double>(now - f.last_update) * kSecondsPerPs;
}

void FlowNetwork::resolve() {
  resolve_pending_ = false;
  const std::int64_t now = engine_.now().ps();

  for (const std::uint32_t slot : joining_) {
    Flow& f = flows_[slot];
    const Info& info = info_[slot];
    const MaxMinSolver::VariableId v =
        solver_.add_variable(1.0, info.max_rate > 0.0 ? info.max_rate : MaxMinSolver::kUnbounded);
    for (const LinkId l : info.route) solver_.add_element(v, l);
    if (variable_flow_.size() <= v) variable_flow_.resize(std::size_t{v} + 1, kNone);
    variable_flow_[v] = slot;
    f.variable = v;
    f.remaining = info.size.as_double();
    f.tolerance = std::max(kCompletionBytes, kCompletionRelative * info.size.as_double());
    f.rate = 0.0;
    f.last_update = now;
    f.phase = Phase::kActive;
    f.active_pos = static_cast<std::uint32_t>(active_.size());
    active_.push_back(slot);
  }
  joining_.clear();
  stats_.peak_active = std::max(stats_.peak_active, active_.size());

  ++stats_.solves;
  if (options_.solve == SolveMode::kIncremental) {
    const std::span<const MaxMinSolver::VariableId> solved = solver_.solve_modified();
    stats_.solved_variables += solved.size();
    for (const MaxMinSolver::VariableId v : solved) update_rate(variable_flow_[v], now);
  } else {
    solver_.solve();
    stats_.solved_variables += active_.size();
    for (const std::uint32_t slot : active_) update_rate(slot, now);
  }
  stats_.solver_rounds += solver_.rounds();

  schedule_wakeup();
  if (observer_) observer_();
}

void FlowNetwork::update_rate(std::uint32_t slot, std::int64_t now) {
  Flow& f = flows_[slot];
  const double rate = solver_.rate(f.variable);
  if (rate == f.rate && f.heap_pos != kNone) return;
  MFUSIM_CHECK(rate > 0.0 && std::isfinite(rate), "FlowNetwork: transfer #" + std::to_string(f.id) + " got rate " +
                                                      std::to_string(rate) + " B/s from the solver");
  f.remaining = std::max(bytes_left(f, now), 0.0);
  f.last_update = now;
  f.rate = rate;
  f.completion = now + core::Duration::from_seconds(f.remaining / rate).ps();
  ++stats_.rate_changes;
  if (f.heap_pos == kNone) {
    heap_push(slot);
  } else {
    heap_update(slot);
  }
}

void FlowNetwork::schedule_wakeup() {
  if (heap_.empty()) {
    if (wake_event_.valid()) engine_.cancel(wake_event_);
    wake_event_ = {};
    return;
  }
  const std::int64_t t = flows_[heap_.front()].completion;
  if (wake_event_.valid() && wake_time_ == t) return;
  if (wake_event_.valid()) engine_.cancel(wake_event_);
  wake_time_ = t;
  wake_event_ = engine_.schedule_at(core::SimTime::from_ps(t), [this] { wake(); });
}

void FlowNetwork::wake() {
  wake_event_ = {};
  ++stats_.wakeups;
  const std::int64_t now = engine_.now().ps();
  done_.clear();
  while (!heap_.empty()) {
    const std::uint32_t slot = heap_.front();
    const Flow& f = flows_[slot];
    if (f.completion > now && bytes_left(f, now) >= f.tolerance) break;
    heap_pop();
    done_.push_back(slot);
  }
  if (done_.empty()) {
    schedule_wakeup();
    return;
  }
  // Callbacks in transfer-id order; the slots are released first, since callbacks may start transfers.
  std::sort(done_.begin(), done_.end(),
            [this](std::uint32_t a, std::uint32_t b) { return flows_[a].id < flows_[b].id; });
  finished_.clear();
  for (const std::uint32_t slot : done_) {
    Flow& f = flows_[slot];
    const double left = bytes_left(f, now);
    // Due transfers are off by the picosecond rounding of their completion (rate * 0.5 ps) at most.
    MFUSIM_CHECK(
        left < f.tolerance + f.rate * kSecondsPerPs,
        "FlowNetwork: transfer #" + std::to_string(f.id) + " completes with " + std::to_string(left) + " bytes left");
    solver_.remove_variable(f.variable);
    variable_flow_[f.variable] = kNone;
    const std::uint32_t pos = f.active_pos;
    const std::uint32_t moved = active_.back();
    active_[pos] = moved;
    flows_[moved].active_pos = pos;
    active_.pop_back();
    finished_.emplace_back(f.id, std::move(callbacks_[slot]));
    callbacks_[slot] = nullptr;
    release_slot(slot);
    ++stats_.completed;
  }
  request_resolve();
  const core::SimTime t = engine_.now();
  for (std::size_t i = 0; i < finished_.size(); ++i) {
    auto& [id, callback] = finished_[i];
    if (callback) callback(id, t);
  }
  finished_.clear();
}

// ---- Completion heap -------------------------------------------------------------------------------

bool FlowNetwork::heap_before(std::uint32_t a, std::uint32_t b) const {
  const Flow& fa = flows_[a];
  const Flow& fb = flows_[b];
  return fa.completion < fb.completion || (fa.completion == fb.completion && fa.id < fb.id);
}

void FlowNetwork::heap_place(std::uint32_t pos, std::uint32_t slot) {
  heap_[pos] = slot;
  flows_[slot].heap_pos = pos;
}

void FlowNetwork::heap_sift_up(std::uint32_t pos) {
  const std::uint32_t slot = heap_[pos];
  while (pos > 0) {
    const std::uint32_t parent = (pos - 1) / 2;
    if (!heap_before(slot, heap_[parent])) break;
    heap_place(pos, heap_[parent]);
    pos = parent;
  }
  heap_place(pos, slot);
}

void FlowNetwork::heap_sift_down(std::uint32_t pos) {
  const std::uint32_t slot = heap_[pos];
  const auto n = static_cast<std::uint32_t>(heap_.size());
  while (true) {
    std::uint32_t child = 2 * pos + 1;
    if (child >= n) break;
    if (child + 1 < n && heap_before(heap_[child + 1], heap_[child])) ++child;
    if (!heap_before(heap_[child], slot)) break;
    heap_place(pos, heap_[child]);
    pos = child;
  }
  heap_place(pos, slot);
}

void FlowNetwork::heap_push(std::uint32_t slot) {
  heap_.push_back(slot);
  heap_sift_up(static_cast<std::uint32_t>(heap_.size() - 1));
}

void FlowNetwork::heap_update(std::uint32_t slot) {
  const std::uint32_t pos = flows_[slot].heap_pos;
  if (pos > 0 && heap_before(slot, heap_[(pos - 1) / 2])) {
    heap_sift_up(pos);
  } else {
    heap_sift_down(pos);
  }
}

void FlowNetwork::heap_pop() {
  const std::uint32_t top = heap_.front();
  const std::uint32_t last = heap_.back();
  heap_.pop_back();
  flows_[top].heap_pos = kNone;
  if (!heap_.empty()) {
    heap_place(0, last);
    heap_sift_down(0);
  }
}

// ---- Introspection ---------------------------------------------------------------------------------

std::vector<FlowNetwork::ActiveFlow> FlowNetwork::active_flows() const {
  std::vector<ActiveFlow> out;
  out.reserve(active_.size());
  const std::int64_t now = engine_.now().ps();
  for (const std::uint32_t slot : active_) {
    const Flow& f = flows_[slot];
    const Info& info = info_[slot];
    out.push_back(
        ActiveFlow{f.id, info.src, info.dst, info.size, f.rate, std::max(bytes_left(f, now), 0.0), info.route});
  }
  std::sort(out.begin(), out.end(), [](const ActiveFlow& a, const ActiveFlow& b) { return a.id < b.id; });
  return out;
}

void FlowNetwork::describe_pending(std::vector<std::string>& out, std::size_t max_items) const {
  std::vector<std::uint32_t> live;
  for (std::uint32_t slot = 0; slot < flows_.size(); ++slot) {
    if (flows_[slot].phase != Phase::kFree) live.push_back(slot);
  }
  std::sort(live.begin(), live.end(), [this](std::uint32_t a, std::uint32_t b) { return flows_[a].id < flows_[b].id; });
  const std::int64_t now = engine_.now().ps();
  for (std::size_t i = 0; i < live.size() && i < max_items; ++i) {
    const Flow& f = flows_[live[i]];
    const Info& info = info_[live[i]];
    const double left = f.phase == Phase::kActive ? std::max(bytes_left(f, now), 0.0) : info.size.as_double();
    out.push_back(describe_transfer(f.id, info.src, info.dst, left));
  }
}

}  // namespace mfusim::network
