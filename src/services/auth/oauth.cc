#include "src/services/auth/oauth.h"

#include <algorithm>

#include "absl/strings/str_join.h"

#include "src/base/encoding.h"
#include "src/base/status.h"
#include "src/base/strings.h"
#include "src/crypto/hash.h"
#include "src/net/router.h"

namespace edgevault::auth {

namespace json = boost::json;

namespace {

constexpr size_t kMaxRedirectUris = 5;
constexpr size_t kMaxRedirectUriBytes = 512;
constexpr size_t kMaxClientNameBytes = 100;
constexpr size_t kMaxClientIdBytes = 8192;

absl::Status Err(std::string_view code, std::string message) {
  return base::WithErrorCode(absl::InvalidArgumentError(base::ToAbsl(message)), code);
}

bool IsUnreserved(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_' || c == '~';
}

// scheme, authority (host[:port]) and the rest of an absolute http(s) URI.
struct UriParts {
  std::string_view scheme, host, port, rest;
};

bool SplitUri(std::string_view uri, UriParts* out) {
  size_t colon = uri.find("://");
  if (colon == std::string_view::npos) return false;
  out->scheme = uri.substr(0, colon);
  std::string_view after = uri.substr(colon + 3);
  size_t end = after.find_first_of("/?#");
  std::string_view authority = after.substr(0, end);
  out->rest = end == std::string_view::npos ? std::string_view() : after.substr(end);
  if (authority.empty()) return false;
  if (authority.front() == '[') {
    size_t close = authority.find(']');
    if (close == std::string_view::npos) return false;
    out->host = authority.substr(0, close + 1);
    std::string_view tail = authority.substr(close + 1);
    if (!tail.empty() && tail.front() != ':') return false;
    out->port = tail.empty() ? tail : tail.substr(1);
  } else {
    size_t c = authority.rfind(':');
    out->host = authority.substr(0, c);
    out->port = c == std::string_view::npos ? std::string_view() : authority.substr(c + 1);
  }
  for (char c : out->port) {
    if (c < '0' || c > '9') return false;
  }
  return !out->host.empty() && out->port.size() <= 5;
}

bool IsLoopbackHost(std::string_view host) {
  return host == "127.0.0.1" || host == "[::1]" || base::EqualsIgnoreCase(host, "localhost");
}

bool IsLoopbackHttp(std::string_view uri) {
  UriParts p;
  return SplitUri(uri, &p) && p.scheme == "http" && IsLoopbackHost(p.host);
}

}  // namespace

absl::Status ValidateRedirectUri(std::string_view uri) {
  if (uri.empty() || uri.size() > kMaxRedirectUriBytes) {
    return Err("invalid_redirect_uri", "a redirect URI must be 1 to 512 bytes long");
  }
  for (char c : uri) {
    auto b = static_cast<unsigned char>(c);
    if (b <= 0x20 || b == 0x7f || c == '\\' || c == '"' || c == '<' || c == '>') {
      return Err("invalid_redirect_uri", "a redirect URI must not contain spaces, quotes or control characters");
    }
  }
  UriParts p;
  if (!SplitUri(uri, &p)) {
    return Err("invalid_redirect_uri", "a redirect URI must be an absolute http(s) URI such as http://127.0.0.1:8976/callback");
  }
  if (uri.find('#') != std::string_view::npos) {
    return Err("invalid_redirect_uri", "a redirect URI must not contain a fragment (RFC 6749 3.1.2)");
  }
  if (p.host.find('@') != std::string_view::npos) {
    return Err("invalid_redirect_uri", "a redirect URI must not contain user information");
  }
  if (p.scheme == "https") return absl::OkStatus();
  if (p.scheme == "http" && IsLoopbackHost(p.host)) return absl::OkStatus();
  return Err("invalid_redirect_uri",
             "a redirect URI must use https, or http on a loopback host (127.0.0.1, [::1], localhost)");
}

bool RedirectUriMatches(std::string_view registered, std::string_view requested) {
  if (registered == requested) return true;
  if (!IsLoopbackHttp(registered) || !IsLoopbackHttp(requested)) return false;
  UriParts a, b;
  SplitUri(registered, &a);
  SplitUri(requested, &b);
  return a.host == b.host && a.rest == b.rest;
}

absl::StatusOr<OAuthClient> ParseClientRegistration(const json::object& body, int64_t now_unix) {
  OAuthClient c;
  c.issued_at = now_unix;
  const json::value* uris = body.if_contains("redirect_uris");
  if (uris == nullptr || !uris->is_array() || uris->get_array().empty()) {
    return Err("invalid_redirect_uri", "redirect_uris must be a non-empty array of URIs");
  }
  if (uris->get_array().size() > kMaxRedirectUris) {
    return Err("invalid_redirect_uri", "at most 5 redirect_uris may be registered");
  }
  for (const json::value& u : uris->get_array()) {
    if (!u.is_string()) return Err("invalid_redirect_uri", "each of redirect_uris must be a string");
    EV_RETURN_IF_ERROR(ValidateRedirectUri(u.get_string()));
    c.redirect_uris.emplace_back(u.get_string());
  }
  if (const json::value* v = body.if_contains("token_endpoint_auth_method"); v != nullptr) {
    if (!v->is_string() || v->get_string() != "none") {
      return Err("invalid_client_metadata",
                 "token_endpoint_auth_method must be \"none\": this server registers public clients only "
                 "(PKCE replaces the client secret)");
    }
  }
  auto subset = [&](std::string_view field, std::initializer_list<std::string_view> allowed) -> absl::Status {
    const json::value* v = body.if_contains(field);
    if (v == nullptr) return absl::OkStatus();
    if (!v->is_array()) return Err("invalid_client_metadata", std::string(field) + " must be an array of strings");
    for (const json::value& x : v->get_array()) {
      if (!x.is_string() || std::find(allowed.begin(), allowed.end(), std::string_view(x.get_string())) == allowed.end()) {
        std::string list;
        for (std::string_view a : allowed) list += (list.empty() ? "" : ", ") + std::string(a);
        return Err("invalid_client_metadata", std::string(field) + " may hold only " + list);
      }
    }
    return absl::OkStatus();
  };
  EV_RETURN_IF_ERROR(subset("grant_types", {"authorization_code", "refresh_token"}));
  EV_RETURN_IF_ERROR(subset("response_types", {"code"}));
  if (const json::value* v = body.if_contains("client_name"); v != nullptr) {
    if (!v->is_string()) return Err("invalid_client_metadata", "client_name must be a string");
    std::string name;
    for (char ch : v->get_string()) {
      if (static_cast<unsigned char>(ch) >= 0x20 && ch != 0x7f) name.push_back(ch);
    }
    if (name.size() > kMaxClientNameBytes) {
      return Err("invalid_client_metadata", "client_name must be at most 100 bytes");
    }
    c.name = std::move(name);
  }
  if (const json::value* v = body.if_contains("scope"); v != nullptr) {
    if (!v->is_string()) return Err("invalid_client_metadata", "scope must be a string");
    absl::StatusOr<std::vector<std::string>> scopes = ParseScopes(v->get_string());
    if (!scopes.ok()) return Err("invalid_client_metadata", std::string(scopes.status().message()));
  }
  if (c.name.empty()) c.name = "unnamed client";
  return c;
}

std::string EncodeClientId(const OAuthClient& client, std::string_view key) {
  json::array uris;
  for (const std::string& u : client.redirect_uris) uris.emplace_back(u);
  std::string payload = base::Base64UrlEncode(
      json::serialize(json::object{{"n", client.name}, {"r", std::move(uris)}, {"t", client.issued_at}}));
  return base::StrCat(kOAuthClientIdPrefix, payload, ".",
                      base::Base64UrlEncode(crypto::HmacSha256(key, payload)));
}

absl::StatusOr<OAuthClient> DecodeClientId(std::string_view client_id, std::string_view key) {
  auto bad = [] { return Err("invalid_client", "unknown client_id; register the client again (POST /oauth/register)"); };
  if (client_id.size() > kMaxClientIdBytes || !client_id.starts_with(kOAuthClientIdPrefix)) return bad();
  std::string_view rest = client_id.substr(kOAuthClientIdPrefix.size());
  size_t dot = rest.find('.');
  if (dot == std::string_view::npos) return bad();
  std::string_view payload = rest.substr(0, dot);
  absl::StatusOr<std::string> mac = base::Base64UrlDecode(rest.substr(dot + 1));
  if (!mac.ok() || !crypto::ConstantTimeEquals(*mac, crypto::HmacSha256(key, payload))) return bad();
  absl::StatusOr<std::string> text = base::Base64UrlDecode(payload);
  if (!text.ok()) return bad();
  boost::system::error_code ec;
  json::value v = json::parse(*text, ec);
  if (ec || !v.is_object()) return bad();
  const json::object& o = v.get_object();
  const json::value* n = o.if_contains("n");
  const json::value* r = o.if_contains("r");
  const json::value* t = o.if_contains("t");
  if (n == nullptr || !n->is_string() || r == nullptr || !r->is_array() || t == nullptr || !t->is_int64()) return bad();
  OAuthClient c;
  c.name = std::string(n->get_string());
  c.issued_at = t->get_int64();
  for (const json::value& u : r->get_array()) {
    if (!u.is_string()) return bad();
    c.redirect_uris.emplace_back(u.get_string());
  }
  return c;
}

bool ValidCodeChallenge(std::string_view challenge) {
  if (challenge.size() != 43) return false;
  for (char c : challenge) {
    if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_')) {
      return false;
    }
  }
  return true;
}

