#pragma once
// MaxMinSolver: weighted max-min fair sharing of capacities among variables. A pure solver in the
// manner of SimGrid's lmm::System: it knows constraints, variables and elements, nothing about links,
// GPUs or time. The flow model maps links to constraints and transfers to variables.
//
// Model
//   Constraint c has a capacity C_c > 0. Variable v has a weight w_v > 0 and a bound b_v in [0, +inf]
//   (kUnbounded = +inf). An element (v, c, a) says that v consumes a * x_v of c (a > 0); adding the same
//   pair twice adds the consumptions. An allocation x is feasible when, for every c,
//       sum over elements (v, c, a) of a * x_v <= C_c,   and   0 <= x_v <= b_v for every v.
//   Weighted max-min fairness: a feasible x such that no x_v can be raised without lowering some x_u with
//   x_u / w_u <= x_v / w_v. It exists and is unique, and it is characterised by the bottleneck condition:
//   every v is at its bound or uses a saturated constraint c on which x_v / w_v is the largest among the
//   variables of c. With all weights 1 this is plain max-min fairness (equal shares on each bottleneck).
//   The solver is unit-free; the flow model uses bytes/s for capacities and rates.
//
// Algorithm: progressive filling (water-filling), level-synchronous
//   Every unfrozen variable runs at rate s * w_v for a common level s. One round:
//       remaining_c = C_c - sum over frozen v on c of a * x_v
//       load_c      = sum over unfrozen v on c of a * w_v            (constraint active while > 0)
//       s*          = min over active c of remaining_c / load_c
//   Every constraint whose share remaining_c / load_c is within kRelativeTolerance of s* saturates, and
//   all unfrozen variables on it freeze at x_v = min(s* * w_v, b_v). Bounds, after SimGrid's maxmin.cpp:
//   if some of those variables have b_v < s* * w_v, the round freezes only them, at b_v, and the next
//   round rescans (freezing a variable below the level can only raise the other constraints' shares;
//   SimGrid freezes only the lowest bounds, freezing all below s* is as exact and takes fewer rounds).
//   A bounded variable on no saturating constraint is frozen at its bound when one of its constraints
//   becomes the argmin; that is exact because shares never fall below the current level. Rounds repeat
//   until every variable is frozen; rounds() reports how many ran (distinct water levels plus the rounds
//   that froze variables at their bounds). A variable with no elements gets b_v, hence +inf when unbounded:
//   nothing limits it, so callers should bound such variables.
//
// Complexity
//   O(V + E) set-up (E = number of elements, the sum of path lengths; constraints without elements cost
//   nothing), then per round one scan of the active constraints' shares (a contiguous array, SimGrid's
//   cnst_light_tab); each element is updated once, when its variable freezes. One solve is
//   O(R * C_active + E), R = rounds. Collective traffic has few levels (R = 1..21 in simulation-speed.md
//   section 3.3), which is why a scan beats a per-constraint heap there.
//   Heap rounds (the hybrid of simulation-speed.md section 3.3): heterogeneous traffic can have tens of
//   thousands of levels (100,000 random transfers on a 16,384-GPU fabric: 21,052), where R * C_active
//   dominates. After scan_rounds() rounds (default kDefaultScanRounds = 32, above the 1-21 levels measured
//   for collective traffic in section 3.3, so those solves never pay for a heap) the solve moves the active
//   shares into a min-heap of (share, constraint) and pops each round's saturating constraints from it.
//   Shares only grow during a solve (freezing a variable at the level L <= remaining / load leaves
//   (remaining - a x) / (load - a w) >= remaining / load), so an entry whose share has changed is stale and
//   is dropped when popped; each round pushes one entry per constraint whose share it changed. The rest of
//   the solve then costs O((C_active + E) log C_active); on the example above 0.26 s instead of 1.39 s.
//
// Storage
//   Arrays indexed by dense ids. Per constraint one 32-byte record (capacity, usage, and the solve's load,
//   count and slot), since a freezing variable updates all of them at once; per variable separate arrays
//   (weight and bound together, rate, liveness). Elements live in two flat arenas, variable ->
//   (constraint, consumption) and constraint -> variable, each owner's elements contiguous, with back
//   indices so that remove_variable is O(path length): swap-remove from each constraint, amortised O(1)
//   growth by doubling. Removed variable ids are recycled (last freed first, with their element storage).
//   solve() allocates nothing once its scratch arrays have grown to the instance size. On large instances
//   the solve is bound by random memory reads (flows cross links in no particular order), so its loops
//   issue cache hints a few entries ahead; that made random-spine instances about 1.6x faster
//   (bench/max_min_solver_bench.cpp).
//
// Selective re-solve (solve_modified): the affected part only, two ways, else a full solve
//   Every change marks what it touches: add_element and set_capacity their constraint, remove_variable the
//   constraints of the variable, add_variable, set_bound and set_weight the variable. solve_modified()
//   returns the variables it re-solved (the others keep rates that are still exact) and tries, in order:
//   1. Level cut (when the changes since the last solve are only new variables with their elements and
//      removals). Write the level of v as l_v = x_v / w_v. Progressive filling fixes variables in rising
//      level order, so the old solution below a threshold t stays valid when the changes cannot reach it:
//      keep every unchanged variable with old level < t at its old rate (F_low), and water-fill only the
//      others (U: old level >= t, plus the new variables) on the capacity F_low leaves. Theorem: if t is at
//      most the old level of every removed variable, and the first water level of that partial filling is
//      >= t, the result is the max-min allocation of the new system. Proof by the bottleneck condition: a
//      variable of U is at its bound or frozen on a constraint saturated at a level >= t, above every
//      F_low level there; a variable f of F_low had a bottleneck c whose variables all had levels <= l_f
//      < t, so none was removed and none is in U; a new variable on c would find c's residual capacity 0,
//      a first water level 0 < t, so none is; c is still saturated by the same rates. The solver takes
//      t = the minimum of the removed variables' old levels and of a lower bound on each new variable's
//      level, min(b_v / w_v, min over its constraints of C_c / sum of a * w over all of c's elements) (a
//      variable's bottleneck gives it at least that share), times (1 - kRelativeTolerance). With that t
//      the first water level is >= t in exact arithmetic (on a constraint with a new variable the residual
//      share exceeds C_c / total load >= t, on the others the old U levels were >= t and removals only
//      raise shares), so the check guards rounding only: if it fails, a full solve follows (it never did in
//      the tests or the benchmark). To find U it keeps the variables sorted by level (the freeze order of
//      the last solve, with F_low as its prefix) and per constraint the usage of the live variables
//      (removals subtract theirs). When flows end at the top levels, as transfers that finish first do, U
//      is a small part of the system even when everything is connected.
//   2. Components, after SimGrid's selective update (System.cpp, update_modified_cnst_set_rec): the
//      connected components of the variable/constraint graph that hold a mark (breadth-first, constraint
//      -> its variables -> their constraints; visits are epoch-stamped, cleared in O(1)) are water-filled
//      alone; a component's max-min rates depend on the component only.
//   3. solve(), when U or the marked components hold more than selective_limit() of the live variables
//      (default 0.5): SimGrid documents selective update as counter-productive when everything shares a
//      backbone (the component is then the whole system and the search is pure overhead).
//   Cost: O(R_U * C_U + E_U) for a level cut (R_U levels, C_U constraints and E_U elements of U), O(R *
//   C_comp + E_comp) plus the search for components. Equality with solve(): the full solve saturates
//   constraints within kRelativeTolerance of each other in one round, and usages kept by subtraction
//   drift by a few ulp per change, so the two agree to about that relative amount (tested to 1e-9).
//
// Tolerance and accuracy
//   kRelativeTolerance = 1e-12: shares computed along different operation orders differ by a few ulp
//   (~1e-16 relative), so exact ties saturate in one round; a variable frozen with a tied constraint's
//   group is off by at most 1e-12 relative, far below the 1e-9 the tests demand. load_c is updated by
//   subtraction, so for extreme weight or consumption ranges the error of a rate grows like
//   2^-52 * (initial load_c / final load_c); a load that rounds to <= 0 while variables remain is recomputed
//   exactly.
//
// Sources: D. Bertsekas, R. Gallager, Data Networks, 2nd ed., section 6.5 (max-min flow control, the
//   progressive filling algorithm); SimGrid src/kernel/lmm/maxmin.cpp (MaxMin::maxmin_solve) and System.hpp
//   (constraints, variables, elements, weights as 1/sharing_penalty, bounds); mfusim
//   reference/simulation-speed.md sections 3.1-3.3 (the scan vs heap measurements).
#include <cstddef>
#include <cstdint>
#include <limits>
#include <span>
#include <vector>

