#pragma once
// JSON request/response helpers every service's handlers share, and the one place a
// service maps an absl::Status to an HTTP status and a JSON error body
// ({"error":{"code","message"}}, docs/http.md). Pure functions; thread-safe.
//
//   EV_ASSIGN_OR_RETURN(boost::json::object body, ParseJsonBody(req));
//   EV_ASSIGN_OR_RETURN(std::string email, RequiredString(body, "email", 320));
//   ...
//   return ErrorResponse(status);   // 400 / 401 / 403 / 404 / 409 / 429 / 503 / 500

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <boost/json.hpp>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "src/net/router.h"

namespace edgevault::services {

// Attaches a machine-readable error code (the "code" of the JSON error body) to a
// status; without one, ErrorResponse derives it from the status code.
absl::Status WithErrorCode(absl::Status status, std::string_view code);
// Attaches a Retry-After (seconds) that ErrorResponse sends as a header.
absl::Status WithRetryAfter(absl::Status status, int64_t seconds);
// The seconds WithRetryAfter attached; nullopt when none.
std::optional<int64_t> RetryAfterOf(const absl::Status& status);

// InvalidArgument→400, Unauthenticated→401, PermissionDenied→403, NotFound→404,
// AlreadyExists→409, FailedPrecondition→409, Aborted→412, ResourceExhausted→429,
// Unavailable→503, anything else→500 (whose message is replaced by a generic one and
// logged, since it may carry driver detail).
net::Response ErrorResponse(const absl::Status& status);
int HttpStatusFor(absl::StatusCode code);

// The body as a JSON object. InvalidArgument ("bad_json") when the body is empty,
// not JSON, not an object, or holds a number that is not finite (Boost.JSON reads 1e400
// as Infinity and 0e400 as NaN; written back out they are not JSON).
absl::StatusOr<boost::json::object> ParseJsonBody(const net::Request& req);

// Field accessors: InvalidArgument naming the field when it is missing (Required*),
// of the wrong type, or out of bounds.
absl::StatusOr<std::string> RequiredString(const boost::json::object& o, std::string_view field,
                                           size_t max_bytes = 1024);
absl::StatusOr<std::optional<std::string>> OptionalString(const boost::json::object& o,
                                                          std::string_view field,
                                                          size_t max_bytes = 1024);
absl::StatusOr<std::optional<int64_t>> OptionalInt(const boost::json::object& o,
                                                   std::string_view field, int64_t min,
                                                   int64_t max);
absl::StatusOr<std::optional<bool>> OptionalBool(const boost::json::object& o,
                                                 std::string_view field);
// A JSON array of strings (each ≤ max_bytes), or nullopt when absent.
absl::StatusOr<std::optional<std::vector<std::string>>> OptionalStringArray(
    const boost::json::object& o, std::string_view field, size_t max_items = 64,
    size_t max_bytes = 128);
// Rejects members not in `allowed` (typos should not be silently ignored).
absl::Status RejectUnknownFields(const boost::json::object& o,
                                 std::initializer_list<std::string_view> allowed);

// RFC 3339 UTC with second precision: "2026-11-29T01:02:03Z".
std::string FormatTime(absl::Time t);

net::Response JsonResponse(int status, const boost::json::value& body);

// The token of an `Authorization: Bearer <token>` header; empty when absent or not
// a bearer header.
std::string_view BearerToken(const net::Request& req);

}  // namespace edgevault::services
