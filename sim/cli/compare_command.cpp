#include "cli/compare_command.hpp"

#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <iterator>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <ostream>
#include <tuple>

#include "cli/output.hpp"
#include "cli/app.hpp"
#include "cli/training_summary.hpp"
#include "core/error.hpp"
#include "scenario/scenario.hpp"
#include "scenario/simulation.hpp"
#include "scenario/training.hpp"

namespace mfusim::cli {
namespace {

const report::Metric* metric(const report::RunSummary& s, const std::string& key) {
  for (const auto& m : s.metrics) {
    if (m.key == key) return &m;
  }
  return nullptr;
}

std::string printf_string(const char* format, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, format, v);
  return buf;
}

// Value with an SI prefix: "12.3 kW", "4.56 MJ".
std::string si(double v, const char* unit) {
  const char* prefixes[] = {"", "k", "M", "G", "T", "P"};
  std::size_t k = 0;
  while (k + 1 < std::size(prefixes) && std::fabs(v) >= 1000.0) {
    v /= 1000.0;
    ++k;
  }
  return printf_string("%.4g ", v) + prefixes[k] + unit;
}

std::string seconds_text(double s) {
  if (s >= 86400.0) return printf_string("%.1f days", s / 86400.0);
  if (s >= 3600.0) return printf_string("%.2f h", s / 3600.0);
  if (s >= 1.0) return printf_string("%.4g s", s);
  return printf_string("%.4g ms", s * 1e3);
}

std::string money(double v, const std::string& currency) {
  if (v >= 1e6) return printf_string("%.3f M", v / 1e6) + currency;
  return printf_string("%.2f ", v) + currency;
}

struct Row {
  std::string label;
  std::string (*cell)(const report::RunSummary&);
};

std::string metric_cell(const report::RunSummary& s, const std::string& key, std::string (*fmt)(const report::Metric&)) {
  const auto* m = metric(s, key);
  return m == nullptr ? "-" : fmt(*m);
}

const std::vector<Row>& rows() {
  static const std::vector<Row> kRows = {
      {"scenario", [](const report::RunSummary& s) { return s.scenario; }},
      {"status", [](const report::RunSummary& s) { return s.status; }},
      {"GPUs", [](const report::RunSummary& s) {
         return metric_cell(s, "gpus", [](const report::Metric& m) { return printf_string("%.0f", m.value); });
       }},
      {"step time", [](const report::RunSummary& s) { return seconds_text(static_cast<double>(s.step_time_ps) * 1e-12); }},
      {"MFU", [](const report::RunSummary& s) {
         return metric_cell(s, "mfu", [](const report::Metric& m) { return printf_string("%.1f%%", 100.0 * m.value); });
       }},
      {"tokens/s", [](const report::RunSummary& s) {
         return metric_cell(s, "tokens_per_s", [](const report::Metric& m) { return si(m.value, "tok/s"); });
       }},
      {"peak memory/GPU", [](const report::RunSummary& s) {
         return metric_cell(s, "peak_memory_bytes", [](const report::Metric& m) {
           return printf_string("%.1f GiB", m.value / (1024.0 * 1024.0 * 1024.0));
         });
       }},
      {"facility power", [](const report::RunSummary& s) {
         return metric_cell(s, "facility_power_w", [](const report::Metric& m) { return si(m.value, "W"); });
       }},
      {"energy/step", [](const report::RunSummary& s) {
         return metric_cell(s, "energy_per_step_j", [](const report::Metric& m) { return si(m.value, "J"); });
       }},
      {"energy/token", [](const report::RunSummary& s) {
         return metric_cell(s, "energy_per_token_j", [](const report::Metric& m) { return si(m.value, "J"); });
       }},
      {"cost/1M tokens", [](const report::RunSummary& s) {
         return metric_cell(s, "cost_per_million_tokens", [](const report::Metric& m) { return money(m.value, m.unit); });
       }},
      {"time to train", [](const report::RunSummary& s) {
         return metric_cell(s, "time_to_train_s", [](const report::Metric& m) { return seconds_text(m.value); });
       }},
      {"GPU-hours", [](const report::RunSummary& s) {
         return metric_cell(s, "gpu_hours", [](const report::Metric& m) { return si(m.value, "h"); });
       }},
      {"energy to train", [](const report::RunSummary& s) {
         return metric_cell(s, "energy_to_train_mwh", [](const report::Metric& m) {
           // %.4g would print 10004 as "1e+04": whole MWh from 1,000 up.
           return printf_string(m.value >= 1000.0 ? "%.0f MWh" : "%.4g MWh", m.value);
         });
       }},
      {"cost to train", [](const report::RunSummary& s) {
         return metric_cell(s, "cost_to_train", [](const report::Metric& m) { return money(m.value, m.unit); });
       }},
      {"largest part", [](const report::RunSummary& s) {
         const auto d = dominant_parts(s, 1);
         return d.empty() ? std::string("-") : d;
       }},
      {"second part", [](const report::RunSummary& s) {
         const auto all = dominant_parts(s, 2);
         const auto comma = all.find(", ");
         return comma == std::string::npos ? std::string("-") : all.substr(comma + 2);
       }},
  };
  return kRows;
}

std::string column_name(const std::string& file) { return std::filesystem::path(file).stem().string(); }

std::string csv_field(const std::string& v) {
  if (v.find_first_of(",\"\n") == std::string::npos) return v;
  std::string q = "\"";
  for (char c : v) q += c == '"' ? std::string("\"\"") : std::string(1, c);
  return q + "\"";
}

std::string number(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.10g", v);
  return buf;
}

// "time to train (days)" stays as it is; "cost to train" + "USD" -> "cost to train (USD)".
std::string axis_label(const report::Metric& m) {
  const std::string unit = "(" + m.unit + ")";
  if (m.unit.empty() || (m.label.size() >= unit.size() && m.label.ends_with(unit))) return m.label;
  return m.label + " " + unit;
}

}  // namespace

