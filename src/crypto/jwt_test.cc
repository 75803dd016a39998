#include "src/crypto/jwt.h"

#include <string>

#include "gtest/gtest.h"
#include "src/base/encoding.h"
#include "src/crypto/hash.h"

namespace edgevault::crypto {
namespace {

// RFC 8037 Appendix A.1 (private key "d", public key "x"), A.3 (thumbprint) and A.4
// (a JWS over "Example of Ed25519 signing" with protected header {"alg":"EdDSA"}).
constexpr char kRfcD[] = "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A";
constexpr char kRfcX[] = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo";
constexpr char kRfcThumbprint[] = "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k";
constexpr char kRfcSigningInput[] = "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc";
constexpr char kRfcSignature[] =
    "hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg";
// The same private key as PKCS#8 PEM, produced by `openssl pkey` from the DER
// 302e020100300506032b657004220420 || d.
constexpr char kRfcPem[] =
    "-----BEGIN PRIVATE KEY-----\n"
    "MC4CAQAwBQYDK2VwBCIEIJ1hsZ3v/VpguoRK9JLsLMREScVpezJpGXA7rAMcrn9g\n"
    "-----END PRIVATE KEY-----\n";

const absl::Time kNow = absl::FromUnixSeconds(1'800'000'000);
constexpr char kIss[] = "https://auth.edgevault.test";
constexpr char kAud[] = "edgevault-api";

std::string B64(std::string_view s) { return base::Base64UrlEncode(s); }

Ed25519PrivateKey RfcKey() { return *Ed25519PrivateKey::FromRaw(*base::Base64UrlDecode(kRfcD)); }

Ed25519PrivateKey SeedKey(char fill) {
  return *Ed25519PrivateKey::FromRaw(std::string(32, fill));
}

JwtClaims GoodClaims() {
  JwtClaims c;
  c.iss = kIss;
  c.sub = "user_01HZX5";
  c.aud = kAud;
  c.org = "org_acme";
  c.jti = "tok_42";
  c.roles = {"admin", "editor"};
  c.scopes = {"flags:read", "secrets:write"};
  c.iat = kNow - absl::Seconds(10);
  c.exp = kNow + absl::Minutes(5);
  c.extra["sid"] = "sess_9";
  c.extra["amr"] = boost::json::array{"pwd", "totp"};
  return c;
}

class JwtTest : public ::testing::Test {
 protected:
  JwtTest() : key_(SeedKey('\x07')) { verifier_.AddKey(key_.Kid(), key_.PublicKey()); }

  absl::StatusOr<JwtClaims> Verify(std::string_view token) const {
    return verifier_.Verify(token, kNow, kIss, kAud);
  }
  // A token with the given raw header/payload JSON, signed by key_ (EdDSA).
  std::string Forge(std::string_view header, std::string_view payload) const {
    std::string input = B64(header) + "." + B64(payload);
    return input + "." + B64(key_.Sign(input));
  }
  std::string Header() const {
    return R"({"alg":"EdDSA","typ":"JWT","kid":")" + key_.Kid() + R"("})";
  }

  Ed25519PrivateKey key_;
  JwtVerifier verifier_;
};

void ExpectRejected(const absl::StatusOr<JwtClaims>& r, std::string_view reason) {
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnauthenticated) << r.status();
  EXPECT_NE(std::string(r.status().message()).find(reason), std::string::npos) << r.status();
}

TEST(Rfc8037Test, SignatureMatchesAppendixA4) {
  Ed25519PrivateKey key = RfcKey();
  EXPECT_EQ(B64(key.RawPublic()), kRfcX);
  EXPECT_EQ(B64(key.Sign(kRfcSigningInput)), kRfcSignature);
  EXPECT_TRUE(key.PublicKey().Verify(kRfcSigningInput, *base::Base64UrlDecode(kRfcSignature)));
  EXPECT_FALSE(key.PublicKey().Verify("eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmC",
                                      *base::Base64UrlDecode(kRfcSignature)));
}

TEST(Rfc8037Test, ThumbprintMatchesAppendixA3) {
  EXPECT_EQ(RfcKey().Kid(), kRfcThumbprint);
  auto pub = Ed25519PublicKey::FromRaw(*base::Base64UrlDecode(kRfcX));
  ASSERT_TRUE(pub.ok()) << pub.status();
  EXPECT_EQ(pub->Kid(), kRfcThumbprint);
  EXPECT_NE(SeedKey('\x01').Kid(), kRfcThumbprint);
}

TEST(Rfc8037Test, OpensslPemLoadsToTheSameKey) {
  auto key = Ed25519PrivateKey::FromPem(kRfcPem);
  ASSERT_TRUE(key.ok()) << key.status();
  EXPECT_EQ(key->Kid(), kRfcThumbprint);
  EXPECT_EQ(B64(key->Sign(kRfcSigningInput)), kRfcSignature);
  auto pem = key->ToPem();
  ASSERT_TRUE(pem.ok());
  EXPECT_EQ(*pem, kRfcPem);
}

TEST(Ed25519KeyTest, RejectsBadInput) {
  EXPECT_EQ(Ed25519PrivateKey::FromPem("not a pem").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Ed25519PrivateKey::FromRaw("short").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Ed25519PublicKey::FromRaw(std::string(31, 'x')).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(JwtTest, SignVerifyRoundTrip) {
  JwtClaims in = GoodClaims();
  std::string token = SignJwt(key_, key_.Kid(), in);
  absl::StatusOr<JwtClaims> out = Verify(token);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->iss, in.iss);
  EXPECT_EQ(out->sub, in.sub);
  EXPECT_EQ(out->aud, in.aud);
  EXPECT_EQ(out->org, in.org);
  EXPECT_EQ(out->jti, in.jti);
  EXPECT_EQ(out->roles, in.roles);
  EXPECT_EQ(out->scopes, in.scopes);
  EXPECT_EQ(out->iat, in.iat);
  EXPECT_EQ(out->exp, in.exp);
  EXPECT_EQ(out->extra, in.extra);

  // The header is exactly what docs/design/jwt.md specifies.
  std::string header = *base::Base64UrlDecode(token.substr(0, token.find('.')));
  EXPECT_EQ(header, Header());
}

TEST_F(JwtTest, PayloadUsesIntegerNumericDates) {
  std::string token = SignJwt(key_, key_.Kid(), GoodClaims());
  size_t a = token.find('.'), b = token.rfind('.');
  std::string payload = *base::Base64UrlDecode(token.substr(a + 1, b - a - 1));
  EXPECT_NE(payload.find(R"("iat":1799999990)"), std::string::npos) << payload;
  EXPECT_NE(payload.find(R"("exp":1800000300)"), std::string::npos) << payload;
}

TEST_F(JwtTest, AcceptsAudienceArrayContainingUs) {
  std::string token = Forge(Header(), R"({"iss":"https://auth.edgevault.test","sub":"u",)"
                                      R"("aud":["other","edgevault-api"],)"
                                      R"("iat":1800000000,"exp":1800000100})");
  absl::StatusOr<JwtClaims> out = Verify(token);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->aud, kAud);
  ExpectRejected(Verify(Forge(Header(), R"({"iss":"https://auth.edgevault.test","sub":"u",)"
                                        R"("aud":["other"],"iat":1800000000,"exp":1800000100})")),
                 "audience");
}

TEST_F(JwtTest, AlgNoneIsRejected) {
  std::string payload = B64(R"({"iss":"https://auth.edgevault.test","sub":"u",)"
                            R"("aud":"edgevault-api","iat":1800000000,"exp":1800000100})");
  ExpectRejected(Verify(B64(R"({"alg":"none"})") + "." + payload + "."), "alg");
  ExpectRejected(Verify(B64(R"({"alg":"none","kid":")" + key_.Kid() + R"("})") + "." + payload +
                        "."),
                 "alg");
  ExpectRejected(Verify(B64(R"({"alg":"NONE","kid":")" + key_.Kid() + R"("})") + "." + payload +
                        "."),
                 "alg");
}

TEST_F(JwtTest, Hs256WithPublicKeyAsSecretIsRejected) {
  // The classic confusion: a verifier that lets the token pick the algorithm would check
  // an HMAC keyed with the (public) verification key.
  std::string jwks = JwksJson({{key_.Kid(), key_.PublicKey()}});
  for (const std::string& secret :
       {key_.RawPublic(), B64(key_.RawPublic()), jwks}) {
    for (const char* alg : {"HS256", "ES256", "RS256", "EdDSA "}) {
      std::string input = B64(std::string(R"({"alg":")") + alg + R"(","typ":"JWT","kid":")" +
                              key_.Kid() + R"("})") +
                          "." +
                          B64(R"({"iss":"https://auth.edgevault.test","sub":"u",)"
                              R"("aud":"edgevault-api","iat":1800000000,"exp":1800000100})");
      ExpectRejected(Verify(input + "." + B64(HmacSha256(secret, input))), "alg");
    }
  }
}

TEST_F(JwtTest, CritHeaderIsRejected) {
  std::string token = Forge(R"({"alg":"EdDSA","kid":")" + key_.Kid() + R"(","crit":["exp"]})",
                            R"({"iss":"https://auth.edgevault.test","sub":"u",)"
                            R"("aud":"edgevault-api","iat":1800000000,"exp":1800000100})");
  ExpectRejected(Verify(token), "crit");
}

TEST_F(JwtTest, ExpiredIsRejectedAfterLeeway) {
  JwtClaims c = GoodClaims();
  c.iat = kNow - absl::Minutes(10);
  c.exp = kNow - absl::Seconds(31);
  ExpectRejected(Verify(SignJwt(key_, key_.Kid(), c)), "expired");
  c.exp = kNow - kJwtLeeway;  // exp <= now - leeway is expired
  ExpectRejected(Verify(SignJwt(key_, key_.Kid(), c)), "expired");
  c.exp = kNow - absl::Seconds(29);  // within leeway
  EXPECT_TRUE(Verify(SignJwt(key_, key_.Kid(), c)).ok());
}

TEST_F(JwtTest, NotYetValidIsRejected) {
  JwtClaims c = GoodClaims();
  c.iat = kNow + absl::Seconds(31);
  c.exp = kNow + absl::Minutes(5);
  ExpectRejected(Verify(SignJwt(key_, key_.Kid(), c)), "iat");
  c.iat = kNow + absl::Seconds(29);
  EXPECT_TRUE(Verify(SignJwt(key_, key_.Kid(), c)).ok());

  std::string token = Forge(Header(), R"({"iss":"https://auth.edgevault.test","sub":"u",)"
                                      R"("aud":"edgevault-api","iat":1800000000,)"
                                      R"("nbf":1800000060,"exp":1800000100})");
  ExpectRejected(Verify(token), "nbf");
}

TEST_F(JwtTest, UnknownKidIsNotFound) {
  Ed25519PrivateKey other = SeedKey('\x09');
  absl::StatusOr<JwtClaims> r = Verify(SignJwt(other, other.Kid(), GoodClaims()));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(std::string(r.status().message()).find("unknown key id"), std::string::npos);
  // After a JWKS refresh that includes the key, the same token verifies.
  JwtVerifier refreshed = *JwtVerifier::FromJwks(
      JwksJson({{key_.Kid(), key_.PublicKey()}, {other.Kid(), other.PublicKey()}}));
  EXPECT_TRUE(refreshed.Verify(SignJwt(other, other.Kid(), GoodClaims()), kNow, kIss, kAud).ok());
}

TEST_F(JwtTest, KeyFiledUnderAnotherKidDoesNotVerify) {
  // A token naming our kid but signed by a different key.
  Ed25519PrivateKey other = SeedKey('\x09');
  ExpectRejected(Verify(SignJwt(other, key_.Kid(), GoodClaims())), "signature");
}

TEST_F(JwtTest, WrongIssuerOrAudienceIsRejected) {
  JwtClaims c = GoodClaims();
  std::string token = SignJwt(key_, key_.Kid(), c);
  ExpectRejected(verifier_.Verify(token, kNow, "https://evil.test", kAud), "issuer");
  ExpectRejected(verifier_.Verify(token, kNow, kIss, "edgevault-console"), "audience");
}

TEST_F(JwtTest, MissingRequiredClaimsAreRejected) {
  ExpectRejected(Verify(Forge(Header(), R"({"iss":"https://auth.edgevault.test","sub":"u",)"
                                        R"("aud":"edgevault-api","iat":1800000000})")),
                 "exp");
  ExpectRejected(Verify(Forge(Header(), R"({"iss":"https://auth.edgevault.test","sub":"u",)"
                                        R"("aud":"edgevault-api","exp":1800000100})")),
                 "iat");
  ExpectRejected(Verify(Forge(Header(), R"({"iss":"https://auth.edgevault.test",)"
                                        R"("aud":"edgevault-api","iat":1800000000,)"
                                        R"("exp":1800000100})")),
                 "sub");
  ExpectRejected(Verify(Forge(Header(), R"({"iss":"https://auth.edgevault.test","sub":"u",)"
                                        R"("aud":"edgevault-api","iat":1800000000,)"
                                        R"("exp":"1800000100"})")),
                 "exp");
}

TEST_F(JwtTest, TamperedPayloadIsRejected) {
  std::string token = SignJwt(key_, key_.Kid(), GoodClaims());
  size_t a = token.find('.'), b = token.rfind('.');
  std::string payload = *base::Base64UrlDecode(token.substr(a + 1, b - a - 1));
  size_t at = payload.find("editor");
  ASSERT_NE(at, std::string::npos);
  payload.replace(at, 6, "owner!");
  std::string tampered = token.substr(0, a + 1) + B64(payload) + token.substr(b);
  ExpectRejected(Verify(tampered), "signature");
}

TEST_F(JwtTest, TamperedSignatureIsRejected) {
  std::string token = SignJwt(key_, key_.Kid(), GoodClaims());
  std::string flipped = token;
  size_t mid = token.rfind('.') + 10;
  flipped[mid] = flipped[mid] == 'A' ? 'B' : 'A';
  ExpectRejected(Verify(flipped), "signature");
  // The last character carries 4 unused bits; a non-canonical spelling is refused too.
  std::string last = token;
  char& c = last.back();
  c = c == 'A' ? 'B' : 'A';
  EXPECT_FALSE(Verify(last).ok());
  // Signature of the wrong length.
  ExpectRejected(Verify(token.substr(0, token.rfind('.') + 1) + B64(std::string(63, 'x'))),
                 "signature");
}

TEST_F(JwtTest, MalformedTokensAreRejected) {
  std::string token = SignJwt(key_, key_.Kid(), GoodClaims());
  ExpectRejected(Verify(token.substr(0, token.size() - 5)), "signature");  // truncated
  ExpectRejected(Verify(token.substr(0, token.rfind('.'))), "three");
  ExpectRejected(Verify(token + ".x"), "three");
  ExpectRejected(Verify(""), "three");
  ExpectRejected(Verify("a.b"), "three");
  ExpectRejected(Verify("!!!." + token.substr(token.find('.') + 1)), "base64url");
  ExpectRejected(Verify(B64("{not json") + token.substr(token.find('.'))), "JSON");
  ExpectRejected(Verify(B64("[1,2]") + token.substr(token.find('.'))), "JSON");
  ExpectRejected(Verify(Forge(Header(), "not json")), "JSON");
  ExpectRejected(Verify(Forge(R"({"alg":"EdDSA"})", "{}")), "kid");
  ExpectRejected(Verify(token + std::string(20000, 'A')), "too large");
}

TEST_F(JwtTest, EveryMemberOfAnUnexpectedTypeIsAnErrorNotAThrow) {
  // Headers and claims as a buggy or hostile issuer might write them (item 5 of the
  // security issue): an Unauthenticated answer each, never an exception.
  const std::string kid = key_.Kid();
  for (const std::string& header :
       {std::string(R"({"alg":1,"kid":")") + kid + R"("})", std::string(R"({"alg":["EdDSA"],"kid":")") + kid + R"("})",
        std::string(R"({"alg":"EdDSA","kid":7})"), std::string(R"({"alg":"EdDSA","kid":{"a":1}})"),
        std::string(R"({"alg":"EdDSA","kid":null})")}) {
    absl::StatusOr<JwtClaims> r = Verify(Forge(header, "{}"));
    EXPECT_EQ(r.status().code(), absl::StatusCode::kUnauthenticated) << header << ": " << r.status();
  }
  const std::string base = R"("iss":"https://auth.edgevault.test","aud":"edgevault-api","iat":1800000000,"exp":1800000100)";
  for (const std::string& extra :
       {std::string(R"("sub":5)"), std::string(R"("sub":"u","org":[1])"), std::string(R"("sub":"u","jti":{})"),
        std::string(R"("sub":"u","roles":"admin")"), std::string(R"("sub":"u","roles":[1,2])"),
        std::string(R"("sub":"u","scopes":{"a":"b"})"), std::string(R"("sub":"u","nbf":"soon")")}) {
    absl::StatusOr<JwtClaims> r = Verify(Forge(Header(), "{" + extra + "," + base + "}"));
    EXPECT_EQ(r.status().code(), absl::StatusCode::kUnauthenticated) << extra << ": " << r.status();
  }
  ExpectRejected(Verify(Forge(Header(), R"({"sub":"u","iss":["x"],"aud":"edgevault-api","iat":1800000000,"exp":1800000100})")),
                 "iss");
  ExpectRejected(Verify(Forge(Header(), R"({"sub":"u","iss":"https://auth.edgevault.test","aud":7,"iat":1800000000,"exp":1800000100})")),
                 "audience");
  ExpectRejected(Verify(Forge(Header(), R"({"sub":"u","iss":"https://auth.edgevault.test","aud":[7,null],"iat":1800000000,"exp":1800000100})")),
                 "audience");
}

TEST(JwksTest, EmptyKeySetOnlyWhenAllowed) {
  EXPECT_EQ(JwtVerifier::FromJwks(R"({"keys":[]})").status().code(), absl::StatusCode::kInvalidArgument);
  absl::StatusOr<JwtVerifier> none = JwtVerifier::FromJwks(R"({"keys":[]})", /*allow_empty=*/true);
  ASSERT_TRUE(none.ok()) << none.status();
  EXPECT_EQ(none->size(), 0u);
  // Entries that are all unusable are still an error: that is not "no keys".
  EXPECT_FALSE(JwtVerifier::FromJwks(R"({"keys":[{"kty":7}]})", true).ok());
  for (const char* bad : {R"({"keys":{}})", "[]", R"({"keys":[null,1,"x",[],{"kty":"OKP","crv":"Ed25519","x":1}]})"}) {
    EXPECT_EQ(JwtVerifier::FromJwks(bad, true).status().code(), absl::StatusCode::kInvalidArgument) << bad;
  }
}

TEST(JwksTest, FormatAndRoundTrip) {
  Ed25519PrivateKey k = RfcKey();
  std::string jwks = JwksJson({{k.Kid(), k.PublicKey()}});
  EXPECT_EQ(jwks, std::string(R"({"keys":[{"kty":"OKP","crv":"Ed25519","x":")") + kRfcX +
                      R"(","kid":")" + kRfcThumbprint + R"(","use":"sig","alg":"EdDSA"}]})");
  absl::StatusOr<JwtVerifier> v = JwtVerifier::FromJwks(jwks);
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(v->size(), 1u);
}

TEST(JwksTest, IgnoresForeignKeysAndNeedsOneUsable) {
  std::string jwks = std::string(R"({"keys":[)") +
                     R"({"kty":"RSA","n":"AQAB","e":"AQAB","kid":"rsa"},)" +
                     R"({"kty":"OKP","crv":"X25519","x":")" + kRfcX + R"(","kid":"x"},)" +
                     R"({"kty":"OKP","crv":"Ed25519","x":"AAAA","kid":"short"},)" +
                     R"({"kty":"OKP","crv":"Ed25519","use":"enc","x":")" + kRfcX +
                     R"(","kid":"enc"},)" + R"({"kty":"OKP","crv":"Ed25519","x":")" + kRfcX +
                     R"("}]})";
  absl::StatusOr<JwtVerifier> v = JwtVerifier::FromJwks(jwks);
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(v->size(), 1u);
  // The kid-less key is filed under its thumbprint.
  std::string input = std::string(R"({"alg":"EdDSA","kid":")") + kRfcThumbprint + R"("})";
  std::string payload = R"({"iss":"i","sub":"s","aud":"a","iat":1800000000,"exp":1800000100})";
  std::string token = B64(input) + "." + B64(payload);
  token += "." + B64(RfcKey().Sign(token));
  EXPECT_TRUE(v->Verify(token, kNow, "i", "a").ok());

  EXPECT_EQ(JwtVerifier::FromJwks(R"({"keys":[{"kty":"RSA","n":"AQAB","e":"AQAB"}]})")
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(JwtVerifier::FromJwks(R"({"keys":[]})").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(JwtVerifier::FromJwks("nope").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(JwtVerifier::FromJwks(R"({"keys":{}})").status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace edgevault::crypto
