#pragma once
// `mfusim compare`: cluster designs side by side on the same workload.
//
//   mfusim compare A.yaml B.yaml ... [--set key=value]... [--json FILE] [--csv FILE]
//                  [--plot FILE.svg [--x METRIC] [--y METRIC]]
//
// Runs each scenario (in the order given; every --set applies to every scenario) and prints one column
// per scenario: step time, MFU, tokens/s, peak memory, power, energy per step and token, cost per
// million tokens, time / GPU-hours / energy / cost to train (with training.tokens_to_train and `cost:`),
// and the two largest parts of the step on the critical rank (compute, bubble, exposed TP/DP/PP/EP/CP
// communication, ...), then one line per scenario on what dominates. A plan that cannot run on its
// cluster (breaks a rule, does not fit in memory) shows its reason in its column; malformed input
// (YAML, unknown keys, units) stops the whole command with exit code 2. Exit code 3 when a simulation
// did not finish (its column says so). `--plot` draws one marker per scenario at (x, y), two metrics of
// the summary (default: time to train in days against cost to train), both axes from zero, so the
// designs read as a trade-off (faster and dearer, or slower and cheaper).
#include <iosfwd>
#include <optional>
#include <string>
#include <vector>

#include "report/run_summary.hpp"
#include "report/svg_chart.hpp"

namespace CLI {
class App;
}
namespace spdlog {
class logger;
}

namespace mfusim::cli {

struct CompareOptions {
  std::vector<std::string> scenarios;
  std::vector<std::string> overrides;
  std::string json_path;
  std::string csv_path;
  std::string plot_path;
  std::string plot_x;  // empty: time_to_train_days
  std::string plot_y;  // empty: cost_to_train
};

CLI::App* add_compare_command(CLI::App& app, CompareOptions& o);
int run_compare_command(const CompareOptions& o, std::ostream& out, spdlog::logger& log);

// One column of the comparison: a summary, or why the plan cannot run.
struct ComparedRun {
  std::string file;
  std::optional<report::RunSummary> summary;
  std::string infeasible;  // the reason, when summary is empty
};

// Renderings (deterministic: same runs, same bytes).
std::string format_comparison(const std::vector<ComparedRun>& runs);
std::string comparison_json(const std::vector<ComparedRun>& runs);
std::string comparison_csv(const std::vector<ComparedRun>& runs);
// The --plot chart: one single-point series per feasible run, labelled with its scenario name; runs
// without the x or y metric (infeasible, no cost:) are named in a footnote. Throws InputError when no
// run reports `x` or `y` (the message lists the metric keys that exist).
report::LineChart comparison_chart(const std::vector<ComparedRun>& runs, const std::string& x, const std::string& y);
// "compute 62.0%, exposed dp communication 20.1%": the `n` largest parts of the step's breakdown.
std::string dominant_parts(const report::RunSummary& s, std::size_t n);

}  // namespace mfusim::cli
