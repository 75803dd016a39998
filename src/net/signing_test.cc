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

InternalKey KeyFromSeed(uint8_t seed) {
  std::array<uint8_t, kInternalKeySize> bytes;
  for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<uint8_t>(seed + i);
  return InternalKey(bytes);
}

// One request as the server sees it.
struct Request {
  std::string method = "POST";
  std::string target = "/internal/v1/propagate?env=prod";
  std::string body = R"({"workspace":"w1","revision":7})";
  SignedHeaders headers;
};

Request SignedRequest(const InternalKey& key, base::Env* env, absl::Time at) {
  Request r;
  r.headers = Sign(key, r.method, r.target, r.body, at, env);
  return r;
}

absl::Status VerifyRequest(SignatureVerifier& v, const Request& r, absl::Time now) {
  return v.Verify(r.method, r.target, r.headers.timestamp, r.headers.nonce, r.headers.signature,
                  r.body, now);
}

class SigningTest : public ::testing::Test {
 protected:
  base::SimulatedEnv env_{kT0};
  InternalKey key_ = KeyFromSeed(0);
};

TEST_F(SigningTest, GoodSignatureVerifies) {
  SignatureVerifier verifier(key_);
  Request r = SignedRequest(key_, &env_, kT0);
  EXPECT_TRUE(VerifyRequest(verifier, r, kT0).ok()) << VerifyRequest(verifier, r, kT0);
}

TEST_F(SigningTest, HeadersHaveTheDocumentedShape) {
  SignedHeaders h = Sign(key_, "GET", "/healthz", "", kT0 + absl::Milliseconds(999), &env_);
  EXPECT_EQ(h.timestamp, "1800000000");  // whole seconds, truncated
  EXPECT_EQ(h.nonce.size(), 32u);
  EXPECT_EQ(h.signature.size(), 64u);
  EXPECT_EQ(h.nonce.find_first_not_of("0123456789abcdef"), std::string::npos);
  EXPECT_EQ(h.signature.find_first_not_of("0123456789abcdef"), std::string::npos);
  SignedHeaders again = Sign(key_, "GET", "/healthz", "", kT0, &env_);
  EXPECT_NE(h.nonce, again.nonce);
}

// Pins the canonical string of the wire format; the value was computed independently
// (Python hmac/hashlib) so another implementation can check itself against it.
TEST_F(SigningTest, MatchesKnownAnswer) {
  SignatureVerifier verifier(key_);  // key bytes 00 01 02 ... 1f
  EXPECT_TRUE(verifier
                  .Verify("POST", "/internal/v1/propagate?env=prod", "1800000000",
                          "00112233445566778899aabbccddeeff",
                          "bfde564af4bcad10c7f5f7315bafd61f3061dbaf9bd82b8378563cc5a191ae3e",
                          R"({"a":1})", kT0)
                  .ok());
}

TEST_F(SigningTest, FlippedSignatureCharacterIsRejected) {
  SignatureVerifier verifier(key_);
  Request r = SignedRequest(key_, &env_, kT0);
  r.headers.signature[10] = r.headers.signature[10] == '0' ? '1' : '0';
  absl::Status s = VerifyRequest(verifier, r, kT0);
  EXPECT_EQ(s.code(), absl::StatusCode::kUnauthenticated);
  EXPECT_TRUE(Contains(s.message(), "bad signature"));
}

TEST_F(SigningTest, WrongKeyIsRejected) {
  SignatureVerifier verifier(key_);
  Request r = SignedRequest(KeyFromSeed(1), &env_, kT0);
  absl::Status s = VerifyRequest(verifier, r, kT0);
  EXPECT_EQ(s.code(), absl::StatusCode::kUnauthenticated);
  EXPECT_TRUE(Contains(s.message(), "bad signature"));
}

TEST_F(SigningTest, SignatureReusedWithAnotherBodyIsRejected) {
  SignatureVerifier verifier(key_);
  Request r = SignedRequest(key_, &env_, kT0);
  r.body = R"({"workspace":"w1","revision":8})";
  absl::Status s = VerifyRequest(verifier, r, kT0);
  EXPECT_EQ(s.code(), absl::StatusCode::kUnauthenticated);
  EXPECT_TRUE(Contains(s.message(), "bad signature"));
  r.body = "";
  EXPECT_EQ(VerifyRequest(verifier, r, kT0).code(), absl::StatusCode::kUnauthenticated);
}

