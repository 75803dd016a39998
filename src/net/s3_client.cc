#include "src/net/s3_client.h"

#include <charconv>

#include "src/base/strings.h"

namespace edgevault::net {

namespace {

// ---------------------------------------------------------------- XML (replies only)
// S3 replies are small, flat XML documents; these helpers read the text of named
// elements. Nothing here trusts the input: every search is bounded by the reply.

std::string XmlUnescape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '&') {
      out.push_back(s[i]);
      continue;
    }
    size_t semi = s.find(';', i);
    if (semi == std::string_view::npos || semi - i > 10) {
      out.push_back('&');
      continue;
    }
    std::string_view ent = s.substr(i + 1, semi - i - 1);
    uint32_t cp = 0;
    bool numeric = false;
    if (ent == "amp") out.push_back('&');
    else if (ent == "lt") out.push_back('<');
    else if (ent == "gt") out.push_back('>');
    else if (ent == "quot") out.push_back('"');
    else if (ent == "apos") out.push_back('\'');
    else if (ent.size() > 1 && ent[0] == '#') {
      numeric = true;
      bool hex = ent[1] == 'x' || ent[1] == 'X';
      std::string_view digits = ent.substr(hex ? 2 : 1);
      auto [p, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), cp, hex ? 16 : 10);
      if (ec != std::errc() || p != digits.data() + digits.size() || cp > 0x10FFFF) {
        out.push_back('&');
        continue;
      }
    } else {
      out.push_back('&');
      continue;
    }
    if (numeric) {  // UTF-8
      if (cp < 0x80) {
        out.push_back(static_cast<char>(cp));
      } else if (cp < 0x800) {
        out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
        out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
      } else if (cp < 0x10000) {
        out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
        out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
      } else {
        out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
        out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
      }
    }
    i = semi;
  }
  return out;
}

// The raw content of the first <tag>…</tag> in `xml` at or after `*pos`; advances *pos
// past it. nullopt when there is none.
std::optional<std::string_view> Element(std::string_view xml, std::string_view tag, size_t* pos) {
  const std::string open = base::StrCat("<", tag, ">");
  const std::string close = base::StrCat("</", tag, ">");
  size_t start = xml.find(open, *pos);
  if (start == std::string_view::npos) {
    // <Tag/> is an empty element.
    size_t empty = xml.find(base::StrCat("<", tag, "/>"), *pos);
    if (empty == std::string_view::npos) return std::nullopt;
    *pos = empty + tag.size() + 3;
    return std::string_view();
  }
  start += open.size();
  size_t end = xml.find(close, start);
  if (end == std::string_view::npos) return std::nullopt;
  *pos = end + close.size();
  return xml.substr(start, end - start);
}

std::string Text(std::string_view xml, std::string_view tag) {
  size_t pos = 0;
  std::optional<std::string_view> e = Element(xml, tag, &pos);
  return e ? XmlUnescape(*e) : std::string();
}

// ---------------------------------------------------------------- errors

// Every S3 reply status → a domain code, in one place.
absl::Status MapS3Error(const ClientResponse& res, std::string_view what, bool conditional) {
  std::string code = Text(res.body, "Code");
  std::string message = Text(res.body, "Message");
  std::string detail = base::StrCat(what, ": HTTP ", res.status);
  if (!code.empty()) base::StrAppend(&detail, " ", code);
  if (!message.empty()) base::StrAppend(&detail, " (", message, ")");
  if (conditional && (res.status == 412 || res.status == 409)) {
    return absl::AlreadyExistsError(base::StrCat(detail, ": the object already exists"));
  }
  switch (res.status) {
    case 400: return absl::InvalidArgumentError(detail);
    case 401:
    case 403: return absl::PermissionDeniedError(detail);
    case 404: return absl::NotFoundError(detail);
    case 408:
    case 429: return absl::UnavailableError(detail);
    default: break;
  }
  if (res.status >= 500) return absl::UnavailableError(detail);
  return absl::InternalError(base::StrCat(detail, ": unexpected reply"));
}

bool ValidBucketName(std::string_view b) {
  if (b.size() < 3 || b.size() > 63) return false;
  for (char c : b) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.')) return false;
  }
  return b.front() != '-' && b.front() != '.' && b.back() != '-' && b.back() != '.';
}

}  // namespace

sigv4::Credentials S3CredentialsFromEnvironment(
    const std::vector<std::pair<std::string, std::string>>& environment) {
  sigv4::Credentials c;
  for (const auto& [name, value] : environment) {
    if (name == "AWS_ACCESS_KEY_ID") c.access_key_id = value;
    if (name == "AWS_SECRET_ACCESS_KEY") c.secret_access_key = value;
    if (name == "AWS_SESSION_TOKEN") c.session_token = value;
  }
  return c;
}

