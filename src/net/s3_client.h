#pragma once
// S3Client: the few S3 calls the audit warehouse needs (PutObject, conditional create,
// GetObject, ListObjectsV2 with pagination) against any S3-compatible store, signed with
// AWS Signature V4 (sigv4.h), over HttpClient. Path-style (http://host/bucket/key) or
// virtual-host-style (Host: bucket.host) addressing. http:// or https:// endpoints; over
// https the store's certificate chain and name are always verified, against the system's
// CAs plus an optional CA file (docs/audit.md#s3).
// Thread-safety: every method may be called from any number of threads at once.
//
//   EV_ASSIGN_OR_RETURN(auto s3, S3Client::Create({.endpoint = "http://127.0.0.1:9000",
//       .bucket = "audit", .region = "us-east-1", .credentials = creds}));
//   EV_RETURN_IF_ERROR(s3->PutObject("2026/03/04/05/node-1-0000000007.ndjson", bytes,
//                                    {.if_none_match = true}));
//   EV_ASSIGN_OR_RETURN(std::vector<S3Object> all, s3->ListAll("2026/"));
//
// Error codes (one table, MapS3Error in s3_client.cc): 400 → InvalidArgument, 403 →
// PermissionDenied, 404 → NotFound, 409/412 on a conditional write → AlreadyExists,
// 5xx and network failures → Unavailable, timeouts → DeadlineExceeded, a reply that is
// not S3 → Internal. Messages carry the store's <Code> and <Message>.

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "src/base/env.h"
#include "src/net/http_client.h"
#include "src/net/sigv4.h"

namespace edgevault::net {

struct S3ClientOptions {
  // Scheme, host and optional port: "http://127.0.0.1:9000", "https://s3.example.internal"
  // (default port 80 / 443).
  std::string endpoint;
  // https only: a PEM file of CA certificates trusted besides the system's (a private CA);
  // "" = the system's only. Must be empty for http://.
  std::string ca_file;
  std::string bucket;
  std::string region = "us-east-1";
  // false: http://host/bucket/key (path-style); true: Host: bucket.host (virtual-host-style).
  bool virtual_host_style = false;
  // When non-empty, connect to this address instead of resolving the endpoint's host
  // (the Host header and the signature still name the endpoint's host), like curl's
  // --resolve: split DNS, or virtual-host names that have no DNS record.
  std::string connect_address;
  sigv4::Credentials credentials;
  absl::Duration request_timeout = absl::Seconds(30);
  uint64_t max_object_bytes = 256ull << 20;  // longer GET bodies fail with ResourceExhausted
  base::Env* env = nullptr;                  // clock for signing; nullptr = Env::Default()
};

struct S3Object {
  std::string key;
  int64_t size = 0;
  std::string etag;
};

struct S3PutOptions {
  // Send If-None-Match: * so the store refuses to replace an existing object
  // (AlreadyExists). Stores without conditional writes ignore the header.
  bool if_none_match = false;
  std::string content_type = "application/x-ndjson";
};

struct S3ListPage {
  std::vector<S3Object> objects;
  std::vector<std::string> common_prefixes;  // with a delimiter
  bool truncated = false;
  std::string next_continuation_token;
};

class S3Client {
 public:
  // Errors: InvalidArgument (endpoint not http[s]://host[:port], a CA file with http://
  // or one that cannot be read or holds no certificate, bad bucket name, missing
  // credentials), Internal (HTTP client setup). Over https a certificate the store presents
  // that is not trusted fails each call with Unavailable, error code "tls_certificate".
  static absl::StatusOr<std::unique_ptr<S3Client>> Create(S3ClientOptions options);

  absl::Status PutObject(std::string_view key, std::string_view body, const S3PutOptions& options);
  absl::StatusOr<std::string> GetObject(std::string_view key);
  // One ListObjectsV2 page (at most max_keys, 1..1000).
  absl::StatusOr<S3ListPage> ListPage(std::string_view prefix, std::string_view delimiter,
                                      std::string_view continuation_token, int max_keys = 1000);
  // Every page, objects in key order (the store's order: UTF-8 binary).
  absl::StatusOr<std::vector<S3Object>> ListAll(std::string_view prefix,
                                                std::string_view delimiter = "",
                                                std::vector<std::string>* common_prefixes = nullptr,
                                                int page_size = 1000);

  // "s3://bucket/key", for messages.
  std::string Describe(std::string_view key) const;
  const S3ClientOptions& options() const { return options_; }

 private:
  S3Client(S3ClientOptions options, std::unique_ptr<HttpClient> http);
  // path: "/key" (encoded); query already in canonical order for readability.
  absl::StatusOr<ClientResponse> Send(std::string method, std::string_view key, std::string query,
                                      std::vector<std::pair<std::string, std::string>> headers,
                                      std::string_view body);

  S3ClientOptions options_;
  std::unique_ptr<HttpClient> http_;
  std::string host_;  // endpoint host (no port)
  uint16_t port_ = 80;
  Scheme scheme_ = Scheme::kHttp;
  std::string host_header_;
};

// AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN from `environment`
// (base::ProcessEnvironment()); empty fields for missing variables.
sigv4::Credentials S3CredentialsFromEnvironment(
    const std::vector<std::pair<std::string, std::string>>& environment);

// Parses the XML of a ListObjectsV2 reply (exposed for tests). Errors: Internal when
// it is not a ListBucketResult.
absl::StatusOr<S3ListPage> ParseListObjectsV2(std::string_view xml);

}  // namespace edgevault::net
