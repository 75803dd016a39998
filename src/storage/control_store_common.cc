#include "src/storage/control_store_common.h"

#include <boost/json.hpp>

#include "src/base/status.h"
#include "src/base/strings.h"

namespace edgevault::storage::control_internal {

using base::StrCat;

absl::Status RequireNonEmpty(std::string_view value, std::string_view what) {
  if (value.empty()) return absl::InvalidArgumentError(StrCat("control store: empty ", what));
  return absl::OkStatus();
}

absl::Status RequireRole(Role role) {
  if (RoleName(role) == "unknown") {
    return absl::InvalidArgumentError(
        StrCat("control store: unknown role value ", static_cast<int>(role)));
  }
  return absl::OkStatus();
}

absl::Status NoTotpSealer() {
  return absl::FailedPreconditionError(
      "control store: opened without a TOTP sealer, so TOTP secrets can be neither written "
      "nor read (only edgevault-auth holds the seal key)");
}

absl::Status NotFound(std::string_view what, std::string_view key) {
  return absl::NotFoundError(StrCat(what, " \"", key, "\" not found"));
}

absl::Status WorkspaceDeletedAlready(std::string_view id) {
  return absl::FailedPreconditionError(StrCat("workspace \"", id, "\" is deleted already"));
}

absl::Status WorkspaceNotDeleted(std::string_view id) {
  return absl::FailedPreconditionError(StrCat("workspace \"", id, "\" is not deleted"));
}

absl::StatusOr<Workspace> InOrg(absl::StatusOr<Workspace> ws, std::string_view org_id, std::string_view id) {
  if (ws.ok() && ws->org_id != org_id) return NotFound("workspace", id);
  return ws;
}

absl::Status CheckPurgeLimit(int limit) {
  if (limit < 1 || limit > 1000) return absl::InvalidArgumentError("control store: purge limit must be 1..1000");
  return absl::OkStatus();
}

absl::Status CheckNew(const Org& org) {
  EV_RETURN_IF_ERROR(RequireNonEmpty(org.id, "org id"));
  EV_RETURN_IF_ERROR(RequireNonEmpty(org.name, "org name"));
  return absl::OkStatus();
}

absl::Status CheckNew(const User& user) {
  EV_RETURN_IF_ERROR(RequireNonEmpty(user.id, "user id"));
  EV_RETURN_IF_ERROR(RequireNonEmpty(user.email, "user email"));
  return absl::OkStatus();
}

absl::Status CheckNew(const Membership& m) {
  EV_RETURN_IF_ERROR(RequireNonEmpty(m.org_id, "membership org id"));
  EV_RETURN_IF_ERROR(RequireNonEmpty(m.user_id, "membership user id"));
  EV_RETURN_IF_ERROR(RequireRole(m.role));
  return absl::OkStatus();
}

absl::Status CheckNew(const Session& s) {
  EV_RETURN_IF_ERROR(RequireNonEmpty(s.token_hash, "session token hash"));
  EV_RETURN_IF_ERROR(RequireNonEmpty(s.user_id, "session user id"));
  return absl::OkStatus();
}

absl::Status CheckNew(const ApiKey& key) {
  EV_RETURN_IF_ERROR(RequireNonEmpty(key.id, "API key id"));
  EV_RETURN_IF_ERROR(RequireNonEmpty(key.key_hash, "API key hash"));
  EV_RETURN_IF_ERROR(RequireNonEmpty(key.org_id, "API key org id"));
  EV_RETURN_IF_ERROR(RequireRole(key.role));
  return absl::OkStatus();
}

absl::Status CheckNew(const SdkKey& key) {
  EV_RETURN_IF_ERROR(RequireNonEmpty(key.id, "SDK key id"));
  EV_RETURN_IF_ERROR(RequireNonEmpty(key.key_hash, "SDK key hash"));
  EV_RETURN_IF_ERROR(RequireNonEmpty(key.org_id, "SDK key org id"));
  EV_RETURN_IF_ERROR(RequireNonEmpty(key.workspace_id, "SDK key workspace id"));
  if (key.kind == SdkKeyKind::kServer && !key.origins.empty()) {
    return absl::InvalidArgumentError("a server SDK key has no browser origins");
  }
  return absl::OkStatus();
}

absl::Status CheckNew(const Workspace& ws) {
  EV_RETURN_IF_ERROR(RequireNonEmpty(ws.id, "workspace id"));
  EV_RETURN_IF_ERROR(RequireNonEmpty(ws.org_id, "workspace org id"));
  EV_RETURN_IF_ERROR(RequireNonEmpty(ws.key, "workspace key"));
  return absl::OkStatus();
}

absl::Status CheckNew(const PasskeyCredential& c) {
  EV_RETURN_IF_ERROR(RequireNonEmpty(c.credential_id, "passkey credential id"));
  EV_RETURN_IF_ERROR(RequireNonEmpty(c.user_id, "passkey user id"));
  return absl::OkStatus();
}

absl::Status CheckNew(const Challenge& c) {
  EV_RETURN_IF_ERROR(RequireNonEmpty(c.id, "challenge id"));
  EV_RETURN_IF_ERROR(RequireNonEmpty(c.kind, "challenge kind"));
  return absl::OkStatus();
}

absl::Status CheckNew(const Invitation& inv) {
  EV_RETURN_IF_ERROR(RequireNonEmpty(inv.id, "invitation id"));
  EV_RETURN_IF_ERROR(RequireNonEmpty(inv.org_id, "invitation org id"));
  EV_RETURN_IF_ERROR(RequireNonEmpty(inv.email, "invitation email"));
  EV_RETURN_IF_ERROR(RequireRole(inv.role));
  if (inv.status != InvitationStatus::kPending) {
    return absl::InvalidArgumentError("control store: a new invitation must be pending");
  }
  return absl::OkStatus();
}

absl::Status CheckNew(const OutboxEvent& e) {
  EV_RETURN_IF_ERROR(RequireNonEmpty(e.id, "outbox event id"));
  return absl::OkStatus();
}

absl::Status CheckRecoveryCodes(std::string_view user_id,
                                const std::vector<std::string>& code_hashes) {
  EV_RETURN_IF_ERROR(RequireNonEmpty(user_id, "recovery code user id"));
  for (const std::string& h : code_hashes) {
    EV_RETURN_IF_ERROR(RequireNonEmpty(h, "recovery code hash"));
  }
  return absl::OkStatus();
}

absl::Status CheckInvitationResponse(InvitationStatus status) {
  if (status != InvitationStatus::kAccepted && status != InvitationStatus::kDeclined &&
      status != InvitationStatus::kRevoked) {
    return absl::InvalidArgumentError(
        "control store: an invitation can only be accepted, declined or revoked");
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> ScopesToJson(const std::vector<std::string>& scopes) {
  boost::json::array array;
  for (const std::string& s : scopes)
    array.emplace_back(boost::json::string_view(s.data(), s.size()));
  std::string text = boost::json::serialize(array);
  boost::system::error_code ec;
  [[maybe_unused]] boost::json::value back = boost::json::parse(text, ec);
  if (ec) return absl::InvalidArgumentError("control store: API key scopes must be valid UTF-8");
  return text;
}

absl::StatusOr<std::vector<std::string>> ScopesFromJson(const std::string& text) {
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(text, ec);
  if (ec || !v.is_array()) {
    return absl::InternalError(StrCat("control store: corrupt scopes_json: ", text));
  }
  std::vector<std::string> out;
  for (const boost::json::value& e : v.get_array()) {
    if (!e.is_string()) {
      return absl::InternalError(StrCat("control store: corrupt scopes_json: ", text));
    }
    out.emplace_back(e.get_string().data(), e.get_string().size());
  }
  return out;
}

absl::StatusOr<Role> ParseStoredRole(std::string_view name) {
  absl::StatusOr<Role> role = ParseRole(name);
  if (!role.ok()) return absl::InternalError(StrCat("control store: corrupt role \"", name, "\""));
  return role;
}

absl::StatusOr<SdkKeyKind> ParseStoredSdkKeyKind(std::string_view name) {
  if (name == "server") return SdkKeyKind::kServer;
  if (name == "client") return SdkKeyKind::kClient;
  return absl::InternalError(StrCat("control store: corrupt SDK key kind \"", name, "\""));
}

absl::StatusOr<InvitationStatus> ParseStoredInvitationStatus(std::string_view name) {
  for (InvitationStatus s : {InvitationStatus::kPending, InvitationStatus::kAccepted,
                             InvitationStatus::kDeclined, InvitationStatus::kRevoked,
                             InvitationStatus::kExpired}) {
    if (name == InvitationStatusName(s)) return s;
  }
  return absl::InternalError(StrCat("control store: corrupt invitation status \"", name, "\""));
}

}  // namespace edgevault::storage::control_internal
