#pragma once
// Rate limits keyed by principal (an SDK key's hash, a client address, an account), counted
// either in this process (MemoryRateLimiter: one node) or in a store every node shares
// (src/storage/redis/rate_limiter_redis.h: N nodes still give the rate once, and a restart
// forgets nothing). docs/design/rate-limits.md has the algorithm and the Redis keys.
//
// Two shapes:
//  - RateLimiter: a token bucket as GCRA (generic cell rate algorithm). `count` requests per
//    `period`, up to `burst` at once; Take both checks and counts, atomically.
//  - AttemptWindow: failures in a sliding window, for login throttling
//    (src/services/auth/throttle.h): Begin counts an attempt against several keys at once
//    before the credential is checked, Withdraw takes it back when it proved right.
//
//   std::unique_ptr<RateLimiter> limiter = NewMemoryRateLimiter({.env = env});
//   EV_ASSIGN_OR_RETURN(absl::Duration wait,
//                       limiter->Take("ofrep:" + key_hash, {.count = 100, .burst = 200}));
//   if (wait > absl::ZeroDuration()) return TooManyRequests(RetryAfterSeconds(wait));
//
// Thread-safety: every implementation's methods may be called concurrently.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "src/base/env.h"

namespace edgevault::storage {

// `count` requests per `period`, at most `burst` of them at once (0 = `count`). The bucket
// refills one request every period / count.
struct RateLimit {
  int64_t count = 0;
  absl::Duration period = absl::Seconds(1);
  int64_t burst = 0;
};

// InvalidArgument unless count >= 1, burst >= 0 and period / count is at least 1 µs (the
// Redis backend's resolution) and period at most a day.
absl::Status ValidateRateLimit(const RateLimit& limit);

// The Retry-After value for a wait: whole seconds, rounded up, at least 1.
int64_t RetryAfterSeconds(absl::Duration wait);

class RateLimiter {
 public:
  virtual ~RateLimiter() = default;

  // Takes one request from `key`'s bucket and returns zero; or, when the bucket is empty,
  // takes nothing and returns how long until it holds one again (> 0, at most one refill
  // interval). Errors: InvalidArgument (empty key, ValidateRateLimit); a shared backend's
  // Unavailable / ResourceExhausted / PermissionDenied / Internal (nothing was counted, or
  // it cannot tell).
  virtual absl::StatusOr<absl::Duration> Take(std::string_view key, const RateLimit& limit) = 0;
};

struct MemoryRateLimiterOptions {
  base::Env* env = nullptr;  // MonotonicNow is the clock; nullptr = base::Env::Default()
  // Buckets held at most. A full bucket is forgotten at no cost (an absent key is a full
  // bucket); only when every held bucket is in use does the least recently refilled of a
  // few go, which can only hand its key a fresh burst early.
  size_t max_keys = 100000;
};
std::unique_ptr<RateLimiter> NewMemoryRateLimiter(MemoryRateLimiterOptions options);

// The GCRA step both backends run: with the bucket's theoretical arrival time `tat` (a point
// on the clock `now` reads, 0 for a new bucket), returns the wait (0 = admitted) and, when
// admitted, moves *tat. Times in nanoseconds.
int64_t GcraTake(int64_t* tat, int64_t now, int64_t interval, int64_t tolerance);

// A shared limiter with a local one to fall back on. Take asks `shared`; when it fails
// (Redis down, timing out, refusing) the error is reported through on_error, and this and
// every Take for `retry_after` go to `local`, so an outage costs one timeout per period,
// not one per request. Each node then limits on its own (N nodes give N x the rate) until
// the shared store answers again. Both limiters are not owned and must outlive this one.
struct FallbackRateLimiterOptions {
  RateLimiter* shared = nullptr;
  RateLimiter* local = nullptr;
  base::Env* env = nullptr;  // MonotonicNow; nullptr = base::Env::Default()
  absl::Duration retry_after = absl::Seconds(1);
  std::function<void(const absl::Status&)> on_error;  // may be empty; any thread
};
std::unique_ptr<RateLimiter> NewFallbackRateLimiter(FallbackRateLimiterOptions options);

// Sliding-window failure counting over several keys at once (login throttling).
class AttemptWindow {
 public:
  struct Key {
    std::string key;
    int64_t limit = 0;  // attempts admitted per window; >= 1
  };
  virtual ~AttemptWindow() = default;

  // Admits the attempt when every key holds fewer than its limit of attempts younger than
  // `window`, counting it against each under `attempt_id` (unique among attempts, across
  // nodes); returns zero. Otherwise counts nothing and returns how long until the attempt
  // could be admitted (> 0). Errors: InvalidArgument (no keys, an empty key or id, a limit
  // < 1, window outside 1 ms..30 days); the backend's errors as RateLimiter::Take.
  virtual absl::StatusOr<absl::Duration> Begin(const std::vector<Key>& keys,
                                               absl::Duration window,
                                               std::string_view attempt_id) = 0;

  // Takes attempt `attempt_id` back from every key in `keys`, and forgets every attempt of
  // the keys in `clear` (a subset of `keys` or not). An attempt already gone is no error.
  // Errors: InvalidArgument (empty id), the backend's errors (then nothing may have changed:
  // the attempt stays counted, which fails safe).
  virtual absl::Status Withdraw(const std::vector<std::string>& keys,
                                std::string_view attempt_id,
                                const std::vector<std::string>& clear) = 0;
};

// The checks every AttemptWindow::Begin makes (InvalidArgument).
absl::Status ValidateAttempt(const std::vector<AttemptWindow::Key>& keys, absl::Duration window,
                             std::string_view attempt_id);

}  // namespace edgevault::storage
