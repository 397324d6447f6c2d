#include "cli/sweep.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <exception>
#include <nlohmann/json.hpp>

#include "cli/training_summary.hpp"
#include "config/config_error.hpp"
#include "config/loader.hpp"
#include "config/overrides.hpp"
#include "core/error.hpp"
#include "core/parallel.hpp"
#include "core/strings.hpp"
#include "core/unit_parser.hpp"
#include "report/csv.hpp"
#include "scenario/scenario.hpp"
#include "scenario/simulation.hpp"

namespace mfusim::cli {
namespace {

std::string trim(std::string_view s) {
  const auto b = s.find_first_not_of(" \t");
  if (b == std::string_view::npos) return {};
  const auto e = s.find_last_not_of(" \t");
  return std::string(s.substr(b, e - b + 1));
}

// The column name of a summary field: its key, with the unit appended when the key does not already
// say it (a time in seconds ends in _s, bytes in _bytes, ...). Counts and rates whose key names them
// (gpus, tokens_per_s, model_flops_per_step) stay as they are.
// A key or label without its standalone numbers ("activations (4 micro-batches in flight)" ->
// "activations (micro-batches in flight)"), so that an item whose name carries a count that varies
// from point to point stays one column.
std::string without_numbers(const std::string& text, char separator) {
  std::string out;
  std::size_t start = 0;
  while (start <= text.size()) {
    auto end = text.find(separator, start);
    if (end == std::string::npos) end = text.size();
    std::string word = text.substr(start, end - start);
    if (word.empty()) {
      start = end + 1;
      continue;
    }
    const std::string bare = word.front() == '(' ? word.substr(1) : word;
    const bool number =
        !bare.empty() && std::all_of(bare.begin(), bare.end(), [](char c) { return c >= '0' && c <= '9'; });
    if (number && word.front() == '(' && end < text.size()) {
      // "(4 micro-batches" -> "(micro-batches": keep the parenthesis on the next word
      start = end + 1;
      const auto next = text.find(separator, start);
      word = "(" + text.substr(start, (next == std::string::npos ? text.size() : next) - start);
      end = next == std::string::npos ? text.size() : next;
    } else if (number) {
      start = end + 1;
      continue;
    }
    if (!word.empty()) out += (out.empty() ? "" : std::string(1, separator)) + word;
    start = end + 1;
  }
  return out;
}

// snake_case: lower case, '-' as '_', standalone numbers dropped.
std::string stable_key(const std::string& key) {
  std::string out = without_numbers(key, '_');
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (c == '-') c = '_';
  }
  return out;
}

std::string column_name(const std::string& prefix, const std::string& raw_key, const std::string& unit) {
  const std::string key = stable_key(raw_key);
  static constexpr struct {
    const char* unit;
    const char* suffix;
  } kSuffix[] = {{"s", "_s"},     {"B", "_bytes"}, {"W", "_w"},   {"J", "_j"},   {"Wh", "_wh"}, {"kWh", "_kwh"},
                 {"MWh", "_mwh"}, {"USD", "_usd"}, {"$", "_usd"}, {"kg", "_kg"}, {"h", "_h"}};
  std::string name = prefix + key;
  for (const auto& s : kSuffix) {
    if (unit != s.unit) continue;
    const std::string_view suffix(s.suffix);
    if (name.size() < suffix.size() || name.compare(name.size() - suffix.size(), suffix.size(), suffix) != 0)
      name += suffix;
    break;
  }
  return name;
}

// One summary field of one point, in its group (0 step time, 1 metrics, 2 breakdown, 3 memory).
struct Field {
  int group = 0;
  SweepColumn column;
  double value = 0.0;
};

struct Outcome {
  std::string status;
  std::string reason;
  std::vector<Field> fields;
};

std::vector<Field> fields_of(const report::RunSummary& s) {
  std::vector<Field> f;
  f.push_back({0, {"step_time_s", "step time", "s"}, static_cast<double>(s.step_time_ps) * 1e-12});
  for (const auto& m : s.metrics) f.push_back({1, {column_name("", m.key, m.unit), m.label, m.unit}, m.value});
  for (const auto& m : s.breakdown) {
    f.push_back({2, {column_name("breakdown_", m.key, m.unit), "time in " + m.label, m.unit}, m.value});
  }
  for (const auto& m : s.memory) {
    f.push_back(
        {3, {column_name("memory_", m.key, m.unit), "memory: " + without_numbers(m.label, ' '), m.unit}, m.value});
  }
  return f;
}

// An error that no value of the axes can fix: a key that does not exist in the scenario.
bool fatal_for_sweep(const config::ConfigError& e) {
  return e.message().rfind("unknown key", 0) == 0;
}

std::string reason_of(const config::ConfigError& e) {
  return e.key_path().empty() ? e.message() : e.key_path() + ": " + e.message();
}

// Builds and simulates one point. Errors that would fail every point propagate; the others are the
// point's status.
Outcome evaluate(const config::Node& base, const std::string& source, const std::vector<SweepAxis>& axes,
                 const std::vector<std::string>& values) {
  config::Node root = base;
  for (std::size_t a = 0; a < axes.size(); ++a) config::apply_override(root, axes[a].key + "=" + values[a], "--axis");
  Outcome out;
  std::optional<scenario::Scenario> sc;
  try {
    sc.emplace(scenario::build_scenario(root, source));
  } catch (const config::ConfigError& e) {
    if (fatal_for_sweep(e)) throw;
    out.status = e.message().find("does not fit") != std::string::npos ? "does-not-fit" : "invalid";
    out.reason = reason_of(e);
    return out;
  } catch (const core::InputError& e) {
    out.status = "invalid";
    out.reason = e.what();
    return out;
  }
  try {
    const scenario::SimulationResult res = scenario::simulate(*sc);
    if (res.run.status != core::RunStatus::kCompleted) {
      out.status = "failed";
      out.reason = "simulation " + std::string(core::to_string(res.run.status));
      return out;
    }
    out.status = "ok";
    out.fields = fields_of(summarize(*sc, res));
  } catch (const core::SimulationError& e) {
    out.status = "failed";
    out.reason = e.what();
  } catch (const core::InputError& e) {
    out.status = "invalid";
    out.reason = e.what();
  }
  return out;
}

std::string scenario_name(const config::Node& root, const std::filesystem::path& path) {
  if (const auto* e = root.find("name"); e != nullptr && e->value.is_scalar()) return e->value.scalar();
  return path.stem().string();
}

// Splits a leading number ("1.6" of "1.6Tbps") from its unit ("Tbps"); nullopt when there is none.
std::optional<std::pair<double, std::string>> split_number(const std::string& text) {
  double v = 0.0;
  const char* b = text.data();
  const char* e = b + text.size();
  const auto [p, ec] = std::from_chars(b, e, v);
  if (ec != std::errc() || p == b || !std::isfinite(v)) return std::nullopt;
  return std::pair{v, trim(std::string_view(p, static_cast<std::size_t>(e - p)))};
}

// A quantity parser as a double in the dimension's base unit (ps, bytes, B/s, FLOP, FLOP/s, W).
using Parser = double (*)(std::string_view);
constexpr Parser kParsers[] = {
    [](std::string_view t) { return static_cast<double>(core::parse_duration(t).ps()); },
    [](std::string_view t) { return core::parse_bytes(t).as_double(); },
    [](std::string_view t) { return core::parse_bandwidth(t).value(); },
    [](std::string_view t) { return core::parse_flops(t).value(); },
    [](std::string_view t) { return core::parse_flop_rate(t).value(); },
    [](std::string_view t) { return core::parse_power(t).value(); },
};

std::string fixed(double v, int decimals) {
  char buf[64];
  const auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::fixed, decimals);
  return ec == std::errc() ? std::string(buf, end) : std::string("?");
}

