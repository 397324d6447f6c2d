#include "collective/efficiency_curve.hpp"

#include <cmath>

#include "core/error.hpp"

namespace mfusim::collective {

EfficiencyCurve EfficiencyCurve::calibrated() {
  // Fitted values (docs/models/collectives.md, "Efficiency curve"), bytes per rank -> efficiency.
  constexpr double kKiB = 1024.0;
  constexpr double kMiB = 1024.0 * 1024.0;
  return EfficiencyCurve({{64 * kKiB, 0.57},
                          {256 * kKiB, 0.58},
                          {1 * kMiB, 0.58},
                          {4 * kMiB, 0.67},
                          {16 * kMiB, 0.83},
                          {64 * kMiB, 0.985}});
}

EfficiencyCurve EfficiencyCurve::none() {
  return EfficiencyCurve({{1.0, 1.0}});
}

EfficiencyCurve::EfficiencyCurve(std::vector<Point> points) : points_(std::move(points)) {
  if (points_.empty()) throw core::InputError("efficiency curve: needs at least one point");
  for (std::size_t i = 0; i < points_.size(); ++i) {
    const Point& p = points_[i];
    if (!(p.bytes_per_rank > 0) || !(p.efficiency > 0 && p.efficiency <= 1.0)) {
      throw core::InputError("efficiency curve: point " + std::to_string(i) +
                             " needs bytes > 0 and an efficiency in (0, 1]");
    }
    if (i > 0 && !(p.bytes_per_rank > points_[i - 1].bytes_per_rank)) {
      throw core::InputError("efficiency curve: points must be sorted by size");
    }
  }
}

double EfficiencyCurve::at(double bytes_per_rank) const {
  if (bytes_per_rank <= points_.front().bytes_per_rank) return points_.front().efficiency;
  if (bytes_per_rank >= points_.back().bytes_per_rank) return points_.back().efficiency;
  const double x = std::log2(bytes_per_rank);
  for (std::size_t i = 1; i < points_.size(); ++i) {
    if (bytes_per_rank <= points_[i].bytes_per_rank) {
      const double x0 = std::log2(points_[i - 1].bytes_per_rank);
      const double x1 = std::log2(points_[i].bytes_per_rank);
      const double f = (x - x0) / (x1 - x0);
      return points_[i - 1].efficiency + f * (points_[i].efficiency - points_[i - 1].efficiency);
    }
  }
  return points_.back().efficiency;
}

}  // namespace mfusim::collective
