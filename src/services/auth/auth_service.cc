#include "src/services/auth/auth_service.h"

#include <boost/asio/post.hpp>
#include <algorithm>

#include "src/audit/event.h"
#include "src/base/encoding.h"
#include "src/base/log.h"
#include "src/base/strings.h"
#include "src/crypto/hash.h"
#include "src/services/auth/auth_impl.h"

namespace edgevault::auth {

namespace http = boost::beast::http;
namespace json = boost::json;
using storage::Role;

// How many hex digits of a session token's SHA-256 name it in GET /v1/sessions.
constexpr size_t kSessionIdLength = 16;

bool Principal::HasScope(std::string_view scope) const {
  for (const auto& s : scopes) {
    if (s == scope) return true;
  }
  return false;
}

absl::StatusOr<std::string> NormalizeEmail(std::string_view email) {
  while (!email.empty() && email.front() == ' ') email.remove_prefix(1);
  while (!email.empty() && email.back() == ' ') email.remove_suffix(1);
  std::string out;
  for (char c : email) out.push_back(c >= 'A' && c <= 'Z' ? char(c - 'A' + 'a') : c);
  size_t at = out.find('@');
  if (out.size() > 320 || at == std::string::npos || at == 0 || at + 1 == out.size() ||
      out.find('@', at + 1) != std::string::npos ||
      out.find_first_of(" \t\r\n<>\"") != std::string::npos) {
    return services::WithErrorCode(absl::InvalidArgumentError(
                             "field 'email': must be an email address such as ada@example.com"),
                         "invalid_argument");
  }
  return out;
}

absl::Status InvalidCredentials() {
  return services::WithErrorCode(
      absl::UnauthenticatedError("the email or password is wrong"), "invalid_credentials");
}

json::array ScopesJson(const std::vector<std::string>& scopes) {
  json::array a;
  for (const auto& s : scopes) a.emplace_back(s);
  return a;
}

AuthService::Impl::Impl(AuthOptions options, ClientAddressResolver client_address)
    : options_(std::move(options)),
      store_(*options_.store),
      throttle_(options_.throttle),
      client_address_(std::move(client_address)),
      pool_(static_cast<size_t>(std::max(1, options_.blocking_threads))) {}

std::string AuthService::Impl::NewSecretToken(std::string_view prefix) {
  std::string raw(32, '\0');
  options_.env->RandomBytes(raw.data(), raw.size());
  return std::string(prefix) + base::Base64UrlEncode(raw);
}

std::string AuthService::Impl::NewId(std::string_view prefix) {
  // Microseconds since the epoch in hex (13 digits today; the width only grows, so ids
  // sort by creation time) + 64 random bits.
  char buf[32];
  std::snprintf(buf, sizeof buf, "%012llx",
                static_cast<unsigned long long>(absl::ToUnixMicros(Now())));
  return std::string(prefix) + buf + options_.env->RandomHex(8);
}

net::AsyncHandler AuthService::Impl::Blocking(
    std::function<absl::StatusOr<net::Response>(net::Request&)> fn) {
  return [this, fn = std::move(fn)](net::Request& req, net::Responder respond) {
    // The request stays alive until `respond` runs (src/net/router.h).
    boost::asio::post(pool_, net::CatchingTask([&req, fn, respond = std::move(respond)]() {
      absl::StatusOr<net::Response> r = fn(req);
      respond(r.ok() ? *std::move(r) : services::ErrorResponse(r.status()));
    }));
  };
}

void AuthService::Impl::Route(http::verb method, std::string_view pattern, net::Router& router,
                              std::function<absl::StatusOr<net::Response>(net::Request&)> fn,
                              net::RouteOptions route_options) {
  router.AddAsync(method, pattern, Blocking(std::move(fn)), route_options);
}

std::string AuthService::Impl::EmailActor(std::string_view email) const {
  // docs/design/audit-event.md: lower-hex(HMAC-SHA256(correlation_key, input)[0:16]).
  return "email-hash:" + base::HexEncode(crypto::HmacSha256(options_.correlation_key, email).substr(0, 16));
}

absl::Status AuthService::Impl::Audit(storage::ControlStore& tx, std::string_view action,
                                      std::string_view outcome, std::string_view actor,
                                      const std::string& org_id, const net::Request& req,
                                      json::object details) {
  storage::OutboxEvent e;
  e.id = audit::NewEventId(options_.env);
  e.created_at = Now();
  json::object o;
  o["v"] = 1;
  o["id"] = e.id;
  o["time"] = audit::FormatEventTime(e.created_at);
  o["service"] = "auth";
  o["action"] = action;
  o["outcome"] = outcome;
  json::object a;
  a["id"] = actor;
  a["address"] = req.remote_address();
  a["user_agent"] = req.Header("User-Agent").substr(0, 256);
  o["actor"] = std::move(a);
  o["org"] = org_id;
  o["request_id"] = req.request_id();
  o["details"] = std::move(details);
  e.json = json::serialize(o);
  return tx.AppendOutbox(e);
}

absl::Status AuthService::Impl::AuditDenial(std::string_view action, std::string_view actor,
                                            const std::string& org_id, const net::Request& req,
                                            json::object details) {
  std::string reason;
  if (const json::value* r = details.if_contains("reason"); r != nullptr && r->is_string()) {
    reason = std::string(r->get_string());
  }
  absl::Status st = Audit(store_, action, "denied", actor, org_id, req, std::move(details));
  if (st.ok()) return st;
  EV_LOG(kError, "the audit event of a refused login could not be written; answering 503",
         {{"action", action}, {"reason", reason}, {"request_id", req.request_id()},
          {"error", st.ToString()}});
  return services::WithErrorCode(
      absl::UnavailableError("the request was refused and recording that failed; try again later"),
      "audit_unavailable");
}

// ---------------------------------------------------------------- authentication

absl::StatusOr<Principal> AuthService::Impl::PrincipalForApiKey(std::string_view key) {
  absl::StatusOr<storage::ApiKey> k = store_.GetApiKeyByHash(crypto::Sha256Hex(key));
  if (absl::IsNotFound(k.status())) {
    return absl::UnauthenticatedError("the API key is not valid");
  }
  EV_RETURN_IF_ERROR(k.status());
  absl::Time now = Now();
  if (k->revoked_at) return absl::UnauthenticatedError("the API key has been revoked");
  if (k->expires_at && *k->expires_at <= now) {
    return absl::UnauthenticatedError("the API key has expired");
  }
  Principal p;
  p.kind = Principal::Kind::kApiKey;
  p.user_id = k->created_by;
  p.org_id = k->org_id;
  p.role = k->role;
  p.scopes = k->scopes;
  p.api_key_id = k->id;
  // A key never acts above its creator's current role; a removed or disabled creator's keys stop.
  EV_ASSIGN_OR_RETURN(std::optional<Rights> rights, CurrentRights(k->org_id, "key:" + k->id));
  if (!rights) return absl::UnauthenticatedError("the API key's owner is no longer an active member");
  p.role = rights->role;
  // last_used_at at one-minute resolution keeps reads from turning into writes.
  if (!k->last_used_at || now - *k->last_used_at > absl::Minutes(1)) {
    EV_RETURN_IF_ERROR(store_.TouchApiKey(k->id, now));
  }
  return p;
}

absl::StatusOr<std::optional<AuthService::Impl::Rights>> AuthService::Impl::CurrentRights(
    std::string_view org_id, std::string_view actor) {
  // A member's role in the org, or nullopt when the user is not one or is disabled.
  auto member_role = [&](std::string_view user_id) -> absl::StatusOr<std::optional<Role>> {
    absl::StatusOr<storage::Membership> m = store_.GetMembership(org_id, user_id);
    if (absl::IsNotFound(m.status())) return std::nullopt;
    EV_RETURN_IF_ERROR(m.status());
    absl::StatusOr<storage::User> u = store_.GetUser(user_id);
    if (absl::IsNotFound(u.status())) return std::nullopt;
    EV_RETURN_IF_ERROR(u.status());
    if (u->disabled) return std::nullopt;
    return m->role;
  };
  if (actor.rfind("user:", 0) == 0) {
    EV_ASSIGN_OR_RETURN(std::optional<Role> role, member_role(actor.substr(5)));
    if (!role) return std::nullopt;
    return Rights{.role = *role, .scopes = {}};
  }
  if (actor.rfind("key:", 0) == 0) {
    absl::StatusOr<storage::ApiKey> k = store_.GetApiKey(org_id, actor.substr(4));
    if (absl::IsNotFound(k.status())) return std::nullopt;
    EV_RETURN_IF_ERROR(k.status());
    if (k->revoked_at || (k->expires_at && *k->expires_at <= Now())) return std::nullopt;
    Rights rights{.role = k->role, .scopes = k->scopes};
    // As PrincipalForApiKey: never above the creator's current role; a removed creator's keys stop.
    if (!k->created_by.empty() && k->created_by != "bootstrap") {
      EV_ASSIGN_OR_RETURN(std::optional<Role> creator, member_role(k->created_by));
      if (!creator) return std::nullopt;
      rights.role = std::min(rights.role, *creator);
    }
    return rights;
  }
  if (actor.rfind("grant:", 0) == 0) return GrantRights(org_id, actor.substr(6));
  return absl::InvalidArgumentError("actor: must be \"user:<id>\", \"key:<id>\" or \"grant:<id>\"");
}

absl::StatusOr<Principal> AuthService::Impl::Authenticate(const net::Request& req,
                                                          Access access) {
  std::string_view token = services::BearerToken(req);
  if (token.empty()) {
    return absl::UnauthenticatedError(
        "send a session token or API key as 'Authorization: Bearer <token>'");
  }
  if (token.substr(0, kApiKeyPrefix.size()) == kApiKeyPrefix) return PrincipalForApiKey(token);
  if (token.substr(0, kSessionPrefix.size()) != kSessionPrefix) {
    return absl::UnauthenticatedError("the bearer token is not a session token or API key");
  }
  std::string hash = crypto::Sha256Hex(token);
  absl::StatusOr<storage::Session> s = store_.GetSession(hash);
  if (absl::IsNotFound(s.status())) {
    return absl::UnauthenticatedError("the session is not valid; log in again");
  }
  EV_RETURN_IF_ERROR(s.status());
  absl::Time now = Now();
  if (s->idle_expires_at <= now || s->absolute_expires_at <= now) {
    (void)store_.DeleteSession(hash);
    return absl::UnauthenticatedError("the session has expired; log in again");
  }
  EV_ASSIGN_OR_RETURN(storage::User user, store_.GetUser(s->user_id));
  // A session without an org has no membership to check (see Access).
  absl::StatusOr<storage::Membership> m =
      s->org_id.empty() ? storage::Membership{"", s->user_id, Role::kViewer, s->created_at}
                        : store_.GetMembership(s->org_id, s->user_id);
  if (user.disabled || !m.ok()) {
    (void)store_.DeleteSession(hash);
    return absl::UnauthenticatedError("the session is not valid; log in again");
  }
  if (now - s->last_seen_at > absl::Minutes(1)) {
    EV_RETURN_IF_ERROR(store_.TouchSession(
        hash, now, std::min(now + options_.session_idle, s->absolute_expires_at)));
  }
  Principal p;
  p.kind = Principal::Kind::kSession;
  p.user_id = s->user_id;
  p.org_id = s->org_id;
  p.role = m->role;
  p.session_hash = hash;
  p.auth_methods = s->auth_methods;
  p.must_change_password = user.must_change_password;
  for (std::string_view scope : kScopes) p.scopes.emplace_back(scope);
  if (p.must_change_password && access != Access::kPasswordChange) {
    return services::WithErrorCode(
        absl::PermissionDeniedError(
            "this session was opened with a one-time password; set a new one with POST "
            "/v1/password first (until then only GET /v1/session and POST /v1/logout work)"),
        "password_change_required");
  }
  if (p.org_id.empty() && access == Access::kFull) {
    return services::WithErrorCode(
        absl::PermissionDeniedError(
            "this session belongs to no org yet; accept an invitation (GET /v1/invitations), "
            "then log in again"),
        "no_org");
  }
  return p;
}

absl::StatusOr<Principal> AuthService::Impl::RequireSession(const net::Request& req,
                                                            std::string_view what,
                                                            Access access) {
  EV_ASSIGN_OR_RETURN(Principal p, Authenticate(req, access));
  if (p.kind != Principal::Kind::kSession) {
    return absl::PermissionDeniedError(
        base::ToAbsl(std::string(what) + " are managed from a login session, not with an API key"));
  }
  return p;
}

std::string AuthService::Impl::ClientAddress(const net::Request& req) const {
  std::string_view header =
      client_address_.header().empty() ? std::string_view() : req.Header(client_address_.header());
  return client_address_.Resolve(req.remote_address(), header);
}

absl::Status AuthService::Impl::BeginAttempt(std::initializer_list<ThrottleKey> keys,
                                             absl::Time now, LoginThrottle::Attempt* attempt) {
  absl::Duration wait = throttle_.Begin(keys, now, attempt);
  if (wait <= absl::ZeroDuration()) return absl::OkStatus();
  int64_t secs = absl::ToInt64Seconds(absl::Ceil(wait, absl::Seconds(1)));
  return services::WithRetryAfter(
      services::WithErrorCode(absl::ResourceExhaustedError(base::ToAbsl(
                                  "too many failed attempts; try again in " +
                                  std::to_string(secs) + " seconds")),
                              "too_many_attempts"),
      secs);
}

std::string AuthService::Impl::NewOneTimePassword() {
  std::string raw(20, '\0');
  options_.env->RandomBytes(raw.data(), raw.size());
  std::string password = base::Base32Encode(raw);
  for (char& c : password) c = (c >= 'A' && c <= 'Z') ? char(c - 'A' + 'a') : c;
  return password;
}

absl::StatusOr<Principal> AuthService::Impl::Require(const net::Request& req, Role min_role,
                                                     bool needs_admin_scope) {
  EV_ASSIGN_OR_RETURN(Principal p, Authenticate(req));
  if (p.role < min_role) {
    return absl::PermissionDeniedError(base::ToAbsl(
        "this needs the " + std::string(storage::RoleName(min_role)) + " role or higher; you are " +
        std::string(storage::RoleName(p.role))));
  }
  if (needs_admin_scope && p.kind == Principal::Kind::kApiKey && !p.HasScope("admin")) {
    return absl::PermissionDeniedError("this API key lacks the 'admin' scope");
  }
  return p;
}

// ---------------------------------------------------------------- keys and tokens

absl::StatusOr<std::shared_ptr<const crypto::SigningKeySet>> AuthService::Impl::Keys() {
  absl::Time now = Now();
  // The revocation list is a few bytes, read on every use: a key revoked with
  // `edgevault keys revoke-signing` stops signing and leaves the JWKS at once, not at
  // the next reload.
  absl::StatusOr<std::string> revocations =
      crypto::ReadSigningKeyRevocations(options_.env, options_.signing_keys_dir);
  std::lock_guard<std::mutex> lock(keys_mu_);
  const bool revocations_changed = !revocations.ok() || *revocations != revocations_;
  if (keys_ && !revocations_changed && now - keys_loaded_at_ < options_.key_reload_interval) {
    return keys_;
  }
  crypto::SigningKeyPolicy policy;
  policy.retire_after = options_.token_ttl + absl::Minutes(1);
  policy.settle = options_.signing_key_settle;
  absl::StatusOr<crypto::SigningKeySet> loaded =
      crypto::LoadSigningKeys(options_.env, options_.signing_keys_dir, now, policy);
  if (!loaded.ok()) {
    if (keys_ && !revocations_changed) {
      // Keep serving with the keys we have; a broken reload must not stop logins.
      EV_LOG(kError, "reloading JWT signing keys failed; keeping the previous set",
             {{"error", loaded.status().ToString()}});
      keys_loaded_at_ = now;
      return keys_;
    }
    if (keys_) {
      // A revocation list that changed but cannot be applied: the previous set may hold
      // the key it revokes, so nothing signs or is published until it loads.
      EV_LOG(kError, "the JWT signing key revocation list changed but the keys do not load; "
             "refusing to sign until they do", {{"error", loaded.status().ToString()}});
      keys_.reset();
      jwks_.reset();
      revocations_.clear();
    }
    return loaded.status();
  }
  jwks_ = std::make_shared<const std::string>(crypto::JwksJson(loaded->published));
  keys_ = std::make_shared<const crypto::SigningKeySet>(*std::move(loaded));
  keys_loaded_at_ = now;
  revocations_ = revocations.ok() ? *revocations : std::string();
  return keys_;
}

std::shared_ptr<const std::string> AuthService::Impl::JwksBody() {
  (void)Keys();
  std::lock_guard<std::mutex> lock(keys_mu_);
  return jwks_;
}

absl::StatusOr<std::string> AuthService::Impl::MintJwt(const Principal& p, absl::Time* expires_at,
                                                       std::string_view audience, json::object extra) {
  absl::StatusOr<std::shared_ptr<const crypto::SigningKeySet>> loaded = Keys();
  if (!loaded.ok()) {
    // The detail (paths, file names) is for the operator's log, not the caller.
    EV_LOG(kError, "no usable JWT signing key", {{"error", loaded.status().ToString()}});
    return absl::UnavailableError("the auth service cannot sign tokens right now; try again later");
  }
  const std::shared_ptr<const crypto::SigningKeySet>& keys = *loaded;
  crypto::JwtClaims c;
  c.iss = options_.issuer;
  c.aud = audience.empty() ? options_.audience : std::string(audience);
  c.sub = p.kind == Principal::Kind::kApiKey ? "key:" + p.api_key_id : p.user_id;
  c.org = p.org_id;
  c.roles = {std::string(storage::RoleName(p.role))};
  c.scopes = p.scopes;
  c.iat = absl::FromUnixSeconds(absl::ToUnixSeconds(Now()));
  c.exp = c.iat + options_.token_ttl;
  c.jti = NewId("jti_");
  if (p.kind == Principal::Kind::kApiKey) {
    c.extra["created_by"] = p.user_id;
  } else {
    c.extra["amr"] = p.auth_methods;
  }
  for (auto& [k, v] : extra) c.extra[k] = std::move(v);
  *expires_at = c.exp;
  return crypto::SignJwt(keys->active.key, keys->active.kid, c);
}

// ---------------------------------------------------------------- sessions

absl::StatusOr<storage::Membership> AuthService::Impl::LoginMembership(
    const storage::User& user, std::optional<std::string> org_name, const net::Request& req) {
  EV_ASSIGN_OR_RETURN(std::vector<storage::Membership> ms, store_.ListMembershipsOfUser(user.id));
  if (ms.empty()) {
    EV_RETURN_IF_ERROR(AcceptCreatingInvitation(user, req));
    EV_ASSIGN_OR_RETURN(ms, store_.ListMembershipsOfUser(user.id));
  }
  if (org_name) {
    absl::StatusOr<storage::Org> org = store_.GetOrgByName(*org_name);
    if (!org.ok()) return InvalidCredentials();
    for (const storage::Membership& m : ms) {
      if (m.org_id == org->id) return m;
    }
    return InvalidCredentials();
  }
  if (!ms.empty()) return ms.front();
  EV_ASSIGN_OR_RETURN(std::vector<storage::Invitation> pending,
                      store_.ListPendingInvitationsForEmail(user.email, Now()));
  if (pending.empty()) return InvalidCredentials();
  return storage::Membership{"", user.id, Role::kViewer, Now()};
}

absl::StatusOr<json::object> AuthService::Impl::StartSession(storage::ControlStore& tx,
                                                             const storage::User& user,
                                                             const storage::Membership& m,
                                                             std::string_view methods,
                                                             const net::Request& req) {
  absl::Time now = Now();
  std::string token = NewSecretToken(kSessionPrefix);
  storage::Session s;
  s.token_hash = crypto::Sha256Hex(token);
  s.user_id = user.id;
  s.org_id = m.org_id;
  s.created_at = now;
  s.last_seen_at = now;
  s.absolute_expires_at = now + options_.session_absolute;
  s.idle_expires_at = std::min(now + options_.session_idle, s.absolute_expires_at);
  s.client_address = std::string(req.remote_address());
  s.user_agent = std::string(req.Header("User-Agent").substr(0, 256));
  s.auth_methods = std::string(methods);
  EV_RETURN_IF_ERROR(tx.CreateSession(s));
  EV_RETURN_IF_ERROR(Audit(tx, "auth.login", "success", "user:" + user.id, m.org_id, req,
                           {{"methods", methods}}));
  json::object o;
  o["session"] = token;
  o["expires_at"] = services::FormatTime(s.idle_expires_at);
  o["absolute_expires_at"] = services::FormatTime(s.absolute_expires_at);
  o["user"] = {{"id", user.id}, {"email", user.email}};
  // A session without an org (only pending invitations) has neither.
  o["org_id"] = m.org_id.empty() ? json::value(nullptr) : json::value(m.org_id);
  o["role"] = m.org_id.empty() ? json::value(nullptr) : json::value(storage::RoleName(m.role));
  o["must_change_password"] = user.must_change_password;
  return o;
}

// ---------------------------------------------------------------- login handlers

void AuthService::Impl::InstallLogin(net::Router& r) {
  r.Get("/.well-known/jwks.json", [this](net::Request&) {
    std::shared_ptr<const std::string> body = JwksBody();
    if (!body) {
      return net::Response::Error(503, "unavailable", "no JWT signing key is loaded");
    }
    net::Response resp;
    resp.shared_body = body;
    // Verifiers refetch within seconds so a revoked key stops verifying quickly
    // (docs/design/jwt.md); a long-lived HTTP cache would defeat that.
    resp.WithHeader("Cache-Control", "public, max-age=3");
    return resp;
  });

  Route(http::verb::post, "/v1/login", r, [this](net::Request& req) -> absl::StatusOr<net::Response> {
    EV_ASSIGN_OR_RETURN(json::object body, services::ParseJsonBody(req));
    EV_RETURN_IF_ERROR(services::RejectUnknownFields(body, {"email", "password", "org"}));
    EV_ASSIGN_OR_RETURN(std::string raw_email, services::RequiredString(body, "email", 320));
    EV_ASSIGN_OR_RETURN(std::string password, services::RequiredString(body, "password", 1024));
    EV_ASSIGN_OR_RETURN(std::optional<std::string> org, services::OptionalString(body, "org", 128));
    EV_ASSIGN_OR_RETURN(std::string email, NormalizeEmail(raw_email));

    absl::Time now = Now();
    LoginThrottle::Attempt attempt;
    if (absl::Status throttled =
            BeginAttempt({AccountKey(email), AddressKey(ClientAddress(req))}, now, &attempt);
        !throttled.ok()) {
      EV_RETURN_IF_ERROR(AuditDenial("auth.login", EmailActor(email), "", req, {{"reason", "throttled"}}));
      return throttled;
    }
    // From here the attempt counts as a failure until the password proves right, so
    // parallel guesses cannot all pass the check above.
    absl::StatusOr<storage::User> user = store_.GetUserByEmail(email);
    bool ok;
    if (user.ok()) {
      ok = crypto::VerifyPassword(password, user->password_hash) && !user->disabled;
    } else if (absl::IsNotFound(user.status())) {
      crypto::DummyVerify(options_.password);  // same cost as a real verification
      ok = false;
    } else {
      return user.status();
    }
    absl::StatusOr<storage::Membership> m =
        ok ? LoginMembership(*user, org, req) : absl::StatusOr<storage::Membership>(InvalidCredentials());
    if (!ok || !m.ok()) {
      if (ok && !absl::IsUnauthenticated(m.status())) return m.status();  // a store error
      EV_RETURN_IF_ERROR(AuditDenial("auth.login", user.ok() ? "user:" + user->id : EmailActor(email),
                                     "", req, {{"reason", "invalid_credentials"}}));
      return InvalidCredentials();
    }
    throttle_.Succeeded(attempt, ThrottleScope::kAccount);
    if (crypto::NeedsRehash(user->password_hash, options_.password)) {
      absl::StatusOr<std::string> rehashed = crypto::HashPassword(password, options_.password);
      if (rehashed.ok()) {
        EV_RETURN_IF_ERROR(store_.UpdatePassword(user->id, *rehashed, user->must_change_password));
      }
    }
    EV_ASSIGN_OR_RETURN(std::vector<std::string> methods, MfaMethods(*user));
    if (!methods.empty()) {
      std::string token = NewSecretToken(kMfaTokenPrefix);
      storage::Challenge c;
      c.id = crypto::Sha256Hex(token);
      c.kind = "mfa";
      c.user_id = user->id;
      c.payload = m->org_id;
      c.expires_at = now + options_.mfa_ttl;
      EV_RETURN_IF_ERROR(store_.PutChallenge(c));
      json::object o;
      o["mfa_required"] = true;
      o["mfa_token"] = token;
      json::array ms;
      for (const auto& x : methods) ms.emplace_back(x);
      o["methods"] = std::move(ms);
      o["expires_at"] = services::FormatTime(c.expires_at);
      return services::JsonResponse(200, o);
    }
    json::object out;
    EV_RETURN_IF_ERROR(store_.WithTransaction([&](storage::ControlStore& tx) -> absl::Status {
      EV_ASSIGN_OR_RETURN(out, StartSession(tx, *user, *m, "pwd", req));
      return absl::OkStatus();
    }));
    return services::JsonResponse(200, out);
  });

  Route(http::verb::post, "/v1/logout", r, [this](net::Request& req) -> absl::StatusOr<net::Response> {
    EV_ASSIGN_OR_RETURN(Principal p, Authenticate(req, Access::kPasswordChange));
    if (p.kind != Principal::Kind::kSession) {
      return absl::InvalidArgumentError("logout ends a session; revoke API keys with DELETE /v1/api-keys/{id}");
    }
    EV_RETURN_IF_ERROR(store_.WithTransaction([&](storage::ControlStore& tx) -> absl::Status {
      EV_RETURN_IF_ERROR(tx.DeleteSession(p.session_hash));
      return Audit(tx, "auth.logout", "success", p.ActorId(), p.org_id, req);
    }));
    return services::JsonResponse(200, json::object{{"logged_out", true}});
  });

  Route(http::verb::get, "/v1/session", r, [this](net::Request& req) -> absl::StatusOr<net::Response> {
    EV_ASSIGN_OR_RETURN(Principal p, Authenticate(req, Access::kPasswordChange));
    json::object o;
    o["kind"] = p.kind == Principal::Kind::kSession ? "session" : "api_key";
    o["user_id"] = p.user_id;
    o["org_id"] = p.org_id.empty() ? json::value(nullptr) : json::value(p.org_id);
    o["role"] = p.org_id.empty() ? json::value(nullptr) : json::value(storage::RoleName(p.role));
    o["scopes"] = ScopesJson(p.scopes);
    if (p.kind == Principal::Kind::kSession) {
      EV_ASSIGN_OR_RETURN(storage::Session s, store_.GetSession(p.session_hash));
      EV_ASSIGN_OR_RETURN(storage::User u, store_.GetUser(p.user_id));
      o["email"] = u.email;
      o["display_name"] = u.display_name;
      o["methods"] = s.auth_methods;
      o["expires_at"] = services::FormatTime(s.idle_expires_at);
      o["absolute_expires_at"] = services::FormatTime(s.absolute_expires_at);
      o["must_change_password"] = u.must_change_password;
      EV_ASSIGN_OR_RETURN(std::vector<std::string> methods, MfaMethods(u));
      o["mfa"] = ScopesJson(methods);
    } else {
      o["api_key_id"] = p.api_key_id;
      // The person behind the key, for `edgevault whoami`.
      if (absl::StatusOr<storage::User> u = store_.GetUser(p.user_id); u.ok()) o["email"] = u->email;
    }
    return services::JsonResponse(200, o);
  });

  // Revokes every session of a user: yourself from a login session (in every org,
  // keeping the calling session unless include_current), or — for an admin — the
  // sessions a member opened for this org (never those of other orgs: an org's admin
  // has no reach there).
  Route(http::verb::post, "/v1/sessions/revoke-all", r, [this](net::Request& req) -> absl::StatusOr<net::Response> {
    EV_ASSIGN_OR_RETURN(Principal p, Authenticate(req));
    json::object body;
    if (!req.body().empty()) {
      EV_ASSIGN_OR_RETURN(body, services::ParseJsonBody(req));
    }
    EV_RETURN_IF_ERROR(services::RejectUnknownFields(body, {"user_id", "include_current"}));
    EV_ASSIGN_OR_RETURN(std::optional<std::string> target, services::OptionalString(body, "user_id", 64));
    EV_ASSIGN_OR_RETURN(std::optional<bool> include_current, services::OptionalBool(body, "include_current"));
    std::string user_id = target.value_or(p.user_id);
    if (user_id.empty()) return absl::InvalidArgumentError("field 'user_id': is required for API keys");
    if (user_id != p.user_id) {
      if (p.role < Role::kAdmin || (p.kind == Principal::Kind::kApiKey && !p.HasScope("admin"))) {
        return absl::PermissionDeniedError("revoking another user's sessions needs the admin role");
      }
      absl::StatusOr<storage::Membership> m = store_.GetMembership(p.org_id, user_id);
      if (!m.ok()) return absl::NotFoundError("no member with that user_id in this org");
      // Admins act on developers and viewers; admins and owners are an owner's to manage.
      if (m->role >= Role::kAdmin && p.role != Role::kOwner) {
        return absl::PermissionDeniedError("only an owner can revoke an admin's or owner's sessions");
      }
    }
    std::string keep = (user_id == p.user_id && !include_current.value_or(false)) ? p.session_hash : "";
    const bool everywhere = user_id == p.user_id && p.kind == Principal::Kind::kSession;
    int64_t n = 0;
    EV_RETURN_IF_ERROR(store_.WithTransaction([&](storage::ControlStore& tx) -> absl::Status {
      if (everywhere) {
        EV_ASSIGN_OR_RETURN(n, tx.DeleteSessionsOfUser(user_id, keep));
      } else {
        EV_ASSIGN_OR_RETURN(n, tx.DeleteSessionsOfUserInOrg(user_id, p.org_id, keep));
      }
      return Audit(tx, "auth.sessions.revoke_all", "success", p.ActorId(), p.org_id, req,
                   {{"user_id", user_id}, {"revoked", n}});
    }));
    return services::JsonResponse(200, json::object{{"revoked", n}});
  });

  // Your own live sessions, in every org, so you can end one you do not recognise. A
  // session is named by the first 16 hex digits of its token's SHA-256: enough to pick
  // it, useless to reach the token.
  Route(http::verb::get, "/v1/sessions", r, [this](net::Request& req) -> absl::StatusOr<net::Response> {
    EV_ASSIGN_OR_RETURN(Principal p, RequireSession(req, "sessions"));
    EV_ASSIGN_OR_RETURN(std::vector<storage::Session> sessions, store_.ListSessionsOfUser(p.user_id, Now()));
    json::array a;
    for (const storage::Session& s : sessions) {
      a.push_back(json::object{{"id", s.token_hash.substr(0, kSessionIdLength)},
                               {"current", s.token_hash == p.session_hash},
                               {"org_id", s.org_id},
                               {"created_at", services::FormatTime(s.created_at)},
                               {"last_seen_at", services::FormatTime(s.last_seen_at)},
                               {"expires_at", services::FormatTime(std::min(s.idle_expires_at, s.absolute_expires_at))},
                               {"client_address", s.client_address},
                               {"user_agent", s.user_agent},
                               {"auth_methods", s.auth_methods}});
    }
    return services::JsonResponse(200, json::object{{"sessions", std::move(a)}});
  });

  Route(http::verb::delete_, "/v1/sessions/{id}", r, [this](net::Request& req) -> absl::StatusOr<net::Response> {
    EV_ASSIGN_OR_RETURN(Principal p, RequireSession(req, "sessions"));
    std::string_view id = req.Param("id");
    if (id.size() != kSessionIdLength ||
        id.find_first_not_of("0123456789abcdef") != std::string_view::npos) {
      return absl::InvalidArgumentError("a session id is 16 lower-case hex digits, as GET /v1/sessions lists them");
    }
    EV_ASSIGN_OR_RETURN(std::vector<storage::Session> sessions, store_.ListSessionsOfUser(p.user_id, Now()));
    auto it = std::find_if(sessions.begin(), sessions.end(),
                           [&](const storage::Session& s) { return s.token_hash.substr(0, kSessionIdLength) == id; });
    if (it == sessions.end()) return absl::NotFoundError("you have no live session with that id");
    if (it->token_hash == p.session_hash) {
      return services::WithErrorCode(
          absl::FailedPreconditionError("this is the session making the request; end it with POST /v1/logout"),
          "current_session");
    }
    EV_RETURN_IF_ERROR(store_.WithTransaction([&](storage::ControlStore& tx) -> absl::Status {
      EV_RETURN_IF_ERROR(tx.DeleteSession(it->token_hash));
      return Audit(tx, "auth.session.revoke", "success", p.ActorId(), p.org_id, req, {{"session", std::string(id)}});
    }));
    return services::JsonResponse(200, json::object{{"id", std::string(id)}, {"revoked", true}});
  });

  Route(http::verb::post, "/v1/token", r, [this](net::Request& req) -> absl::StatusOr<net::Response> {
    EV_ASSIGN_OR_RETURN(Principal p, Authenticate(req));
    absl::Time exp;
    EV_ASSIGN_OR_RETURN(std::string jwt, MintJwt(p, &exp));
    json::object o;
    o["token"] = jwt;
    o["token_type"] = "Bearer";
    o["expires_in"] = absl::ToInt64Seconds(options_.token_ttl);
    o["expires_at"] = services::FormatTime(exp);
    return services::JsonResponse(200, o);
  });

  // Changes the caller's password: needs the current one; rotates the session (all other
  // sessions of the user end, the caller gets a new token).
  Route(http::verb::post, "/v1/password", r, [this](net::Request& req) -> absl::StatusOr<net::Response> {
    EV_ASSIGN_OR_RETURN(Principal p, RequireSession(req, "passwords", Access::kPasswordChange));
    EV_ASSIGN_OR_RETURN(json::object body, services::ParseJsonBody(req));
    EV_RETURN_IF_ERROR(services::RejectUnknownFields(body, {"current_password", "new_password"}));
    EV_ASSIGN_OR_RETURN(std::string current, services::RequiredString(body, "current_password", 1024));
    EV_ASSIGN_OR_RETURN(std::string next, services::RequiredString(body, "new_password", 4096));
    EV_ASSIGN_OR_RETURN(storage::User user, store_.GetUser(p.user_id));
    absl::Time now = Now();
    LoginThrottle::Attempt attempt;
    EV_RETURN_IF_ERROR(BeginAttempt({AccountKey(user.email), AddressKey(ClientAddress(req))}, now, &attempt));
    if (!crypto::VerifyPassword(current, user.password_hash)) {
      EV_RETURN_IF_ERROR(AuditDenial("auth.password.change", p.ActorId(), p.org_id, req,
                                     {{"reason", "invalid_credentials"}}));
      return services::WithErrorCode(absl::PermissionDeniedError("the current password is wrong"),
                                     "invalid_credentials");
    }
    throttle_.Succeeded(attempt, ThrottleScope::kAccount);
    if (current == next) {
      return absl::InvalidArgumentError("field 'new_password': must differ from the current password");
    }
    EV_RETURN_IF_ERROR(crypto::CheckPasswordPolicy(next, user.email));
    EV_ASSIGN_OR_RETURN(std::string hash, crypto::HashPassword(next, options_.password));
    storage::Membership m{"", p.user_id, Role::kViewer, now};  // a session without an org
    if (!p.org_id.empty()) {
      EV_ASSIGN_OR_RETURN(m, store_.GetMembership(p.org_id, p.user_id));
    }
    json::object out;
    EV_RETURN_IF_ERROR(store_.WithTransaction([&](storage::ControlStore& tx) -> absl::Status {
      EV_RETURN_IF_ERROR(tx.UpdatePassword(user.id, hash, false));
      EV_RETURN_IF_ERROR(tx.DeleteSessionsOfUser(user.id, "").status());
      user.must_change_password = false;
      EV_ASSIGN_OR_RETURN(out, StartSession(tx, user, m, p.auth_methods, req));
      return Audit(tx, "auth.password.change", "success", p.ActorId(), p.org_id, req);
    }));
    return services::JsonResponse(200, out);
  });
}

// ---------------------------------------------------------------- bootstrap

absl::StatusOr<AuthService::BootstrapResult> AuthService::Impl::Bootstrap(
    std::string_view email, const std::function<absl::Status(const BootstrapResult&)>& persist) {
  EV_ASSIGN_OR_RETURN(std::string owner_email, NormalizeEmail(email));
  BootstrapResult result;
  EV_RETURN_IF_ERROR(store_.WithTransaction([&](storage::ControlStore& tx) -> absl::Status {
    EV_ASSIGN_OR_RETURN(int64_t users, tx.CountUsers());
    if (users > 0) return absl::OkStatus();
    absl::Time now = Now();
    storage::Org org;
    org.id = NewId("org_");
    org.name = "default";
    org.created_at = now;
    EV_RETURN_IF_ERROR(tx.CreateOrg(org));
    std::string password = NewOneTimePassword();
    storage::User user;
    user.id = NewId("usr_");
    user.email = owner_email;
    user.display_name = "Owner";
    EV_ASSIGN_OR_RETURN(user.password_hash, crypto::HashPassword(password, options_.password));
    user.must_change_password = true;
    user.created_at = now;
    EV_RETURN_IF_ERROR(tx.CreateUser(user));
    EV_RETURN_IF_ERROR(tx.AddMembership({org.id, user.id, Role::kOwner, now}));
    std::string key = NewSecretToken(kApiKeyPrefix);
    storage::ApiKey k;
    k.id = NewId("key_");
    k.key_hash = crypto::Sha256Hex(key);
    k.prefix = key.substr(0, kApiKeyPrefix.size() + 4);
    k.org_id = org.id;
    k.created_by = user.id;
    k.name = "bootstrap-admin";
    for (std::string_view s : kScopes) k.scopes.emplace_back(s);
    k.role = Role::kOwner;
    k.created_at = now;
    EV_RETURN_IF_ERROR(tx.CreateApiKey(k));
    storage::OutboxEvent e;
    e.id = audit::NewEventId(options_.env);
    e.created_at = now;
    json::object o{{"v", 1}, {"id", e.id}, {"service", "auth"}, {"action", "auth.bootstrap"},
                   {"outcome", "success"}, {"actor", json::object{{"id", "system"}}},
                   {"org", org.id},
                   {"details", json::object{{"owner", "user:" + user.id}, {"api_key", k.id}}}};
    o["time"] = audit::FormatEventTime(now);
    e.json = json::serialize(o);
    EV_RETURN_IF_ERROR(tx.AppendOutbox(e));
    result = {true, owner_email, password, key};
    return persist(result);
  }));
  return result;
}

// ---------------------------------------------------------------- AuthService

AuthService::AuthService(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

AuthService::~AuthService() {
  if (impl_) impl_->pool_.join();
}

absl::StatusOr<std::unique_ptr<AuthService>> AuthService::Create(AuthOptions options) {
  if (options.store == nullptr || options.env == nullptr) {
    return absl::InvalidArgumentError("AuthOptions needs a store and an env");
  }
  if (options.token_ttl <= absl::ZeroDuration() || options.token_ttl > absl::Minutes(5)) {
    return absl::InvalidArgumentError("auth token lifetime must be between 1 s and 5 min");
  }
  EV_RETURN_IF_ERROR(crypto::ValidatePasswordParams(options.password));
  if (options.signing_key_settle < absl::ZeroDuration()) {
    return absl::InvalidArgumentError("the signing-key settle period must not be negative");
  }
  if (options.invitation_ttl <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("the invitation lifetime must be positive");
  }
  // Ids of attempts in a shared throttle window must not collide with another node's.
  if (options.throttle.instance_id.empty()) options.throttle.instance_id = options.env->RandomHex(8);
  EV_ASSIGN_OR_RETURN(ClientAddressResolver client_address,
                      ClientAddressResolver::Create(options.client_address));
  auto impl = std::make_unique<Impl>(std::move(options), std::move(client_address));
  EV_RETURN_IF_ERROR(impl->Keys().status());
  return std::unique_ptr<AuthService>(new AuthService(std::move(impl)));
}

void AuthService::Install(net::Router& router) {
  impl_->InstallLogin(router);
  impl_->InstallMfa(router);
  impl_->InstallAdmin(router);
  impl_->InstallInvitations(router);
  impl_->InstallOAuth(router);
}

absl::StatusOr<AuthService::BootstrapResult> AuthService::Bootstrap(
    std::string_view email, const std::function<absl::Status(const BootstrapResult&)>& persist) {
  return impl_->Bootstrap(email, persist);
}

}  // namespace edgevault::auth
