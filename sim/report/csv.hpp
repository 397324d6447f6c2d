#pragma once
// CSV output (sweep results): RFC 4180 quoting and a locale-independent number format, so that the same
// values always give the same bytes.
//   - A field is quoted when it contains a comma, a double quote, CR or LF (or starts or ends with a
//     space); a double quote inside a quoted field is doubled (RFC 4180, section 2, rules 5-7).
//   - Records end with LF (RFC 4180 asks for CRLF; every CSV reader accepts LF, and LF keeps the files
//     diffable with the usual tools). The header is the first record.
//   - Numbers are the shortest text that parses back to the same double (std::to_chars: no locale, no
//     rounding loss), e.g. 0.4215, 4.729312, 2.019e+18; integers print without a decimal point.
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace mfusim::report {

// One field, quoted only where RFC 4180 requires it.
std::string csv_field(std::string_view text);

// One record: fields joined by commas, ended by "\n".
std::string csv_record(const std::vector<std::string>& fields);

// The shortest round-trip text of `v`; "" for NaN or infinity (an empty CSV cell), "0" for -0.
std::string format_number(double v);

// Splits one CSV document into records of fields (the inverse of csv_record; tests and tools).
// Throws core::InputError on an unterminated quoted field.
std::vector<std::vector<std::string>> parse_csv(std::string_view text);

}  // namespace mfusim::report
