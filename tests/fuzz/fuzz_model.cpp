// libFuzzer target: model files (workloads/models/NAME.yaml, schema mfusim-model/1): read the model and
// compute what the rest of mfusim derives from it (parameter counts, widths), where overflow would hide.
#include <cstddef>
#include <cstdint>

#include "config/loader.hpp"
#include "config/reader.hpp"
#include "core/error.hpp"
#include "fuzz_input.hpp"
#include "workload/model_spec.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace mfusim;
  try {
    const config::Node root = config::load_file(fuzz::write_input(data, size));
    config::Reader r(root, "", nullptr);
    const workload::ModelSpec m = workload::read_model(r);
    volatile std::int64_t sink = m.total_parameters() + m.active_parameters() + m.query_width() + m.moe_layer_count();
    (void)sink;
  } catch (const core::InputError&) {
  }
  return 0;
}
