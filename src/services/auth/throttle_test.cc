#include "src/services/auth/throttle.h"

#include "gtest/gtest.h"

namespace edgevault::auth {
namespace {

const absl::Time kT0 = absl::FromUnixSeconds(1'800'000'000);

TEST(LoginThrottleTest, AccountLimitAndWindow) {
  LoginThrottle t({3, 100, absl::Minutes(10), 1000});
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(t.Check("a", "1.1.1.1", kT0), absl::ZeroDuration());
    t.RecordFailure("a", "1.1.1.1", kT0 + absl::Seconds(i));
  }
  // Free again when the oldest failure leaves the window.
  EXPECT_EQ(t.Check("a", "2.2.2.2", kT0 + absl::Seconds(5)), absl::Minutes(10) - absl::Seconds(5));
  EXPECT_EQ(t.Check("b", "1.1.1.1", kT0 + absl::Seconds(5)), absl::ZeroDuration());
  EXPECT_EQ(t.Check("a", "1.1.1.1", kT0 + absl::Minutes(10)), absl::ZeroDuration());
}

TEST(LoginThrottleTest, SuccessResetsAccountButNotAddress) {
  LoginThrottle t({2, 3, absl::Minutes(10), 1000});
  t.RecordFailure("a", "ip", kT0);
  t.RecordFailure("b", "ip", kT0);
  t.RecordSuccess("a");
  t.RecordFailure("c", "ip", kT0);
  EXPECT_GT(t.Check("a", "ip", kT0), absl::ZeroDuration());  // address over its limit
  EXPECT_EQ(t.Check("a", "other-ip", kT0), absl::ZeroDuration());
}

TEST(LoginThrottleTest, BoundedMemory) {
  LoginThrottle t({5, 5, absl::Minutes(1), 10});
  for (int i = 0; i < 100; ++i) t.RecordFailure("acct" + std::to_string(i), "ip" + std::to_string(i), kT0);
  // Still answers; entries beyond the bound were dropped rather than kept forever.
  EXPECT_EQ(t.Check("fresh", "fresh", kT0), absl::ZeroDuration());
}

}  // namespace
}  // namespace edgevault::auth
