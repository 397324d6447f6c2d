#pragma once
// Interface through which a component tells the engine it still has unfinished work. When the event
// queue empties while some source reports pending work, nothing can ever make progress again: the
// engine ends the run as Stalled and collects each source's description of what is blocked, instead of
// returning silently or hanging (the failure mode of ASTRA-sim issues #172 and #222).
#include <cstddef>
#include <string>
#include <vector>

namespace mfusim::core {

class PendingWork {
 public:
  virtual ~PendingWork() = default;
  // Number of unfinished items (tasks, transfers, collectives) owned by this component.
  virtual std::size_t pending_count() const = 0;
  // Appends at most `max_items` one-line descriptions of blocked items, each saying what it waits for.
  virtual void describe_pending(std::vector<std::string>& out, std::size_t max_items) const = 0;
};

}  // namespace mfusim::core
