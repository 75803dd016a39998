#pragma once
// JSON value helpers shared by the model (parsing clause values) and the evaluator
// (reading context attributes): numbers, times, type-sensitive equality, bucket strings.
// Thread-safety: pure functions.

#include <optional>
#include <string>
#include <string_view>

#include <boost/json.hpp>

#include "absl/time/time.h"

namespace edgevault::eval {

// The value of a JSON number (int64, uint64 or double) as a double; nullopt otherwise.
std::optional<double> NumberValue(const boost::json::value& v);

// The value of a JSON number that has no fractional part, within int64; nullopt for
// anything else (1.5, 1e300, "1", true).
std::optional<int64_t> IntegerValue(const boost::json::value& v);

// A time for before/after: a number is milliseconds since the Unix epoch, a string is
// RFC 3339 ("2024-05-01T12:00:00Z", offsets and fractional seconds allowed). nullopt
// for anything else, including an unparsable string.
std::optional<absl::Time> TimeValue(const boost::json::value& v);

// Equality for the `in` operator: same JSON type required ("1" != 1, true != 1);
// numbers compare by value whatever their storage (1 == 1.0); arrays element-wise;
// objects by member set.
bool JsonEqual(const boost::json::value& a, const boost::json::value& b);

// The string a rollout hashes for `v`: a string as-is, an integer (a number with no
// fractional part) in decimal; nullopt for other types (not bucketable → bucket 0).
// `scratch` holds the decimal text; the result may point into it or into `v`.
std::optional<std::string_view> BucketableString(const boost::json::value& v,
                                                 std::string* scratch);

// `s` as a JSON string literal for error messages, cut to 80 bytes ("abc...").
std::string Quoted(std::string_view s);

// "string", "number", "boolean", "object", "array" or "null".
std::string_view JsonTypeName(const boost::json::value& v);

}  // namespace edgevault::eval
