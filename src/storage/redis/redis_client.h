#pragma once
// Internal to the Redis backends (edge_kv_redis, rate_limiter_redis): a pool of synchronous
// hiredis connections, one table mapping every driver error to a domain code, and scripts run
// by EVALSHA with an EVAL fallback. Nothing above src/storage/redis/ includes this header.
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

namespace edgevault::storage::redis_internal {

struct ReplyFree {
  void operator()(redisReply* r) const { ::freeReplyObject(r); }
};
using Reply = std::unique_ptr<redisReply, ReplyFree>;

struct ContextFree {
  void operator()(redisContext* c) const { ::redisFree(c); }
};
using Context = std::unique_ptr<redisContext, ContextFree>;

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
};

inline std::string_view StrOf(const redisReply* r) { return std::string_view(r->str, r->len); }

// InvalidArgument (empty host, port 0, timeout <= 0, pool_size < 1, db < 0).
absl::Status ValidateConnectionOptions(const ConnectionOptions& o);

// A context-level failure (no reply; the connection is unusable afterwards): Unavailable for
// I/O errors and EOF, Internal otherwise.
absl::Status ContextStatus(const redisContext* c, std::string_view what, const ConnectionOptions& o);

// An error reply (the connection stays usable): Unavailable (LOADING, BUSY, MASTERDOWN,
// TRYAGAIN, CLUSTERDOWN, READONLY), ResourceExhausted (OOM), PermissionDenied (NOAUTH,
// WRONGPASS, NOPERM), Internal (anything else).
absl::Status ErrorReplyStatus(const redisReply* r, std::string_view what, const ConnectionOptions& o);

// A new connection, AUTHed and SELECTed. Errors as ContextStatus; PermissionDenied when AUTH
// or SELECT is refused.
absl::StatusOr<Context> Connect(const ConnectionOptions& o);

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
    Context context;  // null: the caller connects
    uint64_t generation = 0;
  };
  Lease Acquire();
  void Release(Lease lease, bool healthy);  // healthy=false: closes it and every idle one

  const ConnectionOptions options_;
  std::mutex mu_;
  std::condition_variable cv_;
  int permits_;
  uint64_t generation_ = 0;
  std::vector<Context> idle_;
};

}  // namespace edgevault::storage::redis_internal
