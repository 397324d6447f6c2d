// MaxMinSolver::solve_modified() (selective re-solve of the components touched since the last solve)
// against solve() (the full re-solve, itself checked against textbook progressive filling in
// max_min_solver_test.cpp).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "network/max_min_solver.hpp"

namespace mfusim::network {
namespace {

using Solver = MaxMinSolver;
constexpr double kInf = Solver::kUnbounded;
// The full solve may saturate tied constraints of different components together (kRelativeTolerance =
// 1e-12 apart); the tests demand 1e-9.
constexpr double kRel = 1e-9;

bool close(double a, double b) {
  if (std::isinf(a) || std::isinf(b)) return a == b;
  return std::abs(a - b) <= kRel * std::max({std::abs(a), std::abs(b), 1e-300});
}

// Two solvers fed the same operations: `selective` solves with solve_modified(), `full` with solve().
struct Pair {
  Solver selective;
  Solver full;
  std::vector<Solver::VariableId> live;

  void add_constraint(double capacity) {
    selective.add_constraint(capacity);
    full.add_constraint(capacity);
  }
  Solver::VariableId add_variable(double weight, double bound) {
    const auto v = selective.add_variable(weight, bound);
    EXPECT_EQ(full.add_variable(weight, bound), v);
    live.push_back(v);
    return v;
  }
  void add_element(Solver::VariableId v, Solver::ConstraintId c, double consumption) {
    selective.add_element(v, c, consumption);
    full.add_element(v, c, consumption);
  }
  void remove(std::size_t index) {
    selective.remove_variable(live[index]);
    full.remove_variable(live[index]);
    live.erase(live.begin() + static_cast<std::ptrdiff_t>(index));
  }
};

// Compares every live rate and every usage after one solve of each kind; "" or the first difference.
std::string compare(Pair& p, std::vector<Solver::VariableId>& solved) {
  const auto span = p.selective.solve_modified();
  solved.assign(span.begin(), span.end());
  p.full.solve();
  for (const auto v : p.live) {
    if (!close(p.selective.rate(v), p.full.rate(v))) {
      return "variable " + std::to_string(v) + ": selective " + std::to_string(p.selective.rate(v)) + ", full " +
             std::to_string(p.full.rate(v));
    }
  }
  for (Solver::ConstraintId c = 0; c < p.full.num_constraints(); ++c) {
    if (!close(p.selective.usage(c), p.full.usage(c)) && std::abs(p.selective.usage(c) - p.full.usage(c)) > 1e-9) {
      return "constraint " + std::to_string(c) + ": usage selective " + std::to_string(p.selective.usage(c)) +
             ", full " + std::to_string(p.full.usage(c));
    }
  }
  return "";
}

// Seeded random churn on `clusters` groups of constraints: variables take their elements from one group
// (one in 20 also from a second group, merging two components), so instances have several components of
// varied sizes. Each step applies 1-6 random operations (add a variable with 0-5 elements, remove one,
// change a bound, weight or capacity), then solves both ways. Odd seeds draw from small value sets, so
// exact ties between components are common.
using Kinds = Solver::SolveCounts;

void add(Kinds& total, const Kinds& k) {
  total.level_cuts += k.level_cuts;
  total.failed_cuts += k.failed_cuts;
  total.component_solves += k.component_solves;
  total.full_solves += k.full_solves;
}

// `adds_and_removes_only`: no bound, weight or capacity changes, as in the flow model.
void run_churn(std::uint32_t seed, double selective_limit, int steps, Kinds* kinds,
               bool adds_and_removes_only = false) {
  std::mt19937 rng(seed);
  const bool ties = seed % 2 == 1;
  auto uniform = [&rng](double lo, double hi) { return std::uniform_real_distribution<double>(lo, hi)(rng); };
  auto integer = [&rng](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  auto chance = [&rng](double p) { return std::bernoulli_distribution(p)(rng); };
  auto value = [&](std::initializer_list<double> set, double lo, double hi) {
    return ties ? *(set.begin() + integer(0, static_cast<int>(set.size()) - 1)) : uniform(lo, hi);
  };

  Pair p;
  p.selective.set_selective_limit(selective_limit);
  // The selective side also exercises the heap rounds: from the first round, after two, or the default.
  p.selective.set_scan_rounds(seed % 3 == 0 ? 0 : (seed % 3 == 1 ? 2 : Solver::kDefaultScanRounds));
  p.full.set_scan_rounds(std::numeric_limits<std::size_t>::max());  // scan only
  const int clusters = integer(1, 8);
  const int per_cluster = integer(1, 6);
  for (int c = 0; c < clusters * per_cluster; ++c) p.add_constraint(value({1.0, 2.0, 4.0, 10.0}, 1.0, 100.0));
  auto add_random_variable = [&] {
    const double bound = chance(0.2) ? value({0.5, 1.0, 2.0}, 0.0, 5.0) : kInf;
    const auto v = p.add_variable(chance(0.6) ? 1.0 : value({0.5, 2.0, 3.0}, 0.25, 4.0), bound);
    const int group = integer(0, clusters - 1);
    const int n = integer(0, 5);
    for (int k = 0; k < n; ++k) {
      const int g = chance(0.05) ? integer(0, clusters - 1) : group;
      const auto c = static_cast<Solver::ConstraintId>(g * per_cluster + integer(0, per_cluster - 1));
      p.add_element(v, c, chance(0.8) ? 1.0 : value({0.5, 2.0}, 0.1, 3.0));
    }
  };
  for (int i = integer(0, 30); i > 0; --i) add_random_variable();

  std::vector<Solver::VariableId> solved;
  for (int step = 0; step < steps; ++step) {
    for (int op = integer(1, 6); op > 0; --op) {
      const int kind = adds_and_removes_only ? integer(0, 6) : integer(0, 9);
      if (kind < 4 || p.live.empty()) {
        add_random_variable();
      } else if (kind < 7) {
        p.remove(static_cast<std::size_t>(integer(0, static_cast<int>(p.live.size()) - 1)));
      } else if (kind == 7) {
        const auto v = p.live[static_cast<std::size_t>(integer(0, static_cast<int>(p.live.size()) - 1))];
        const double bound = chance(0.5) ? kInf : value({0.5, 1.0, 2.0}, 0.0, 5.0);
        p.selective.set_bound(v, bound);
        p.full.set_bound(v, bound);
      } else if (kind == 8) {
        const auto v = p.live[static_cast<std::size_t>(integer(0, static_cast<int>(p.live.size()) - 1))];
        const double weight = value({0.5, 1.0, 2.0}, 0.25, 4.0);
        p.selective.set_weight(v, weight);
        p.full.set_weight(v, weight);
      } else {
        const auto c = static_cast<Solver::ConstraintId>(integer(0, clusters * per_cluster - 1));
        const double capacity = value({1.0, 2.0, 4.0, 10.0}, 1.0, 100.0);
        p.selective.set_capacity(c, capacity);
        p.full.set_capacity(c, capacity);
      }
    }
    const std::string diff = compare(p, solved);
    ASSERT_EQ(diff, "") << "seed " << seed << ", step " << step << ", limit " << selective_limit;
    if (p.selective.last_solve_selective()) {
      // Variables outside the re-solved set were not touched: still equal to the full solve (checked above);
      // every re-solved variable is live.
      for (const auto v : solved) ASSERT_TRUE(p.selective.contains(v));
    } else {
      ASSERT_EQ(solved.size(), p.live.size()) << "a fallback re-solves every live variable";
    }
  }
  add(*kinds, p.selective.solve_counts());
}

// Every path must run many times for the comparisons to mean something; the counts are printed.
void expect_paths(const Kinds& k, std::uint64_t min_each, bool expect_fallbacks) {
  std::printf("level cuts %lu (failed %lu), component solves %lu, full solves %lu\n",
              static_cast<unsigned long>(k.level_cuts), static_cast<unsigned long>(k.failed_cuts),
              static_cast<unsigned long>(k.component_solves), static_cast<unsigned long>(k.full_solves));
  EXPECT_GE(k.level_cuts, min_each) << "too few level cuts exercised";
  EXPECT_GE(k.component_solves, min_each) << "too few component solves exercised";
  if (expect_fallbacks) {
    EXPECT_GE(k.full_solves, min_each) << "too few full solves exercised";
  }
}

TEST(MaxMinSolverIncremental, SelectiveEqualsFullOnRandomChurn) {
  Kinds kinds;
  for (std::uint32_t seed = 1; seed <= 300; ++seed) {
    run_churn(seed, 1.0, 30, &kinds);  // no size limit: selective whenever it applies
    if (HasFatalFailure()) return;
  }
  expect_paths(kinds, 300, false);
}

TEST(MaxMinSolverIncremental, SelectiveEqualsFullWithTheDefaultLimit) {
  Kinds kinds;
  for (std::uint32_t seed = 1001; seed <= 1300; ++seed) {
    run_churn(seed, 0.5, 30, &kinds);
    if (HasFatalFailure()) return;
  }
  expect_paths(kinds, 300, true);
}

TEST(MaxMinSolverIncremental, SelectiveEqualsFullOnAddRemoveChurn) {
  Kinds kinds;
  for (std::uint32_t seed = 2001; seed <= 2300; ++seed) {
    run_churn(seed, seed % 2 == 0 ? 1.0 : 0.5, 30, &kinds, true);
    if (HasFatalFailure()) return;
  }
  expect_paths(kinds, 300, true);
}

// Two components: {a, b} on c0, {x} on c1. A capacity change on c1 (which the level cut does not cover)
// re-solves c1's component only; a and b keep their rates.
TEST(MaxMinSolverIncremental, ComponentsResolveOnlyWhatTheChangeReaches) {
  Solver s;
  s.set_selective_limit(1.0);
  const auto c0 = s.add_constraint(10.0);
  const auto c1 = s.add_constraint(6.0);
  const auto a = s.add_variable();
  s.add_element(a, c0);
  const auto b = s.add_variable();
  s.add_element(b, c0);
  const auto x = s.add_variable();
  s.add_element(x, c1);
  auto solved = s.solve_modified();
  EXPECT_EQ(solved.size(), 3u) << "first solve: everything is new";
  EXPECT_EQ(s.rate(a), 5.0);
  EXPECT_EQ(s.rate(x), 6.0);

  s.set_capacity(c1, 3.0);
  solved = s.solve_modified();
  EXPECT_EQ(s.last_solve_kind(), Solver::SolveKind::kComponents);
  EXPECT_EQ(std::vector<Solver::VariableId>(solved.begin(), solved.end()), std::vector<Solver::VariableId>{x})
      << "only c1's component is re-solved";
  EXPECT_EQ(s.rate(x), 3.0);
  EXPECT_EQ(s.rate(a), 5.0) << "untouched component keeps its rate";

  s.remove_variable(x);
  solved = s.solve_modified();
  EXPECT_TRUE(solved.empty()) << "c1 lost its only variable: nothing to re-solve";
  EXPECT_EQ(s.usage(c1), 0.0) << "but its usage is reset";
  EXPECT_EQ(s.usage(c0), 10.0);

  solved = s.solve_modified();
  EXPECT_TRUE(solved.empty()) << "no change, no work";
}

// One component: c0 (10) carries a and b, c1 (6) carries b, x and y, c2 (1) carries z1, z2 and a.
// Levels: z1 = z2 = a = 1/3 (c2), then c1 gives b, x, y 2 each, c0 leaves b at 2 (10 - 1/3 - 2 > 0).
// Removing y (level 2) can only change variables at levels >= 2: b and x are re-solved, a, z1, z2 are not.
TEST(MaxMinSolverIncremental, LevelCutResolvesOnlyTheLevelsAboveTheChange) {
  Solver s;
  s.set_selective_limit(1.0);
  const auto c0 = s.add_constraint(10.0);
  const auto c1 = s.add_constraint(6.0);
  const auto c2 = s.add_constraint(1.0);
  const auto a = s.add_variable();
  s.add_element(a, c0);
  s.add_element(a, c2);
  const auto b = s.add_variable();
  s.add_element(b, c0);
  s.add_element(b, c1);
  const auto x = s.add_variable();
  s.add_element(x, c1);
  const auto y = s.add_variable();
  s.add_element(y, c1);
  const auto z1 = s.add_variable();
  s.add_element(z1, c2);
  const auto z2 = s.add_variable();
  s.add_element(z2, c2);
  s.solve_modified();
  EXPECT_DOUBLE_EQ(s.rate(a), 1.0 / 3);
  EXPECT_DOUBLE_EQ(s.rate(b), 2.0);

  s.remove_variable(y);
  auto solved = s.solve_modified();
  EXPECT_EQ(s.last_solve_kind(), Solver::SolveKind::kLevelCut);
  std::vector<Solver::VariableId> got(solved.begin(), solved.end());
  std::sort(got.begin(), got.end());
  EXPECT_EQ(got, (std::vector<Solver::VariableId>{b, x})) << "only the variables at levels >= 2";
  EXPECT_DOUBLE_EQ(s.rate(b), 3.0);
  EXPECT_DOUBLE_EQ(s.rate(x), 3.0);
  EXPECT_DOUBLE_EQ(s.rate(a), 1.0 / 3);
  EXPECT_DOUBLE_EQ(s.usage(c1), 6.0);
  EXPECT_DOUBLE_EQ(s.usage(c0), 3.0 + 1.0 / 3);

  // A new variable on c2 gets at least 1/4 (c2's capacity over its 4 variables): everything at levels >=
  // 1/4 is re-solved, here all of them.
  const auto w = s.add_variable();
  s.add_element(w, c2);
  solved = s.solve_modified();
  EXPECT_EQ(s.last_solve_kind(), Solver::SolveKind::kLevelCut);
  EXPECT_EQ(solved.size(), 6u) << "a, b, x, z1, z2 and the new w";
  EXPECT_DOUBLE_EQ(s.rate(w), 0.25);
  EXPECT_DOUBLE_EQ(s.rate(a), 0.25);
  EXPECT_DOUBLE_EQ(s.rate(b), 3.0);
}

TEST(MaxMinSolverIncremental, ParameterChangesAndElementlessVariables) {
  Solver s;
  s.set_selective_limit(1.0);
  const auto c = s.add_constraint(8.0);
  const auto u = s.add_variable();
  s.add_element(u, c);
  const auto w = s.add_variable();
  s.add_element(w, c);
  const auto free_variable = s.add_variable(1.0, 7.0);  // no elements: rate = bound
  s.solve_modified();
  EXPECT_EQ(s.rate(u), 4.0);
  EXPECT_EQ(s.rate(free_variable), 7.0);

  s.set_weight(u, 3.0);  // u gets 3/4 of c
  auto solved = s.solve_modified();
  EXPECT_EQ(solved.size(), 2u);
  EXPECT_DOUBLE_EQ(s.rate(u), 6.0);
  EXPECT_DOUBLE_EQ(s.rate(w), 2.0);

  s.set_bound(u, 1.0);  // capped: w takes the rest
  s.solve_modified();
  EXPECT_DOUBLE_EQ(s.rate(u), 1.0);
  EXPECT_DOUBLE_EQ(s.rate(w), 7.0);

  s.set_capacity(c, 4.0);
  s.solve_modified();
  EXPECT_DOUBLE_EQ(s.rate(w), 3.0);

  s.set_bound(free_variable, 2.5);
  solved = s.solve_modified();
  ASSERT_EQ(solved.size(), 1u);
  EXPECT_EQ(solved[0], free_variable);
  EXPECT_EQ(s.rate(free_variable), 2.5);
}

TEST(MaxMinSolverIncremental, OneBigComponentFallsBackToTheFullSolve) {
  Solver s;  // default limit 0.5
  const auto c = s.add_constraint(12.0);
  std::vector<Solver::VariableId> vs;
  for (int i = 0; i < 4; ++i) {
    vs.push_back(s.add_variable());
    s.add_element(vs.back(), c);
  }
  s.solve_modified();
  s.remove_variable(vs.back());
  const auto solved = s.solve_modified();
  EXPECT_FALSE(s.last_solve_selective()) << "3 of 3 variables are in the component: above the limit";
  EXPECT_EQ(solved.size(), 3u);
  EXPECT_EQ(s.rate(vs[0]), 4.0);
  EXPECT_THROW(s.set_selective_limit(1.5), std::exception);
}

}  // namespace
}  // namespace mfusim::network
