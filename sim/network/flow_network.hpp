#pragma once
// FlowNetwork: the contention-aware, flow-level network model (docs/models/network.md).
//
// Model
//   Every directed link l is shared by the transfers crossing it; at any instant the rates x_f (bytes/s)
//   of the transfers in their bandwidth phase are the weighted max-min fair allocation (all weights 1, no
//   per-transfer bound) under the constraints
//       sum over transfers f crossing l of x_f <= B_l      for every link l (B_l = link bandwidth),
//   computed by MaxMinSolver (one constraint per link, one variable per transfer, one element per route
//   link): each transfer runs at the fair share of its most contended link, and what it cannot use there
//   is left to the others (progressive filling, Bertsekas & Gallager section 6.5).
//   A transfer of S bytes started at t0 over the route l_1 .. l_k has two phases:
//     1. latency phase: t0 .. t0 + L, L = sum_i latency(l_i), during which it loads no link (the first
//        byte travels the route);
//     2. bandwidth phase: from t0 + L, its S bytes drain at the max-min rate, which changes whenever a
//        transfer enters or leaves its bandwidth phase anywhere in its connected part of the network:
//            S = integral from t0 + L to t_end of x_f(t) dt.
//   Alone on its route a transfer therefore takes L + S / min_i B_i, the AnalyticalNetwork time, to the
//   picosecond. Latency-then-bandwidth is SimGrid's CM02/LV08 order (a flow starts competing once its
//   latency has elapsed); it charges the latency once per transfer, not once per packet, and never
//   overlaps it with another transfer's bandwidth phase on the same links. src == dst completes after zero
//   time; a zero-byte transfer completes after its latency without loading any link.
//
// Event scheme (STYLE.md, simulation-speed.md section 6.2)
//   - Batching: transfers entering their bandwidth phase (end of latency phase) or completing at one
//     simulated instant only mark the solver dirty; ONE re-solve event per instant runs at priority
//     kResolvePriority, i.e. after every other event of that instant, so any number of starts and ends at
//     one instant cost one solve.
//   - Lazy progress: each active transfer keeps (bytes left, rate, last update time). A solve advances
//     only the transfers whose rate changed, at their old rate: left -= rate * (now - last_update). The
//     projected completion, now + left / rate rounded to the picosecond, keys an indexed binary heap
//     ordered by (completion time, transfer id).
//   - ONE wake-up event, at the heap's earliest completion, is cancelled and rescheduled only when that
//     earliest time changes. A wake-up completes every transfer due at its picosecond, plus those that
//     follow in heap order whose bytes left are below the tolerance max(1 byte, 1e-6 * S) (so transfers
//     that differ by rounding finish together; such a transfer can finish at most tolerance / rate early);
//     callbacks run in transfer-id order: the same inputs give the same order.
//   - Incremental solve (Options::solve, default kIncremental): MaxMinSolver::solve_modified() re-solves
//     only the affected part and reports the transfers it re-solved; only those are advanced and re-keyed.
//     The affected part is either the transfers at or above the lowest level a change can reach (a
//     transfer that ends frees capacity only for transfers at least as fast as it was, and those that end
//     first are the fast ones), or the connected components of the transfer/link graph holding a change,
//     else everything (max_min_solver.hpp has the algorithm and its proof). kFull re-solves everything
//     at every solve: the reference, equal to 1e-9 relative in the tests.
//
// Complexity per instant with changes: O(R * C + E) for the solve (MaxMinSolver: R water levels, C links
//   and E route elements in the re-solved part; past 32 levels a heap makes it O((C + E) log C)),
//   O(F_changed * log F) completion-heap updates. Memory: about 200
//   bytes per transfer in flight plus 24 per route link (solver elements both ways); storage is contiguous,
//   indexed by recycled dense slots, and stops growing once the peak number of concurrent transfers has
//   been reached (no allocation per event after warm-up, apart from the Fabric's route cache filling).
//
// What it cannot see (docs/models/network.md): packets, loss and retransmission, congestion-control
//   dynamics (slow start, DCQCN/ECN reaction time), incast bursts and buffer occupancy, head-of-line
//   blocking and PFC pauses, adaptive routing (routes are fixed per (src, dst) by the Fabric).
//
// Sources: D. Bertsekas, R. Gallager, Data Networks, 2nd ed., section 6.5 (max-min fairness); SimGrid
//   src/kernel/resource/Model.cpp (lazy action updates, next_occurring_event_lazy) and
//   src/kernel/lmm/System.cpp (selective update); P. Velho, L. Schnorr, H. Casanova, A. Legrand, "On the
//   validity of flow-level TCP network models for grid and cloud simulations", ACM TOMACS 23(4), 2013
//   (latency-then-bandwidth flows, where flow models fail).
#include <cstdint>
#include <functional>
#include <limits>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/engine.hpp"
#include "core/event_queue.hpp"
#include "network/fabric.hpp"
#include "network/max_min_solver.hpp"
#include "network/network_model.hpp"

namespace mfusim::network {

class FlowNetwork final : public NetworkModel {
 public:
  // The re-solve runs after every other event of its instant: components that react at the same instant
  // to a completion (start the next transfer of a collective) use priorities below this one.
  static constexpr int kResolvePriority = core::EventQueue::kMaxPriority;
  // A transfer whose bytes left fall below max(kCompletionBytes, kCompletionRelative * size) is complete.
  static constexpr double kCompletionBytes = 1.0;
  static constexpr double kCompletionRelative = 1e-6;

