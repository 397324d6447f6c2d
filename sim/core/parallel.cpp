#include "core/parallel.hpp"

#include <algorithm>
#include <atomic>
#include <mutex>
#include <thread>

namespace mfusim::core {

unsigned default_thread_count() { return std::max(1u, std::thread::hardware_concurrency()); }

std::vector<std::exception_ptr> run_jobs(std::size_t n, unsigned threads, const std::function<void(std::size_t)>& job,
                                         const std::function<void(std::size_t)>& on_done) {
  std::vector<std::exception_ptr> errors(n);
  if (n == 0) return errors;
  if (threads == 0) threads = default_thread_count();
  const auto workers = static_cast<unsigned>(std::min<std::size_t>(threads, n));
  std::atomic<std::size_t> next{0};
  std::mutex done_mutex;
  std::size_t completed = 0;
  auto work = [&] {
    for (std::size_t i = next.fetch_add(1); i < n; i = next.fetch_add(1)) {
      try {
        job(i);
      } catch (...) {
        errors[i] = std::current_exception();
      }
      std::lock_guard<std::mutex> lock(done_mutex);
      ++completed;
      if (on_done) on_done(completed);
    }
  };
  if (workers == 1) {
    work();
    return errors;
  }
  std::vector<std::thread> pool;
  pool.reserve(workers - 1);
  for (unsigned t = 1; t < workers; ++t) pool.emplace_back(work);
  work();
  for (auto& t : pool) t.join();
  return errors;
}

}  // namespace mfusim::core
