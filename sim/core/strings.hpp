#pragma once
// Small string helpers shared by every layer: edit distance for "did you mean" suggestions and joining.
#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace mfusim::core {

// Optimal-string-alignment distance (Levenshtein plus adjacent transposition), case-sensitive.
std::size_t edit_distance(std::string_view a, std::string_view b);

// The candidate closest to `word`, if it is close enough to be a plausible typo: distance at most
// max(1, |word| / 3), or a case-insensitive match. Ties go to the earliest candidate (deterministic).
std::optional<std::string> closest_match(std::string_view word, std::span<const std::string> candidates);

// "a, b, c"
std::string join(std::span<const std::string> items, std::string_view separator = ", ");

}  // namespace mfusim::core
