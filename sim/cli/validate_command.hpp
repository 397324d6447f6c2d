#pragma once
// `mfusim validate FILE [--json OUT] [--only ID,...] [--set key.path=value ...]`: replay published runs
// (scenario/published_runs.hpp). --set applies to the scenario generated for every run (what-ifs over
// the whole validation set: --set fidelity.collectives=flow, --set cluster.fabric.oversubscription=2).
// --scenario FILE writes the scenario generated for one run (with --only ID) so that it can be run,
// traced and edited like any other: `mfusim run FILE --timeline t.svg`.
#include <iosfwd>
#include <string>
#include <vector>

namespace mfusim::cli {

struct ValidateOptions {
  std::string file;
  std::string json_path;
  std::vector<std::string> only;
  std::vector<std::string> overrides;
  std::string scenario_out;  // --scenario: write the scenario generated for the one --only run
};

// Exit code 0 whenever the file is valid, whatever the errors; InputError (-> 2) when it is malformed.
int command_validate(const ValidateOptions& o, std::ostream& out);

}  // namespace mfusim::cli
