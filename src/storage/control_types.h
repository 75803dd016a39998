#pragma once
// The rows of the control DB (DESIGN.md §2, §7), shared by its narrow interfaces
// (identity_store.h, credential_store.h, mfa_store.h, workspace_directory.h,
// control_outbox_store.h) and by every backend. Plain values; Role and invitation-status
// names are the spellings stored and sent on the wire.
//
// Thread-safety: plain values; the functions are pure.
//
//   EV_ASSIGN_OR_RETURN(storage::Role role, storage::ParseRole("admin"));

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace edgevault::storage {

// Ordered: a role can do everything the roles below it can.
enum class Role { kViewer = 0, kDeveloper = 1, kAdmin = 2, kOwner = 3 };
std::string_view RoleName(Role role);                     // "viewer", ...
absl::StatusOr<Role> ParseRole(std::string_view name);   // InvalidArgument when unknown

struct Entitlements {
  int64_t max_workspaces = 10;
  int64_t max_environments = 20;  // per workspace
  int64_t max_items = 5000;       // per workspace
};

struct Org {
  std::string id;    // opaque, unique
  std::string name;  // unique, e.g. "default"
  Entitlements entitlements;
  absl::Time created_at;
};

struct User {
  std::string id;     // opaque, unique
  std::string email;  // unique, stored lower-cased by the caller
  std::string display_name;
  std::string password_hash;  // Argon2id PHC string; empty = no password (passkey only)
  bool disabled = false;
  bool must_change_password = false;  // set for the bootstrap owner's one-time password
  absl::Time created_at;
};

struct Membership {
  std::string org_id;
  std::string user_id;
  Role role = Role::kViewer;
  absl::Time created_at;
};

// The state of an invitation: pending until the invitee accepts or declines it, an admin
// revokes it, or it expires (a pending row past expires_at counts as expired; the store
// marks it so when a new invitation for the same org and email is created).
enum class InvitationStatus { kPending, kAccepted, kDeclined, kRevoked, kExpired };
std::string_view InvitationStatusName(InvitationStatus status);  // "pending", ...

// An invitation of an email address to an org, with the role it grants on acceptance
// (docs/auth.md "Members"). Adding an email to an org always makes one, so the answer is
// the same whether or not the address already has an account.
struct Invitation {
  std::string id;      // opaque, unique
  std::string org_id;
  std::string email;   // lower-cased by the caller
  Role role = Role::kViewer;
  std::string invited_by;  // actor id ("user:<id>", "key:<id>")
  // The account for `email` was created together with this invitation; that account's
  // first login accepts it.
  bool creates_account = false;
  InvitationStatus status = InvitationStatus::kPending;
  absl::Time created_at;
  absl::Time expires_at;
  std::optional<absl::Time> responded_at;
};

struct Session {
  std::string token_hash;  // SHA-256 hex of the opaque token; the primary key
  std::string user_id;
  std::string org_id;  // the org the session was opened for; it acts only there
  absl::Time created_at;
  absl::Time last_seen_at;
  absl::Time idle_expires_at;      // moves forward on use
  absl::Time absolute_expires_at;  // never moves
  std::string client_address;
  std::string user_agent;
  std::string auth_methods;  // e.g. "pwd", "pwd+totp", "passkey"
};

struct ApiKey {
  std::string id;          // opaque, shown in listings
  std::string key_hash;    // SHA-256 hex of the full key; unique
  std::string prefix;      // first characters of the key, for recognition ("evk_ab12")
  std::string org_id;
  std::string created_by;  // user id, or "bootstrap"
  std::string name;
  std::vector<std::string> scopes;
  Role role = Role::kViewer;  // the role the key acts with (never above its creator's)
  absl::Time created_at;
  std::optional<absl::Time> expires_at;
  std::optional<absl::Time> last_used_at;
  std::optional<absl::Time> revoked_at;
};

// A server SDK key sees the whole environment; a client key (safe in a web page) sees only
// the items marked client_visible and may be used from its listed browser origins
// (docs/delivery.md, "Client keys").
enum class SdkKeyKind { kServer, kClient };
std::string_view SdkKeyKindName(SdkKeyKind kind);  // "server" / "client"

struct SdkKey {
  std::string id;
  std::string key_hash;  // unique
  std::string prefix;
  std::string org_id;
  std::string workspace_id;
  std::string environment;  // environment key
  std::string name;
  SdkKeyKind kind = SdkKeyKind::kServer;
  // Client keys: the browser origins allowed to call delivery with it, normalised
  // ("scheme://host[:port]", lower case, no default port); always empty for server keys.
  std::vector<std::string> origins;
  std::string created_by;
  absl::Time created_at;
  std::optional<absl::Time> last_used_at;
  std::optional<absl::Time> revoked_at;
};

struct Workspace {
  std::string id;
  std::string org_id;
  std::string key;  // unique within the org
  std::string name;
  absl::Time created_at;
  // Deleted (docs/api.md "Deleting a workspace"): set together, cleared together by
  // a restore. While set, the workspace service refuses every read and write of it; after
  // purge_after the purge task destroys its data and then this row. Its key stays taken.
  std::optional<absl::Time> deleted_at;
  std::optional<absl::Time> purge_after;
  bool deleted() const { return deleted_at.has_value(); }
};

struct TotpState {
  std::string user_id;
  // Raw secret bytes, as the caller sees them; at rest a backend keeps only the sealed
  // form (SecretSealer, docs/design/sealed-totp.md).
  std::string secret;
  bool confirmed = false;  // enrolment finished with a first valid code
  int64_t last_step = -1;  // highest accepted time step (replay protection)
  absl::Time created_at;
};

struct PasskeyCredential {
  std::string credential_id;  // raw bytes; unique
  std::string user_id;
  std::string public_key_cose;  // COSE_Key as received
  int32_t algorithm = 0;        // COSE alg (-7 ES256, -8 EdDSA, -257 RS256)
  uint32_t sign_count = 0;
  std::string name;
  std::string aaguid;  // 16 raw bytes
  bool user_verified_at_registration = false;
  absl::Time created_at;
  std::optional<absl::Time> last_used_at;
};

// A one-shot server-side secret: WebAuthn challenges and MFA continuation tokens.
struct Challenge {
  std::string id;       // lookup key (for MFA tokens: SHA-256 hex of the token)
  std::string kind;     // "passkey-register", "passkey-login", "mfa", ...
  std::string user_id;  // may be empty (passwordless login starts without a user)
  std::string payload;  // opaque to the store (e.g. the raw challenge, JSON)
  absl::Time expires_at;
};

// Rows the auth service writes in the same transaction as the change they describe; a
// relay moves them to the audit queue (DESIGN.md §8).
struct OutboxEvent {
  std::string id;  // unique, sortable
  std::string json;
  absl::Time created_at;
};

}  // namespace edgevault::storage
