#pragma once
// `mfusim sweep`: a scenario over a grid of parameter values (cli/sweep.hpp), run in parallel.
//
//   mfusim sweep SCENARIO --axis key.path=v1,v2,... [--axis ...] [--zip] [--set key.path=value ...]
//                [--threads N] [--csv FILE] [--json FILE] [--plot FILE.svg [--y COLUMN] [--x AXIS]
//                [--series AXIS]]
//
// Prints a table (axis values, step time, MFU, status) on stdout, unless --csv or --json write to
// stdout ('-'); a progress bar (done/total, rate, ETA) on stderr when stderr is a terminal and the
// sweep runs longer than a second. Every output is byte-identical whatever --threads is.
#include <iosfwd>
#include <string>
#include <vector>

namespace CLI {
class App;
}
namespace spdlog {
class logger;
}

namespace mfusim::cli {

struct SweepCommandOptions {
  std::string scenario;
  std::vector<std::string> axes;
  std::vector<std::string> overrides;
  bool zip = false;
  int threads = 0;  // 0: all cores
  std::string csv_path;
  std::string json_path;
  std::string plot_path;
  std::string y;
  std::string x;
  std::string series;
};

CLI::App* add_sweep_command(CLI::App& app, SweepCommandOptions& o);

// Bad input throws core::InputError (exit code 2), before any point runs when it can be known then.
int run_sweep_command(const SweepCommandOptions& o, std::ostream& out, std::ostream& err, bool quiet,
                      spdlog::logger& log);

}  // namespace mfusim::cli
