#pragma once
// The `mfusim` command line. The only place that turns exceptions into exit codes:
//   0 success, 1 internal error, 2 bad input or usage, 3 simulation did not finish (stalled, limit).
// Results go to `out` (stdout), logs and errors to `err` (stderr).
#include <iosfwd>

namespace mfusim::cli {

enum ExitCode : int { kOk = 0, kInternalError = 1, kBadInput = 2, kSimulationFailed = 3 };

int run_cli(int argc, const char* const* argv, std::ostream& out, std::ostream& err);

}  // namespace mfusim::cli
