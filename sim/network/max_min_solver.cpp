#include "network/max_min_solver.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <sstream>
#include <string>

#include "core/error.hpp"

namespace mfusim::network {

namespace {

// Look-ahead, in list entries, of the cache hints in the solve loops. The solve is bound by random reads
// (simulation-speed.md section 3.3); hints issued this far ahead let several misses overlap. Chosen on
// bench/max_min_solver_bench.cpp (4 to 16 perform alike).
constexpr std::size_t kPrefetchDistance = 16;

// First list size; doubling from here keeps relocations amortised O(1) per element. Paths in a fabric are
// 2-6 links long, so most variables never grow past it.
constexpr std::uint32_t kInitialSlabCapacity = 4;

std::string show(double x) {
  std::ostringstream out;
  out.precision(17);
  out << x;
  return out.str();
}

std::string message(const char* operation, const std::string& what) {
  return std::string(operation) + ": " + what;
}

}  // namespace

// ---- SlabArena -------------------------------------------------------------------------------------

template <typename Entry>
void MaxMinSolver::SlabArena<Entry>::add_owner() {
  slabs_.push_back(Slab{});
}

template <typename Entry>
void MaxMinSolver::SlabArena<Entry>::reserve(std::size_t owners, std::size_t entries) {
  slabs_.reserve(owners);
  pool_.reserve(entries);
}

template <typename Entry>
std::uint32_t MaxMinSolver::SlabArena<Entry>::push_back(std::uint32_t owner, const Entry& entry) {
  if (slabs_[owner].size == slabs_[owner].capacity) {
    grow(owner);
  }
  Slab& slab = slabs_[owner];
  pool_[slab.begin + slab.size] = entry;
  return slab.size++;
}

template <typename Entry>
void MaxMinSolver::SlabArena<Entry>::grow(std::uint32_t owner) {
  const Slab old = slabs_[owner];
  const std::size_t capacity = old.capacity == 0 ? kInitialSlabCapacity : 2 * std::size_t{old.capacity};
  const bool last = std::size_t{old.begin} + old.capacity == pool_.size();
  const std::size_t begin = last ? old.begin : pool_.size();
  MFUSIM_CHECK(begin + capacity <= std::numeric_limits<std::uint32_t>::max(),
               "MaxMinSolver: more than 2^32 element slots");
  pool_.resize(begin + capacity);
  if (!last) {
    std::copy_n(pool_.begin() + old.begin, old.size, pool_.begin() + static_cast<std::ptrdiff_t>(begin));
  }
  slabs_[owner] = Slab{static_cast<std::uint32_t>(begin), old.size, static_cast<std::uint32_t>(capacity)};
}

// ---- Building ----------------------------------------------------------------------------------------

void MaxMinSolver::reserve(std::size_t constraints, std::size_t variables, std::size_t elements) {
  constraint_.reserve(constraints);
  params_.reserve(variables);
  rate_.reserve(variables);
  alive_.reserve(variables);
  variable_elements_.reserve(variables, elements);
  constraint_elements_.reserve(constraints, elements);
}

void MaxMinSolver::check_constraint(ConstraintId c, const char* operation) const {
  MFUSIM_CHECK(c < constraint_.size(), message(operation, "constraint " + std::to_string(c) + " does not exist (" +
                                                              std::to_string(constraint_.size()) + " constraints)"));
}

void MaxMinSolver::check_variable(VariableId v, const char* operation) const {
  MFUSIM_CHECK(contains(v), message(operation, "variable " + std::to_string(v) + " does not exist or was removed"));
}

MaxMinSolver::ConstraintId MaxMinSolver::add_constraint(double capacity) {
  MFUSIM_CHECK(capacity > 0 && std::isfinite(capacity),
               message("add_constraint", "capacity must be > 0 and finite, got " + show(capacity)));
  MFUSIM_CHECK(constraint_.size() < std::numeric_limits<ConstraintId>::max(), "add_constraint: too many constraints");
  const auto c = static_cast<ConstraintId>(constraint_.size());
  constraint_.push_back(ConstraintState{capacity, 0.0});
  constraint_elements_.add_owner();
  in_touched_.push_back(0);
  total_load_.push_back(0.0);
  popped_round_.push_back(0);
  share_changed_.push_back(0);
  if (marked_constraints_.capacity() < constraint_.capacity()) marked_constraints_.reserve(constraint_.capacity());
  constraint_marked_.push_back(0);
  constraint_visit_.push_back(0);
  return c;
}

void MaxMinSolver::set_capacity(ConstraintId c, double capacity) {
  check_constraint(c, "set_capacity");
  MFUSIM_CHECK(capacity > 0 && std::isfinite(capacity),
               message("set_capacity", "capacity must be > 0 and finite, got " + show(capacity)));
  constraint_[c].capacity = capacity;
  mark_constraint(c);
  only_adds_and_removes_ = false;
}

double MaxMinSolver::capacity(ConstraintId c) const {
  check_constraint(c, "capacity");
  return constraint_[c].capacity;
}

MaxMinSolver::VariableId MaxMinSolver::add_variable(double weight, double bound) {
  MFUSIM_CHECK(weight > 0 && std::isfinite(weight),
               message("add_variable", "weight must be > 0 and finite, got " + show(weight)));
  MFUSIM_CHECK(bound >= 0, message("add_variable", "bound must be >= 0 (or kUnbounded), got " + show(bound)));
  if (!free_variables_.empty()) {
    const VariableId v = free_variables_.back();
    free_variables_.pop_back();
    params_[v] = VariableParams{weight, bound};
    rate_[v] = 0.0;
    alive_[v] = 1;
    mark_variable(v);
    return v;
  }
  MFUSIM_CHECK(params_.size() < std::numeric_limits<VariableId>::max(), "add_variable: too many variables");
  const auto v = static_cast<VariableId>(params_.size());
  params_.push_back(VariableParams{weight, bound});
  rate_.push_back(0.0);
  alive_.push_back(1);
  variable_elements_.add_owner();
  variable_marked_.push_back(0);
  variable_visit_.push_back(0);
  // Lists with at most one entry per variable: sized with the variables, so removals never allocate.
  if (free_variables_.capacity() < params_.capacity()) {
    free_variables_.reserve(params_.capacity());
    marked_variables_.reserve(params_.capacity());
  }
  mark_variable(v);
  return v;
}

void MaxMinSolver::add_element(VariableId v, ConstraintId c, double consumption) {
  check_variable(v, "add_element");
  check_constraint(c, "add_element");
  MFUSIM_CHECK(consumption > 0 && std::isfinite(consumption),
               message("add_element", "consumption must be > 0 and finite, got " + show(consumption)));
  const std::uint32_t variable_slot = variable_elements_.size(v);
  const std::uint32_t constraint_slot = constraint_elements_.size(c);
  variable_elements_.push_back(v, VariableElement{c, constraint_slot, consumption});
  constraint_elements_.push_back(c, ConstraintElement{v, variable_slot});
  ++num_elements_;
  mark_constraint(c);
  total_load_[c] += consumption * params_[v].weight;
  // Elements of a variable solved before change the system in ways the level cut does not cover.
  if (variable_marked_[v] == 0) only_adds_and_removes_ = false;
}

void MaxMinSolver::remove_variable(VariableId v) {
  check_variable(v, "remove_variable");
  const std::uint32_t n = variable_elements_.size(v);
  // A variable solved before (not marked since) leaves at its level; keep the usage of the rest current.
  const bool solved_before = variable_marked_[v] == 0;
  if (solved_before && n > 0) removed_min_level_ = std::min(removed_min_level_, rate_[v] / params_[v].weight);
  for (std::uint32_t i = 0; i < n; ++i) {
    // Re-read each element: a swap below may have updated a later element of v itself (duplicate pairs).
    const VariableElement element = variable_elements_.data(v)[i];
    const ConstraintId c = element.constraint;
    mark_constraint(c);
    if (solved_before) constraint_[c].used -= element.consumption * rate_[v];
    total_load_[c] -= element.consumption * params_[v].weight;
    ConstraintElement* list = constraint_elements_.data(c);
    const std::uint32_t last = constraint_elements_.size(c) - 1;
    if (element.slot != last) {
      const ConstraintElement moved = list[last];
      list[element.slot] = moved;
      variable_elements_.data(moved.variable)[moved.slot].slot = element.slot;
    }
    constraint_elements_.pop_back(c);
    if (constraint_elements_.size(c) == 0) {
      total_load_[c] = 0.0;  // exact when empty, whatever the rounding of the subtractions
      constraint_[c].used = 0.0;
    }
  }
  variable_elements_.clear(v);
  num_elements_ -= n;
  alive_[v] = 0;
  rate_[v] = 0.0;
  free_variables_.push_back(v);
}

void MaxMinSolver::set_bound(VariableId v, double bound) {
  check_variable(v, "set_bound");
  MFUSIM_CHECK(bound >= 0, message("set_bound", "bound must be >= 0 (or kUnbounded), got " + show(bound)));
  params_[v].bound = bound;
  mark_variable(v);
  only_adds_and_removes_ = false;
}

void MaxMinSolver::set_weight(VariableId v, double weight) {
  check_variable(v, "set_weight");
  MFUSIM_CHECK(weight > 0 && std::isfinite(weight),
               message("set_weight", "weight must be > 0 and finite, got " + show(weight)));
  const VariableElement* list = variable_elements_.data(v);
  for (std::uint32_t i = 0, n = variable_elements_.size(v); i < n; ++i) {
    total_load_[list[i].constraint] += list[i].consumption * (weight - params_[v].weight);
  }
  params_[v].weight = weight;
  mark_variable(v);
  only_adds_and_removes_ = false;
}

void MaxMinSolver::set_selective_limit(double fraction) {
  MFUSIM_CHECK(fraction >= 0.0 && fraction <= 1.0,
               message("set_selective_limit", "fraction must lie in [0, 1], got " + show(fraction)));
  selective_limit_ = fraction;
}

double MaxMinSolver::bound(VariableId v) const {
  check_variable(v, "bound");
  return params_[v].bound;
}

double MaxMinSolver::weight(VariableId v) const {
  check_variable(v, "weight");
  return params_[v].weight;
}

bool MaxMinSolver::contains(VariableId v) const {
  return v < alive_.size() && alive_[v] != 0;
}

double MaxMinSolver::rate(VariableId v) const {
  check_variable(v, "rate");
  return rate_[v];
}

double MaxMinSolver::usage(ConstraintId c) const {
  check_constraint(c, "usage");
  return constraint_[c].used;
}

// ---- Solving -----------------------------------------------------------------------------------------

void MaxMinSolver::deactivate(ConstraintId c) {
  const std::uint32_t slot = constraint_[c].slot;
  const auto last = static_cast<std::uint32_t>(active_share_.size() - 1);
  if (slot != last) {
    active_share_[slot] = active_share_[last];
    active_constraint_[slot] = active_constraint_[last];
    constraint_[active_constraint_[slot]].slot = slot;
  }
  active_share_.pop_back();
  active_constraint_.pop_back();
}

void MaxMinSolver::recompute_load(ConstraintId c) {
  double load = 0.0;
  const ConstraintElement* list = constraint_elements_.data(c);
  const std::uint32_t n = constraint_elements_.size(c);
  for (std::uint32_t i = 0; i < n; ++i) {
    const VariableId v = list[i].variable;
    if (state_[v] != VariableState::kFrozen) {
      load += variable_elements_.data(v)[list[i].slot].consumption * params_[v].weight;
    }
  }
  constraint_[c].load = load;
}

void MaxMinSolver::freeze(VariableId v, double rate) {
  rate_[v] = rate;
  state_[v] = VariableState::kFrozen;
  const double weight = params_[v].weight;
  if (record_order_) order_.push_back(Ordered{rate / weight, v});
  const VariableElement* list = variable_elements_.data(v);
  const std::uint32_t n = variable_elements_.size(v);
  for (std::uint32_t i = 0; i < n; ++i) {
    const ConstraintId c = list[i].constraint;
    ConstraintState& state = constraint_[c];
    state.used += list[i].consumption * rate;
    state.load -= list[i].consumption * weight;
    if (--state.unfrozen == 0) {
      deactivate(c);
      continue;
    }
    if (state.load <= 0.0) [[unlikely]] {
      recompute_load(c);
    }
    active_share_[state.slot] = std::max(state.capacity - state.used, 0.0) / state.load;
    if (heap_mode_) mark_share_changed(c);
  }
}

// Gathers the unfrozen variables of the saturated constraints into collected_; returns whether some of
// them reach their bound below the level.
bool MaxMinSolver::collect(double level) {
  const double below = level * (1.0 - kRelativeTolerance);
  collected_.clear();
  bool bound_limited = false;
  const std::size_t n = saturated_.size();
  for (std::size_t k = 0; k < n; ++k) {
    if (k + 2 * kPrefetchDistance < n) {
      constraint_elements_.prefetch_slab(saturated_[k + 2 * kPrefetchDistance]);
    }
    if (k + kPrefetchDistance < n) {
      constraint_elements_.prefetch_entries(saturated_[k + kPrefetchDistance]);
    }
    const ConstraintId c = saturated_[k];
    const ConstraintElement* list = constraint_elements_.data(c);
    const std::uint32_t size = constraint_elements_.size(c);
    for (std::uint32_t i = 0; i < size; ++i) {
      const VariableId v = list[i].variable;
      if (state_[v] == VariableState::kUnfrozen) {
        state_[v] = VariableState::kCollected;
        collected_.push_back(v);
        bound_limited = bound_limited || params_[v].bound < below * params_[v].weight;
      }
    }
  }
  return bound_limited;
}

// Freezes the collected variables at level * weight, or, if some reach their bound below the level, only
// those, at their bound: freezing a variable below the level only raises the other shares, so the next
// round rescans.
void MaxMinSolver::freeze_collected(double level, bool bound_limited) {
  const double below = level * (1.0 - kRelativeTolerance);
  const std::size_t n = collected_.size();
  for (std::size_t j = 0; j < n; ++j) {
    // Hints in pipeline order: the variable's list record, its entries, then its constraints' states and
    // active shares, each stage reading only what an earlier stage brought in.
    if (j + 3 * kPrefetchDistance < n) {
      variable_elements_.prefetch_slab(collected_[j + 3 * kPrefetchDistance]);
    }
    if (j + 2 * kPrefetchDistance < n) {
      variable_elements_.prefetch_entries(collected_[j + 2 * kPrefetchDistance]);
    }
    if (j + kPrefetchDistance < n) {
      const VariableId ahead = collected_[j + kPrefetchDistance];
      const VariableElement* list = variable_elements_.data(ahead);
      for (std::uint32_t i = 0, size = variable_elements_.size(ahead); i < size; ++i) {
        __builtin_prefetch(&constraint_[list[i].constraint]);
      }
    }
    if (j + kPrefetchDistance / 2 < n) {
      const VariableId ahead = collected_[j + kPrefetchDistance / 2];
      const VariableElement* list = variable_elements_.data(ahead);
      for (std::uint32_t i = 0, size = variable_elements_.size(ahead); i < size; ++i) {
        const std::uint32_t slot = constraint_[list[i].constraint].slot;
        if (slot < active_share_.size()) {
          __builtin_prefetch(&active_share_[slot]);
        }
      }
    }
    const VariableId v = collected_[j];
    const VariableParams params = params_[v];
    if (!bound_limited) {
      freeze(v, std::min(level * params.weight, params.bound));
    } else if (params.bound < below * params.weight) {
      freeze(v, params.bound);
    } else {
      state_[v] = VariableState::kUnfrozen;
    }
  }
}

// Minimum of active_share_, with four independent running minima so that the compares do not form one
// dependency chain.
double MaxMinSolver::min_share() const {
  const std::size_t n = active_share_.size();
  const double* share = active_share_.data();
  double m0 = kUnbounded;
  double m1 = kUnbounded;
  double m2 = kUnbounded;
  double m3 = kUnbounded;
  std::size_t i = 0;
  for (; i + 4 <= n; i += 4) {
    m0 = std::min(m0, share[i]);
    m1 = std::min(m1, share[i + 1]);
    m2 = std::min(m2, share[i + 2]);
    m3 = std::min(m3, share[i + 3]);
  }
  for (; i < n; ++i) {
    m0 = std::min(m0, share[i]);
  }
  return std::min(std::min(m0, m1), std::min(m2, m3));
}

void MaxMinSolver::solve() {
  const std::size_t num_v = params_.size();
  // Sizes only grow, and reserve/resize keep storage that is large enough: no allocation after warm-up.
  active_share_.reserve(constraint_.size());
  active_constraint_.reserve(constraint_.size());
  touched_.reserve(constraint_.size());
  saturated_.reserve(constraint_.size());
  collected_.reserve(num_v);
  state_.resize(num_v);
  rounds_ = 0;

  // Only constraints that had elements last time hold a usage; untouched ones are never scanned, so a solve
  // costs O(active constraints), not O(all constraints).
  for (const ConstraintId c : touched_) {
    constraint_[c].used = 0.0;
    constraint_[c].load = 0.0;
    in_touched_[c] = 0;
  }
  touched_.clear();
  clear_marks();
  only_adds_and_removes_ = true;
  removed_min_level_ = kUnbounded;
  order_.clear();
  order_.reserve(num_v);
  record_order_ = true;
  for (VariableId v = 0; v < num_v; ++v) {
    if (v + kPrefetchDistance < num_v) {
      const auto ahead = static_cast<VariableId>(v + kPrefetchDistance);
      const VariableElement* list = variable_elements_.data(ahead);
      for (std::uint32_t i = 0, size = variable_elements_.size(ahead); i < size; ++i) {
        __builtin_prefetch(&constraint_[list[i].constraint]);
      }
    }
    const std::uint32_t n = variable_elements_.size(v);
    if (alive_[v] == 0 || n == 0) {
      state_[v] = VariableState::kFrozen;
      rate_[v] = alive_[v] == 0 ? 0.0 : params_[v].bound;
      continue;
    }
    state_[v] = VariableState::kUnfrozen;
    rate_[v] = 0.0;
    const double weight = params_[v].weight;
    const VariableElement* list = variable_elements_.data(v);
    for (std::uint32_t i = 0; i < n; ++i) {
      const ConstraintId c = list[i].constraint;
      ConstraintState& state = constraint_[c];
      state.load += list[i].consumption * weight;
      if (state.unfrozen++ == 0) {
        touched_.push_back(c);
        in_touched_[c] = 1;
      }
    }
  }
  active_constraint_.assign(touched_.begin(), touched_.end());
  active_share_.resize(touched_.size());
  for (std::uint32_t slot = 0; slot < touched_.size(); ++slot) {
    if (slot + kPrefetchDistance < touched_.size()) {
      __builtin_prefetch(&constraint_[touched_[slot + kPrefetchDistance]]);
    }
    ConstraintState& state = constraint_[touched_[slot]];
    state.slot = slot;
    active_share_[slot] = state.capacity / state.load;
  }
  run_rounds();
  record_order_ = false;
  sort_order(0);
  order_valid_ = true;
}

// Rounds of water-filling until every active constraint is gone: the first scan_rounds() rounds scan the
// active shares, later ones pop them from a heap (see the header comment).
void MaxMinSolver::run_rounds() {
  std::size_t scanned = 0;
  while (!active_share_.empty()) {
    ++rounds_;
    saturated_.clear();
    double level = 0.0;
    if (!heap_mode_ && scanned++ >= scan_rounds_) start_heap();
    if (heap_mode_) {
      level = pop_saturated();
    } else {
      level = min_share();
      const double tie = level * (1.0 + kRelativeTolerance);
      for (std::size_t i = 0; i < active_share_.size(); ++i) {
        if (active_share_[i] <= tie) {
          saturated_.push_back(active_constraint_[i]);
        }
      }
    }
    const bool bound_limited = collect(level);
    MFUSIM_CHECK(!collected_.empty(),
                 "MaxMinSolver::solve: a saturated constraint has no unfrozen variable "
                 "(element lists out of step with the counts)");
    freeze_collected(level, bound_limited);
    if (heap_mode_) push_changed();
  }
  heap_mode_ = false;
}

void MaxMinSolver::start_heap() {
  heap_mode_ = true;
  share_heap_.clear();
  for (std::size_t slot = 0; slot < active_share_.size(); ++slot) {
    share_heap_.push_back(HeapEntry{active_share_[slot], active_constraint_[slot]});
  }
  std::make_heap(share_heap_.begin(), share_heap_.end(), HeapEntry::later);
}

bool MaxMinSolver::heap_entry_current(const HeapEntry& e) const {
  const std::uint32_t slot = constraint_[e.constraint].slot;
  return slot < active_share_.size() && active_constraint_[slot] == e.constraint && active_share_[slot] == e.share;
}

// Pops the saturating constraints of this round into saturated_ and returns the level. Entries whose
// constraint left the active set or whose share has grown since are stale and dropped (shares only grow
// during a solve: a freeze at the level never lowers the share of another constraint), so each active
// constraint has exactly one current entry; the round stamp drops duplicates of an unchanged share.
double MaxMinSolver::pop_saturated() {
  if (++pop_round_ == 0) {
    std::fill(popped_round_.begin(), popped_round_.end(), 0U);
    pop_round_ = 1;
  }
  const auto pop = [this] {
    std::pop_heap(share_heap_.begin(), share_heap_.end(), HeapEntry::later);
    const HeapEntry e = share_heap_.back();
    share_heap_.pop_back();
    return e;
  };
  HeapEntry top{};
  do {
    MFUSIM_CHECK(!share_heap_.empty(), "MaxMinSolver::solve: an active constraint has no heap entry");
    top = pop();
  } while (!heap_entry_current(top));
  const double level = top.share;
  const double tie = level * (1.0 + kRelativeTolerance);
  popped_round_[top.constraint] = pop_round_;
  saturated_.push_back(top.constraint);
  while (!share_heap_.empty() && share_heap_.front().share <= tie) {
    const HeapEntry e = pop();
    if (heap_entry_current(e) && popped_round_[e.constraint] != pop_round_) {
      popped_round_[e.constraint] = pop_round_;
      saturated_.push_back(e.constraint);
    }
  }
  return level;
}

// Pushes one entry for each constraint whose share changed this round, and for the saturated constraints
// that stay active (a round that freezes only bound-limited variables keeps them).
void MaxMinSolver::push_changed() {
  for (const ConstraintId c : saturated_) mark_share_changed(c);
  for (const ConstraintId c : changed_shares_) {
    share_changed_[c] = 0;
    const std::uint32_t slot = constraint_[c].slot;
    if (slot < active_share_.size() && active_constraint_[slot] == c) {
      share_heap_.push_back(HeapEntry{active_share_[slot], c});
      std::push_heap(share_heap_.begin(), share_heap_.end(), HeapEntry::later);
    }
  }
  changed_shares_.clear();
}

void MaxMinSolver::mark_share_changed(ConstraintId c) {
  if (share_changed_[c] == 0) {
    share_changed_[c] = 1;
    changed_shares_.push_back(c);
  }
}

void MaxMinSolver::set_scan_rounds(std::size_t rounds) {
  scan_rounds_ = rounds;
}

}  // namespace mfusim::network

