#include "src/services/auth/totp_seal.h"

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <string>

#include "gtest/gtest.h"
#include "src/base/env.h"

namespace edgevault::auth {
namespace {

namespace fs = std::filesystem;

class TotpSealTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("ev-totp-seal-" + std::to_string(::getpid()) + "-" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string KeysDir() const { return (dir_ / "keys" / "auth").string(); }
  uint32_t ModeOf(const std::string& path) {
    struct stat st;
    EXPECT_EQ(::stat(path.c_str(), &st), 0) << path;
    return st.st_mode & 07777;
  }

  fs::path dir_;
  base::Env* env_ = base::Env::Default();
};

TEST_F(TotpSealTest, CreatesAPrivateKeyFileOnceAndReadsItBack) {
  auto first = TotpSealer::LoadOrCreate(env_, KeysDir());
  ASSERT_TRUE(first.ok()) << first.status();
  const std::string file = KeysDir() + "/totp-seal.key";
  EXPECT_EQ(ModeOf(KeysDir()), 0700u);
  EXPECT_EQ(ModeOf(file), 0600u);
  std::string text = *env_->ReadFile(file);
  EXPECT_EQ(text.size(), 65u);  // 64 hex characters and '\n', as master.key
  auto sealed = (*first)->Seal("secret bytes", "usr_1");
  ASSERT_TRUE(sealed.ok()) << sealed.status();
  // A restart loads the same key: what was sealed still opens.
  auto second = TotpSealer::LoadOrCreate(env_, KeysDir());
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(*env_->ReadFile(file), text);
  auto opened = (*second)->Open(*sealed, "usr_1");
  ASSERT_TRUE(opened.ok()) << opened.status();
  EXPECT_EQ(*opened, "secret bytes");
}

TEST_F(TotpSealTest, SealedBytesHaveTheVersionAndKeyIdAndNoPlaintext) {
  auto sealer = TotpSealer::LoadOrCreate(env_, KeysDir());
  ASSERT_TRUE(sealer.ok());
  std::string plain = "twenty raw secret b.";
  auto sealed = (*sealer)->Seal(plain, "usr_1");
  ASSERT_TRUE(sealed.ok());
  ASSERT_EQ(sealed->size(), 2 + 2 + 12 + plain.size() + 16);
  EXPECT_EQ(static_cast<unsigned char>((*sealed)[0]), kSealedTotpVersion);
  EXPECT_EQ((*sealed)[1], 2);
  EXPECT_EQ(sealed->substr(2, 2), kTotpSealKeyId);
  EXPECT_EQ(sealed->find(plain), std::string::npos);
  // A fresh nonce each time.
  EXPECT_NE(*(*sealer)->Seal(plain, "usr_1"), *sealed);
}

TEST_F(TotpSealTest, MovedTamperedOrForeignSecretsDoNotOpen) {
  auto sealer = TotpSealer::LoadOrCreate(env_, KeysDir());
  ASSERT_TRUE(sealer.ok());
  std::string sealed = *(*sealer)->Seal("secret", "usr_1");
  EXPECT_EQ((*sealer)->Open(sealed, "usr_2").status().code(), absl::StatusCode::kDataLoss);  // moved
  std::string flipped = sealed;
  flipped.back() ^= 1;
  EXPECT_EQ((*sealer)->Open(flipped, "usr_1").status().code(), absl::StatusCode::kDataLoss);
  auto other = TotpSealer::FromKey(env_, "t1", crypto::SecureBuffer(std::string(32, 'k')));
  ASSERT_TRUE(other.ok());
  EXPECT_EQ((*other)->Open(sealed, "usr_1").status().code(), absl::StatusCode::kDataLoss);
  auto rotated = TotpSealer::FromKey(env_, "t2", crypto::SecureBuffer(std::string(32, 'k')));
  ASSERT_TRUE(rotated.ok());
  EXPECT_EQ((*rotated)->Open(sealed, "usr_1").status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ((*sealer)->Open("", "usr_1").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ((*sealer)->Open(sealed.substr(0, 20), "usr_1").status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(TotpSealTest, AKeyFileOthersCanReadIsRefused) {
  ASSERT_TRUE(TotpSealer::LoadOrCreate(env_, KeysDir()).ok());
  fs::permissions(KeysDir() + "/totp-seal.key", fs::perms::owner_read | fs::perms::group_read);
  auto loaded = TotpSealer::LoadOrCreate(env_, KeysDir());
  EXPECT_EQ(loaded.status().code(), absl::StatusCode::kPermissionDenied) << loaded.status();
  EXPECT_NE(std::string(loaded.status().message()).find("chmod 600"), std::string::npos) << loaded.status();
}

}  // namespace
}  // namespace edgevault::auth
