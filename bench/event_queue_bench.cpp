// Event-queue throughput under the classic "hold" model (Vaucher & Duval 1975; used by SimGrid and
// ns-3 scheduler comparisons): the queue holds N pending events; each step pops the earliest and
// schedules a new one at now + an exponentially distributed delay (mean 1 us, a realistic spread for
// kernel and transfer completions), plus a share of equal-time ties as produced by collectives that
// finish together. Reported: items_per_second = schedule+pop pairs per second.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <random>
#include <vector>

#include "core/engine.hpp"
#include "core/event_queue.hpp"

namespace {

using mfusim::core::Duration;
using mfusim::core::EventQueue;
using mfusim::core::SimTime;

std::vector<std::int64_t> make_delays(std::size_t n, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::exponential_distribution<double> exp_ps(1.0 / 1e6);  // mean 1 us in ps
  std::vector<std::int64_t> d(n);
  for (std::size_t i = 0; i < n; ++i) {
    // One in eight events ties exactly with another (delay rounded to 1 us).
    const double v = exp_ps(rng);
    d[i] = (i % 8 == 0) ? static_cast<std::int64_t>(v / 1e6) * 1'000'000 : static_cast<std::int64_t>(v);
  }
  return d;
}

void BM_EventQueueHold(benchmark::State& state) {
  const auto pending = static_cast<std::size_t>(state.range(0));
  const std::size_t steps = 10'000'000;  // 10M schedule/pop pairs per iteration
  const auto delays = make_delays(1 << 20, 7);
  std::uint64_t sink = 0;
  for (auto _ : state) {
    EventQueue q;
    q.reserve(pending + 1);
    std::size_t k = 0;
    for (std::size_t i = 0; i < pending; ++i) {
      q.push(SimTime::from_ps(delays[k++ & ((1 << 20) - 1)]), 0, [&sink] { ++sink; });
    }
    for (std::size_t i = 0; i < steps; ++i) {
      auto e = q.pop();
      e.callback();
      q.push(e.time + Duration::from_ps(delays[k++ & ((1 << 20) - 1)]), 0, [&sink] { ++sink; });
    }
  }
  benchmark::DoNotOptimize(sink);
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(steps));
}
BENCHMARK(BM_EventQueueHold)->Arg(1 << 10)->Arg(1 << 16)->Arg(1 << 20)->Unit(benchmark::kMillisecond);

// The same through Engine::schedule_after / run, i.e. with the engine's bookkeeping.
void BM_EngineHold(benchmark::State& state) {
  const auto pending = static_cast<std::size_t>(state.range(0));
  const std::uint64_t steps = 10'000'000;
  const auto delays = make_delays(1 << 20, 11);
  for (auto _ : state) {
    mfusim::core::Engine engine;
    std::uint64_t scheduled = 0;
    std::size_t k = 0;
    struct Hold {
      mfusim::core::Engine* engine;
      const std::vector<std::int64_t>* delays;
      std::size_t* k;
      std::uint64_t* scheduled;
      std::uint64_t limit;
      void operator()() const {
        if (*scheduled >= limit) return;
        ++*scheduled;
        engine->schedule_after(Duration::from_ps((*delays)[(*k)++ & ((1 << 20) - 1)]), *this);
      }
    };
    const Hold hold{&engine, &delays, &k, &scheduled, steps};
    for (std::size_t i = 0; i < pending; ++i) engine.schedule_after(Duration::from_ps(delays[k++]), hold);
    engine.run();
  }
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(steps));
}
BENCHMARK(BM_EngineHold)->Arg(1 << 10)->Arg(1 << 16)->Unit(benchmark::kMillisecond);

}  // namespace
