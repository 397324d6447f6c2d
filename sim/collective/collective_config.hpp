#pragma once
// The collective settings of a scenario, read from a YAML mapping with config::Reader (every key
// optional; defaults are NCCL's):
//   fidelity: analytical          # analytical | flow
//   algorithm: ring,tree          # NCCL_ALGO: allowed algorithms (default: all NCCL would consider)
//   protocol: simple              # NCCL_PROTO: allowed protocols (LL, LL128, Simple)
//   nvls: true                    # NCCL_NVLS_ENABLE
//   collnet: false                # NCCL_COLLNET_ENABLE (needs SHARP switches)
//   efficiency: calibrated        # calibrated | none (NCCL's model as NCCL evaluates it)
//   cpu: intel                    # host CPU vendor (NCCL's LL cap and network overhead rows): intel | amd
//   sm_contention_k: 1.0          # compute slowdown = 1 + k x busy CTAs / SMs (sm_contention.hpp)
#include "collective/cost_model.hpp"
#include "collective/sm_contention.hpp"
#include "collective/types.hpp"
#include "config/reader.hpp"

namespace mfusim::collective {

struct CollectiveConfig {
  Fidelity fidelity = Fidelity::kAnalytical;
  TuningOptions tuning;
  SmContention sm;
};

// Reads the keys above from `r` and calls r.finish() (unknown keys are errors with a did-you-mean).
CollectiveConfig read_collective_config(config::Reader& r);

}  // namespace mfusim::collective
