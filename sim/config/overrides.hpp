#pragma once
// Command-line overrides `--set key.path=value`, applied to the loaded tree before validation so the
// value goes through exactly the same checks as if it had been written in the file. Path segments are
// mapping keys or list indices (`workload.tasks.0.duration=2ms`); missing mapping keys are created (an
// unknown key is then reported by validation like any other). The value is parsed as YAML, so
// `--set a=[1,2]` sets a list. Errors name the override itself, as "(OPTION key=value)": `option` is the
// command-line option it came from ("--set", or "--axis" for a sweep point).
#include <string_view>

#include "config/node.hpp"

namespace mfusim::config {

// `flag` names the option in error messages ("--set", or "--fix" for plan search).
void apply_override(Node& root, std::string_view assignment, std::string_view flag = "--set");

}  // namespace mfusim::config
