#pragma once
// HttpServer: EdgeVault's HTTP/1.1 server on Boost.Beast/Asio. One io thread per
// core, each with its own io_context; an accepted connection is pinned to one of
// them (round robin) and never blocks it: handlers that need to wait use
// AsyncHandler. Keep-alive, pipelining-safe, `Expect: 100-continue`, request ids,
// JSON access logs, and the limits of base::ServerLimits answered with
// 431/413/408/503 instead of crashing. An exception escaping a handler is answered 500
// and counted (the handler boundary, router.h). Every server also serves /healthz,
// /readyz and /metrics.
//
//   net::Router router;  ... routes ...
//   EV_ASSIGN_OR_RETURN(auto server, net::HttpServer::Create(options, std::move(router)));
//   EV_RETURN_IF_ERROR(server->Start());   // binds, starts io threads
//   ... wait for SIGTERM ...
//   server->Drain();                       // stop accepting, finish in-flight, stop
//
// Thread-safety: Start, Drain and the destructor are called from one controlling
// thread; port(), SetReady() and metrics() from any thread.

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "src/base/config.h"
#include "src/base/env.h"
#include "src/base/status.h"
#include "src/net/metrics.h"
#include "src/net/router.h"

namespace edgevault::net {

class SignatureVerifier;

// What a service adds to the server's /readyz and /metrics (either may be empty).
struct ServerHooks {
  // While this returns a non-empty reason, /readyz answers
  // 503 {"error":{"code":"not_ready","message":<reason>}}. Called on an io thread for each
  // /readyz: keep it cheap; thread-safe.
  std::function<std::string()> not_ready_reason;
  // Appends Prometheus text (whole families, "# HELP"/"# TYPE" included) to /metrics.
  // Thread-safe.
  std::function<void(std::string* out)> extra_metrics;
};

struct ServerOptions {
  std::string service = "edgevault";  // for logs, metrics and /healthz
  std::string host = "127.0.0.1";
  uint16_t port = 0;                   // 0 = a free port; see port()
  int io_threads = 0;                  // 0 = one per core
  base::ServerLimits limits;
  base::Env* env = nullptr;            // nullptr = base::Env::Default()
  // Verifies routes with RouteOptions::internal_callers; such routes answer 401
  // when it is null. Not owned; must outlive the server.
  SignatureVerifier* verifier = nullptr;
  bool access_log = true;              // one JSON line per request at level info
  // >= 0: serve on this already listening socket (inherited from `edgevault up`) instead
  // of binding host:port; the server takes ownership and closes it on Drain. host must
  // name the socket's address family.
  int listen_fd = -1;
  ServerHooks hooks;
  // Both set: serve HTTPS only (TLS 1.2+) with this PEM certificate chain and key; the key
  // file must not be readable by group or others. Either file changing is picked up by the
  // next connection (a stat of both per accepted connection); a pair that does not load
  // keeps the previous one and logs an error. Every answer travels inside TLS, the 503 for
  // a connection over limits.max_connections included (handshake first; beyond 64 such
  // refusals at once a connection is closed unanswered). The server ends a TLS connection
  // it closes (Connection: close, idle timeout, error answers, Drain) with close_notify,
  // waiting at most a second for the client's. Used by the console only.
  std::string tls_cert_file;
  std::string tls_key_file;
};

class HttpServer {
 public:
  // Errors: InvalidArgument for a bad host.
  static absl::StatusOr<std::unique_ptr<HttpServer>> Create(ServerOptions options,
                                                            Router router);
  ~HttpServer();  // Drains with a zero grace period if still running.

  // Binds and starts the io threads. Errors: Unavailable when the address is in
  // use or cannot be bound (the message names host:port).
  absl::Status Start();

  // Graceful stop: closes the listener, marks /readyz 503, closes idle
  // connections, lets in-flight requests finish (answered with Connection: close)
  // for up to limits.drain_timeout, ends SSE streams, then stops the io threads.
  void Drain();

  uint16_t port() const;
  // /readyz answers 200 only when ready and not draining. Servers start ready.
  void SetReady(bool ready);
  Metrics& metrics();

  class Impl;  // internal: shared with the connection code in http_server.cc

 private:
  explicit HttpServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Loads a TLS certificate and key as ServerOptions::tls_cert_file/tls_key_file would
// (the key's mode included): InvalidArgument naming the file and the fix.
absl::Status CheckTlsFiles(const std::string& cert_file, const std::string& key_file);

// GET /healthz over TLS, the certificate not verified: whether host:port answers 200
// within `timeout`. `edgevault up`'s readiness check of an HTTPS console.
bool TlsHealthy(const std::string& host, uint16_t port, absl::Duration timeout);

}  // namespace edgevault::net
