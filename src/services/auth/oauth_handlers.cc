// edgevault-auth as an OAuth 2.1 authorization server for MCP clients (issue 16;
// docs/design/oauth.md): RFC 8414 metadata, RFC 7591 dynamic registration (stateless
// client ids, oauth.h), the consent decision a logged-in user makes through the console,
// the token endpoint (authorization code + PKCE S256, rotating refresh tokens) and RFC 7009
// revocation. Codes, grants and refresh tokens are one-shot rows of the control DB's
// challenge table (storage::CredentialStore::PutChallenge/TakeChallenge), so they survive
// a restart and are shared by every auth node on PostgreSQL.

#include <boost/json.hpp>

#include "src/base/status.h"
#include "src/base/strings.h"
#include "src/crypto/hash.h"
#include "src/services/auth/auth_impl.h"
#include "src/services/auth/oauth.h"
#include "src/services/common/public_cors.h"

namespace edgevault::auth {

namespace http = boost::beast::http;
namespace json = boost::json;

namespace {

constexpr std::string_view kCodeKind = "oauth-code";
constexpr std::string_view kCodeUsedKind = "oauth-code-used";
constexpr std::string_view kGrantKind = "oauth-grant";
constexpr std::string_view kRefreshKind = "oauth-refresh";
constexpr std::string_view kRefreshUsedKind = "oauth-refresh-used";

// An OAuth error answer (RFC 6749 §5.2): {"error", "error_description"}, never cached.
net::Response OAuthError(int status, std::string_view code, std::string_view description) {
  net::Response r = services::JsonResponse(
      status, json::object{{"error", code}, {"error_description", description}});
  r.WithHeader("Cache-Control", "no-store");
  return r;
}

// 429 from a throttle that refused for `wait`: the OAuth error JSON and Retry-After.
net::Response TooManyRequests(absl::Duration wait, std::string_view what) {
  const int64_t secs = absl::ToInt64Seconds(absl::Ceil(wait, absl::Seconds(1)));
  net::Response resp =
      OAuthError(429, "too_many_requests", "too many " + std::string(what) + "; retry after " + std::to_string(secs) + " s");
  resp.WithHeader("Retry-After", std::to_string(secs));
  return resp;
}

net::Response OAuthError(const absl::Status& st, std::string_view fallback_code) {
  std::string code = base::ErrorCode(st);
  if (code.empty()) code = fallback_code;
  if (absl::IsUnavailable(st)) return OAuthError(503, "temporarily_unavailable", base::ToStd(st.message()));
  if (!absl::IsInvalidArgument(st) && !absl::IsNotFound(st) && !absl::IsFailedPrecondition(st)) {
    return OAuthError(500, "server_error", "internal error");
  }
  return OAuthError(code == "invalid_client" ? 401 : 400, code, base::ToStd(st.message()));
}

absl::Status Code(std::string_view code, std::string message) {
  return base::WithErrorCode(absl::InvalidArgumentError(base::ToAbsl(message)), code);
}

std::string StringMember(const json::object& o, std::string_view name) {
  const json::value* v = o.if_contains(name);
  return v != nullptr && v->is_string() ? std::string(v->get_string()) : std::string();
}

std::vector<std::string> StringsMember(const json::object& o, std::string_view name) {
  std::vector<std::string> out;
  const json::value* v = o.if_contains(name);
  if (v == nullptr || !v->is_array()) return out;
  for (const json::value& x : v->get_array()) {
    if (x.is_string()) out.emplace_back(x.get_string());
  }
  return out;
}

json::object ParsePayload(std::string_view text) {
  boost::system::error_code ec;
  json::value v = json::parse(text, ec);
  return !ec && v.is_object() ? std::move(v.get_object()) : json::object{};
}

json::array ToJson(const std::vector<std::string>& v) {
  json::array a;
  for (const std::string& s : v) a.emplace_back(s);
  return a;
}

// A short, stable reference to a client in audit events and tokens (the id itself is long).
std::string ClientRef(std::string_view client_id) { return crypto::Sha256Hex(client_id).substr(0, 16); }

}  // namespace

// The validated parameters of an authorization request.
struct AuthorizeRequest {
  OAuthClient client;
  std::string client_id, redirect_uri, code_challenge, state, resource;
  std::vector<std::string> scopes;
};

namespace {

// Validates an authorization request whose parameters `get` returns ("" when absent).
// `redirect_to` is set once the redirect URI is known to be the client's: errors after
// that point go back to the client (RFC 6749 §4.1.2.1); errors before it are shown to
// the user only.
absl::StatusOr<AuthorizeRequest> ValidateAuthorize(const std::function<std::string(std::string_view)>& get,
                                                   const AuthOptions::OAuth& o, std::string* redirect_to) {
  AuthorizeRequest ar;
  ar.client_id = get("client_id");
  EV_ASSIGN_OR_RETURN(ar.client, DecodeClientId(ar.client_id, o.client_id_key));
  ar.redirect_uri = get("redirect_uri");
  bool registered = false;
  for (const std::string& u : ar.client.redirect_uris) registered = registered || RedirectUriMatches(u, ar.redirect_uri);
  if (!registered) {
    return Code("invalid_redirect_uri", "redirect_uri is missing or is not one the client registered");
  }
  ar.state = get("state");
  if (ar.state.size() > 512) return Code("invalid_request", "state must be at most 512 bytes");
  auto back = [&](std::string_view code, std::string message) {
    std::vector<std::pair<std::string, std::string>> q{{"error", std::string(code)}, {"error_description", message}};
    if (!ar.state.empty()) q.emplace_back("state", ar.state);
    q.emplace_back("iss", o.issuer_url);
    *redirect_to = AppendQuery(ar.redirect_uri, q);
    return Code(code, std::move(message));
  };
  if (get("response_type") != "code") {
    return back("unsupported_response_type", "response_type must be \"code\" (the authorization code flow)");
  }
  if (get("code_challenge_method") != "S256") {
    return back("invalid_request", "PKCE is required: code_challenge_method must be \"S256\" (\"plain\" is refused)");
  }
  ar.code_challenge = get("code_challenge");
  if (!ValidCodeChallenge(ar.code_challenge)) {
    return back("invalid_request", "code_challenge must be the 43-character BASE64URL(SHA256(code_verifier))");
  }
  absl::StatusOr<std::vector<std::string>> scopes = ParseScopes(get("scope"));
  if (!scopes.ok()) return back("invalid_scope", std::string(scopes.status().message()));
  ar.scopes = *std::move(scopes);
  ar.resource = get("resource");
  if (ar.resource.empty()) ar.resource = o.resource;
  if (ar.resource != o.resource) {
    return back("invalid_target", "resource must be this server's MCP endpoint, " + o.resource);
  }
  return ar;
}

}  // namespace

absl::StatusOr<std::string> AuthService::Impl::MintGrantJwt(const std::string& user_id, const std::string& org_id,
                                                            storage::Role role, const std::vector<std::string>& scopes,
                                                            const std::string& grant_id, absl::Time* expires_at) {
  Principal p;
  p.kind = Principal::Kind::kSession;
  p.user_id = user_id;
  p.org_id = org_id;
  p.role = role;
  p.scopes = scopes;
  p.auth_methods = "oauth";
  return MintJwt(p, expires_at, options_.oauth.resource, {{"grant", grant_id}});
}

void AuthService::Impl::InstallOAuth(net::Router& r) {
  const AuthOptions::OAuth& o = options_.oauth;
  if (!o.enabled) return;

  // RFC 8414. The authorization endpoint is the console's page: a browser talks to the
  // console only (DESIGN.md §1); everything else a client calls is here.
  // Browser-based clients call the metadata, registration, token and revocation endpoints
  // from their own origin: CORS for any origin, without credentials (public_cors.h); the
  // authorization request and the consent are the console's, same-origin only.
  auto public_route = [this, &r](http::verb method, std::string_view pattern,
                                 std::function<absl::StatusOr<net::Response>(net::Request&)> fn) {
    r.AddAsync(method, pattern, services::WithPublicCors(Blocking(std::move(fn))));
    r.Add(http::verb::options, pattern, services::PublicCorsPreflight(std::string(http::to_string(method))));
  };
  r.Add(http::verb::options, "/.well-known/oauth-authorization-server", services::PublicCorsPreflight("GET"));
  r.Add(http::verb::get, "/.well-known/oauth-authorization-server", services::WithPublicCors([this](net::Request&) {
    const AuthOptions::OAuth& o = options_.oauth;
    json::object m;
    m["issuer"] = o.issuer_url;
    m["authorization_endpoint"] = o.consent_url;
    m["token_endpoint"] = o.issuer_url + "/oauth/token";
    m["registration_endpoint"] = o.issuer_url + "/oauth/register";
    m["revocation_endpoint"] = o.issuer_url + "/oauth/revoke";
    m["jwks_uri"] = o.issuer_url + "/.well-known/jwks.json";
    m["scopes_supported"] = json::array{"read", "write", "secrets:read"};
    m["response_types_supported"] = json::array{"code"};
    m["response_modes_supported"] = json::array{"query"};
    m["grant_types_supported"] = json::array{"authorization_code", "refresh_token"};
    m["token_endpoint_auth_methods_supported"] = json::array{"none"};
    m["revocation_endpoint_auth_methods_supported"] = json::array{"none"};
    m["code_challenge_methods_supported"] = json::array{"S256"};
    m["authorization_response_iss_parameter_supported"] = true;
    net::Response resp = services::JsonResponse(200, m);
    resp.WithHeader("Cache-Control", "public, max-age=300");
    return resp;
  }));

  // RFC 7591: open registration of public clients. Nothing is stored: the client id
  // carries the registration, signed (oauth.h), so registrations cannot fill a table.
  public_route(http::verb::post, "/oauth/register", [this](net::Request& req) -> absl::StatusOr<net::Response> {
    // Open to anyone, and each registration is an audit row: a client address may register
    // oauth.registrations_per_address clients per throttle window (throttle.h).
    LoginThrottle::Attempt attempt;
    if (absl::Duration wait = throttle_.Begin({RegistrationKey(ClientAddress(req))}, Now(), &attempt);
        wait > absl::ZeroDuration()) {
      return TooManyRequests(wait, "client registrations from this address");
    }
    absl::StatusOr<json::object> body = services::ParseJsonBody(req);
    if (!body.ok()) return OAuthError(400, "invalid_client_metadata", base::ToStd(body.status().message()));
    absl::StatusOr<OAuthClient> c = ParseClientRegistration(*body, absl::ToUnixSeconds(Now()));
    if (!c.ok()) return OAuthError(c.status(), "invalid_client_metadata");
    std::string id = EncodeClientId(*c, options_.oauth.client_id_key);
    EV_RETURN_IF_ERROR(store_.WithTransaction([&](storage::ControlStore& tx) {
      return Audit(tx, "auth.oauth.client.register", "success", "client:" + ClientRef(id), "", req,
                   {{"client", c->name}, {"redirect_uris", ToJson(c->redirect_uris)}});
    }));
    json::object out;
    out["client_id"] = id;
    out["client_id_issued_at"] = c->issued_at;
    out["client_name"] = c->name;
    out["redirect_uris"] = ToJson(c->redirect_uris);
    out["grant_types"] = json::array{"authorization_code", "refresh_token"};
    out["response_types"] = json::array{"code"};
    out["token_endpoint_auth_method"] = "none";
    net::Response resp = services::JsonResponse(201, out);
    resp.WithHeader("Cache-Control", "no-store");
    return resp;
  });

  // The consent page's API (the console's /bff/auth/oauth/authorize): a logged-in user
  // (a login session, never an API key: agents never approve) sees what a client asks
  // for (GET) and decides (POST). Both validate the whole request again.
  auto describe = [this](const AuthorizeRequest& ar, const Principal& p) {
    json::object out;
    out["client"] = json::object{{"name", ar.client.name}, {"ref", ClientRef(ar.client_id)}};
    out["redirect_uri"] = ar.redirect_uri;
    out["resource"] = ar.resource;
    out["scopes_requested"] = ToJson(ar.scopes);
    out["scopes_grantable"] = ToJson(CapScopes(ar.scopes, p.role));
    out["role"] = storage::RoleName(p.role);
    out["org_id"] = p.org_id;
    return out;
  };
  auto refusal = [](const absl::Status& st, const std::string& redirect_to) {
    net::Response resp = services::ErrorResponse(st);
    if (!redirect_to.empty() && absl::IsInvalidArgument(st)) {
      json::object body{{"error", {{"code", base::ErrorCode(st)}, {"message", std::string(st.message())}}},
                        {"redirect_to", redirect_to}};
      resp = services::JsonResponse(400, body);
    }
    return resp;
  };
  Route(http::verb::get, "/v1/oauth/authorize", r,
        [this, describe, refusal](net::Request& req) -> absl::StatusOr<net::Response> {
          EV_ASSIGN_OR_RETURN(Principal p, RequireSession(req, "OAuth consents"));
          std::string redirect_to;
          absl::StatusOr<AuthorizeRequest> ar = ValidateAuthorize(
              [&](std::string_view n) { return req.QueryParam(n).value_or(""); }, options_.oauth, &redirect_to);
          if (!ar.ok()) return refusal(ar.status(), redirect_to);
          return services::JsonResponse(200, describe(*ar, p));
        });
  Route(http::verb::post, "/v1/oauth/authorize", r,
        [this, refusal](net::Request& req) -> absl::StatusOr<net::Response> {
          EV_ASSIGN_OR_RETURN(Principal p, RequireSession(req, "OAuth consents"));
          EV_ASSIGN_OR_RETURN(json::object body, services::ParseJsonBody(req));
          EV_RETURN_IF_ERROR(services::RejectUnknownFields(
              body, {"client_id", "redirect_uri", "response_type", "code_challenge", "code_challenge_method", "scope",
                     "state", "resource", "approve", "scopes"}));
          EV_ASSIGN_OR_RETURN(std::optional<bool> approve, services::OptionalBool(body, "approve"));
          if (!approve) return Code("bad_request", "field 'approve': true (grant) or false (deny) is required");
          EV_ASSIGN_OR_RETURN(std::optional<std::vector<std::string>> chosen,
                              services::OptionalStringArray(body, "scopes", 8, 32));
          std::string redirect_to;
          absl::StatusOr<AuthorizeRequest> ar =
              ValidateAuthorize([&](std::string_view n) { return StringMember(body, n); }, options_.oauth, &redirect_to);
          if (!ar.ok()) return refusal(ar.status(), redirect_to);
          const std::string ref = ClientRef(ar->client_id);
          std::vector<std::pair<std::string, std::string>> q;
          if (!*approve) {
            EV_RETURN_IF_ERROR(store_.WithTransaction([&](storage::ControlStore& tx) {
              return Audit(tx, "auth.oauth.deny", "success", p.ActorId(), p.org_id, req,
                           {{"client", ar->client.name}, {"client_ref", ref}});
            }));
            q = {{"error", "access_denied"}, {"error_description", "the user declined"}};
          } else {
            // What the user ticked, within what the client asked for and the role allows.
            std::vector<std::string> granted;
            for (const std::string& s : CapScopes(ar->scopes, p.role)) {
              if (!chosen || std::find(chosen->begin(), chosen->end(), s) != chosen->end()) granted.push_back(s);
            }
            if (granted.empty()) {
              return Code("bad_request", "field 'scopes': grant at least one of the scopes offered (" +
                                             JoinScopes(CapScopes(ar->scopes, p.role)) + ")");
            }
            std::string code = NewSecretToken(kOAuthCodePrefix);
            storage::Challenge c;
            c.id = crypto::Sha256Hex(code);
            c.kind = std::string(kCodeKind);
            c.user_id = p.user_id;
            c.payload = json::serialize(json::object{{"client", crypto::Sha256Hex(ar->client_id)},
                                                     {"client_name", ar->client.name},
                                                     {"redirect_uri", ar->redirect_uri},
                                                     {"challenge", ar->code_challenge},
                                                     {"scopes", ToJson(granted)},
                                                     {"resource", ar->resource},
                                                     {"org", p.org_id}});
            c.expires_at = Now() + options_.oauth.code_ttl;
            EV_RETURN_IF_ERROR(store_.WithTransaction([&](storage::ControlStore& tx) -> absl::Status {
              EV_RETURN_IF_ERROR(tx.PutChallenge(c));
              return Audit(tx, "auth.oauth.grant", "success", p.ActorId(), p.org_id, req,
                           {{"client", ar->client.name}, {"client_ref", ref}, {"scopes", ToJson(granted)},
                            {"resource", ar->resource}});
            }));
            q = {{"code", code}};
          }
          if (!ar->state.empty()) q.emplace_back("state", ar->state);
          q.emplace_back("iss", options_.oauth.issuer_url);
          return services::JsonResponse(200, json::object{{"redirect_to", AppendQuery(ar->redirect_uri, q)}});
        });

  public_route(http::verb::post, "/oauth/token", [this](net::Request& req) -> absl::StatusOr<net::Response> {
    if (!req.Header("Content-Type").starts_with("application/x-www-form-urlencoded")) {
      return OAuthError(400, "invalid_request", "send the parameters as application/x-www-form-urlencoded");
    }
    absl::StatusOr<std::map<std::string, std::string>> form = ParseForm(req.body());
    if (!form.ok()) return OAuthError(form.status(), "invalid_request");
    auto get = [&](const std::string& n) {
      auto it = form->find(n);
      return it == form->end() ? std::string() : it->second;
    };
    const std::string client_id = get("client_id");
    absl::StatusOr<OAuthClient> client = DecodeClientId(client_id, options_.oauth.client_id_key);
    // Open to anyone: every request counts against its client address, and one whose
    // client id verifies against that client too (an unverified id names no client, so
    // no one can use up another client's allowance by quoting a made-up id).
    LoginThrottle::Attempt attempt;
    const std::string address = ClientAddress(req);
    absl::Duration wait = client.ok() ? throttle_.Begin({TokenAddressKey(address), TokenClientKey(ClientRef(client_id))},
                                                        Now(), &attempt)
                                      : throttle_.Begin({TokenAddressKey(address)}, Now(), &attempt);
    if (wait > absl::ZeroDuration()) return TooManyRequests(wait, "token requests from this address or for this client");
    if (!client.ok()) return OAuthError(client.status(), "invalid_client");
    const std::string client_hash = crypto::Sha256Hex(client_id);
    const std::string grant_type = get("grant_type");
    const std::string resource = get("resource");
    if (!resource.empty() && resource != options_.oauth.resource) {
      return OAuthError(400, "invalid_target", "resource must be this server's MCP endpoint, " + options_.oauth.resource);
    }
    absl::Time now = Now();
    std::string user_id, org_id, grant_id, refresh;
    std::vector<std::string> scopes;
    storage::Role role = storage::Role::kViewer;
    // The user's standing now: a removed or disabled member's grant ends here.
    auto standing = [&](storage::ControlStore& tx) -> absl::Status {
      absl::StatusOr<storage::User> user = tx.GetUser(user_id);
      absl::StatusOr<storage::Membership> m = tx.GetMembership(org_id, user_id);
      if (!user.ok() || user->disabled || !m.ok()) {
        return Code("invalid_grant", "the user who granted this is no longer a member; authorize again");
      }
      role = m->role;
      scopes = CapScopes(scopes, role);
      if (scopes.empty()) return Code("invalid_grant", "the user's role no longer allows any granted scope");
      return absl::OkStatus();
    };
    auto issue_refresh = [&](storage::ControlStore& tx, const json::object& grant) -> absl::Status {
      storage::Challenge g;
      g.id = grant_id;
      g.kind = std::string(kGrantKind);
      g.user_id = user_id;
      g.payload = json::serialize(grant);
      g.expires_at = now + options_.oauth.refresh_ttl;  // sliding: each refresh extends it
      EV_RETURN_IF_ERROR(tx.PutChallenge(g));
      refresh = NewSecretToken(kOAuthRefreshPrefix);
      storage::Challenge rt;
      rt.id = crypto::Sha256Hex(refresh);
      rt.kind = std::string(kRefreshKind);
      rt.user_id = user_id;
      rt.payload = json::serialize(json::object{{"grant", grant_id}});
      rt.expires_at = g.expires_at;
      return tx.PutChallenge(rt);
    };
    // Commits `fn`; an OAuth refusal it reports through `refused` keeps what it wrote
    // (a revocation after a replay must stick).
    absl::Status refused;
    auto run = [&](const std::function<absl::Status(storage::ControlStore&)>& fn) -> absl::Status {
      return store_.WithTransaction([&](storage::ControlStore& tx) -> absl::Status {
        absl::Status st = fn(tx);
        if (!st.ok() && !base::ErrorCode(st).empty() && absl::IsInvalidArgument(st)) {
          refused = st;
          return absl::OkStatus();
        }
        return st;
      });
    };
    // A one-shot token presented again after its use: someone holds a copy, so the grant
    // that use made (or continued) ends, and the reuse is audited.
    auto end_reused = [&](storage::ControlStore& tx, const std::string& hash, std::string_view used_kind,
                          std::string_view action) -> absl::Status {
      absl::StatusOr<storage::Challenge> used = tx.TakeChallenge(hash, used_kind, now);
      if (!used.ok()) return absl::IsNotFound(used.status()) ? absl::OkStatus() : used.status();
      std::string g = StringMember(ParsePayload(used->payload), "grant");
      (void)tx.TakeChallenge(g, kGrantKind, now);
      return Audit(tx, action, "denied", "user:" + used->user_id, "", req, {{"client", client->name}, {"grant", g}});
    };
    // Remembers a spent code or refresh token (its hash) with the grant, for end_reused.
    auto mark_used = [&](storage::ControlStore& tx, const std::string& hash, std::string_view used_kind) {
      storage::Challenge used;
      used.id = hash;
      used.kind = std::string(used_kind);
      used.user_id = user_id;
      used.payload = json::serialize(json::object{{"grant", grant_id}});
      used.expires_at = now + options_.oauth.refresh_ttl;
      return tx.PutChallenge(used);
    };
    absl::Status st;
    if (grant_type == "authorization_code") {
      const std::string code = get("code");
      st = run([&](storage::ControlStore& tx) -> absl::Status {
        const std::string code_hash = crypto::Sha256Hex(code);
        absl::StatusOr<storage::Challenge> c = tx.TakeChallenge(code_hash, kCodeKind, now);
        if (absl::IsNotFound(c.status())) {
          // A code used twice: the grant the first use made is revoked (RFC 6749 §4.1.2).
          EV_RETURN_IF_ERROR(end_reused(tx, code_hash, kCodeUsedKind, "auth.oauth.code_reuse"));
          return Code("invalid_grant", "the authorization code is unknown, expired or already used");
        }
        EV_RETURN_IF_ERROR(c.status());
        json::object p = ParsePayload(c->payload);
        if (StringMember(p, "client") != client_hash) {
          return Code("invalid_grant", "the authorization code was issued to another client");
        }
        if (get("redirect_uri") != StringMember(p, "redirect_uri")) {
          return Code("invalid_grant", "redirect_uri must be the one the authorization request used");
        }
        if (!VerifyPkceS256(get("code_verifier"), StringMember(p, "challenge"))) {
          return Code("invalid_grant", "code_verifier does not match the code_challenge (PKCE S256)");
        }
        if (StringMember(p, "resource") != options_.oauth.resource) {
          return Code("invalid_target", "the code was issued for another resource");
        }
        user_id = c->user_id;
        org_id = StringMember(p, "org");
        scopes = StringsMember(p, "scopes");
        EV_RETURN_IF_ERROR(standing(tx));
        grant_id = NewId("ogr_");
        EV_RETURN_IF_ERROR(mark_used(tx, code_hash, kCodeUsedKind));
        EV_RETURN_IF_ERROR(issue_refresh(tx, json::object{{"client", client_hash},
                                                          {"client_name", client->name},
                                                          {"scopes", ToJson(scopes)},
                                                          {"org", org_id},
                                                          {"resource", options_.oauth.resource},
                                                          {"created_at", absl::ToUnixSeconds(now)},
                                                          {"last_used_at", absl::ToUnixSeconds(now)}}));
        return Audit(tx, "auth.oauth.token", "success", "user:" + user_id, org_id, req,
                     {{"client", client->name}, {"client_ref", ClientRef(client_id)}, {"grant", grant_id},
                      {"scopes", ToJson(scopes)}, {"grant_type", "authorization_code"}});
      });
    } else if (grant_type == "refresh_token") {
      const std::string token = get("refresh_token");
      absl::StatusOr<std::vector<std::string>> narrowed;
      if (!get("scope").empty()) {
        narrowed = ParseScopes(get("scope"));
        if (!narrowed.ok()) return OAuthError(narrowed.status(), "invalid_scope");
      }
      st = run([&](storage::ControlStore& tx) -> absl::Status {
        const std::string hash = crypto::Sha256Hex(token);
        absl::StatusOr<storage::Challenge> rt = tx.TakeChallenge(hash, kRefreshKind, now);
        if (absl::IsNotFound(rt.status())) {
          // A rotated-away refresh token used again: someone holds a copy. The whole
          // grant ends (OAuth 2.1 §4.3.1; the current token of the family stops working).
          EV_RETURN_IF_ERROR(end_reused(tx, hash, kRefreshUsedKind, "auth.oauth.refresh_reuse"));
          return Code("invalid_grant", "the refresh token is unknown, expired, revoked or already used");
        }
        EV_RETURN_IF_ERROR(rt.status());
        grant_id = StringMember(ParsePayload(rt->payload), "grant");
        absl::StatusOr<storage::Challenge> g = tx.TakeChallenge(grant_id, kGrantKind, now);
        if (absl::IsNotFound(g.status())) return Code("invalid_grant", "the grant was revoked or has expired");
        EV_RETURN_IF_ERROR(g.status());
        json::object grant = ParsePayload(g->payload);
        if (StringMember(grant, "client") != client_hash) {
          // Not this client's token: leave the grant as it was (the Take is rolled back).
          return absl::PermissionDeniedError("refresh token of another client");
        }
        user_id = g->user_id;
        org_id = StringMember(grant, "org");
        scopes = StringsMember(grant, "scopes");
        if (narrowed.ok() && !get("scope").empty()) {
          for (const std::string& s : *narrowed) {
            if (std::find(scopes.begin(), scopes.end(), s) == scopes.end()) {
              // FailedPrecondition, not InvalidArgument: rolled back, the token stays usable.
              return base::WithErrorCode(absl::FailedPreconditionError(base::ToAbsl(
                                             "scope may only narrow the granted scopes (" + JoinScopes(scopes) + ")")),
                                         "invalid_scope");
            }
          }
        }
        if (absl::Status s = standing(tx); !s.ok()) return s;  // the grant stays taken: it ended
        EV_RETURN_IF_ERROR(mark_used(tx, hash, kRefreshUsedKind));
        grant["last_used_at"] = absl::ToUnixSeconds(now);
        EV_RETURN_IF_ERROR(issue_refresh(tx, grant));
        if (narrowed.ok() && !get("scope").empty()) scopes = CapScopes(*narrowed, role);
        return absl::OkStatus();
      });
      if (absl::IsPermissionDenied(st)) {
        return OAuthError(400, "invalid_grant", "the refresh token was issued to another client");
      }
    } else {
      return OAuthError(400, grant_type.empty() ? "invalid_request" : "unsupported_grant_type",
                        "grant_type must be authorization_code or refresh_token");
    }
    if (!st.ok()) return OAuthError(st, "invalid_request");
    if (!refused.ok()) return OAuthError(refused, "invalid_grant");
    absl::Time exp;
    EV_ASSIGN_OR_RETURN(std::string jwt, MintGrantJwt(user_id, org_id, role, scopes, grant_id, &exp));
    json::object out;
    out["access_token"] = jwt;
    out["token_type"] = "Bearer";
    out["expires_in"] = absl::ToInt64Seconds(exp - now);
    out["refresh_token"] = refresh;
    out["scope"] = JoinScopes(scopes);
    net::Response resp = services::JsonResponse(200, out);
    resp.WithHeader("Cache-Control", "no-store");
    resp.WithHeader("Pragma", "no-cache");
    return resp;
  });

  // RFC 7009. A refresh token ends its whole grant; an access token (a JWT, verified
  // offline) cannot be recalled and simply expires (≤ auth.token_ttl). Always 200, so
  // the answer tells nothing about the token.
  public_route(http::verb::post, "/oauth/revoke", [this](net::Request& req) -> absl::StatusOr<net::Response> {
    if (!req.Header("Content-Type").starts_with("application/x-www-form-urlencoded")) {
      return OAuthError(400, "invalid_request", "send the parameters as application/x-www-form-urlencoded");
    }
    absl::StatusOr<std::map<std::string, std::string>> form = ParseForm(req.body());
    if (!form.ok()) return OAuthError(form.status(), "invalid_request");
    std::string token = (*form)["token"];
    if (token.empty()) return OAuthError(400, "invalid_request", "token is required");
    if (token.starts_with(kOAuthRefreshPrefix)) {
      const std::string client_id = (*form)["client_id"];
      absl::Time now = Now();
      absl::Status st = store_.WithTransaction([&](storage::ControlStore& tx) -> absl::Status {
        absl::StatusOr<storage::Challenge> rt = tx.TakeChallenge(crypto::Sha256Hex(token), kRefreshKind, now);
        if (!rt.ok()) return absl::IsNotFound(rt.status()) ? absl::OkStatus() : rt.status();
        std::string grant_id = StringMember(ParsePayload(rt->payload), "grant");
        absl::StatusOr<storage::Challenge> g = tx.TakeChallenge(grant_id, kGrantKind, now);
        if (!g.ok()) return absl::IsNotFound(g.status()) ? absl::OkStatus() : g.status();
        json::object grant = ParsePayload(g->payload);
        if (!client_id.empty() && StringMember(grant, "client") != crypto::Sha256Hex(client_id)) {
          return absl::PermissionDeniedError("another client's token");  // rolled back: nothing revoked
        }
        return Audit(tx, "auth.oauth.revoke", "success", "user:" + g->user_id, StringMember(grant, "org"), req,
                     {{"client", StringMember(grant, "client_name")}, {"grant", grant_id}});
      });
      if (!st.ok() && !absl::IsPermissionDenied(st)) return st;
    }
    net::Response resp = services::JsonResponse(200, json::object{});
    resp.WithHeader("Cache-Control", "no-store");
    return resp;
  });

  // The clients you authorized (docs/design/oauth.md §7b): a login session lists its user's
  // live grants in every org and revokes one. An API key — an agent's credential — cannot.
  Route(http::verb::get, "/v1/account/oauth-grants", r, [this](net::Request& req) -> absl::StatusOr<net::Response> {
    EV_ASSIGN_OR_RETURN(Principal p, RequireSession(req, "the apps you authorized"));
    EV_ASSIGN_OR_RETURN(std::vector<storage::Challenge> grants,
                        store_.ListChallengesOfUser(p.user_id, kGrantKind, Now(), 1000));
    json::array out;
    for (const storage::Challenge& g : grants) out.push_back(GrantJson(g));
    return services::JsonResponse(200, json::object{{"grants", std::move(out)}});
  });

  Route(http::verb::delete_, "/v1/account/oauth-grants/{id}", r,
        [this](net::Request& req) -> absl::StatusOr<net::Response> {
          EV_ASSIGN_OR_RETURN(Principal p, RequireSession(req, "the apps you authorized"));
          EV_ASSIGN_OR_RETURN(std::string id, GrantIdParam(req));
          EV_ASSIGN_OR_RETURN(json::object revoked,
                              RevokeGrant(req, p, id, [&](storage::ControlStore&, const storage::Challenge& g) -> absl::Status {
                                // Another user's grant is answered like an absent one.
                                if (g.user_id != p.user_id) return absl::NotFoundError("you have no live grant with that id");
                                return absl::OkStatus();
                              }, "account"));
          return services::JsonResponse(200, revoked);
        });

  // The org's grants (docs/design/oauth.md §7c): an admin sees which agents hold access to the
  // org, through whom, and ends any of them. Nobody acts above their role: a grant of an admin
  // or owner is an owner's (or its own user's) to revoke.
  Route(http::verb::get, "/v1/org/oauth-grants", r, [this](net::Request& req) -> absl::StatusOr<net::Response> {
    EV_ASSIGN_OR_RETURN(Principal p, Require(req, storage::Role::kAdmin, true));
    EV_ASSIGN_OR_RETURN(std::vector<storage::Membership> members, store_.ListMembers(p.org_id));
    const absl::Time now = Now();
    json::array out;
    for (const storage::Membership& m : members) {
      EV_ASSIGN_OR_RETURN(std::vector<storage::Challenge> grants,
                          store_.ListChallengesOfUser(m.user_id, kGrantKind, now, 1000));
      absl::StatusOr<storage::User> user = store_.GetUser(m.user_id);
      for (const storage::Challenge& g : grants) {
        if (StringMember(ParsePayload(g.payload), "org") != p.org_id) continue;  // that user's grant in another org
        json::object o = GrantJson(g);
        o["user"] = json::object{{"id", m.user_id},
                                 {"email", user.ok() ? user->email : ""},
                                 {"role", storage::RoleName(m.role)}};
        out.push_back(std::move(o));
      }
    }
    return services::JsonResponse(200, json::object{{"grants", std::move(out)}});
  });

  Route(http::verb::delete_, "/v1/org/oauth-grants/{id}", r, [this](net::Request& req) -> absl::StatusOr<net::Response> {
    EV_ASSIGN_OR_RETURN(Principal p, Require(req, storage::Role::kAdmin, true));
    EV_ASSIGN_OR_RETURN(std::string id, GrantIdParam(req));
    EV_ASSIGN_OR_RETURN(json::object revoked,
                        RevokeGrant(req, p, id, [&](storage::ControlStore& tx, const storage::Challenge& g) -> absl::Status {
                          // Another org's grant is answered like an absent one.
                          if (StringMember(ParsePayload(g.payload), "org") != p.org_id) {
                            return absl::NotFoundError("the org has no live grant with that id");
                          }
                          if (g.user_id == p.user_id || p.role == storage::Role::kOwner) return absl::OkStatus();
                          // Read in the revoking transaction; any error refuses (fail closed). A
                          // holder no longer a member holds no role here.
                          absl::StatusOr<storage::Membership> holder = tx.GetMembership(p.org_id, g.user_id);
                          if (!holder.ok() && !absl::IsNotFound(holder.status())) return holder.status();
                          if (holder.ok() && holder->role >= storage::Role::kAdmin) {
                            return absl::PermissionDeniedError("only an owner can revoke a grant of an admin or owner");
                          }
                          return absl::OkStatus();
                        }, "org"));
    return services::JsonResponse(200, revoked);
  });
}

absl::StatusOr<std::string> AuthService::Impl::GrantIdParam(const net::Request& req) const {
  std::string id(req.Param("id"));
  if (id.size() > 64 || !id.starts_with("ogr_")) {
    return absl::InvalidArgumentError("a grant id is ogr_… as GET /v1/account/oauth-grants or /v1/org/oauth-grants lists it");
  }
  return id;
}

absl::StatusOr<json::object> AuthService::Impl::RevokeGrant(
    const net::Request& req, const Principal& p, const std::string& id,
    const std::function<absl::Status(storage::ControlStore&, const storage::Challenge&)>& may_revoke,
    std::string_view via) {
  const absl::Time now = Now();
  json::object revoked;
  EV_RETURN_IF_ERROR(store_.WithTransaction([&](storage::ControlStore& tx) -> absl::Status {
    absl::StatusOr<storage::Challenge> g = tx.GetChallenge(id, kGrantKind, now);
    if (absl::IsNotFound(g.status())) return absl::NotFoundError("no live grant has that id");
    EV_RETURN_IF_ERROR(g.status());
    EV_RETURN_IF_ERROR(may_revoke(tx, *g));
    revoked = GrantJson(*g);
    // Its refresh tokens name the grant: without it every one of them is refused
    // (and the api's recheck of "grant:<id>" stops its access tokens).
    EV_RETURN_IF_ERROR(tx.TakeChallenge(id, kGrantKind, now).status());
    json::object grant = ParsePayload(g->payload);
    return Audit(tx, "auth.oauth.revoke", "success", p.ActorId(), StringMember(grant, "org"), req,
                 {{"client", StringMember(grant, "client_name")}, {"grant", id}, {"user_id", g->user_id}, {"via", via}});
  }));
  revoked["revoked"] = true;
  return revoked;
}

json::object AuthService::Impl::GrantJson(const storage::Challenge& g) const {
  json::object p = ParsePayload(g.payload);
  auto time_member = [&](std::string_view name) -> json::value {
    const json::value* v = p.if_contains(name);
    if (v == nullptr || !v->is_int64()) return nullptr;
    return json::value(services::FormatTime(absl::FromUnixSeconds(v->get_int64())));
  };
  std::string resource = StringMember(p, "resource");
  return json::object{{"id", g.id},
                      {"client", {{"name", StringMember(p, "client_name")}, {"ref", StringMember(p, "client").substr(0, 16)}}},
                      {"scopes", ToJson(StringsMember(p, "scopes"))},
                      {"resource", resource.empty() ? options_.oauth.resource : resource},
                      {"org_id", StringMember(p, "org")},
                      {"created_at", time_member("created_at")},
                      {"last_used_at", time_member("last_used_at")},
                      {"expires_at", services::FormatTime(g.expires_at)}};
}

absl::StatusOr<std::optional<AuthService::Impl::Rights>> AuthService::Impl::GrantRights(std::string_view org_id,
                                                                                          std::string_view grant_id) {
  absl::StatusOr<storage::Challenge> g = store_.GetChallenge(grant_id, kGrantKind, Now());
  if (absl::IsNotFound(g.status())) return std::nullopt;
  EV_RETURN_IF_ERROR(g.status());
  json::object grant = ParsePayload(g->payload);
  if (StringMember(grant, "org") != org_id) return std::nullopt;
  absl::StatusOr<std::optional<Rights>> user = CurrentRights(org_id, "user:" + g->user_id);
  if (!user.ok() || !user->has_value()) return user;
  Rights rights = **user;
  rights.scopes = CapScopes(StringsMember(grant, "scopes"), rights.role);
  if (rights.scopes.empty()) return std::nullopt;
  return rights;
}

}  // namespace edgevault::auth
