#pragma once
// AWS Signature Version 4 (header signing): the canonical request, the string to sign and
// the Authorization header for one HTTP request, as AWS and every S3-compatible store
// check them. Two path rules exist: services in general normalise the path and
// URI-encode it again ("double encoding"); S3 signs the path exactly as sent
// (SigningParams::s3). Verified against the published AWS test suite
// (src/net/testdata/aws-sigv4, sigv4_test.cc).
// Thread-safety: pure functions.
//
//   sigv4::Request req{.method = "PUT", .path = "/bucket/a%20b", .headers = {{"host", h}},
//                      .body = bytes};
//   EV_ASSIGN_OR_RETURN(sigv4::Signed s, sigv4::Sign(req, creds,
//       {.region = "us-east-1", .service = "s3", .time = now, .s3 = true}));
//   for (auto& [k, v] : s.headers) request.headers.emplace_back(k, v);  // date, sha, auth

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace edgevault::net::sigv4 {

// The payload hash S3 accepts in place of SHA-256(body) (x-amz-content-sha256).
inline constexpr std::string_view kUnsignedPayload = "UNSIGNED-PAYLOAD";

struct Credentials {
  std::string access_key_id;
  std::string secret_access_key;
  std::string session_token;  // temporary credentials (STS); sent as x-amz-security-token
};

struct Request {
  std::string method;
  // The path as sent on the wire (percent-encoded by the caller where it needs to be;
  // the test suite also sends raw bytes such as a space).
  std::string path = "/";
  std::string query;  // as sent, without '?'; "" for none
  // Every header to sign, names in any case; must include host. Repeated names are
  // joined with ',' in order. Must not include authorization or x-amz-date.
  std::vector<std::pair<std::string, std::string>> headers;
  std::string_view body;
};

struct SigningParams {
  std::string region;   // "us-east-1"
  std::string service;  // "s3"
  absl::Time time;      // the request time (x-amz-date)
  // S3 rules: the path is signed as sent (no normalisation, no second encoding), and
  // x-amz-content-sha256 is always sent and signed.
  bool s3 = false;
  // Outside S3: remove "." and ".." segments and empty segments before encoding.
  bool normalize_path = true;
  // Outside S3: also send and sign x-amz-content-sha256 (the test suite's sign_body).
  bool add_content_sha256 = false;
  // When non-empty, the payload hash to sign instead of hex(SHA-256(body)), e.g.
  // kUnsignedPayload.
  std::string payload_hash;
  // Sign the session token as x-amz-security-token (when the credentials have one).
  bool sign_session_token = true;
};

struct Signed {
  std::string canonical_request;
  std::string string_to_sign;
  std::string signature;      // 64 hex
  std::string authorization;  // the Authorization header value
  // Headers to add to the request as sent: x-amz-date, x-amz-content-sha256 (when
  // signed), x-amz-security-token (when present) and authorization.
  std::vector<std::pair<std::string, std::string>> headers;
};

// Errors: InvalidArgument when a required field (method, region, service, credentials,
// host header) is missing or the request already carries authorization/x-amz-date.
absl::StatusOr<Signed> Sign(const Request& request, const Credentials& credentials,
                            const SigningParams& params);

// RFC 3986 percent-encoding as SigV4 wants it: every byte but A-Z a-z 0-9 - . _ ~ becomes
// %XX (upper-case hex); '/' is kept when `keep_slash`.
std::string UriEncode(std::string_view s, bool keep_slash);

}  // namespace edgevault::net::sigv4
