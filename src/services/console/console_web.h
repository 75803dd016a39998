#pragma once
// The pure pieces of the console's backend-for-frontend (docs/design/console.md): the
// session cookie, the CSRF rules, asset-path checks, content types, the security headers,
// which auth routes a browser may reach, and an incremental parser of an upstream SSE
// stream. No I/O, no clock; everything here is a function of its arguments.
//
//   if (absl::Status s = CheckSameOrigin(req.Header("Origin"), req.Header("Host"),
//                                        req.Header("Sec-Fetch-Site"), /*tls=*/false);
//       !s.ok()) return CsrfRefusal(s);
//   std::optional<std::string> rel = SanitizeAssetPath("app.3f2a.js");  // "assets/app.3f2a.js"
//
// Thread-safety: free functions are thread-safe; an SseParser belongs to one thread.

#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "src/net/router.h"
#include "src/net/sse.h"

namespace edgevault::console {

// "__Host-ev_session" over TLS, "ev_session" otherwise (the __Host- prefix needs Secure).
std::string_view SessionCookieName(bool tls);
// The Set-Cookie value that stores `token`: HttpOnly; SameSite=Strict; Path=/ (+ Secure
// over TLS). No Max-Age: auth's idle and absolute expiry decide, and a browser session
// cookie ends with the browser anyway.
std::string SessionCookie(std::string_view token, bool tls);
// The Set-Cookie value that deletes the session cookie (Max-Age=0).
std::string ClearedSessionCookie(bool tls);
// The value of cookie `name` in a Cookie request header ("a=1; b=2"); "" when absent.
std::string_view CookieValue(std::string_view cookie_header, std::string_view name);

// Rules 1 and 2 of the contract for a state-changing request: Sec-Fetch-Site, when
// present, must be "same-origin"; Origin must be present and equal to the console's own
// origin, "http(s)://" + the request's Host. PermissionDenied saying which rule failed.
absl::Status CheckSameOrigin(std::string_view origin, std::string_view host,
                             std::string_view sec_fetch_site, bool tls);
// True for POST, PUT, PATCH and DELETE (and any method that is not GET/HEAD/OPTIONS).
bool IsStateChanging(boost::beast::http::verb method);
// Lower-hex HMAC-SHA256(key, session_token): the session's CSRF token.
std::string CsrfToken(std::string_view key, std::string_view session_token);
// Constant-time equality of two tokens.
bool TokensEqual(std::string_view a, std::string_view b);

// `name` (the path after "/assets/", as sent, not decoded) when it is a safe relative
// file name: segments of [A-Za-z0-9._-] only (so no '%', '\\', NUL or encoded slash),
// none empty, "." or "..", at most 512 bytes. nullopt otherwise.
std::optional<std::string> SanitizeAssetPath(std::string_view name);
// The Content-Type for a file name by its extension (application/octet-stream when
// unknown).
std::string_view ContentTypeFor(std::string_view name);

// Adds the headers every console response carries; `bff` adds Cache-Control: no-store,
// `tls` (the console serves HTTPS) Strict-Transport-Security.
void AddSecurityHeaders(net::Response& response, bool bff, bool tls = false);

// Whether `/bff/auth/<path>` may reach auth's `/v1/<path>`: the account and org routes
// (mfa, passkeys, sessions, api-keys, members, users, invitations, org). Never token,
// login, logout or password (the cookie-setting ones have their own /bff/v1 routes).
bool AuthPathAllowed(std::string_view path);

// The address part of a peer "address:port" ("127.0.0.1:5000" → "127.0.0.1",
// "[::1]:5000" → "::1").
std::string_view PeerAddress(std::string_view remote);

// Parses a text/event-stream byte by byte as it arrives (any chunking) and reports each
// complete event and comment, so a relay can pass them on without buffering the stream.
class SseParser {
 public:
  SseParser(std::function<void(const net::SseEvent&)> on_event,
            std::function<void(std::string_view)> on_comment);
  void Feed(std::string_view bytes);

 private:
  void Line(std::string_view line);

  std::function<void(const net::SseEvent&)> on_event_;
  std::function<void(std::string_view)> on_comment_;
  std::string line_;
  bool after_cr_ = false;
  net::SseEvent event_;
  bool has_data_ = false;
  bool has_fields_ = false;
};

}  // namespace edgevault::console
