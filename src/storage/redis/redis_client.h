#pragma once
// Internal to the Redis backends (edge_kv_redis, rate_limiter_redis): connections of our own
// (a non-blocking socket, TLS through OpenSSL for rediss://, hiredis only to format commands
// and parse replies), a pool of them, one table mapping every error to a domain code, and
// scripts run by EVALSHA with an EVAL fallback. Nothing above src/storage/redis/ includes
// this header.
//
//   redis_internal::Client client({.host = "10.0.0.5", .label = "redis rate limiter"});
//   EV_ASSIGN_OR_RETURN(redis_internal::Reply r, client.Command({"GET", key}, true, "get"));
//
// Thread-safety: a Client may be used from any number of threads; at most pool_size
// commands run at once (callers beyond that wait for a free connection).

#include <hiredis/hiredis.h>

#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "src/base/stop_signal.h"
#include "src/crypto/tls_client.h"
#include "src/storage/redis/redis_tls.h"

namespace edgevault::storage::redis_internal {

struct ReplyFree {
  void operator()(redisReply* r) const { ::freeReplyObject(r); }
};
using Reply = std::unique_ptr<redisReply, ReplyFree>;

struct ConnectionOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 6379;
  std::string username;  // "" = the default user
  std::string password;  // "" = no AUTH
  int db = 0;            // SELECTed on every new connection
  absl::Duration timeout = absl::Seconds(2);  // connect, and each command's send and reply
  int pool_size = 4;
  // Starts every error message: "<label> at host:port: ...".
  std::string label = "redis";
  RedisTls tls;
};

// The TLS context of a pool (and of the watcher), made from RedisTls (crypto/tls_client.h).
using TlsContext = crypto::TlsClientContext;
absl::StatusOr<std::shared_ptr<const TlsContext>> MakeTlsContext(const RedisTls& tls, std::string_view label);

class Connection;

// A new connection (TLS when `tls` is given, which options.tls.enabled requires), AUTHed and
// SELECTed. `o` must outlive it. Errors: Unavailable (cannot connect, TLS handshake failed,
// the server's certificate is not trusted or names another host), PermissionDenied when
// AUTH or SELECT is refused, FailedPrecondition when TLS is enabled without a context.
absl::StatusOr<std::unique_ptr<Connection>> Connect(const ConnectionOptions& o,
                                                    const TlsContext* tls);

// One connection: a TCP socket (blocking with send and receive timeouts when plain,
// non-blocking under TLS), TLS on top when the pool's options ask for it, and hiredis's
// reply parser. Every wait is bounded by the options' timeout or by a StopSignal.
// Thread-safety: one thread at a time.
class Connection {
 public:
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Sends one command and reads its reply; error replies are returned as replies. Errors:
  // Unavailable (I/O error, EOF, timeout: the connection is unusable afterwards), Internal
  // (a reply that cannot be parsed).
  absl::StatusOr<Reply> Call(const std::vector<std::string_view>& args, std::string_view what);
  // Waits for the next reply pushed by the server (a subscriber's messages) until `stop`
  // fires: then null. Errors as Call.
  absl::StatusOr<Reply> Next(base::StopSignal* stop, std::string_view what);
  // An idle pooled connection that must not carry a command: the server closed it
  // (restart, timeout, CLIENT KILL) or sent bytes nobody asked for. TLS records that carry
  // no data (TLS 1.3 session tickets) are read and do not count.
  bool IdleIsDead();

 private:
  friend absl::StatusOr<std::unique_ptr<Connection>> Connect(const ConnectionOptions&,
                                                             const TlsContext*);
  Connection(const ConnectionOptions& o, int fd);
  absl::Status Fail(std::string_view what, std::string_view detail) const;
  // Waits for `events` (POLLIN, POLLOUT) on the socket until `deadline` or `stop`.
  enum class Waited { kReady, kTimeout, kStopped, kFailed };
  Waited Wait(short events, absl::Time deadline, base::StopSignal* stop) const;
  absl::Status Handshake(const TlsContext& tls, absl::Time deadline);
  absl::Status WriteAll(std::string_view bytes, absl::Time deadline, std::string_view what);
  // Reads what the socket has into the parser: OK once some bytes arrived; Unavailable on
  // EOF, error or timeout; Cancelled when `stop` fired.
  absl::Status Fill(absl::Time deadline, base::StopSignal* stop, std::string_view what);
  absl::StatusOr<Reply> ReadReply(absl::Time deadline, base::StopSignal* stop,
                                  std::string_view what);

  const ConnectionOptions& options_;  // outlives the connection (its pool's or caller's)
  const int fd_;
  void* ssl_ = nullptr;  // SSL*, when TLS
  redisReader* reader_;
};

inline std::string_view StrOf(const redisReply* r) { return std::string_view(r->str, r->len); }

// InvalidArgument (empty host, port 0, timeout <= 0, pool_size < 1, db < 0).
absl::Status ValidateConnectionOptions(const ConnectionOptions& o);

// An error reply (the connection stays usable): Unavailable (LOADING, BUSY, MASTERDOWN,
// TRYAGAIN, CLUSTERDOWN, READONLY), ResourceExhausted (OOM), PermissionDenied (NOAUTH,
// WRONGPASS, NOPERM), Internal (anything else).
absl::Status ErrorReplyStatus(const redisReply* r, std::string_view what, const ConnectionOptions& o);

class Client {
 public:
  explicit Client(ConnectionOptions options);

  // One command on a pooled connection; error replies are returned as replies. A command
  // that is `idempotent` and fails on a reused connection is tried once more on a fresh one
  // (after a server restart every pooled connection is dead). Others are not repeated: a
  // lost reply would turn "done" into "not done".
  absl::StatusOr<Reply> Exec(const std::vector<std::string_view>& args, bool idempotent,
                             std::string_view what);
  // As Exec, with error replies mapped to a status (ErrorReplyStatus).
  absl::StatusOr<Reply> Command(const std::vector<std::string_view>& args, bool idempotent,
                                std::string_view what);
  // EVALSHA `sha` (empty: straight to EVAL) with `keys` and `args`, falling back to EVAL
  // (which caches the script again) when the server has lost it (restart, SCRIPT FLUSH).
  // Error replies are mapped to a status.
  absl::StatusOr<Reply> RunScript(std::string_view sha, std::string_view script,
                                  const std::vector<std::string_view>& keys,
                                  const std::vector<std::string_view>& args, bool idempotent,
                                  std::string_view what);
  // SCRIPT LOAD: the script's SHA-1. Errors as Command, Internal for an odd reply.
  absl::StatusOr<std::string> LoadScript(std::string_view script);

  // Internal "<label> at host:port: unexpected reply to <what>".
  absl::Status Unexpected(std::string_view what) const;
  std::string Where() const;  // "<label> at host:port"
  const ConnectionOptions& options() const { return options_; }

 private:
  // A fixed number of connections, made lazily. A connection error drops every idle
  // connection (after a server restart they are all dead) by bumping the generation.
  struct Lease {
    std::unique_ptr<Connection> context;  // null: the caller connects
    uint64_t generation = 0;
  };
  Lease Acquire();
  void Release(Lease lease, bool healthy);  // healthy=false: closes it and every idle one

  const ConnectionOptions options_;
  // options_.tls.enabled: the context, or why it could not be made (every Exec returns it).
  absl::StatusOr<std::shared_ptr<const TlsContext>> tls_;
  std::mutex mu_;
  std::condition_variable cv_;
  int permits_;
  uint64_t generation_ = 0;
  std::vector<std::unique_ptr<Connection>> idle_;
};

}  // namespace edgevault::storage::redis_internal
