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
  EXPECT_TRUE(CheckKeyFiles(&env_, layout_.keys_dir).ok());

  env_.AdvanceBy(absl::Minutes(6));
  absl::StatusOr<RotateSigningResult> r2 = RotateSigningKey(&env_, layout_.keys_dir);
  ASSERT_TRUE(r2.ok()) << r2.status();
  // `first` retired (its successor is 6 min old) and was deleted; r->new_kid stays.
  EXPECT_EQ(r2->pruned, 1);
  EXPECT_EQ(r2->published, (std::vector<std::string>{r2->new_kid, r->new_kid}));
}

}  // namespace
}  // namespace edgevault::cli
