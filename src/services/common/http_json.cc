#include "src/services/common/http_json.h"

#include <cstdlib>

#include "src/base/json_finite.h"

#include "absl/strings/cord.h"
#include "src/base/log.h"
#include "src/base/status.h"
#include "src/base/strings.h"

namespace edgevault::services {
namespace {

constexpr char kRetryPayload[] = "edgevault.dev/retry-after";

std::string DefaultCode(absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kInvalidArgument: return "invalid_argument";
    case absl::StatusCode::kUnauthenticated: return "unauthenticated";
    case absl::StatusCode::kPermissionDenied: return "forbidden";
    case absl::StatusCode::kNotFound: return "not_found";
    case absl::StatusCode::kAlreadyExists: return "conflict";
    case absl::StatusCode::kFailedPrecondition: return "failed_precondition";
    case absl::StatusCode::kAborted: return "precondition_failed";
    case absl::StatusCode::kResourceExhausted: return "rate_limited";
    case absl::StatusCode::kUnavailable: return "unavailable";
    default: return "internal";
  }
}

absl::Status FieldError(std::string_view field, std::string_view what) {
  return absl::InvalidArgumentError(
      base::ToAbsl("field '" + std::string(field) + "': " + std::string(what)));
}

}  // namespace

absl::Status WithErrorCode(absl::Status status, std::string_view code) {
  return base::WithErrorCode(std::move(status), code);
}

absl::Status WithRetryAfter(absl::Status status, int64_t seconds) {
  status.SetPayload(kRetryPayload, absl::Cord(base::ToAbsl(std::to_string(seconds))));
  return status;
}

std::optional<int64_t> RetryAfterOf(const absl::Status& status) {
  auto p = status.GetPayload(kRetryPayload);
  if (!p) return std::nullopt;
  return std::atoll(std::string(*p).c_str());
}

int HttpStatusFor(absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kOutOfRange: return 400;
    case absl::StatusCode::kUnauthenticated: return 401;
    case absl::StatusCode::kPermissionDenied: return 403;
    case absl::StatusCode::kNotFound: return 404;
    case absl::StatusCode::kAlreadyExists:
    case absl::StatusCode::kFailedPrecondition: return 409;
    case absl::StatusCode::kAborted: return 412;
    case absl::StatusCode::kResourceExhausted: return 429;
    case absl::StatusCode::kUnavailable: return 503;
    default: return 500;
  }
}

net::Response ErrorResponse(const absl::Status& status) {
  int http = HttpStatusFor(status.code());
  std::string code = DefaultCode(status.code());
  if (std::string set = base::ErrorCode(status); !set.empty()) code = std::move(set);
  std::string message(status.message());
  if (http == 500) {
    EV_LOG(kError, "internal error", {{"status", status.ToString()}});
    message = "internal error; the server log has the details";
  }
  net::Response r = net::Response::Error(http, code, message);
  if (std::optional<int64_t> seconds = RetryAfterOf(status)) r.WithHeader("Retry-After", std::to_string(*seconds));
  if (http == 401) r.WithHeader("WWW-Authenticate", "Bearer");
  return r;
}

absl::StatusOr<boost::json::object> ParseJsonBody(const net::Request& req) {
  const std::string& body = req.body();
  if (body.empty()) {
    return WithErrorCode(absl::InvalidArgumentError("the request body must be a JSON object"),
                         "bad_json");
  }
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(body, ec);
  if (ec) {
    return WithErrorCode(
        absl::InvalidArgumentError(base::ToAbsl("the request body is not valid JSON: " + ec.message())),
        "bad_json");
  }
  if (!v.is_object()) {
    return WithErrorCode(absl::InvalidArgumentError("the request body must be a JSON object"),
                         "bad_json");
  }
  // `1e999` parses as infinity, which no JSON can carry back out: refuse it here, for
  // every endpoint, naming where it is.
  if (std::optional<std::string> at = base::FindNonFiniteNumber(v)) {
    return WithErrorCode(absl::InvalidArgumentError(base::ToAbsl(
                             "field '" + *at + "': numbers must be finite (this one is too large for a 64-bit float)")),
                         "bad_json");
  }
  return std::move(v.get_object());
}