std::string short_key(const std::string& key) {
  const auto dot = key.rfind('.');
  return dot == std::string::npos ? key : key.substr(dot + 1);
}

std::size_t axis_index(const SweepResult& r, const std::string& key, const char* option) {
  std::vector<std::string> keys;
  for (std::size_t i = 0; i < r.axes.size(); ++i) {
    if (r.axes[i].key == key) return i;
    keys.push_back(r.axes[i].key);
  }
  std::string message = std::string(option) + ": '" + key + "' is not an axis of this sweep";
  if (auto m = core::closest_match(key, keys)) message += " (did you mean '" + *m + "'?)";
  throw core::InputError(message + "; axes: " + core::join(keys));
}

}  // namespace

SweepAxis parse_axis(std::string_view text) {
  const std::string shown = "--axis " + std::string(text);
  const auto eq = text.find('=');
  if (eq == std::string_view::npos) {
    throw core::InputError(shown + ": expected key.path=value1,value2,... (e.g. --axis parallel.tp=1,2,4,8)");
  }
  SweepAxis axis;
  axis.key = trim(text.substr(0, eq));
  if (axis.key.empty())
    throw core::InputError(shown + ": the key before '=' is empty (e.g. --axis parallel.tp=1,2,4,8)");
  if (axis.key.find_first_of(" \t,") != std::string::npos) {
    throw core::InputError(shown + ": '" + axis.key + "' is not a key path (write key.path=value1,value2,...)");
  }
  const std::string_view list = text.substr(eq + 1);
  int depth = 0;
  std::string cur;
  auto push = [&] {
    std::string v = trim(cur);
    if (v.empty()) {
      throw core::InputError(shown + ": empty value in the list (values are separated by single commas, e.g. " +
                             axis.key + "=1,2,4)");
    }
    axis.values.push_back(std::move(v));
    cur.clear();
  };
  for (char c : list) {
    if (c == '[' || c == '{') ++depth;
    if (c == ']' || c == '}') --depth;
    if (c == ',' && depth == 0) {
      push();
    } else {
      cur += c;
    }
  }
  push();
  return axis;
}

