#pragma once
// `mfusim collective`: an nccl-tests-style microbenchmark of one collective on a topology.
//
//   mfusim collective --topology FILE [--set key=value ...] --op all-reduce (--gpus N | --ranks 0,8,16)
//                     [--min-bytes 8B --max-bytes 1GiB --factor 2] [--algorithm ring,tree]
//                     [--protocol simple] [--fidelity analytical|flow] [--root R] [--collnet] [--no-nvls]
//                     [--efficiency calibrated|none] [--json FILE]
//
// Short spellings: --algo, --proto, --min, --max (issue 4's). Prints nccl-tests' table (size, count, type, redop, root,
// time, algbw, busbw) plus the algorithm, protocol and channels (CTAs) chosen, and "# Avg bus bandwidth". sendrecv runs
// as nccl-tests does: every rank sends to the next and receives from the previous one, concurrently. --json writes a
// list of {size_bytes, time_us, algbw_GBps, busbw_GBps, algo, proto}.
#include <cstdint>
#include <iosfwd>
#include <optional>
#include <string>
#include <vector>

namespace CLI {
class App;
}
namespace spdlog {
class logger;
}

namespace mfusim::cli {

struct CollectiveCommandOptions {
  std::string topology;
  std::vector<std::string> overrides;
  std::string op = "all-reduce";
  std::optional<std::int64_t> gpus;
  std::string ranks;
  std::string min_bytes = "8B";
  std::string max_bytes = "1GiB";
  std::int64_t factor = 2;
  std::string algorithm;
  std::string protocol;
  std::string fidelity = "analytical";
  std::string efficiency = "calibrated";
  std::int64_t root = 0;
  bool collnet = false;
  bool no_nvls = false;
  std::string json_path;
};

// Registers the subcommand on `app`; parsed values go to `o`.
CLI::App* add_collective_command(CLI::App& app, CollectiveCommandOptions& o);

// Runs it: the table on `out`. Bad input throws core::InputError; a run that cannot finish throws
// core::SimulationError.
int run_collective_command(const CollectiveCommandOptions& o, std::ostream& out, spdlog::logger& log);

}  // namespace mfusim::cli
