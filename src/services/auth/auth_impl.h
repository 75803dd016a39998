#pragma once
// Internal to src/services/auth: the AuthService implementation shared by the handler
// files (auth_service.cc: login, sessions, tokens; mfa_handlers.cc: TOTP and passkeys;
// admin_handlers.cc: API keys, members, internal endpoints).

#include <boost/asio/thread_pool.hpp>
#include <boost/json.hpp>
#include <functional>
#include <mutex>
#include <optional>

#include "src/crypto/jwt.h"
#include "src/crypto/jwt_keys.h"
#include "src/services/auth/auth_service.h"
#include "src/services/common/http_json.h"

namespace edgevault::auth {

// Who is calling, established from a session token or an API key.
struct Principal {
  enum class Kind { kSession, kApiKey };
  Kind kind = Kind::kSession;
  std::string user_id;  // API keys: the user who created the key ("" for bootstrap)
  std::string org_id;   // "" for a session of a user with no org yet (see Access)
  storage::Role role = storage::Role::kViewer;
  std::vector<std::string> scopes;
  std::string session_hash;  // sessions only
  std::string api_key_id;    // API keys only
  std::string auth_methods;  // sessions only
  bool must_change_password = false;

  bool HasScope(std::string_view scope) const;
  std::string ActorId() const { return kind == Kind::kApiKey ? "key:" + api_key_id : "user:" + user_id; }
};

class AuthService::Impl {
 public:
  Impl(AuthOptions options, ClientAddressResolver client_address);

  // ---- shared machinery (auth_service.cc) ----
  absl::Time Now() { return options_.env->Now(); }
  // "<prefix><43 base64url chars>" from 32 random bytes.
  std::string NewSecretToken(std::string_view prefix);
  std::string NewId(std::string_view prefix);  // sortable: time + randomness
  // Routes a handler through the blocking pool.
  net::AsyncHandler Blocking(std::function<absl::StatusOr<net::Response>(net::Request&)> fn);
  void Route(boost::beast::http::verb method, std::string_view pattern, net::Router& router,
             std::function<absl::StatusOr<net::Response>(net::Request&)> fn,
             net::RouteOptions route_options = {});

  // Which restricted sessions a route accepts besides ordinary callers:
  //  - a session still on a one-time password may only see who it is, change its
  //    password and log out (kPasswordChange routes); elsewhere 403
  //    password_change_required;
  //  - a session without an org (a user whose only way in is a pending invitation) may do
  //    that and answer its invitations (kInvitations routes); elsewhere 403 no_org.
  enum class Access { kFull, kInvitations, kPasswordChange };
  // Unauthenticated when the bearer token is missing, unknown, expired or revoked;
  // PermissionDenied as described for Access.
  absl::StatusOr<Principal> Authenticate(const net::Request& req, Access access = Access::kFull);
  // Authenticate + PermissionDenied unless role ≥ min_role (and, for API keys, the
  // "admin" scope when `needs_admin_scope`).
  absl::StatusOr<Principal> Require(const net::Request& req, storage::Role min_role,
                                    bool needs_admin_scope);
  absl::StatusOr<Principal> PrincipalForApiKey(std::string_view key);
  // The rights `actor` ("user:<id>" / "key:<id>") holds in `org_id` now, as the api must see
  // them (docs/design/principal-recheck.md): a member's role (nullopt when no longer a member
  // or disabled); a key's role capped by its creator's current role, and its scopes (nullopt
  // when revoked, expired, or its creator is no longer a member). InvalidArgument for an
  // actor of another form.
  struct Rights {
    storage::Role role = storage::Role::kViewer;
    std::vector<std::string> scopes;
  };
  absl::StatusOr<std::optional<Rights>> CurrentRights(std::string_view org_id, std::string_view actor);
  // "grant:<id>" (oauth_handlers.cc): the granting member's role and the grant's scopes
  // while the grant exists in `org_id` and its user is an active member; else nullopt.
  absl::StatusOr<std::optional<Rights>> GrantRights(std::string_view org_id, std::string_view grant_id);
  // Authenticate + PermissionDenied unless the caller is a login session (`what` names
  // the thing managed, for the message).
  absl::StatusOr<Principal> RequireSession(const net::Request& req, std::string_view what,
                                           Access access = Access::kFull);
  // The client address key the throttle counts (client_address.h).
  std::string ClientAddress(const net::Request& req) const;
  // Admits one credential check against `keys` and counts it (throttle.h), or answers
  // ResourceExhausted ("too_many_attempts", with Retry-After) while any key is at its
  // limit. Call throttle_.Succeeded(*attempt, ...) when the credential proves right.
  absl::Status BeginAttempt(std::initializer_list<ThrottleKey> keys, absl::Time now,
                            LoginThrottle::Attempt* attempt);
  // 20 random bytes as lower-case base32 (32 characters): one-time passwords.
  std::string NewOneTimePassword();
  // Ten recovery codes to show once, and the hashes to store.
  std::vector<std::string> NewRecoveryCodes(std::vector<std::string>* hashes);