std::vector<std::vector<std::string>> sweep_grid(const std::vector<SweepAxis>& axes, bool zip) {
  if (axes.empty()) throw core::InputError("sweep: give at least one --axis key.path=value1,value2,...");
  for (std::size_t i = 0; i < axes.size(); ++i) {
    for (std::size_t j = 0; j < i; ++j) {
      if (axes[i].key == axes[j].key)
        throw core::InputError("--axis " + axes[i].key + ": this key already has an axis");
    }
  }
  std::vector<std::vector<std::string>> points;
  if (zip) {
    const std::size_t n = axes.front().values.size();
    for (const auto& a : axes) {
      if (a.values.size() != n) {
        throw core::InputError("--zip: axis " + a.key + " has " + std::to_string(a.values.size()) + " values but " +
                               axes.front().key + " has " + std::to_string(n) +
                               " (zipped axes pair values one to one)");
      }
    }
    for (std::size_t i = 0; i < n; ++i) {
      std::vector<std::string> p;
      for (const auto& a : axes) p.push_back(a.values[i]);
      points.push_back(std::move(p));
    }
    return points;
  }
  std::size_t total = 1;
  for (const auto& a : axes) {
    total *= a.values.size();
    if (total > kMaxSweepPoints) {
      throw core::InputError("sweep: the grid has more than " + std::to_string(kMaxSweepPoints) +
                             " points; sweep fewer values, or pair axes with --zip");
    }
  }
  std::vector<std::size_t> idx(axes.size(), 0);
  for (std::size_t n = 0; n < total; ++n) {
    std::vector<std::string> p;
    for (std::size_t a = 0; a < axes.size(); ++a) p.push_back(axes[a].values[idx[a]]);
    points.push_back(std::move(p));
    for (std::size_t a = axes.size(); a-- > 0;) {  // the last axis varies fastest
      if (++idx[a] < axes[a].values.size()) break;
      idx[a] = 0;
    }
  }
  return points;
}

std::size_t SweepResult::column(std::string_view name) const {
  for (std::size_t i = 0; i < columns.size(); ++i) {
    if (columns[i].name == name) return i;
  }
  return columns.size();
}