absl::StatusOr<S3ListPage> ParseListObjectsV2(std::string_view xml) {
  if (xml.find("<ListBucketResult") == std::string_view::npos) {
    return absl::InternalError("ListObjectsV2: the reply is not a ListBucketResult");
  }
  S3ListPage page;
  size_t pos = 0;
  while (std::optional<std::string_view> c = Element(xml, "Contents", &pos)) {
    S3Object o;
    o.key = Text(*c, "Key");
    std::string size = Text(*c, "Size");
    std::from_chars(size.data(), size.data() + size.size(), o.size);
    o.etag = Text(*c, "ETag");
    page.objects.push_back(std::move(o));
  }
  pos = 0;
  while (std::optional<std::string_view> p = Element(xml, "CommonPrefixes", &pos)) {
    page.common_prefixes.push_back(Text(*p, "Prefix"));
  }
  page.truncated = Text(xml, "IsTruncated") == "true";
  page.next_continuation_token = Text(xml, "NextContinuationToken");
  if (page.truncated && page.next_continuation_token.empty()) {
    return absl::InternalError("ListObjectsV2: a truncated page without NextContinuationToken");
  }
  return page;
}

absl::StatusOr<std::unique_ptr<S3Client>> S3Client::Create(S3ClientOptions options) {
  std::string_view ep = options.endpoint;
  const bool https = ep.rfind("https://", 0) == 0;
  if (!https && ep.rfind("http://", 0) != 0) {
    return absl::InvalidArgumentError(
        base::StrCat("S3 endpoint \"", options.endpoint, "\": expected http[s]://host[:port]"));
  }
  if (!https && !options.ca_file.empty()) {
    return absl::InvalidArgumentError(
        base::StrCat("S3 endpoint \"", options.endpoint, "\": a CA file needs an https:// endpoint"));
  }
  ep.remove_prefix(https ? 8 : 7);
  if (!ep.empty() && ep.back() == '/') ep.remove_suffix(1);
  std::string host;
  const uint16_t default_port = https ? 443 : 80;
  uint16_t port = default_port;
  if (!ep.empty() && ep.front() == '[') {
    size_t close = ep.find(']');
    if (close == std::string_view::npos) {
      return absl::InvalidArgumentError(base::StrCat("S3 endpoint \"", options.endpoint, "\": bad IPv6 literal"));
    }
    host = std::string(ep.substr(1, close - 1));
    ep.remove_prefix(close + 1);
    if (!ep.empty() && ep.front() != ':') {
      return absl::InvalidArgumentError(base::StrCat("S3 endpoint \"", options.endpoint, "\": expected http[s]://host[:port]"));
    }
  } else {
    size_t colon = ep.find(':');
    host = std::string(ep.substr(0, colon));
    ep.remove_prefix(colon == std::string_view::npos ? ep.size() : colon);
  }
  if (!ep.empty()) {  // ":port"
    std::string_view digits = ep.substr(1);
    unsigned v = 0;
    auto [p, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), v);
    if (digits.empty() || ec != std::errc() || p != digits.data() + digits.size() || v == 0 ||
        v > 65535) {
      return absl::InvalidArgumentError(
          base::StrCat("S3 endpoint \"", options.endpoint, "\": expected http[s]://host[:port] (no path)"));
    }
    port = static_cast<uint16_t>(v);
  }
  if (host.empty() || host.find('/') != std::string::npos) {
    return absl::InvalidArgumentError(
        base::StrCat("S3 endpoint \"", options.endpoint, "\": expected http[s]://host[:port] (no path)"));
  }
  if (!ValidBucketName(options.bucket)) {
    return absl::InvalidArgumentError(base::StrCat(
        "S3 bucket \"", options.bucket, "\": expected 3-63 characters of a-z 0-9 . -"));
  }
  if (options.region.empty()) return absl::InvalidArgumentError("S3: region is required");
  if (options.credentials.access_key_id.empty() || options.credentials.secret_access_key.empty()) {
    return absl::InvalidArgumentError(
        "S3: credentials are required (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)");
  }
  if (options.env == nullptr) options.env = base::Env::Default();
  HttpClientOptions ho;
  ho.request_timeout = options.request_timeout;
  ho.max_response_body_bytes = options.max_object_bytes;
  ho.env = options.env;
  if (https) {
    // The store's certificate is verified (chain and name) against the system's CAs and,
    // when given, the CA file (a private CA in front of MinIO, Ceph RGW, ...).
    ho.tls = {.enabled = true, .system_trust = true, .ca_file = options.ca_file};
  }
  EV_ASSIGN_OR_RETURN(std::unique_ptr<HttpClient> http, HttpClient::Create(ho));
  std::unique_ptr<S3Client> c(new S3Client(std::move(options), std::move(http)));
  c->host_ = host;
  c->port_ = port;
  c->scheme_ = https ? Scheme::kHttps : Scheme::kHttp;
  std::string authority = host.find(':') != std::string::npos ? base::StrCat("[", host, "]") : host;
  if (port != default_port) base::StrAppend(&authority, ":", port);
  c->host_header_ = c->options_.virtual_host_style
                        ? base::StrCat(c->options_.bucket, ".", authority)
                        : authority;
  return c;
}

