#pragma once
// What-if sweeps (`mfusim sweep`): one scenario simulated at every point of a grid of overrides.
//
// Each axis is a scenario key and a list of values (`--axis cluster.fabric.oversubscription=1,2,4`).
// The points are the Cartesian product of the axes (the first axis varies slowest), or with `zip` the
// element-wise tuples (all axes the same length). A point is the scenario file with the `--set`
// overrides applied, then the point's axis values (as `--set` would apply them, so they go through the
// same validation as a value written in the file), then simulated on its own Engine. Points run in
// parallel (core::run_jobs) and their results are kept in point order, so every output is
// byte-identical whatever the thread count.
//
// A point that mfusim rejects is a row, not a failure of the sweep: status
//   ok            simulated to completion
//   does-not-fit  the memory check rejected the plan (training.check_memory)
//   invalid       the plan or a value is not valid at this point (tp does not divide the heads, ...)
//   failed        the simulation could not finish (stalled, a limit reached)
// with the reason. Mistakes that would fail every point are errors of the whole sweep (exit code 2),
// reported before anything runs: a malformed --axis, an unknown key (with its did-you-mean), an
// override into a value that is not a mapping, zipped axes of different lengths.
#include <cstddef>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "report/svg_chart.hpp"

namespace mfusim::cli {

struct SweepAxis {
  std::string key;
  std::vector<std::string> values;
};

// "key.path=v1,v2,...": values split at commas outside brackets (`[1,2]` stays one value), spaces
// around them trimmed. Throws core::InputError naming the --axis when malformed.
SweepAxis parse_axis(std::string_view text);

inline constexpr std::size_t kMaxSweepPoints = 100000;

// The points, each one value per axis in axis order: the Cartesian product (first axis slowest) or,
// with `zip`, the i-th value of every axis. Throws core::InputError for duplicate keys, zipped axes of
// different lengths or more than kMaxSweepPoints points.
std::vector<std::vector<std::string>> sweep_grid(const std::vector<SweepAxis>& axes, bool zip);

struct SweepColumn {
  std::string name;   // CSV header, snake_case with its unit: step_time_s, mfu, peak_memory_bytes
  std::string label;  // human label from the summary, e.g. "peak memory/GPU"
  std::string unit;   // "s", "B", "" for a ratio, ...
};

struct SweepPoint {
  std::vector<std::string> values;            // one per axis
  std::string status;                         // ok | does-not-fit | invalid | failed
  std::string reason;                         // empty when ok
  std::vector<std::optional<double>> fields;  // one per SweepResult::columns; absent: not reported
};

struct SweepResult {
  std::string scenario;  // the scenario's name
  std::string source;    // its file
  std::vector<SweepAxis> axes;
  bool zip = false;
  // Every summary field any ok point reported, in a fixed order: step_time_s, then the summary's
  // metrics, breakdown (breakdown_*) and memory items (memory_*), each group in first-reported order.
  std::vector<SweepColumn> columns;
  std::vector<SweepPoint> points;
  // Index of the column named `name`, or columns.size().
  std::size_t column(std::string_view name) const;
};

struct SweepSpec {
  std::filesystem::path scenario;
  std::vector<std::string> overrides;  // --set, applied to every point before its axis values
  std::vector<SweepAxis> axes;
  bool zip = false;
  unsigned threads = 0;  // 0: all cores
  // Called once, before the other points run, with the columns of the first point when it simulated:
  // lets the command reject a bad --y before spending the sweep's time.
  std::function<void(const std::vector<SweepColumn>&)> check_first;
  // Progress: called (serialised) with the number of points done and the total.
  std::function<void(std::size_t, std::size_t)> progress;
};

SweepResult run_sweep(const SweepSpec& spec);

// One row per point: the axis values (header: the axis keys), status, reason, then every column.
std::string sweep_csv(const SweepResult& r);
// {scenario, source, zip, axes: [{key, values}], columns: [{name, label, unit}],
//  points: [{axes: {key: value}, status, reason, values: {column: number}}]}
std::string sweep_json(const SweepResult& r);
// A compact table for the terminal: axis values, step time, MFU (when reported), status and reason.
std::string sweep_table(const SweepResult& r);

// Index of the column `name` in `columns`; throws core::InputError "OPTION: unknown column 'x' (did you
// mean 'y'?); valid: ..." when there is none.
std::size_t require_column(const std::vector<SweepColumn>& columns, const std::string& name, const char* option);

struct SweepPlotOptions {
  std::string y = "mfu";  // a column name
  std::string x;          // an axis key; default the first axis
  std::string series;     // an axis key; default the first other axis (none with zip)
};

// The chart of column y against axis x, one line per value of the series axis (and of any further
// axes). x is numeric when every value of the x axis parses as a number in the unit of its first
// value (100Gbps, 400Gbps, 1.6Tbps -> 100, 400, 1600 Gbps), categorical otherwise. Points that are
// not ok are left out and counted in a footnote. Throws core::InputError for an unknown y column
// (listing the valid ones) or axis.
report::LineChart sweep_chart(const SweepResult& r, const SweepPlotOptions& o);

// The numbers of `values` in the unit of the first one, and that unit ("" when plain numbers);
// nullopt when any value is not a number of the same dimension.
std::optional<std::vector<double>> axis_numbers(const std::vector<std::string>& values, std::string& unit);

}  // namespace mfusim::cli
