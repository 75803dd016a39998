#pragma once
// The pure parts of edgevault-auth's OAuth 2.1 authorization server for MCP clients
// (docs/design/oauth.md): dynamic client registration (RFC 7591) validation and the
// stateless, signed client ids it hands out; redirect-URI rules (loopback http or https
// only, RFC 8252 loopback port relaxation); PKCE S256 (RFC 7636); scope parsing and
// capping by role; application/x-www-form-urlencoded bodies. No I/O, no clock reads:
// callers pass `now`. The handlers live in oauth_handlers.cc.
//
//   EV_ASSIGN_OR_RETURN(OAuthClient c, ParseClientRegistration(body, now));
//   std::string id = EncodeClientId(c, key);                 // evoc_…
//   EV_ASSIGN_OR_RETURN(OAuthClient back, DecodeClientId(id, key));
//   if (!VerifyPkceS256(verifier, challenge)) → invalid_grant
//
// Errors carry an OAuth error code (services::WithErrorCode): "invalid_client_metadata",
// "invalid_redirect_uri", "invalid_client", "invalid_request", "invalid_scope". Every
// function is thread-safe (no shared state).

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json.hpp>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "src/storage/control_types.h"

namespace edgevault::auth {

inline constexpr std::string_view kOAuthClientIdPrefix = "evoc_";
inline constexpr std::string_view kOAuthCodePrefix = "evoa_";
inline constexpr std::string_view kOAuthRefreshPrefix = "evor_";
// The scopes an OAuth grant may carry (API-key scopes minus "admin": no MCP tool
// administers anything).
inline constexpr std::string_view kOAuthScopes[] = {"read", "write", "secrets:read"};

// A registered public client, as carried inside its client id.
struct OAuthClient {
  std::string name;                        // client_name (≤ 100 bytes, printable)
  std::vector<std::string> redirect_uris;  // 1–5, each valid per ValidateRedirectUri
  int64_t issued_at = 0;                   // Unix seconds
};

// OK for an absolute URI this server redirects to: `https://…`, or `http://` with host
// 127.0.0.1, [::1] or localhost (native clients, RFC 8252 §7.3); no fragment, no user
// info, at most 512 bytes, no control characters or spaces. InvalidArgument
// ("invalid_redirect_uri") otherwise.
absl::Status ValidateRedirectUri(std::string_view uri);

// Whether `requested` names the registered `registered` redirect URI: equal strings, or
// — only for http loopback URIs — equal but for the port (RFC 8252 §7.3: a native client
// picks its port when it starts).
bool RedirectUriMatches(std::string_view registered, std::string_view requested);

// An RFC 7591 registration request → the client. Public clients only:
// token_endpoint_auth_method absent or "none"; grant_types ⊆ {authorization_code,
// refresh_token}; response_types ⊆ {code}; redirect_uris required. Unknown members are
// ignored (RFC 7591 §2). InvalidArgument with code "invalid_redirect_uri" or
// "invalid_client_metadata".
absl::StatusOr<OAuthClient> ParseClientRegistration(const boost::json::object& body, int64_t now_unix);

// "evoc_" + base64url(JSON {n, r, t}) + "." + base64url(HMAC-SHA256(key, payload)).
std::string EncodeClientId(const OAuthClient& client, std::string_view key);
// InvalidArgument ("invalid_client") when the id is malformed, its MAC does not verify
// under `key` or its payload is not a valid client.
absl::StatusOr<OAuthClient> DecodeClientId(std::string_view client_id, std::string_view key);

// A PKCE code_challenge for S256: exactly 43 base64url characters.
bool ValidCodeChallenge(std::string_view challenge);
// RFC 7636 §4.6 with S256: the verifier is 43–128 characters of [A-Za-z0-9-._~] and
// BASE64URL(SHA256(verifier)) equals the challenge (constant-time comparison).
bool VerifyPkceS256(std::string_view verifier, std::string_view challenge);

// A space-separated scope parameter → the scopes in kOAuthScopes order, deduplicated.
// Empty → {"read"}. InvalidArgument ("invalid_scope") for an unknown scope.
absl::StatusOr<std::vector<std::string>> ParseScopes(std::string_view scope);
// The scopes of `scopes` that `role` may use: viewers read; developers and above also
// write and secrets:read. A grant never carries more than its user's role allows.
std::vector<std::string> CapScopes(const std::vector<std::string>& scopes, storage::Role role);
std::string JoinScopes(const std::vector<std::string>& scopes);

// An application/x-www-form-urlencoded body → name → value (the first of repeated
// names). InvalidArgument ("invalid_request") when a name repeats (RFC 6749 §3.1: request
// parameters must not be included more than once) or the body exceeds 16 KiB.
absl::StatusOr<std::map<std::string, std::string>> ParseForm(std::string_view body);

// `uri` with `params` appended as a query (after "?" or "&"), each percent-encoded.
std::string AppendQuery(std::string_view uri, const std::vector<std::pair<std::string, std::string>>& params);

}  // namespace edgevault::auth
