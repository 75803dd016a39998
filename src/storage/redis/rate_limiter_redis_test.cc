// The Redis RateLimiter / AttemptWindow against a real redis-server: the conformance suite,
// two limiters ("nodes") sharing one count, a reopened limiter keeping it, the server's clock
// refilling buckets, bounded memory (TTLs), outages and recovery, and the login-throttle
// window's count-then-withdraw semantics.
#include "src/storage/redis/rate_limiter_redis.h"

#include <hiredis/hiredis.h>

#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "src/base/testing/poll_until.h"
#include "src/storage/rate_limiter_conformance.h"
#include "src/storage/redis/redis_test_server.h"

namespace edgevault::storage {
namespace {

RedisRateLimiterOptions OptionsFor(const RedisServer& server) {
  RedisRateLimiterOptions o;
  o.port = server.port();
  o.password = server.Options().password;
  return o;
}

std::unique_ptr<RateLimiter> NewEmptyRedisRateLimiter() {
  RedisServer* server = EmptySharedRedisServer();
  if (server == nullptr) return nullptr;
  auto limiter = RedisRateLimiter::Open(OptionsFor(*server));
  if (!limiter.ok()) {
    ADD_FAILURE() << limiter.status();
    return nullptr;
  }
  return std::move(*limiter);
}

}  // namespace
}  // namespace edgevault::storage

INSTANTIATE_RATE_LIMITER_CONFORMANCE(Redis, edgevault::storage::NewEmptyRedisRateLimiter);

namespace edgevault::storage {
namespace {

constexpr RateLimit kHourly = {.count = 1, .period = absl::Hours(1), .burst = 5};

absl::Duration Since(std::chrono::steady_clock::time_point start) {
  return absl::FromChrono(std::chrono::steady_clock::now() - start);
}

class RedisRateLimiterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(server_.Start()) << "could not start redis-server";
  }
  std::unique_ptr<RedisRateLimiter> Open() {
    auto limiter = RedisRateLimiter::Open(OptionsFor(server_));
    EXPECT_TRUE(limiter.ok()) << limiter.status();
    return limiter.ok() ? std::move(*limiter) : nullptr;
  }
  long long Integer(const std::vector<std::string>& args) {
    RawReply r = server_.Raw(args);
    return r != nullptr && r->type == REDIS_REPLY_INTEGER ? r->integer : -100;
  }
  // The server's clock (TIME), which the limiter counts on; InfinitePast when unreadable.
  absl::Time ServerTime() {
    RawReply r = server_.Raw({"TIME"});
    if (r == nullptr || r->type != REDIS_REPLY_ARRAY || r->elements != 2) return absl::InfinitePast();
    return absl::FromUnixMicros(std::stoll(r->element[0]->str) * 1'000'000 + std::stoll(r->element[1]->str));
  }
  // Waits, by polling the server's clock rather than sleeping on ours, until `d` has
  // passed on it since now.
  bool WaitOnServerClock(absl::Duration d) {
    const absl::Time until = ServerTime() + d;
    return base::testing::PollUntil([&] { return ServerTime() >= until; });
  }
  absl::Duration Take(RateLimiter& limiter, std::string_view key, const RateLimit& limit) {
    absl::StatusOr<absl::Duration> wait = limiter.Take(key, limit);
    EXPECT_TRUE(wait.ok()) << wait.status();
    return wait.value_or(absl::InfiniteDuration());
  }

  RedisServer server_;
};

TEST_F(RedisRateLimiterTest, TwoNodesShareOneLimit) {
  auto a = Open();
  auto b = Open();
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  // Alternating between the nodes: together they get the burst once, not once each.
  int admitted = 0;
  for (int i = 0; i < 20; ++i) {
    if (Take(i % 2 == 0 ? *a : *b, "sdk", kHourly) == absl::ZeroDuration()) ++admitted;
  }
  EXPECT_EQ(admitted, 5);
  EXPECT_GT(Take(*a, "sdk", kHourly), absl::ZeroDuration());
  EXPECT_GT(Take(*b, "sdk", kHourly), absl::ZeroDuration());
}

