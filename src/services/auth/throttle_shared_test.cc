// LoginThrottle counting in a shared window (ThrottleOptions::shared) on a real redis-server:
// two throttles are two auth nodes. The limits, the count-before-check and the success rules
// hold across nodes and restarts; when Redis does not answer, each node's own table decides.
// Times come from the Redis server's clock, so every limit here spans far more than a test.
#include <signal.h>

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "src/services/auth/throttle.h"
#include "src/storage/redis/rate_limiter_redis.h"
#include "src/storage/redis/redis_test_server.h"

namespace edgevault::auth {
namespace {

const absl::Time kT0 = absl::FromUnixSeconds(1'800'000'000);
constexpr absl::Duration kWindow = absl::Minutes(15);

class SharedThrottleTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ::signal(SIGPIPE, SIG_IGN);
    ASSERT_TRUE(server_.Start()) << "could not start redis-server";
    auto window = storage::RedisRateLimiter::Open({.port = server_.port()});
    ASSERT_TRUE(window.ok()) << window.status();
    window_ = std::move(*window);
  }
  // A node: 3 password failures per account, 5 per address, 3 second-factor failures.
  std::unique_ptr<LoginThrottle> Node(std::string id) {
    ThrottleOptions o{3, 5, kWindow, 1000};
    o.shared = window_.get();
    o.instance_id = std::move(id);
    o.on_shared_error = [this](const absl::Status&) { ++shared_errors_; };
    return std::make_unique<LoginThrottle>(o);
  }
  static absl::Duration Try(LoginThrottle& t, std::string_view account, std::string_view address,
                            LoginThrottle::Attempt* a = nullptr, absl::Time at = kT0) {
    LoginThrottle::Attempt local;
    return t.Begin({AccountKey(account), AddressKey(address)}, at, a != nullptr ? a : &local);
  }

  storage::RedisServer server_;
  std::unique_ptr<storage::RedisRateLimiter> window_;
  std::atomic<int> shared_errors_{0};
};

TEST_F(SharedThrottleTest, TwoNodesShareTheAccountLimit) {
  auto a = Node("a");
  auto b = Node("b");
  EXPECT_EQ(Try(*a, "x@example.com", "1.1.1.1"), absl::ZeroDuration());
  EXPECT_EQ(Try(*b, "x@example.com", "2.2.2.2"), absl::ZeroDuration());
  EXPECT_EQ(Try(*a, "x@example.com", "3.3.3.3"), absl::ZeroDuration());
  // The fourth guess is refused on both nodes, until the first failure leaves the window.
  for (LoginThrottle* node : {a.get(), b.get()}) {
    absl::Duration wait = Try(*node, "x@example.com", "4.4.4.4");
    EXPECT_GT(wait, absl::ZeroDuration());
    EXPECT_LE(wait, kWindow);
  }
  EXPECT_EQ(Try(*b, "y@example.com", "4.4.4.4"), absl::ZeroDuration());
  EXPECT_EQ(shared_errors_.load(), 0);
  // Each node's own table saw nothing: the counting happened in Redis.
  EXPECT_EQ(a->tracked_keys(), 0u);
  EXPECT_EQ(b->tracked_keys(), 0u);
}

TEST_F(SharedThrottleTest, ParallelGuessesOnTwoNodesAdmitExactlyTheLimit) {
  auto a = Node("a");
  auto b = Node("b");
  std::atomic<int> admitted{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      LoginThrottle& node = t % 2 == 0 ? *a : *b;
      for (int i = 0; i < 10; ++i) {
        if (Try(node, "x@example.com", "ip" + std::to_string(t * 10 + i)) == absl::ZeroDuration()) {
          ++admitted;
        }
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(admitted.load(), 3);
}

TEST_F(SharedThrottleTest, SuccessesWithdrawAndClearAcrossNodes) {
  auto a = Node("a");
  auto b = Node("b");
  EXPECT_EQ(Try(*a, "x", "ip"), absl::ZeroDuration());
  EXPECT_EQ(Try(*b, "x", "ip"), absl::ZeroDuration());
  // A correct password on node b: withdrawn from the address, the account's failures cleared.
  LoginThrottle::Attempt ok;
  ASSERT_EQ(Try(*b, "x", "ip", &ok), absl::ZeroDuration());
  b->Succeeded(ok, ThrottleScope::kAccount);
  // The account is clear (3 more fit) but the address kept its two failures: 5 - 2 = 3.
  EXPECT_EQ(Try(*a, "x", "ip"), absl::ZeroDuration());
  EXPECT_EQ(Try(*a, "x", "ip"), absl::ZeroDuration());
  EXPECT_EQ(Try(*a, "y", "ip"), absl::ZeroDuration());
  EXPECT_GT(Try(*b, "z", "ip"), absl::ZeroDuration());
  // A correct second factor never clears password failures: the account x holds 2.
  LoginThrottle::Attempt second;
  ASSERT_EQ(a->Begin({SecondFactorKey("user-x")}, kT0, &second), absl::ZeroDuration());
  a->Succeeded(second, ThrottleScope::kSecondFactor);
  EXPECT_EQ(Try(*b, "x", "other-ip"), absl::ZeroDuration());
  EXPECT_GT(Try(*b, "x", "other-ip"), absl::ZeroDuration());
  EXPECT_EQ(shared_errors_.load(), 0);
}

TEST_F(SharedThrottleTest, ARestartedNodeKeepsTheLockout) {
  {
    auto a = Node("a");
    for (int i = 0; i < 3; ++i) ASSERT_EQ(Try(*a, "x", "ip" + std::to_string(i)), absl::ZeroDuration());
  }  // the node restarts
  auto again = Node("a2");
  EXPECT_GT(Try(*again, "x", "ip9"), absl::ZeroDuration());
}

TEST_F(SharedThrottleTest, WithRedisDownEachNodeThrottlesOnItsOwnThenSharesAgain) {
  auto a = Node("a");
  LoginThrottle::Attempt before;
  ASSERT_EQ(Try(*a, "x", "ip", &before), absl::ZeroDuration());  // counted in Redis
  server_.Kill();
  // Its withdrawal fails: it stays counted (fails safe), and the error is reported.
  a->Succeeded(before, ThrottleScope::kAddress);
  EXPECT_EQ(shared_errors_.load(), 1);
  // The node's own table decides, with the same limits: 3 failures, then refused.
  for (int i = 0; i < 3; ++i) EXPECT_EQ(Try(*a, "x", "ip", nullptr, kT0), absl::ZeroDuration()) << i;
  EXPECT_GT(Try(*a, "x", "ip", nullptr, kT0), absl::ZeroDuration());
  EXPECT_EQ(a->tracked_keys(), 2u);
  // One failed call to Redis per retry period, not one per attempt.
  EXPECT_EQ(shared_errors_.load(), 2);
  // Redis is back (empty); after the retry period the node asks it again.
  ASSERT_TRUE(server_.Restart());
  const absl::Time later = kT0 + LoginThrottle::kSharedRetry;
  EXPECT_EQ(Try(*a, "x", "ip", nullptr, later), absl::ZeroDuration());
  EXPECT_EQ(shared_errors_.load(), 2);
}

}  // namespace
}  // namespace edgevault::auth
