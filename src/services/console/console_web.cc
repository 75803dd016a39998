#include "src/services/console/console_web.h"

#include <openssl/crypto.h>

#include <array>
#include <utility>

#include "src/base/encoding.h"
#include "src/base/strings.h"
#include "src/crypto/hash.h"

namespace edgevault::console {

namespace http = boost::beast::http;

std::string_view SessionCookieName(bool tls) { return tls ? "__Host-ev_session" : "ev_session"; }

std::string SessionCookie(std::string_view token, bool tls) {
  return base::StrCat(SessionCookieName(tls), "=", token, "; Path=/; HttpOnly; SameSite=Strict",
                      tls ? "; Secure" : "");
}

std::string ClearedSessionCookie(bool tls) {
  return base::StrCat(SessionCookieName(tls), "=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict",
                      tls ? "; Secure" : "");
}

std::string_view CookieValue(std::string_view cookie_header, std::string_view name) {
  for (std::string_view pair : base::Split(cookie_header, ';')) {
    while (!pair.empty() && (pair.front() == ' ' || pair.front() == '\t')) pair.remove_prefix(1);
    size_t eq = pair.find('=');
    if (eq == std::string_view::npos || pair.substr(0, eq) != name) continue;
    std::string_view value = pair.substr(eq + 1);
    while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
    if (value.size() >= 2 && value.front() == '"' && value.back() == '"') {
      value = value.substr(1, value.size() - 2);
    }
    return value;
  }
  return {};
}

absl::Status CheckSameOrigin(std::string_view origin, std::string_view host,
                             std::string_view sec_fetch_site, bool tls) {
  if (!sec_fetch_site.empty() && sec_fetch_site != "same-origin") {
    return absl::PermissionDeniedError(base::ToAbsl(base::StrCat(
        "cross-site request refused (Sec-Fetch-Site: ", sec_fetch_site,
        "); state-changing /bff/ requests must come from the console's own pages")));
  }
  if (origin.empty()) {
    return absl::PermissionDeniedError(
        "the request has no Origin header; state-changing /bff/ requests must come from the "
        "console's own pages");
  }
  if (host.empty() || origin != base::StrCat(tls ? "https://" : "http://", host)) {
    return absl::PermissionDeniedError(
        "the request's Origin is not the console's own origin; state-changing /bff/ requests "
        "must come from the console's own pages");
  }
  return absl::OkStatus();
}

bool IsStateChanging(http::verb method) {
  return method != http::verb::get && method != http::verb::head && method != http::verb::options;
}

std::string CsrfToken(std::string_view key, std::string_view session_token) {
  return base::HexEncode(crypto::HmacSha256(key, session_token));
}

bool TokensEqual(std::string_view a, std::string_view b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

std::optional<std::string> SanitizeAssetPath(std::string_view name) {
  if (name.empty() || name.size() > 512) return std::nullopt;
  for (std::string_view seg : base::Split(name, '/')) {
    if (seg.empty() || seg == "." || seg == "..") return std::nullopt;
    for (char c : seg) {
      const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      c == '.' || c == '_' || c == '-';
      if (!ok) return std::nullopt;
    }
  }
  return base::StrCat("assets/", name);
}

std::string_view ContentTypeFor(std::string_view name) {
  static constexpr std::array<std::pair<std::string_view, std::string_view>, 16> kTypes = {{
      {".html", "text/html; charset=utf-8"},
      {".js", "text/javascript; charset=utf-8"},
      {".mjs", "text/javascript; charset=utf-8"},
      {".css", "text/css; charset=utf-8"},
      {".json", "application/json"},
      {".map", "application/json"},
      {".svg", "image/svg+xml"},
      {".png", "image/png"},
      {".jpg", "image/jpeg"},
      {".jpeg", "image/jpeg"},
      {".gif", "image/gif"},
      {".ico", "image/x-icon"},
      {".webp", "image/webp"},
      {".woff2", "font/woff2"},
      {".woff", "font/woff"},
      {".txt", "text/plain; charset=utf-8"},
  }};
  for (const auto& [ext, type] : kTypes) {
    if (name.size() > ext.size() && name.substr(name.size() - ext.size()) == ext) return type;
  }
  return "application/octet-stream";
}

void AddSecurityHeaders(net::Response& response, bool bff, bool tls) {
  response.headers.emplace_back(
      "Content-Security-Policy",
      "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
      "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'; "
      "object-src 'none'");
  response.headers.emplace_back("X-Content-Type-Options", "nosniff");
  response.headers.emplace_back("Referrer-Policy", "no-referrer");
  response.headers.emplace_back("X-Frame-Options", "DENY");
  if (bff) response.headers.emplace_back("Cache-Control", "no-store");
  // Only over TLS: sent over plain HTTP it would be ignored, and it must not pin a host
  // whose console is not served over HTTPS.
  if (tls) response.headers.emplace_back("Strict-Transport-Security", "max-age=31536000");
}

bool AuthPathAllowed(std::string_view path) {
  // "oauth": the consent page's GET/POST /v1/oauth/authorize (docs/design/oauth.md);
  // "account": the account page's authorized apps (/v1/account/oauth-grants).
  static constexpr std::array<std::string_view, 10> kAllowed = {
      "mfa", "passkeys", "sessions", "api-keys", "members", "users", "invitations", "org", "oauth", "account"};
  std::string_view first = path.substr(0, path.find('/'));
  for (std::string_view a : kAllowed) {
    if (first == a) return true;
  }
  return false;
}

std::string_view PeerAddress(std::string_view remote) {
  if (!remote.empty() && remote.front() == '[') {
    size_t end = remote.find(']');
    return end == std::string_view::npos ? remote : remote.substr(1, end - 1);
  }
  size_t colon = remote.rfind(':');
  // More than one ':' without brackets is a bare IPv6 address.
  if (colon == std::string_view::npos || remote.find(':') != colon) return remote;
  return remote.substr(0, colon);
}

SseParser::SseParser(std::function<void(const net::SseEvent&)> on_event,
                     std::function<void(std::string_view)> on_comment)
    : on_event_(std::move(on_event)), on_comment_(std::move(on_comment)) {}

void SseParser::Feed(std::string_view bytes) {
  for (char c : bytes) {
    if (after_cr_) {
      after_cr_ = false;
      if (c == '\n') continue;  // the LF of a CRLF
    }
    if (c == '\r' || c == '\n') {
      after_cr_ = c == '\r';
      std::string line = std::move(line_);
      line_.clear();
      Line(line);
      continue;
    }
    // A line longer than any event the api sends is cut, not grown without bound.
    if (line_.size() < (1u << 20)) line_.push_back(c);
  }
}

void SseParser::Line(std::string_view line) {
  if (line.empty()) {  // end of an event
    if (has_data_) {
      if (!event_.data.empty() && event_.data.back() == '\n') event_.data.pop_back();
      on_event_(event_);
    }
    event_ = {};
    has_data_ = has_fields_ = false;
    return;
  }
  if (line.front() == ':') {
    line.remove_prefix(1);
    if (!line.empty() && line.front() == ' ') line.remove_prefix(1);
    on_comment_(line);
    return;
  }
  size_t colon = line.find(':');
  std::string_view field = line.substr(0, colon);
  std::string_view value = colon == std::string_view::npos ? std::string_view() : line.substr(colon + 1);
  if (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  has_fields_ = true;
  if (field == "data") {
    event_.data.append(value);
    event_.data.push_back('\n');
    has_data_ = true;
  } else if (field == "event") {
    event_.event = std::string(value);
  } else if (field == "id") {
    event_.id = std::string(value);
  } else if (field == "retry") {
    int ms = 0;
    bool digits = !value.empty() && value.size() < 10;
    for (char c : value) {
      if (c < '0' || c > '9') digits = false;
      else ms = ms * 10 + (c - '0');
    }
    if (digits) event_.retry_ms = ms;
  }
}

}  // namespace edgevault::console
