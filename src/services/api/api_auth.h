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
//
// Recheck (docs/design/principal-recheck.md): a JWT stays valid until it expires and an API
// key's identity is cached, so on their own they would let a revoked key, a removed or
// disabled member or a lowered role keep working for minutes. Every principal let in during
// the last `track_for` is therefore tracked, and RecheckOnce() (every `recheck_interval` on
// the thread Start() runs) asks auth for the rights each holds now: one that holds none is
// refused (401) from then on, and a lowered role or narrowed scopes apply to its next
// request. The window is one recheck interval.

#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <boost/json.hpp>

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
  // An OAuth access token's grant (claim "grant", docs/design/oauth.md): the grant is
  // rechecked as "grant:<id>" beside the user, so revoking it stops the token within one
  // recheck interval. "" for API keys and ordinary JWTs.
  std::string grant;
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
  // Recheck period (config api.principal_recheck_ms) and how long a principal stays tracked
  // after its last request: longer than any JWT auth issues (auth.token_ttl_s ≤ 300 s) and
  // than api_key_cache_ttl, so no credential it let in outlives its tracking.
  absl::Duration recheck_interval = absl::Seconds(1);
  absl::Duration track_for = absl::Minutes(10);
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
  ~ApiAuth();  // Stop()
  ApiAuth(const ApiAuth&) = delete;
  ApiAuth& operator=(const ApiAuth&) = delete;

  // Asks auth (POST /internal/v1/principals/check) for the current rights of every tracked
  // principal and applies the answer; forgets principals unseen for `track_for`. Unavailable
  // when auth cannot be asked (the previous answers stay in force).
  absl::Status RecheckOnce();
  // True when a recheck found that `p` holds no rights any more. A long-lived answer (an
  // event stream) asks before each thing it sends, and holds a WatchRevocation meanwhile.
  bool Revoked(const Principal& p);
  // Keeps `p` tracked (pinned), however long its stream stays open, and calls `on_revoked` once, on the recheck thread and with no lock of this
  // class held, from the first recheck that finds it holds no rights (so an idle stream is
  // closed within one recheck interval, not at its next send). Returns an id for
  // Unwatch, which unpins; a watch that has fired is already unpinned and Unwatch does
  // nothing. `on_revoked` may call Unwatch (of any id) but must not block.
  uint64_t WatchRevocation(const Principal& p, std::function<void()> on_revoked);
  void Unwatch(uint64_t id);
  // Starts / stops the thread that calls RecheckOnce() every recheck_interval (idempotent).
  void Start();
  void Stop();

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
  // POSTs `body` to auth's internal `target` (signed by auth_client): the JSON object of a
  // 200; Unauthenticated for a 401 (the caller says what it means); Unavailable otherwise.
  absl::StatusOr<boost::json::object> CallAuth(std::string_view target, boost::json::object body);
  // Tracks `p` and narrows it to what the last recheck found (Unauthenticated when it
  // holds no rights any more).
  absl::StatusOr<Principal> Admit(Principal p);
  base::NextRun RecheckInBackground();

  ApiAuthOptions options_;
  std::mutex mu_;
  struct Cached {
    Principal principal;
    absl::Time expires;
  };
  std::map<std::string, Cached> key_cache_;  // sha256(key) → identity
  struct Tracked {
    absl::Time last_seen;
    bool checked = false;  // false until a recheck answered for it
    bool gone = false;     // holds no rights in the org any more
    int pins = 0;          // open event streams; a pinned principal is never forgotten
    storage::Role role = storage::Role::kViewer;
    std::vector<std::string> scopes;  // API keys only
  };
  std::map<std::pair<std::string, std::string>, Tracked> tracked_;  // (org, actor) → state
  // The tracked keys of `p`: (org, actor), and (org, "grant:<id>") for an OAuth token.
  static std::vector<std::pair<std::string, std::string>> KeysOf(const Principal& p);
  bool GoneLocked(const Principal& p) const;  // needs mu_
  struct Watch {
    std::vector<std::pair<std::string, std::string>> keys;  // KeysOf the principal
    std::function<void()> on_revoked;
  };
  std::map<uint64_t, Watch> watches_;
  uint64_t next_watch_ = 1;

  std::mutex task_mu_;  // guards recheck_task_
  std::unique_ptr<base::PeriodicTask> recheck_task_;
  bool recheck_failing_ = false;  // the recheck task's only (logged once per outage)
};

}  // namespace edgevault::api
