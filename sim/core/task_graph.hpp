#pragma once
// A static task graph executed on serial streams, the engine's smallest complete workload.
//
// Model (CUDA-stream semantics): every task belongs to one stream and has a fixed duration. A stream
// runs its tasks one at a time in the order they were added. A task starts when (a) it is at the head
// of its stream and (b) every task it depends on has finished; it then occupies the stream for its
// duration. Dependencies alone cannot form a cycle (validate() rejects that), but dependencies combined
// with stream order can deadlock (task A heads stream 1 and waits for D, which sits behind C on stream
// 2, and C waits for B behind A); the engine then reports the run as Stalled and this class lists, per
// stuck stream, which task waits for which.
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "core/engine.hpp"
#include "core/pending_work.hpp"
#include "core/time.hpp"

namespace mfusim::core {

using StreamIndex = std::uint32_t;
using TaskIndex = std::uint32_t;

class TaskGraph {
 public:
  struct Task {
    std::string name;
    StreamIndex stream;
    Duration duration;
    std::vector<TaskIndex> deps;
    bool async = false;  // completed by the Launcher, not after `duration`
  };

  StreamIndex add_stream(std::string name);
  // Dependencies must name tasks already added or added later; validate() checks them all.
  TaskIndex add_task(std::string name, StreamIndex stream, Duration duration, std::vector<TaskIndex> deps = {});

  // A task completed by the run's Launcher (see TaskGraphRun).
  TaskIndex add_async_task(std::string name, StreamIndex stream, std::vector<TaskIndex> deps = {});

  // `task` waits for `on` to finish. Both may be added in any order; validate() checks them.
  void add_dependency(TaskIndex task, TaskIndex on) { tasks_.at(task).deps.push_back(on); }
  // Issues `stream`'s tasks in `order` instead of the order they were added (two passes whose kernels
  // interleave on one stream, say); `order` must list each of the stream's tasks once (validate()).
  void set_issue_order(StreamIndex stream, std::vector<TaskIndex> order) { issue_order_[stream] = std::move(order); }
  const std::map<StreamIndex, std::vector<TaskIndex>>& issue_orders() const { return issue_order_; }

  // Throws InputError naming the problem: a dependency cycle (listing it), a negative duration,
  // an out-of-range stream or dependency index.
  void validate() const;

  const std::vector<std::string>& streams() const { return streams_; }
  const std::vector<Task>& tasks() const { return tasks_; }

 private:
  std::vector<std::string> streams_;
  std::vector<Task> tasks_;
  std::map<StreamIndex, std::vector<TaskIndex>> issue_order_;
};

// One execution of a TaskGraph on an Engine. Construct, call start(), then run the engine.
class TaskGraphRun final : public PendingWork {
 public:
  struct Span {
    SimTime start;
    SimTime end;
    bool started = false;
    bool finished = false;
  };

  // Starts an asynchronous task; must call `done` exactly once.
  using Launcher = std::function<void(TaskIndex task, std::function<void()> done)>;

  // Adjusts a timed task's duration when it starts (e.g. compute slowed by concurrent communication).
  using DurationHook = std::function<Duration(TaskIndex task, Duration planned)>;

  // The graph must be valid and outlive this object; registers itself as a PendingWork source.
  // A graph with asynchronous tasks needs a launcher.
  TaskGraphRun(Engine& engine, const TaskGraph& graph, Launcher launcher = nullptr, DurationHook hook = nullptr);

  // Names tasks in diagnostics (stalled-run reports) when the graph leaves their names empty, as the
  // training-step lowering does to keep strings off its hot path.
  using Namer = std::function<std::string(TaskIndex task)>;
  void set_namer(Namer namer) { namer_ = std::move(namer); }
  std::string task_name(TaskIndex task) const;

  void start();

  const std::vector<Span>& spans() const { return spans_; }
  // Sum of task durations that finished on each stream.
  std::vector<Duration> busy_time() const;
  // Latest finish time over all finished tasks (zero if none).
  SimTime makespan() const;

  std::size_t pending_count() const override { return graph_.tasks().size() - finished_; }
  void describe_pending(std::vector<std::string>& out, std::size_t max_items) const override;

 private:
  void try_start(StreamIndex stream);
  void finish(TaskIndex task);

  Engine& engine_;
  const TaskGraph& graph_;
  Launcher launcher_;
  DurationHook hook_;
  Namer namer_;
  std::vector<std::vector<TaskIndex>> stream_tasks_;  // per stream, in issue order
  std::vector<std::size_t> stream_head_;              // index into stream_tasks_ of the next task
  std::vector<bool> stream_busy_;
  std::vector<std::uint32_t> deps_left_;
  std::vector<std::uint32_t> dependents_offset_;  // CSR: dependents of task t are
  std::vector<TaskIndex> dependents_;             // dependents_[offset[t] .. offset[t+1])
  std::vector<Span> spans_;
  std::size_t finished_ = 0;
};

}  // namespace mfusim::core
