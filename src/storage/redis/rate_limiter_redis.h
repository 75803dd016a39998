#pragma once
// The Redis backend of RateLimiter and AttemptWindow (src/storage/rate_limiter.h): every node
// pointed at the same Redis shares one count per key, and a node's restart forgets nothing.
// Each Take, Begin and Withdraw is one Lua script run atomically in one round trip (EVALSHA,
// EVAL when the server has lost the script), reading the server's clock (TIME) so the nodes'
// clocks do not matter. Every key it writes expires once it holds nothing a fresh key would
// not (a full bucket, an empty window), so memory is bounded by the keys in use. Keys and
// scripts: docs/design/rate-limits.md.
//
// Needs a standalone Redis (or a Sentinel-managed primary) of version 5 or later: an
// AttemptWindow script touches several keys, which Redis Cluster would refuse.
//
// Thread-safety: any number of threads (a pool of pool_size connections). The process must
// ignore SIGPIPE (as for the edge KV).
//
//   EV_ASSIGN_OR_RETURN(auto limiter, OpenRedisRateLimiter({.host = "10.0.0.5"}));
//   absl::StatusOr<absl::Duration> wait = limiter->Take("ofrep:" + hash, {.count = 100});

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "src/storage/redis/redis_tls.h"
#include "src/storage/rate_limiter.h"

namespace edgevault::storage {

struct RedisRateLimiterOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 6379;
  std::string username;  // "" = the default user
  std::string password;  // "" = no AUTH
  int db = 0;
  // Bounds connecting and each script's round trip; past it the call is Unavailable. Short:
  // a request waits this long before its caller falls back (FallbackRateLimiter).
  absl::Duration timeout = absl::Milliseconds(250);
  int pool_size = 4;
  // Every key is key_prefix + the caller's key ("ev:rl:ofrep:<sha256 hex>").
  std::string key_prefix = "ev:rl:";
  RedisTls tls;  // rediss://
};

class RedisRateLimiter : public RateLimiter, public AttemptWindow {
 public:
  // Checks the options and loads the scripts. A server that does not answer is not an
  // error (the limiter connects and loads on first use: a node may start while Redis is
  // down and fall back meanwhile); a refused AUTH or SELECT is.
  // Errors: InvalidArgument (empty host, port 0, timeout <= 0, pool_size < 1, db < 0),
  // PermissionDenied (AUTH or SELECT refused), Internal (the server refused the scripts).
  // The methods return, beyond the interfaces' InvalidArgument: Unavailable (connection
  // refused, reset or closed, timeout, LOADING/BUSY/MASTERDOWN), ResourceExhausted
  // (maxmemory), PermissionDenied, Internal (a key under the prefix holding something else,
  // protocol errors). Take is never repeated after a lost reply (it may have counted).
  static absl::StatusOr<std::unique_ptr<RedisRateLimiter>> Open(
      const RedisRateLimiterOptions& options);
};

}  // namespace edgevault::storage
