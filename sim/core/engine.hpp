#pragma once
// One simulation's clock and event loop. Everything that takes simulated time (compute, collectives,
// the network) schedules callbacks on the same Engine; no component owns a clock of its own. An Engine
// is a plain object: no globals, so any number of independent simulations can run in one process.
//
// run() executes events in (time, priority, sequence) order until one of:
//   Completed  - the queue is empty and no registered PendingWork source has unfinished items;
//   Stalled    - the queue is empty but some source still has unfinished items (listed in `blocked`);
//   TimeLimit  - the next event lies beyond `limits.until` (the clock is left at `until`);
//   EventLimit - `limits.max_events` events have run in total;
//   WallLimit  - `limits.max_wall_seconds` of host (wall-clock) time have passed since this run() began.
//                The clock is read once every kWallCheckInterval events (a steady_clock read costs ~20 ns;
//                every 4096 events keeps it far below 0.1% of the event loop), so a run may overshoot
//                the limit by the time of that many events (well under a millisecond in practice).
// A run that stopped at a limit can be resumed by calling run() again with larger limits.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/event_queue.hpp"
#include "core/pending_work.hpp"
#include "core/time.hpp"

namespace mfusim::core {

enum class RunStatus { kCompleted, kStalled, kTimeLimit, kEventLimit, kWallLimit };

std::string_view to_string(RunStatus s);

struct RunLimits {
  std::optional<SimTime> until;
  std::optional<std::uint64_t> max_events;
  std::optional<double> max_wall_seconds;  // host time, not simulated time
};

struct RunResult {
  RunStatus status = RunStatus::kCompleted;
  SimTime end_time;
  std::uint64_t events = 0;            // events executed since the engine was created
  std::size_t pending_items = 0;       // unfinished items over all sources when the run ended
  std::vector<std::string> blocked;    // descriptions of blocked items (Stalled only)
};

class Engine {
 public:
  using Callback = EventQueue::Callback;
  // How many blocked items a Stalled result lists per source.
  static constexpr std::size_t kMaxBlockedPerSource = 20;
  // How often (in events) run() reads the wall clock when `max_wall_seconds` is set.
  static constexpr std::uint64_t kWallCheckInterval = 4096;

  SimTime now() const { return now_; }
  std::uint64_t events_executed() const { return events_; }
  std::size_t events_pending() const { return queue_.size(); }

  // `time` must not lie in the past.
  EventId schedule_at(SimTime time, Callback callback, int priority = 0);
  EventId schedule_after(Duration delay, Callback callback, int priority = 0);
  bool cancel(EventId id) { return queue_.cancel(id); }

  // Sources are observed, not owned; each must outlive the Engine's runs.
  void add_pending_source(const PendingWork& source);

  RunResult run(const RunLimits& limits = {});

 private:
  std::size_t pending_items() const;

  EventQueue queue_;
  SimTime now_ = SimTime::zero();
  std::uint64_t events_ = 0;
  std::vector<const PendingWork*> sources_;
};

}  // namespace mfusim::core
