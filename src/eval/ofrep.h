#pragma once
// OFREP's view of the evaluator (https://openfeature.dev/specification/appendix-c): the
// request's evaluation context as a Context, and the variant name OFREP reports for a
// variation. Shared by delivery's OFREP endpoints and the api's "evaluate as" route so the
// two answer the same thing for the same context. Pure functions, safe from any thread.
//
//   EV_ASSIGN_OR_RETURN(Context ctx, ContextFromOfrep(body["context"]));   // may be null
//   std::string variant = VariantName(flag_json, result.variation);

#include <string>
#include <vector>

#include <boost/json.hpp>

#include "absl/status/statusor.h"
#include "src/eval/context.h"

namespace edgevault::eval {

// `context` as OFREP sends it: {"targetingKey": "u1", ...attributes}; "targetingKey"
// becomes the targeting key ("key"). JSON null (or a missing context) is the empty context.
// InvalidArgument when it is not an object, or targetingKey (or key) is not a string.
absl::StatusOr<Context> ContextFromOfrep(const boost::json::value& context);

// The name of variation `variation` of `flag` (a flag item's JSON): its non-empty "name",
// else the index as text.
std::string VariantName(const boost::json::object& flag, int variation);

// VariantName of every variation of `flag` (a flag item's JSON), in order; empty when it is
// not an object or has no variations array. What delivery and the SDKs precompute per flag.
std::vector<std::string> VariantNames(const boost::json::value& flag);

}  // namespace edgevault::eval