report::LineChart comparison_chart(const std::vector<ComparedRun>& runs, const std::string& x, const std::string& y) {
  // A plottable figure: any metric of the summary, or the step time (kept outside the metric list).
  auto figure = [](const report::RunSummary& s, const std::string& key) -> std::optional<report::Metric> {
    if (key == "step_time_s") return report::Metric{key, "step time", static_cast<double>(s.step_time_ps) * 1e-12, "s"};
    const auto* m = metric(s, key);
    if (m == nullptr) return std::nullopt;
    // Bytes read better in GiB (the unit the run's text report uses for memory).
    if (m->unit == "B") return report::Metric{m->key, m->label, m->value / (1024.0 * 1024.0 * 1024.0), "GiB"};
    return *m;
  };
  std::optional<report::Metric> x_metric, y_metric;
  std::vector<std::string> keys{"step_time_s"};
  for (const auto& r : runs) {
    if (!r.summary) continue;
    if (!x_metric) x_metric = figure(*r.summary, x);
    if (!y_metric) y_metric = figure(*r.summary, y);
    for (const auto& m : r.summary->metrics) {
      if (std::find(keys.begin(), keys.end(), m.key) == keys.end()) keys.push_back(m.key);
    }
  }
  for (const auto& [opt, key, found] : {std::tuple{"--x", x, x_metric.has_value()}, std::tuple{"--y", y, y_metric.has_value()}}) {
    if (found) continue;
    if (keys.size() == 1) throw core::InputError(std::string(opt) + " " + key + ": no compared run is feasible, nothing to plot");
    std::string valid;
    for (const auto& k : keys) valid += (valid.empty() ? "" : ", ") + k;
    std::string needs;
    if (key == "time_to_train_days" || key == "time_to_train_s") needs = " (it needs training.tokens_to_train)";
    if (key == "cost_to_train") needs = " (it needs training.tokens_to_train and a cost: section)";
    throw core::InputError(std::string(opt) + " " + key + ": no compared run reports this metric" + needs + "; valid: " + valid);
  }
  report::LineChart chart;
  chart.title = y_metric->label + " against " + x_metric->label;
  chart.x_label = axis_label(*x_metric);
  chart.y_label = axis_label(*y_metric);
  chart.legend_title = "scenario";
  chart.include_zero = true;
  for (const auto& r : runs) {
    const auto name = r.summary ? r.summary->scenario : column_name(r.file);
    const auto mx = r.summary ? figure(*r.summary, x) : std::nullopt;
    const auto my = r.summary ? figure(*r.summary, y) : std::nullopt;
    if (!r.summary) {
      chart.footnotes.push_back("not drawn: " + name + ": " + r.infeasible);
    } else if (!mx || !my) {
      chart.footnotes.push_back("not drawn: " + name + ": no " + (mx ? y : x));
    } else {
      chart.series.push_back({name, {{mx->value, my->value}}});
    }
  }
  return chart;
}

