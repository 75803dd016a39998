#include "src/net/sigv4.h"

#include <algorithm>

#include "src/base/strings.h"
#include "src/crypto/hash.h"

namespace edgevault::net::sigv4 {

namespace {

constexpr std::string_view kAlgorithm = "AWS4-HMAC-SHA256";

bool Unreserved(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_' || c == '~';
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// %XX sequences decoded; anything else (a lone '%', '+') kept as it is.
std::string PercentDecode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && HexValue(s[i + 1]) >= 0 && HexValue(s[i + 2]) >= 0) {
      out.push_back(static_cast<char>(HexValue(s[i + 1]) * 16 + HexValue(s[i + 2])));
      i += 2;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

std::string Hex(std::string_view bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    out.push_back(kDigits[c >> 4]);
    out.push_back(kDigits[c & 15]);
  }
  return out;
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

// Leading and trailing blanks removed, inner runs of blanks made one space.
std::string TrimAll(std::string_view v) {
  std::string out;
  bool blank = false;
  for (char c : v) {
    if (c == ' ' || c == '\t') {
      blank = true;
      continue;
    }
    if (blank && !out.empty()) out.push_back(' ');
    blank = false;
    out.push_back(c);
  }
  return out;
}

// RFC 3986 §5.2.4 dot-segment removal, also collapsing empty segments ("//").
std::string NormalizePath(std::string_view path) {
  std::vector<std::string_view> kept;
  for (std::string_view seg : base::Split(path, '/')) {
    if (seg.empty() || seg == ".") continue;
    if (seg == "..") {
      if (!kept.empty()) kept.pop_back();
      continue;
    }
    kept.push_back(seg);
  }
  std::string out;
  for (std::string_view seg : kept) base::StrAppend(&out, "/", seg);
  if (out.empty()) return "/";
  std::string_view last = path.substr(path.rfind('/') + 1);
  if (path.back() == '/' || last == "." || last == "..") out.push_back('/');
  return out;
}

std::string CanonicalQuery(std::string_view query) {
  std::vector<std::pair<std::string, std::string>> params;
  for (std::string_view p : base::Split(query, '&')) {
    if (p.empty()) continue;
    size_t eq = p.find('=');
    std::string_view k = p.substr(0, eq);
    std::string_view v = eq == std::string_view::npos ? std::string_view() : p.substr(eq + 1);
    params.emplace_back(UriEncode(PercentDecode(k), false), UriEncode(PercentDecode(v), false));
  }
  std::sort(params.begin(), params.end());
  std::string out;
  for (const auto& [k, v] : params) {
    if (!out.empty()) out.push_back('&');
    base::StrAppend(&out, k, "=", v);
  }
  return out;
}

std::string FormatAmzDate(absl::Time t) {
  return absl::FormatTime("%Y%m%dT%H%M%SZ", t, absl::UTCTimeZone());
}

}  // namespace

std::string UriEncode(std::string_view s, bool keep_slash) {
  static constexpr char kDigits[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size());
  for (unsigned char c : s) {
    if (Unreserved(c) || (keep_slash && c == '/')) {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kDigits[c >> 4]);
      out.push_back(kDigits[c & 15]);
    }
  }
  return out;
}

absl::StatusOr<Signed> Sign(const Request& request, const Credentials& credentials,
                            const SigningParams& params) {
  if (request.method.empty()) return absl::InvalidArgumentError("sigv4: method is required");
  if (params.region.empty() || params.service.empty()) {
    return absl::InvalidArgumentError("sigv4: region and service are required");
  }
  if (credentials.access_key_id.empty() || credentials.secret_access_key.empty()) {
    return absl::InvalidArgumentError("sigv4: an access key id and a secret access key are required");
  }
  if (request.path.empty() || request.path[0] != '/') {
    return absl::InvalidArgumentError("sigv4: the path must start with '/'");
  }

  Signed out;
  const std::string amz_date = FormatAmzDate(params.time);
  const std::string date = amz_date.substr(0, 8);
  const std::string payload_hash =
      !params.payload_hash.empty() ? params.payload_hash : crypto::Sha256Hex(request.body);

  // Name → values in the order given (joined with ',').
  std::vector<std::pair<std::string, std::string>> headers;
  bool has_host = false;
  for (const auto& [name, value] : request.headers) {
    std::string n = Lower(name);
    if (n == "authorization" || n == "x-amz-date") {
      return absl::InvalidArgumentError(base::StrCat("sigv4: the request must not carry ", n));
    }
    has_host = has_host || n == "host";
    headers.emplace_back(std::move(n), TrimAll(value));
  }
  if (!has_host) return absl::InvalidArgumentError("sigv4: the host header is required");
  auto add = [&](std::string name, std::string value) {
    headers.emplace_back(name, value);
    out.headers.emplace_back(std::move(name), std::move(value));
  };
  add("x-amz-date", amz_date);
  if (params.s3 || params.add_content_sha256) add("x-amz-content-sha256", payload_hash);
  if (!credentials.session_token.empty()) {
    if (params.sign_session_token) {
      add("x-amz-security-token", credentials.session_token);
    } else {
      out.headers.emplace_back("x-amz-security-token", credentials.session_token);
    }
  }
  std::stable_sort(headers.begin(), headers.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  std::string canonical_headers, signed_headers;
  for (size_t i = 0; i < headers.size(); ++i) {
    if (i > 0 && headers[i].first == headers[i - 1].first) {
      base::StrAppend(&canonical_headers, ",", headers[i].second);
      continue;
    }
    if (i > 0) canonical_headers.push_back('\n');
    base::StrAppend(&canonical_headers, headers[i].first, ":", headers[i].second);
    if (!signed_headers.empty()) signed_headers.push_back(';');
    signed_headers.append(headers[i].first);
  }
  canonical_headers.push_back('\n');

  const std::string canonical_uri =
      params.s3 ? request.path
                : UriEncode(params.normalize_path ? NormalizePath(request.path) : request.path, true);
  out.canonical_request = base::StrCat(request.method, "\n", canonical_uri, "\n",
                                       CanonicalQuery(request.query), "\n", canonical_headers, "\n",
                                       signed_headers, "\n", payload_hash);

  const std::string scope = base::StrCat(date, "/", params.region, "/", params.service, "/aws4_request");
  out.string_to_sign = base::StrCat(kAlgorithm, "\n", amz_date, "\n", scope, "\n",
                                    crypto::Sha256Hex(out.canonical_request));

  std::string key = crypto::HmacSha256(base::StrCat("AWS4", credentials.secret_access_key), date);
  key = crypto::HmacSha256(key, params.region);
  key = crypto::HmacSha256(key, params.service);
  key = crypto::HmacSha256(key, "aws4_request");
  out.signature = Hex(crypto::HmacSha256(key, out.string_to_sign));
  out.authorization = base::StrCat(kAlgorithm, " Credential=", credentials.access_key_id, "/", scope,
                                   ", SignedHeaders=", signed_headers, ", Signature=", out.signature);
  out.headers.emplace_back("authorization", out.authorization);
  return out;
}

}  // namespace edgevault::net::sigv4
