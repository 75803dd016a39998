#pragma once
// Authentication and authorization in the api (issue 4 §1). A bearer token is either an
// EdDSA JWT from auth (verified locally against the cached JWKS) or an API key (`evk_`,
// exchanged through auth's signed internal endpoint for the key's identity, cached
// briefly by the key's SHA-256). Roles × actions × environment decide, then API-key
// scopes narrow further:
//
//   action              role needed                           scope
//   read                viewer                                read
//   write (env)         developer; admin when env protected   write
//   read secret values  developer; admin when env protected   secrets:read
//   administer          admin (workspaces, environments)      admin
//
// Unauthenticated (401) when the token is missing or invalid; PermissionDenied (403)
// when it is valid but not allowed; ResourceExhausted (429, Retry-After) when the principal
// is over its request rate (ApiAuthOptions::rate_limit; config api.rate_limit_per_second,
// counted across api nodes when rate_limit.url names a Redis). Thread-safety: all methods
// are thread-safe.

#include <map>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "src/base/env.h"
#include "src/net/http_client.h"
#include "src/net/router.h"
#include "src/services/common/jwks_cache.h"
#include "src/storage/control_store.h"
#include "src/storage/rate_limiter.h"

namespace edgevault::api {

struct Principal {
  std::string subject;  // "usr_..." or "key:key_..."
  std::string org_id;
  storage::Role role = storage::Role::kViewer;
  std::vector<std::string> scopes;
  bool HasScope(std::string_view s) const;
  std::string ActorId() const;  // "user:usr_..." / "key:key_..."
};

enum class Action { kRead, kWrite, kReadSecretValues, kAdminister };

struct ApiAuthOptions {
  services::JwksCache* jwks = nullptr;      // not owned
  net::HttpClient* auth_client = nullptr;   // signs its requests (internal key); not owned
  std::string auth_host = "127.0.0.1";
  uint16_t auth_port = 0;
  base::Env* env = nullptr;
  absl::Duration api_key_cache_ttl = absl::Seconds(30);
  // Requests per principal (user or API key), counted under "api:<subject>"; count 0 =
  // unlimited. The limiter is not owned (nullptr = unlimited); when it fails, the request
  // is admitted.
  storage::RateLimiter* rate_limiter = nullptr;
  storage::RateLimit rate_limit;
  // The api's MCP resource (oauth.mcp_resource; "" = none). A JWT whose audience is this —
  // an OAuth access token for MCP clients (docs/design/oauth.md) — is accepted only on
  // /mcp and on the requests MCP tools make to the REST handlers (kAgentHeader); every
  // other route refuses it (401, wrong audience).
  std::string mcp_resource;
};

// The agent an MCP tool acts as (docs/design/mcp.md §6), on the requests the tool layer
// makes to the handlers. The router strips it from every outside request.
inline constexpr std::string_view kAgentHeader = "EdgeVault-Agent";

class ApiAuth {
 public:
  explicit ApiAuth(ApiAuthOptions options) : options_(std::move(options)) {}

  // The request's principal, counted against its rate limit (one per request).
  absl::StatusOr<Principal> Authenticate(const net::Request& req);
  // The same without counting (for a second look at a request already authenticated).
  absl::StatusOr<Principal> Identify(const net::Request& req);

  // OK when `p` may do `action` touching `environments` of which `protected_envs` are
  // protected. PermissionDenied names what is missing.
  static absl::Status Authorize(const Principal& p, Action action,
                                const std::set<std::string>& protected_envs);

 private:
  absl::StatusOr<Principal> FromApiKey(std::string_view key);

  ApiAuthOptions options_;
  std::mutex mu_;
  struct Cached {
    Principal principal;
    absl::Time expires;
  };
  std::map<std::string, Cached> key_cache_;  // sha256(key) → identity
};

}  // namespace edgevault::api
