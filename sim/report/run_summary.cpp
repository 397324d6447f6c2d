#include "report/run_summary.hpp"

#include <cstdio>
#include <nlohmann/json.hpp>

#include "core/time.hpp"
#include "core/unit_parser.hpp"

namespace mfusim::report {
namespace {
std::string human_time(std::int64_t ps) { return core::format_duration(core::Duration::from_ps(ps)); }

std::string fixed(double v, int digits) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  return buf;
}
}  // namespace

std::string format_text(const RunSummary& s) {
  std::string out;
  out += "scenario   " + s.scenario + "  (" + s.source + ")\n";
  out += "status     " + s.status + "\n";
  out += "step time  " + human_time(s.step_time_ps) + "\n";
  for (const auto& m : s.metrics) {
    std::string label = m.label;
    label.resize(std::max<std::size_t>(label.size(), 22), ' ');
    out += label + " " + (m.unit.empty() ? fixed(m.value, 4) : fixed(m.value, 6) + " " + m.unit) + "\n";
  }
  out += "events     " + std::to_string(s.events) + "\n";
  if (!s.streams.empty()) {
    out += "\nstream                  busy          utilization\n";
    for (const auto& r : s.streams) {
      std::string name = r.name;
      name.resize(std::max<std::size_t>(name.size(), 23), ' ');
      std::string busy = human_time(r.busy_ps);
      busy.resize(std::max<std::size_t>(busy.size(), 13), ' ');
      out += name + " " + busy + " " + fixed(100.0 * r.utilization, 1) + "%\n";
    }
  }
  if (!s.blocked.empty()) {
    out += "\nblocked (" + std::to_string(s.pending_items) + " unfinished items):\n";
    for (const auto& b : s.blocked) out += "  " + b + "\n";
  }
  return out;
}

std::string to_json(const RunSummary& s) {
  nlohmann::ordered_json j;
  j["scenario"] = s.scenario;
  j["source"] = s.source;
  j["status"] = s.status;
  j["step_time_s"] = static_cast<double>(s.step_time_ps) * 1e-12;
  j["step_time_ps"] = s.step_time_ps;
  j["end_time_ps"] = s.end_time_ps;
  j["events"] = s.events;
  j["pending_items"] = s.pending_items;
  for (const auto& m : s.metrics) j["metrics"][m.key] = m.value;
  j["streams"] = nlohmann::ordered_json::array();
  for (const auto& r : s.streams) {
    j["streams"].push_back({{"name", r.name}, {"busy_ps", r.busy_ps}, {"utilization", r.utilization}});
  }
  j["blocked"] = s.blocked;
  return j.dump(2) + "\n";
}

std::string chrome_trace(const std::vector<std::string>& tracks, const std::vector<TraceSpan>& spans) {
  // Trace Event Format: complete events ("ph": "X") with microsecond timestamps; one thread per track.
  nlohmann::ordered_json events = nlohmann::ordered_json::array();
  for (std::size_t t = 0; t < tracks.size(); ++t) {
    events.push_back({{"ph", "M"}, {"pid", 0}, {"tid", t}, {"name", "thread_name"}, {"args", {{"name", tracks[t]}}}});
    events.push_back({{"ph", "M"}, {"pid", 0}, {"tid", t}, {"name", "thread_sort_index"}, {"args", {{"sort_index", t}}}});
  }
  for (const auto& sp : spans) {
    events.push_back({{"ph", "X"},
                      {"pid", 0},
                      {"tid", sp.track},
                      {"name", sp.name},
                      {"ts", static_cast<double>(sp.start_ps) * 1e-6},
                      {"dur", static_cast<double>(sp.end_ps - sp.start_ps) * 1e-6}});
  }
  nlohmann::ordered_json j;
  j["displayTimeUnit"] = "ns";
  j["traceEvents"] = std::move(events);
  return j.dump() + "\n";
}

}  // namespace mfusim::report