TEST_F(RedisRateLimiterTest, AReopenedLimiterKeepsTheCounts) {
  {
    auto node = Open();
    ASSERT_NE(node, nullptr);
    for (int i = 0; i < 5; ++i) ASSERT_EQ(Take(*node, "sdk", kHourly), absl::ZeroDuration());
  }  // the "process" goes away
  auto restarted = Open();
  ASSERT_NE(restarted, nullptr);
  EXPECT_GT(Take(*restarted, "sdk", kHourly), absl::ZeroDuration());
}

TEST_F(RedisRateLimiterTest, TheServersClockRefillsAfterTheWaitItReports) {
  auto limiter = Open();
  ASSERT_NE(limiter, nullptr);
  const RateLimit limit = {.count = 20, .period = absl::Seconds(1), .burst = 1};  // 50 ms each
  ASSERT_EQ(Take(*limiter, "k", limit), absl::ZeroDuration());
  absl::Duration wait = Take(*limiter, "k", limit);
  ASSERT_GT(wait, absl::ZeroDuration());
  ASSERT_LE(wait, absl::Milliseconds(50));
  // Waiting what it said is enough (the server's clock runs with ours): admitted again,
  // once, then refused again.
  ASSERT_TRUE(WaitOnServerClock(wait));
  EXPECT_EQ(Take(*limiter, "k", limit), absl::ZeroDuration());
  EXPECT_GT(Take(*limiter, "k", limit), absl::ZeroDuration());
}

TEST_F(RedisRateLimiterTest, BucketsExpireOnceFullSoMemoryIsBounded) {
  auto limiter = Open();
  ASSERT_NE(limiter, nullptr);
  const RateLimit limit = {.count = 10, .period = absl::Seconds(1), .burst = 3};  // 100 ms each
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < 3; ++i) ASSERT_EQ(Take(*limiter, "k", limit), absl::ZeroDuration());
  // The key lives until the bucket would be full again: at most burst x interval.
  long long ttl = Integer({"PTTL", "ev:rl:k"});
  EXPECT_GT(ttl, 0);
  EXPECT_LE(ttl, 300);
  EXPECT_GE(ttl, 300 - absl::ToInt64Milliseconds(Since(start)) - 1);
  // A refusal writes nothing.
  ASSERT_GT(Take(*limiter, "k", limit), absl::ZeroDuration());
  EXPECT_EQ(Integer({"DBSIZE"}), 1);
}

TEST_F(RedisRateLimiterTest, OutageIsUnavailableAndARestartedServerServesAgain) {
  auto limiter = Open();
  ASSERT_NE(limiter, nullptr);
  ASSERT_EQ(Take(*limiter, "k", kHourly), absl::ZeroDuration());
  server_.Kill();
  EXPECT_TRUE(absl::IsUnavailable(limiter->Take("k", kHourly).status()));
  EXPECT_TRUE(absl::IsUnavailable(limiter->Begin({{"a", 3}}, absl::Minutes(1), "id").status()));
  // Back, empty and without the scripts: EVALSHA's NOSCRIPT falls back to EVAL.
  ASSERT_TRUE(server_.Restart());
  EXPECT_EQ(Take(*limiter, "k", kHourly), absl::ZeroDuration());
  absl::StatusOr<absl::Duration> begun = limiter->Begin({{"a", 3}}, absl::Minutes(1), "id");
  ASSERT_TRUE(begun.ok()) << begun.status();
  EXPECT_EQ(*begun, absl::ZeroDuration());
}

TEST_F(RedisRateLimiterTest, OpensWhileTheServerIsDownAndLoadsTheScriptsLater) {
  RedisRateLimiterOptions o = OptionsFor(server_);
  server_.Kill();
  auto limiter = RedisRateLimiter::Open(o);
  ASSERT_TRUE(limiter.ok()) << limiter.status();
  EXPECT_TRUE(absl::IsUnavailable((*limiter)->Take("k", kHourly).status()));
  ASSERT_TRUE(server_.Restart());
  EXPECT_EQ(Take(**limiter, "k", kHourly), absl::ZeroDuration());
}