bool VerifyPkceS256(std::string_view verifier, std::string_view challenge) {
  if (verifier.size() < 43 || verifier.size() > 128) return false;
  for (char c : verifier) {
    if (!IsUnreserved(c)) return false;
  }
  if (!ValidCodeChallenge(challenge)) return false;
  return crypto::ConstantTimeEquals(base::Base64UrlEncode(crypto::Sha256(verifier)), challenge);
}

absl::StatusOr<std::vector<std::string>> ParseScopes(std::string_view scope) {
  std::vector<bool> wanted(std::size(kOAuthScopes), false);
  bool any = false;
  for (std::string_view s : base::Split(scope, ' ')) {
    if (s.empty()) continue;
    auto it = std::find(std::begin(kOAuthScopes), std::end(kOAuthScopes), s);
    if (it == std::end(kOAuthScopes)) {
      return Err("invalid_scope", "unknown scope \"" + std::string(s.substr(0, 64)) +
                                      "\" (known: read, write, secrets:read)");
    }
    wanted[it - std::begin(kOAuthScopes)] = true;
    any = true;
  }
  if (!any) wanted[0] = true;
  std::vector<std::string> out;
  for (size_t i = 0; i < wanted.size(); ++i) {
    if (wanted[i]) out.emplace_back(kOAuthScopes[i]);
  }
  return out;
}

