#include "cli/sweep_command.hpp"

#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <ostream>

#include "cli/output.hpp"
#include "cli/sweep.hpp"
#include "core/error.hpp"
#include "core/parallel.hpp"
#include "core/progress.hpp"
#include "core/strings.hpp"
#include "report/svg_chart.hpp"

namespace mfusim::cli {
namespace {

}  // namespace

CLI::App* add_sweep_command(CLI::App& app, SweepCommandOptions& o) {
  auto* c = app.add_subcommand("sweep", "run a scenario over a grid of parameter values (in parallel)");
  c->add_option("scenario", o.scenario, "scenario YAML file")->required();
  c->add_option("--axis", o.axes, "a swept key and its values: key.path=v1,v2,... (repeat for a grid)")
      ->type_name("KEY=V1,V2,...")
      ->required();
  c->add_flag("--zip", o.zip, "pair the axes' values one to one instead of the full grid");
  c->add_option("--set", o.overrides, "override a scenario key at every point: key.path=value")->type_name("KEY=VALUE");
  c->add_option("--threads", o.threads, "worker threads (default: all cores)");
  c->add_option("--csv", o.csv_path, "write one row per point to FILE ('-' for stdout)");
  c->add_option("--json", o.json_path, "write the points as JSON to FILE ('-' for stdout)");
  c->add_option("--plot", o.plot_path, "write an SVG line chart to FILE");
  c->add_option("--y", o.y, "the plotted column (any CSV column; default mfu)");
  c->add_option("--x", o.x, "the axis on the x axis (default: the first)");
  c->add_option("--series", o.series, "the axis drawn as one line per value (default: the second)");
  return c;
}

int run_sweep_command(const SweepCommandOptions& o, std::ostream& out, std::ostream& err, bool quiet,
                      spdlog::logger& log) {
  SweepSpec spec;
  spec.scenario = o.scenario;
  spec.overrides = o.overrides;
  spec.zip = o.zip;
  for (const auto& a : o.axes) spec.axes.push_back(parse_axis(a));
  if (o.threads < 0 || o.threads > 4096) {
    throw core::InputError("--threads: " + std::to_string(o.threads) +
                           " is out of range (valid: 1 to 4096; default: all cores)");
  }
  spec.threads = o.threads == 0 ? core::default_thread_count() : static_cast<unsigned>(o.threads);
  if (o.plot_path.empty() && (!o.y.empty() || !o.x.empty() || !o.series.empty())) {
    throw core::InputError("--y, --x and --series choose what --plot FILE.svg draws; give --plot too");
  }
  SweepPlotOptions plot;
  if (!o.y.empty()) plot.y = o.y;
  plot.x = o.x;
  plot.series = o.series;
  if (!o.plot_path.empty()) {
    // The axes are known now: check --x and --series before anything runs.
    std::vector<std::string> keys;
    for (const auto& a : spec.axes) keys.push_back(a.key);
    for (const auto& [opt, key] : {std::pair{"--x", plot.x}, std::pair{"--series", plot.series}}) {
      if (key.empty() || std::find(keys.begin(), keys.end(), key) != keys.end()) continue;
      std::string message = std::string(opt) + ": '" + key + "' is not an axis of this sweep";
      if (auto m = core::closest_match(key, keys)) message += " (did you mean '" + *m + "'?)";
      throw core::InputError(message + "; axes: " + core::join(keys));
    }
    // --y against the first point's columns, unless it names a breakdown or memory item (those vary
    // by point; sweep_chart checks them against the union at the end).
    spec.check_first = [&plot](const std::vector<SweepColumn>& cols) {
      if (plot.y.rfind("breakdown_", 0) == 0 || plot.y.rfind("memory_", 0) == 0) return;
      require_column(cols, plot.y, "--y");
    };
  }

  const auto grid_size = sweep_grid(spec.axes, spec.zip).size();
  core::ProgressBar bar(err, grid_size, "sweep", !quiet && core::ProgressBar::stderr_is_terminal());
  spec.progress = [&bar](std::size_t done, std::size_t) { bar.update(done); };
  const auto start = std::chrono::steady_clock::now();
  const SweepResult r = run_sweep(spec);
  bar.finish();
  log.info("{} points in {:.2f} s on {} threads", r.points.size(),
           std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(), spec.threads);

  // The chart is built first: a bad --y is reported before anything is written.
  const std::string svg = o.plot_path.empty() ? std::string() : report::render_svg(sweep_chart(r, plot));
  if (o.csv_path != "-" && o.json_path != "-") out << sweep_table(r);
  if (!o.csv_path.empty()) write_output(o.csv_path, sweep_csv(r), out, "the CSV");
  if (!o.json_path.empty()) write_output(o.json_path, sweep_json(r), out, "the JSON");
  if (!o.plot_path.empty()) write_output(o.plot_path, svg, out, "the chart");
  return 0;
}

}  // namespace mfusim::cli
