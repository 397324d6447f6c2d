#pragma once
// `mfusim validate FILE [--json OUT] [--only ID,...]`: replay published runs (scenario/published_runs.hpp).
#include <iosfwd>
#include <string>
#include <vector>

namespace mfusim::cli {

struct ValidateOptions {
  std::string file;
  std::string json_path;
  std::vector<std::string> only;
};

// Exit code 0 whenever the file is valid, whatever the errors; InputError (-> 2) when it is malformed.
int command_validate(const ValidateOptions& o, std::ostream& out);

}  // namespace mfusim::cli
