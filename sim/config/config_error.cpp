#include "config/config_error.hpp"

#include <utility>

namespace mfusim::config {
namespace {
std::string compose(const Mark& mark, const std::string& path, const std::string& message) {
  std::string s = mark.to_string() + ": ";
  if (!path.empty()) s += path + ": ";
  return s + message;
}
}  // namespace

ConfigError::ConfigError(const Mark& mark, std::string key_path, std::string message)
    : core::InputError(compose(mark, key_path, message)),
      mark_(mark),
      key_path_(std::move(key_path)),
      message_(std::move(message)) {}

}  // namespace mfusim::config