std::vector<std::string> CapScopes(const std::vector<std::string>& scopes, storage::Role role) {
  std::vector<std::string> out;
  for (const std::string& s : scopes) {
    if (s == "read" || role >= storage::Role::kDeveloper) out.push_back(s);
  }
  return out;
}

std::string JoinScopes(const std::vector<std::string>& scopes) { return absl::StrJoin(scopes, " "); }

absl::StatusOr<std::map<std::string, std::string>> ParseForm(std::string_view body) {
  if (body.size() > 16 * 1024) return Err("invalid_request", "the form body is larger than 16 KiB");
  std::map<std::string, std::string> out;
  for (std::string_view pair : base::Split(body, '&')) {
    if (pair.empty()) continue;
    size_t eq = pair.find('=');
    std::string name = net::PercentDecode(pair.substr(0, eq), true);
    std::string value = eq == std::string_view::npos ? "" : net::PercentDecode(pair.substr(eq + 1), true);
    if (!out.emplace(std::move(name), std::move(value)).second) {
      return Err("invalid_request", "a parameter appears more than once (RFC 6749 3.1)");
    }
  }
  return out;
}

std::string AppendQuery(std::string_view uri, const std::vector<std::pair<std::string, std::string>>& params) {
  std::string out(uri);
  char sep = out.find('?') == std::string::npos ? '?' : '&';
  for (const auto& [name, value] : params) {
    out.push_back(sep);
    out += base::PercentEncode(name);
    out.push_back('=');
    out += base::PercentEncode(value);
    sep = '&';
  }
  return out;
}

}  // namespace edgevault::auth
