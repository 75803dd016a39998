#pragma once
// Tests only: a real redis-server child process on 127.0.0.1 and a port of its own, without
// persistence, in a temporary directory of its own; killed (SIGKILL) on destruction and when
// the test process dies. Used by the Redis backend's tests, the services' KV tests and the
// integration tests. Needs `redis-server` on PATH (Debian package redis-server).
//
//   RedisServer server;
//   ASSERT_TRUE(server.Start());
//   auto kv = OpenRedisEdgeKv(server.Options());
//   server.Restart();                        // same port, empty (nothing persisted)
//
// Thread-safety: Start/Restart/Kill/Pause/Resume from one thread; Raw from any thread.

#include <hiredis/hiredis.h>
#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "src/storage/redis/edge_kv_redis.h"

namespace edgevault::storage {

// testing::CandidatePort() (src/storage/testing/candidate_port.h).
uint16_t CandidatePort();

struct RedisContextFree {
  void operator()(redisContext* c) const { ::redisFree(c); }
};
struct RedisReplyFree {
  void operator()(redisReply* r) const { ::freeReplyObject(r); }
};
using RawContext = std::unique_ptr<redisContext, RedisContextFree>;
using RawReply = std::unique_ptr<redisReply, RedisReplyFree>;

class RedisServer {
 public:
  RedisServer();
  RedisServer(const RedisServer&) = delete;
  RedisServer& operator=(const RedisServer&) = delete;
  ~RedisServer();  // Kill() and remove the directory

  // Starts on a CandidatePort() (or on the previous port when restarting); true once this
  // server (not another one on the same port) answers.
  bool Start();
  // Kill, then Start on the same port: the server comes back empty.
  bool Restart();
  void Kill();  // SIGKILL; no-op when not running
  void Pause();   // SIGSTOP: connections hang
  void Resume();  // SIGCONT
  // Before Start: the server then requires AUTH with this password (--requirepass).
  void RequirePassword(std::string password) { password_ = std::move(password); }
  // Before Start: the server also listens for TLS on tls_port() with this certificate and
  // key (PEM files), trusting client certificates issued by `ca_file`; with
  // `require_client_certificate` it refuses clients without one. The plain port stays
  // open for Raw.
  void EnableTls(std::string cert_file, std::string key_file, std::string ca_file,
                 bool require_client_certificate);
  uint16_t port() const { return port_; }
  uint16_t tls_port() const { return tls_port_; }
  std::string Url() const;  // redis://127.0.0.1:<port>

  // A command on a fresh connection of its own (AUTHed when a password is set); null
  // reply on any failure.
  RawReply Raw(const std::vector<std::string>& args) const;

  RedisEdgeKvOptions Options() const;

 private:
  bool Launch();

  std::string dir_;
  pid_t pid_ = -1;
  uint16_t port_ = 0;
  uint16_t tls_port_ = 0;
  bool restarting_ = false;
  std::string password_;
  std::vector<std::string> tls_args_;  // empty: no TLS
};

// One server per test process, started on first use and killed by a GoogleTest environment
// after the last test (so a conformance suite's factory can reach it); null, after a test
// failure is recorded, when it cannot start. Also ignores SIGPIPE, as service_main does.
RedisServer* SharedRedisServer();

// The shared server, emptied (FLUSHALL): for a factory that must hand out a fresh store.
// Null, after a test failure is recorded, when there is none or it cannot be emptied.
RedisServer* EmptySharedRedisServer();

}  // namespace edgevault::storage
