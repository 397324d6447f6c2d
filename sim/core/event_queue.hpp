#pragma once
// The pending-event set of one simulation.
//
// Order: (time, priority, sequence). Lower priority values run first among events at the same time;
// the sequence number (insertion order) breaks the remaining ties, so the execution order is a pure
// function of the calls made, never of addresses or hash order (SST, ns-3).
//
// Structure: a 4-ary min-heap of 24-byte POD entries {time, priority|sequence, slot, generation};
// callbacks live in a slot array recycled through a free list, so a push moves no std::function and,
// once warmed up, allocates nothing (libstdc++ stores a lambda of up to 16 trivially-copyable bytes
// inline). Push and pop are O(log4 n). Cancellation is O(1): it frees the slot and bumps its generation;
// the heap entry becomes stale and is discarded when it reaches the top (lazy deletion).
#include <cstdint>
#include <functional>
#include <vector>

#include "core/time.hpp"

namespace mfusim::core {

// Handle to a scheduled event; stays safe to cancel after the event ran or was cancelled.
struct EventId {
  std::uint32_t slot = 0;
  std::uint32_t generation = 0;  // 0 never names a live event
  constexpr bool valid() const { return generation != 0; }
  constexpr bool operator==(const EventId&) const = default;
};

class EventQueue {
 public:
  using Callback = std::function<void()>;
  // Priorities fit in 16 bits: [kMinPriority, kMaxPriority].
  static constexpr int kMinPriority = -32768;
  static constexpr int kMaxPriority = 32767;

  EventId push(SimTime time, int priority, Callback callback);
  // True if the event was pending and is now cancelled; false if it already ran or was cancelled.
  bool cancel(EventId id);
  bool is_pending(EventId id) const;

  bool empty() const { return live_ == 0; }
  std::size_t size() const { return live_; }
  // Time of the earliest pending event; the queue must not be empty.
  SimTime next_time();

  struct Popped {
    SimTime time;
    Callback callback;
  };
  // Removes and returns the earliest pending event; the queue must not be empty.
  Popped pop();

  void reserve(std::size_t n);

 private:
  struct Entry {
    std::int64_t time;
    std::uint64_t order;  // (priority + 32768) << 48 | sequence
    std::uint32_t slot;
    std::uint32_t generation;
  };
  struct Slot {
    Callback callback;
    std::uint32_t generation = 1;
    bool live = false;
  };

  static bool before(const Entry& a, const Entry& b) {
    return a.time < b.time || (a.time == b.time && a.order < b.order);
  }
  void sift_up(std::size_t i);
  void sift_down(std::size_t i);
  void pop_top();
  void drop_stale_top();
  void release(std::uint32_t slot);

  std::vector<Entry> heap_;
  std::vector<Slot> slots_;
  std::vector<std::uint32_t> free_slots_;
  std::uint64_t next_sequence_ = 0;
  std::size_t live_ = 0;
};

}  // namespace mfusim::core