  // Creates a session for a user after every factor passed; returns the response body.
  absl::StatusOr<boost::json::object> StartSession(storage::ControlStore& tx,
                                                   const storage::User& user,
                                                   const storage::Membership& m,
                                                   std::string_view methods,
                                                   const net::Request& req);
  // The org membership a login lands in: the named org, else the oldest membership. A
  // user with no membership at all whose account was created by an invitation (POST
  // /v1/users) accepts that invitation here: the first login is the acceptance. A user
  // with no membership but other pending invitations gets a membership with an empty
  // org_id (a session that can only answer them). InvalidCredentials otherwise.
  absl::StatusOr<storage::Membership> LoginMembership(const storage::User& user,
                                                      std::optional<std::string> org_name,
                                                      const net::Request& req);
  // An access token for `p`; `audience` "" = options_.audience, `extra` claims added.
  absl::StatusOr<std::string> MintJwt(const Principal& p, absl::Time* expires_at,
                                      std::string_view audience = "", boost::json::object extra = {});
  // oauth_handlers.cc: the access token of an OAuth grant, bound to options_.oauth.resource.
  absl::StatusOr<std::string> MintGrantJwt(const std::string& user_id, const std::string& org_id,
                                           storage::Role role, const std::vector<std::string>& scopes,
                                           const std::string& grant_id, absl::Time* expires_at);
  // The current signing keys, reloaded from disk at most every key_reload_interval.
  absl::StatusOr<std::shared_ptr<const crypto::SigningKeySet>> Keys();
  std::shared_ptr<const std::string> JwksBody();

  // The audit actor for an email that names no account: a keyed hash, so events about
  // the same address correlate without revealing it.
  std::string EmailActor(std::string_view email) const;
  // Audit outbox row describing an action (DESIGN.md §8); secrets never go in `details`.
  absl::Status Audit(storage::ControlStore& tx, std::string_view action,
                     std::string_view outcome, std::string_view actor,
                     const std::string& org_id, const net::Request& req,
                     boost::json::object details = {});
  // The audit row of a refused login step (outcome "denied"), written outside any
  // transaction. When it cannot be written the refusal is not lost silently: it is
  // logged (error level, with the action and reason) and the request answers
  // Unavailable ("audit_unavailable", 503, counted in /metrics by route and status)
  // instead of the refusal — audit fails closed. The attempt stays counted by the
  // throttle either way. OK when the row was written.
  absl::Status AuditDenial(std::string_view action, std::string_view actor,
                           const std::string& org_id, const net::Request& req,
                           boost::json::object details);

  // ---- handler groups ----
  void InstallLogin(net::Router& r);   // auth_service.cc
  void InstallMfa(net::Router& r);     // mfa_handlers.cc
  void InstallAdmin(net::Router& r);   // admin_handlers.cc
  void InstallInvitations(net::Router& r);  // invitation_handlers.cc
  void InstallOAuth(net::Router& r);  // oauth_handlers.cc (when options_.oauth.enabled)
  // A grant row as GET /v1/account/oauth-grants lists it (oauth_handlers.cc).
  boost::json::object GrantJson(const storage::Challenge& g) const;
  // The {id} of a grant route: ogr_…, else InvalidArgument.
  absl::StatusOr<std::string> GrantIdParam(const net::Request& req) const;
  // Revokes live grant `id` (NotFound when there is none) in one transaction with its audit
  // event, after `may_revoke` (reading through the transaction `tx`) accepted it (its error
  // is the answer); `via` names the route
  // ("account" or "org"). Returns the grant as GrantJson with "revoked": true.
  absl::StatusOr<boost::json::object> RevokeGrant(
      const net::Request& req, const Principal& p, const std::string& id,
      const std::function<absl::Status(storage::ControlStore& tx, const storage::Challenge&)>& may_revoke,
      std::string_view via);

  // mfa_handlers.cc: the second step of a login that needs one.
  struct MfaContext {
    std::string token_hash;
    std::string user_id;
    std::string org_id;
    absl::Time expires_at;
  };
  absl::StatusOr<MfaContext> TakeMfa(std::string_view mfa_token);
  absl::Status RestoreMfa(const MfaContext& m);
  absl::StatusOr<std::vector<std::string>> MfaMethods(const storage::User& user);

  // invitation_handlers.cc: makes `user` a member of the invitation's org with its role
  // and marks it accepted, in `tx`. NotFound when it is no longer pending (or expired),
  // AlreadyExists when the user is a member already.
  absl::Status AcceptInvitation(storage::ControlStore& tx, const storage::Invitation& inv,
                                const storage::User& user, const net::Request& req);
  // Accepts the pending invitation `user`'s account was created with, if there is one
  // (LoginMembership).
  absl::Status AcceptCreatingInvitation(const storage::User& user, const net::Request& req);

  absl::StatusOr<AuthService::BootstrapResult> Bootstrap(
      std::string_view email, const std::function<absl::Status(const BootstrapResult&)>& persist);

  AuthOptions options_;
  storage::ControlStore& store_;
  LoginThrottle throttle_;
  ClientAddressResolver client_address_;
  boost::asio::thread_pool pool_;

  std::mutex keys_mu_;
  std::shared_ptr<const crypto::SigningKeySet> keys_;
  std::shared_ptr<const std::string> jwks_;
  absl::Time keys_loaded_at_ = absl::InfinitePast();
  std::string revocations_;  // the revocation list's text when keys_ was loaded
};

// Lower-cased, trimmed; InvalidArgument unless it looks like an address.
absl::StatusOr<std::string> NormalizeEmail(std::string_view email);
// The unauthenticated answer for every credential failure (no enumeration).
absl::Status InvalidCredentials();
boost::json::array ScopesJson(const std::vector<std::string>& scopes);
// Who may grant `role` (directly or by invitation): owners any role; admins developer and
// viewer. PermissionDenied otherwise.
absl::Status CheckCanAssign(const Principal& p, storage::Role role);

}  // namespace edgevault::auth
