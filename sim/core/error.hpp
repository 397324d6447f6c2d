#pragma once
// Typed exceptions thrown by library code. Only the CLI maps them to exit codes:
//   InputError      -> 2  (bad input or usage: malformed YAML, unknown key, missing unit, impossible plan)
//   SimulationError -> 3  (the simulation could not finish: stalled, a limit reached)
//   InternalError   -> 1  (a broken invariant: a bug in mfusim)
#include <stdexcept>
#include <string>

namespace mfusim::core {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class InputError : public Error {
 public:
  using Error::Error;
};

// A quantity string that does not parse ("400" without unit, "-5GBps", "NaN"). The config layer catches
// it and re-throws with file:line:column and key path.
class UnitError : public InputError {
 public:
  using InputError::InputError;
};

class SimulationError : public Error {
 public:
  using Error::Error;
};

class InternalError : public Error {
 public:
  using Error::Error;
};

[[noreturn]] void check_failed(const char* condition, const char* file, int line, const std::string& message);

}  // namespace mfusim::core

// Invariant check that stays on in Release builds. The message expression is evaluated only on failure.
#define MFUSIM_CHECK(condition, message)                                                  \
  do {                                                                                    \
    if (!(condition)) [[unlikely]] {                                                      \
      ::mfusim::core::check_failed(#condition, __FILE__, __LINE__, (message));            \
    }                                                                                     \
  } while (false)
