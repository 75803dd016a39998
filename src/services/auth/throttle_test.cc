#include "src/services/auth/throttle.h"

#include <atomic>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace edgevault::auth {
namespace {

const absl::Time kT0 = absl::FromUnixSeconds(1'800'000'000);

// One failed attempt (Begin, never Succeeded); false when it was refused.
bool Fail(LoginThrottle& t, std::string_view account, std::string_view address, absl::Time at) {
  LoginThrottle::Attempt a;
  return t.Begin({AccountKey(account), AddressKey(address)}, at, &a) == absl::ZeroDuration();
}

absl::Duration Wait(LoginThrottle& t, std::string_view account, std::string_view address,
                    absl::Time at) {
  LoginThrottle::Attempt a;
  absl::Duration wait = t.Begin({AccountKey(account), AddressKey(address)}, at, &a);
  if (wait == absl::ZeroDuration()) t.Succeeded(a, ThrottleScope::kAddress);  // a probe: withdraw it
  return wait;
}

TEST(LoginThrottleTest, AccountLimitAndWindow) {
  LoginThrottle t({3, 100, absl::Minutes(10), 1000});
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(Fail(t, "a", "1.1.1.1", kT0 + absl::Seconds(i)));
  // Free again when the oldest failure leaves the window.
  EXPECT_EQ(Wait(t, "a", "2.2.2.2", kT0 + absl::Seconds(5)), absl::Minutes(10) - absl::Seconds(5));
  EXPECT_EQ(Wait(t, "b", "1.1.1.1", kT0 + absl::Seconds(5)), absl::ZeroDuration());
  EXPECT_EQ(Wait(t, "a", "1.1.1.1", kT0 + absl::Minutes(10)), absl::ZeroDuration());
}

TEST(LoginThrottleTest, RefusedAttemptsCountNothing) {
  LoginThrottle t({2, 100, absl::Minutes(10), 1000});
  EXPECT_TRUE(Fail(t, "a", "ip", kT0));
  EXPECT_TRUE(Fail(t, "a", "ip", kT0));
  for (int i = 0; i < 10; ++i) EXPECT_FALSE(Fail(t, "a", "ip", kT0));
  // The address saw two attempts, not twelve.
  LoginThrottle::Attempt a;
  EXPECT_EQ(t.Begin({AddressKey("ip")}, kT0, &a), absl::ZeroDuration());
}

TEST(LoginThrottleTest, PasswordSuccessClearsTheAccountButNotTheAddress) {
  LoginThrottle t({2, 3, absl::Minutes(10), 1000});
  EXPECT_TRUE(Fail(t, "a", "ip", kT0));
  EXPECT_TRUE(Fail(t, "b", "ip", kT0));
  LoginThrottle::Attempt ok;
  ASSERT_EQ(t.Begin({AccountKey("a"), AddressKey("ip")}, kT0, &ok), absl::ZeroDuration());
  t.Succeeded(ok, ThrottleScope::kAccount);  // withdrawn from the address, account cleared
  EXPECT_TRUE(Fail(t, "c", "ip", kT0));
  EXPECT_GT(Wait(t, "a", "ip", kT0), absl::ZeroDuration());  // address at its limit (3)
  EXPECT_EQ(Wait(t, "a", "other-ip", kT0), absl::ZeroDuration());
}

TEST(LoginThrottleTest, SecondFactorFailuresSurviveACorrectPassword) {
  ThrottleOptions o{10, 100, absl::Minutes(10), 1000};
  o.max_second_factor_failures = 3;
  LoginThrottle t(o);
  for (int round = 0; round < 3; ++round) {
    LoginThrottle::Attempt pwd;
    ASSERT_EQ(t.Begin({AccountKey("a"), AddressKey("ip")}, kT0, &pwd), absl::ZeroDuration());
    t.Succeeded(pwd, ThrottleScope::kAccount);
    LoginThrottle::Attempt code;
    ASSERT_EQ(t.Begin({SecondFactorKey("u1"), AddressKey("ip")}, kT0, &code), absl::ZeroDuration());
  }
  LoginThrottle::Attempt pwd;
  ASSERT_EQ(t.Begin({AccountKey("a"), AddressKey("ip")}, kT0, &pwd), absl::ZeroDuration());
  t.Succeeded(pwd, ThrottleScope::kAccount);
  LoginThrottle::Attempt code;
  EXPECT_GT(t.Begin({SecondFactorKey("u1"), AddressKey("ip")}, kT0, &code), absl::ZeroDuration());
  // A correct second factor (once the window allows one) clears them.
  ASSERT_EQ(t.Begin({SecondFactorKey("u1"), AddressKey("ip")}, kT0 + absl::Minutes(10), &code),
            absl::ZeroDuration());
  t.Succeeded(code, ThrottleScope::kSecondFactor);
  for (int i = 0; i < 3; ++i) {
    LoginThrottle::Attempt more;
    EXPECT_EQ(t.Begin({SecondFactorKey("u1")}, kT0 + absl::Minutes(10), &more), absl::ZeroDuration());
  }
}

TEST(LoginThrottleTest, ConcurrentAttemptsNeverExceedTheLimit) {
  LoginThrottle t({5, 1000, absl::Minutes(10), 1000});
  std::atomic<int> admitted{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 16; ++i) {
    threads.emplace_back([&] {
      for (int j = 0; j < 50; ++j) admitted += Fail(t, "a", "ip", kT0) ? 1 : 0;
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(admitted.load(), 5);
}

TEST(LoginThrottleTest, BoundedMemory) {
  LoginThrottle t({5, 5, absl::Minutes(1), 10});
  for (int i = 0; i < 100; ++i) Fail(t, "acct" + std::to_string(i), "ip" + std::to_string(i), kT0);
  EXPECT_LE(t.tracked_keys(), 10u);
  EXPECT_EQ(Wait(t, "fresh", "fresh", kT0), absl::ZeroDuration());
}

TEST(LoginThrottleTest, FullTableForgetsOldKeysNotALockedAccount) {
  // Regression: a full table was cleared, which lifted the lockout of the account
  // under attack.
  LoginThrottle t({3, 1000, absl::Minutes(10), 10});
  for (int i = 0; i < 4; ++i) Fail(t, "other" + std::to_string(i), "ip", kT0);
  for (int i = 0; i < 3; ++i) Fail(t, "victim", "ip", kT0 + absl::Seconds(1));
  ASSERT_GT(Wait(t, "victim", "ip2", kT0 + absl::Seconds(2)), absl::ZeroDuration());
  for (int i = 0; i < 20; ++i) Fail(t, "flood" + std::to_string(i), "ip", kT0 + absl::Seconds(3));
  EXPECT_GT(Wait(t, "victim", "ip2", kT0 + absl::Seconds(4)), absl::ZeroDuration());
  EXPECT_LE(t.tracked_keys(), 10u);
}

TEST(LoginThrottleTest, LockedKeysGoOnlyWhenEveryOldKeyIsLocked) {
  // The oldest key is a locked-out account: unlocked keys are forgotten before it.
  LoginThrottle t({1, 1000, absl::Minutes(10), 4});
  Fail(t, "victim", "ip", kT0);  // victim locked (limit 1)
  for (int i = 0; i < 10; ++i) {
    LoginThrottle::Attempt a;
    t.Begin({AddressKey("addr" + std::to_string(i))}, kT0 + absl::Seconds(1), &a);  // unlocked
  }
  EXPECT_GT(Wait(t, "victim", "elsewhere", kT0 + absl::Seconds(2)), absl::ZeroDuration());
}

TEST(LoginThrottleTest, AgedOutKeysAreForgottenFirst) {
  LoginThrottle t({1, 1000, absl::Minutes(1), 3});
  Fail(t, "old", "ip-old", kT0);
  EXPECT_EQ(t.tracked_keys(), 2u);
  LoginThrottle::Attempt a;
  t.Begin({AccountKey("new1"), AccountKey("new2")}, kT0 + absl::Minutes(2), &a);
  EXPECT_EQ(t.tracked_keys(), 2u);  // both old keys had aged out
}

}  // namespace
}  // namespace edgevault::auth
