#include "src/crypto/keyring.h"

#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>

#include "gtest/gtest.h"
#include "src/base/strings.h"
#include "src/crypto/envelope.h"
#include "src/crypto/keygen.h"

namespace edgevault::crypto {
namespace {

constexpr char kHexA[] = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
constexpr char kHexB[] = "f0f1f2f3f4f5f6f7f8f9fafbfcfdfeffe0e1e2e3e4e5e6e7e8e9eaebecedeeef";

bool Contains(const absl::Status& s, std::string_view needle) {
  return base::ToStd(s.message()).find(needle) != std::string_view::npos;
}

class KeyringTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/ev-keyring-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    ASSERT_EQ(::chmod(dir_.c_str(), 0700), 0);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string Write(const std::string& name, std::string_view text, uint32_t mode = 0600) {
    std::string path = dir_ + "/" + name;
    EXPECT_TRUE(env_.WriteFileAtomically(path, text, mode).ok());
    return path;
  }
  absl::StatusOr<Keyring> LoadDir() {
    return LoadKeyring(&env_, KeyringSource::Directory(dir_));
  }

  base::SimulatedEnv env_;
  std::string dir_;
};

TEST_F(KeyringTest, MasterKeyFromUpLoadsAsM1) {
  // The file `edgevault up` writes (keygen.cc) is what LoadKeyring reads.
  Write("master.key", GenerateSymmetricKeyFile(&env_));
  Write("internal.key", GenerateSymmetricKeyFile(&env_));  // ignored: not a master key
  absl::StatusOr<Keyring> ring = LoadDir();
  ASSERT_TRUE(ring.ok()) << ring.status();
  EXPECT_EQ(ring->ids(), std::vector<std::string>{"m1"});
  EXPECT_EQ(ring->active_id(), "m1");
  ASSERT_NE(ring->Find("m1"), nullptr);
  EXPECT_EQ(ring->Find("m1")->size(), 32u);
}

TEST_F(KeyringTest, KeyBytesAreTheHexDecoded) {
  Write("master.key", std::string(kHexA) + "\n");
  absl::StatusOr<Keyring> ring = LoadDir();
  ASSERT_TRUE(ring.ok()) << ring.status();
  std::string want;
  for (int i = 0; i < 32; ++i) want.push_back(static_cast<char>(i));
  EXPECT_EQ(ring->Find("m1")->view(), want);
}

TEST_F(KeyringTest, SeveralKeysWithActiveFile) {
  Write("master.key", kHexA);
  Write("master-m2.key", kHexB);
  Write("master.active", "m2\n");
  absl::StatusOr<Keyring> ring = LoadDir();
  ASSERT_TRUE(ring.ok()) << ring.status();
  EXPECT_EQ(ring->ids(), (std::vector<std::string>{"m1", "m2"}));
  EXPECT_EQ(ring->active_id(), "m2");
}

TEST_F(KeyringTest, SeveralKeysWithoutActiveFileIsFailedPrecondition) {
  Write("master.key", kHexA);
  Write("master-m2.key", kHexB);
  absl::StatusOr<Keyring> ring = LoadDir();
  EXPECT_EQ(ring.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(Contains(ring.status(), "master.active")) << ring.status();
  EXPECT_TRUE(Contains(ring.status(), "m1, m2")) << ring.status();
}

TEST_F(KeyringTest, ActiveFileNamingMissingKeyIsFailedPrecondition) {
  Write("master.key", kHexA);
  Write("master.active", "m7\n");
  absl::StatusOr<Keyring> ring = LoadDir();
  EXPECT_EQ(ring.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(Contains(ring.status(), "master-m7.key")) << ring.status();
}

TEST_F(KeyringTest, BadActiveFileIsInvalidArgument) {
  Write("master.key", kHexA);
  Write("master.active", "M 1\n");
  EXPECT_EQ(LoadDir().status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(KeyringTest, SameIdTwiceIsInvalidArgument) {
  Write("master.key", kHexA);
  Write("master-m1.key", kHexB);
  absl::StatusOr<Keyring> ring = LoadDir();
  EXPECT_EQ(ring.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(Contains(ring.status(), "defined twice")) << ring.status();
}

TEST_F(KeyringTest, BadIdInFileNameIsInvalidArgument) {
  Write("master-TooLongId9.key", kHexA);
  absl::StatusOr<Keyring> ring = LoadDir();
  EXPECT_EQ(ring.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(Contains(ring.status(), "master-TooLongId9.key")) << ring.status();
}

TEST_F(KeyringTest, EmptyDirectoryIsNotFound) {
  absl::StatusOr<Keyring> ring = LoadDir();
  EXPECT_EQ(ring.status().code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(Contains(ring.status(), "edgevault up")) << ring.status();
}

TEST_F(KeyringTest, MissingDirectoryIsNotFound) {
  absl::StatusOr<Keyring> ring =
      LoadKeyring(&env_, KeyringSource::Directory(dir_ + "/does-not-exist"));
  EXPECT_EQ(ring.status().code(), absl::StatusCode::kNotFound);
}

TEST_F(KeyringTest, GroupReadableKeyFileIsRefusedWithChmodAdvice) {
  std::string path = Write("master.key", kHexA, 0640);
  absl::StatusOr<Keyring> ring = LoadDir();
  EXPECT_EQ(ring.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_TRUE(Contains(ring.status(), "chmod 600 " + path)) << ring.status();
  EXPECT_TRUE(Contains(ring.status(), "0640")) << ring.status();
}

TEST_F(KeyringTest, OpenDirectoryIsRefused) {
  Write("master.key", kHexA);
  ASSERT_EQ(::chmod(dir_.c_str(), 0755), 0);
  absl::StatusOr<Keyring> ring = LoadDir();
  EXPECT_EQ(ring.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_TRUE(Contains(ring.status(), "chmod 700")) << ring.status();
}

TEST_F(KeyringTest, MalformedKeyIsInvalidArgumentNamingFileNotBytes) {
  // One character short, and upper-case 'G' is not hex: both rejected, never echoed.
  std::string nearly = std::string(kHexB).substr(0, 63);
  std::string path = Write("master.key", nearly + "\n");
  absl::StatusOr<Keyring> ring = LoadDir();
  EXPECT_EQ(ring.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(Contains(ring.status(), path)) << ring.status();
  EXPECT_FALSE(Contains(ring.status(), nearly.substr(0, 16))) << ring.status();

  Write("master.key", std::string(63, 'a') + "G");
  EXPECT_EQ(LoadDir().status().code(), absl::StatusCode::kInvalidArgument);
  Write("master.key", "");
  EXPECT_EQ(LoadDir().status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(KeyringTest, SingleFileSource) {
  std::string path = Write("elsewhere.hex", std::string(kHexB) + "\n");
  absl::StatusOr<Keyring> ring = LoadKeyring(&env_, KeyringSource::File(path, "k9"));
  ASSERT_TRUE(ring.ok()) << ring.status();
  EXPECT_EQ(ring->active_id(), "k9");

  absl::StatusOr<Keyring> missing =
      LoadKeyring(&env_, KeyringSource::File(dir_ + "/nope.key"));
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(Contains(missing.status(), dir_ + "/nope.key")) << missing.status();

  std::string open = Write("open.hex", kHexB, 0644);
  EXPECT_EQ(LoadKeyring(&env_, KeyringSource::File(open)).status().code(),
            absl::StatusCode::kPermissionDenied);
}

TEST_F(KeyringTest, EnvironmentVariableSource) {
  std::vector<std::pair<std::string, std::string>> environ_pairs = {
      {"HOME", "/root"}, {"EDGEVAULT_MASTER_KEY", kHexA}};
  absl::StatusOr<Keyring> ring = LoadKeyring(
      &env_, KeyringSource::EnvironmentVariable("EDGEVAULT_MASTER_KEY", environ_pairs));
  ASSERT_TRUE(ring.ok()) << ring.status();
  EXPECT_EQ(ring->active_id(), "m1");

  absl::StatusOr<Keyring> unset =
      LoadKeyring(&env_, KeyringSource::EnvironmentVariable("EV_NOT_SET", environ_pairs));
  EXPECT_EQ(unset.status().code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(Contains(unset.status(), "EV_NOT_SET")) << unset.status();

  environ_pairs[1].second = "not-a-key";
  absl::StatusOr<Keyring> bad = LoadKeyring(
      &env_, KeyringSource::EnvironmentVariable("EDGEVAULT_MASTER_KEY", environ_pairs));
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(Contains(bad.status(), "EDGEVAULT_MASTER_KEY")) << bad.status();
  EXPECT_FALSE(Contains(bad.status(), "not-a-key")) << bad.status();
}

TEST_F(KeyringTest, SameKeyFromAnySourceOpensTheSameEnvelope) {
  std::string path = Write("master.key", kHexA);
  absl::StatusOr<Keyring> from_dir = LoadDir();
  absl::StatusOr<Keyring> from_file = LoadKeyring(&env_, KeyringSource::File(path));
  absl::StatusOr<Keyring> from_var =
      LoadKeyring(&env_, KeyringSource::EnvironmentVariable("K", {{"K", kHexA}}));
  ASSERT_TRUE(from_dir.ok() && from_file.ok() && from_var.ok());
  EnvelopeContext ctx{"ws", "item", "prod", 1};
  absl::StatusOr<SealedValue> sealed = Seal(*from_dir, ctx, "v", &env_);
  ASSERT_TRUE(sealed.ok());
  EXPECT_EQ(Open(*from_file, ctx, sealed->envelope, sealed->data_key)->view(), "v");
  EXPECT_EQ(Open(*from_var, ctx, sealed->envelope, sealed->data_key)->view(), "v");
}

TEST_F(KeyringTest, HolderReloadsTheDirectoryAndKeepsTheOldRingOnError) {
  Write("master.key", kHexA);
  absl::StatusOr<std::unique_ptr<KeyringHolder>> holder =
      KeyringHolder::Load(&env_, KeyringSource::Directory(dir_));
  ASSERT_TRUE(holder.ok()) << holder.status();
  std::shared_ptr<const Keyring> before = (*holder)->Get();
  EXPECT_EQ(before->active_id(), "m1");

  // Rotation: a second key, made active.
  Write("master-m2.key", kHexB);
  Write("master.active", "m2\n");
  ASSERT_TRUE((*holder)->Reload().ok());
  std::shared_ptr<const Keyring> after = (*holder)->Get();
  EXPECT_EQ(after->active_id(), "m2");
  EXPECT_EQ(after->ids(), (std::vector<std::string>{"m1", "m2"}));
  EXPECT_EQ(before->active_id(), "m1");  // a snapshot taken earlier never changes

  // A broken directory: Reload fails and the holder keeps what it had.
  Write("master.active", "m7\n");
  EXPECT_EQ((*holder)->Reload().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ((*holder)->Get()->active_id(), "m2");

  // A fixed holder (no source) ignores Reload.
  Keyring fixed;
  ASSERT_TRUE(fixed.Add("k", SecureBuffer(std::string(32, 'k'))).ok());
  KeyringHolder fixed_holder(std::move(fixed));
  EXPECT_TRUE(fixed_holder.Reload().ok());
  EXPECT_EQ(fixed_holder.Get()->active_id(), "k");
}

TEST(KeyringApiTest, AddSetActiveRemove) {
  Keyring ring;
  EXPECT_TRUE(ring.empty());
  EXPECT_EQ(ring.active_id(), "");
  ASSERT_TRUE(ring.Add("m1", SecureBuffer(std::string(32, 'a'))).ok());
  EXPECT_EQ(ring.active_id(), "m1");  // the first key becomes active
  ASSERT_TRUE(ring.Add("m2", SecureBuffer(std::string(32, 'b'))).ok());
  EXPECT_EQ(ring.active_id(), "m1");
  EXPECT_EQ(ring.Add("m2", SecureBuffer(std::string(32, 'c'))).code(),
            absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(ring.Add("m3", SecureBuffer(std::string(31, 'c'))).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ring.Add("Bad!", SecureBuffer(std::string(32, 'c'))).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ring.Add("ninechars", SecureBuffer(std::string(32, 'c'))).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ring.SetActive("m9").code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(ring.Remove("m1").code(), absl::StatusCode::kFailedPrecondition);
  ASSERT_TRUE(ring.SetActive("m2").ok());
  ASSERT_TRUE(ring.Remove("m1").ok());
  EXPECT_FALSE(ring.Contains("m1"));
  EXPECT_EQ(ring.Remove("m1").code(), absl::StatusCode::kNotFound);
}

TEST(KeyringApiTest, ParseMasterKeyAcceptsEitherCaseAndOptionalNewline) {
  EXPECT_TRUE(ParseMasterKey(kHexA).ok());
  EXPECT_TRUE(ParseMasterKey(std::string(kHexB) + "\n").ok());
  std::string upper = kHexB;
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  ASSERT_TRUE(ParseMasterKey(upper).ok());
  EXPECT_EQ(ParseMasterKey(upper)->view(), ParseMasterKey(kHexB)->view());
  EXPECT_FALSE(ParseMasterKey(std::string(kHexA) + "\n\n").ok());
  EXPECT_FALSE(ParseMasterKey(std::string(kHexA) + "00").ok());
  EXPECT_FALSE(ParseMasterKey(" " + std::string(kHexA)).ok());
}

}  // namespace
}  // namespace edgevault::crypto
