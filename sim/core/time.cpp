#include "core/time.hpp"

#include <cmath>
#include <string>

#include "core/error.hpp"

namespace mfusim::core {

Duration Duration::from_seconds(double seconds) {
  const double ps = std::round(seconds * 1e12);
  // 9.2e18 ps is the int64 limit; 9.2e18 itself is not representable exactly, so compare below it.
  MFUSIM_CHECK(std::isfinite(ps) && std::fabs(ps) < 9.2e18,
               "duration of " + std::to_string(seconds) + " s is outside the simulated range (+-106 days)");
  return Duration(static_cast<std::int64_t>(ps));
}

}  // namespace mfusim::core
