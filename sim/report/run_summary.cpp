#include "report/run_summary.hpp"

#include <cmath>
#include <cstdio>
#include <utility>
#include <nlohmann/json.hpp>

#include "core/time.hpp"
#include "core/unit_parser.hpp"

namespace mfusim::report {
namespace {

// Four significant digits in the largest unit not above the value: "16.46 s", "2.732 ms".
std::string readable_time(std::int64_t ps) {
  const double v = static_cast<double>(ps);
  const char* unit = "ps";
  double scaled = v;
  for (const auto& [div, name] : {std::pair{1e12, "s"}, {1e9, "ms"}, {1e6, "us"}, {1e3, "ns"}}) {
    if (std::fabs(v) >= div) {
      scaled = v / div;
      unit = name;
      break;
    }
  }
  char buf[48];
  std::snprintf(buf, sizeof buf, "%.4g %s", scaled, unit);
  return buf;
}

std::string readable(double value, const std::string& unit) {
  char buf[64];
  if (unit == "B") {
    std::snprintf(buf, sizeof buf, "%.2f GiB", value / (1024.0 * 1024.0 * 1024.0));
  } else if (unit == "FLOP") {
    std::snprintf(buf, sizeof buf, "%.3e FLOP", value);
  } else if (unit == "W" || unit == "J") {
    // SI prefix: "5.6 kW", "12.34 MJ".
    const char* prefixes[] = {"", "k", "M", "G", "T", "P"};
    std::size_t k = 0;
    double v = value;
    while (k + 1 < sizeof prefixes / sizeof prefixes[0] && std::fabs(v) >= 1000.0) {
      v /= 1000.0;
      ++k;
    }
    std::snprintf(buf, sizeof buf, "%.4g %s%s", v, prefixes[k], unit.c_str());
  } else if (unit.empty()) {
    std::snprintf(buf, sizeof buf, "%.4g", value);
  } else {
    std::snprintf(buf, sizeof buf, "%.6g %s", value, unit.c_str());
  }
  return buf;
}

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
  out += "step time  " + readable_time(s.step_time_ps) + "\n";
  const auto pad = [](std::string label, std::size_t width) {
    label.resize(std::max(label.size(), width), ' ');
    return label;
  };
  for (const auto& m : s.metrics) {
    out += pad(m.label, 22) + " " + readable(m.value, m.unit) + "\n";
  }
  if (!s.breakdown.empty()) {
    double total = 0;
    for (const auto& b : s.breakdown) total += b.value;
    out += "\nwhere the time goes (critical rank)\n";
    for (const auto& b : s.breakdown) {
      out += "  " + pad(b.label, 26) + " " + pad(readable_time(static_cast<std::int64_t>(b.value * 1e12)), 12) + " " +
             fixed(total > 0 ? 100.0 * b.value / total : 0.0, 1) + "%\n";
    }
  }
  if (!s.memory.empty()) {
    out += "\nmemory per GPU (most loaded rank)\n";
    for (const auto& m : s.memory) out += "  " + pad(m.label, 44) + " " + fixed(m.value / (1024.0 * 1024 * 1024), 2) + " GiB\n";
  }
  if (!s.groups.empty()) {
    out += "\nparallel groups of rank 0\n";
    for (const auto& g : s.groups) {
      out += "  " + pad(g.name, 4) + " " + pad(std::to_string(g.size) + (g.size == 1 ? " rank" : " ranks"), 12) + " " +
             pad(std::to_string(g.nodes) + (g.nodes == 1 ? " node" : " nodes"), 10) + " " + g.ranks + "\n";
    }
  }
  out += "events     " + std::to_string(s.events) + "\n";
  if (!s.streams.empty()) {
    out += "\nstream                  busy          utilization\n";
    for (const auto& r : s.streams) {
      out += pad(r.name, 23) + " " + pad(readable_time(r.busy_ps), 13) + " " + fixed(100.0 * r.utilization, 1) + "%\n";
    }
  }
  for (const auto& n : s.notes) out += "note: " + n + "\n";
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
  for (const auto& m : s.metrics) j[m.key] = m.value;
  if (!s.breakdown.empty()) {
    j["breakdown"] = nlohmann::ordered_json::object();
    for (const auto& b : s.breakdown) j["breakdown"][b.key] = b.value;
  }
  if (!s.memory.empty()) {
    j["memory"] = nlohmann::ordered_json::object();
    for (const auto& m : s.memory) j["memory"][m.key] = m.value;
  }
  if (!s.groups.empty()) {
    j["groups"] = nlohmann::ordered_json::object();
    for (const auto& g : s.groups) j["groups"][g.name] = {{"size", g.size}, {"nodes", g.nodes}, {"ranks", g.ranks}};
  }
  j["streams"] = nlohmann::ordered_json::array();
  for (const auto& r : s.streams) {
    j["streams"].push_back({{"name", r.name}, {"busy_ps", r.busy_ps}, {"utilization", r.utilization}});
  }
  j["notes"] = s.notes;
  j["blocked"] = s.blocked;
  return j.dump(2) + "\n";
}

std::string chrome_trace(const std::vector<std::string>& tracks, const std::vector<TraceSpan>& spans,
                         const std::vector<std::uint32_t>& process) {
  // Trace Event Format: complete events ("ph": "X") with microsecond timestamps; a thread per track,
  // a process per node.
  const auto pid = [&process](std::size_t t) -> std::uint32_t { return t < process.size() ? process[t] : 0; };
  nlohmann::ordered_json events = nlohmann::ordered_json::array();
  std::vector<bool> named;
  for (std::size_t t = 0; t < tracks.size(); ++t) {
    const std::uint32_t p = pid(t);
    if (p >= named.size()) named.resize(p + 1, false);
    if (!named[p] && !process.empty()) {
      events.push_back({{"ph", "M"}, {"pid", p}, {"name", "process_name"}, {"args", {{"name", "node " + std::to_string(p)}}}});
      named[p] = true;
    }
    events.push_back({{"ph", "M"}, {"pid", p}, {"tid", t}, {"name", "thread_name"}, {"args", {{"name", tracks[t]}}}});
    events.push_back({{"ph", "M"}, {"pid", p}, {"tid", t}, {"name", "thread_sort_index"}, {"args", {{"sort_index", t}}}});
  }
  for (const auto& sp : spans) {
    nlohmann::ordered_json e = {{"ph", "X"},
                                {"pid", pid(sp.track)},
                                {"tid", sp.track},
                                {"name", sp.name}};
    if (!sp.category.empty()) e["cat"] = sp.category;
    e["ts"] = static_cast<double>(sp.start_ps) * 1e-6;
    e["dur"] = static_cast<double>(sp.end_ps - sp.start_ps) * 1e-6;
    if (!sp.args.empty()) {
      nlohmann::ordered_json a = nlohmann::ordered_json::object();
      for (const auto& arg : sp.args) {
        if (arg.numeric) {
          a[arg.key] = arg.number;
        } else {
          a[arg.key] = arg.text;
        }
      }
      e["args"] = std::move(a);
    }
    events.push_back(std::move(e));
  }
  nlohmann::ordered_json j;
  j["displayTimeUnit"] = "ns";
  j["traceEvents"] = std::move(events);
  return j.dump() + "\n";
}

}  // namespace mfusim::report
