#include "src/services/common/jwks_cache.h"

#include <atomic>
#include <chrono>
#include <future>
#include <mutex>
#include <thread>

#include "gtest/gtest.h"
#include "src/base/encoding.h"
#include "src/crypto/hash.h"
#include "src/net/http_server.h"

namespace edgevault::services {
namespace {

using crypto::Ed25519PrivateKey;
using crypto::JwtClaims;

// A stand-in for auth's JWKS endpoint whose key set the test controls.
class JwksCacheTest : public ::testing::Test {
 protected:
  void SetUp() override {
    SetKeys({&key_a_});
    net::Router router;
    router.Get("/.well-known/jwks.json", [this](net::Request&) {
      ++hits_;
      while (hold_.load()) std::this_thread::yield();  // a slow auth (tests set hold_)
      std::lock_guard<std::mutex> lock(mu_);
      return net::Response::Json(status_, jwks_);
    });
    net::ServerOptions so;
    so.io_threads = 1;
    so.access_log = false;
    server_ = *net::HttpServer::Create(so, std::move(router));
    ASSERT_TRUE(server_->Start().ok());
    client_ = *net::HttpClient::Create({});
    JwksCacheOptions o;
    o.port = server_->port();
    o.client = client_.get();
    o.env = &env_;
    cache_ = std::make_unique<JwksCache>(o);
  }

  void SetKeys(std::vector<const Ed25519PrivateKey*> keys) {
    std::vector<std::pair<std::string, crypto::Ed25519PublicKey>> pubs;
    for (const auto* k : keys) pubs.emplace_back(k->Kid(), k->PublicKey());
    SetBody(200, crypto::JwksJson(pubs));
  }
  void SetBody(int status, std::string body) {
    std::lock_guard<std::mutex> lock(mu_);
    status_ = status;
    jwks_ = std::move(body);
  }

  JwtClaims Claims(absl::Duration ttl = absl::Minutes(5)) {
    JwtClaims c;
    c.iss = "edgevault";
    c.aud = "edgevault";
    c.sub = "usr_1";
    c.org = "org_1";
    c.roles = {"developer"};
    c.iat = absl::FromUnixSeconds(absl::ToUnixSeconds(env_.Now()));
    c.exp = c.iat + ttl;
    c.jti = "jti_1";
    return c;
  }

  std::string Sign(const Ed25519PrivateKey& k, JwtClaims c) { return crypto::SignJwt(k, k.Kid(), c); }

