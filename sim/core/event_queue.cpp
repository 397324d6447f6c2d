#include "core/event_queue.hpp"

#include <string>
#include <utility>

#include "core/error.hpp"

namespace mfusim::core {
namespace {
constexpr std::uint64_t kSequenceBits = 48;
constexpr std::uint64_t kSequenceLimit = std::uint64_t{1} << kSequenceBits;
constexpr std::size_t kArity = 4;
}  // namespace

EventId EventQueue::push(SimTime time, int priority, Callback callback) {
  MFUSIM_CHECK(priority >= kMinPriority && priority <= kMaxPriority,
               "event priority " + std::to_string(priority) + " outside [-32768, 32767]");
  MFUSIM_CHECK(next_sequence_ < kSequenceLimit, "more than 2^48 events scheduled in one simulation");
  MFUSIM_CHECK(static_cast<bool>(callback), "event scheduled without a callback");
  std::uint32_t slot;
  if (!free_slots_.empty()) {
    slot = free_slots_.back();
    free_slots_.pop_back();
  } else {
    MFUSIM_CHECK(slots_.size() < UINT32_MAX, "more than 2^32 simultaneously pending events");
    slot = static_cast<std::uint32_t>(slots_.size());
    slots_.emplace_back();
  }
  Slot& s = slots_[slot];
  s.callback = std::move(callback);
  s.live = true;
  const auto order = (static_cast<std::uint64_t>(priority - kMinPriority) << kSequenceBits) | next_sequence_++;
  heap_.push_back(Entry{time.ps(), order, slot, s.generation});
  sift_up(heap_.size() - 1);
  ++live_;
  return EventId{slot, s.generation};
}

bool EventQueue::is_pending(EventId id) const {
  return id.valid() && id.slot < slots_.size() && slots_[id.slot].live && slots_[id.slot].generation == id.generation;
}

bool EventQueue::cancel(EventId id) {
  if (!is_pending(id)) return false;
  release(id.slot);
  --live_;
  return true;
}

void EventQueue::release(std::uint32_t slot) {
  Slot& s = slots_[slot];
  s.callback = nullptr;
  s.live = false;
  // Generation 0 is reserved for "invalid"; skip it on wrap-around.
  if (++s.generation == 0) s.generation = 1;
  free_slots_.push_back(slot);
}

void EventQueue::drop_stale_top() {
  while (!heap_.empty()) {
    const Entry& top = heap_.front();
    const Slot& s = slots_[top.slot];
    if (s.live && s.generation == top.generation) return;
    pop_top();
  }
}

SimTime EventQueue::next_time() {
  MFUSIM_CHECK(live_ > 0, "next_time() on an empty event queue");
  drop_stale_top();
  return SimTime::from_ps(heap_.front().time);
}

EventQueue::Popped EventQueue::pop() {
  MFUSIM_CHECK(live_ > 0, "pop() on an empty event queue");
  drop_stale_top();
  const Entry top = heap_.front();
  pop_top();
  Popped out{SimTime::from_ps(top.time), std::move(slots_[top.slot].callback)};
  release(top.slot);
  --live_;
  return out;
}

void EventQueue::reserve(std::size_t n) {
  heap_.reserve(n);
  slots_.reserve(n);
  free_slots_.reserve(n);
}

void EventQueue::pop_top() {
  heap_.front() = heap_.back();
  heap_.pop_back();
  if (!heap_.empty()) sift_down(0);
}

void EventQueue::sift_up(std::size_t i) {
  const Entry e = heap_[i];
  while (i > 0) {
    const std::size_t parent = (i - 1) / kArity;
    if (!before(e, heap_[parent])) break;
    heap_[i] = heap_[parent];
    i = parent;
  }
  heap_[i] = e;
}

void EventQueue::sift_down(std::size_t i) {
  const std::size_t n = heap_.size();
  const Entry e = heap_[i];
  while (true) {
    const std::size_t first = i * kArity + 1;
    if (first >= n) break;
    std::size_t best = first;
    const std::size_t last = first + kArity < n ? first + kArity : n;
    for (std::size_t c = first + 1; c < last; ++c) {
      if (before(heap_[c], heap_[best])) best = c;
    }
    if (!before(heap_[best], e)) break;
    heap_[i] = heap_[best];
    i = best;
  }
  heap_[i] = e;
}

}  // namespace mfusim::core
