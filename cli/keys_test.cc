#include "cli/keys.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>

#include "cli/data_dir.h"
#include "gtest/gtest.h"
#include "src/crypto/jwt_keys.h"

namespace edgevault::cli {
namespace {

class KeysTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/ev-keys-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    tmp_ = tmpl;
    layout_ = DataDirLayout::For(tmp_ + "/data");
    ASSERT_TRUE(InitDataDir(&env_, layout_, 9000).ok());
    jwt_dir_ = layout_.keys_dir + "/" + kJwtSigningDir;
  }
  void TearDown() override { std::filesystem::remove_all(tmp_); }

  std::string tmp_;
  DataDirLayout layout_;
  std::string jwt_dir_;
  base::SimulatedEnv env_;
};

TEST_F(KeysTest, RotateAddsActiveKeyKeepsPreviousThenPrunesIt) {
  auto before = crypto::LoadSigningKeys(&env_, jwt_dir_, env_.Now(), absl::Minutes(6));
  ASSERT_TRUE(before.ok()) << before.status();
  std::string first = before->active.kid;

  env_.AdvanceBy(absl::Hours(1));
  absl::StatusOr<RotateSigningResult> r = RotateSigningKey(&env_, layout_.keys_dir);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_NE(r->new_kid, first);
  EXPECT_EQ(r->published, (std::vector<std::string>{r->new_kid, first}));
  EXPECT_EQ(r->pruned, 0);
  EXPECT_TRUE(CheckKeyFiles(&env_, layout_.keys_dir, layout_.root + "/trust").ok());

  env_.AdvanceBy(absl::Minutes(6));
  absl::StatusOr<RotateSigningResult> r2 = RotateSigningKey(&env_, layout_.keys_dir);
  ASSERT_TRUE(r2.ok()) << r2.status();
  // `first` retired (its successor is 6 min old) and was deleted; r->new_kid stays.
  EXPECT_EQ(r2->pruned, 1);
  EXPECT_EQ(r2->published, (std::vector<std::string>{r2->new_kid, r->new_kid}));
}

TEST_F(KeysTest, RotatedKeySignsOnlyAfterTheSettlePeriod) {
  const crypto::SigningKeyPolicy policy{absl::Minutes(6), absl::Seconds(10)};
  std::string first = crypto::LoadSigningKeys(&env_, jwt_dir_, env_.Now(), policy)->active.kid;
  env_.AdvanceBy(absl::Hours(1));
  absl::StatusOr<RotateSigningResult> r = RotateSigningKey(&env_, layout_.keys_dir, policy);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->active, first);
  EXPECT_EQ(r->published, (std::vector<std::string>{r->new_kid, first}));
}

TEST_F(KeysTest, RevokingTheSigningKeyAddsAReplacement) {
  const crypto::SigningKeyPolicy policy{absl::Minutes(6), absl::Seconds(10)};
  std::string first = crypto::LoadSigningKeys(&env_, jwt_dir_, env_.Now(), policy)->active.kid;
  env_.AdvanceBy(absl::Hours(1));
  absl::StatusOr<RevokeSigningResult> r = RevokeSigningKey(&env_, layout_.keys_dir, first, policy);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->revoked);
  ASSERT_FALSE(r->replacement.empty());
  // Nothing else may sign, so the replacement signs at once.
  EXPECT_EQ(r->active, r->replacement);
  EXPECT_EQ(r->published, (std::vector<std::string>{r->replacement}));
  EXPECT_TRUE(CheckKeyFiles(&env_, layout_.keys_dir, layout_.root + "/trust").ok());

  // Revoking the signing key while the previous key is still published: the previous key
  // (which verifiers hold) signs until the replacement has settled.
  env_.AdvanceBy(absl::Hours(1));
  absl::StatusOr<RotateSigningResult> rotated = RotateSigningKey(&env_, layout_.keys_dir, policy);
  ASSERT_TRUE(rotated.ok());
  env_.AdvanceBy(absl::Minutes(1));
  absl::StatusOr<RevokeSigningResult> r2 = RevokeSigningKey(&env_, layout_.keys_dir, rotated->new_kid, policy);
  ASSERT_TRUE(r2.ok()) << r2.status();
  EXPECT_EQ(r2->active, r->replacement);
  EXPECT_EQ(r2->published, (std::vector<std::string>{r2->replacement, r->replacement}));

  // A key that is settling (not signing) is just dropped.
  absl::StatusOr<RevokeSigningResult> r3 = RevokeSigningKey(&env_, layout_.keys_dir, r2->replacement, policy);
  ASSERT_TRUE(r3.ok()) << r3.status();
  EXPECT_TRUE(r3->replacement.empty());
  EXPECT_EQ(r3->published, (std::vector<std::string>{r->replacement}));
  // Again: nothing changes; unknown: NotFound.
  absl::StatusOr<RevokeSigningResult> again = RevokeSigningKey(&env_, layout_.keys_dir, first, policy);
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE(again->revoked);
  EXPECT_EQ(RevokeSigningKey(&env_, layout_.keys_dir, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", policy)
                .status().code(),
            absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace edgevault::cli
