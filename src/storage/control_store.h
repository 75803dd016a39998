#pragma once
// The control DB: who is who (users, orgs, memberships with roles, invitations), how they
// prove it (sessions, API keys, SDK keys, TOTP state, recovery codes, passkeys, one-shot
// challenges), which workspaces an org has and what the org is entitled to
// (DESIGN.md §2, §7). The auth service owns it; the api reads workspace metadata and
// entitlements through it.
//
// Every backend (sqlite/ now, postgres/ later) passes control_store_conformance.h.
// Secrets are never stored: tokens and keys are kept as SHA-256 hex digests, passwords as
// Argon2id PHC strings. Times are absl::Time at microsecond precision or coarser.
//
// Thread-safety: all methods are safe to call concurrently; each call is atomic.
// WithTransaction runs a group of calls atomically (nested calls go to the same
// transaction through the ControlStore& it passes).
//
// Error codes (the same for every backend; driver errors never leak):
//   NotFound        the row does not exist (or is expired/used, where stated)
//   AlreadyExists   a unique key is taken (email, org name, key hash, workspace key,
//                   the one pending invitation of an email to an org)
//   InvalidArgument a value the store cannot hold (empty id, unknown role)
//   FailedPrecondition a row it refers to is missing (a membership of an unknown user),
//                   or its state forbids the change (revoking a revoked key)
//   Unavailable     the database is busy or unreachable; the caller may retry
//   Internal        anything else, with the driver's message
//
//   auto store = storage::OpenSqliteControlStore({.path = dir + "/control.db", .env = env});
//   EV_RETURN_IF_ERROR((*store)->CreateUser(user));

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
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

struct SdkKey {
  std::string id;
  std::string key_hash;  // unique
  std::string prefix;
  std::string org_id;
  std::string workspace_id;
  std::string environment;  // environment key
  std::string name;
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
};

struct TotpState {
  std::string user_id;
  std::string secret;     // raw secret bytes
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

class ControlStore {
 public:
  virtual ~ControlStore() = default;

  // Runs `fn` in one transaction: commits when it returns OK, rolls back otherwise and
  // returns its status. Calls on `tx` are part of the transaction; calls on `this` from
  // inside `fn` are not allowed.
  virtual absl::Status WithTransaction(std::function<absl::Status(ControlStore& tx)> fn) = 0;

  // Orgs.
  virtual absl::Status CreateOrg(const Org& org) = 0;
  virtual absl::StatusOr<Org> GetOrg(std::string_view id) = 0;
  virtual absl::StatusOr<Org> GetOrgByName(std::string_view name) = 0;
  virtual absl::Status SetEntitlements(std::string_view org_id, const Entitlements& e) = 0;
  virtual absl::StatusOr<int64_t> CountUsers() = 0;  // across all orgs

  // Users.
  virtual absl::Status CreateUser(const User& user) = 0;
  virtual absl::StatusOr<User> GetUser(std::string_view id) = 0;
  virtual absl::StatusOr<User> GetUserByEmail(std::string_view email) = 0;
  // Replaces password_hash and must_change_password.
  virtual absl::Status UpdatePassword(std::string_view user_id, std::string_view hash,
                                      bool must_change_password) = 0;
  virtual absl::Status SetUserDisabled(std::string_view user_id, bool disabled) = 0;

  // Memberships.
  virtual absl::Status AddMembership(const Membership& m) = 0;
  virtual absl::StatusOr<Membership> GetMembership(std::string_view org_id,
                                                   std::string_view user_id) = 0;
  virtual absl::StatusOr<std::vector<Membership>> ListMembers(std::string_view org_id) = 0;
  virtual absl::StatusOr<std::vector<Membership>> ListMembershipsOfUser(
      std::string_view user_id) = 0;
  virtual absl::Status UpdateRole(std::string_view org_id, std::string_view user_id,
                                  Role role) = 0;
  virtual absl::Status RemoveMembership(std::string_view org_id, std::string_view user_id) = 0;
  virtual absl::StatusOr<int64_t> CountMembersWithRole(std::string_view org_id, Role role) = 0;

  // Sessions.
  virtual absl::Status CreateSession(const Session& s) = 0;
  virtual absl::StatusOr<Session> GetSession(std::string_view token_hash) = 0;
  virtual absl::Status TouchSession(std::string_view token_hash, absl::Time last_seen_at,
                                    absl::Time idle_expires_at) = 0;
  virtual absl::Status DeleteSession(std::string_view token_hash) = 0;  // NotFound if absent
  // Returns how many were deleted; `except_token_hash` (may be empty) survives.
  virtual absl::StatusOr<int64_t> DeleteSessionsOfUser(std::string_view user_id,
                                                       std::string_view except_token_hash) = 0;
  // The same, limited to the sessions opened for `org_id`: what an org's admin may end.
  virtual absl::StatusOr<int64_t> DeleteSessionsOfUserInOrg(std::string_view user_id,
                                                            std::string_view org_id,
                                                            std::string_view except_token_hash) = 0;
  virtual absl::StatusOr<int64_t> DeleteExpiredSessions(absl::Time now) = 0;

