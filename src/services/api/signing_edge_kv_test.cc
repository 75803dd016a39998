// SigningEdgeKv against both real backends: every document write carries its signature at
// the same version, a republish at the same version re-signs with a new active key, a
// delete removes the signature, and MaintainKeys publishes the keys and asks for the
// re-signing republish when the active key changes.
#include "src/services/api/signing_edge_kv.h"

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <memory>

#include "gtest/gtest.h"
#include "src/crypto/document_signature.h"
#include "src/services/common/edge_kv_open.h"
#include "src/storage/lmdb/edge_kv_lmdb.h"
#include "src/storage/redis/edge_kv_redis.h"
#include "src/storage/redis/redis_test_server.h"

namespace edgevault::api {
namespace {

std::string Doc(int64_t version, bool client = false) {
  return R"({"format":1,"workspace_id":"ws_1","workspace":"shop","environment":"prod","version":)" +
         std::to_string(version) + (client ? R"(,"audience":"client")" : "") +
         R"(,"configs":{},"flags":{},"segments":{}})";
}

enum class Backend { kLmdb, kRedis };

class SigningEdgeKvTest : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/ev-signkv-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    root_ = tmpl;
    if (GetParam() == Backend::kLmdb) {
      auto kv = storage::OpenLmdbEdgeKv({.path = root_ + "/edge"});
      ASSERT_TRUE(kv.ok()) << kv.status();
      inner_ = *std::move(kv);
    } else {
      ASSERT_TRUE(redis_.Start());
      auto kv = storage::OpenRedisEdgeKv(redis_.Options());
      ASSERT_TRUE(kv.ok()) << kv.status();
      inner_ = *std::move(kv);
    }
    auto signer = crypto::DocumentSigner::Open(
        {.env = &env_, .dir = root_ + "/keys/document-signing", .settle = absl::Seconds(10)});
    ASSERT_TRUE(signer.ok()) << signer.status();
    signer_ = *std::move(signer);
    kv_ = std::make_unique<SigningEdgeKv>(inner_.get(), signer_.get(), &env_);
  }
  void TearDown() override {
    kv_.reset();
    inner_.reset();
    std::filesystem::remove_all(root_);
  }

  crypto::DocumentVerifier Verifier() {
    absl::StatusOr<storage::KvEntry> jwks = inner_->Get(storage::kEdgeKvDocumentKeysKey);
    EXPECT_TRUE(jwks.ok()) << jwks.status();
    absl::StatusOr<crypto::DocumentVerifier> v = crypto::DocumentVerifier::FromJwks(jwks.ok() ? jwks->value : "");
    EXPECT_TRUE(v.ok()) << v.status();
    return v.ok() ? *std::move(v) : crypto::DocumentVerifier();
  }
  // The stored signature of `key`'s document, checked to be at the document's version.
  crypto::DocumentSignature StoredSignature(std::string_view doc_key) {
    absl::StatusOr<storage::KvEntry> doc = inner_->Get(doc_key);
    absl::StatusOr<storage::KvEntry> sig = inner_->Get(storage::EdgeKvSignatureKeyFor(doc_key));
    EXPECT_TRUE(doc.ok() && sig.ok());
    if (!doc.ok() || !sig.ok()) return {};
    EXPECT_EQ(sig->version, doc->version);
    absl::StatusOr<crypto::DocumentSignature> parsed = crypto::ParseStoredDocumentSignature(sig->value);
    EXPECT_TRUE(parsed.ok()) << parsed.status();
    return parsed.value_or(crypto::DocumentSignature{});
  }

  base::SimulatedEnv env_;
  std::string root_;
  storage::RedisServer redis_;
  std::unique_ptr<storage::EdgeKv> inner_;
  std::unique_ptr<crypto::DocumentSigner> signer_;
  std::unique_ptr<SigningEdgeKv> kv_;
};

TEST_P(SigningEdgeKvTest, EveryDocumentWriteCarriesItsSignatureAtTheSameVersion) {
  ASSERT_TRUE(kv_->MaintainKeys().ok());
  std::string full = Doc(7), client = Doc(7, true);
  std::string doc_key = storage::EdgeKvDocumentKey("ws_1", "prod");
  std::string cdoc_key = storage::EdgeKvClientDocumentKey("ws_1", "prod");
  absl::StatusOr<std::vector<bool>> written = kv_->PutManyIfNewer(
      {{doc_key, full, 7}, {cdoc_key, client, 7}, {"sdk/abc", "{}", 1}});
  ASSERT_TRUE(written.ok()) << written.status();
  EXPECT_EQ(*written, (std::vector<bool>{true, true, true}));
  EXPECT_FALSE(inner_->Get("sig/sdk/abc").ok());  // only documents are signed
  crypto::DocumentVerifier verifier = Verifier();
  EXPECT_TRUE(verifier.Verify(full, StoredSignature(doc_key), {.environment = "prod"}).ok());
  EXPECT_TRUE(verifier.Verify(client, StoredSignature(cdoc_key), {.client = true}).ok());
  // The single-write path (a client key's first client document) signs too.
  ASSERT_TRUE(*kv_->PutIfNewer(cdoc_key, Doc(8, true), 8));
  EXPECT_TRUE(verifier.Verify(Doc(8, true), StoredSignature(cdoc_key), {.client = true, .min_version = 8}).ok());
  // A newer document replaces the pair; an older one changes neither.
  ASSERT_TRUE(*kv_->PutIfNewer(doc_key, Doc(9), 9));
  EXPECT_FALSE(*kv_->PutIfNewer(doc_key, Doc(8), 8));
  EXPECT_TRUE(verifier.Verify(Doc(9), StoredSignature(doc_key), {.min_version = 9}).ok());
}

