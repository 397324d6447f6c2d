#include "core/parallel.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <sstream>
#include <stdexcept>
#include <string>

#include "core/progress.hpp"

namespace mfusim::core {
namespace {

TEST(ParallelMap, ResultsAreInJobOrderWhateverTheThreadCount) {
  for (unsigned threads : {1u, 2u, 3u, 8u}) {
    const auto out = parallel_map(100, threads, [](std::size_t i) { return i * i; });
    ASSERT_EQ(out.size(), 100u);
    for (std::size_t i = 0; i < out.size(); ++i) {
      EXPECT_EQ(out[i], i * i) << "slot " << i << " with " << threads << " threads holds another job's result";
    }
  }
}

TEST(ParallelMap, RethrowsTheLowestIndexFailureAfterAllJobsRan) {
  std::atomic<int> ran{0};
  try {
    parallel_map(10, 2, [&](std::size_t i) -> int {
      ++ran;
      if (i == 7) throw std::runtime_error("seven");
      if (i == 3) throw std::runtime_error("three");
      return 0;
    });
    FAIL() << "a failing job must be rethrown";
  } catch (const std::runtime_error& e) {
    EXPECT_EQ(std::string(e.what()), "three") << "the lowest-index failure is the one reported (deterministic)";
  }
  EXPECT_EQ(ran.load(), 10) << "one failing job must not stop the others";
}

TEST(RunJobs, ReportsEachFailureInItsSlotAndCountsProgress) {
  std::size_t last_done = 0;
  std::size_t calls = 0;
  const auto errors = run_jobs(
      5, 2, [](std::size_t i) { if (i % 2 == 1) throw std::invalid_argument("odd"); },
      [&](std::size_t done) {
        ++calls;
        EXPECT_GT(done, last_done) << "progress counts must increase";
        last_done = done;
      });
  ASSERT_EQ(errors.size(), 5u);
  for (std::size_t i = 0; i < 5; ++i) EXPECT_EQ(errors[i] != nullptr, i % 2 == 1) << "job " << i;
  EXPECT_EQ(calls, 5u);
  EXPECT_EQ(last_done, 5u);
}

TEST(RunJobs, ZeroJobsAndZeroThreadsAreFine) {
  EXPECT_TRUE(run_jobs(0, 0, [](std::size_t) {}).empty());
  EXPECT_EQ(parallel_map(3, 0, [](std::size_t i) { return static_cast<int>(i); }).size(), 3u);
}

TEST(ProgressBar, StaysSilentWhenDisabledOrQuick) {
  std::ostringstream out;
  {
    ProgressBar disabled(out, 10, "sweep", false);
    for (std::size_t i = 1; i <= 10; ++i) disabled.update(i);
    ProgressBar quick(out, 10, "sweep", true);
    for (std::size_t i = 1; i <= 10; ++i) quick.update(i);  // finishes well within the first second
  }
  EXPECT_EQ(out.str(), "") << "the bar must not draw for commands shorter than a second";
}

TEST(ProgressBar, FormatsEta) {
  EXPECT_EQ(format_eta(4.6), "5s");
  EXPECT_EQ(format_eta(125), "2m05s");
  EXPECT_EQ(format_eta(3720), "1h02m");
  EXPECT_EQ(format_eta(-1), "?");
}

}  // namespace
}  // namespace mfusim::core
