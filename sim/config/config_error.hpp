#pragma once
#include <string>

#include "config/node.hpp"
#include "core/error.hpp"

namespace mfusim::config {

// A bad input with its position: what() is "file:line:col: key.path: message", one line.
class ConfigError : public core::InputError {
 public:
  ConfigError(const Mark& mark, std::string key_path, std::string message);
  const Mark& mark() const { return mark_; }
  const std::string& key_path() const { return key_path_; }
  const std::string& message() const { return message_; }

 private:
  Mark mark_;
  std::string key_path_;
  std::string message_;
};

}  // namespace mfusim::config