namespace mfusim::network {

class MaxMinSolver {
 public:
  using ConstraintId = std::uint32_t;
  using VariableId = std::uint32_t;

  static constexpr double kUnbounded = std::numeric_limits<double>::infinity();
  // Shares within this relative distance of the minimum saturate in the same round (see header comment).
  static constexpr double kRelativeTolerance = 1e-12;
  // Rounds that scan the active shares before a solve switches to a heap (see the header comment).
  static constexpr std::size_t kDefaultScanRounds = 32;

  // Pre-sizes storage; optional.
  void reserve(std::size_t constraints, std::size_t variables, std::size_t elements);

  // capacity > 0 and finite. Ids are dense: 0, 1, 2, ...
  ConstraintId add_constraint(double capacity);
  void set_capacity(ConstraintId c, double capacity);
  [[nodiscard]] double capacity(ConstraintId c) const;

  // weight > 0 and finite: unfrozen rates are proportional to it. bound in [0, +inf]: a rate cap.
  // Returns the most recently freed id if any, else the next dense id.
  VariableId add_variable(double weight = 1.0, double bound = kUnbounded);
  // Variable v uses consumption * rate(v) of c; consumption > 0 and finite.
  void add_element(VariableId v, ConstraintId c, double consumption = 1.0);
  // O(path length). The id may be returned again by add_variable.
  void remove_variable(VariableId v);
  void set_bound(VariableId v, double bound);
  void set_weight(VariableId v, double weight);
  [[nodiscard]] double bound(VariableId v) const;
  [[nodiscard]] double weight(VariableId v) const;
  [[nodiscard]] bool contains(VariableId v) const;