TEST_F(RedisRateLimiterTest, UnresponsiveServerTimesOutAsUnavailable) {
  auto limiter = Open();
  ASSERT_NE(limiter, nullptr);
  server_.Pause();
  EXPECT_TRUE(absl::IsUnavailable(limiter->Take("k", kHourly).status()));
  server_.Resume();
}

TEST_F(RedisRateLimiterTest, AForeignValueUnderThePrefixIsInternal) {
  auto limiter = Open();
  ASSERT_NE(limiter, nullptr);
  ASSERT_NE(server_.Raw({"SET", "ev:rl:k", "not a number"}), nullptr);
  ASSERT_NE(server_.Raw({"HSET", "ev:rl:h", "f", "v"}), nullptr);
  EXPECT_TRUE(absl::IsInternal(limiter->Take("k", kHourly).status()));
  EXPECT_TRUE(absl::IsInternal(limiter->Take("h", kHourly).status()));
  EXPECT_TRUE(absl::IsInternal(limiter->Begin({{"h", 3}}, absl::Minutes(1), "id").status()));
}

TEST(RedisRateLimiterOpenTest, BadOptionsAndRefusedAuthFailToOpen) {
  EXPECT_TRUE(absl::IsInvalidArgument(RedisRateLimiter::Open({.host = ""}).status()));
  EXPECT_TRUE(absl::IsInvalidArgument(RedisRateLimiter::Open({.port = 0}).status()));
  EXPECT_TRUE(absl::IsInvalidArgument(RedisRateLimiter::Open({.timeout = absl::ZeroDuration()}).status()));
  EXPECT_TRUE(absl::IsInvalidArgument(RedisRateLimiter::Open({.pool_size = 0}).status()));
  RedisServer server;
  server.RequirePassword("s3cret");
  ASSERT_TRUE(server.Start());
  RedisRateLimiterOptions o = OptionsFor(server);
  o.password = "wrong";
  absl::StatusOr<std::unique_ptr<RedisRateLimiter>> refused = RedisRateLimiter::Open(o);
  EXPECT_TRUE(absl::IsPermissionDenied(refused.status())) << refused.status();
  EXPECT_EQ(std::string(refused.status().message()).find("wrong"), std::string::npos);
  o.password = "s3cret";
  o.db = 2;
  auto limiter = RedisRateLimiter::Open(o);
  ASSERT_TRUE(limiter.ok()) << limiter.status();
  EXPECT_EQ((*limiter)->Take("k", kHourly).value_or(absl::Hours(9)), absl::ZeroDuration());
}

// ---- AttemptWindow (login throttling) ---------------------------------------------------

TEST_F(RedisRateLimiterTest, AttemptsAreCountedBeforeTheyAreCheckedAcrossNodes) {
  auto a = Open();
  auto b = Open();
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  const auto start = std::chrono::steady_clock::now();
  const absl::Duration window = absl::Minutes(15);
  // Three failures for the account, from two nodes: the fourth is refused everywhere.
  for (int i = 0; i < 3; ++i) {
    absl::StatusOr<absl::Duration> begun =
        (i % 2 == 0 ? *a : *b).Begin({{"acct:x", 3}, {"addr:1", 10}}, window, "id" + std::to_string(i));
    ASSERT_TRUE(begun.ok()) << begun.status();
    EXPECT_EQ(*begun, absl::ZeroDuration()) << i;
  }
  absl::StatusOr<absl::Duration> refused = b->Begin({{"acct:x", 3}, {"addr:2", 10}}, window, "id3");
  ASSERT_TRUE(refused.ok()) << refused.status();
  // Until the oldest failure leaves the window: at most the window, no less than the window
  // minus what the test took.
  EXPECT_GT(*refused, absl::ZeroDuration());
  EXPECT_LE(*refused, window);
  EXPECT_GE(*refused, window - Since(start) - absl::Microseconds(1));
  // A refusal counts nothing anywhere: addr:2 was not touched, addr:1 holds 3.
  EXPECT_EQ(Integer({"EXISTS", "ev:rl:addr:2"}), 0);
  EXPECT_EQ(Integer({"ZCARD", "ev:rl:addr:1"}), 3);
  // The windows expire a window after their newest attempt.
  long long ttl = Integer({"PTTL", "ev:rl:acct:x"});
  EXPECT_GT(ttl, 0);
  EXPECT_LE(ttl, absl::ToInt64Milliseconds(window));
}

