#include "src/crypto/document_signer.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>

#include "gtest/gtest.h"
#include "src/crypto/document_signature.h"

namespace edgevault::crypto {
namespace {

class DocumentSignerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/ev-docsign-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    root_ = tmpl;
    dir_ = root_ + "/document-signing";
  }
  void TearDown() override { std::filesystem::remove_all(root_); }

  std::unique_ptr<DocumentSigner> Open() {
    absl::StatusOr<std::unique_ptr<DocumentSigner>> s =
        DocumentSigner::Open({.env = &env_, .dir = dir_, .settle = absl::Seconds(10)});
    EXPECT_TRUE(s.ok()) << s.status();
    return s.ok() ? *std::move(s) : nullptr;
  }

  base::SimulatedEnv env_;
  std::string root_, dir_;
};

TEST_F(DocumentSignerTest, FirstOpenCreatesAPrivateKeyAndItsSignaturesVerifyAgainstTheJwks) {
  std::unique_ptr<DocumentSigner> signer = Open();
  ASSERT_NE(signer, nullptr);
  EXPECT_EQ(*env_.FileMode(dir_), 0700u);
  std::string doc = R"({"format":1,"workspace_id":"ws_1","environment":"prod","version":3})";
  absl::StatusOr<DocumentSignature> sig = ParseStoredDocumentSignature(signer->Sign(doc));
  ASSERT_TRUE(sig.ok()) << sig.status();
  EXPECT_EQ(sig->kid, signer->ActiveKid());
  absl::StatusOr<DocumentVerifier> verifier = DocumentVerifier::FromJwks(signer->Jwks());
  ASSERT_TRUE(verifier.ok()) << verifier.status();
  EXPECT_TRUE(verifier->Verify(doc, *sig, {.environment = "prod"}).ok());
}

TEST_F(DocumentSignerTest, ARotatedKeyIsPublishedAtOnceAndSignsAfterTheSettlePeriod) {
  std::unique_ptr<DocumentSigner> signer = Open();
  ASSERT_NE(signer, nullptr);
  std::string first = signer->ActiveKid();
  env_.AdvanceBy(absl::Minutes(1));
  absl::StatusOr<std::string> added = AddSigningKey(&env_, dir_);
  ASSERT_TRUE(added.ok()) << added.status();
  ASSERT_TRUE(signer->Reload().ok());
  EXPECT_EQ(signer->ActiveKid(), first) << "a settling key must not sign yet";
  EXPECT_NE(signer->Jwks().find(*added), std::string::npos) << "but it is published at once";
  env_.AdvanceBy(absl::Seconds(11));  // past settle and the reload interval
  EXPECT_EQ(signer->ActiveKid(), *added);
  EXPECT_NE(signer->Jwks().find(first), std::string::npos) << "the previous key stays published";
}

TEST_F(DocumentSignerTest, KeyFileOpenToOthersIsRefused) {
  ASSERT_NE(Open(), nullptr);
  for (const auto& e : std::filesystem::directory_iterator(dir_)) ::chmod(e.path().c_str(), 0644);
  absl::Status st = DocumentSigner::Open({.env = &env_, .dir = dir_}).status();
  EXPECT_TRUE(absl::IsPermissionDenied(st)) << st;
}

}  // namespace
}  // namespace edgevault::crypto
