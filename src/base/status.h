#pragma once
// Error currency of EdgeVault: absl::Status / absl::StatusOr<T> plus the
// return-if-error macros used everywhere. Header-only; thread-safe.
//
//   absl::StatusOr<int> ParsePort(std::string_view s);
//   absl::Status Start() {
//     EV_ASSIGN_OR_RETURN(int port, ParsePort(text));
//     EV_RETURN_IF_ERROR(Listen(port));
//     return absl::OkStatus();
//   }

#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/cord.h"

#define EV_INTERNAL_CONCAT_(a, b) a##b
#define EV_INTERNAL_CONCAT(a, b) EV_INTERNAL_CONCAT_(a, b)

// Returns the status of `expr` from the enclosing function when it is not OK.
#define EV_RETURN_IF_ERROR(expr)                      \
  do {                                                \
    ::absl::Status ev_status_ = (expr);               \
    if (!ev_status_.ok()) return ev_status_;          \
  } while (0)

// Evaluates `rexpr` (a StatusOr); returns its status when not OK, otherwise
// moves the value into `lhs` (which may be a declaration).
#define EV_ASSIGN_OR_RETURN(lhs, rexpr) \
  EV_INTERNAL_ASSIGN_OR_RETURN(EV_INTERNAL_CONCAT(ev_statusor_, __LINE__), lhs, rexpr)

#define EV_INTERNAL_ASSIGN_OR_RETURN(tmp, lhs, rexpr) \
  auto tmp = (rexpr);                                 \
  if (!tmp.ok()) return std::move(tmp).status();      \
  lhs = std::move(tmp).value()

namespace edgevault::base {

// A machine-readable error code carried with a status (the "code" of the api's JSON error
// body, e.g. "change_request_conflict"); the HTTP edge reads it, any layer may set it.
inline constexpr char kErrorCodePayload[] = "edgevault.dev/error-code";

inline absl::Status WithErrorCode(absl::Status status, std::string_view code) {
  status.SetPayload(kErrorCodePayload, absl::Cord(std::string(code)));
  return status;
}

// The code set by WithErrorCode, or "" when none is.
inline std::string ErrorCode(const absl::Status& status) {
  auto code = status.GetPayload(kErrorCodePayload);  // absl::optional<absl::Cord>
  return code ? std::string(*code) : std::string();
}

}  // namespace edgevault::base
