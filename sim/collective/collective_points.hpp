#pragma once
// Measured collective performance points (schema collective-points/1), the format of
// ../shared/reference/nccl-points.yaml: nccl-tests-style measurements that the collective model is
// validated against (tests/model/collective_validation_test.cpp) and `mfusim describe collective-points
// FILE` lists.
//
//   schema: collective-points/1
//   points:
//     - system: 8x H100-SXM5 (NVLink4, NVSwitch)   # free text, required
//       source: "nccl issue 1455"                   # required
//       gpus: 8            # or a list [2, 4, 8] with busbw_GBps_by_gpus
//       nodes: 1
//       op: allreduce      # allreduce allgather reducescatter alltoall broadcast sendrecv ep-dispatch-combine
//       algo: ring         # default ring tree nvls nvlstree collnet pat
//       sizes_bytes: [4294967296]
//       busbw_GBps: [367]  # one per size; or time_us (one per size), busbw_GBps_by_gpus {gpus: value},
//                          # busbw_GBps_per_nic [low, high], GBps_per_gpu_by_ep {ep: value}, or a rule
//       tokens / hidden / top_k: integers (ep-dispatch-combine), note: free text
//
// Every point must carry at least one measurement; per-size lists must have one value per size; sizes
// and measured values must be positive and finite; keys of a by-GPU map must be listed in `gpus`; a
// point may not have more nodes than GPUs. Unknown keys are errors (with did-you-mean).
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace mfusim::collective {

struct MeasuredPoint {
  std::string system;
  std::string source;
  std::vector<std::int64_t> gpus;  // empty: not given
  std::optional<std::int64_t> nodes;
  std::string op;
  std::string algo = "default";
  std::vector<std::int64_t> sizes_bytes;
  std::vector<double> busbw_gbps;           // per size
  std::vector<double> time_us;              // per size
  std::map<std::int64_t, double> busbw_gbps_by_gpus;
  std::vector<double> busbw_gbps_per_nic;   // a measured range [low, high] or one value
  std::map<std::int64_t, double> gbps_per_gpu_by_ep;
  std::string rule;
  std::optional<std::int64_t> tokens, hidden, top_k;
  std::string note;
};

struct MeasuredPoints {
  std::string file;
  std::vector<MeasuredPoint> points;
};

// Throws core::InputError (config::ConfigError with file:line:column) on any bad input.
MeasuredPoints load_collective_points(const std::filesystem::path& file);

// One line per point: system, op/algo, GPUs, and what was measured.
std::string format_points(const MeasuredPoints& points);

}  // namespace mfusim::collective
