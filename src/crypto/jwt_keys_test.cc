#include "src/crypto/jwt_keys.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>

#include "gtest/gtest.h"
#include "src/base/encoding.h"

namespace edgevault::crypto {
namespace {

const absl::Duration kRetire = absl::Minutes(6);

std::vector<std::string> Kids(const SigningKeySet& set) {
  std::vector<std::string> out;
  for (const auto& [kid, key] : set.published) out.push_back(kid);
  return out;
}

class JwtKeysTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/ev-jwtkeys-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    ASSERT_EQ(::chmod(dir_.c_str(), 0700), 0);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string Add() {
    absl::StatusOr<std::string> kid = AddSigningKey(&env_, dir_);
    EXPECT_TRUE(kid.ok()) << kid.status();
    return kid.value_or("");
  }
  absl::StatusOr<SigningKeySet> Load() { return LoadSigningKeys(&env_, dir_, env_.Now(), kRetire); }
  size_t FileCount() {
    return static_cast<size_t>(std::distance(std::filesystem::directory_iterator(dir_),
                                             std::filesystem::directory_iterator()));
  }

  base::SimulatedEnv env_;
  std::string dir_;
};

TEST_F(JwtKeysTest, AddWritesPrivateFileNamedByCreationAndKid) {
  std::string kid = Add();
  std::string path = dir_ + "/" + std::to_string(absl::ToUnixSeconds(env_.Now())) + "-" + kid +
                     ".pem";
  ASSERT_TRUE(env_.Exists(path)) << path;
  EXPECT_EQ(*env_.FileMode(path), 0600u);
  absl::StatusOr<Ed25519PrivateKey> key = Ed25519PrivateKey::FromPem(*env_.ReadFile(path));
  ASSERT_TRUE(key.ok()) << key.status();
  EXPECT_EQ(key->Kid(), kid);
  EXPECT_EQ(kid.size(), 43u);
}

TEST_F(JwtKeysTest, EmptyOrMissingDirectoryIsNotFoundWithAdvice) {
  absl::StatusOr<SigningKeySet> set = Load();
  ASSERT_EQ(set.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(std::string(set.status().message()).find("edgevault keys rotate-signing"),
            std::string::npos);
  EXPECT_EQ(LoadSigningKeys(&env_, dir_ + "/nope", env_.Now(), kRetire).status().code(),
            absl::StatusCode::kNotFound);
}

TEST_F(JwtKeysTest, RotationKeepsOldKeyPublishedUntilRetireAfter) {
  std::string first = Add();
  env_.AdvanceBy(absl::Hours(24));
  std::string second = Add();
  ASSERT_NE(first, second);

  absl::StatusOr<SigningKeySet> set = Load();
  ASSERT_TRUE(set.ok()) << set.status();
  EXPECT_EQ(set->active.kid, second);
  EXPECT_EQ(set->active.key.Kid(), second);
  EXPECT_EQ(Kids(*set), (std::vector<std::string>{second, first}));

  env_.AdvanceBy(kRetire - absl::Seconds(1));
  set = Load();
  ASSERT_TRUE(set.ok());
  EXPECT_EQ(Kids(*set), (std::vector<std::string>{second, first}));

  env_.AdvanceBy(absl::Seconds(1));
  set = Load();
  ASSERT_TRUE(set.ok());
  EXPECT_EQ(set->active.kid, second);
  EXPECT_EQ(Kids(*set), (std::vector<std::string>{second}));
}

TEST_F(JwtKeysTest, ActiveIsAlwaysNewestAndChainRetiresInOrder) {
  std::string a = Add();
  env_.AdvanceBy(absl::Hours(1));
  std::string b = Add();
  env_.AdvanceBy(absl::Minutes(2));
  std::string c = Add();
  // a's successor b is 2 min old: a still published; b's successor c is brand new.
  absl::StatusOr<SigningKeySet> set = Load();
  ASSERT_TRUE(set.ok()) << set.status();
  EXPECT_EQ(set->active.kid, c);
  EXPECT_EQ(Kids(*set), (std::vector<std::string>{c, b, a}));
  env_.AdvanceBy(absl::Minutes(4));  // b created 6 min ago: a retires
  set = Load();
  ASSERT_TRUE(set.ok());
  EXPECT_EQ(Kids(*set), (std::vector<std::string>{c, b}));
  env_.AdvanceBy(absl::Minutes(2));  // c created 6 min ago: b retires
  set = Load();
  ASSERT_TRUE(set.ok());
  EXPECT_EQ(set->active.kid, c);
  EXPECT_EQ(Kids(*set), (std::vector<std::string>{c}));
}

TEST_F(JwtKeysTest, SameSecondRotationStillMakesNewKeyActive) {
  std::string a = Add();
  std::string b = Add();
  std::string c = Add();
  absl::StatusOr<SigningKeySet> set = Load();
  ASSERT_TRUE(set.ok()) << set.status();
  EXPECT_EQ(set->active.kid, c);
  EXPECT_EQ(Kids(*set), (std::vector<std::string>{c, b, a}));
  // A clock stepped back does not demote the new key either.
  env_.AdvanceBy(-absl::Hours(1));
  std::string d = Add();
  set = Load();
  ASSERT_TRUE(set.ok());
  EXPECT_EQ(set->active.kid, d);
}

TEST_F(JwtKeysTest, PruneDeletesOnlyRetiredKeys) {
  std::string a = Add();
  env_.AdvanceBy(absl::Hours(1));
  std::string b = Add();
  env_.AdvanceBy(absl::Minutes(7));
  std::string c = Add();
  ASSERT_EQ(FileCount(), 3u);

  // a retired (b is 7 min old); b still published (c is new).
  absl::StatusOr<int> pruned = PruneRetiredSigningKeys(&env_, dir_, env_.Now(), kRetire);
  ASSERT_TRUE(pruned.ok()) << pruned.status();
  EXPECT_EQ(*pruned, 1);
  EXPECT_EQ(FileCount(), 2u);
  absl::StatusOr<SigningKeySet> set = Load();
  ASSERT_TRUE(set.ok());
  EXPECT_EQ(Kids(*set), (std::vector<std::string>{c, b}));

  pruned = PruneRetiredSigningKeys(&env_, dir_, env_.Now(), kRetire);
  ASSERT_TRUE(pruned.ok());
  EXPECT_EQ(*pruned, 0);

  env_.AdvanceBy(absl::Hours(1));
  pruned = PruneRetiredSigningKeys(&env_, dir_, env_.Now(), kRetire);
  ASSERT_TRUE(pruned.ok());
  EXPECT_EQ(*pruned, 1);
  set = Load();
  ASSERT_TRUE(set.ok());
  EXPECT_EQ(set->active.kid, c);
  EXPECT_EQ(FileCount(), 1u);
}

TEST_F(JwtKeysTest, OpenKeyFileIsRefusedNamingFileAndFix) {
  std::string kid = Add();
  std::string path = dir_ + "/" + std::to_string(absl::ToUnixSeconds(env_.Now())) + "-" + kid +
                     ".pem";
  ASSERT_EQ(::chmod(path.c_str(), 0640), 0);
  absl::StatusOr<SigningKeySet> set = Load();
  ASSERT_EQ(set.status().code(), absl::StatusCode::kPermissionDenied) << set.status();
  EXPECT_NE(std::string(set.status().message()).find(path), std::string::npos);
  EXPECT_NE(std::string(set.status().message()).find("chmod 600 " + path), std::string::npos);
  // Prune refuses too rather than working around a broken set.
  EXPECT_EQ(PruneRetiredSigningKeys(&env_, dir_, env_.Now(), kRetire).status().code(),
            absl::StatusCode::kPermissionDenied);
}

TEST_F(JwtKeysTest, WritableDirectoryIsRefused) {
  Add();
  ASSERT_EQ(::chmod(dir_.c_str(), 0770), 0);
  EXPECT_EQ(Load().status().code(), absl::StatusCode::kPermissionDenied);
}

TEST_F(JwtKeysTest, IgnoresOtherNamesAndRejectsMisnamedKey) {
  std::string kid = Add();
  ASSERT_TRUE(env_.WriteFileAtomically(dir_ + "/README", "hello", 0644).ok());
  ASSERT_TRUE(env_.WriteFileAtomically(dir_ + "/1-x.pem.tmp.1.0", "junk", 0644).ok());
  ASSERT_TRUE(env_.WriteFileAtomically(dir_ + "/abc-x.pem", "junk", 0644).ok());
  absl::StatusOr<SigningKeySet> set = Load();
  ASSERT_TRUE(set.ok()) << set.status();
  EXPECT_EQ(set->active.kid, kid);

  // A newer file whose name does not match its key's thumbprint.
  std::string pem = *set->active.key.ToPem();
  std::string bad = dir_ + "/" + std::to_string(absl::ToUnixSeconds(env_.Now()) + 10) +
                    "-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA.pem";
  ASSERT_TRUE(env_.WriteFileAtomically(bad, pem, 0600).ok());
  EXPECT_EQ(Load().status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(JwtKeysTest, NewKeyIsPublishedAtOnceButSignsOnlyAfterSettling) {
  const SigningKeyPolicy policy{kRetire, absl::Seconds(10)};
  std::string a = Add();
  // A first key has nothing to wait for.
  absl::StatusOr<SigningKeySet> set = LoadSigningKeys(&env_, dir_, env_.Now(), policy);
  ASSERT_TRUE(set.ok()) << set.status();
  EXPECT_EQ(set->active.kid, a);
  env_.AdvanceBy(absl::Hours(1));
  std::string b = Add();
  set = LoadSigningKeys(&env_, dir_, env_.Now() + absl::Seconds(9), policy);
  ASSERT_TRUE(set.ok());
  EXPECT_EQ(set->active.kid, a);
  EXPECT_EQ(Kids(*set), (std::vector<std::string>{b, a}));
  set = LoadSigningKeys(&env_, dir_, env_.Now() + absl::Seconds(10), policy);
  ASSERT_TRUE(set.ok());
  EXPECT_EQ(set->active.kid, b);
  // a stays published for retire_after from when b started signing, not from b's creation.
  set = LoadSigningKeys(&env_, dir_, env_.Now() + absl::Seconds(10) + kRetire - absl::Seconds(1), policy);
  ASSERT_TRUE(set.ok());
  EXPECT_EQ(Kids(*set), (std::vector<std::string>{b, a}));
  set = LoadSigningKeys(&env_, dir_, env_.Now() + absl::Seconds(10) + kRetire, policy);
  ASSERT_TRUE(set.ok());
  EXPECT_EQ(Kids(*set), (std::vector<std::string>{b}));
  // Prune keeps a settling key and the key still signing.
  env_.AdvanceBy(absl::Hours(1));
  std::string c = Add();
  absl::StatusOr<int> pruned = PruneRetiredSigningKeys(&env_, dir_, env_.Now() + absl::Seconds(5), policy);
  ASSERT_TRUE(pruned.ok()) << pruned.status();
  EXPECT_EQ(*pruned, 1);  // a
  set = LoadSigningKeys(&env_, dir_, env_.Now() + absl::Seconds(5), policy);
  ASSERT_TRUE(set.ok());
  EXPECT_EQ(set->active.kid, b);
  EXPECT_EQ(Kids(*set), (std::vector<std::string>{c, b}));
}

TEST_F(JwtKeysTest, KeyRotatedInBeforeTheFirstSettledWaitsForIt) {
  // A fresh data directory rotated at once: neither key has settled, and the one
  // published longest keeps signing.
  const SigningKeyPolicy policy{kRetire, absl::Seconds(10)};
  std::string a = Add();
  env_.AdvanceBy(absl::Seconds(2));
  std::string b = Add();
  absl::StatusOr<SigningKeySet> set = LoadSigningKeys(&env_, dir_, env_.Now() + absl::Seconds(1), policy);
  ASSERT_TRUE(set.ok()) << set.status();
  EXPECT_EQ(set->active.kid, a);
  EXPECT_EQ(Kids(*set), (std::vector<std::string>{b, a}));
  set = LoadSigningKeys(&env_, dir_, env_.Now() + absl::Seconds(10), policy);
  ASSERT_TRUE(set.ok());
  EXPECT_EQ(set->active.kid, b);
}

TEST_F(JwtKeysTest, RevokedKeyIsNeverPublishedNorActive) {
  const SigningKeyPolicy policy{kRetire, absl::Seconds(10)};
  std::string a = Add();
  env_.AdvanceBy(absl::Hours(1));
  std::string b = Add();
  env_.AdvanceBy(absl::Minutes(1));
  absl::StatusOr<SigningKeySet> set = LoadSigningKeys(&env_, dir_, env_.Now(), policy);
  ASSERT_TRUE(set.ok());
  ASSERT_EQ(set->active.kid, b);

  absl::StatusOr<bool> revoked = RevokeSigningKey(&env_, dir_, b, env_.Now());
  ASSERT_TRUE(revoked.ok()) << revoked.status();
  EXPECT_TRUE(*revoked);
  EXPECT_EQ(*env_.FileMode(dir_ + "/revoked"), 0600u);
  EXPECT_EQ(FileCount(), 2u);  // a's key file and the list: b's key file is gone
  set = LoadSigningKeys(&env_, dir_, env_.Now(), policy);
  ASSERT_TRUE(set.ok()) << set.status();
  EXPECT_EQ(set->active.kid, a);
  EXPECT_EQ(Kids(*set), (std::vector<std::string>{a}));
  EXPECT_EQ(set->revoked, (std::vector<std::string>{b}));
  // Again: nothing changes. Unknown and malformed kids are errors.
  revoked = RevokeSigningKey(&env_, dir_, b, env_.Now());
  ASSERT_TRUE(revoked.ok());
  EXPECT_FALSE(*revoked);
  absl::Status unknown = RevokeSigningKey(&env_, dir_, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", env_.Now()).status();
  EXPECT_EQ(unknown.code(), absl::StatusCode::kNotFound);
  EXPECT_NE(std::string(unknown.message()).find(a), std::string::npos) << unknown;
  EXPECT_EQ(RevokeSigningKey(&env_, dir_, "no/such", env_.Now()).status().code(),
            absl::StatusCode::kInvalidArgument);

  // Every key revoked: nothing may sign.
  std::string pem = *set->active.key.ToPem();  // a's key, to restore below
  ASSERT_TRUE(RevokeSigningKey(&env_, dir_, a, env_.Now()).ok());
  EXPECT_EQ(LoadSigningKeys(&env_, dir_, env_.Now(), policy).status().code(), absl::StatusCode::kNotFound);
  // A revoked key restored from a backup stays out, and prune deletes it again.
  std::string restored = dir_ + "/" + std::to_string(absl::ToUnixSeconds(env_.Now()) - 3600) + "-" + a + ".pem";
  ASSERT_TRUE(env_.WriteFileAtomically(restored, pem, 0600).ok());
  std::string c = Add();
  set = LoadSigningKeys(&env_, dir_, env_.Now(), policy);
  ASSERT_TRUE(set.ok()) << set.status();
  EXPECT_EQ(set->active.kid, c);  // unsettled, but the only key that is not revoked
  EXPECT_EQ(Kids(*set), (std::vector<std::string>{c}));
  absl::StatusOr<int> pruned = PruneRetiredSigningKeys(&env_, dir_, env_.Now(), policy);
  ASSERT_TRUE(pruned.ok()) << pruned.status();
  EXPECT_EQ(*pruned, 1);
  EXPECT_FALSE(env_.Exists(restored));
}

TEST_F(JwtKeysTest, BrokenRevocationListIsRefused) {
  Add();
  ASSERT_TRUE(env_.WriteFileAtomically(dir_ + "/revoked", "# ok\nkid-1 1800000000\nkid-2 yesterday\n", 0600).ok());
  absl::Status st = Load().status();
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument) << st;
  EXPECT_NE(std::string(st.message()).find("line 3"), std::string::npos) << st;
  ASSERT_TRUE(env_.WriteFileAtomically(dir_ + "/revoked", "kid-1 1800000000\n", 0644).ok());
  EXPECT_EQ(Load().status().code(), absl::StatusCode::kPermissionDenied);
}

TEST_F(JwtKeysTest, SignedTokenVerifiesAgainstPublishedJwks) {
  Add();
  env_.AdvanceBy(absl::Hours(1));
  Add();
  absl::StatusOr<SigningKeySet> set = Load();
  ASSERT_TRUE(set.ok());
  JwtClaims c;
  c.iss = "iss";
  c.sub = "sub";
  c.aud = "aud";
  c.iat = env_.Now();
  c.exp = env_.Now() + absl::Minutes(5);
  std::string token = SignJwt(set->active.key, set->active.kid, c);
  absl::StatusOr<JwtVerifier> v = JwtVerifier::FromJwks(JwksJson(set->published));
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(v->size(), 2u);
  EXPECT_TRUE(v->Verify(token, env_.Now(), "iss", "aud").ok());
}

}  // namespace
}  // namespace edgevault::crypto
