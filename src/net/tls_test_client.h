#pragma once
// Test-only helpers for TLS listeners: a self-signed certificate made in-process, and a
// blocking OpenSSL client that reports how the server ended the connection (close_notify,
// a bare TCP close, or a TLS error), which asio's own client would blur.
//
//   TlsTestClient c(port);
//   ASSERT_TRUE(c.ok()) << c.error();
//   c.Send("GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
//   TlsTestClient::Ending e = c.ReadToEnd();
//   EXPECT_EQ(e.end, TlsTestClient::End::kCloseNotify);
//
// Thread-safety: one client per thread.

#include <cstdint>
#include <string>
#include <string_view>

#include "src/base/status.h"

typedef struct ssl_st SSL;
typedef struct ssl_ctx_st SSL_CTX;

namespace edgevault::net {

struct TlsFiles {
  std::string cert_file, key_file;
};
// Writes a self-signed P-256 certificate for 127.0.0.1 to DIR/NAME.crt and its key to
// DIR/NAME.key (mode 0600). Errors: Internal naming the failed step.
absl::StatusOr<TlsFiles> MakeSelfSignedCert(const std::string& dir, const std::string& name);

class TlsTestClient {
 public:
  // Connects to 127.0.0.1:`port` and runs the TLS handshake (the certificate is not
  // verified). Every read gives up after 20 s without data (a failing test's bound).
  explicit TlsTestClient(uint16_t port);
  ~TlsTestClient();
  TlsTestClient(const TlsTestClient&) = delete;
  TlsTestClient& operator=(const TlsTestClient&) = delete;

  bool ok() const { return ok_; }               // connected and handshaken
  const std::string& error() const { return error_; }
  bool Send(std::string_view bytes);

  enum class End {
    kCloseNotify,  // SSL_read returned 0 with SSL_ERROR_ZERO_RETURN: a clean TLS close
    kTruncated,    // the TCP connection ended without close_notify
    kError,        // another TLS or socket error (see detail)
    kTimeout,      // 20 s without data
  };
  struct Ending {
    std::string data;  // the plaintext read before the end
    End end = End::kError;
    std::string detail;
  };
  // Reads until the server ends the connection.
  Ending ReadToEnd();
  // Reads until `marker` is in what was read (returned whole), or the connection ends.
  std::string ReadUntil(std::string_view marker);

 private:
  int fd_ = -1;
  SSL_CTX* ctx_ = nullptr;
  SSL* ssl_ = nullptr;
  bool ok_ = false;
  std::string error_;
};

std::string_view EndName(TlsTestClient::End end);

}  // namespace edgevault::net