  // Full re-solve of every variable (see the header comment).
  void solve();
  // Selective re-solve of the components touched since the last solve (see the header comment). Returns
  // the re-solved variables (every live variable after a fallback to solve()); the span stays valid until
  // the next call of a non-const member.
  std::span<const VariableId> solve_modified();
  // Scanned rounds per solve before the heap takes over (0: heap from the first round); for tests.
  void set_scan_rounds(std::size_t rounds);
  // Fraction of the live variables, in [0, 1], above which solve_modified() falls back to solve().
  void set_selective_limit(double fraction);
  [[nodiscard]] double selective_limit() const { return selective_limit_; }
  enum class SolveKind { kLevelCut, kComponents, kFull };
  // What the last solve_modified() did; selective means a level cut or components.
  [[nodiscard]] SolveKind last_solve_kind() const { return last_kind_; }
  [[nodiscard]] bool last_solve_selective() const { return last_kind_ != SolveKind::kFull; }
  // What solve_modified() did over the solver's life (a failed cut is followed by a full solve).
  struct SolveCounts {
    std::uint64_t level_cuts = 0;
    std::uint64_t failed_cuts = 0;
    std::uint64_t component_solves = 0;
    std::uint64_t full_solves = 0;
  };
  [[nodiscard]] const SolveCounts& solve_counts() const { return counts_; }