namespace mfusim::network {

// ---- Selective re-solve ------------------------------------------------------------------------------

void MaxMinSolver::mark_constraint(ConstraintId c) {
  if (constraint_marked_[c] == 0) {
    constraint_marked_[c] = 1;
    marked_constraints_.push_back(c);
  }
}

void MaxMinSolver::mark_variable(VariableId v) {
  if (variable_marked_[v] == 0) {
    variable_marked_[v] = 1;
    marked_variables_.push_back(v);
  }
}

void MaxMinSolver::clear_marks() {
  for (const ConstraintId c : marked_constraints_) constraint_marked_[c] = 0;
  for (const VariableId v : marked_variables_) variable_marked_[v] = 0;
  marked_constraints_.clear();
  marked_variables_.clear();
}

// Breadth-first search from the marks over constraint -> variables -> constraints. Fills solved_ with the
// component's variables and component_constraints_ with its constraints (marked ones without elements
// included, so that their usage is reset). Returns false as soon as the variables exceed the limit.
bool MaxMinSolver::collect_component() {
  if (++epoch_ == 0) {  // wrapped: stale stamps could equal the new epoch
    std::fill(constraint_visit_.begin(), constraint_visit_.end(), 0U);
    std::fill(variable_visit_.begin(), variable_visit_.end(), 0U);
    epoch_ = 1;
  }
  const double limit = selective_limit_ * static_cast<double>(num_variables());
  solved_.clear();
  component_constraints_.clear();
  auto visit_constraint = [this](ConstraintId c) {
    if (constraint_visit_[c] != epoch_) {
      constraint_visit_[c] = epoch_;
      component_constraints_.push_back(c);
    }
  };
  auto visit_variable = [this, &visit_constraint](VariableId v) {
    if (variable_visit_[v] == epoch_) return;
    variable_visit_[v] = epoch_;
    solved_.push_back(v);
    const VariableElement* list = variable_elements_.data(v);
    for (std::uint32_t i = 0, n = variable_elements_.size(v); i < n; ++i) visit_constraint(list[i].constraint);
  };
  for (const ConstraintId c : marked_constraints_) visit_constraint(c);
  for (const VariableId v : marked_variables_) {
    if (alive_[v] != 0) visit_variable(v);
  }
  for (std::size_t head = 0; head < component_constraints_.size(); ++head) {
    const ConstraintId c = component_constraints_[head];
    const ConstraintElement* list = constraint_elements_.data(c);
    for (std::uint32_t i = 0, n = constraint_elements_.size(c); i < n; ++i) visit_variable(list[i].variable);
    if (static_cast<double>(solved_.size()) > limit) return false;
  }
  return static_cast<double>(solved_.size()) <= limit;
}

// The water-filling of solve(), on the component that collect_component() found.
void MaxMinSolver::solve_component() {
  for (const ConstraintId c : component_constraints_) {
    constraint_[c].used = 0.0;
    constraint_[c].load = 0.0;
  }
  active_constraint_.clear();
  for (const VariableId v : solved_) {
    const std::uint32_t n = variable_elements_.size(v);
    if (n == 0) {
      state_[v] = VariableState::kFrozen;
      rate_[v] = params_[v].bound;
      continue;
    }
    state_[v] = VariableState::kUnfrozen;
    rate_[v] = 0.0;
    add_load(v, n);
  }
  active_share_.resize(active_constraint_.size());
  for (std::uint32_t slot = 0; slot < active_constraint_.size(); ++slot) {
    ConstraintState& state = constraint_[active_constraint_[slot]];
    state.slot = slot;
    active_share_[slot] = state.capacity / state.load;
  }
  run_rounds();
}

// Keeps order_ sorted by level: water levels only rise from round to round, but a variable frozen at its
// bound can sit below the level of its round, so the entries appended from `from` on are sorted and, if
// they reach below the entries before them, merged with them (rare: only bounded variables do that).
void MaxMinSolver::sort_order(std::size_t from) {
  const auto by_level = [](const Ordered& a, const Ordered& b) { return a.level < b.level; };
  const auto mid = order_.begin() + static_cast<std::ptrdiff_t>(from);
  if (!std::is_sorted(mid, order_.end(), by_level)) std::sort(mid, order_.end(), by_level);
  if (from > 0 && mid != order_.end() && mid->level < (mid - 1)->level) {
    std::inplace_merge(order_.begin(), mid, order_.end(), by_level);
  }
}

// The level cut (see the header comment). kSkipped, leaving everything untouched, when it does not apply
// or U is too large; kFailed, after changing usages, when the first water level falls below the threshold:
// the caller must then run solve().
MaxMinSolver::CutResult MaxMinSolver::solve_level_cut() {
  if (!order_valid_ || !only_adds_and_removes_) return CutResult::kSkipped;
  double threshold = removed_min_level_;
  std::size_t fresh = 0;
  for (const VariableId v : marked_variables_) {
    if (alive_[v] == 0) continue;
    ++fresh;
    double low = params_[v].bound / params_[v].weight;
    const VariableElement* list = variable_elements_.data(v);
    for (std::uint32_t i = 0, n = variable_elements_.size(v); i < n; ++i) {
      const ConstraintId c = list[i].constraint;
      low = std::min(low, constraint_[c].capacity / total_load_[c]);
    }
    threshold = std::min(threshold, low);
  }
  threshold *= 1.0 - kRelativeTolerance;
  const auto cut = std::lower_bound(order_.begin(), order_.end(), threshold,
                                    [](const Ordered& o, double level) { return o.level < level; });
  const auto prefix = static_cast<std::size_t>(cut - order_.begin());
  if (static_cast<double>(order_.size() - prefix + fresh) > selective_limit_ * static_cast<double>(num_variables())) {
    return CutResult::kSkipped;
  }

  // U: the variables above the cut (skipping removed ones; a recycled id appears once) and the new ones.
  // Their old usage leaves the constraints, which then hold F_low's usage only.
  if (++epoch_ == 0) {
    std::fill(constraint_visit_.begin(), constraint_visit_.end(), 0U);
    std::fill(variable_visit_.begin(), variable_visit_.end(), 0U);
    epoch_ = 1;
  }
  solved_.clear();
  for (std::size_t i = prefix; i < order_.size(); ++i) {
    const VariableId v = order_[i].variable;
    if (alive_[v] == 0 || variable_visit_[v] == epoch_) continue;
    variable_visit_[v] = epoch_;
    solved_.push_back(v);
    const VariableElement* list = variable_elements_.data(v);
    for (std::uint32_t k = 0, n = variable_elements_.size(v); k < n; ++k) {
      constraint_[list[k].constraint].used -= list[k].consumption * rate_[v];
    }
  }
  for (const VariableId v : marked_variables_) {
    if (alive_[v] == 0 || variable_visit_[v] == epoch_) continue;
    variable_visit_[v] = epoch_;
    solved_.push_back(v);
  }

  active_constraint_.clear();
  for (const VariableId v : solved_) {
    const std::uint32_t n = variable_elements_.size(v);
    if (n == 0) {
      state_[v] = VariableState::kFrozen;
      rate_[v] = params_[v].bound;
      continue;
    }
    state_[v] = VariableState::kUnfrozen;
    add_load(v, n);
  }
  active_share_.resize(active_constraint_.size());
  for (std::uint32_t slot = 0; slot < active_constraint_.size(); ++slot) {
    ConstraintState& state = constraint_[active_constraint_[slot]];
    state.slot = slot;
    active_share_[slot] = std::max(state.capacity - state.used, 0.0) / state.load;
  }
  if (!active_share_.empty() && min_share() < threshold) {
    for (const ConstraintId c : active_constraint_) {
      constraint_[c].load = 0.0;
      constraint_[c].unfrozen = 0;
    }
    return CutResult::kFailed;
  }
  for (const VariableId v : solved_) {
    if (state_[v] == VariableState::kUnfrozen) rate_[v] = 0.0;
  }
  order_.resize(prefix);
  record_order_ = true;
  run_rounds();
  record_order_ = false;
  sort_order(prefix);
  return CutResult::kSolved;
}

std::span<const MaxMinSolver::VariableId> MaxMinSolver::solve_modified() {
  const std::size_t num_v = params_.size();
  active_share_.reserve(constraint_.size());
  active_constraint_.reserve(constraint_.size());
  touched_.reserve(constraint_.size());
  saturated_.reserve(constraint_.size());
  collected_.reserve(num_v);
  solved_.reserve(num_v);
  component_constraints_.reserve(constraint_.size());
  order_.reserve(num_v);
  state_.resize(num_v);
  rounds_ = 0;

  const CutResult cut = solve_level_cut();
  if (cut == CutResult::kFailed) ++counts_.failed_cuts;
  if (cut == CutResult::kSolved) {
    ++counts_.level_cuts;
    last_kind_ = SolveKind::kLevelCut;
    clear_marks();
    only_adds_and_removes_ = true;
    removed_min_level_ = kUnbounded;
    return solved_;
  }
  // After a failed cut the usages changed: only a full solve restores them.
  if (cut == CutResult::kSkipped && collect_component()) {
    ++counts_.component_solves;
    last_kind_ = SolveKind::kComponents;
    clear_marks();
    only_adds_and_removes_ = true;
    removed_min_level_ = kUnbounded;
    // A component solve leaves the level order stale, unless the components are the whole system.
    const bool everything = solved_.size() == num_variables();
    if (everything) order_.clear();
    record_order_ = everything;
    solve_component();
    record_order_ = false;
    if (everything) sort_order(0);
    order_valid_ = everything;
    return solved_;
  }
  solve();
  ++counts_.full_solves;
  last_kind_ = SolveKind::kFull;
  solved_.clear();
  for (VariableId v = 0; v < num_v; ++v) {
    if (alive_[v] != 0) solved_.push_back(v);
  }
  return solved_;
}

// Adds an unfrozen variable's weighted consumption to its constraints, activating (and marking as
// touched) each constraint that gets its first unfrozen variable. Shared by the full and the selective
// solve.
void MaxMinSolver::add_load(VariableId v, std::uint32_t n) {
  const double weight = params_[v].weight;
  const VariableElement* list = variable_elements_.data(v);
  for (std::uint32_t i = 0; i < n; ++i) {
    const ConstraintId c = list[i].constraint;
    ConstraintState& state = constraint_[c];
    state.load += list[i].consumption * weight;
    if (state.unfrozen++ == 0) {
      active_constraint_.push_back(c);
      if (in_touched_[c] == 0) {
        in_touched_[c] = 1;
        touched_.push_back(c);
      }
    }
  }
}

}  // namespace mfusim::network
