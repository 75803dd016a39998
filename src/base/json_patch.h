#pragma once
// Partial updates of JSON documents: JSON Pointer (RFC 6901), JSON Patch (RFC 6902) and JSON
// Merge Patch (RFC 7396). Pure functions on Boost.JSON values; thread-safe; they never throw
// and never modify their inputs (each returns a new document).
//
//   absl::StatusOr<json::value> flag = base::ApplyJsonPatch(current, patch);   // all or nothing
//   json::value flag2 = base::ApplyMergePatch(current, merge_patch);
//
// Errors (ApplyJsonPatch): InvalidArgument for a malformed patch, a bad pointer or a path that
// does not exist, with a message naming the op index ("op 2 (remove): ..."); FailedPrecondition
// when a "test" op's value differs. Either way the result is discarded, so a caller that
// applies a patch and then writes writes nothing on any error.

#include <string>
#include <string_view>
#include <vector>

#include <boost/json.hpp>

#include "absl/status/statusor.h"

namespace edgevault::base {

// The reference tokens of a JSON Pointer ("" is the whole document; "/a~1b/0" is {"a/b", "0"}).
// InvalidArgument when it does not start with '/' or has a '~' not followed by '0' or '1'.
absl::StatusOr<std::vector<std::string>> ParseJsonPointer(std::string_view pointer);

// The pointer spelling of `tokens` ('~' -> "~0", '/' -> "~1").
std::string JsonPointer(const std::vector<std::string>& tokens);

// JSON equality as RFC 6902 §4.6 defines it: numbers by value (1 == 1.0), objects regardless
// of member order, arrays element by element.
bool JsonEqual(const boost::json::value& a, const boost::json::value& b);

// RFC 6902: applies the ops of `patch` (an array) in order; all-or-nothing.
absl::StatusOr<boost::json::value> ApplyJsonPatch(const boost::json::value& document,
                                                  const boost::json::value& patch);

// RFC 7396: a null member removes, an object merges recursively, anything else replaces.
boost::json::value ApplyMergePatch(const boost::json::value& target, const boost::json::value& patch);

}  // namespace edgevault::base