std::string dominant_parts(const report::RunSummary& s, std::size_t n) {
  double total = 0.0;
  for (const auto& b : s.breakdown) total += b.value;
  if (total <= 0.0) return "";
  std::vector<const report::Metric*> parts;
  for (const auto& b : s.breakdown) {
    if (b.value > 0.0) parts.push_back(&b);
  }
  // Largest first; ties keep the breakdown's order (stable).
  std::stable_sort(parts.begin(), parts.end(), [](const auto* a, const auto* b) { return a->value > b->value; });
  std::string out;
  for (std::size_t i = 0; i < parts.size() && i < n; ++i) {
    out += (i ? ", " : "") + parts[i]->label + " " + printf_string("%.1f%%", 100.0 * parts[i]->value / total);
  }
  return out;
}

std::string format_comparison(const std::vector<ComparedRun>& runs) {
  std::vector<std::string> header{""};
  for (const auto& r : runs) header.push_back(column_name(r.file));
  std::vector<std::vector<std::string>> table{header};
  for (const auto& row : rows()) {
    std::vector<std::string> line{row.label};
    for (const auto& r : runs) {
      if (r.summary) {
        line.push_back(row.cell(*r.summary));
      } else {
        const bool fit = r.infeasible.find("does not fit") != std::string::npos;
        line.push_back(row.label != "status" ? "-" : fit ? "infeasible: does not fit" : "infeasible: plan rule");
      }
    }
    table.push_back(std::move(line));
  }
  std::vector<std::size_t> width(header.size(), 0);
  for (const auto& line : table) {
    for (std::size_t c = 0; c < line.size(); ++c) width[c] = std::max(width[c], line[c].size());
  }
  std::string out;
  for (const auto& line : table) {
    std::string text;
    for (std::size_t c = 0; c < line.size(); ++c) {
      std::string cell = line[c];
      if (c + 1 < line.size()) cell.resize(width[c] + 2, ' ');
      text += cell;
    }
    while (!text.empty() && text.back() == ' ') text.pop_back();
    out += text + "\n";
  }
  out += "\n";
  for (const auto& r : runs) {
    const std::string name = column_name(r.file);
    if (!r.summary) {
      out += name + ": cannot run: " + r.infeasible + "\n";
      continue;
    }
    const auto& s = *r.summary;
    if (s.status != "completed") {
      out += name + ": the simulation did not finish (" + s.status + "); figures are partial\n";
      continue;
    }
    const auto parts = dominant_parts(s, 3);
    if (parts.empty()) {
      out += name + ": no breakdown (not a training step)\n";
      continue;
    }
    const auto first = parts.find(", ");
    out += name + ": " + (first == std::string::npos ? parts : parts.substr(0, first)) + " of the step dominates";
    if (first != std::string::npos) out += "; then " + parts.substr(first + 2);
    out += "\n";
  }
  return out;
}

std::string comparison_json(const std::vector<ComparedRun>& runs) {
  nlohmann::ordered_json j;
  j["scenarios"] = nlohmann::ordered_json::array();
  for (const auto& r : runs) {
    nlohmann::ordered_json e;
    e["file"] = r.file;
    e["feasible"] = r.summary.has_value();
    if (r.summary) {
      e["result"] = nlohmann::ordered_json::parse(report::to_json(*r.summary));
    } else {
      e["reason"] = r.infeasible;
    }
    j["scenarios"].push_back(std::move(e));
  }
  return j.dump(2) + "\n";
}

