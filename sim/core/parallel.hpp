#pragma once
// Runs independent jobs (sweep points, candidate plans) on worker threads with results kept in job
// order, so that the output never depends on the thread count or on scheduling: job i's result is
// slot i, whatever thread ran it and whenever it finished. Each job must own everything it mutates
// (one simulation per job: STYLE.md's "two simulations must be able to run in one process").
//
// Exceptions thrown by a job are captured in its slot (JobResult::error) rather than aborting the
// others; the caller decides whether one failed job is fatal (parallel_map rethrows the lowest-index
// failure after all jobs finished) or a reported row (run_jobs returns them).
#include <cstddef>
#include <exception>
#include <functional>
#include <optional>
#include <vector>

namespace mfusim::core {

// Worker threads to use when the user gives none: the hardware's concurrency, at least 1.
unsigned default_thread_count();

// Calls `job(i)` for i in [0, n) on min(threads, n) threads (threads = 0 means default_thread_count()).
// Jobs are handed out in index order. `on_done(completed)` is called after each job, serialised (never
// concurrently), with the number completed so far: progress reporting. Returns one exception_ptr per
// job (null where the job succeeded).
std::vector<std::exception_ptr> run_jobs(std::size_t n, unsigned threads, const std::function<void(std::size_t)>& job,
                                         const std::function<void(std::size_t)>& on_done = {});

// Maps `fn` over [0, n) in parallel; results in index order. Rethrows the lowest-index exception.
template <class F>
auto parallel_map(std::size_t n, unsigned threads, F&& fn, const std::function<void(std::size_t)>& on_done = {})
    -> std::vector<decltype(fn(std::size_t{}))> {
  using R = decltype(fn(std::size_t{}));
  std::vector<std::optional<R>> slots(n);
  const auto errors = run_jobs(
      n, threads, [&](std::size_t i) { slots[i].emplace(fn(i)); }, on_done);
  for (const auto& e : errors) {
    if (e) std::rethrow_exception(e);
  }
  std::vector<R> out;
  out.reserve(n);
  for (auto& s : slots) out.push_back(std::move(*s));
  return out;
}

}  // namespace mfusim::core