SweepResult run_sweep(const SweepSpec& spec) {
  const auto grid = sweep_grid(spec.axes, spec.zip);
  config::Node base = config::load_file(spec.scenario);
  for (const auto& o : spec.overrides) config::apply_override(base, o);
  const std::string source = spec.scenario.string();

  SweepResult r;
  r.scenario = scenario_name(base, spec.scenario);
  r.source = source;
  r.axes = spec.axes;
  r.zip = spec.zip;

  // The first point runs alone: a key error (the same at every point) surfaces before the grid runs.
  std::vector<Outcome> outcomes(grid.size());
  outcomes[0] = evaluate(base, source, spec.axes, grid[0]);
  if (spec.progress) spec.progress(1, grid.size());
  if (spec.check_first && outcomes[0].status == "ok") {
    std::vector<SweepColumn> first;
    for (const auto& f : outcomes[0].fields) first.push_back(f.column);
    spec.check_first(first);
  }
  const auto errors = core::run_jobs(
      grid.size() - 1, spec.threads,
      [&](std::size_t i) { outcomes[i + 1] = evaluate(base, source, spec.axes, grid[i + 1]); },
      [&](std::size_t done) {
        if (spec.progress) spec.progress(done + 1, grid.size());
      });
  for (const auto& e : errors) {
    if (e) std::rethrow_exception(e);
  }

  // Columns: the union over ok points, by group, each group in first-reported order.
  std::vector<SweepColumn> groups[4];
  for (const auto& o : outcomes) {
    for (const auto& f : o.fields) {
      auto& g = groups[f.group];
      if (std::none_of(g.begin(), g.end(), [&](const SweepColumn& c) { return c.name == f.column.name; }))
        g.push_back(f.column);
    }
  }
  for (auto& g : groups) r.columns.insert(r.columns.end(), g.begin(), g.end());
  for (std::size_t i = 0; i < grid.size(); ++i) {
    SweepPoint p;
    p.values = grid[i];
    p.status = outcomes[i].status;
    p.reason = outcomes[i].reason;
    p.fields.assign(r.columns.size(), std::nullopt);
    if (p.status == "ok") {
      // A breakdown or memory item a point does not list is zero there (no DP communication at dp = 1);
      // a metric it does not report stays empty.
      for (std::size_t c = groups[0].size() + groups[1].size(); c < r.columns.size(); ++c) p.fields[c] = 0.0;
    }
    for (const auto& f : outcomes[i].fields) p.fields[r.column(f.column.name)] = f.value;
    r.points.push_back(std::move(p));
  }
  return r;
}

std::string sweep_csv(const SweepResult& r) {
  std::vector<std::string> header;
  for (const auto& a : r.axes) header.push_back(a.key);
  header.emplace_back("status");
  header.emplace_back("reason");
  for (const auto& c : r.columns) header.push_back(c.name);
  std::string out = report::csv_record(header);
  for (const auto& p : r.points) {
    std::vector<std::string> row = p.values;
    row.push_back(p.status);
    row.push_back(p.reason);
    for (const auto& f : p.fields) row.push_back(f ? report::format_number(*f) : std::string());
    out += report::csv_record(row);
  }
  return out;
}

std::string sweep_json(const SweepResult& r) {
  nlohmann::ordered_json j;
  j["scenario"] = r.scenario;
  j["source"] = r.source;
  j["zip"] = r.zip;
  j["axes"] = nlohmann::ordered_json::array();
  for (const auto& a : r.axes) j["axes"].push_back({{"key", a.key}, {"values", a.values}});
  j["columns"] = nlohmann::ordered_json::array();
  for (const auto& c : r.columns) j["columns"].push_back({{"name", c.name}, {"label", c.label}, {"unit", c.unit}});
  j["points"] = nlohmann::ordered_json::array();
  for (const auto& p : r.points) {
    nlohmann::ordered_json x;
    x["axes"] = nlohmann::ordered_json::object();
    for (std::size_t a = 0; a < r.axes.size(); ++a) x["axes"][r.axes[a].key] = p.values[a];
    x["status"] = p.status;
    x["reason"] = p.reason;
    x["values"] = nlohmann::ordered_json::object();
    for (std::size_t c = 0; c < r.columns.size(); ++c) {
      if (p.fields[c]) x["values"][r.columns[c].name] = *p.fields[c];
    }
    j["points"].push_back(std::move(x));
  }
  return j.dump(2) + "\n";
}

