// libFuzzer target: topology files (mfusim describe topology FILE): load, build, route, summarize.
#include <cstddef>
#include <cstdint>

#include "core/error.hpp"
#include "fuzz_input.hpp"
#include "hardware/catalog.hpp"
#include "topology/cluster_builder.hpp"
#include "topology/router.hpp"
#include "topology/summary.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace mfusim;
  static const hardware::Catalog catalog = hardware::Catalog::load(hardware::Catalog::default_dir());
  try {
    const auto t = topology::load_topology(fuzz::write_input(data, size), {}, catalog);
    topology::Router router(t);
    (void)topology::format_summary(t, topology::summarize(t, router));
  } catch (const core::InputError&) {
  }
  return 0;
}
