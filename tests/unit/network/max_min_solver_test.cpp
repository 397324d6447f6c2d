#include "network/max_min_solver.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <initializer_list>
#include <limits>
#include <new>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "core/error.hpp"

// Counts calls of the global operator new so that a test can check that a warm solve() allocates nothing.
// Test-only; the counter is a function-local static because a replaced operator new can reach nothing else.
// The replacements are not inlined: GCC's -Wmismatched-new-delete would otherwise see free() applied to
// the result of a new-expression.
namespace {
std::size_t& allocation_count() {
  static std::size_t count = 0;
  return count;
}
}  // namespace

[[gnu::noinline]] void* operator new(std::size_t size) {
  ++allocation_count();
  if (void* p = std::malloc(size == 0 ? 1 : size)) {
    return p;
  }
  throw std::bad_alloc();
}
[[gnu::noinline]] void operator delete(void* p) noexcept {
  std::free(p);
}
[[gnu::noinline]] void operator delete(void* p, std::size_t /*size*/) noexcept {
  std::free(p);
}
// The nothrow forms too: std::get_temporary_buffer (stable_sort, inplace_merge) allocates with them and
// releases through the sized delete above, so a sanitizer's own nothrow new would be paired with free().
[[gnu::noinline]] void* operator new(std::size_t size, const std::nothrow_t& /*tag*/) noexcept {
  ++allocation_count();
  return std::malloc(size == 0 ? 1 : size);
}
[[gnu::noinline]] void operator delete(void* p, const std::nothrow_t& /*tag*/) noexcept {
  std::free(p);
}

