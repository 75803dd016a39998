#pragma once
// Tests only: a real S3-compatible server child process (s3rver behind a proxy that checks
// every SigV4 signature with the AWS SDK's signer: tests/e2e/lib/s3-server.mjs) on
// 127.0.0.1 and a port the kernel picks, storing in a temporary directory of its own;
// killed (SIGKILL) on destruction and when the test process dies. Needs node and the
// npm packages of tests/e2e (`make e2e-deps`).
//
//   S3TestServer server;
//   ASSERT_TRUE(server.Start()) << server.error();
//   auto s3 = S3Client::Create(server.ClientOptions());
//
// Thread-safety: one thread.

#include <sys/types.h>

#include <cstdint>
#include <string>

#include "src/net/s3_client.h"

namespace edgevault::net {

class S3TestServer {
 public:
  S3TestServer();
  S3TestServer(const S3TestServer&) = delete;
  S3TestServer& operator=(const S3TestServer&) = delete;
  ~S3TestServer();  // Kill() and remove the directory

  // Starts the server with bucket "audit"; true once it listens. `conditional_writes`:
  // PUT with If-None-Match: * answers 412 for an existing object (AWS S3 does; s3rver alone
  // ignores the header).
  bool Start(bool conditional_writes = false);
  // Before Start: serve HTTPS with this certificate and key (PEM files, e.g.
  // tls_test_client.h MakeSelfSignedCert); Endpoint() is then https://127.0.0.1:<port> and
  // ClientOptions() trusts `cert_file` as its CA file.
  void UseTls(std::string cert_file, std::string key_file) {
    tls_cert_file_ = std::move(cert_file);
    tls_key_file_ = std::move(key_file);
  }
  void Kill();
  uint16_t port() const { return port_; }
  std::string Endpoint() const;  // http://127.0.0.1:<port> (https:// after UseTls)
  const std::string& dir() const { return dir_; }  // s3rver's storage: <dir>/data/<bucket>/...
  const std::string& error() const { return error_; }
  // Path-style options for bucket "audit" with the server's credentials.
  S3ClientOptions ClientOptions() const;

 private:
  std::string dir_;
  pid_t pid_ = -1;
  int stdin_fd_ = -1;  // the child's standard input (write end)
  uint16_t port_ = 0;
  std::string tls_cert_file_, tls_key_file_;
  std::string error_;
};

}  // namespace edgevault::net
