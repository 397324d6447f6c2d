#include "cli/output.hpp"

#include <fstream>
#include <ostream>

#include "core/error.hpp"

namespace mfusim::cli {

void write_output(const std::string& path, const std::string& text, std::ostream& out, const char* what) {
  if (path == "-") {
    out << text;
    return;
  }
  std::ofstream f(path, std::ios::binary);
  if (!f || !(f << text) || !f.flush()) {
    throw core::InputError(std::string("cannot write ") + what + " to '" + path + "'");
  }
}

}  // namespace mfusim::cli
