#pragma once
// TLS client pieces shared by the connections that speak TLS over their own sockets (the
// Redis backends' rediss://, src/storage/redis/redis_client.h; the C++ SDK's https://,
// sdk/cpp/src/transport.h): an OpenSSL client context (TLS 1.2 at least, the peer verified
// against a CA file or the system's store, an optional client certificate), a session set
// up to check a host, and the words for a handshake that failed. The callers run their own
// non-blocking handshake and I/O loops. Thread-safety: a context is immutable once made and
// may be shared; a session belongs to one connection.

#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace edgevault::crypto {

struct TlsClientFiles {
  std::string ca_file;    // PEM CA certificates; "" = the system's CA store
  std::string cert_file;  // a client certificate (PEM, with its chain); "" = none
  std::string key_file;   // its key; set together with cert_file
};

class TlsClientContext {
 public:
  // `label` starts every message ("redis edge KV"). Errors: NotFound (a file that does not
  // exist), InvalidArgument (a file that holds no certificate or key, a key that is not the
  // certificate's, cert_file without key_file or the reverse), Internal (no context).
  static absl::StatusOr<std::shared_ptr<const TlsClientContext>> Create(const TlsClientFiles& files,
                                                                        std::string_view label);
  ~TlsClientContext();
  TlsClientContext(const TlsClientContext&) = delete;
  TlsClientContext& operator=(const TlsClientContext&) = delete;

  // A new session (SSL*) on connected socket `fd` that will check `host`: an IP address
  // against the certificate's IP entries, a name against its DNS entries (also sent as
  // SNI). Internal when OpenSSL cannot make one. The caller SSL_free()s it.
  absl::StatusOr<void*> NewSession(int fd, const std::string& host) const;

 private:
  explicit TlsClientContext(void* ctx) : ctx_(ctx) {}
  void* const ctx_;  // SSL_CTX*
};

// Why SSL_connect on `ssl` failed: "the server's certificate is not trusted for HOST
// (reason)" when verification refused it, else OpenSSL's error text (the thread's error
// queue is cleared).
std::string TlsHandshakeFailure(void* ssl, const std::string& host);

}  // namespace edgevault::crypto