  base::SimulatedEnv env_;
  Ed25519PrivateKey key_a_ = *Ed25519PrivateKey::FromRaw(std::string(32, 'a'));
  Ed25519PrivateKey key_b_ = *Ed25519PrivateKey::FromRaw(std::string(32, 'b'));
  std::mutex mu_;
  std::string jwks_;
  int status_ = 200;
  std::atomic<int> hits_{0};
  std::atomic<bool> hold_{false};
  std::unique_ptr<net::HttpServer> server_;
  std::unique_ptr<net::HttpClient> client_;
  std::unique_ptr<JwksCache> cache_;
};

TEST_F(JwksCacheTest, VerifiesAndCaches) {
  std::string token = Sign(key_a_, Claims());
  ASSERT_TRUE(cache_->Verify(token).ok());
  ASSERT_TRUE(cache_->Verify(token).ok());
  EXPECT_EQ(hits_.load(), 1);
  env_.AdvanceBy(absl::Seconds(3));
  ASSERT_TRUE(cache_->Verify(Sign(key_a_, Claims())).ok());
  EXPECT_EQ(hits_.load(), 1);
  env_.AdvanceBy(absl::Seconds(1));  // older than max_age (3 s): refetched
  ASSERT_TRUE(cache_->Verify(Sign(key_a_, Claims())).ok());
  EXPECT_EQ(hits_.load(), 2);
}

// Regression: the console's first page asks the api twice at once right after start; the
// second request found the first fetch under way (attempted within min_refresh_interval) and
// failed with "no JWKS fetched from auth yet" instead of waiting for it.
TEST_F(JwksCacheTest, ARequestBesideTheFirstFetchWaitsForIt) {
  const std::string token = Sign(key_a_, Claims());
  hold_ = true;
  std::future<absl::Status> first = std::async(std::launch::async, [&] { return cache_->Verify(token).status(); });
  while (hits_.load() == 0) std::this_thread::yield();  // the first fetch is at auth
  std::future<absl::Status> second = std::async(std::launch::async, [&] { return cache_->Verify(token).status(); });
  // Give the second request time to fail if it would (it must wait instead), then let
  // auth answer.
  (void)second.wait_for(std::chrono::milliseconds(200));
  hold_ = false;
  EXPECT_TRUE(first.get().ok());
  EXPECT_TRUE(second.get().ok());
  EXPECT_EQ(hits_.load(), 1);
}

TEST_F(JwksCacheTest, RejectsForgeries) {
  ASSERT_TRUE(cache_->Verify(Sign(key_a_, Claims())).ok());
  std::string good = Sign(key_a_, Claims());
  std::string payload = good.substr(good.find('.') + 1, good.rfind('.') - good.find('.') - 1);
  // alg: none.
  std::string none = base::Base64UrlEncode(R"({"alg":"none","typ":"JWT"})") + "." + payload + ".";
  EXPECT_TRUE(absl::IsUnauthenticated(cache_->Verify(none).status()));
  // HS256 "signed" with the public key (the classic algorithm-confusion attack), keyed by
  // the raw key and by the JWKS text.
  for (const std::string& secret : {key_a_.RawPublic(), jwks_}) {
    std::string header = base::Base64UrlEncode(
        R"({"alg":"HS256","typ":"JWT","kid":")" + key_a_.Kid() + R"("})");
    std::string input = header + "." + payload;
    std::string hs = input + "." + base::Base64UrlEncode(crypto::HmacSha256(secret, input));
    EXPECT_TRUE(absl::IsUnauthenticated(cache_->Verify(hs).status()));
  }
  // Expired.
  std::string expired = Sign(key_a_, Claims(absl::Seconds(10)));
  env_.AdvanceBy(absl::Minutes(1));
  EXPECT_TRUE(absl::IsUnauthenticated(cache_->Verify(expired).status()));
  // Unknown kid: a key auth never published.
  absl::Status unknown = cache_->Verify(Sign(key_b_, Claims())).status();
  EXPECT_TRUE(absl::IsUnauthenticated(unknown)) << unknown;
  EXPECT_NE(unknown.message().find("unknown key id"), absl::string_view::npos) << unknown;
  // Wrong audience.
  JwtClaims other = Claims();
  other.aud = "someone-else";
  EXPECT_TRUE(absl::IsUnauthenticated(cache_->Verify(Sign(key_a_, other)).status()));
}

TEST_F(JwksCacheTest, UnknownKidRefetchesOnceThenRateLimits) {
  ASSERT_TRUE(cache_->Verify(Sign(key_a_, Claims())).ok());
  EXPECT_EQ(hits_.load(), 1);
  env_.AdvanceBy(absl::Seconds(11));
  SetKeys({&key_b_, &key_a_});  // auth rotated: b is new
  ASSERT_TRUE(cache_->Verify(Sign(key_b_, Claims())).ok());
  EXPECT_EQ(hits_.load(), 2);
  // A flood of tokens with unknown kids costs at most one fetch per interval.
  Ed25519PrivateKey forged = *Ed25519PrivateKey::FromRaw(std::string(32, 'z'));
  for (int i = 0; i < 50; ++i) EXPECT_FALSE(cache_->Verify(Sign(forged, Claims())).ok());
  EXPECT_EQ(hits_.load(), 2);
  env_.AdvanceBy(absl::Seconds(11));
  EXPECT_FALSE(cache_->Verify(Sign(forged, Claims())).ok());
  EXPECT_EQ(hits_.load(), 3);
}

TEST_F(JwksCacheTest, RevokedKeyIsRefusedWithinSeconds) {
  // Regression: a key auth stopped publishing was accepted until the cache expired
  // (5 minutes).
  SetKeys({&key_b_, &key_a_});
  ASSERT_TRUE(cache_->Verify(Sign(key_a_, Claims())).ok());
  SetKeys({&key_b_});  // a revoked
  env_.AdvanceBy(absl::Seconds(5));
  absl::Status st = cache_->Verify(Sign(key_a_, Claims())).status();
  EXPECT_TRUE(absl::IsUnauthenticated(st)) << st;
  EXPECT_TRUE(cache_->Verify(Sign(key_b_, Claims())).ok());
}

TEST_F(JwksCacheTest, AnEmptyKeySetIsCachedAsNoKeys) {
  // Auth publishing no key at all (every key revoked) must not leave the old set trusted.
  ASSERT_TRUE(cache_->Verify(Sign(key_a_, Claims())).ok());
  SetBody(200, R"({"keys":[]})");
  env_.AdvanceBy(absl::Seconds(5));
  EXPECT_FALSE(cache_->Verify(Sign(key_a_, Claims())).ok());
  SetKeys({&key_a_});
  env_.AdvanceBy(absl::Seconds(5));
  EXPECT_TRUE(cache_->Verify(Sign(key_a_, Claims())).ok());
}

TEST_F(JwksCacheTest, StaleSetStopsVerifyingOnceNoIssuedTokenCanBeValid) {
  ASSERT_TRUE(cache_->Verify(Sign(key_a_, Claims())).ok());
  SetBody(503, R"({"error":{"code":"unavailable","message":"down"}})");
  env_.AdvanceBy(absl::Minutes(2));
  // Auth is down: the last set keeps verifying for a while...
  EXPECT_TRUE(cache_->Verify(Sign(key_a_, Claims())).ok());
  // ...but not past the point where every token auth could have issued has expired.
  env_.AdvanceBy(absl::Minutes(5));
  EXPECT_TRUE(absl::IsUnavailable(cache_->Verify(Sign(key_a_, Claims())).status()));
  SetKeys({&key_a_});
  env_.AdvanceBy(absl::Seconds(2));
  EXPECT_TRUE(cache_->Verify(Sign(key_a_, Claims())).ok());
}

TEST_F(JwksCacheTest, ARefetchedSetNamingAnyKeyTypeWrongIsAnErrorNotACrash) {
  // A peer's reply with unexpected member types gives an error (or skips the entry).
  ASSERT_TRUE(cache_->Verify(Sign(key_a_, Claims())).ok());
  for (const char* body :
       {R"({"keys":"nope"})", R"([1,2])", R"({"keys":[{"kty":1,"crv":[],"x":{},"kid":2}]})",
        R"({"keys":[null, 3, "x", {"kty":"OKP","crv":"Ed25519","x":17}]})", "not json"}) {
    SetBody(200, body);
    env_.AdvanceBy(absl::Seconds(5));
    absl::Status st = cache_->Verify(Sign(key_a_, Claims())).status();
    EXPECT_TRUE(st.ok() || absl::IsUnauthenticated(st) || absl::IsUnavailable(st)) << body << ": " << st;
  }
}

TEST_F(JwksCacheTest, UnreachableAuthIsUnavailableUntilFirstFetch) {
  JwksCacheOptions o;
  o.port = 1;  // nothing listens there
  o.client = client_.get();
  o.env = &env_;
  JwksCache cache(o);
  EXPECT_TRUE(absl::IsUnavailable(cache.Verify(Sign(key_a_, Claims())).status()));
}

}  // namespace
}  // namespace edgevault::services