  // Results of the last solve(): 0 for a variable added since, and for a constraint added since.
  [[nodiscard]] double rate(VariableId v) const;
  [[nodiscard]] double usage(ConstraintId c) const;  // sum of consumption * rate over c's elements
  [[nodiscard]] std::size_t rounds() const { return rounds_; }

  [[nodiscard]] std::size_t num_constraints() const { return constraint_.size(); }
  [[nodiscard]] std::size_t num_variables() const { return params_.size() - free_variables_.size(); }
  [[nodiscard]] std::size_t num_elements() const { return num_elements_; }

 private:
  // Element as seen from its variable: `slot` is its index in the constraint's element list.
  struct VariableElement {
    ConstraintId constraint;
    std::uint32_t slot;
    double consumption;
  };
  // Element as seen from its constraint: `slot` is its index in the variable's element list.
  struct ConstraintElement {
    VariableId variable;
    std::uint32_t slot;
  };

  // Per-owner contiguous lists in one flat pool. A full list moves to the end of the pool with twice the
  // room (or grows in place when already last). The room a list leaves behind is never reused, but by the
  // geometric growth it totals less than the list's current room, so the pool stays under twice the room
  // in use; an owner keeps its room when emptied (a recycled variable id reuses it).
  template <typename Entry>
  class SlabArena {
   public:
    void add_owner();
    void reserve(std::size_t owners, std::size_t entries);
    [[nodiscard]] std::uint32_t size(std::uint32_t owner) const { return slabs_[owner].size; }
    [[nodiscard]] Entry* data(std::uint32_t owner) { return pool_.data() + slabs_[owner].begin; }
    [[nodiscard]] const Entry* data(std::uint32_t owner) const { return pool_.data() + slabs_[owner].begin; }
    std::uint32_t push_back(std::uint32_t owner, const Entry& entry);  // returns the new entry's index
    void pop_back(std::uint32_t owner) { --slabs_[owner].size; }
    void clear(std::uint32_t owner) { slabs_[owner].size = 0; }
    // Cache hints for the solve loops: the owner's (begin, size) record, and its first entries.
    void prefetch_slab(std::uint32_t owner) const { __builtin_prefetch(&slabs_[owner]); }
    void prefetch_entries(std::uint32_t owner) const { __builtin_prefetch(data(owner)); }

   private:
    struct Slab {
      std::uint32_t begin = 0;
      std::uint32_t size = 0;
      std::uint32_t capacity = 0;
    };
    void grow(std::uint32_t owner);

    std::vector<Entry> pool_;
    std::vector<Slab> slabs_;
  };

  // One constraint, packed so that updating it when a variable freezes touches one cache line: the solve
  // is bound by these random accesses (simulation-speed.md section 3.3). Between solves, unfrozen is 0 and
  // used holds usage().
  struct alignas(32) ConstraintState {
    double capacity;
    double used;                 // sum of consumption * rate over frozen variables
    double load = 0.0;           // during solve(): sum of consumption * weight over unfrozen variables
    std::uint32_t unfrozen = 0;  // during solve(): elements of unfrozen variables
    std::uint32_t slot = 0;      // during solve(): index in active_share_ / active_constraint_
  };
  enum class VariableState : std::uint8_t { kUnfrozen, kCollected, kFrozen };
  // Read together whenever a variable is considered for freezing.
  struct VariableParams {
    double weight;
    double bound;
  };