TEST_P(SigningEdgeKvTest, RepublishAfterRotationReSignsAtTheSameVersion) {
  ASSERT_TRUE(kv_->MaintainKeys().ok());
  ASSERT_TRUE(inner_->PutIfNewer(services::kPopulatedKey, R"({"format":1})", 1).ok());
  std::string doc_key = storage::EdgeKvDocumentKey("ws_1", "prod");
  ASSERT_TRUE(*kv_->PutIfNewer(doc_key, Doc(5), 5));
  const std::string old_kid = StoredSignature(doc_key).kid;

  env_.AdvanceBy(absl::Minutes(1));
  absl::StatusOr<std::string> new_kid = crypto::AddSigningKey(&env_, root_ + "/keys/document-signing");
  ASSERT_TRUE(new_kid.ok()) << new_kid.status();
  env_.AdvanceBy(absl::Seconds(11));  // settled; the signer reloads
  ASSERT_EQ(signer_->ActiveKid(), *new_kid);
  ASSERT_TRUE(kv_->MaintainKeys().ok());
  // The marker is gone: the republisher will write every document again.
  EXPECT_TRUE(absl::IsNotFound(inner_->GetVersion(services::kPopulatedKey).status()));
  crypto::DocumentVerifier verifier = Verifier();
  EXPECT_GE(verifier.size(), 2u) << "the previous key stays published";

  // A forged document at the same version is not re-signed: only the resolved bytes are.
  EXPECT_FALSE(*kv_->PutIfNewer(doc_key, Doc(5) + " ", 5));
  EXPECT_EQ(StoredSignature(doc_key).kid, old_kid);
  EXPECT_FALSE(*kv_->PutIfNewer(doc_key, Doc(5), 5));  // the republish's write
  crypto::DocumentSignature resigned = StoredSignature(doc_key);
  EXPECT_EQ(resigned.kid, *new_kid);
  EXPECT_TRUE(verifier.Verify(Doc(5), resigned, {}).ok());
  // Nothing more to do once the active key changed is recorded.
  ASSERT_TRUE(inner_->PutIfNewer(services::kPopulatedKey, R"({"format":1})", 1).ok());
  ASSERT_TRUE(kv_->MaintainKeys().ok());
  EXPECT_TRUE(inner_->GetVersion(services::kPopulatedKey).ok());
}

TEST_P(SigningEdgeKvTest, UnsignedStoreIsSignedByTheFirstRepublish) {
  // A KV written before document signing existed: documents without signatures.
  std::string doc_key = storage::EdgeKvDocumentKey("ws_1", "prod");
  ASSERT_TRUE(*inner_->PutIfNewer(doc_key, Doc(3), 3));
  ASSERT_TRUE(inner_->PutIfNewer(services::kPopulatedKey, R"({"format":1})", 1).ok());
  ASSERT_TRUE(kv_->MaintainKeys().ok());
  EXPECT_TRUE(absl::IsNotFound(inner_->GetVersion(services::kPopulatedKey).status()));
  EXPECT_FALSE(*kv_->PutIfNewer(doc_key, Doc(3), 3));
  EXPECT_TRUE(Verifier().Verify(Doc(3), StoredSignature(doc_key), {}).ok());
}

TEST_P(SigningEdgeKvTest, DeletingADocumentDeletesItsSignature) {
  std::string doc_key = storage::EdgeKvDocumentKey("ws_1", "gone");
  ASSERT_TRUE(*kv_->PutIfNewer(doc_key, Doc(4), 4));
  ASSERT_TRUE(inner_->GetVersion("sig/ws_1/gone").ok());
  ASSERT_TRUE(*kv_->DeleteIfNotNewer(doc_key, 4));
  EXPECT_TRUE(absl::IsNotFound(inner_->GetVersion("sig/ws_1/gone").status()));
}

INSTANTIATE_TEST_SUITE_P(Backends, SigningEdgeKvTest, ::testing::Values(Backend::kLmdb, Backend::kRedis),
                         [](const auto& info) { return info.param == Backend::kLmdb ? "Lmdb" : "Redis"; });

}  // namespace
}  // namespace edgevault::api
