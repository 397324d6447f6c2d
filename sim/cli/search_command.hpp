#pragma once
// `mfusim search SCENARIO [--top K] [--csv FILE] [--fix key=value ...] [--max-tp N] [--max-pp N]
//                         [--max-cp N] [--max-virtual-stages N] [--min-micro-batch N] [--max-micro-batch N]
//                         [--refine N] [--threads N] [--no-bound] [--set key=value ...]`
// The fastest parallel plan for the scenario's model, cluster and global batch (scenario/plan_search.hpp,
// docs/search.md). stdout: the top K plans (step time, MFU, peak memory, breakdown), the scenario's own
// plan's rank, why the best beats the runner-up, and the `mfusim run` line for the best; stderr: a
// progress bar on a terminal and the wall time. --csv lists every enumerated plan with its status.
#include <cstdint>
#include <iosfwd>
#include <string>
#include <vector>

namespace CLI {
class App;
}

namespace mfusim::cli {

struct SearchCommandOptions {
  std::string scenario;
  std::size_t top = 10;
  std::string csv_path;
  std::vector<std::string> fixes;
  std::vector<std::string> overrides;
  std::int64_t max_tp = 0;
  std::int64_t max_pp = 0;
  std::int64_t max_cp = 0;
  std::int64_t max_virtual_stages = 0;
  std::int64_t min_micro_batch = 1;
  std::int64_t max_micro_batch = 16;
  std::string headroom;  // --headroom SIZE, e.g. 4GiB
  std::size_t refine = 16;
  unsigned threads = 0;
  bool dry_run = false;
  bool no_bound = false;  // simulate every survivor (no branch and bound)
  bool progress = false;  // force the progress bar even when stderr is not a terminal
};

CLI::App* add_search_command(CLI::App& app, SearchCommandOptions& o);

// Exit code 0 with a ranking; core::InputError (-> 2) for bad input or when no plan is feasible (the CSV
// is still written first).
int run_search_command(const SearchCommandOptions& o, std::ostream& out, std::ostream& err);

}  // namespace mfusim::cli