absl::StatusOr<std::optional<std::string>> OptionalString(const boost::json::object& o,
                                                          std::string_view field,
                                                          size_t max_bytes) {
  auto it = o.find(field);
  if (it == o.end() || it->value().is_null()) return std::optional<std::string>();
  if (!it->value().is_string()) return FieldError(field, "must be a string");
  const boost::json::string& s = it->value().get_string();
  if (s.size() > max_bytes) {
    return FieldError(field, "is longer than " + std::to_string(max_bytes) + " bytes");
  }
  return std::optional<std::string>(std::string(s.data(), s.size()));
}

absl::StatusOr<std::string> RequiredString(const boost::json::object& o, std::string_view field,
                                           size_t max_bytes) {
  EV_ASSIGN_OR_RETURN(std::optional<std::string> s, OptionalString(o, field, max_bytes));
  if (!s || s->empty()) return FieldError(field, "is required");
  return *std::move(s);
}

absl::StatusOr<std::optional<int64_t>> OptionalInt(const boost::json::object& o,
                                                   std::string_view field, int64_t min,
                                                   int64_t max) {
  auto it = o.find(field);
  if (it == o.end() || it->value().is_null()) return std::optional<int64_t>();
  int64_t v;
  if (it->value().is_int64()) {
    v = it->value().get_int64();
  } else if (it->value().is_uint64() && it->value().get_uint64() <= uint64_t(INT64_MAX)) {
    v = int64_t(it->value().get_uint64());
  } else {
    return FieldError(field, "must be an integer");
  }
  if (v < min || v > max) {
    return FieldError(field, "must be between " + std::to_string(min) + " and " +
                                 std::to_string(max));
  }
  return std::optional<int64_t>(v);
}

absl::StatusOr<std::optional<bool>> OptionalBool(const boost::json::object& o,
                                                 std::string_view field) {
  auto it = o.find(field);
  if (it == o.end() || it->value().is_null()) return std::optional<bool>();
  if (!it->value().is_bool()) return FieldError(field, "must be true or false");
  return std::optional<bool>(it->value().get_bool());
}

absl::StatusOr<std::optional<std::vector<std::string>>> OptionalStringArray(
    const boost::json::object& o, std::string_view field, size_t max_items, size_t max_bytes) {
  auto it = o.find(field);
  if (it == o.end() || it->value().is_null()) return std::optional<std::vector<std::string>>();
  if (!it->value().is_array()) return FieldError(field, "must be an array of strings");
  const boost::json::array& a = it->value().get_array();
  if (a.size() > max_items) {
    return FieldError(field, "has more than " + std::to_string(max_items) + " items");
  }
  std::vector<std::string> out;
  for (const auto& v : a) {
    if (!v.is_string() || v.get_string().empty() || v.get_string().size() > max_bytes) {
      return FieldError(field, "must be an array of non-empty strings of at most " +
                                   std::to_string(max_bytes) + " bytes");
    }
    out.emplace_back(v.get_string().data(), v.get_string().size());
  }
  return std::optional<std::vector<std::string>>(std::move(out));
}

absl::Status RejectUnknownFields(const boost::json::object& o,
                                 std::initializer_list<std::string_view> allowed) {
  for (const auto& kv : o) {
    std::string_view k(kv.key().data(), kv.key().size());
    bool ok = false;
    for (std::string_view a : allowed) ok = ok || a == k;
    if (!ok) {
      std::string list;
      for (std::string_view a : allowed) list += (list.empty() ? "" : ", ") + std::string(a);
      return FieldError(k, "is not a known field (known: " + list + ")");
    }
  }
  return absl::OkStatus();
}

std::string FormatTime(absl::Time t) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", t, absl::UTCTimeZone());
}

net::Response JsonResponse(int status, const boost::json::value& body) {
  return net::Response::Json(status, boost::json::serialize(body));
}

std::string_view BearerToken(const net::Request& req) {
  std::string_view h = req.Header("Authorization");
  if (h.size() < 7 || !base::EqualsIgnoreCase(h.substr(0, 7), "Bearer ")) return {};
  h.remove_prefix(7);
  while (!h.empty() && h.front() == ' ') h.remove_prefix(1);
  while (!h.empty() && h.back() == ' ') h.remove_suffix(1);
  return h;
}

}  // namespace edgevault::services
