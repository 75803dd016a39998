#pragma once
// Helpers every ControlStore backend shares, so that the backends check inputs and
// encode rows the same way (and answer with the same codes and messages): input checks,
// the API-key scopes' JSON encoding, the parsers of stored enum names, and the time
// encoding of the control DB (microseconds since the Unix epoch, docs/design/control-db.md).
// Backends only; not part of the ControlStore interface. Thread-safety: pure functions.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "src/storage/control_types.h"

namespace edgevault::storage::control_internal {

inline int64_t Micros(absl::Time t) { return absl::ToUnixMicros(t); }
inline absl::Time FromMicros(int64_t us) { return absl::FromUnixMicros(us); }
inline std::optional<int64_t> OptMicros(const std::optional<absl::Time>& t) {
  if (!t.has_value()) return std::nullopt;
  return Micros(*t);
}
inline std::optional<absl::Time> OptTime(std::optional<int64_t> us) {
  if (!us.has_value()) return std::nullopt;
  return FromMicros(*us);
}

// InvalidArgument "control store: empty <what>" when `value` is empty.
absl::Status RequireNonEmpty(std::string_view value, std::string_view what);
// InvalidArgument for a Role value outside the enum.
absl::Status RequireRole(Role role);
// FailedPrecondition: the store was opened without a TOTP sealer.
absl::Status NoTotpSealer();
// NotFound `<what> "<key>" not found`.
absl::Status NotFound(std::string_view what, std::string_view key);
// FailedPrecondition for MarkWorkspaceDeleted of a deleted workspace, and for
// RestoreWorkspace / PurgeWorkspace of one that is not deleted.
absl::Status WorkspaceDeletedAlready(std::string_view id);
absl::Status WorkspaceNotDeleted(std::string_view id);
// `ws` (a GetWorkspaceById answer for `id`) when it belongs to `org_id`, else NotFound:
// a deletion, restore or purge never reaches another org's workspace.
absl::StatusOr<Workspace> InOrg(absl::StatusOr<Workspace> ws, std::string_view org_id, std::string_view id);
// InvalidArgument unless 1 <= limit <= 1000 (ListWorkspacesDueForPurge).
absl::Status CheckPurgeLimit(int limit);

// The checks of a new row every backend makes before writing it (InvalidArgument: empty
// ids and keys, unknown roles, an invitation that is not pending).
absl::Status CheckNew(const Org& org);
absl::Status CheckNew(const User& user);
absl::Status CheckNew(const Membership& m);
absl::Status CheckNew(const Session& s);
absl::Status CheckNew(const ApiKey& key);
absl::Status CheckNew(const SdkKey& key);
absl::Status CheckNew(const Workspace& ws);
absl::Status CheckNew(const PasskeyCredential& c);
absl::Status CheckNew(const Challenge& c);
absl::Status CheckNew(const Invitation& inv);
absl::Status CheckNew(const OutboxEvent& e);
// InvalidArgument for an empty user id or code hash.
absl::Status CheckRecoveryCodes(std::string_view user_id,
                                const std::vector<std::string>& code_hashes);
// InvalidArgument unless accepted, declined or revoked.
absl::Status CheckInvitationResponse(InvitationStatus status);

// API-key scopes as stored: a JSON array of strings. InvalidArgument when a scope is not
// valid UTF-8; reading answers Internal for a corrupt column.
absl::StatusOr<std::string> ScopesToJson(const std::vector<std::string>& scopes);
absl::StatusOr<std::vector<std::string>> ScopesFromJson(const std::string& text);

// Stored names back to enums; Internal ("corrupt") for anything else.
absl::StatusOr<Role> ParseStoredRole(std::string_view name);
absl::StatusOr<SdkKeyKind> ParseStoredSdkKeyKind(std::string_view name);
absl::StatusOr<InvitationStatus> ParseStoredInvitationStatus(std::string_view name);

}  // namespace edgevault::storage::control_internal
