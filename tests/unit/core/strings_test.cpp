#include "core/strings.hpp"

#include <gtest/gtest.h>

#include <vector>

namespace mfusim::core {
namespace {

TEST(Strings, EditDistance) {
  EXPECT_EQ(edit_distance("kitten", "sitting"), 3u);
  EXPECT_EQ(edit_distance("nodes", "ndoes"), 1u) << "adjacent transposition counts as one edit";
  EXPECT_EQ(edit_distance("", "abc"), 3u);
}

TEST(Strings, ClosestMatchSuggestsOnlyPlausibleTypos) {
  const std::vector<std::string> keys{"stages", "microbatches", "schedule"};
  EXPECT_EQ(closest_match("stagez", keys), "stages");
  EXPECT_EQ(closest_match("microbatchs", keys), "microbatches");
  EXPECT_EQ(closest_match("Schedule", keys), "schedule") << "case-only differences always match";
  EXPECT_EQ(closest_match("bandwidth", keys), std::nullopt) << "no suggestion for unrelated words";
}

}  // namespace
}  // namespace mfusim::core
