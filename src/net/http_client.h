#pragma once
// HttpClient: a synchronous HTTP/1.1 client (Boost.Beast) for service-to-service calls.
// It keeps idle keep-alive connections per host:port, bounds connect time and total
// request time, and can sign every request with its service credential (signing.h).
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

struct ClientResponse {
  int status = 0;
  // In the order received; names as the server spelled them.
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;

  // The value of the first field named `name` (ASCII case-insensitive), if any.
  std::optional<std::string_view> Header(std::string_view name) const;
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
};

class HttpClient {
 public:
  // Starts the client's I/O thread. Errors: InvalidArgument for a non-positive timeout
  // or body limit; Internal when the I/O machinery cannot be set up.
  static absl::StatusOr<std::unique_ptr<HttpClient>> Create(HttpClientOptions options);

  // Closes idle connections and stops the I/O thread. Every Do() must have returned.
  ~HttpClient();

  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // Sends `request` to host:port (an IP literal or a name to resolve) over plain HTTP/1.1
  // and waits for the response. Any status code the server sends, 4xx and 5xx included,
  // is a successful call. A reused idle connection that the server has closed is retried
  // once on a new connection for GET, HEAD, PUT and DELETE (re-signed with a new nonce).
  // Errors: InvalidArgument for a malformed request (bad method, target or header);
  // Unavailable when resolving, connecting or the connection fails (refused, reset,
  // closed early); DeadlineExceeded when connect_timeout or request_timeout passes;
  // ResourceExhausted when the response body or header is too large; Internal when the
  // response is not valid HTTP/1.1; FailedPrecondition when called on the client's own
  // I/O thread.
  absl::StatusOr<ClientResponse> Do(std::string_view host, uint16_t port,
                                    const ClientRequest& request);

  struct Impl;  // defined in http_client.cc; public only so its helpers can name it

 private:
  explicit HttpClient(std::unique_ptr<Impl> impl);

  std::unique_ptr<Impl> impl_;
};

}  // namespace edgevault::net
