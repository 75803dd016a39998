#include "src/services/api/api_auth.h"

#include <boost/json.hpp>

#include "src/base/status.h"
#include "src/base/strings.h"
#include "src/crypto/hash.h"
#include "src/services/common/http_json.h"

namespace edgevault::api {

namespace json = boost::json;
using storage::Role;

bool Principal::HasScope(std::string_view s) const {
  for (const auto& x : scopes) {
    if (x == s) return true;
  }
  return false;
}

std::string Principal::ActorId() const {
  return subject.rfind("key:", 0) == 0 ? subject : "user:" + subject;
}

namespace {

absl::StatusOr<Principal> FromClaims(const crypto::JwtClaims& c) {
  Principal p;
  p.subject = c.sub;
  p.org_id = c.org;
  if (c.roles.empty()) return absl::UnauthenticatedError("the token carries no role");
  absl::StatusOr<Role> role = storage::ParseRole(c.roles.front());
  if (!role.ok()) return absl::UnauthenticatedError("the token carries an unknown role");
  p.role = *role;
  p.scopes = c.scopes;
  if (p.org_id.empty()) return absl::UnauthenticatedError("the token carries no org");
  return p;
}

}  // namespace

absl::StatusOr<Principal> ApiAuth::FromApiKey(std::string_view key) {
  std::string hash = crypto::Sha256Hex(key);
  absl::Time now = options_.env->Now();
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = key_cache_.find(hash);
    if (it != key_cache_.end() && it->second.expires > now) return it->second.principal;
  }
  net::ClientRequest req;
  req.method = "POST";
  req.target = "/internal/v1/api-keys/exchange";
  req.headers.push_back({"Content-Type", "application/json"});
  req.body = json::serialize(json::object{{"api_key", key}});
  absl::StatusOr<net::ClientResponse> resp =
      options_.auth_client->Do(options_.auth_host, options_.auth_port, req);
  if (!resp.ok()) {
    return absl::UnavailableError(base::ToAbsl("the auth service is unreachable: " +
                                               std::string(resp.status().message())));
  }
  if (resp->status == 401) return absl::UnauthenticatedError("the API key is not valid");
  if (resp->status != 200) {
    return absl::UnavailableError(base::ToAbsl("the auth service answered HTTP " +
                                               std::to_string(resp->status)));
  }
  boost::system::error_code ec;
  json::value v = json::parse(resp->body, ec);
  const json::value* token = ec || !v.is_object() ? nullptr : v.get_object().if_contains("token");
  if (token == nullptr || !token->is_string()) {
    return absl::UnavailableError("the auth service answered an unexpected body");
  }
  // The exchanged JWT is verified like any other: auth vouches for the key through it.
  EV_ASSIGN_OR_RETURN(crypto::JwtClaims claims, options_.jwks->Verify(std::string(token->get_string())));
  EV_ASSIGN_OR_RETURN(Principal p, FromClaims(claims));
  std::lock_guard<std::mutex> lock(mu_);
  if (key_cache_.size() > 10000) key_cache_.clear();
  // Cached for at most the TTL and never beyond the token's own expiry.
  key_cache_[hash] = {p, std::min(now + options_.api_key_cache_ttl, claims.exp)};
  return p;
}

absl::StatusOr<Principal> ApiAuth::Authenticate(const net::Request& req) {
  EV_ASSIGN_OR_RETURN(Principal p, Identify(req));
  if (options_.rate_limiter == nullptr || options_.rate_limit.count <= 0) return p;
  absl::StatusOr<absl::Duration> wait =
      options_.rate_limiter->Take("api:" + p.subject, options_.rate_limit);
  if (!wait.ok() || *wait <= absl::ZeroDuration()) return p;  // a failing limiter admits
  const int64_t seconds = storage::RetryAfterSeconds(*wait);
  return services::WithRetryAfter(
      services::WithErrorCode(
          absl::ResourceExhaustedError(base::ToAbsl(
              "rate limit of " + std::to_string(options_.rate_limit.count) +
              " requests per second for this user or API key exceeded; retry after " +
              std::to_string(seconds) + " s")),
          "rate_limited"),
      seconds);
}

absl::StatusOr<Principal> ApiAuth::Identify(const net::Request& req) {
  std::string_view token = services::BearerToken(req);
  if (token.empty()) token = req.Header("X-API-Key");
  if (token.empty()) {
    return absl::UnauthenticatedError(
        "send a token from POST /v1/token (auth) or an API key as 'Authorization: Bearer <token>'");
  }
  if (token.substr(0, 4) == "evk_") return FromApiKey(token);
  if (token.substr(0, 5) == "evsn_") {
    return absl::UnauthenticatedError(
        "a login session is not accepted here; exchange it for a token with POST /v1/token on auth");
  }
  absl::StatusOr<crypto::JwtClaims> claims = options_.jwks->Verify(token);
  if (absl::IsUnauthenticated(claims.status()) && !options_.mcp_resource.empty() &&
      (req.path() == "/mcp" || !req.Header(kAgentHeader).empty())) {
    // An OAuth token is bound to the MCP resource (RFC 8707): good here, nowhere else.
    absl::StatusOr<crypto::JwtClaims> bound = options_.jwks->Verify(token, options_.mcp_resource);
    if (bound.ok()) claims = std::move(bound);
  }
  if (!claims.ok()) return claims.status();
  return FromClaims(*claims);
}

absl::Status ApiAuth::Authorize(const Principal& p, Action action,
                                const std::set<std::string>& protected_envs) {
  auto deny = [&](std::string why) {
    return absl::PermissionDeniedError(base::ToAbsl(why));
  };
  std::string role(storage::RoleName(p.role));
  switch (action) {
    case Action::kRead:
      if (!p.HasScope("read")) return deny("this token lacks the 'read' scope");
      return absl::OkStatus();
    case Action::kWrite:
    case Action::kReadSecretValues: {
      const char* scope = action == Action::kWrite ? "write" : "secrets:read";
      const char* what = action == Action::kWrite ? "writing" : "reading secret values";
      if (p.role < Role::kDeveloper) {
        return deny(std::string(what) + " needs the developer role or higher; you are " + role);
      }
      if (!protected_envs.empty() && p.role < Role::kAdmin) {
        return deny(std::string(what) + " in protected environment \"" + *protected_envs.begin() +
                    "\" needs the admin role; you are " + role);
      }
      if (!p.HasScope(scope)) return deny(std::string("this token lacks the '") + scope + "' scope");
      return absl::OkStatus();
    }
    case Action::kAdminister:
      if (p.role < Role::kAdmin) return deny("this needs the admin role or higher; you are " + role);
      if (!p.HasScope("admin")) return deny("this token lacks the 'admin' scope");
      return absl::OkStatus();
  }
  return deny("unknown action");
}

}  // namespace edgevault::api
