// Fuzzes what every service does first with a request body (src/services/common/
// http_json.h): ParseJsonBody, then the field accessors and RejectUnknownFields with the
// arguments the api's and auth's routes pass, and ErrorResponse on each failure.
// Input: the raw request body; its first line also serves as the Authorization header.
// Properties:
//   - ParseJsonBody accepts exactly the bodies Boost.JSON parses to an object whose
//     numbers are all finite, and what it accepts serialises to JSON text that reads
//     back equal (Boost.JSON writes 1e400 as `Infinity`, which is not JSON);
//   - every error is a client error that ErrorResponse maps to a 4xx whose body is a
//     JSON object {"error":{"code":string,"message":string}};
//   - accessors return what the body holds, within the bounds they were given;
//   - BearerToken is a trimmed substring of the header;
//   - nothing throws (an escaped exception aborts the run).

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include <boost/beast/http.hpp>
#include <boost/json.hpp>

#include "fuzz/fuzz_util.h"
#include "src/base/json_finite.h"
#include "src/services/common/http_json.h"

namespace edgevault::fuzz {
namespace {

namespace json = boost::json;
using services::ErrorResponse;

void CheckErrorResponse(const absl::Status& s) {
  FUZZ_CHECK(IsClientError(s), "not a client error: " + s.ToString());
  net::Response r = ErrorResponse(s);
  FUZZ_CHECK(r.status >= 400 && r.status < 500, "status " + std::to_string(r.status));
  boost::system::error_code ec;
  json::value v = json::parse(r.body, ec);
  FUZZ_CHECK(!ec && v.is_object(), "error body is not JSON: " + r.body);
  const json::value* e = v.as_object().if_contains("error");
  FUZZ_CHECK(e != nullptr && e->is_object(), r.body);
  const json::value* code = e->as_object().if_contains("code");
  const json::value* message = e->as_object().if_contains("message");
  FUZZ_CHECK(code && code->is_string() && !code->as_string().empty(), r.body);
  FUZZ_CHECK(message && message->is_string(), r.body);
}

// Each accessor's result against the body itself.
void CheckString(const json::object& o, std::string_view field, size_t max, bool required) {
  const json::value* raw = o.if_contains(field);
  if (required) {
    absl::StatusOr<std::string> s = services::RequiredString(o, field, max);
    if (!s.ok()) return CheckErrorResponse(s.status());
    FUZZ_CHECK(raw && raw->is_string() && raw->as_string() == *s, std::string(field));
    FUZZ_CHECK(!s->empty() && s->size() <= max, std::string(field));
    return;
  }
  absl::StatusOr<std::optional<std::string>> s = services::OptionalString(o, field, max);
  if (!s.ok()) return CheckErrorResponse(s.status());
  if (!s->has_value()) {
    FUZZ_CHECK(raw == nullptr || raw->is_null(), std::string(field));
  } else {
    FUZZ_CHECK(raw && raw->is_string() && raw->as_string() == **s, std::string(field));
    FUZZ_CHECK((*s)->size() <= max, std::string(field));
  }
}

void CheckInt(const json::object& o, std::string_view field, int64_t min, int64_t max) {
  absl::StatusOr<std::optional<int64_t>> v = services::OptionalInt(o, field, min, max);
  if (!v.ok()) return CheckErrorResponse(v.status());
  if (v->has_value()) {
    FUZZ_CHECK(**v >= min && **v <= max, std::string(field));
    const json::value* raw = o.if_contains(field);
    FUZZ_CHECK(raw && raw->is_number() && raw->to_number<double>() == double(**v),
               std::string(field));
  }
}

void CheckAccessors(const json::object& body) {
  // The api's routes (src/services/api/api_service.cc) ...
  if (absl::Status s = services::RejectUnknownFields(body, {"key", "name", "reason"}); !s.ok()) {
    CheckErrorResponse(s);
  }
  CheckString(body, "key", 64, true);
  CheckString(body, "name", 200, false);
  CheckString(body, "name", 100, false);
  CheckString(body, "reason", 1000, false);
  if (absl::Status s = services::RejectUnknownFields(body, {"to_revision", "reason"}); !s.ok()) {
    CheckErrorResponse(s);
  }
  CheckInt(body, "to_revision", 0, INT64_MAX);
  // ... and auth's (src/services/auth/*.cc).
  CheckString(body, "email", 320, true);
  CheckString(body, "role", 32, true);
  CheckInt(body, "expires_in", 60, int64_t{10} * 365 * 86400);
  absl::StatusOr<std::optional<std::vector<std::string>>> scopes =
      services::OptionalStringArray(body, "scopes", 8, 32);
  if (!scopes.ok()) {
    CheckErrorResponse(scopes.status());
  } else if (scopes->has_value()) {
    FUZZ_CHECK((*scopes)->size() <= 8, "scopes");
    for (const std::string& s : **scopes) FUZZ_CHECK(!s.empty() && s.size() <= 32, "scope");
  }
  absl::StatusOr<std::optional<bool>> b = services::OptionalBool(body, "protected");
  if (!b.ok()) CheckErrorResponse(b.status());
}

}  // namespace
}  // namespace edgevault::fuzz

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  edgevault::fuzz::QuietLogs();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace edgevault;
  using namespace edgevault::fuzz;
  std::string_view input(reinterpret_cast<const char*>(data), size);

  net::RawRequest raw;
  raw.method(boost::beast::http::verb::post);
  raw.target("/v1/workspaces");
  std::string_view first_line = input.substr(0, std::min(input.find('\n'), size_t{256}));
  // A header value cannot hold CR, LF or NUL on the wire (Beast rejects them).
  if (first_line.find_first_of(std::string_view("\r\0", 2)) == std::string_view::npos) {
    raw.set(boost::beast::http::field::authorization, first_line);
  }
  raw.body() = std::string(input);
  net::Request req(raw, "fuzz", "127.0.0.1:1");

  std::string_view token = services::BearerToken(req);
  if (!token.empty()) {
    FUZZ_CHECK(first_line.find(token) != std::string_view::npos, std::string(token));
    FUZZ_CHECK(token.front() != ' ' && token.back() != ' ', std::string(token));
  }

  boost::system::error_code ec;
  boost::json::value reference = boost::json::parse(input, ec);
  const bool want_object = !ec && reference.is_object() && !base::FindNonFiniteNumber(reference);
  absl::StatusOr<boost::json::object> body = services::ParseJsonBody(req);
  FUZZ_CHECK(body.ok() == want_object, body.status().ToString());
  if (!body.ok()) {
    CheckErrorResponse(body.status());
    return 0;
  }
  FUZZ_CHECK(*body == reference.as_object(), "ParseJsonBody changed the body");
  std::string text = boost::json::serialize(*body);
  boost::json::value back = boost::json::parse(text, ec);
  FUZZ_CHECK(!ec && SameJsonModuloDoubleRounding(back, boost::json::value(*body)),
             "an accepted body does not serialise to JSON: " + text);
  CheckAccessors(*body);
  CheckNoBugReported();
  return 0;
}