std::string sweep_table(const SweepResult& r) {
  const std::size_t step = r.column("step_time_s");
  const std::size_t mfu = r.column("mfu");
  std::vector<std::string> header;
  for (const auto& a : r.axes) header.push_back(a.key);
  header.emplace_back("step time");
  if (mfu < r.columns.size()) header.emplace_back("MFU");
  header.emplace_back("status");
  std::vector<std::vector<std::string>> rows;
  std::size_t ok = 0;
  for (const auto& p : r.points) {
    std::vector<std::string> row = p.values;
    const bool has_step = step < p.fields.size() && p.fields[step];
    row.push_back(has_step ? fixed(*p.fields[step], 4) + " s" : "-");
    if (mfu < r.columns.size()) row.push_back(p.fields[mfu] ? fixed(*p.fields[mfu], 4) : "-");
    std::string status = p.status == "ok" ? p.status : p.status + ": " + p.reason;
    constexpr std::size_t kMaxStatus = 110;  // the whole reason is in the CSV and JSON
    if (status.size() > kMaxStatus) status = status.substr(0, kMaxStatus - 3) + "...";
    row.push_back(status);
    ok += p.status == "ok";
    rows.push_back(std::move(row));
  }
  std::vector<std::size_t> width(header.size(), 0);
  for (std::size_t c = 0; c < header.size(); ++c) width[c] = header[c].size();
  for (const auto& row : rows) {
    for (std::size_t c = 0; c + 1 < row.size(); ++c) width[c] = std::max(width[c], row[c].size());
  }
  auto line = [&](const std::vector<std::string>& cells) {
    std::string s;
    for (std::size_t c = 0; c < cells.size(); ++c) {
      std::string cell = cells[c];
      if (c + 1 < cells.size()) cell.resize(width[c], ' ');
      s += (c == 0 ? "" : "  ") + cell;
    }
    return s + "\n";
  };
  std::string out = "sweep of " + r.scenario + " (" + r.source + "): " + std::to_string(r.points.size()) + " points";
  if (r.axes.size() > 1) {
    std::string dims;
    for (const auto& a : r.axes)
      dims += (dims.empty() ? "" : r.zip ? " zip " : " x ") + std::to_string(a.values.size());
    out += " (" + dims + ")";
  }
  out += "\n\n" + line(header);
  for (const auto& row : rows) out += line(row);
  out += "\n" + std::to_string(ok) + " of " + std::to_string(r.points.size()) + " points simulated";
  if (ok < r.points.size())
    out += "; " + std::to_string(r.points.size() - ok) + " infeasible or failed (reasons above)";
  return out + "\n";
}

std::optional<std::vector<double>> axis_numbers(const std::vector<std::string>& values, std::string& unit) {
  unit.clear();
  if (values.empty()) return std::nullopt;
  const auto first = split_number(values.front());
  if (!first) return std::nullopt;
  std::vector<double> out;
  if (first->second.empty()) {
    for (const auto& v : values) {
      const auto n = split_number(v);
      if (!n || !n->second.empty()) return std::nullopt;
      out.push_back(n->first);
    }
    return out;
  }
  for (const Parser parse : kParsers) {
    double factor = 0.0;
    try {
      factor = parse("1" + first->second);
    } catch (const core::UnitError&) {
      continue;
    }
    try {
      for (const auto& v : values) out.push_back(parse(v) / factor);
    } catch (const core::UnitError&) {
      return std::nullopt;
    }
    unit = first->second;
    return out;
  }
  return std::nullopt;
}

std::size_t require_column(const std::vector<SweepColumn>& columns, const std::string& name, const char* option) {
  std::vector<std::string> names;
  for (std::size_t i = 0; i < columns.size(); ++i) {
    if (columns[i].name == name) return i;
    names.push_back(columns[i].name);
  }
  std::string message = std::string(option) + ": unknown column '" + name + "'";
  if (auto m = core::closest_match(name, names)) message += " (did you mean '" + *m + "'?)";
  throw core::InputError(message +
                         "; valid: " + (names.empty() ? std::string("none (no point simulated)") : core::join(names)));
}