TEST_F(SigningTest, ChangedPathQueryOrMethodIsRejected) {
  SignatureVerifier verifier(key_);
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
  SignatureVerifier verifier(key_);
  Request r = SignedRequest(key_, &env_, kT0);
  r.headers.timestamp = "1800000001";
  absl::Status s = VerifyRequest(verifier, r, kT0);
  EXPECT_TRUE(Contains(s.message(), "bad signature"));
}

TEST_F(SigningTest, AcceptsOldTimestampAtTheWindowEdgeAndRejectsBeyond) {
  Request r = SignedRequest(key_, &env_, kT0);
  {
    SignatureVerifier verifier(key_);
    EXPECT_TRUE(VerifyRequest(verifier, r, kT0 + absl::Seconds(60)).ok());
  }
  {
    SignatureVerifier verifier(key_);
    absl::Status s = VerifyRequest(verifier, r, kT0 + absl::Seconds(60) + absl::Milliseconds(1));
    EXPECT_EQ(s.code(), absl::StatusCode::kUnauthenticated);
    EXPECT_TRUE(Contains(s.message(), "stale"));
    EXPECT_TRUE(Contains(s.message(), "behind"));
  }
}

TEST_F(SigningTest, AcceptsFutureTimestampAtTheWindowEdgeAndRejectsBeyond) {
  Request r = SignedRequest(key_, &env_, kT0);
  {
    SignatureVerifier verifier(key_);
    EXPECT_TRUE(VerifyRequest(verifier, r, kT0 - absl::Seconds(60)).ok());
  }
  {
    SignatureVerifier verifier(key_);
    absl::Status s = VerifyRequest(verifier, r, kT0 - absl::Seconds(61));
    EXPECT_EQ(s.code(), absl::StatusCode::kUnauthenticated);
    EXPECT_TRUE(Contains(s.message(), "stale"));
    EXPECT_TRUE(Contains(s.message(), "ahead"));
  }
}

TEST_F(SigningTest, WindowIsConfigurable) {
  SignatureVerifier verifier(key_, {.window = absl::Seconds(5), .max_nonces = 16});
  Request r = SignedRequest(key_, &env_, kT0);
  EXPECT_TRUE(Contains(VerifyRequest(verifier, r, kT0 + absl::Seconds(6)).message(), "stale"));
  EXPECT_TRUE(VerifyRequest(verifier, r, kT0 + absl::Seconds(5)).ok());
}

TEST_F(SigningTest, MissingHeadersAreNamed) {
  SignatureVerifier verifier(key_);
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
  SignatureVerifier verifier(key_);
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
  SignatureVerifier verifier(key_);
  Request r = SignedRequest(key_, &env_, kT0);
  ASSERT_TRUE(VerifyRequest(verifier, r, kT0).ok());
  absl::Status s = VerifyRequest(verifier, r, kT0 + absl::Seconds(1));
  EXPECT_EQ(s.code(), absl::StatusCode::kUnauthenticated);
  EXPECT_TRUE(Contains(s.message(), "replayed"));
  // A fresh signature of the very same request is fine: only nonces are single-use.
  Request again = r;
  again.headers = Sign(key_, r.method, r.target, r.body, kT0, &env_);
  EXPECT_TRUE(VerifyRequest(verifier, again, kT0 + absl::Seconds(1)).ok());
}

TEST_F(SigningTest, BadSignatureDoesNotBurnTheNonce) {
  SignatureVerifier verifier(key_);
  Request good = SignedRequest(key_, &env_, kT0);
  Request forged = good;
  forged.body = "forged";
  EXPECT_TRUE(Contains(VerifyRequest(verifier, forged, kT0).message(), "bad signature"));
  EXPECT_EQ(verifier.RememberedNonces(), 0u);
  EXPECT_TRUE(VerifyRequest(verifier, good, kT0).ok());
}

TEST_F(SigningTest, ReplayCacheForgetsNoncesOnceTheirTimestampLeavesTheWindow) {
  SignatureVerifier verifier(key_);
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
  SignatureVerifier verifier(key_);
  Request r = SignedRequest(key_, &env_, kT0 + absl::Seconds(60));
  ASSERT_TRUE(VerifyRequest(verifier, r, kT0).ok());
  EXPECT_TRUE(Contains(VerifyRequest(verifier, r, kT0 + absl::Seconds(100)).message(), "replayed"));
  EXPECT_TRUE(Contains(VerifyRequest(verifier, r, kT0 + absl::Seconds(121)).message(), "stale"));
}

