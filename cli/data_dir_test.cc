#include "cli/data_dir.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <set>
#include <vector>

#include "gtest/gtest.h"
#include "src/base/config.h"
#include "src/net/signing.h"

namespace edgevault::cli {
namespace {

class DataDirTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/ev-datadir-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    tmp_ = tmpl;
    layout_ = DataDirLayout::For(tmp_ + "/data");
  }
  void TearDown() override { std::filesystem::remove_all(tmp_); }
  std::string Trust() const { return layout_.root + "/trust"; }
  std::string tmp_;
  DataDirLayout layout_;
  base::Env* env_ = base::Env::Default();
};

TEST_F(DataDirTest, FirstRunCreatesConfigAndPrivateKeys) {
  absl::StatusOr<bool> created = InitDataDir(env_, layout_, 9000);
  ASSERT_TRUE(created.ok()) << created.status();
  EXPECT_TRUE(*created);
  EXPECT_EQ(*env_->FileMode(layout_.root), 0700u);
  EXPECT_EQ(*env_->FileMode(layout_.keys_dir), 0700u);
  for (const char* name : kInitialKeyFiles) {
    EXPECT_EQ(*env_->FileMode(layout_.keys_dir + "/" + name), 0600u) << name;
  }
  EXPECT_TRUE(CheckKeyFiles(env_, layout_.keys_dir, Trust()).ok());

  base::ConfigSources src;
  src.file = layout_.config_file;
  absl::StatusOr<base::Config> cfg = base::LoadConfig(src);
  ASSERT_TRUE(cfg.ok()) << cfg.status();
  EXPECT_EQ(cfg->console.port, 9000);
  EXPECT_EQ(cfg->audit.port, 9004);
  EXPECT_EQ(cfg->data_dir, layout_.root);
  EXPECT_EQ(cfg->keys_dir, layout_.keys_dir);
}

TEST_F(DataDirTest, SecondRunKeepsKeys) {
  ASSERT_TRUE(InitDataDir(env_, layout_, 9000).ok());
  std::string key = *env_->ReadFile(layout_.keys_dir + "/master.key");
  absl::StatusOr<bool> again = InitDataDir(env_, layout_, 9100);
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE(*again);
  EXPECT_EQ(*env_->ReadFile(layout_.keys_dir + "/master.key"), key);
}

