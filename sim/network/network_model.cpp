#include "network/network_model.hpp"

#include <cmath>

#include "core/error.hpp"

namespace mfusim::network {

void check_transfer(const Fabric& fabric, EndpointId src, EndpointId dst, core::Bytes size) {
  const std::size_t n = fabric.endpoint_count();
  if (src >= n || dst >= n) {
    throw core::InputError("transfer from GPU " + std::to_string(src) + " to GPU " + std::to_string(dst) +
                           ": the fabric has " + std::to_string(n) + " GPUs (valid: 0 to " +
                           std::to_string(n == 0 ? 0 : n - 1) + ")");
  }
  if (size.count() < 0) {
    throw core::InputError("transfer from GPU " + std::to_string(src) + " to GPU " + std::to_string(dst) +
                           ": negative size " + std::to_string(size.count()) + " bytes");
  }
}

std::string describe_transfer(TransferId id, EndpointId src, EndpointId dst, double bytes_left) {
  return "transfer #" + std::to_string(id) + " " + std::to_string(src) + "->" + std::to_string(dst) + ": " +
         std::to_string(static_cast<std::int64_t>(std::ceil(bytes_left))) + " bytes left";
}

}  // namespace mfusim::network