TEST_F(SigningTest, FullReplayCacheFailsClosedUntilEntriesExpire) {
  SignatureVerifier verifier(key_, {.window = absl::Seconds(60), .max_nonces = 2});
  ASSERT_TRUE(VerifyRequest(verifier, SignedRequest(key_, &env_, kT0), kT0).ok());
  ASSERT_TRUE(VerifyRequest(verifier, SignedRequest(key_, &env_, kT0), kT0).ok());
  Request r = SignedRequest(key_, &env_, kT0);
  EXPECT_EQ(VerifyRequest(verifier, r, kT0).code(), absl::StatusCode::kResourceExhausted);
  Request later = SignedRequest(key_, &env_, kT0 + absl::Seconds(61));
  EXPECT_TRUE(VerifyRequest(verifier, later, kT0 + absl::Seconds(61)).ok());
  EXPECT_EQ(verifier.RememberedNonces(), 1u);
}

TEST_F(SigningTest, ConcurrentReplaysAcceptExactlyOne) {
  SignatureVerifier verifier(key_);
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

class InternalKeyFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (std::filesystem::temp_directory_path() / "ev_signing_XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string Write(std::string_view name, std::string_view text, uint32_t mode) {
    std::string path = base::StrCat(dir_, "/", name);
    EXPECT_TRUE(env_.WriteFileAtomically(path, text, mode).ok());
    return path;
  }

  base::SimulatedEnv env_{kT0};
  std::string dir_;
};

TEST_F(InternalKeyFileTest, GeneratedFileLoadsBack) {
  std::string text = GenerateInternalKeyFile(&env_);
  ASSERT_EQ(text.size(), 65u);
  EXPECT_EQ(text.back(), '\n');
  std::string path = Write("internal.key", text, 0600);
  absl::StatusOr<InternalKey> key = LoadInternalKey(&env_, path);
  ASSERT_TRUE(key.ok()) << key.status();
  absl::StatusOr<InternalKey> parsed = ParseInternalKey(text);
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(key->bytes, parsed->bytes);
  EXPECT_NE(GenerateInternalKeyFile(&env_), text);

  // The loaded key signs what a verifier built from the parsed key accepts.
  SignatureVerifier verifier(*parsed);
  SignedHeaders h = Sign(*key, "GET", "/x", "", kT0, &env_);
  EXPECT_TRUE(verifier.Verify("GET", "/x", h.timestamp, h.nonce, h.signature, "", kT0).ok());
}

TEST_F(InternalKeyFileTest, TrailingNewlineIsOptional) {
  std::string hex(64, 'a');
  std::string path = Write("k", hex, 0400);
  absl::StatusOr<InternalKey> key = LoadInternalKey(&env_, path);
  ASSERT_TRUE(key.ok()) << key.status();
  EXPECT_EQ(key->bytes[0], 0xaa);
  EXPECT_EQ(key->bytes[31], 0xaa);
}

TEST_F(InternalKeyFileTest, GroupOrOtherPermissionsAreRefused) {
  std::string text = GenerateInternalKeyFile(&env_);
  for (uint32_t mode : {0640u, 0604u, 0660u, 0644u, 0610u}) {
    std::string path = Write(base::StrCat("k", mode), text, mode);
    absl::StatusOr<InternalKey> key = LoadInternalKey(&env_, path);
    ASSERT_FALSE(key.ok()) << mode;
    EXPECT_EQ(key.status().code(), absl::StatusCode::kPermissionDenied);
    EXPECT_TRUE(Contains(key.status().message(), path));
    EXPECT_TRUE(Contains(key.status().message(), "chmod 600"));
  }
}

TEST_F(InternalKeyFileTest, MalformedContentIsRejectedWithoutEchoingIt) {
  const std::string good(64, 'b');
  for (std::string text :
       {good.substr(1), good + "b", std::string(64, 'B'), good.substr(0, 63) + "g", good + "\n\n",
        good + "\r\n", " " + good, std::string(), std::string("\n")}) {
    std::string path = Write("k", text, 0600);
    absl::StatusOr<InternalKey> key = LoadInternalKey(&env_, path);
    ASSERT_FALSE(key.ok()) << text;
    EXPECT_EQ(key.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_TRUE(Contains(key.status().message(), path));
    if (text.size() > 8) {
      EXPECT_FALSE(Contains(key.status().message(), text.substr(0, 8)));
    }
  }
}

TEST_F(InternalKeyFileTest, MissingFileNamesThePath) {
  std::string path = base::StrCat(dir_, "/absent.key");
  absl::StatusOr<InternalKey> key = LoadInternalKey(&env_, path);
  EXPECT_EQ(key.status().code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(Contains(key.status().message(), path));
}

}  // namespace
}  // namespace edgevault::net
