#pragma once
// The Redis backend of EdgeKv (keys, scripts and channel: docs/design/edge-kv.md, "Redis
// backend"), for deployments with many delivery nodes, and RedisKvWatcher, the subscriber
// that tells a node which keys changed (push invalidation).
//
// Thread-safety: the EdgeKv is as EdgeKv (any number of threads; a pool of `pool_size`
// synchronous connections, each used by one call at a time; callers beyond that wait for a
// free one). RedisKvWatcher: Start/Stop from one owner thread; callbacks run on the
// watcher's own thread, one at a time. The process must ignore SIGPIPE (service_main and
// `edgevault up` do): hiredis writes with write(2), and a server that dies mid-write would
// otherwise kill the process instead of producing Unavailable.
//
//   EV_ASSIGN_OR_RETURN(std::unique_ptr<EdgeKv> kv, OpenRedisEdgeKv({.host = "10.0.0.5"}));
//   EV_ASSIGN_OR_RETURN(auto watcher, RedisKvWatcher::Create({.host = "10.0.0.5"},
//       [&](std::string key, int64_t version) { cache.DropIfOlder(key, version); }));
//   EV_RETURN_IF_ERROR(watcher->Start());

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "src/base/env.h"
#include "src/storage/edge_kv.h"
#include "src/storage/redis/redis_tls.h"

namespace edgevault::storage {

struct RedisEdgeKvOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 6379;
  // Credentials sent with AUTH on every new connection (the watcher's too); an empty
  // password sends no AUTH. An empty username is the default user (AUTH <password>).
  std::string username;
  std::string password;
  // SELECTed on every new connection (pub/sub channels are not per database).
  int db = 0;
  // Bounds connecting and each command's send and reply; past it the call is Unavailable.
  absl::Duration timeout = absl::Seconds(2);
  // Every EdgeKv key is stored as the Redis key key_prefix + key (namespaces a shared Redis).
  std::string key_prefix = "ev:";
  // Accepted writes and deletes publish "<key>\n<version>" here (key without key_prefix).
  std::string channel = "ev:kv";
  // Connections kept open; at most this many commands run at once.
  int pool_size = 4;
  RedisTls tls;  // rediss:// (the watcher's connection too)
  // The watcher's connection loop runs as a periodic task of this Env
  // (docs/design/periodic-tasks.md); nullptr = base::Env::Default(). Not owned.
  base::Env* env = nullptr;
};

// Checks the options and connects once (so a wrong address fails here, not at first use).
// Connections are made lazily after that and replaced after any connection error, and an
// idle connection the server has closed is replaced before it carries a command: when the
// server comes back, calls (the first write included) work again without reopening.
// Errors: InvalidArgument (empty host, port 0, timeout <= 0, pool_size < 1, empty
// channel, db < 0), Unavailable (cannot connect, or no answer within the timeout),
// PermissionDenied (AUTH refused: wrong user or password, or the server wants one; SELECT
// refused), Internal (the server refused to load the scripts).
// The returned store's methods return, beyond EdgeKv's codes: Unavailable (connection
// refused, reset or closed, timeout, server LOADING/BUSY/MASTERDOWN; a write that fails so
// may or may not have been applied — repeating it is safe under the version rule),
// ResourceExhausted (the server is at maxmemory), PermissionDenied (as above, on a new
// connection), Internal (a value under our prefix that is not ours, protocol errors, other
// server errors).
absl::StatusOr<std::unique_ptr<EdgeKv>> OpenRedisEdgeKv(const RedisEdgeKvOptions& options);

// Subscribes to options.channel on its own connection and its own thread, calling
// on_change(key, version) for every accepted write or delete published by a Redis EdgeKv
// using the same channel. Pub/sub is at-most-once: messages published while the watcher is
// disconnected are lost, so on_subscribed (optional) runs after every successful
// (re)subscription and the owner should then re-validate what it caches (GetVersion).
// Reconnects 50 ms after a subscription ends, and after failing to subscribe with a
// back-off from 100 ms doubling to 2 s, less up to 20% jitter.
class RedisKvWatcher {
 public:
  using OnChange = std::function<void(std::string key, int64_t version)>;

  // Errors: InvalidArgument (as OpenRedisEdgeKv's options, or on_change empty). Does not
  // connect: that happens on the watcher's thread after Start.
  static absl::StatusOr<std::unique_ptr<RedisKvWatcher>> Create(
      const RedisEdgeKvOptions& options, OnChange on_change,
      std::function<void()> on_subscribed = nullptr);

  virtual ~RedisKvWatcher() = default;

  // Starts the watcher's task (its own thread on the real Env). Errors: FailedPrecondition (already started, or stopped), Internal
  // (no thread or wake-up pipe could be made).
  virtual absl::Status Start() = 0;

  // Stops the task and waits for it; no callback runs after it returns. Returns at once
  // unless it is connecting (then within options.timeout). Idempotent; the destructor
  // calls it. Must not be called from a callback.
  virtual void Stop() = 0;
};

}  // namespace edgevault::storage