  enum class SolveMode { kIncremental, kFull };
  struct Options {
    SolveMode solve = SolveMode::kIncremental;
  };

  struct Stats {
    std::uint64_t solves = 0;            // re-solve events (at most one per instant with changes)
    std::uint64_t solver_rounds = 0;     // water levels over all solves
    std::uint64_t solved_variables = 0;  // transfers re-solved over all solves (all active ones when kFull)
    std::uint64_t wakeups = 0;           // completion events
    std::uint64_t rate_changes = 0;      // transfers whose rate changed at a solve (lazy updates performed)
    std::uint64_t completed = 0;         // transfers completed (all kinds)
    std::size_t peak_active = 0;         // most transfers in their bandwidth phase at once
  };

  // A transfer in its bandwidth phase, as of the last solve.
  struct ActiveFlow {
    TransferId id = 0;
    EndpointId src = 0;
    EndpointId dst = 0;
    core::Bytes size;
    double rate = 0.0;        // bytes/s since the last solve
    double bytes_left = 0.0;  // at engine.now()
    std::span<const LinkId> route;
  };

  // Both must outlive this object; register it with engine.add_pending_source() to have unfinished
  // transfers reported when a run stalls.
  FlowNetwork(core::Engine& engine, Fabric& fabric, Options options);
  FlowNetwork(core::Engine& engine, Fabric& fabric) : FlowNetwork(engine, fabric, Options{}) {}
  FlowNetwork(const FlowNetwork&) = delete;
  FlowNetwork& operator=(const FlowNetwork&) = delete;

  using NetworkModel::start;
  std::string_view name() const override { return "flow"; }

  std::size_t pending_count() const override { return live_; }
  void describe_pending(std::vector<std::string>& out, std::size_t max_items) const override;

  const Stats& stats() const { return stats_; }
  // How the solver's incremental solves went (level cuts, components, full solves).
  const MaxMinSolver::SolveCounts& solver_counts() const { return solver_.solve_counts(); }
  // Called after every solve (engine.now() is the solve instant); for tests and reports.
  void set_solve_observer(std::function<void()> observer) { observer_ = std::move(observer); }
  // Transfers in their bandwidth phase, sorted by id. Allocates: not for the hot path.
  std::vector<ActiveFlow> active_flows() const;
  std::size_t active_count() const { return active_.size(); }

 private:
  static constexpr std::uint32_t kNone = std::numeric_limits<std::uint32_t>::max();
  enum class Phase : std::uint8_t { kFree, kLatency, kJoining, kActive };

  // Hot per-transfer state, touched by solves and wake-ups.
  struct Flow {
    double remaining = 0.0;        // bytes left at last_update
    double rate = 0.0;             // bytes/s since last_update
    double tolerance = 0.0;        // bytes: complete when remaining falls below it
    std::int64_t last_update = 0;  // ps
    std::int64_t completion = 0;   // ps, projected; the heap key with id
    TransferId id = 0;
    MaxMinSolver::VariableId variable = kNone;
    std::uint32_t heap_pos = kNone;
    std::uint32_t active_pos = kNone;
    Phase phase = Phase::kFree;
  };
  // Cold per-transfer data.
  struct Info {
    EndpointId src = 0;
    EndpointId dst = 0;
    core::Bytes size;
    std::span<const LinkId> route;
    double max_rate = 0.0;  // bytes/s, 0 = unbounded (NetworkModel::start)
  };

  TransferId start_transfer(EndpointId src, EndpointId dst, core::Bytes size, Callback on_done, double max_rate) override;

  std::uint32_t allocate_slot();
  void release_slot(std::uint32_t slot);
  void join(std::uint32_t slot);             // end of the latency phase
  void finish_unloaded(std::uint32_t slot);  // src == dst or zero bytes: completes without the solver
  void request_resolve();
  void resolve();
  void update_rate(std::uint32_t slot, std::int64_t now);
  void schedule_wakeup();
  void wake();
  double bytes_left(const Flow& f, std::int64_t now) const;

  // Completion heap of slots, ordered by (completion, id).
  bool heap_before(std::uint32_t a, std::uint32_t b) const;
  void heap_push(std::uint32_t slot);
  void heap_update(std::uint32_t slot);
  void heap_pop();
  void heap_sift_up(std::uint32_t pos);
  void heap_sift_down(std::uint32_t pos);
  void heap_place(std::uint32_t pos, std::uint32_t slot);

  core::Engine& engine_;
  Fabric& fabric_;
  Options options_;
  MaxMinSolver solver_;

  std::vector<Flow> flows_;
  std::vector<Info> info_;
  std::vector<Callback> callbacks_;
  std::vector<std::uint32_t> free_slots_;
  std::vector<std::uint32_t> variable_flow_;  // solver variable id -> slot
  std::vector<std::uint32_t> active_;         // slots in the bandwidth phase
  std::vector<std::uint32_t> joining_;        // slots whose latency phase ended since the last solve
  std::vector<std::uint32_t> heap_;
  std::vector<std::uint32_t> done_;                        // wake-up scratch
  std::vector<std::pair<TransferId, Callback>> finished_;  // wake-up scratch

  core::EventId wake_event_;
  std::int64_t wake_time_ = 0;
  bool resolve_pending_ = false;
  TransferId next_id_ = 0;
  std::size_t live_ = 0;
  Stats stats_;
  std::function<void()> observer_;
};

}  // namespace mfusim::network
