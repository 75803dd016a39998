#include "src/crypto/password.h"

#include <gtest/gtest.h>

#include <regex>
#include <string>

#include "src/base/strings.h"

namespace edgevault::crypto {
namespace {

using base::ToStd;

TEST(PasswordTest, DefaultsAreOwaspMinimum) {
  PasswordParams params;
  EXPECT_EQ(params.memory_kib, 19456u);
  EXPECT_EQ(params.iterations, 2u);
  EXPECT_EQ(params.parallelism, 1u);
  EXPECT_FALSE(params.allow_weak);
  EXPECT_TRUE(ValidatePasswordParams(params).ok());
  EXPECT_TRUE(ValidatePasswordParams(PasswordParams::ForTests()).ok());
}

TEST(PasswordTest, ValidateRejectsWeakParamsNamingTheField) {
  PasswordParams low_memory;
  low_memory.memory_kib = 19455;
  absl::Status s = ValidatePasswordParams(low_memory);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(ToStd(s.message()).find("memory_kib"), std::string::npos) << s;

  PasswordParams one_pass;
  one_pass.iterations = 1;
  s = ValidatePasswordParams(one_pass);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(ToStd(s.message()).find("iterations"), std::string::npos) << s;

  PasswordParams lanes;
  lanes.parallelism = 4;
  s = ValidatePasswordParams(lanes);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(ToStd(s.message()).find("parallelism"), std::string::npos) << s;

  PasswordParams weak_lanes = PasswordParams::ForTests();
  weak_lanes.parallelism = 2;  // allow_weak does not lift the single-lane rule
  EXPECT_EQ(ValidatePasswordParams(weak_lanes).code(), absl::StatusCode::kInvalidArgument);

  PasswordParams zero_pass = PasswordParams::ForTests();
  zero_pass.iterations = 0;  // below libsodium's own minimum
  EXPECT_EQ(ValidatePasswordParams(zero_pass).code(), absl::StatusCode::kInvalidArgument);
}

TEST(PasswordTest, HashRejectsInvalidParams) {
  PasswordParams weak;
  weak.memory_kib = 8192;
  EXPECT_EQ(HashPassword("correct horse battery", weak).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(PasswordTest, DefaultParamsProducePhcString) {
  absl::StatusOr<std::string> phc = HashPassword("correct horse battery", PasswordParams());
  ASSERT_TRUE(phc.ok()) << phc.status();
  EXPECT_TRUE(std::regex_match(
      *phc, std::regex(R"(\$argon2id\$v=19\$m=19456,t=2,p=1\$[A-Za-z0-9+/]+\$[A-Za-z0-9+/]+)")))
      << *phc;
  EXPECT_TRUE(VerifyPassword("correct horse battery", *phc));
  EXPECT_FALSE(NeedsRehash(*phc, PasswordParams()));
}

TEST(PasswordTest, VerifyAcceptsOnlyTheRightPassword) {
  const PasswordParams params = PasswordParams::ForTests();
  absl::StatusOr<std::string> phc = HashPassword("correct horse battery", params);
  ASSERT_TRUE(phc.ok()) << phc.status();
  EXPECT_TRUE(std::regex_search(*phc, std::regex(R"(^\$argon2id\$v=19\$m=8192,t=1,p=1\$)")))
      << *phc;
  EXPECT_TRUE(VerifyPassword("correct horse battery", *phc));
  EXPECT_FALSE(VerifyPassword("correct horse batterY", *phc));
  EXPECT_FALSE(VerifyPassword("", *phc));
  EXPECT_FALSE(VerifyPassword(std::string("correct horse battery\0x", 23), *phc));
}

TEST(PasswordTest, SaltMakesEveryHashDifferent) {
  const PasswordParams params = PasswordParams::ForTests();
  absl::StatusOr<std::string> a = HashPassword("same password here", params);
  absl::StatusOr<std::string> b = HashPassword("same password here", params);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_NE(*a, *b);
  EXPECT_TRUE(VerifyPassword("same password here", *a));
  EXPECT_TRUE(VerifyPassword("same password here", *b));
}

TEST(PasswordTest, PasswordWithNulBytesIsHashedWhole) {
  const PasswordParams params = PasswordParams::ForTests();
  const std::string password("abc\0defghijklmn", 15);
  absl::StatusOr<std::string> phc = HashPassword(password, params);
  ASSERT_TRUE(phc.ok()) << phc.status();
  EXPECT_TRUE(VerifyPassword(password, *phc));
  EXPECT_FALSE(VerifyPassword("abc", *phc));
}

TEST(PasswordTest, MalformedHashesNeverVerify) {
  const PasswordParams params = PasswordParams::ForTests();
  absl::StatusOr<std::string> phc = HashPassword("correct horse battery", params);
  ASSERT_TRUE(phc.ok()) << phc.status();
  const std::string good = *phc;
  std::string argon2i = good;
  argon2i.replace(0, 10, "$argon2i$");
  std::string flipped = good;
  flipped.back() = flipped.back() == 'A' ? 'B' : 'A';
  for (const std::string& bad :
       {std::string(), std::string("$"), std::string("plaintext"), good.substr(0, good.size() - 5),
        good.substr(0, 30), argon2i, flipped, good + "$", good + std::string(200, 'A'),
        std::string("$argon2id$v=19$m=4294967295,t=1,p=1$AAAAAAAAAAAAAAAAAAAAAA$AAAA"),
        std::string("$argon2id$v=19$m=8192,t=1,p=1$$"), std::string("$2b$12$abcdefghijkl")}) {
    EXPECT_FALSE(VerifyPassword("correct horse battery", bad)) << bad;
  }
  std::string with_nul = good;
  with_nul.insert(12, 1, '\0');
  EXPECT_FALSE(VerifyPassword("correct horse battery", with_nul));
}

TEST(PasswordTest, NeedsRehashWhenStoredCostIsLower) {
  absl::StatusOr<std::string> weak = HashPassword("correct horse battery", PasswordParams::ForTests());
  ASSERT_TRUE(weak.ok()) << weak.status();
  EXPECT_TRUE(NeedsRehash(*weak, PasswordParams()));                 // m and t both lower
  EXPECT_FALSE(NeedsRehash(*weak, PasswordParams::ForTests()));      // same params

  PasswordParams more_passes = PasswordParams::ForTests();
  more_passes.iterations = 3;
  EXPECT_TRUE(NeedsRehash(*weak, more_passes));                     // only t is lower
  PasswordParams more_memory = PasswordParams::ForTests();
  more_memory.memory_kib = 8193;
  EXPECT_TRUE(NeedsRehash(*weak, more_memory));                     // only m is lower

  PasswordParams weaker = PasswordParams::ForTests();
  weaker.memory_kib = 4096;
  EXPECT_FALSE(NeedsRehash(*weak, weaker));  // a stronger stored hash is kept
}

TEST(PasswordTest, NeedsRehashParsesPhcFields) {
  const PasswordParams params;
  EXPECT_FALSE(NeedsRehash("$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaA", params));
  EXPECT_FALSE(NeedsRehash("$argon2id$v=19$m=65536,t=3,p=1$c2FsdHNhbHQ$aGFzaA", params));
  EXPECT_TRUE(NeedsRehash("$argon2id$v=19$m=19455,t=2,p=1$c2FsdHNhbHQ$aGFzaA", params));
  EXPECT_TRUE(NeedsRehash("$argon2id$v=19$m=65536,t=1,p=1$c2FsdHNhbHQ$aGFzaA", params));
  // Malformed or another algorithm: rehash (the login that proved the password fixes it).
  EXPECT_TRUE(NeedsRehash("", params));
  EXPECT_TRUE(NeedsRehash("$argon2i$v=19$m=65536,t=3,p=1$c2FsdHNhbHQ$aGFzaA", params));
  EXPECT_TRUE(NeedsRehash("$argon2id$v=16$m=65536,t=3,p=1$c2FsdHNhbHQ$aGFzaA", params));
  EXPECT_TRUE(NeedsRehash("$argon2id$v=19$m=65536,t=3$c2FsdHNhbHQ$aGFzaA", params));
  EXPECT_TRUE(NeedsRehash("$argon2id$v=19$m=x,t=3,p=1$c2FsdHNhbHQ$aGFzaA", params));
  EXPECT_TRUE(NeedsRehash("$argon2id$v=19$m=65536,t=3,p=1$c2FsdHNhbHQ", params));
}

TEST(PasswordPolicyTest, LengthCountsCodePoints) {
  EXPECT_EQ(CheckPasswordPolicy("elevenchars", "a@b.c").code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(CheckPasswordPolicy("twelve chars", "a@b.c").ok());
  // 11 code points in 22 bytes: too short although the byte count is 22.
  EXPECT_EQ(CheckPasswordPolicy("ééééééééééé", "a@b.c").code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(CheckPasswordPolicy("éééééééééééé", "a@b.c").ok());
  absl::Status s = CheckPasswordPolicy("short", "a@b.c");
  EXPECT_NE(ToStd(s.message()).find("12 characters"), std::string::npos) << s;
}

TEST(PasswordPolicyTest, AtMost1024Bytes) {
  EXPECT_TRUE(CheckPasswordPolicy(std::string(1024, 'x'), "a@b.c").ok());
  absl::Status s = CheckPasswordPolicy(std::string(1025, 'x'), "a@b.c");
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(ToStd(s.message()).find("1024"), std::string::npos) << s;
  // 600 code points, 1200 bytes: the byte limit applies.
  std::string accented;
  for (int i = 0; i < 600; ++i) accented += "é";
  EXPECT_EQ(CheckPasswordPolicy(accented, "a@b.c").code(), absl::StatusCode::kInvalidArgument);
}

TEST(PasswordPolicyTest, MustNotBeTheEmail) {
  absl::Status s = CheckPasswordPolicy("Alice.Long@Example.com", "alice.long@example.com");
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(ToStd(s.message()).find("email"), std::string::npos) << s;
  EXPECT_TRUE(CheckPasswordPolicy("alice.long@example.org", "alice.long@example.com").ok());
}

TEST(PasswordTest, DummyHashIsComputedOnceAtTheConfiguredCost) {
  const PasswordParams params = PasswordParams::ForTests();
  const std::string dummy = internal::DummyHash(params);
  EXPECT_TRUE(std::regex_search(dummy, std::regex(R"(^\$argon2id\$v=19\$m=8192,t=1,p=1\$)")))
      << dummy;
  EXPECT_EQ(internal::DummyHash(params), dummy);  // cached: same salt, same string
  EXPECT_FALSE(NeedsRehash(dummy, params));

  PasswordParams other = params;
  other.memory_kib = 9000;
  const std::string other_dummy = internal::DummyHash(other);
  EXPECT_TRUE(std::regex_search(other_dummy, std::regex(R"(^\$argon2id\$v=19\$m=9000,t=1,)")))
      << other_dummy;

  PasswordParams invalid;
  invalid.parallelism = 3;
  EXPECT_EQ(internal::DummyHash(invalid), "");
  DummyVerify(params);   // must not crash; the cached hash is reused
  DummyVerify(invalid);  // no hash to burn time on; returns
}

}  // namespace
}  // namespace edgevault::crypto
