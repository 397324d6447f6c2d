#pragma once
// `mfusim compare`: cluster designs side by side on the same workload.
//
//   mfusim compare A.yaml B.yaml ... [--set key=value]... [--json FILE] [--csv FILE]
//
// Runs each scenario (in the order given; every --set applies to every scenario) and prints one column
// per scenario: step time, MFU, tokens/s, peak memory, power, energy per step and token, cost per
// million tokens, time / GPU-hours / energy / cost to train (with training.tokens_to_train and `cost:`),
// and the two largest parts of the step on the critical rank (compute, bubble, exposed TP/DP/PP/EP/CP
// communication, ...), then one line per scenario on what dominates. A plan that cannot run on its
// cluster (breaks a rule, does not fit in memory) shows its reason in its column; malformed input
// (YAML, unknown keys, units) stops the whole command with exit code 2. Exit code 3 when a simulation
// did not finish (its column says so).
#include <iosfwd>
#include <optional>
#include <string>
#include <vector>

#include "report/run_summary.hpp"

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
// "compute 62.0%, exposed dp communication 20.1%": the `n` largest parts of the step's breakdown.
std::string dominant_parts(const report::RunSummary& s, std::size_t n);

}  // namespace mfusim::cli
