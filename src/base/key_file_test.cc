#include "src/base/key_file.h"

#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>

#include "gtest/gtest.h"

namespace edgevault::base {
namespace {

class KeyFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/ev-keyfile-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    tmp_ = tmpl;
    dir_ = tmp_ + "/auth";
  }
  void TearDown() override { std::filesystem::remove_all(tmp_); }
  std::string tmp_, dir_;
  Env* env_ = Env::Default();
};

TEST_F(KeyFileTest, CreatedOnceThenLoadedBack) {
  absl::StatusOr<std::string> first = LoadOrCreateKeyFile(env_, dir_, "k.key", "test key", RandomKey(env_));
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(first->size(), 32u);
  EXPECT_EQ(*env_->FileMode(dir_), 0700u);
  EXPECT_EQ(*env_->FileMode(dir_ + "/k.key"), 0600u);
  int calls = 0;
  absl::StatusOr<std::string> again = LoadOrCreateKeyFile(env_, dir_, "k.key", "test key", [&] {
    ++calls;
    return RandomKey(env_)();
  });
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(*again, *first);
  EXPECT_EQ(calls, 0);  // an existing key is never replaced
}

TEST_F(KeyFileTest, InitialBytesAreWrittenAsHex) {
  absl::StatusOr<std::string> k =
      LoadOrCreateKeyFile(env_, dir_, "k.key", "test key", [] { return std::string(32, '\xab'); });
  ASSERT_TRUE(k.ok()) << k.status();
  std::string hex;
  for (int i = 0; i < 32; ++i) hex += "ab";
  EXPECT_EQ(*env_->ReadFile(dir_ + "/k.key"), hex + "\n");
  EXPECT_EQ(*k, std::string(32, '\xab'));
}

TEST_F(KeyFileTest, OpenModesAndBadContentAreRefusedNamingThePath) {
  ASSERT_TRUE(LoadOrCreateKeyFile(env_, dir_, "k.key", "test key", RandomKey(env_)).ok());
  const std::string path = dir_ + "/k.key";
  ASSERT_EQ(::chmod(path.c_str(), 0640), 0);
  absl::Status open = LoadOrCreateKeyFile(env_, dir_, "k.key", "test key", RandomKey(env_)).status();
  EXPECT_EQ(open.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_NE(std::string(open.message()).find("chmod 600 " + path), std::string::npos) << open;
  ASSERT_EQ(::chmod(path.c_str(), 0600), 0);
  ASSERT_EQ(::chmod(dir_.c_str(), 0750), 0);
  EXPECT_EQ(LoadOrCreateKeyFile(env_, dir_, "k.key", "test key", RandomKey(env_)).status().code(),
            absl::StatusCode::kPermissionDenied);
  ASSERT_EQ(::chmod(dir_.c_str(), 0700), 0);
  ASSERT_TRUE(env_->WriteFileAtomically(path, "secretsecretsecret-not-hex\n", 0600).ok());
  absl::Status bad = LoadOrCreateKeyFile(env_, dir_, "k.key", "test key", RandomKey(env_)).status();
  EXPECT_EQ(bad.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(std::string(bad.message()).find(path), std::string::npos);
  EXPECT_EQ(std::string(bad.message()).find("secretsecret"), std::string::npos);
}

}  // namespace
}  // namespace edgevault::base
