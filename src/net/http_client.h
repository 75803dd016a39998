#pragma once
// HttpClient: a synchronous HTTP/1.1 client (Boost.Beast) for service-to-service calls and,
// with HttpClientOptions::tls enabled, for HTTPS calls to outside receivers (webhooks).
// It keeps idle keep-alive connections per scheme:host:port, bounds connect time and total
// request time, and can sign every request with its service credential (signing.h).
// HTTPS verifies the server's certificate chain (system trust store and/or a CA file) and
// its name (SNI + X509_VERIFY_PARAM host or IP check); there is no way to turn that off.
// Thread-safety: Do() may be called from any number of threads at once; all network I/O
// runs on one thread the client owns, and a caller blocks only its own thread.
//
//   HttpClientOptions options;
//   options.credential = &ctx.credential;  // must outlive the client
//   options.audience = "auth";             // the service every request goes to
//   EV_ASSIGN_OR_RETURN(std::unique_ptr<HttpClient> client, HttpClient::Create(options));
//   EV_ASSIGN_OR_RETURN(ClientResponse res,
//                       client->Do("127.0.0.1", 8081, {.method = "GET", .target = "/readyz"}));
//   if (res.status != 200) ...

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/time/time.h"
#include "src/base/env.h"
#include "src/base/status.h"
#include "src/net/signing.h"

namespace edgevault::net {

struct ClientRequest {
  std::string method;  // "GET", "POST", ... sent as given (methods are case-sensitive)
  std::string target;  // origin-form: path and optional query, e.g. "/v1/x?y=1"
  // Extra header fields. Host defaults to host:port; Content-Length is always computed
  // from `body`, so neither Content-Length nor Transfer-Encoding may be given here.
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
};

enum class Scheme { kHttp, kHttps };

struct ClientResponse {
  int status = 0;
  // In the order received; names as the server spelled them.
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;

  // The value of the first field named `name` (ASCII case-insensitive), if any.
  std::optional<std::string_view> Header(std::string_view name) const;
};

// HTTPS for Do(..., Scheme::kHttps). Disabled by default: service-to-service clients speak
// plain HTTP on the internal network and need no trust store.
struct TlsClientOptions {
  bool enabled = false;
  // Trust the system's CA store (OpenSSL's default paths, e.g. /etc/ssl/certs).
  bool system_trust = true;
  // PEM file of extra trusted CA certificates; "" = none.
  std::string ca_file;
};

struct HttpClientOptions {
  // Bounds name resolution plus TCP connect of one new connection.
  absl::Duration connect_timeout = absl::Seconds(2);
  // Bounds a whole Do() call: waiting for a connection, sending, and reading the response.
  absl::Duration request_timeout = absl::Seconds(10);
  // Idle keep-alive connections kept per host:port; 0 disables reuse.
  size_t max_idle_per_host = 8;
  // Longer response bodies fail the call with ResourceExhausted.
  uint64_t max_response_body_bytes = 8 << 20;
  // When set, every request carries X-EV-Caller/-Timestamp/-Nonce/-Signature, signed for
  // `audience` (the name of the service the client calls; one client per callee). Not
  // owned; must outlive the client.
  const ServiceCredential* credential = nullptr;
  std::string audience;
  // Clock and random source for signing. nullptr means base::Env::Default().
  base::Env* env = nullptr;
  TlsClientOptions tls;
};

class HttpClient {
 public:
  // Starts the client's I/O thread. Errors: InvalidArgument for a non-positive timeout
  // or body limit, or (tls.enabled) a CA file that cannot be read or holds no certificate,
  // or no trust at all (system_trust false and no ca_file); Internal when the I/O or TLS
  // machinery cannot be set up.
  static absl::StatusOr<std::unique_ptr<HttpClient>> Create(HttpClientOptions options);

  // Closes idle connections and stops the I/O thread. Every Do() must have returned.
  ~HttpClient();

  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // Sends `request` to host:port (an IP literal or a name to resolve) over HTTP/1.1, plain
  // or (kHttps) over TLS 1.2+, and waits for the response. Any status code the server sends, 4xx and 5xx included,
  // is a successful call. A reused idle connection that the server has closed is retried
  // once on a new connection for GET, HEAD, PUT and DELETE (re-signed with a new nonce).
  // Errors: InvalidArgument for a malformed request (bad method, target or header);
  // Unavailable when resolving, connecting or the connection fails (refused, reset,
  // closed early); DeadlineExceeded when connect_timeout or request_timeout passes;
  // ResourceExhausted when the response body or header is too large; Internal when the
  // response is not valid HTTP/1.1; FailedPrecondition when called on the client's own
  // I/O thread. HTTPS adds: FailedPrecondition when tls.enabled is false; Unavailable with
  // error code "tls_certificate" when the server's certificate is not trusted or not valid
  // for `host` (the message names the verification error, e.g. "hostname mismatch"), and
  // Unavailable for another handshake failure.
  absl::StatusOr<ClientResponse> Do(std::string_view host, uint16_t port,
                                    const ClientRequest& request, Scheme scheme = Scheme::kHttp);

  struct Impl;  // defined in http_client.cc; public only so its helpers can name it

 private:
  explicit HttpClient(std::unique_ptr<Impl> impl);

  std::unique_ptr<Impl> impl_;
};

}  // namespace edgevault::net
