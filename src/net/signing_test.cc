#include "src/net/signing.h"

#include <stdlib.h>
#include <sys/stat.h>

#include <atomic>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/ascii.h"
#include "gtest/gtest.h"
#include "src/base/strings.h"

namespace edgevault::net {
namespace {

::testing::AssertionResult Contains(absl::string_view haystack, absl::string_view needle) {
  if (haystack.find(needle) != absl::string_view::npos) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "\"" << haystack << "\" lacks \"" << needle << "\"";
}

constexpr absl::Time kT0 = absl::FromUnixSeconds(1'800'000'000);
constexpr std::string_view kKnownSignature =
    "b5c7c5a4fd0800103e07070b239a0098c63fe9df6b4a5b867ade47afb3971635"
    "be263ce346085f8478911e01b4733508bff692e8a106613eea130433a35f290a";

// The credential of `service` whose Ed25519 seed is the bytes seed, seed+1, ..., seed+31.
ServiceCredential KeyFromSeed(uint8_t seed, std::string_view service = "api") {
  std::string bytes(32, '\0');
  for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<char>(seed + i);
  return *ServiceCredential::FromKey(service, *crypto::Ed25519PrivateKey::FromRaw(bytes));
}

ServiceTrust TrustOf(const ServiceCredential& c) {
  ServiceTrust t;
  t.Add(c.service(), c.key().PublicKey());
  return t;
}

// One request as the server sees it.
struct Request {
  std::string method = "POST";
  std::string target = "/internal/v1/propagate?env=prod";
  std::string body = R"({"workspace":"w1","revision":7})";
  SignedHeaders headers;
};

Request SignedRequest(const ServiceCredential& key, base::Env* env, absl::Time at,
                      std::string_view audience = "auth") {
  Request r;
  r.headers = Sign(key, audience, r.method, r.target, r.body, at, env);
  return r;
}

absl::Status VerifyRequest(SignatureVerifier& v, const Request& r, absl::Time now) {
  return v.Verify(r.method, r.target, r.headers.caller, r.headers.timestamp, r.headers.nonce,
                  r.headers.signature, r.body, now)
      .status();
}

class SigningTest : public ::testing::Test {
 protected:
  base::SimulatedEnv env_{kT0};
  ServiceCredential key_ = KeyFromSeed(0);
};

TEST_F(SigningTest, GoodSignatureVerifies) {
  SignatureVerifier verifier("auth", TrustOf(key_));
  Request r = SignedRequest(key_, &env_, kT0);
  EXPECT_TRUE(VerifyRequest(verifier, r, kT0).ok()) << VerifyRequest(verifier, r, kT0);
}

TEST_F(SigningTest, HeadersHaveTheDocumentedShape) {
  SignedHeaders h = Sign(key_, "auth", "GET", "/healthz", "", kT0 + absl::Milliseconds(999), &env_);
  EXPECT_EQ(h.timestamp, "1800000000");  // whole seconds, truncated
  EXPECT_EQ(h.nonce.size(), 32u);
  EXPECT_EQ(h.caller, "api");
  EXPECT_EQ(h.signature.size(), 128u);
  EXPECT_EQ(h.nonce.find_first_not_of("0123456789abcdef"), std::string::npos);
  EXPECT_EQ(h.signature.find_first_not_of("0123456789abcdef"), std::string::npos);
  SignedHeaders again = Sign(key_, "auth", "GET", "/healthz", "", kT0, &env_);
  EXPECT_NE(h.nonce, again.nonce);
}

TEST_F(SigningTest, FlippedSignatureCharacterIsRejected) {
  SignatureVerifier verifier("auth", TrustOf(key_));
  Request r = SignedRequest(key_, &env_, kT0);
  r.headers.signature[10] = r.headers.signature[10] == '0' ? '1' : '0';
  absl::Status s = VerifyRequest(verifier, r, kT0);
  EXPECT_EQ(s.code(), absl::StatusCode::kUnauthenticated);
  EXPECT_TRUE(Contains(s.message(), "bad signature"));
}

TEST_F(SigningTest, WrongKeyIsRejected) {
  SignatureVerifier verifier("auth", TrustOf(key_));
  Request r = SignedRequest(KeyFromSeed(1), &env_, kT0);
  absl::Status s = VerifyRequest(verifier, r, kT0);
  EXPECT_EQ(s.code(), absl::StatusCode::kUnauthenticated);
  EXPECT_TRUE(Contains(s.message(), "bad signature"));
}

TEST_F(SigningTest, SignatureReusedWithAnotherBodyIsRejected) {
  SignatureVerifier verifier("auth", TrustOf(key_));
  Request r = SignedRequest(key_, &env_, kT0);
  r.body = R"({"workspace":"w1","revision":8})";
  absl::Status s = VerifyRequest(verifier, r, kT0);
  EXPECT_EQ(s.code(), absl::StatusCode::kUnauthenticated);
  EXPECT_TRUE(Contains(s.message(), "bad signature"));
  r.body = "";
  EXPECT_EQ(VerifyRequest(verifier, r, kT0).code(), absl::StatusCode::kUnauthenticated);
}

TEST_F(SigningTest, ChangedPathQueryOrMethodIsRejected) {
  SignatureVerifier verifier("auth", TrustOf(key_));
  const Request good = SignedRequest(key_, &env_, kT0);
  Request r = good;
  r.target = "/internal/v1/propagate?env=dev";
  EXPECT_EQ(VerifyRequest(verifier, r, kT0).code(), absl::StatusCode::kUnauthenticated);
  r = good;
  r.target = "/internal/v1/rollback?env=prod";
  EXPECT_EQ(VerifyRequest(verifier, r, kT0).code(), absl::StatusCode::kUnauthenticated);
  r = good;
  r.method = "PUT";
  EXPECT_EQ(VerifyRequest(verifier, r, kT0).code(), absl::StatusCode::kUnauthenticated);
  // None of the failures consumed the nonce: the untouched request still passes once.
  EXPECT_TRUE(VerifyRequest(verifier, good, kT0).ok());
}

TEST_F(SigningTest, TimestampIsPartOfTheSignature) {
  SignatureVerifier verifier("auth", TrustOf(key_));
  Request r = SignedRequest(key_, &env_, kT0);
  r.headers.timestamp = "1800000001";
  absl::Status s = VerifyRequest(verifier, r, kT0);
  EXPECT_TRUE(Contains(s.message(), "bad signature"));
}

TEST_F(SigningTest, AcceptsOldTimestampAtTheWindowEdgeAndRejectsBeyond) {
  Request r = SignedRequest(key_, &env_, kT0);
  {
    SignatureVerifier verifier("auth", TrustOf(key_));
    EXPECT_TRUE(VerifyRequest(verifier, r, kT0 + absl::Seconds(60)).ok());
  }
  {
    SignatureVerifier verifier("auth", TrustOf(key_));
    absl::Status s = VerifyRequest(verifier, r, kT0 + absl::Seconds(60) + absl::Milliseconds(1));
    EXPECT_EQ(s.code(), absl::StatusCode::kUnauthenticated);
    EXPECT_TRUE(Contains(s.message(), "stale"));
    EXPECT_TRUE(Contains(s.message(), "behind"));
  }
}

TEST_F(SigningTest, AcceptsFutureTimestampAtTheWindowEdgeAndRejectsBeyond) {
  Request r = SignedRequest(key_, &env_, kT0);
  {
    SignatureVerifier verifier("auth", TrustOf(key_));
    EXPECT_TRUE(VerifyRequest(verifier, r, kT0 - absl::Seconds(60)).ok());
  }
  {
    SignatureVerifier verifier("auth", TrustOf(key_));
    absl::Status s = VerifyRequest(verifier, r, kT0 - absl::Seconds(61));
    EXPECT_EQ(s.code(), absl::StatusCode::kUnauthenticated);
    EXPECT_TRUE(Contains(s.message(), "stale"));
    EXPECT_TRUE(Contains(s.message(), "ahead"));
  }
}

TEST_F(SigningTest, WindowIsConfigurable) {
  SignatureVerifier verifier("auth", TrustOf(key_), {.window = absl::Seconds(5), .max_nonces = 16});
  Request r = SignedRequest(key_, &env_, kT0);
  EXPECT_TRUE(Contains(VerifyRequest(verifier, r, kT0 + absl::Seconds(6)).message(), "stale"));
  EXPECT_TRUE(VerifyRequest(verifier, r, kT0 + absl::Seconds(5)).ok());
}

TEST_F(SigningTest, MissingHeadersAreNamed) {
  SignatureVerifier verifier("auth", TrustOf(key_));
  const Request good = SignedRequest(key_, &env_, kT0);
  Request r = good;
  r.headers.timestamp.clear();
  EXPECT_TRUE(Contains(VerifyRequest(verifier, r, kT0).message(), "missing X-EV-Timestamp"));
  r = good;
  r.headers.nonce.clear();
  EXPECT_TRUE(Contains(VerifyRequest(verifier, r, kT0).message(), "missing X-EV-Nonce"));
  r = good;
  r.headers.signature.clear();
  EXPECT_TRUE(Contains(VerifyRequest(verifier, r, kT0).message(), "missing X-EV-Signature"));
  EXPECT_EQ(VerifyRequest(verifier, r, kT0).code(), absl::StatusCode::kUnauthenticated);
}

TEST_F(SigningTest, MalformedHeadersAreRejected) {
  SignatureVerifier verifier("auth", TrustOf(key_));
  const Request good = SignedRequest(key_, &env_, kT0);
  for (std::string ts : {"-1800000000", "+1800000000", " 1800000000", "18000000x0", "1800000000.5",
                         "9999999999999999999999"}) {
    Request r = good;
    r.headers.timestamp = ts;
    absl::Status s = VerifyRequest(verifier, r, kT0);
    EXPECT_EQ(s.code(), absl::StatusCode::kUnauthenticated) << ts;
    EXPECT_TRUE(Contains(s.message(), "malformed X-EV-Timestamp")) << ts;
  }
  Request r = good;
  r.headers.nonce = absl::AsciiStrToUpper(good.headers.nonce);
  if (r.headers.nonce != good.headers.nonce) {
    EXPECT_TRUE(Contains(VerifyRequest(verifier, r, kT0).message(), "malformed X-EV-Nonce"));
  }
  r.headers.nonce = good.headers.nonce.substr(1);
  EXPECT_TRUE(Contains(VerifyRequest(verifier, r, kT0).message(), "malformed X-EV-Nonce"));
  r = good;
  r.headers.signature = good.headers.signature + "00";
  EXPECT_TRUE(Contains(VerifyRequest(verifier, r, kT0).message(), "malformed X-EV-Signature"));
  r = good;
  r.target = "/x\nPOST";
  EXPECT_TRUE(Contains(VerifyRequest(verifier, r, kT0).message(), "malformed request line"));
}

TEST_F(SigningTest, ExactReplayIsRejected) {
  SignatureVerifier verifier("auth", TrustOf(key_));
  Request r = SignedRequest(key_, &env_, kT0);
  ASSERT_TRUE(VerifyRequest(verifier, r, kT0).ok());
  absl::Status s = VerifyRequest(verifier, r, kT0 + absl::Seconds(1));
  EXPECT_EQ(s.code(), absl::StatusCode::kUnauthenticated);
  EXPECT_TRUE(Contains(s.message(), "replayed"));
  // A fresh signature of the very same request is fine: only nonces are single-use.
  Request again = r;
  again.headers = Sign(key_, "auth", r.method, r.target, r.body, kT0, &env_);
  EXPECT_TRUE(VerifyRequest(verifier, again, kT0 + absl::Seconds(1)).ok());
}

TEST_F(SigningTest, BadSignatureDoesNotBurnTheNonce) {
  SignatureVerifier verifier("auth", TrustOf(key_));
  Request good = SignedRequest(key_, &env_, kT0);
  Request forged = good;
  forged.body = "forged";
  EXPECT_TRUE(Contains(VerifyRequest(verifier, forged, kT0).message(), "bad signature"));
  EXPECT_EQ(verifier.RememberedNonces(), 0u);
  EXPECT_TRUE(VerifyRequest(verifier, good, kT0).ok());
}

TEST_F(SigningTest, ReplayCacheForgetsNoncesOnceTheirTimestampLeavesTheWindow) {
  SignatureVerifier verifier("auth", TrustOf(key_));
  Request first = SignedRequest(key_, &env_, kT0);
  ASSERT_TRUE(VerifyRequest(verifier, first, kT0).ok());
  EXPECT_EQ(verifier.RememberedNonces(), 1u);

  // Still inside the window: remembered, and a replay is caught as a replay.
  Request second = SignedRequest(key_, &env_, kT0 + absl::Seconds(60));
  ASSERT_TRUE(VerifyRequest(verifier, second, kT0 + absl::Seconds(60)).ok());
  EXPECT_EQ(verifier.RememberedNonces(), 2u);
  EXPECT_TRUE(
      Contains(VerifyRequest(verifier, first, kT0 + absl::Seconds(60)).message(), "replayed"));

  // Past the window the first nonce is dropped; its replay now fails as stale instead.
  Request third = SignedRequest(key_, &env_, kT0 + absl::Seconds(61));
  ASSERT_TRUE(VerifyRequest(verifier, third, kT0 + absl::Seconds(61)).ok());
  EXPECT_EQ(verifier.RememberedNonces(), 2u);
  EXPECT_TRUE(Contains(VerifyRequest(verifier, first, kT0 + absl::Seconds(61)).message(), "stale"));
}

// A request dated in the future stays replayable for longer than `window` after it
// arrives; its nonce must be kept until its own timestamp leaves the window.
TEST_F(SigningTest, FutureDatedNonceIsKeptUntilItsTimestampExpires) {
  SignatureVerifier verifier("auth", TrustOf(key_));
  Request r = SignedRequest(key_, &env_, kT0 + absl::Seconds(60));
  ASSERT_TRUE(VerifyRequest(verifier, r, kT0).ok());
  EXPECT_TRUE(Contains(VerifyRequest(verifier, r, kT0 + absl::Seconds(100)).message(), "replayed"));
  EXPECT_TRUE(Contains(VerifyRequest(verifier, r, kT0 + absl::Seconds(121)).message(), "stale"));
}

TEST_F(SigningTest, FullReplayCacheFailsClosedUntilEntriesExpire) {
  SignatureVerifier verifier("auth", TrustOf(key_), {.window = absl::Seconds(60), .max_nonces = 2});
  ASSERT_TRUE(VerifyRequest(verifier, SignedRequest(key_, &env_, kT0), kT0).ok());
  ASSERT_TRUE(VerifyRequest(verifier, SignedRequest(key_, &env_, kT0), kT0).ok());
  Request r = SignedRequest(key_, &env_, kT0);
  EXPECT_EQ(VerifyRequest(verifier, r, kT0).code(), absl::StatusCode::kResourceExhausted);
  Request later = SignedRequest(key_, &env_, kT0 + absl::Seconds(61));
  EXPECT_TRUE(VerifyRequest(verifier, later, kT0 + absl::Seconds(61)).ok());
  EXPECT_EQ(verifier.RememberedNonces(), 1u);
}

TEST_F(SigningTest, ConcurrentReplaysAcceptExactlyOne) {
  SignatureVerifier verifier("auth", TrustOf(key_));
  const Request r = SignedRequest(key_, &env_, kT0);
  std::atomic<int> accepted{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&] {
      if (VerifyRequest(verifier, r, kT0).ok()) accepted.fetch_add(1);
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(accepted.load(), 1);
}

TEST_F(SigningTest, SignatureForAnotherAudienceIsRejected) {
  SignatureVerifier verifier("auth", TrustOf(key_));
  Request r = SignedRequest(key_, &env_, kT0, "delivery");
  EXPECT_TRUE(Contains(VerifyRequest(verifier, r, kT0).message(), "bad signature"));
}

TEST_F(SigningTest, CallerIsNamedAndBoundToItsKey) {
  ServiceTrust trust = TrustOf(key_);
  ServiceCredential delivery = KeyFromSeed(9, "delivery");
  trust.Add("delivery", delivery.key().PublicKey());
  SignatureVerifier verifier("auth", std::move(trust));
  Request r = SignedRequest(delivery, &env_, kT0);
  absl::StatusOr<std::string> caller = verifier.Verify(r.method, r.target, r.headers.caller, r.headers.timestamp,
                                                       r.headers.nonce, r.headers.signature, r.body, kT0);
  ASSERT_TRUE(caller.ok()) << caller.status();
  EXPECT_EQ(*caller, "delivery");
  // Delivery's signature presented as the api's: the api's key does not verify it.
  Request claimed = SignedRequest(delivery, &env_, kT0);
  claimed.headers.caller = "api";
  EXPECT_TRUE(Contains(VerifyRequest(verifier, claimed, kT0).message(), "bad signature"));
}

TEST_F(SigningTest, UnknownOrUntrustedCallersAreRejected) {
  SignatureVerifier verifier("auth", TrustOf(key_));
  Request r = SignedRequest(key_, &env_, kT0);
  r.headers.caller = "mallory";
  EXPECT_TRUE(Contains(VerifyRequest(verifier, r, kT0).message(), "unknown caller"));
  r.headers.caller.clear();
  EXPECT_TRUE(Contains(VerifyRequest(verifier, r, kT0).message(), "missing X-EV-Caller"));
  Request console = SignedRequest(KeyFromSeed(3, "console"), &env_, kT0);
  EXPECT_TRUE(Contains(VerifyRequest(verifier, console, kT0).message(), "no trusted key for caller \"console\""));
}

// Cross-checked with the openssl command line (docs/design/internal-signing.md shows how):
// Ed25519 is deterministic, so the signature of the canonical string is fixed.
TEST_F(SigningTest, MatchesKnownAnswer) {
  EXPECT_EQ(CanonicalRequest("api", "auth", "POST", "/internal/v1/sdk-keys?x=1", "1800000000",
                             "00112233445566778899aabbccddeeff", R"({"a":1})"),
            "EV-SIG-2\napi\nauth\nPOST\n/internal/v1/sdk-keys?x=1\n1800000000\n"
            "00112233445566778899aabbccddeeff\n"
            "015abd7f5cc57a2dd94b7590f04ad8084273905ee33ec5cebeae62276a97f862");
  SignatureVerifier verifier("auth", TrustOf(key_));  // seed 00 01 02 ... 1f
  absl::StatusOr<std::string> caller = verifier.Verify(
      "POST", "/internal/v1/sdk-keys?x=1", "api", "1800000000", "00112233445566778899aabbccddeeff",
      kKnownSignature, R"({"a":1})", kT0);
  EXPECT_TRUE(caller.ok()) << caller.status();
}

class ServiceKeyFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (std::filesystem::temp_directory_path() / "ev_signing_XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    ::chmod(dir_.c_str(), 0755);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string Write(std::string_view name, std::string_view text, uint32_t mode) {
    std::string path = base::StrCat(dir_, "/", name);
    EXPECT_TRUE(env_.WriteFileAtomically(path, text, mode).ok());
    return path;
  }
  static std::string Pem(uint8_t seed) { return *KeyFromSeed(seed).key().ToPem(); }
  static std::string PublicPem(uint8_t seed) { return *KeyFromSeed(seed).PublicKeyPem(); }

  base::SimulatedEnv env_{kT0};
  std::string dir_;
};

TEST_F(ServiceKeyFileTest, CredentialFileLoadsBackAndSigns) {
  std::string path = Write("api.pem", Pem(5), 0600);
  absl::StatusOr<ServiceCredential> c = ServiceCredential::Load(&env_, path, "api");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->service(), "api");
  EXPECT_EQ(*c->PublicKeyPem(), PublicPem(5));
  SignatureVerifier verifier("auth", TrustOf(KeyFromSeed(5)));
  SignedHeaders h = Sign(*c, "auth", "GET", "/x", "", kT0, &env_);
  EXPECT_TRUE(verifier.Verify("GET", "/x", h.caller, h.timestamp, h.nonce, h.signature, "", kT0).ok());
  EXPECT_EQ(ServiceCredential::Load(&env_, path, "mallory").status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(ServiceKeyFileTest, GroupOrOtherPermissionsAreRefused) {
  for (uint32_t mode : {0640u, 0604u, 0660u, 0644u, 0610u}) {
    std::string path = Write(base::StrCat("k", mode), Pem(1), mode);
    absl::StatusOr<ServiceCredential> c = ServiceCredential::Load(&env_, path, "api");
    ASSERT_FALSE(c.ok()) << mode;
    EXPECT_EQ(c.status().code(), absl::StatusCode::kPermissionDenied);
    EXPECT_TRUE(Contains(c.status().message(), path));
    EXPECT_TRUE(Contains(c.status().message(), "chmod 600"));
  }
}

TEST_F(ServiceKeyFileTest, MalformedContentIsRejectedWithoutEchoingIt) {
  const std::string pem = Pem(2);
  for (std::string text : {pem.substr(0, pem.size() / 2), std::string(64, 'b'), PublicPem(2), std::string()}) {
    std::string path = Write("k", text, 0600);
    absl::StatusOr<ServiceCredential> c = ServiceCredential::Load(&env_, path, "api");
    ASSERT_FALSE(c.ok()) << text;
    EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_TRUE(Contains(c.status().message(), path));
    EXPECT_FALSE(Contains(c.status().message(), "MC4CAQAw"));  // the PKCS#8 Ed25519 prefix
  }
}

TEST_F(ServiceKeyFileTest, MissingFileNamesTheService) {
  absl::StatusOr<ServiceCredential> c = ServiceCredential::Load(&env_, dir_ + "/absent.pem", "delivery");
  EXPECT_EQ(c.status().code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(Contains(c.status().message(), "delivery"));
}

TEST_F(ServiceKeyFileTest, TrustDirectoryHoldsOneKeyPerKnownService) {
  Write("api.pub", PublicPem(1), 0644);
  Write("delivery.pub", PublicPem(2), 0644);
  Write("mallory.pub", PublicPem(3), 0644);  // not a service: ignored
  absl::StatusOr<ServiceTrust> t = ServiceTrust::LoadDir(&env_, dir_);
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->size(), 2u);
  ASSERT_NE(t->Find("api"), nullptr);
  EXPECT_EQ(t->Find("api")->Raw(), KeyFromSeed(1).key().RawPublic());
  EXPECT_EQ(t->Find("auth"), nullptr);
  EXPECT_EQ(ServiceTrust::LoadDir(&env_, dir_ + "/none")->size(), 0u);

  Write("auth.pub", "not a key", 0644);
  EXPECT_EQ(ServiceTrust::LoadDir(&env_, dir_).status().code(), absl::StatusCode::kInvalidArgument);
  Write("auth.pub", PublicPem(4), 0664);
  absl::Status writable = ServiceTrust::LoadDir(&env_, dir_).status();
  EXPECT_EQ(writable.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_TRUE(Contains(writable.message(), "chmod 644"));
}

// Rotation and revocation without a restart: the verifier re-reads the trust directory.
TEST_F(ServiceKeyFileTest, VerifierPicksUpAddedAndRemovedKeys) {
  ServiceCredential api = KeyFromSeed(1);
  Write("api.pub", *api.PublicKeyPem(), 0644);
  auto verifier = SignatureVerifier::WithLoader("auth", TrustDirLoader(&env_, dir_), kT0,
                                                {.trust_refresh = absl::Seconds(2)});
  ASSERT_TRUE(verifier.ok()) << verifier.status();
  auto verify = [&](const ServiceCredential& c, absl::Time at) {
    Request r = SignedRequest(c, &env_, at);
    return VerifyRequest(**verifier, r, at);
  };
  EXPECT_TRUE(verify(api, kT0).ok());
  ServiceCredential console = KeyFromSeed(7, "console");
  Write("console.pub", *console.PublicKeyPem(), 0644);
  EXPECT_FALSE(verify(console, kT0 + absl::Seconds(1)).ok());  // not re-read yet
  EXPECT_TRUE(verify(console, kT0 + absl::Seconds(3)).ok());
  // Revocation: the api's key is replaced (rotation); the old one stops working.
  ServiceCredential rotated = KeyFromSeed(8);
  Write("api.pub", *rotated.PublicKeyPem(), 0644);
  EXPECT_TRUE(verify(api, kT0 + absl::Seconds(4)).ok());
  EXPECT_TRUE(Contains(verify(api, kT0 + absl::Seconds(6)).message(), "bad signature"));
  EXPECT_TRUE(verify(rotated, kT0 + absl::Seconds(6)).ok());
  std::filesystem::remove(dir_ + "/console.pub");
  EXPECT_TRUE(Contains(verify(console, kT0 + absl::Seconds(9)).message(), "no trusted key"));
}

}  // namespace
}  // namespace edgevault::net
