// The in-memory RateLimiter (conformance suite, refill on a simulated clock, bounded memory)
// and FallbackRateLimiter.
#include "src/storage/rate_limiter.h"

#include <memory>
#include <string>

#include "gtest/gtest.h"
#include "src/base/env.h"
#include "src/storage/rate_limiter_conformance.h"

INSTANTIATE_RATE_LIMITER_CONFORMANCE(Memory, [] {
  return edgevault::storage::NewMemoryRateLimiter({});
});

namespace edgevault::storage {
namespace {

TEST(MemoryRateLimiterTest, BurstThenOneRequestPerInterval) {
  base::SimulatedEnv env;
  auto limiter = NewMemoryRateLimiter({.env = &env});
  const RateLimit limit = {.count = 10, .period = absl::Seconds(1), .burst = 3};  // 100 ms each
  auto take = [&] { return limiter->Take("k", limit).value(); };
  for (int i = 0; i < 3; ++i) EXPECT_EQ(take(), absl::ZeroDuration()) << i;
  EXPECT_EQ(take(), absl::Milliseconds(100));
  env.AdvanceBy(absl::Milliseconds(40));
  EXPECT_EQ(take(), absl::Milliseconds(60));
  env.AdvanceBy(absl::Milliseconds(60));
  EXPECT_EQ(take(), absl::ZeroDuration());
  EXPECT_EQ(take(), absl::Milliseconds(100));
  // Idle for a minute: the bucket holds the burst (3), not 600 requests.
  env.AdvanceBy(absl::Minutes(1));
  for (int i = 0; i < 3; ++i) EXPECT_EQ(take(), absl::ZeroDuration()) << i;
  EXPECT_GT(take(), absl::ZeroDuration());
}

TEST(MemoryRateLimiterTest, FullTableForgetsFullBucketsFirst) {
  base::SimulatedEnv env;
  auto limiter = NewMemoryRateLimiter({.env = &env, .max_keys = 64});  // 4 keys per shard
  const RateLimit limit = {.count = 1, .period = absl::Hours(1), .burst = 1};
  ASSERT_EQ(limiter->Take("victim", limit).value(), absl::ZeroDuration());
  ASSERT_GT(limiter->Take("victim", limit).value(), absl::ZeroDuration());
  // Many other keys, each used once and then refilled (an hour later): the victim's bucket,
  // still in use, is never the one that goes while a full bucket can go instead.
  for (int i = 0; i < 200; ++i) {
    env.AdvanceBy(absl::Seconds(1));
    ASSERT_EQ(limiter->Take("other" + std::to_string(i), {.count = 1000, .period = absl::Seconds(1)}).value(),
              absl::ZeroDuration());
  }
  EXPECT_GT(limiter->Take("victim", limit).value(), absl::ZeroDuration());
}

// A shared limiter that fails while `down` is set, counting its calls.
class FlakyLimiter : public RateLimiter {
 public:
  absl::StatusOr<absl::Duration> Take(std::string_view key, const RateLimit& limit) override {
    ++calls;
    if (down) return absl::UnavailableError("down");
    return inner->Take(key, limit);
  }
  bool down = false;
  int calls = 0;
  std::unique_ptr<RateLimiter> inner = NewMemoryRateLimiter({});
};

TEST(FallbackRateLimiterTest, OutageGoesLocalAndRetriesTheSharedOneAfterAPeriod) {
  base::SimulatedEnv env;
  FlakyLimiter shared;
  auto local = NewMemoryRateLimiter({.env = &env});
  int errors = 0;
  auto limiter = NewFallbackRateLimiter({.shared = &shared, .local = local.get(), .env = &env,
                                         .retry_after = absl::Seconds(1),
                                         .on_error = [&](const absl::Status&) { ++errors; }});
  const RateLimit limit = {.count = 1, .period = absl::Hours(1), .burst = 2};
  EXPECT_EQ(limiter->Take("k", limit).value(), absl::ZeroDuration());  // shared
  shared.down = true;
  // The first call during the outage finds it; the local limiter (fresh) decides, and keeps
  // deciding without asking the shared one for a second.
  EXPECT_EQ(limiter->Take("k", limit).value(), absl::ZeroDuration());
  EXPECT_EQ(limiter->Take("k", limit).value(), absl::ZeroDuration());
  EXPECT_GT(limiter->Take("k", limit).value(), absl::ZeroDuration());
  EXPECT_EQ(shared.calls, 2);
  EXPECT_EQ(errors, 1);
  // Back up, after the retry period: the shared count (1 of 2 taken) decides again.
  shared.down = false;
  env.AdvanceBy(absl::Seconds(1));
  EXPECT_EQ(limiter->Take("k", limit).value(), absl::ZeroDuration());
  EXPECT_GT(limiter->Take("k", limit).value(), absl::ZeroDuration());
  EXPECT_EQ(shared.calls, 4);
  EXPECT_EQ(errors, 1);
  // Argument errors are the caller's, not an outage.
  EXPECT_TRUE(absl::IsInvalidArgument(limiter->Take("", limit).status()));
  EXPECT_EQ(errors, 1);
}

TEST(RetryAfterSecondsTest, RoundsUpToWholeSecondsAtLeastOne) {
  EXPECT_EQ(RetryAfterSeconds(absl::Microseconds(1)), 1);
  EXPECT_EQ(RetryAfterSeconds(absl::Seconds(1)), 1);
  EXPECT_EQ(RetryAfterSeconds(absl::Milliseconds(1001)), 2);
  EXPECT_EQ(RetryAfterSeconds(absl::Hours(1)), 3600);
}

}  // namespace
}  // namespace edgevault::storage
