#include "report/csv.hpp"

#include <gtest/gtest.h>

#include <charconv>
#include <clocale>
#include <string>
#include <vector>

namespace mfusim::report {
namespace {

TEST(Csv, QuotesOnlyWhereRfc4180RequiresIt) {
  EXPECT_EQ(csv_field("plain"), "plain");
  EXPECT_EQ(csv_field("800Gbps"), "800Gbps");
  EXPECT_EQ(csv_field(""), "");
  EXPECT_EQ(csv_field("a,b"), "\"a,b\"") << "a comma must be quoted (RFC 4180 2.6)";
  EXPECT_EQ(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"") << "quotes are doubled inside a quoted field (RFC 4180 2.7)";
  EXPECT_EQ(csv_field("two\nlines"), "\"two\nlines\"");
  EXPECT_EQ(csv_field("cr\r"), "\"cr\r\"");
  EXPECT_EQ(csv_field(" padded"), "\" padded\"") << "leading spaces are quoted so readers that trim keep them";
}

TEST(Csv, RecordJoinsWithCommasAndEndsWithNewline) {
  EXPECT_EQ(csv_record({"a", "b,c", ""}), "a,\"b,c\",\n");
  EXPECT_EQ(csv_record({}), "\n");
}

TEST(Csv, NumbersAreShortestRoundTripAndLocaleFree) {
  EXPECT_EQ(format_number(0.4215), "0.4215");
  EXPECT_EQ(format_number(1024.0), "1024") << "whole numbers print without a decimal point";
  EXPECT_EQ(format_number(-0.0), "0");
  EXPECT_EQ(format_number(0.1 + 0.2), "0.30000000000000004") << "every bit of the double is kept";
  EXPECT_EQ(format_number(2.019e18), "2.019e+18");
  EXPECT_EQ(format_number(1.0 / 0.0), "") << "non-finite values are empty cells";
  const double tricky = 4.729312345678901;
  double back = 0;
  const std::string text = format_number(tricky);
  std::from_chars(text.data(), text.data() + text.size(), back);
  EXPECT_EQ(back, tricky) << text << " does not parse back to the same double";
  // A decimal-comma locale must not change the output (std::to_chars ignores the locale).
  if (std::setlocale(LC_NUMERIC, "de_DE.UTF-8") != nullptr) {
    EXPECT_EQ(format_number(0.5), "0.5");
    std::setlocale(LC_NUMERIC, "C");
  }
}

TEST(Csv, ParseIsTheInverseOfRecord) {
  const std::vector<std::string> fields = {"x", "a,b", "q\"uote", "", "multi\nline", "800Gbps"};
  const auto records = parse_csv(csv_record(fields) + csv_record({"1", "2"}));
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records[0], fields);
  EXPECT_EQ(records[1], (std::vector<std::string>{"1", "2"}));
  EXPECT_EQ(parse_csv("a,b\r\nc,d").size(), 2u) << "CRLF and a missing final newline are accepted";
  EXPECT_THROW(parse_csv("\"open"), std::exception);
}

}  // namespace
}  // namespace mfusim::report