std::string comparison_csv(const std::vector<ComparedRun>& runs) {
  // Columns: fixed ones, then every metric key and breakdown key in first-seen order.
  std::vector<std::string> metric_keys, breakdown_keys;
  for (const auto& r : runs) {
    if (!r.summary) continue;
    for (const auto& m : r.summary->metrics) {
      if (std::find(metric_keys.begin(), metric_keys.end(), m.key) == metric_keys.end()) metric_keys.push_back(m.key);
    }
    for (const auto& b : r.summary->breakdown) {
      if (std::find(breakdown_keys.begin(), breakdown_keys.end(), b.key) == breakdown_keys.end()) {
        breakdown_keys.push_back(b.key);
      }
    }
  }
  std::string out = "file,scenario,feasible,reason,status,step_time_s";
  for (const auto& k : metric_keys) out += "," + k;
  for (const auto& k : breakdown_keys) out += ",breakdown." + k;
  out += "\n";
  for (const auto& r : runs) {
    out += csv_field(r.file);
    if (!r.summary) {
      out += ",," + std::string("false,") + csv_field(r.infeasible) + ",,";
      for (std::size_t i = 0; i < metric_keys.size() + breakdown_keys.size(); ++i) out += ",";
      out += "\n";
      continue;
    }
    const auto& s = *r.summary;
    out += "," + csv_field(s.scenario) + ",true,," + s.status + "," + number(static_cast<double>(s.step_time_ps) * 1e-12);
    for (const auto& k : metric_keys) {
      const auto* m = metric(s, k);
      out += "," + (m ? number(m->value) : std::string());
    }
    for (const auto& k : breakdown_keys) {
      std::string cell;
      for (const auto& b : s.breakdown) {
        if (b.key == k) cell = number(b.value);
      }
      out += "," + cell;
    }
    out += "\n";
  }
  return out;
}

CLI::App* add_compare_command(CLI::App& app, CompareOptions& o) {
  auto* c = app.add_subcommand("compare", "run scenarios side by side: step time, MFU, energy, cost, what dominates");
  c->add_option("scenarios", o.scenarios, "scenario YAML files (two or more)")->required();
  c->add_option("--set", o.overrides, "override a key in every scenario before validation: key.path=value")
      ->type_name("KEY=VALUE");
  c->add_option("--json", o.json_path, "also write the comparison as JSON to FILE ('-' for stdout)");
  c->add_option("--csv", o.csv_path, "also write one CSV row per scenario to FILE ('-' for stdout)");
  c->add_option("--plot", o.plot_path, "write an SVG chart to FILE: one marker per scenario at (--x, --y)");
  c->add_option("--x", o.plot_x, "the metric on the x axis (default time_to_train_days)")->type_name("METRIC");
  c->add_option("--y", o.plot_y, "the metric on the y axis (default cost_to_train)")->type_name("METRIC");
  return c;
}

int run_compare_command(const CompareOptions& o, std::ostream& out, spdlog::logger& log) {
  if (o.scenarios.size() < 2) {
    throw core::InputError("compare: give at least two scenarios (e.g. mfusim compare a.yaml b.yaml)");
  }
  if (o.plot_path.empty() && (!o.plot_x.empty() || !o.plot_y.empty())) {
    throw core::InputError("--x and --y choose what --plot FILE.svg draws; give --plot too");
  }
  std::vector<ComparedRun> runs;
  bool all_completed = true;
  for (const auto& file : o.scenarios) {
    ComparedRun r;
    r.file = file;
    try {
      const scenario::Scenario sc = scenario::load_scenario(file, o.overrides);
      log.info("simulating '{}'", sc.name);
      const auto result = scenario::simulate(sc);
      r.summary = summarize(sc, result);
      if (result.run.status != core::RunStatus::kCompleted) all_completed = false;
    } catch (const scenario::InfeasiblePlan& e) {
      r.infeasible = e.what();
    }
    runs.push_back(std::move(r));
  }
  if (o.json_path != "-" && o.csv_path != "-") out << format_comparison(runs);
  if (!o.json_path.empty()) write_output(o.json_path, comparison_json(runs), out, "the JSON comparison");
  if (!o.csv_path.empty()) write_output(o.csv_path, comparison_csv(runs), out, "the CSV comparison");
  if (!o.plot_path.empty()) {
    const auto chart = comparison_chart(runs, o.plot_x.empty() ? "time_to_train_days" : o.plot_x,
                                        o.plot_y.empty() ? "cost_to_train" : o.plot_y);
    write_output(o.plot_path, report::render_svg(chart), out, "the chart");
  }
  if (!all_completed) {
    log.error("a simulation did not complete (see its status column)");
    return kSimulationFailed;
  }
  return kOk;
}

}  // namespace mfusim::cli
