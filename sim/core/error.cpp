#include "core/error.hpp"

namespace mfusim::core {

void check_failed(const char* condition, const char* file, int line, const std::string& message) {
  throw InternalError(std::string("internal error: check '") + condition + "' failed at " + file + ":" +
                      std::to_string(line) + ": " + message);
}

}  // namespace mfusim::core