TEST_F(RedisRateLimiterTest, WithdrawTakesBackOneAttemptAndClearForgetsAll) {
  auto node = Open();
  ASSERT_NE(node, nullptr);
  const absl::Duration window = absl::Minutes(15);
  auto begin = [&](const std::string& id) {
    return node->Begin({{"acct:x", 3}, {"addr:1", 4}}, window, id).value_or(absl::InfiniteDuration());
  };
  ASSERT_EQ(begin("1"), absl::ZeroDuration());
  ASSERT_EQ(begin("2"), absl::ZeroDuration());
  ASSERT_EQ(begin("3"), absl::ZeroDuration());
  ASSERT_GT(begin("4"), absl::ZeroDuration());
  // Attempt 3 proved right (a correct second factor, say): withdrawn from both keys.
  ASSERT_TRUE(node->Withdraw({"acct:x", "addr:1"}, "3", {}).ok());
  EXPECT_EQ(Integer({"ZCARD", "ev:rl:acct:x"}), 2);
  EXPECT_EQ(Integer({"ZCARD", "ev:rl:addr:1"}), 2);
  ASSERT_EQ(begin("5"), absl::ZeroDuration());
  ASSERT_GT(begin("6"), absl::ZeroDuration());
  // A correct password clears the account's failures, never the address's.
  ASSERT_TRUE(node->Withdraw({"acct:x", "addr:1"}, "5", {"acct:x"}).ok());
  EXPECT_EQ(Integer({"EXISTS", "ev:rl:acct:x"}), 0);
  EXPECT_EQ(Integer({"ZCARD", "ev:rl:addr:1"}), 2);
  // Withdrawing again, or an attempt that is gone, is no error.
  EXPECT_TRUE(node->Withdraw({"acct:x", "addr:1"}, "5", {"acct:x"}).ok());
  EXPECT_TRUE(node->Withdraw({"acct:y"}, "nope", {}).ok());
}

TEST_F(RedisRateLimiterTest, AttemptsLeaveTheWindowOnTheServersClock) {
  auto node = Open();
  ASSERT_NE(node, nullptr);
  const absl::Duration window = absl::Milliseconds(50);
  ASSERT_EQ(node->Begin({{"k", 1}}, window, "a").value_or(absl::InfiniteDuration()), absl::ZeroDuration());
  absl::Duration wait = node->Begin({{"k", 1}}, window, "b").value_or(absl::ZeroDuration());
  ASSERT_GT(wait, absl::ZeroDuration());
  ASSERT_LE(wait, window);
  ASSERT_TRUE(WaitOnServerClock(wait));
  EXPECT_EQ(node->Begin({{"k", 1}}, window, "c").value_or(absl::InfiniteDuration()), absl::ZeroDuration());
}

TEST_F(RedisRateLimiterTest, BadAttemptsAreInvalidArgument) {
  auto node = Open();
  ASSERT_NE(node, nullptr);
  EXPECT_TRUE(absl::IsInvalidArgument(node->Begin({}, absl::Minutes(1), "id").status()));
  EXPECT_TRUE(absl::IsInvalidArgument(node->Begin({{"k", 1}}, absl::Minutes(1), "").status()));
  EXPECT_TRUE(absl::IsInvalidArgument(node->Begin({{"k", 0}}, absl::Minutes(1), "id").status()));
  EXPECT_TRUE(absl::IsInvalidArgument(node->Begin({{"", 1}}, absl::Minutes(1), "id").status()));
  EXPECT_TRUE(absl::IsInvalidArgument(node->Begin({{"k", 1}}, absl::ZeroDuration(), "id").status()));
  EXPECT_TRUE(absl::IsInvalidArgument(node->Withdraw({"k"}, "", {})));
}

}  // namespace
}  // namespace edgevault::storage