  void check_constraint(ConstraintId c, const char* operation) const;
  void check_variable(VariableId v, const char* operation) const;
  [[nodiscard]] double min_share() const;
  bool collect(double level);
  void freeze_collected(double level, bool bound_limited);
  void freeze(VariableId v, double rate);
  void add_load(VariableId v, std::uint32_t n);
  void deactivate(ConstraintId c);
  void recompute_load(ConstraintId c);
  void run_rounds();
  // Heap rounds (see the header comment).
  struct HeapEntry {
    double share;
    ConstraintId constraint;
    // Orders a max-heap as a min-heap on (share, constraint): deterministic ties.
    static bool later(const HeapEntry& a, const HeapEntry& b) {
      return a.share > b.share || (a.share == b.share && a.constraint > b.constraint);
    }
  };
  void start_heap();
  [[nodiscard]] bool heap_entry_current(const HeapEntry& e) const;
  double pop_saturated();
  void push_changed();
  void mark_share_changed(ConstraintId c);
  void mark_constraint(ConstraintId c);
  void mark_variable(VariableId v);
  void clear_marks();
  bool collect_component();  // false when the component exceeds the selective limit
  void solve_component();
  enum class CutResult { kSkipped, kSolved, kFailed };  // kFailed: usages changed, solve() must follow
  CutResult solve_level_cut();
  void sort_order(std::size_t from);

  std::vector<ConstraintState> constraint_;

  // Per variable.
  std::vector<VariableParams> params_;
  std::vector<double> rate_;
  std::vector<std::uint8_t> alive_;
  std::vector<VariableId> free_variables_;

  SlabArena<VariableElement> variable_elements_;
  SlabArena<ConstraintElement> constraint_elements_;
  std::size_t num_elements_ = 0;

  // Solve scratch, reused across solves.
  std::vector<ConstraintId> touched_;  // constraints with elements in the last solve, to reset in the next
  std::vector<double> active_share_;   // remaining / load of each active constraint, contiguous for the scan
  std::vector<ConstraintId> active_constraint_;
  std::vector<ConstraintId> saturated_;
  std::vector<VariableId> collected_;  // unfrozen variables of the saturated constraints
  std::vector<VariableState> state_;
  std::size_t rounds_ = 0;

  // Selective re-solve: change marks, and the component search's epoch-stamped visits and lists.
  std::vector<std::uint8_t> in_touched_;         // per constraint: listed in touched_
  std::vector<std::uint8_t> constraint_marked_;  // per constraint
  std::vector<std::uint8_t> variable_marked_;    // per variable
  std::vector<ConstraintId> marked_constraints_;
  std::vector<VariableId> marked_variables_;
  std::vector<std::uint32_t> constraint_visit_;  // epoch of the last search that reached the constraint
  std::vector<std::uint32_t> variable_visit_;
  std::uint32_t epoch_ = 0;
  std::vector<ConstraintId> component_constraints_;  // the search's queue, then the component
  std::vector<VariableId> solved_;                   // what solve_modified() returns
  double selective_limit_ = 0.5;
  SolveKind last_kind_ = SolveKind::kFull;
  SolveCounts counts_;

  // Level cut: the variables with elements sorted by level after the last full solve or level cut, the
  // changes since then, and per constraint the sum of consumption * weight over all its elements.
  struct Ordered {
    double level;
    VariableId variable;
  };
  std::vector<Ordered> order_;
  bool order_valid_ = false;
  bool record_order_ = false;              // during solve() and level cuts: freeze() appends to order_
  bool only_adds_and_removes_ = true;      // since the last solve
  double removed_min_level_ = kUnbounded;  // since the last solve, over removed variables that had been solved
  std::vector<double> total_load_;

  // Heap rounds: after scan_rounds_ scanned rounds, the active shares move to a lazy min-heap.
  std::size_t scan_rounds_ = kDefaultScanRounds;
  bool heap_mode_ = false;
  std::vector<HeapEntry> share_heap_;
  std::vector<ConstraintId> changed_shares_;
  std::vector<std::uint8_t> share_changed_;  // per constraint: listed in changed_shares_
  std::vector<std::uint32_t> popped_round_;  // per constraint: the heap round that last popped it
  std::uint32_t pop_round_ = 0;
};

}  // namespace mfusim::network
