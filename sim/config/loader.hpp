#pragma once
// Loading YAML files into config::Node trees.
//
// Includes: a mapping with the key `include: PATH` is replaced by the mapping loaded from PATH (relative
// to the including file), with the mapping's other keys merged over it recursively (mappings merge key
// by key; any other value replaces). This is how a scenario picks a preset and overrides parts of it:
//   cluster:
//     include: ../topologies/dgx-h100-superpod.yaml
//     nodes: 2048
// Include cycles, missing files, files over kMaxFileBytes, binary data, empty files, several YAML
// documents in one file, duplicate keys and non-scalar keys are errors with file:line:column.
#include <cstddef>
#include <filesystem>
#include <string>
#include <string_view>

#include "config/node.hpp"

namespace mfusim::config {

inline constexpr std::size_t kMaxFileBytes = std::size_t{16} << 20;  // 16 MiB: far above any real input

// Loads a file whose top level must be a mapping.
Node load_file(const std::filesystem::path& path);

// Parses YAML text (no includes) with marks naming `source`. Used for --set values and tests.
Node parse_text(std::string_view text, const std::string& source);

// YAML text of a tree (mapping keys in stored order), e.g. for --dump-config.
std::string to_yaml(const Node& node);

}  // namespace mfusim::config
