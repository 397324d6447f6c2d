#include "core/task_graph.hpp"

#include <algorithm>
#include <utility>

#include "core/error.hpp"
#include "core/unit_parser.hpp"

namespace mfusim::core {

StreamIndex TaskGraph::add_stream(std::string name) {
  streams_.push_back(std::move(name));
  return static_cast<StreamIndex>(streams_.size() - 1);
}

TaskIndex TaskGraph::add_async_task(std::string name, StreamIndex stream, std::vector<TaskIndex> deps) {
  tasks_.push_back(Task{std::move(name), stream, Duration::zero(), std::move(deps), true});
  return static_cast<TaskIndex>(tasks_.size() - 1);
}

TaskIndex TaskGraph::add_task(std::string name, StreamIndex stream, Duration duration, std::vector<TaskIndex> deps) {
  tasks_.push_back(Task{std::move(name), stream, duration, std::move(deps), false});
  return static_cast<TaskIndex>(tasks_.size() - 1);
}

void TaskGraph::validate() const {
  const std::size_t n = tasks_.size();
  for (const auto& t : tasks_) {
    if (t.stream >= streams_.size()) throw InputError("task '" + t.name + "' names a stream that does not exist");
    if (t.duration < Duration::zero()) {
      throw InputError("task '" + t.name + "' has a negative duration " + format_duration(t.duration));
    }
    for (TaskIndex d : t.deps) {
      if (d >= n) throw InputError("task '" + t.name + "' depends on a task that does not exist");
    }
  }
  for (const auto& [stream, order] : issue_order_) {
    if (stream >= streams_.size()) throw InputError("an issue order names a stream that does not exist");
    std::vector<bool> listed(n, false);
    std::size_t on_stream = 0;
    for (const auto& t : tasks_) on_stream += t.stream == stream ? 1 : 0;
    for (TaskIndex t : order) {
      if (t >= n || tasks_[t].stream != stream || listed[t]) {
        throw InputError("the issue order of stream '" + streams_[stream] + "' lists a task that is not on it, or twice");
      }
      listed[t] = true;
    }
    if (order.size() != on_stream) throw InputError("the issue order of stream '" + streams_[stream] + "' leaves out some of its tasks");
  }
  // Iterative DFS with colors; on a back edge, walk the parent chain to print the cycle.
  enum class Color : std::uint8_t { kWhite, kGray, kBlack };
  std::vector<Color> color(n, Color::kWhite);
  std::vector<TaskIndex> parent(n, 0);
  std::vector<std::pair<TaskIndex, std::size_t>> stack;
  for (TaskIndex root = 0; root < n; ++root) {
    if (color[root] != Color::kWhite) continue;
    stack.emplace_back(root, 0);
    color[root] = Color::kGray;
    while (!stack.empty()) {
      auto& [t, next] = stack.back();
      if (next == tasks_[t].deps.size()) {
        color[t] = Color::kBlack;
        stack.pop_back();
        continue;
      }
      const TaskIndex d = tasks_[t].deps[next++];
      if (color[d] == Color::kGray) {
        std::vector<std::string> cycle{tasks_[d].name};
        for (TaskIndex c = t; c != d; c = parent[c]) cycle.push_back(tasks_[c].name);
        cycle.push_back(tasks_[d].name);
        std::string text;
        for (std::size_t i = 0; i < cycle.size(); ++i) text += (i ? " -> " : "") + ("'" + cycle[i] + "'");
        throw InputError("dependency cycle: " + text + " (each task waits for the next)");
      }
      if (color[d] == Color::kWhite) {
        color[d] = Color::kGray;
        parent[d] = t;
        stack.emplace_back(d, 0);
      }
    }
  }
}

TaskGraphRun::TaskGraphRun(Engine& engine, const TaskGraph& graph, Launcher launcher, DurationHook hook)
    : engine_(engine),
      graph_(graph),
      launcher_(std::move(launcher)),
      hook_(std::move(hook)),
      stream_tasks_(graph.streams().size()),
      stream_head_(graph.streams().size(), 0),
      stream_busy_(graph.streams().size(), false),
      spans_(graph.tasks().size()) {
  const auto& tasks = graph.tasks();
  deps_left_.resize(tasks.size());
  dependents_offset_.assign(tasks.size() + 1, 0);
  for (TaskIndex t = 0; t < tasks.size(); ++t) {
    stream_tasks_[tasks[t].stream].push_back(t);
    deps_left_[t] = static_cast<std::uint32_t>(tasks[t].deps.size());
    for (TaskIndex d : tasks[t].deps) ++dependents_offset_[d + 1];
  }
  for (const auto& [stream, order] : graph.issue_orders()) stream_tasks_[stream] = order;
  for (std::size_t i = 1; i < dependents_offset_.size(); ++i) dependents_offset_[i] += dependents_offset_[i - 1];
  dependents_.resize(dependents_offset_.back());
  std::vector<std::uint32_t> fill(dependents_offset_.begin(), dependents_offset_.end() - 1);
  for (TaskIndex t = 0; t < tasks.size(); ++t) {
    for (TaskIndex d : tasks[t].deps) dependents_[fill[d]++] = t;
  }
  engine_.add_pending_source(*this);
}

std::string TaskGraphRun::task_name(TaskIndex task) const {
  const std::string& name = graph_.tasks()[task].name;
  if (!name.empty() || !namer_) return name;
  return namer_(task);
}

void TaskGraphRun::start() {
  for (StreamIndex s = 0; s < stream_tasks_.size(); ++s) try_start(s);
}

void TaskGraphRun::try_start(StreamIndex stream) {
  if (stream_busy_[stream] || stream_head_[stream] == stream_tasks_[stream].size()) return;
  const TaskIndex t = stream_tasks_[stream][stream_head_[stream]];
  if (deps_left_[t] > 0) return;
  stream_busy_[stream] = true;
  spans_[t].start = engine_.now();
  spans_[t].started = true;
  if (graph_.tasks()[t].async) {
    MFUSIM_CHECK(static_cast<bool>(launcher_), "asynchronous task '" + task_name(t) + "' without a launcher");
    launcher_(t, [this, t] { finish(t); });
    return;
  }
  const Duration planned = graph_.tasks()[t].duration;
  engine_.schedule_after(hook_ ? hook_(t, planned) : planned, [this, t] { finish(t); });
}

void TaskGraphRun::finish(TaskIndex t) {
  MFUSIM_CHECK(spans_[t].started && !spans_[t].finished, "task '" + task_name(t) + "' completed twice");
  const StreamIndex stream = graph_.tasks()[t].stream;
  spans_[t].end = engine_.now();
  spans_[t].finished = true;
  ++finished_;
  stream_busy_[stream] = false;
  ++stream_head_[stream];
  for (std::uint32_t i = dependents_offset_[t]; i < dependents_offset_[t + 1]; ++i) {
    const TaskIndex d = dependents_[i];
    if (--deps_left_[d] == 0) try_start(graph_.tasks()[d].stream);
  }
  try_start(stream);
}

std::vector<Duration> TaskGraphRun::busy_time() const {
  std::vector<Duration> busy(graph_.streams().size(), Duration::zero());
  for (TaskIndex t = 0; t < spans_.size(); ++t) {
    if (spans_[t].finished) busy[graph_.tasks()[t].stream] += spans_[t].end - spans_[t].start;
  }
  return busy;
}

SimTime TaskGraphRun::makespan() const {
  SimTime end = SimTime::zero();
  for (const auto& s : spans_) {
    if (s.finished) end = std::max(end, s.end);
  }
  return end;
}

void TaskGraphRun::describe_pending(std::vector<std::string>& out, std::size_t max_items) const {
  std::size_t listed = 0;
  const auto& tasks = graph_.tasks();
  for (StreamIndex s = 0; s < stream_tasks_.size() && listed < max_items; ++s) {
    if (stream_head_[s] == stream_tasks_[s].size()) continue;
    const TaskIndex t = stream_tasks_[s][stream_head_[s]];
    if (stream_busy_[s]) {
      if (tasks[t].async) {
        out.push_back("stream '" + graph_.streams()[s] + "': '" + task_name(t) + "' started but never completed");
        ++listed;
      }
      continue;
    }
    std::string line = "stream '" + graph_.streams()[s] + "': task '" + task_name(t) + "' waits for";
    bool first = true;
    for (TaskIndex d : tasks[t].deps) {
      if (spans_[d].finished) continue;
      const StreamIndex ds = tasks[d].stream;
      const TaskIndex head = stream_tasks_[ds][stream_head_[ds]];
      line += std::string(first ? " " : ", ") + "'" + task_name(d) + "' (stream '" + graph_.streams()[ds] + "'";
      if (head != d) line += ", queued behind '" + task_name(head) + "'";
      line += ")";
      first = false;
    }
    out.push_back(std::move(line));
    ++listed;
  }
}

}  // namespace mfusim::core
