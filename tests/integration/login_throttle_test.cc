// Login throttling through the real binaries (`edgevault up`, real Argon2id): parallel
// guesses on fresh connections never get more than the account limit past the password
// check, and behind a trusted proxy the forwarded client address is what counts.
#include <atomic>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "src/base/strings.h"
#include "tests/integration/harness.h"

namespace edgevault {
namespace {

namespace json = boost::json;
using testing::EdgeVaultUp;
using testing::HttpReply;

// One login on a new connection (a new source port); the HTTP status.
int LoginOnNewConnection(int port, const std::string& email, const std::string& password,
                         const std::string& forwarded_for = "") {
  net::HttpClientOptions o;
  o.max_idle_per_host = 0;
  auto client = net::HttpClient::Create(o);
  if (!client.ok()) return -1;
  net::ClientRequest req;
  req.method = "POST";
  req.target = "/v1/login";
  req.body = json::serialize(json::object{{"email", email}, {"password", password}});
  req.headers.push_back({"Content-Type", "application/json"});
  if (!forwarded_for.empty()) req.headers.push_back({"X-Forwarded-For", forwarded_for});
  auto r = (*client)->Do("127.0.0.1", static_cast<uint16_t>(port), req);
  return r.ok() ? r->status : -1;
}

TEST(LoginThrottleIntegrationTest, ParallelGuessesNeverGetPastTheAccountLimit) {
  auto up = EdgeVaultUp::Start();  // auth.throttle_account_failures = 5 (the default)
  ASSERT_NE(up, nullptr);
  const int port = up->port("auth");
  constexpr int kGuesses = 24;
  std::atomic<int> ready{0}, verified{0}, throttled{0}, other{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < kGuesses; ++i) {
    threads.emplace_back([&, i] {
      ++ready;
      while (ready.load() < kGuesses) std::this_thread::yield();
      int status = LoginOnNewConnection(port, up->owner_email(), base::StrCat("wrong password ", i));
      (status == 401 ? verified : status == 429 ? throttled : other)++;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(other.load(), 0);
  EXPECT_LE(verified.load(), 5) << "guesses that reached the password check";
  EXPECT_EQ(verified.load() + throttled.load(), kGuesses);
  // The right password is refused too while the account is locked.
  EXPECT_EQ(LoginOnNewConnection(port, up->owner_email(), up->owner_password()), 429);
}

TEST(LoginThrottleIntegrationTest, BehindATrustedProxyTheForwardedAddressCounts) {
  auto up = EdgeVaultUp::Start({"--set", "auth.trusted_proxies=127.0.0.1", "--set",
                                "auth.client_address_header=X-Forwarded-For", "--set",
                                "auth.throttle_address_failures=3"});
  ASSERT_NE(up, nullptr);
  const int port = up->port("auth");
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(LoginOnNewConnection(port, base::StrCat("guess", i, "@example.com"), "wrong password 1",
                                   "198.51.100.1"),
              401);
  }
  EXPECT_EQ(LoginOnNewConnection(port, "guess9@example.com", "wrong password 1", "198.51.100.1"), 429);
  EXPECT_EQ(LoginOnNewConnection(port, "guess9@example.com", "wrong password 1", "198.51.100.2"), 401);
}

}  // namespace
}  // namespace edgevault