TEST_F(DataDirTest, OpenKeyFileIsRefusedNamingIt) {
  ASSERT_TRUE(InitDataDir(env_, layout_, 9000).ok());
  std::string path = layout_.keys_dir + "/services/delivery.pem";
  ASSERT_EQ(::chmod(path.c_str(), 0644), 0);
  absl::Status st = CheckKeyFiles(env_, layout_.keys_dir, Trust());
  EXPECT_EQ(st.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_NE(std::string(st.message()).find(path), std::string::npos) << st;
  EXPECT_NE(std::string(st.message()).find("chmod 600"), std::string::npos);
}

TEST_F(DataDirTest, MissingKeyFileIsNamed) {
  ASSERT_TRUE(InitDataDir(env_, layout_, 9000).ok());
  std::string path = layout_.keys_dir + "/services/api.pem";
  ASSERT_EQ(::unlink(path.c_str()), 0);
  absl::Status st = CheckKeyFiles(env_, layout_.keys_dir, Trust());
  EXPECT_EQ(st.code(), absl::StatusCode::kNotFound);
  EXPECT_NE(std::string(st.message()).find(path), std::string::npos);
}

// Issue 12 item 3: one credential per service, the public halves in the trust directory,
// and no shared internal.key any more.
TEST_F(DataDirTest, FirstRunGivesEachServiceItsOwnCredential) {
  ASSERT_TRUE(InitDataDir(env_, layout_, 9000).ok());
  EXPECT_FALSE(env_->Exists(layout_.keys_dir + "/internal.key"));
  EXPECT_EQ(*env_->FileMode(layout_.keys_dir + "/services"), 0700u);
  std::set<std::string> publics;
  for (std::string_view name : base::kServiceNames) {
    const std::string pem = layout_.keys_dir + "/services/" + std::string(name) + ".pem";
    EXPECT_EQ(*env_->FileMode(pem), 0600u) << name;
    auto credential = net::ServiceCredential::Load(env_, pem, name);
    ASSERT_TRUE(credential.ok()) << credential.status();
    const std::string pub = Trust() + "/" + std::string(name) + ".pub";
    EXPECT_EQ(*env_->FileMode(pub), 0644u) << name;
    EXPECT_EQ(*env_->ReadFile(pub), *credential->PublicKeyPem()) << name;
    publics.insert(*env_->ReadFile(pub));
  }
  EXPECT_EQ(publics.size(), std::size(base::kServiceNames));  // no two services share a key

  // A lost credential is replaced and its new public key published; the others stay.
  const std::string api_pem = layout_.keys_dir + "/services/api.pem";
  const std::string auth_before = *env_->ReadFile(layout_.keys_dir + "/services/auth.pem");
  const std::string api_pub_before = *env_->ReadFile(Trust() + "/api.pub");
  ASSERT_EQ(::unlink(api_pem.c_str()), 0);
  auto created = EnsureServiceCredentials(env_, layout_.keys_dir, Trust());
  ASSERT_TRUE(created.ok()) << created.status();
  EXPECT_EQ(*created, std::vector<std::string>{"api"});
  EXPECT_NE(*env_->ReadFile(Trust() + "/api.pub"), api_pub_before);
  EXPECT_EQ(*env_->ReadFile(layout_.keys_dir + "/services/auth.pem"), auth_before);
  EXPECT_TRUE(CheckKeyFiles(env_, layout_.keys_dir, Trust()).ok());

  // A trust directory others may write to would let them add a caller.
  ASSERT_EQ(::chmod((Trust() + "/api.pub").c_str(), 0666), 0);
  absl::Status st = CheckKeyFiles(env_, layout_.keys_dir, Trust());
  EXPECT_EQ(st.code(), absl::StatusCode::kPermissionDenied) << st;
  EXPECT_NE(std::string(st.message()).find("chmod 644"), std::string::npos) << st;
}

// An install from before per-service credentials: internal.key is retired, and the audit
// correlation key it seeded is kept (the same HKDF the old auth computed), so correlation
// values do not change across the upgrade.
TEST_F(DataDirTest, LegacyInternalKeyIsMigratedKeepingCorrelationValues) {
  ASSERT_TRUE(InitDataDir(env_, layout_, 9000).ok());
  const std::string legacy = layout_.keys_dir + "/internal.key";
  ASSERT_TRUE(env_->WriteFileAtomically(legacy, std::string(64, 'a') + "\n", 0600).ok());
  absl::StatusOr<bool> migrated = MigrateLegacyInternalKey(env_, layout_.keys_dir);
  ASSERT_TRUE(migrated.ok()) << migrated.status();
  EXPECT_TRUE(*migrated);
  EXPECT_FALSE(env_->Exists(legacy));
  const std::string path = layout_.keys_dir + "/auth/audit-correlation.key";
  EXPECT_EQ(*env_->FileMode(path), 0600u);
  EXPECT_EQ(*env_->FileMode(layout_.keys_dir + "/auth"), 0700u);
  // HKDF-SHA256(ikm = 0xaa * 32, salt = "", info = "edgevault/audit-correlation/v1"),
  // computed apart with Python's hmac module.
  EXPECT_EQ(*env_->ReadFile(path),
            "bf58cbdc05b594c21ecc72fa96156f0456745aa477612c14d6aecf833bb1577d\n");
  EXPECT_FALSE(*MigrateLegacyInternalKey(env_, layout_.keys_dir));  // nothing left to do
}

TEST_F(DataDirTest, FirstRunCreatesOneJwtSigningKey) {
  ASSERT_TRUE(InitDataDir(env_, layout_, 9000).ok());
  std::string dir = layout_.keys_dir + "/" + kJwtSigningDir;
  EXPECT_FALSE(env_->Exists(layout_.keys_dir + "/jwt-signing.pem"));
  EXPECT_EQ(*env_->FileMode(dir), 0700u);
  auto names = env_->ListDir(dir);
  ASSERT_TRUE(names.ok()) << names.status();
  ASSERT_EQ(names->size(), 1u);
  EXPECT_EQ(*env_->FileMode(dir + "/" + names->front()), 0600u);
  EXPECT_TRUE(names->front().ends_with(".pem"));

  // A second run keeps the key rather than adding one.
  ASSERT_TRUE(InitDataDir(env_, layout_, 9000).ok());
  EXPECT_EQ(env_->ListDir(dir)->size(), 1u);
}

TEST_F(DataDirTest, JwtSigningDirectoryIsChecked) {
  ASSERT_TRUE(InitDataDir(env_, layout_, 9000).ok());
  std::string dir = layout_.keys_dir + "/" + kJwtSigningDir;
  ASSERT_EQ(::chmod(dir.c_str(), 0750), 0);
  absl::Status st = CheckKeyFiles(env_, layout_.keys_dir, Trust());
  EXPECT_EQ(st.code(), absl::StatusCode::kPermissionDenied) << st;
  EXPECT_NE(std::string(st.message()).find("chmod 700 " + dir), std::string::npos) << st;
  ASSERT_EQ(::chmod(dir.c_str(), 0700), 0);

  std::string key = dir + "/" + env_->ListDir(dir)->front();
  ASSERT_EQ(::chmod(key.c_str(), 0644), 0);
  st = CheckKeyFiles(env_, layout_.keys_dir, Trust());
  EXPECT_EQ(st.code(), absl::StatusCode::kPermissionDenied) << st;
  EXPECT_NE(std::string(st.message()).find(key), std::string::npos) << st;

  ASSERT_EQ(::unlink(key.c_str()), 0);
  st = CheckKeyFiles(env_, layout_.keys_dir, Trust());
  EXPECT_EQ(st.code(), absl::StatusCode::kNotFound) << st;
  EXPECT_NE(std::string(st.message()).find("rotate-signing"), std::string::npos) << st;

  ASSERT_EQ(::rmdir(dir.c_str()), 0);
  EXPECT_EQ(CheckKeyFiles(env_, layout_.keys_dir, Trust()).code(), absl::StatusCode::kNotFound);
}

TEST_F(DataDirTest, LockIsExclusiveAndReleasedOnDestruction) {
  ASSERT_TRUE(env_->CreateDirs(layout_.root, 0700).ok());
  auto first = DataDirLock::Acquire(layout_);
  ASSERT_TRUE(first.ok()) << first.status();
  // flock locks belong to the open file description: a second open in this
  // process conflicts just as another process would.
  auto second = DataDirLock::Acquire(layout_);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(std::string(second.status().message()).find(std::to_string(::getpid())),
            std::string::npos);
  first->reset();
  EXPECT_TRUE(DataDirLock::Acquire(layout_).ok());
}

}  // namespace
}  // namespace edgevault::cli