namespace mfusim::network {
namespace {

using Solver = MaxMinSolver;
constexpr double kInf = Solver::kUnbounded;
// Accuracy the solver must reach against the reference and the closed forms (relative).
constexpr double kRel = 1e-9;

bool close(double a, double b, double rel = kRel) {
  if (std::isinf(a) || std::isinf(b)) {
    return a == b;
  }
  return std::abs(a - b) <= rel * std::max({std::abs(a), std::abs(b), 1e-300});
}

// ---- A plain description of an instance, and the textbook solver on it -------------------------------

struct Element {
  std::uint32_t constraint;
  double consumption;
};
struct Variable {
  double weight = 1.0;
  double bound = kInf;
  std::vector<Element> elements;
};
struct Instance {
  std::vector<double> capacity;
  std::vector<Variable> variables;
};

// Textbook progressive filling (Bertsekas & Gallager section 6.5), recomputed from scratch each round:
// level s = min(min over constraints with unfrozen variables of (C - frozen usage) / (unfrozen load),
//               min over unfrozen bounded variables of bound / weight);
// freeze every variable whose bound/weight or one of whose constraints attains s. O(rounds * (V + E)).
std::vector<double> reference_rates(const Instance& instance) {
  const std::size_t nv = instance.variables.size();
  const std::size_t nc = instance.capacity.size();
  std::vector<double> rate(nv, 0.0);
  std::vector<bool> frozen(nv, false);
  for (std::size_t v = 0; v < nv; ++v) {
    if (instance.variables[v].elements.empty()) {
      rate[v] = instance.variables[v].bound;
      frozen[v] = true;
    }
  }
  while (std::find(frozen.begin(), frozen.end(), false) != frozen.end()) {
    std::vector<double> remaining = instance.capacity;
    std::vector<double> load(nc, 0.0);
    for (std::size_t v = 0; v < nv; ++v) {
      for (const Element& e : instance.variables[v].elements) {
        if (frozen[v]) {
          remaining[e.constraint] -= e.consumption * rate[v];
        } else {
          load[e.constraint] += e.consumption * instance.variables[v].weight;
        }
      }
    }
    double level = kInf;
    for (std::size_t c = 0; c < nc; ++c) {
      if (load[c] > 0) {
        level = std::min(level, std::max(remaining[c], 0.0) / load[c]);
      }
    }
    for (std::size_t v = 0; v < nv; ++v) {
      if (!frozen[v]) {
        level = std::min(level, instance.variables[v].bound / instance.variables[v].weight);
      }
    }
    const double tie = level * (1.0 + 1e-12);
    std::vector<bool> saturated(nc, false);
    for (std::size_t c = 0; c < nc; ++c) {
      saturated[c] = load[c] > 0 && std::max(remaining[c], 0.0) / load[c] <= tie;
    }
    for (std::size_t v = 0; v < nv; ++v) {
      if (frozen[v]) {
        continue;
      }
      const Variable& var = instance.variables[v];
      bool freeze = var.bound / var.weight <= tie;
      for (const Element& e : var.elements) {
        freeze = freeze || saturated[e.constraint];
      }
      if (freeze) {
        rate[v] = std::min(level * var.weight, var.bound);
        frozen[v] = true;
      }
    }
  }
  return rate;
}

// Builds a fresh solver; its ids equal the instance's indices.
Solver build(const Instance& instance) {
  Solver solver;
  for (const double c : instance.capacity) {
    solver.add_constraint(c);
  }
  for (const Variable& var : instance.variables) {
    const Solver::VariableId v = solver.add_variable(var.weight, var.bound);
    for (const Element& e : var.elements) {
      solver.add_element(v, e.constraint, e.consumption);
    }
  }
  return solver;
}

// Random instances. Odd seeds draw capacities, weights and consumptions from small sets, so that exact ties
// (several constraints saturating at one level) are common; even seeds draw generic reals.
Instance random_instance(std::uint32_t seed, std::uint32_t max_constraints = 40, std::uint32_t max_variables = 120) {
  std::mt19937 rng(seed);
  const bool ties = seed % 2 == 1;
  auto uniform = [&rng](double lo, double hi) { return std::uniform_real_distribution<double>(lo, hi)(rng); };
  auto pick = [&rng](std::initializer_list<double> values) {
    std::uniform_int_distribution<std::size_t> index(0, values.size() - 1);
    return *(values.begin() + static_cast<std::ptrdiff_t>(index(rng)));
  };
  auto chance = [&rng](double p) { return std::bernoulli_distribution(p)(rng); };

  Instance instance;
  const auto nc = std::uniform_int_distribution<std::uint32_t>(1, max_constraints)(rng);
  const auto nv = std::uniform_int_distribution<std::uint32_t>(1, max_variables)(rng);
  for (std::uint32_t c = 0; c < nc; ++c) {
    instance.capacity.push_back(ties ? pick({1.0, 2.0, 4.0, 10.0}) : uniform(1.0, 100.0));
  }
  std::uniform_int_distribution<std::uint32_t> any_constraint(0, nc - 1);
  std::uniform_int_distribution<std::uint32_t> path_length(0, 5);
  for (std::uint32_t i = 0; i < nv; ++i) {
    Variable var;
    var.weight = chance(0.5) ? 1.0 : (ties ? pick({2.0, 3.0, 0.5}) : uniform(0.25, 4.0));
    if (chance(0.3)) {
      var.bound = ties ? pick({0.5, 1.0, 2.0}) : uniform(0.0, 5.0);
    }
    const std::uint32_t n = path_length(rng);
    for (std::uint32_t k = 0; k < n; ++k) {
      const double consumption = chance(0.7) ? 1.0 : (ties ? pick({0.5, 2.0}) : uniform(0.1, 3.0));
      var.elements.push_back(Element{any_constraint(rng), consumption});
    }
    instance.variables.push_back(std::move(var));
  }
  return instance;
}

// Checks feasibility and the max-min bottleneck condition of `rate` on `instance`; returns "" or a reason.
std::string check_max_min(const Instance& instance, const std::vector<double>& rate) {
  const std::size_t nc = instance.capacity.size();
  std::vector<double> usage(nc, 0.0);
  std::vector<double> max_share(nc, 0.0);  // largest rate/weight among the constraint's variables
  for (std::size_t v = 0; v < instance.variables.size(); ++v) {
    for (const Element& e : instance.variables[v].elements) {
      usage[e.constraint] += e.consumption * rate[v];
      max_share[e.constraint] = std::max(max_share[e.constraint], rate[v] / instance.variables[v].weight);
    }
  }
  for (std::size_t c = 0; c < nc; ++c) {
    if (usage[c] > instance.capacity[c] * (1 + kRel)) {
      return "constraint " + std::to_string(c) + " over capacity: usage " + std::to_string(usage[c]) + " > " +
             std::to_string(instance.capacity[c]);
    }
  }
  for (std::size_t v = 0; v < instance.variables.size(); ++v) {
    const Variable& var = instance.variables[v];
    if (rate[v] < 0 || rate[v] > var.bound * (1 + kRel)) {
      return "variable " + std::to_string(v) + " rate " + std::to_string(rate[v]) + " outside [0, bound " +
             std::to_string(var.bound) + "]";
    }
    if (rate[v] >= var.bound * (1 - kRel)) {
      continue;  // at its bound
    }
    bool bottlenecked = false;
    for (const Element& e : var.elements) {
      const bool saturated = usage[e.constraint] >= instance.capacity[e.constraint] * (1 - kRel);
      const bool largest = rate[v] / var.weight >= max_share[e.constraint] * (1 - kRel);
      bottlenecked = bottlenecked || (saturated && largest);
    }
    if (!bottlenecked) {
      return "variable " + std::to_string(v) + " (rate " + std::to_string(rate[v]) +
             ") is below its bound and has no saturated constraint on which its rate/weight is maximal";
    }
  }
  return "";
}

std::vector<double> rates_of(const Solver& solver, std::size_t n) {
  std::vector<double> rate;
  for (std::uint32_t v = 0; v < n; ++v) {
    rate.push_back(solver.rate(v));
  }
  return rate;
}

// ---- Closed forms -----------------------------------------------------------------------------------

TEST(MaxMinSolver, OneVariableOnOneConstraintGetsTheCapacity) {
  Solver solver;
  const auto c = solver.add_constraint(10.0);
  const auto v = solver.add_variable();
  solver.add_element(v, c);
  solver.solve();
  EXPECT_DOUBLE_EQ(solver.rate(v), 10.0) << "one flow alone on a link of capacity C=10 must get C";
  EXPECT_DOUBLE_EQ(solver.usage(c), 10.0) << "the link must then be fully used";
  EXPECT_EQ(solver.rounds(), 1U) << "one link saturates at one level";
}

TEST(MaxMinSolver, TwoEqualVariablesShareEqually) {
  Solver solver;
  const auto c = solver.add_constraint(10.0);
  const auto a = solver.add_variable();
  const auto b = solver.add_variable();
  solver.add_element(a, c);
  solver.add_element(b, c);
  solver.solve();
  EXPECT_DOUBLE_EQ(solver.rate(a), 5.0) << "two equal flows on C=10 get C/2 each";
  EXPECT_DOUBLE_EQ(solver.rate(b), 5.0) << "two equal flows on C=10 get C/2 each";
}

TEST(MaxMinSolver, WeightsSplitInProportion) {
  Solver solver;
  const auto c = solver.add_constraint(100.0);
  const auto light = solver.add_variable(1.0);
  const auto heavy = solver.add_variable(3.0);
  solver.add_element(light, c);
  solver.add_element(heavy, c);
  solver.solve();
  EXPECT_DOUBLE_EQ(solver.rate(light), 25.0) << "weights 1:3 on C=100 give C*1/4";
  EXPECT_DOUBLE_EQ(solver.rate(heavy), 75.0) << "weights 1:3 on C=100 give C*3/4";
}

TEST(MaxMinSolver, BoundCapsAVariableAndTheRestIsRedistributed) {
  Solver solver;
  const auto c = solver.add_constraint(10.0);
  const auto capped = solver.add_variable(1.0, 2.0);
  const auto a = solver.add_variable();
  const auto b = solver.add_variable();
  for (const auto v : {capped, a, b}) {
    solver.add_element(v, c);
  }
  solver.solve();
  EXPECT_DOUBLE_EQ(solver.rate(capped), 2.0) << "the fair share C/3=3.33 exceeds the bound 2, so the bound binds";
  EXPECT_DOUBLE_EQ(solver.rate(a), 4.0) << "the other two split the rest: (10-2)/2 = 4";
  EXPECT_DOUBLE_EQ(solver.rate(b), 4.0) << "the other two split the rest: (10-2)/2 = 4";
  EXPECT_DOUBLE_EQ(solver.usage(c), 10.0) << "the link stays saturated";
}

TEST(MaxMinSolver, BoundAboveFairShareDoesNotBind) {
  Solver solver;
  const auto c = solver.add_constraint(10.0);
  const auto a = solver.add_variable(1.0, 7.0);
  const auto b = solver.add_variable();
  solver.add_element(a, c);
  solver.add_element(b, c);
  solver.solve();
  EXPECT_DOUBLE_EQ(solver.rate(a), 5.0) << "a bound of 7 is above the fair share C/2 = 5 and must not matter";
  EXPECT_DOUBLE_EQ(solver.rate(b), 5.0);
}

// Parking lot: links L0, L1, L2 of capacity C in a row; a long flow crosses all three and one short flow
// uses each link. Every link carries two flows, so all saturate at the same level: every flow gets C/2.
TEST(MaxMinSolver, ParkingLotThreeLinks) {
  constexpr double kC = 12.0;
  Solver solver;
  std::vector<Solver::ConstraintId> link;
  std::vector<Solver::VariableId> shorts;
  const auto long_flow = solver.add_variable();
  for (int i = 0; i < 3; ++i) {
    link.push_back(solver.add_constraint(kC));
    solver.add_element(long_flow, link.back());
    shorts.push_back(solver.add_variable());
    solver.add_element(shorts.back(), link.back());
  }
  solver.solve();
  EXPECT_DOUBLE_EQ(solver.rate(long_flow), kC / 2) << "the long flow shares each link with one short flow: C/2";
  for (int i = 0; i < 3; ++i) {
    EXPECT_DOUBLE_EQ(solver.rate(shorts[static_cast<std::size_t>(i)]), kC / 2) << "short flow on link " << i;
    EXPECT_DOUBLE_EQ(solver.usage(link[static_cast<std::size_t>(i)]), kC) << "link " << i << " saturated";
  }
  EXPECT_EQ(solver.rounds(), 1U) << "three links tied at C/2 must saturate in one round";
}

// Parking lot with a congested middle link: L1 has two short flows. L1 saturates first at C/3 (three
// flows); the long flow is frozen there, and the short flows on L0 and L2 take the rest, C - C/3 = 2C/3.
TEST(MaxMinSolver, ParkingLotWithCongestedMiddleLink) {
  constexpr double kC = 12.0;
  Solver solver;
  const auto l0 = solver.add_constraint(kC);
  const auto l1 = solver.add_constraint(kC);
  const auto l2 = solver.add_constraint(kC);
  const auto long_flow = solver.add_variable();
  for (const auto l : {l0, l1, l2}) {
    solver.add_element(long_flow, l);
  }
  const auto s0 = solver.add_variable();
  solver.add_element(s0, l0);
  const auto s1a = solver.add_variable();
  solver.add_element(s1a, l1);
  const auto s1b = solver.add_variable();
  solver.add_element(s1b, l1);
  const auto s2 = solver.add_variable();
  solver.add_element(s2, l2);
  solver.solve();
  EXPECT_DOUBLE_EQ(solver.rate(long_flow), kC / 3) << "bottleneck L1 has 3 flows: C/3";
  EXPECT_DOUBLE_EQ(solver.rate(s1a), kC / 3) << "bottleneck L1 has 3 flows: C/3";
  EXPECT_DOUBLE_EQ(solver.rate(s1b), kC / 3) << "bottleneck L1 has 3 flows: C/3";
  EXPECT_DOUBLE_EQ(solver.rate(s0), 2 * kC / 3) << "L0 gives the short flow what the long flow leaves: 2C/3";
  EXPECT_DOUBLE_EQ(solver.rate(s2), 2 * kC / 3) << "L2 gives the short flow what the long flow leaves: 2C/3";
  EXPECT_EQ(solver.rounds(), 2U) << "two water levels: C/3, then 2C/3";
}

// 0.3 / 3 is 0.09999999999999999 in binary floating point and 0.1 / 1 is 0.1: mathematically tied shares
// that differ by one ulp must saturate in one round (kRelativeTolerance), not two.
TEST(MaxMinSolver, NearTiesSaturateTogether) {
  Solver solver;
  const auto wide = solver.add_constraint(0.3);
  const auto narrow = solver.add_constraint(0.1);
  for (int i = 0; i < 3; ++i) {
    solver.add_element(solver.add_variable(), wide);
  }
  const auto alone = solver.add_variable();
  solver.add_element(alone, narrow);
  solver.solve();
  EXPECT_EQ(solver.rounds(), 1U) << "shares 0.3/3 and 0.1/1 are equal up to rounding";
  EXPECT_DOUBLE_EQ(solver.rate(alone), 0.1);
  EXPECT_DOUBLE_EQ(solver.rate(0), 0.1);
}

// Consumption 2 (a flow crossing the same link twice) counts double: 2x + x = C with equal shares x.
TEST(MaxMinSolver, ConsumptionScalesUsage) {
  Solver solver;
  const auto c = solver.add_constraint(12.0);
  const auto twice = solver.add_variable();
  const auto once = solver.add_variable();
  solver.add_element(twice, c, 2.0);
  solver.add_element(once, c, 1.0);
  solver.solve();
  EXPECT_DOUBLE_EQ(solver.rate(twice), 4.0) << "2x + x = 12 gives x = 4 for both";
  EXPECT_DOUBLE_EQ(solver.rate(once), 4.0) << "2x + x = 12 gives x = 4 for both";
  EXPECT_DOUBLE_EQ(solver.usage(c), 12.0) << "usage counts consumption * rate";
}

TEST(MaxMinSolver, DuplicateElementsAddConsumptions) {
  Solver solver;
  const auto c = solver.add_constraint(12.0);
  const auto v = solver.add_variable();
  const auto w = solver.add_variable();
  solver.add_element(v, c);
  solver.add_element(v, c);
  solver.add_element(w, c, 2.0);
  solver.solve();
  EXPECT_DOUBLE_EQ(solver.rate(v), 3.0) << "(1+1)x + 2x = 12";
  EXPECT_DOUBLE_EQ(solver.rate(w), 3.0) << "(1+1)x + 2x = 12";
  solver.remove_variable(v);
  solver.solve();
  EXPECT_DOUBLE_EQ(solver.rate(w), 6.0) << "removing both duplicate elements leaves w alone: 2x = 12";
}

TEST(MaxMinSolver, VariableWithoutElementsGetsItsBound) {
  Solver solver;
  const auto unbounded = solver.add_variable();
  const auto bounded = solver.add_variable(1.0, 3.5);
  solver.solve();
  EXPECT_EQ(solver.rate(unbounded), kInf) << "nothing limits a variable with no elements and no bound";
  EXPECT_DOUBLE_EQ(solver.rate(bounded), 3.5) << "a variable with no elements runs at its bound";
  EXPECT_EQ(solver.rounds(), 0U) << "no constraint is active";
}

TEST(MaxMinSolver, ZeroBoundPinsTheRateAtZero) {
  Solver solver;
  const auto c = solver.add_constraint(10.0);
  const auto stopped = solver.add_variable(1.0, 0.0);
  const auto other = solver.add_variable();
  solver.add_element(stopped, c);
  solver.add_element(other, c);
  solver.solve();
  EXPECT_EQ(solver.rate(stopped), 0.0) << "bound 0";
  EXPECT_DOUBLE_EQ(solver.rate(other), 10.0) << "the other flow takes the whole link";
}

TEST(MaxMinSolver, SetCapacityBoundAndWeightTakeEffectOnTheNextSolve) {
  Solver solver;
  const auto c = solver.add_constraint(10.0);
  const auto a = solver.add_variable();
  const auto b = solver.add_variable();
  solver.add_element(a, c);
  solver.add_element(b, c);
  solver.solve();
  solver.set_capacity(c, 20.0);
  EXPECT_DOUBLE_EQ(solver.rate(a), 5.0) << "rates change only on solve()";
  solver.solve();
  EXPECT_DOUBLE_EQ(solver.rate(a), 10.0) << "C=20 shared by two";
  solver.set_bound(a, 4.0);
  solver.solve();
  EXPECT_DOUBLE_EQ(solver.rate(a), 4.0) << "bound 4";
  EXPECT_DOUBLE_EQ(solver.rate(b), 16.0) << "20 - 4";
  solver.set_bound(a, Solver::kUnbounded);
  solver.set_weight(b, 4.0);
  solver.solve();
  EXPECT_DOUBLE_EQ(solver.rate(a), 4.0) << "weights 1:4 on C=20";
  EXPECT_DOUBLE_EQ(solver.rate(b), 16.0) << "weights 1:4 on C=20";
}

TEST(MaxMinSolver, RemovedIdsAreRecycled) {
  Solver solver;
  const auto c = solver.add_constraint(9.0);
  const auto a = solver.add_variable();
  const auto b = solver.add_variable();
  solver.add_element(a, c);
  solver.add_element(b, c);
  solver.remove_variable(a);
  EXPECT_FALSE(solver.contains(a));
  EXPECT_EQ(solver.num_variables(), 1U);
  EXPECT_EQ(solver.num_elements(), 1U);
  const auto again = solver.add_variable();
  EXPECT_EQ(again, a) << "the freed id is handed out again";
  solver.add_element(again, c);
  const auto third = solver.add_variable();
  solver.add_element(third, c);
  solver.solve();
  for (const auto v : {again, b, third}) {
    EXPECT_DOUBLE_EQ(solver.rate(v), 3.0) << "three flows on C=9 after recycling; variable " << v;
  }
}

TEST(MaxMinSolver, InvalidArgumentsThrow) {
  Solver solver;
  EXPECT_THROW(solver.add_constraint(0.0), core::InternalError) << "capacity must be > 0";
  EXPECT_THROW(solver.add_constraint(kInf), core::InternalError) << "capacity must be finite";
  EXPECT_THROW(solver.add_variable(0.0), core::InternalError) << "weight must be > 0";
  EXPECT_THROW(solver.add_variable(1.0, -1.0), core::InternalError) << "bound must be >= 0";
  const auto c = solver.add_constraint(1.0);
  const auto v = solver.add_variable();
  EXPECT_THROW(solver.add_element(v, c, 0.0), core::InternalError) << "consumption must be > 0";
  EXPECT_THROW(solver.add_element(v, c + 1), core::InternalError) << "unknown constraint";
  EXPECT_THROW(solver.add_element(v + 1, c), core::InternalError) << "unknown variable";
  solver.remove_variable(v);
  EXPECT_THROW(static_cast<void>(solver.rate(v)), core::InternalError) << "removed variable";
  EXPECT_THROW(solver.remove_variable(v), core::InternalError) << "removed twice";
}

// After one solve at a given size the scratch arrays are warm: the next solve allocates nothing, nor does a
// flow ending and another starting on the same path (the flow model's steady state).
TEST(MaxMinSolver, WarmSolveDoesNotAllocate) {
  const Instance instance = random_instance(7);
  Solver solver = build(instance);
  solver.solve();
  std::size_t before = allocation_count();
  solver.solve();
  EXPECT_EQ(allocation_count() - before, 0U) << "solve() allocated on a warm instance";

  // The first cycle grows the free-id list; the second must not allocate.
  const Variable& replaced = instance.variables[3];
  Solver::VariableId v = 3;
  for (int cycle = 0; cycle < 2; ++cycle) {
    before = allocation_count();
    solver.remove_variable(v);
    v = solver.add_variable(replaced.weight, replaced.bound);
    for (const Element& e : replaced.elements) {
      solver.add_element(v, e.constraint, e.consumption);
    }
    solver.solve();
  }
  EXPECT_EQ(allocation_count() - before, 0U) << "remove + add on the same path + solve() allocated";
}

// A heavy variable (w = 1e20) leaves a constraint where a light one (w = 1) remains: 1e20 + 1 rounds to
// 1e20, so subtracting the heavy weight leaves a load of 0. The solver must recompute it (1) rather than
// divide by 0. Expected: heavy is held by c0 at rate 1; light gets the rest of c1: 1e30 - 1.
TEST(MaxMinSolver, LoadLostToRoundingIsRecomputed) {
  Solver solver;
  const auto c0 = solver.add_constraint(1.0);
  const auto c1 = solver.add_constraint(1e30);
  const auto heavy = solver.add_variable(1e20);
  solver.add_element(heavy, c0);
  solver.add_element(heavy, c1);
  const auto light = solver.add_variable(1.0);
  solver.add_element(light, c1);
  solver.solve();
  EXPECT_DOUBLE_EQ(solver.rate(heavy), 1.0) << "c0 (capacity 1) holds the heavy variable";
  EXPECT_DOUBLE_EQ(solver.rate(light), 1e30 - 1.0) << "the light variable takes the rest of c1";
}

// ---- Properties on random instances (fixed seeds) -----------------------------------------------------

constexpr std::uint32_t kSeeds = 400;

TEST(MaxMinSolverProperty, MatchesTheReferenceSolver) {
  for (std::uint32_t seed = 1; seed <= kSeeds; ++seed) {
    const Instance instance = random_instance(seed);
    Solver solver = build(instance);
    solver.solve();
    const std::vector<double> expected = reference_rates(instance);
    for (std::uint32_t v = 0; v < instance.variables.size(); ++v) {
      ASSERT_TRUE(close(solver.rate(v), expected[v]))
          << "seed " << seed << ", variable " << v << ": solver " << solver.rate(v) << ", reference " << expected[v];
    }
  }
}

// Larger instances: long lists of saturated constraints and freezing variables (the solve's look-ahead
// paths) and many rounds.
TEST(MaxMinSolverProperty, MatchesTheReferenceSolverOnLargerInstances) {
  for (std::uint32_t seed = 1; seed <= 6; ++seed) {
    const Instance instance = random_instance(seed, 400, 4000);
    Solver solver = build(instance);
    solver.solve();
    const std::vector<double> expected = reference_rates(instance);
    for (std::uint32_t v = 0; v < instance.variables.size(); ++v) {
      ASSERT_TRUE(close(solver.rate(v), expected[v]))
          << "seed " << seed << ", variable " << v << ": solver " << solver.rate(v) << ", reference " << expected[v];
    }
    ASSERT_EQ(check_max_min(instance, expected), "") << "the reference itself, seed " << seed;
  }
}

TEST(MaxMinSolverProperty, FeasibleAndEveryVariableBottlenecked) {
  for (std::uint32_t seed = 1; seed <= kSeeds; ++seed) {
    const Instance instance = random_instance(seed);
    Solver solver = build(instance);
    solver.solve();
    const std::vector<double> rate = rates_of(solver, instance.variables.size());
    ASSERT_EQ(check_max_min(instance, rate), "") << "seed " << seed;
    // usage() must agree with the sum recomputed from the rates.
    std::vector<double> usage(instance.capacity.size(), 0.0);
    for (std::size_t v = 0; v < instance.variables.size(); ++v) {
      for (const Element& e : instance.variables[v].elements) {
        usage[e.constraint] += e.consumption * rate[v];
      }
    }
    for (std::uint32_t c = 0; c < instance.capacity.size(); ++c) {
      ASSERT_TRUE(close(solver.usage(c), usage[c]) || std::abs(solver.usage(c) - usage[c]) < 1e-12)
          << "seed " << seed << ", constraint " << c << ": usage() " << solver.usage(c) << " vs sum " << usage[c];
    }
  }
}

// Build everything, solve, remove a random half, add fresh variables (taking recycled ids), re-solve; the
// rates must equal those of a solver built from the surviving variables only.
TEST(MaxMinSolverProperty, RemoveThenResolveEqualsBuildingWithout) {
  for (std::uint32_t seed = 1; seed <= kSeeds; ++seed) {
    const Instance full = random_instance(seed);
    const Instance extra = random_instance(seed + 100000);
    std::mt19937 rng(seed);
    Solver solver = build(full);
    solver.solve();

    Instance survivors;
    survivors.capacity = full.capacity;
    std::vector<Solver::VariableId> id_of;  // survivor index -> id in `solver`
    for (std::uint32_t v = 0; v < full.variables.size(); ++v) {
      if (std::bernoulli_distribution(0.5)(rng)) {
        solver.remove_variable(v);
      } else {
        survivors.variables.push_back(full.variables[v]);
        id_of.push_back(v);
      }
    }
    for (const Variable& var : extra.variables) {
      const auto v = solver.add_variable(var.weight, var.bound);
      Variable copy = var;
      for (Element& e : copy.elements) {
        e.constraint %= static_cast<std::uint32_t>(full.capacity.size());
        solver.add_element(v, e.constraint, e.consumption);
      }
      survivors.variables.push_back(std::move(copy));
      id_of.push_back(v);
    }
    solver.solve();

    Solver fresh = build(survivors);
    fresh.solve();
    ASSERT_EQ(solver.num_variables(), survivors.variables.size()) << "seed " << seed;
    for (std::uint32_t i = 0; i < survivors.variables.size(); ++i) {
      ASSERT_TRUE(close(solver.rate(id_of[i]), fresh.rate(i)))
          << "seed " << seed << ", survivor " << i << " (id " << id_of[i] << "): after removals "
          << solver.rate(id_of[i]) << ", built without them " << fresh.rate(i);
    }
  }
}

// Many removals and additions on one solver exercise list relocation, swap-removal and id recycling.
TEST(MaxMinSolverProperty, ChurnKeepsAdjacencyConsistent) {
  std::mt19937 rng(2024);
  Instance live;
  for (int c = 0; c < 50; ++c) {
    live.capacity.push_back(std::uniform_real_distribution<double>(1.0, 10.0)(rng));
  }
  Solver solver;
  for (const double c : live.capacity) {
    solver.add_constraint(c);
  }
  std::vector<Solver::VariableId> ids;  // ids[i] is the solver id of live.variables[i]
  std::uniform_int_distribution<std::uint32_t> any_constraint(0, 49);
  for (int step = 0; step < 20000; ++step) {
    if (!ids.empty() && std::bernoulli_distribution(0.45)(rng)) {
      const auto i = std::uniform_int_distribution<std::size_t>(0, ids.size() - 1)(rng);
      solver.remove_variable(ids[i]);
      ids[i] = ids.back();
      ids.pop_back();
      live.variables[i] = std::move(live.variables.back());
      live.variables.pop_back();
    } else {
      Variable var;
      const auto n = std::uniform_int_distribution<int>(1, 12)(rng);  // long paths force relocations
      const auto v = solver.add_variable();
      for (int k = 0; k < n; ++k) {
        var.elements.push_back(Element{any_constraint(rng), 1.0});
        solver.add_element(v, var.elements.back().constraint);
      }
      ids.push_back(v);
      live.variables.push_back(std::move(var));
    }
    if (step % 2000 == 1999) {
      solver.solve();
      const std::vector<double> expected = reference_rates(live);
      for (std::size_t i = 0; i < ids.size(); ++i) {
        ASSERT_TRUE(close(solver.rate(ids[i]), expected[i]))
            << "step " << step << ", variable " << ids[i] << ": solver " << solver.rate(ids[i]) << ", reference "
            << expected[i];
      }
    }
  }
}

// The heap rounds (after scan_rounds() scanned ones) against the reference: from the first round (0), and
// after a few scanned rounds (3), on the same instances as the scan.
TEST(MaxMinSolverProperty, HeapRoundsMatchTheReferenceSolver) {
  for (const std::size_t scan_rounds : {std::size_t{0}, std::size_t{3}}) {
    for (std::uint32_t seed = 1; seed <= kSeeds; ++seed) {
      const Instance instance = random_instance(seed);
      Solver solver = build(instance);
      solver.set_scan_rounds(scan_rounds);
      solver.solve();
      const std::vector<double> expected = reference_rates(instance);
      for (std::uint32_t v = 0; v < instance.variables.size(); ++v) {
        ASSERT_TRUE(close(solver.rate(v), expected[v]))
            << "scan rounds " << scan_rounds << ", seed " << seed << ", variable " << v << ": solver " << solver.rate(v)
            << ", reference " << expected[v];
      }
      ASSERT_EQ(check_max_min(instance, rates_of(solver, instance.variables.size())), "") << "seed " << seed;
    }
  }
}

}  // namespace
}  // namespace mfusim::network
