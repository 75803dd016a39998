#include "src/crypto/document_signature.h"

#include <string>

#include "gtest/gtest.h"
#include "src/base/encoding.h"
#include "src/crypto/ed25519.h"
#include "src/crypto/jwks.h"

namespace edgevault::crypto {
namespace {

// Resolved documents as the api writes them (resolved-document.md §1, §7).
std::string FullDoc(int64_t version, std::string_view env = "prod") {
  return R"({"format":1,"workspace_id":"ws_1","workspace":"shop","environment":")" +
         std::string(env) + R"(","version":)" + std::to_string(version) +
         R"(,"configs":{"db.host":{"type":"string","value":"db.prod","from":"prod"}},"flags":{},"segments":{}})";
}
std::string ClientDoc(int64_t version) {
  return R"({"format":1,"workspace_id":"ws_1","workspace":"shop","environment":"prod","version":)" +
         std::to_string(version) + R"(,"audience":"client","configs":{},"flags":{},"segments":{}})";
}

Ed25519PrivateKey Key(char seed) { return *Ed25519PrivateKey::FromRaw(std::string(32, seed)); }

DocumentSignature SignWith(const Ed25519PrivateKey& key, std::string_view doc) {
  return {key.Kid(), key.Sign(DocumentSigningInput(doc))};
}

class DocumentSignatureTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<DocumentVerifier> v = DocumentVerifier::FromJwks(JwksJson({{key_.Kid(), key_.PublicKey()}}));
    ASSERT_TRUE(v.ok()) << v.status();
    verifier_ = *std::move(v);
  }
  Ed25519PrivateKey key_ = Key('k');
  DocumentVerifier verifier_;
};

TEST_F(DocumentSignatureTest, GoodSignatureVerifies) {
  std::string doc = FullDoc(42);
  absl::StatusOr<VerifiedDocument> ok =
      verifier_.Verify(doc, SignWith(key_, doc), {.workspace_id = "ws_1", .environment = "prod"});
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(ok->version, 42);
  EXPECT_EQ(ok->kid, key_.Kid());
  std::string cdoc = ClientDoc(42);
  EXPECT_TRUE(verifier_.Verify(cdoc, SignWith(key_, cdoc), {.client = true}).ok());
}

TEST_F(DocumentSignatureTest, SignatureCoversTheContextString) {
  // A plain Ed25519 signature of the bytes (no context) must not pass: it could be any
  // other signature made with the same key.
  std::string doc = FullDoc(1);
  DocumentSignature bare{key_.Kid(), key_.Sign(doc)};
  EXPECT_TRUE(absl::IsUnauthenticated(verifier_.Verify(doc, bare, {}).status()));
}

TEST_F(DocumentSignatureTest, UnknownKidIsNotFound) {
  Ed25519PrivateKey other = Key('o');
  std::string doc = FullDoc(42);
  absl::Status st = verifier_.Verify(doc, SignWith(other, doc), {}).status();
  EXPECT_TRUE(absl::IsNotFound(st)) << st;
}

TEST_F(DocumentSignatureTest, SignatureByAnotherKeyUnderAPinnedKidFails) {
  Ed25519PrivateKey other = Key('o');
  std::string doc = FullDoc(42);
  DocumentSignature forged{key_.Kid(), other.Sign(DocumentSigningInput(doc))};
  EXPECT_TRUE(absl::IsUnauthenticated(verifier_.Verify(doc, forged, {}).status()));
}

TEST_F(DocumentSignatureTest, EveryTamperedByteFails) {
  std::string doc = FullDoc(42);
  DocumentSignature sig = SignWith(key_, doc);
  for (size_t i = 0; i < doc.size(); ++i) {
    std::string tampered = doc;
    tampered[i] ^= 0x01;
    EXPECT_FALSE(verifier_.Verify(tampered, sig, {}).ok()) << "byte " << i;
  }
  std::string longer = doc + " ";
  EXPECT_FALSE(verifier_.Verify(longer, sig, {}).ok());
  DocumentSignature bad_sig = sig;
  bad_sig.signature[10] ^= 0x40;
  EXPECT_TRUE(absl::IsUnauthenticated(verifier_.Verify(doc, bad_sig, {}).status()));
}