S3Client::S3Client(S3ClientOptions options, std::unique_ptr<HttpClient> http)
    : options_(std::move(options)), http_(std::move(http)) {}

std::string S3Client::Describe(std::string_view key) const {
  return base::StrCat("s3://", options_.bucket, "/", key);
}

absl::StatusOr<ClientResponse> S3Client::Send(std::string method, std::string_view key,
                                              std::string query,
                                              std::vector<std::pair<std::string, std::string>> headers,
                                              std::string_view body) {
  std::string path = options_.virtual_host_style ? "/" : base::StrCat("/", options_.bucket, "/");
  if (options_.virtual_host_style || !key.empty()) path += sigv4::UriEncode(key, true);
  if (!options_.virtual_host_style && key.empty()) path.pop_back();  // "/bucket"
  headers.emplace_back("host", host_header_);
  sigv4::Request sr{.method = method, .path = path, .query = query, .headers = headers, .body = body};
  sigv4::SigningParams params{.region = options_.region, .service = "s3",
                              .time = options_.env->Now(), .s3 = true};
  EV_ASSIGN_OR_RETURN(sigv4::Signed s, sigv4::Sign(sr, options_.credentials, params));
  ClientRequest req;
  req.method = std::move(method);
  req.target = query.empty() ? path : base::StrCat(path, "?", query);
  req.headers = std::move(headers);
  for (auto& h : s.headers) req.headers.push_back(std::move(h));
  req.body = std::string(body);
  const std::string& connect = options_.connect_address.empty() ? host_ : options_.connect_address;
  return http_->Do(connect, port_, req, scheme_);
}

absl::Status S3Client::PutObject(std::string_view key, std::string_view body,
                                 const S3PutOptions& options) {
  std::vector<std::pair<std::string, std::string>> headers = {{"content-type", options.content_type}};
  if (options.if_none_match) headers.emplace_back("if-none-match", "*");
  EV_ASSIGN_OR_RETURN(ClientResponse res, Send("PUT", key, "", std::move(headers), body));
  if (res.status == 200) return absl::OkStatus();
  return MapS3Error(res, base::StrCat("PUT ", Describe(key)), options.if_none_match);
}

absl::StatusOr<std::string> S3Client::GetObject(std::string_view key) {
  EV_ASSIGN_OR_RETURN(ClientResponse res, Send("GET", key, "", {}, ""));
  if (res.status == 200) return std::move(res.body);
  return MapS3Error(res, base::StrCat("GET ", Describe(key)), false);
}

absl::StatusOr<S3ListPage> S3Client::ListPage(std::string_view prefix, std::string_view delimiter,
                                              std::string_view continuation_token, int max_keys) {
  if (max_keys < 1 || max_keys > 1000) {
    return absl::InvalidArgumentError("ListObjectsV2: max-keys must be in 1..1000");
  }
  // Parameters in canonical (sorted) order: what is sent is what is signed.
  std::string query;
  if (!continuation_token.empty()) {
    base::StrAppend(&query, "continuation-token=", sigv4::UriEncode(continuation_token, false), "&");
  }
  if (!delimiter.empty()) base::StrAppend(&query, "delimiter=", sigv4::UriEncode(delimiter, false), "&");
  base::StrAppend(&query, "list-type=2&max-keys=", max_keys);
  if (!prefix.empty()) base::StrAppend(&query, "&prefix=", sigv4::UriEncode(prefix, false));
  EV_ASSIGN_OR_RETURN(ClientResponse res, Send("GET", "", query, {}, ""));
  if (res.status != 200) {
    return MapS3Error(res, base::StrCat("ListObjectsV2 ", Describe(prefix)), false);
  }
  return ParseListObjectsV2(res.body);
}

absl::StatusOr<std::vector<S3Object>> S3Client::ListAll(std::string_view prefix,
                                                        std::string_view delimiter,
                                                        std::vector<std::string>* common_prefixes,
                                                        int page_size) {
  std::vector<S3Object> out;
  std::string token;
  for (int pages = 0;; ++pages) {
    if (pages > 1000000) return absl::InternalError("ListObjectsV2: the listing does not end");
    EV_ASSIGN_OR_RETURN(S3ListPage page, ListPage(prefix, delimiter, token, page_size));
    for (S3Object& o : page.objects) out.push_back(std::move(o));
    if (common_prefixes != nullptr) {
      for (std::string& p : page.common_prefixes) common_prefixes->push_back(std::move(p));
    }
    if (!page.truncated) return out;
    if (page.next_continuation_token == token) {
      return absl::InternalError("ListObjectsV2: the store returned the same continuation token");
    }
    token = std::move(page.next_continuation_token);
  }
}

}  // namespace edgevault::net