  // API keys.
  virtual absl::Status CreateApiKey(const ApiKey& key) = 0;
  virtual absl::StatusOr<ApiKey> GetApiKeyByHash(std::string_view key_hash) = 0;
  virtual absl::StatusOr<ApiKey> GetApiKey(std::string_view org_id, std::string_view id) = 0;
  virtual absl::StatusOr<std::vector<ApiKey>> ListApiKeys(std::string_view org_id) = 0;
  // NotFound when absent; FailedPrecondition when already revoked.
  virtual absl::Status RevokeApiKey(std::string_view org_id, std::string_view id,
                                    absl::Time at) = 0;
  virtual absl::Status TouchApiKey(std::string_view id, absl::Time at) = 0;

  // SDK keys.
  virtual absl::Status CreateSdkKey(const SdkKey& key) = 0;
  virtual absl::StatusOr<SdkKey> GetSdkKeyByHash(std::string_view key_hash) = 0;
  virtual absl::StatusOr<std::vector<SdkKey>> ListSdkKeys(std::string_view org_id,
                                                         std::string_view workspace_id) = 0;
  virtual absl::Status RevokeSdkKey(std::string_view org_id, std::string_view id,
                                    absl::Time at) = 0;

  // Workspaces.
  virtual absl::Status CreateWorkspace(const Workspace& ws) = 0;
  virtual absl::StatusOr<Workspace> GetWorkspaceByKey(std::string_view org_id,
                                                      std::string_view key) = 0;
  virtual absl::StatusOr<Workspace> GetWorkspaceById(std::string_view id) = 0;
  virtual absl::StatusOr<std::vector<Workspace>> ListWorkspaces(std::string_view org_id) = 0;
  virtual absl::Status DeleteWorkspace(std::string_view org_id, std::string_view id) = 0;

  // TOTP. PutTotp replaces any previous state of the user.
  virtual absl::Status PutTotp(const TotpState& state) = 0;
  virtual absl::StatusOr<TotpState> GetTotp(std::string_view user_id) = 0;
  virtual absl::Status ConfirmTotp(std::string_view user_id) = 0;
  // Atomically records `step` as used when it is greater than last_step; returns false
  // (and changes nothing) when it is not, which is how a replayed code is refused.
  virtual absl::StatusOr<bool> AdvanceTotpStep(std::string_view user_id, int64_t step) = 0;
  virtual absl::Status DeleteTotp(std::string_view user_id) = 0;  // also deletes recovery codes

  // Recovery codes, stored as SHA-256 hex.
  virtual absl::Status ReplaceRecoveryCodes(std::string_view user_id,
                                            const std::vector<std::string>& code_hashes) = 0;
  // Marks the code used; false when unknown or already used.
  virtual absl::StatusOr<bool> ConsumeRecoveryCode(std::string_view user_id,
                                                   std::string_view code_hash) = 0;
  virtual absl::StatusOr<int64_t> CountUnusedRecoveryCodes(std::string_view user_id) = 0;

  // Passkeys.
  virtual absl::Status AddPasskey(const PasskeyCredential& c) = 0;
  virtual absl::StatusOr<PasskeyCredential> GetPasskey(std::string_view credential_id) = 0;
  virtual absl::StatusOr<std::vector<PasskeyCredential>> ListPasskeys(
      std::string_view user_id) = 0;
  virtual absl::Status UpdatePasskeyUse(std::string_view credential_id, uint32_t sign_count,
                                        absl::Time at) = 0;
  virtual absl::Status DeletePasskey(std::string_view user_id,
                                     std::string_view credential_id) = 0;

  // Challenges: Take returns and deletes in one step, so each is usable once. NotFound
  // when absent, already taken, of another kind, or expired at `now`.
  virtual absl::Status PutChallenge(const Challenge& c) = 0;
  virtual absl::StatusOr<Challenge> TakeChallenge(std::string_view id, std::string_view kind,
                                                  absl::Time now) = 0;

  // Invitations. Create: AlreadyExists when the org has a pending invitation for the email
  // that has not expired at inv.created_at (an expired one is marked expired first);
  // FailedPrecondition for an unknown org; InvalidArgument for a status other than
  // kPending or an unknown role.
  virtual absl::Status CreateInvitation(const Invitation& inv) = 0;
  // As stored: a pending invitation may have expired (compare expires_at).
  virtual absl::StatusOr<Invitation> GetInvitation(std::string_view id) = 0;
  // Pending invitations not expired at `now`, oldest first.
  virtual absl::StatusOr<std::vector<Invitation>> ListPendingInvitationsForEmail(
      std::string_view email, absl::Time now) = 0;
  virtual absl::StatusOr<std::vector<Invitation>> ListPendingInvitationsOfOrg(
      std::string_view org_id, absl::Time now) = 0;
  // Moves a pending invitation not expired at `at` to `status` (kAccepted, kDeclined or
  // kRevoked) in one atomic step, so of two concurrent responses one wins. NotFound when
  // it is absent, no longer pending or expired; InvalidArgument for another status.
  virtual absl::Status RespondToInvitation(std::string_view id, InvitationStatus status,
                                           absl::Time at) = 0;

  // Audit outbox.
  virtual absl::Status AppendOutbox(const OutboxEvent& e) = 0;
  // Oldest first, at most `limit`.
  virtual absl::StatusOr<std::vector<OutboxEvent>> PeekOutbox(int limit) = 0;
  virtual absl::Status DeleteOutbox(const std::vector<std::string>& ids) = 0;
};

}  // namespace edgevault::storage