report::LineChart sweep_chart(const SweepResult& r, const SweepPlotOptions& o) {
  const std::size_t y = require_column(r.columns, o.y, "--y");
  const std::size_t xa = o.x.empty() ? 0 : axis_index(r, o.x, "--x");
  std::optional<std::size_t> sa;
  if (!o.series.empty()) {
    sa = axis_index(r, o.series, "--series");
    if (*sa == xa) throw core::InputError("--series: '" + o.series + "' is already the x axis; pick another axis");
  } else if (!r.zip) {
    for (std::size_t a = 0; a < r.axes.size(); ++a) {
      if (a != xa) {
        sa = a;
        break;
      }
    }
  }
  // Axes that tell the series apart: the series axis first, then (without zip) every other non-x axis.
  std::vector<std::size_t> group;
  if (sa) group.push_back(*sa);
  if (!r.zip) {
    for (std::size_t a = 0; a < r.axes.size(); ++a) {
      if (a != xa && (!sa || a != *sa)) group.push_back(a);
    }
  }

  report::LineChart c;
  const SweepColumn& yc = r.columns[y];
  c.y_label = yc.label + (yc.unit.empty() ? "" : " (" + yc.unit + ")");
  c.title = r.scenario + ": " + c.y_label;
  const SweepAxis& xaxis = r.axes[xa];
  std::string unit;
  const auto numbers = axis_numbers(xaxis.values, unit);
  c.x_label = xaxis.key + (unit.empty() ? "" : " (" + unit + ")");
  if (!numbers) c.x_categories = xaxis.values;
  auto x_of = [&](const std::string& v) {
    const auto it = std::find(xaxis.values.begin(), xaxis.values.end(), v);
    const auto i = static_cast<std::size_t>(it - xaxis.values.begin());
    return numbers ? (*numbers)[i] : static_cast<double>(i);
  };
  if (group.empty()) {
    c.legend_title = r.scenario;
  } else {
    for (std::size_t g : group) c.legend_title += (c.legend_title.empty() ? "" : ", ") + r.axes[g].key;
  }

  std::vector<std::vector<std::string>> keys;  // per series: its values of the group axes
  std::vector<std::string> omitted;
  std::size_t n_omitted = 0;
  for (const auto& p : r.points) {
    std::vector<std::string> key;
    for (std::size_t g : group) key.push_back(p.values[g]);
    auto it = std::find(keys.begin(), keys.end(), key);
    if (it == keys.end()) {
      keys.push_back(key);
      report::ChartSeries s;
      if (group.empty()) {
        s.label = c.y_label;
      } else if (group.size() == 1) {
        s.label = key[0];
      } else {
        for (std::size_t k = 0; k < group.size(); ++k) {
          s.label += (k == 0 ? "" : ", ") + short_key(r.axes[group[k]].key) + "=" + key[k];
        }
      }
      c.series.push_back(std::move(s));
      it = keys.end() - 1;
    }
    report::ChartPoint cp;
    cp.x = x_of(p.values[xa]);
    if (p.status == "ok" && p.fields[y]) cp.y = *p.fields[y];
    c.series[static_cast<std::size_t>(it - keys.begin())].points.push_back(cp);
    if (!cp.y) {
      ++n_omitted;
      if (omitted.size() < 3) {
        std::string where;
        for (std::size_t a = 0; a < r.axes.size(); ++a)
          where += (a ? ", " : "") + short_key(r.axes[a].key) + "=" + p.values[a];
        omitted.push_back(where + " (" + (p.status == "ok" ? "no " + yc.name : p.status) + ")");
      }
    }
  }
  if (n_omitted > 0) {
    std::string f = std::to_string(n_omitted) + " of " + std::to_string(r.points.size()) +
                    " points not plotted: " + core::join(omitted, "; ");
    if (n_omitted > omitted.size()) f += "; and " + std::to_string(n_omitted - omitted.size()) + " more";
    c.footnotes.push_back(f + " (reasons in the CSV)");
  }
  c.footnotes.push_back("mfusim sweep of " + r.source);
  return c;
}

}  // namespace mfusim::cli
