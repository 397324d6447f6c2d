#include "core/engine.hpp"

#include <chrono>
#include <utility>

#include "core/error.hpp"
#include "core/unit_parser.hpp"

namespace mfusim::core {

std::string_view to_string(RunStatus s) {
  switch (s) {
    case RunStatus::kCompleted: return "completed";
    case RunStatus::kStalled: return "stalled";
    case RunStatus::kTimeLimit: return "time-limit";
    case RunStatus::kEventLimit: return "event-limit";
    case RunStatus::kWallLimit: return "wall-limit";
  }
  return "unknown";
}

EventId Engine::schedule_at(SimTime time, Callback callback, int priority) {
  MFUSIM_CHECK(time >= now_, "event scheduled in the past: at " + format_duration(time.since_start()) +
                                 " while the clock reads " + format_duration(now_.since_start()));
  return queue_.push(time, priority, std::move(callback));
}

EventId Engine::schedule_after(Duration delay, Callback callback, int priority) {
  MFUSIM_CHECK(delay >= Duration::zero(), "negative delay " + format_duration(delay));
  return schedule_at(now_ + delay, std::move(callback), priority);
}

void Engine::add_pending_source(const PendingWork& source) { sources_.push_back(&source); }

std::size_t Engine::pending_items() const {
  std::size_t n = 0;
  for (const auto* s : sources_) n += s->pending_count();
  return n;
}

RunResult Engine::run(const RunLimits& limits) {
  RunResult result;
  using Clock = std::chrono::steady_clock;
  const auto started = Clock::now();
  const std::uint64_t events_at_start = events_;
  while (true) {
    if (queue_.empty()) {
      result.pending_items = pending_items();
      if (result.pending_items > 0) {
        result.status = RunStatus::kStalled;
        for (const auto* s : sources_) s->describe_pending(result.blocked, kMaxBlockedPerSource);
      } else {
        result.status = RunStatus::kCompleted;
      }
      break;
    }
    if (limits.max_events && events_ >= *limits.max_events) {
      result.status = RunStatus::kEventLimit;
      result.pending_items = pending_items();
      break;
    }
    const SimTime next = queue_.next_time();
    if (limits.until && next > *limits.until) {
      now_ = *limits.until;
      result.status = RunStatus::kTimeLimit;
      result.pending_items = pending_items();
      break;
    }
    if (const auto ran = events_ - events_at_start; limits.max_wall_seconds && ran > 0 && ran % kWallCheckInterval == 0) {
      if (std::chrono::duration<double>(Clock::now() - started).count() >= *limits.max_wall_seconds) {
        result.status = RunStatus::kWallLimit;
        result.pending_items = pending_items();
        break;
      }
    }
    auto event = queue_.pop();
    now_ = event.time;
    ++events_;
    event.callback();
  }
  result.end_time = now_;
  result.events = events_;
  return result;
}

}  // namespace mfusim::core
