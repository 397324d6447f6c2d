#pragma once
// The result of one simulation as the user sees it, independent of how it was produced, plus its
// renderings: a human-readable summary (stdout), JSON (machine-readable, byte-identical for identical
// inputs: no wall-clock figures in it) and a Chrome/Perfetto trace (open in ui.perfetto.dev).
#include <cstdint>
#include <string>
#include <vector>

namespace mfusim::report {

struct Metric {
  std::string key;    // JSON key, snake_case
  std::string label;  // human label
  double value = 0.0;
  std::string unit;   // "s", "" for a ratio, ...
};

struct StreamRow {
  std::string name;
  std::int64_t busy_ps = 0;
  double utilization = 0.0;
};

// A key/value shown by Perfetto when the span is clicked: a number or a text.
struct TraceArg {
  std::string key;
  std::string text;
  std::int64_t number = 0;
  bool numeric = false;
};

struct TraceSpan {
  std::string name;
  std::uint32_t track = 0;  // index into the track names given to chrome_trace()
  std::int64_t start_ps = 0;
  std::int64_t end_ps = 0;
  std::string category;        // the event's "cat" (forward, backward, comm-tp, ...); omitted if empty
  std::vector<TraceArg> args;  // the event's "args", in this order; omitted if empty
};

// One parallel group of rank 0 (the plan's placement): its name (TP, CP, DP, PP, EP, ETP, EDP), size,
// the nodes its ranks span and the ranks themselves ("0-7", "0-14 step 2", "0, 3, 5, ...").
struct GroupRow {
  std::string name;
  std::int64_t size = 0;
  std::int64_t nodes = 0;
  std::string ranks;
};

struct RunSummary {
  std::string scenario;
  std::string description;
  std::string source;
  std::string status;  // completed | stalled | time-limit | event-limit
  std::int64_t step_time_ps = 0;
  std::int64_t end_time_ps = 0;
  std::uint64_t events = 0;
  std::size_t pending_items = 0;
  std::vector<std::string> blocked;
  std::vector<Metric> metrics;    // top-level JSON keys (step figures)
  std::vector<Metric> breakdown;  // where the step's time goes (seconds), JSON "breakdown"
  std::vector<Metric> memory;     // per-GPU memory items (bytes), JSON "memory"
  std::vector<GroupRow> groups;   // rank 0's parallel groups, JSON "groups"
  std::vector<std::string> notes; // provenance and caveats, printed and in JSON "notes"
  std::vector<StreamRow> streams;
};

std::string format_text(const RunSummary& s);
std::string to_json(const RunSummary& s);
// `tracks` names the threads (one per stream); `process` (optional, same length) groups them into
// processes (one per node), named "node N".
std::string chrome_trace(const std::vector<std::string>& tracks, const std::vector<TraceSpan>& spans,
                         const std::vector<std::uint32_t>& process = {});

}  // namespace mfusim::report
