#include "src/storage/rate_limiter_conformance.h"

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

namespace edgevault::storage {

bool RateLimiterConformanceLinked() { return true; }

void RateLimiterConformanceTest::SetUp() {
  limiter_ = GetParam()();
  ASSERT_NE(limiter_, nullptr);
}

namespace {

// One request an hour, five at once: nothing refills while a test runs, unless it ran for
// an hour (then the checks against the measured time still hold).
constexpr RateLimit kHourly = {.count = 1, .period = absl::Hours(1), .burst = 5};

absl::Duration Since(std::chrono::steady_clock::time_point start) {
  return absl::FromChrono(std::chrono::steady_clock::now() - start);
}

TEST_P(RateLimiterConformanceTest, BurstIsAdmittedThenRefusedWithAWaitWithinOneInterval) {
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < 5; ++i) {
    absl::StatusOr<absl::Duration> wait = limiter().Take("k", kHourly);
    ASSERT_TRUE(wait.ok()) << wait.status();
    EXPECT_EQ(*wait, absl::ZeroDuration()) << i;
  }
  absl::StatusOr<absl::Duration> refused = limiter().Take("k", kHourly);
  ASSERT_TRUE(refused.ok()) << refused.status();
  // The next request is due one interval after the first was taken: at most an hour away,
  // and no less than an hour minus what the test took (and the backend's 1 us rounding).
  EXPECT_GT(*refused, absl::ZeroDuration());
  EXPECT_LE(*refused, absl::Hours(1));
  EXPECT_GE(*refused, absl::Hours(1) - Since(start) - absl::Microseconds(1));
  EXPECT_EQ(RetryAfterSeconds(*refused), absl::ToInt64Seconds(absl::Ceil(*refused, absl::Seconds(1))));
}

TEST_P(RateLimiterConformanceTest, RefusedRequestsCountNothing) {
  for (int i = 0; i < 5; ++i) ASSERT_EQ(limiter().Take("k", kHourly).value_or(absl::Hours(9)), absl::ZeroDuration());
  absl::Duration first = limiter().Take("k", kHourly).value_or(absl::ZeroDuration());
  ASSERT_GT(first, absl::ZeroDuration());
  // However many are refused, the wait never grows: a refused client is not pushed back.
  for (int i = 0; i < 20; ++i) {
    absl::StatusOr<absl::Duration> again = limiter().Take("k", kHourly);
    ASSERT_TRUE(again.ok()) << again.status();
    EXPECT_GT(*again, absl::ZeroDuration());
    EXPECT_LE(*again, first);
  }
}

TEST_P(RateLimiterConformanceTest, KeysAreIndependent) {
  for (int i = 0; i < 5; ++i) ASSERT_EQ(limiter().Take("a", kHourly).value_or(absl::Hours(9)), absl::ZeroDuration());
  EXPECT_GT(limiter().Take("a", kHourly).value_or(absl::ZeroDuration()), absl::ZeroDuration());
  EXPECT_EQ(limiter().Take("b", kHourly).value_or(absl::Hours(9)), absl::ZeroDuration());
  EXPECT_EQ(limiter().Take("a:", kHourly).value_or(absl::Hours(9)), absl::ZeroDuration());
}

TEST_P(RateLimiterConformanceTest, BurstZeroMeansOnePeriodsWorth) {
  const RateLimit limit = {.count = 3, .period = absl::Hours(3), .burst = 0};
  for (int i = 0; i < 3; ++i) ASSERT_EQ(limiter().Take("k", limit).value_or(absl::Hours(9)), absl::ZeroDuration()) << i;
  absl::StatusOr<absl::Duration> refused = limiter().Take("k", limit);
  ASSERT_TRUE(refused.ok()) << refused.status();
  EXPECT_GT(*refused, absl::ZeroDuration());
  EXPECT_LE(*refused, absl::Hours(1));
}

TEST_P(RateLimiterConformanceTest, ConcurrentTakersShareExactlyTheBurst) {
  const RateLimit limit = {.count = 1, .period = absl::Hours(1), .burst = 200};
  std::atomic<int> admitted{0}, refused{0}, failed{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 100; ++i) {
        absl::StatusOr<absl::Duration> wait = limiter().Take("shared", limit);
        if (!wait.ok()) {
          ++failed;
        } else if (*wait == absl::ZeroDuration()) {
          ++admitted;
        } else {
          ++refused;
        }
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(failed.load(), 0);
  EXPECT_EQ(admitted.load(), 200);
  EXPECT_EQ(refused.load(), 200);
}

TEST_P(RateLimiterConformanceTest, BadArgumentsAreInvalidArgument) {
  EXPECT_TRUE(absl::IsInvalidArgument(limiter().Take("", kHourly).status()));
  EXPECT_TRUE(absl::IsInvalidArgument(limiter().Take("k", {.count = 0}).status()));
  EXPECT_TRUE(absl::IsInvalidArgument(limiter().Take("k", {.count = 1, .burst = -1}).status()));
  EXPECT_TRUE(absl::IsInvalidArgument(
      limiter().Take("k", {.count = 2'000'000, .period = absl::Seconds(1)}).status()));
  EXPECT_TRUE(absl::IsInvalidArgument(
      limiter().Take("k", {.count = 1, .period = absl::Hours(25)}).status()));
  EXPECT_TRUE(absl::IsInvalidArgument(
      limiter().Take("k", {.count = 1, .period = absl::Hours(24), .burst = 1000}).status()));
  // Nothing was counted: the whole burst is still there.
  for (int i = 0; i < 5; ++i) EXPECT_EQ(limiter().Take("k", kHourly).value_or(absl::Hours(9)), absl::ZeroDuration());
}

}  // namespace
}  // namespace edgevault::storage
