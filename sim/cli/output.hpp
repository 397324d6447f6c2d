#pragma once
// Where a subcommand's file outputs (--json, --csv, --plot, --scenario, --dump-config) go.
#include <iosfwd>
#include <string>

namespace mfusim::cli {

// Writes `text` to `path` ("-" = `out`, i.e. stdout); an unwritable path is bad input (InputError naming
// `what` and the path).
void write_output(const std::string& path, const std::string& text, std::ostream& out, const char* what);

}  // namespace mfusim::cli