TEST_F(DocumentSignatureTest, ClientDocumentSignatureDoesNotPassForTheFullDocument) {
  std::string full = FullDoc(42), client = ClientDoc(42);
  EXPECT_TRUE(absl::IsUnauthenticated(verifier_.Verify(full, SignWith(key_, client), {}).status()));
  // And a validly signed client document offered where a full one is expected (or the
  // reverse) is refused by its audience.
  EXPECT_TRUE(absl::IsFailedPrecondition(
      verifier_.Verify(client, SignWith(key_, client), {.client = false}).status()));
  EXPECT_TRUE(absl::IsFailedPrecondition(
      verifier_.Verify(full, SignWith(key_, full), {.client = true}).status()));
}

TEST_F(DocumentSignatureTest, OlderVersionsSignatureDoesNotPassForTheNewDocument) {
  std::string v41 = FullDoc(41), v42 = FullDoc(42);
  EXPECT_TRUE(absl::IsUnauthenticated(verifier_.Verify(v42, SignWith(key_, v41), {}).status()));
}

TEST_F(DocumentSignatureTest, ReplayOfAnOlderSignedDocumentIsRefused) {
  std::string v41 = FullDoc(41);
  DocumentSignature sig41 = SignWith(key_, v41);
  EXPECT_TRUE(verifier_.Verify(v41, sig41, {.min_version = 41}).ok());
  absl::Status st = verifier_.Verify(v41, sig41, {.min_version = 42}).status();
  EXPECT_TRUE(absl::IsFailedPrecondition(st)) << st;
  EXPECT_NE(st.message().find("older"), std::string_view::npos) << st;
}

TEST_F(DocumentSignatureTest, AnotherEnvironmentsSignedDocumentIsRefused) {
  std::string staging = FullDoc(42, "staging");
  EXPECT_TRUE(absl::IsFailedPrecondition(
      verifier_.Verify(staging, SignWith(key_, staging), {.environment = "prod"}).status()));
  EXPECT_TRUE(absl::IsFailedPrecondition(
      verifier_.Verify(staging, SignWith(key_, staging), {.workspace_id = "ws_2"}).status()));
}

TEST_F(DocumentSignatureTest, WireFormsRoundTripAndRejectNonCanonicalText) {
  DocumentSignature sig = SignWith(key_, FullDoc(1));
  std::string stored = FormatStoredDocumentSignature(sig);
  EXPECT_EQ(stored, key_.Kid() + "." + base::Base64UrlEncode(sig.signature));
  absl::StatusOr<DocumentSignature> back = ParseStoredDocumentSignature(stored);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->kid, sig.kid);
  EXPECT_EQ(back->signature, sig.signature);

  std::string header = FormatDocumentSignatureHeader(sig);
  EXPECT_EQ(header, "kid=" + key_.Kid() + "; sig=" + base::Base64UrlEncode(sig.signature));
  absl::StatusOr<DocumentSignature> h = ParseDocumentSignatureHeader(header);
  ASSERT_TRUE(h.ok()) << h.status();
  EXPECT_EQ(h->signature, sig.signature);
  absl::StatusOr<DocumentSignature> swapped = ParseDocumentSignatureHeader(
      "sig=" + base::Base64UrlEncode(sig.signature) + ";kid=" + key_.Kid());
  ASSERT_TRUE(swapped.ok()) << swapped.status();
  EXPECT_EQ(swapped->kid, sig.kid);

  for (std::string bad : {std::string(""), std::string("kid=a"), "kid=a; sig=" + base::Base64UrlEncode("short"),
                          "kid=a; sig=" + base::Base64UrlEncode(sig.signature) + "==",
                          "kid=a; kid=b; sig=" + base::Base64UrlEncode(sig.signature),
                          "kid=a b; sig=" + base::Base64UrlEncode(sig.signature),
                          "alg=none; kid=a; sig=" + base::Base64UrlEncode(sig.signature)}) {
    EXPECT_FALSE(ParseDocumentSignatureHeader(bad).ok()) << bad;
  }
  EXPECT_FALSE(ParseStoredDocumentSignature("no-dot").ok());
  EXPECT_FALSE(ParseStoredDocumentSignature("." + base::Base64UrlEncode(sig.signature)).ok());
}

}  // namespace
}  // namespace edgevault::crypto
