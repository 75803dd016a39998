#include "src/crypto/totp.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <regex>
#include <set>
#include <string>

#include "src/base/encoding.h"

namespace edgevault::crypto {
namespace {

// The RFC 4226 / RFC 6238 SHA-1 test secret.
const std::string kRfcSecret = "12345678901234567890";

TEST(TotpTest, Rfc4226AppendixDHotpValues) {
  const char* expected[] = {"755224", "287082", "359152", "969429", "338314",
                            "254676", "287922", "162583", "399871", "520489"};
  for (uint64_t counter = 0; counter < 10; ++counter) {
    EXPECT_EQ(internal::HotpCode(kRfcSecret, counter, 6), expected[counter]) << counter;
    EXPECT_EQ(TotpCode(kRfcSecret, static_cast<int64_t>(counter)), expected[counter]);
  }
}

TEST(TotpTest, Rfc6238AppendixBSha1Vectors) {
  struct Vector {
    int64_t unix_seconds;
    int64_t step;
    const char* totp8;
  };
  const Vector vectors[] = {
      {59, 1, "94287082"},
      {1111111109, 0x23523EC, "07081804"},
      {1111111111, 0x23523ED, "14050471"},
      {1234567890, 0x273EF07, "89005924"},
      {2000000000, 0x3F940AA, "69279037"},
      {20000000000, 0x27BC86AA, "65353130"},
  };
  for (const Vector& v : vectors) {
    const absl::Time t = absl::FromUnixSeconds(v.unix_seconds);
    EXPECT_EQ(TotpStep(t), v.step) << v.unix_seconds;
    EXPECT_EQ(internal::HotpCode(kRfcSecret, static_cast<uint64_t>(v.step), 8), v.totp8);
    // The 6-digit code is the 8-digit value modulo 10^6.
    const std::string six = std::string(v.totp8).substr(2);
    EXPECT_EQ(TotpCode(kRfcSecret, v.step), six) << v.unix_seconds;
    EXPECT_EQ(MatchTotp(kRfcSecret, six, t, 0), v.step) << v.unix_seconds;
  }
}

TEST(TotpTest, StepFloorsIncludingBeforeTheEpoch) {
  EXPECT_EQ(TotpStep(absl::FromUnixSeconds(0)), 0);
  EXPECT_EQ(TotpStep(absl::FromUnixSeconds(29)), 0);
  EXPECT_EQ(TotpStep(absl::FromUnixSeconds(30)), 1);
  EXPECT_EQ(TotpStep(absl::FromUnixSeconds(30) + absl::Milliseconds(999)), 1);
  EXPECT_EQ(TotpStep(absl::FromUnixSeconds(0) - absl::Milliseconds(1)), -1);
  EXPECT_EQ(TotpStep(absl::FromUnixSeconds(-30)), -1);
  EXPECT_EQ(TotpStep(absl::FromUnixSeconds(-31)), -2);
}

TEST(TotpTest, CodesAreZeroPadded) {
  int leading_zero = 0;
  for (int64_t step = 0; step < 200; ++step) {
    const std::string code = TotpCode(kRfcSecret, step);
    ASSERT_EQ(code.size(), 6u) << step;
    if (code[0] == '0') {
      ++leading_zero;
      EXPECT_EQ(MatchTotp(kRfcSecret, code, absl::FromUnixSeconds(step * 30), 0), step);
    }
  }
  EXPECT_GT(leading_zero, 0);  // about one code in ten starts with 0
}

TEST(TotpTest, WindowAcceptsOneStepEitherSideOnly) {
  const absl::Time now = absl::FromUnixSeconds(1'800'000'015);
  const int64_t step = TotpStep(now);
  std::set<std::string> near;
  for (int64_t d = -1; d <= 1; ++d) near.insert(TotpCode(kRfcSecret, step + d));
  ASSERT_EQ(near.size(), 3u);  // the vectors below would be ambiguous otherwise
  ASSERT_EQ(near.count(TotpCode(kRfcSecret, step - 2)), 0u);
  ASSERT_EQ(near.count(TotpCode(kRfcSecret, step + 2)), 0u);

  EXPECT_EQ(MatchTotp(kRfcSecret, TotpCode(kRfcSecret, step), now), step);
  EXPECT_EQ(MatchTotp(kRfcSecret, TotpCode(kRfcSecret, step - 1), now), step - 1);
  EXPECT_EQ(MatchTotp(kRfcSecret, TotpCode(kRfcSecret, step + 1), now), step + 1);
  EXPECT_EQ(MatchTotp(kRfcSecret, TotpCode(kRfcSecret, step - 2), now), std::nullopt);
  EXPECT_EQ(MatchTotp(kRfcSecret, TotpCode(kRfcSecret, step + 2), now), std::nullopt);

  // window = 0: only the current step; window = 2 widens it.
  EXPECT_EQ(MatchTotp(kRfcSecret, TotpCode(kRfcSecret, step - 1), now, 0), std::nullopt);
  EXPECT_EQ(MatchTotp(kRfcSecret, TotpCode(kRfcSecret, step + 2), now, 2), step + 2);
  // Negative windows are clamped to 0.
  EXPECT_EQ(MatchTotp(kRfcSecret, TotpCode(kRfcSecret, step), now, -5), step);
}

TEST(TotpTest, WrongSecretDoesNotMatch) {
  const absl::Time now = absl::FromUnixSeconds(1'800'000'015);
  const std::string code = TotpCode(kRfcSecret, TotpStep(now));
  const std::string other = "12345678901234567891";
  for (int64_t d = -1; d <= 1; ++d) {
    ASSERT_NE(TotpCode(other, TotpStep(now) + d), code);  // no chance collision in this vector
  }
  EXPECT_EQ(MatchTotp(other, code, now), std::nullopt);
  EXPECT_EQ(MatchTotp(kRfcSecret, code, now), TotpStep(now));
}

TEST(TotpTest, MalformedCodesAreRejected) {
  const absl::Time now = absl::FromUnixSeconds(59);
  ASSERT_EQ(MatchTotp(kRfcSecret, "287082", now, 0), 1);
  for (const std::string& bad :
       {std::string(""), std::string("28708"), std::string("2870820"), std::string("94287082"),
        std::string("28708a"), std::string(" 287082"), std::string("287082\n"),
        std::string("-28708"), std::string("+28708"), std::string("287 082"),
        std::string("２８７０８２"), std::string("287082\0", 7)}) {
    EXPECT_EQ(MatchTotp(kRfcSecret, bad, now), std::nullopt) << bad;
  }
}

TEST(TotpTest, GeneratedSecretsAre20RandomBytes) {
  base::SimulatedEnv env;
  const std::string a = GenerateTotpSecret(&env);
  const std::string b = GenerateTotpSecret(&env);
  EXPECT_EQ(a.size(), 20u);
  EXPECT_EQ(b.size(), 20u);
  EXPECT_NE(a, b);
}

TEST(TotpTest, UriPercentEncodesIssuerAndAccount) {
  EXPECT_EQ(TotpUri("EdgeVault", "alice@example.com", kRfcSecret),
            "otpauth://totp/EdgeVault:alice%40example.com?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
            "&issuer=EdgeVault&algorithm=SHA1&digits=6&period=30");
  EXPECT_EQ(TotpUri("Acme Corp: Prod", "bob+ops@x.io", kRfcSecret),
            "otpauth://totp/Acme%20Corp%3A%20Prod:bob%2Bops%40x.io?secret="
            "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=Acme%20Corp%3A%20Prod&algorithm=SHA1"
            "&digits=6&period=30");
  EXPECT_EQ(internal::PercentEncode("é&=?/#%~._-"), "%C3%A9%26%3D%3F%2F%23%25~._-");
}

TEST(RecoveryCodeTest, FormatAndUniqueness) {
  base::SimulatedEnv env;
  const std::vector<std::string> codes = GenerateRecoveryCodes(&env);
  ASSERT_EQ(codes.size(), 10u);
  const std::regex format("[0-9a-hjkmnp-tv-z]{4}-[0-9a-hjkmnp-tv-z]{4}-[0-9a-hjkmnp-tv-z]{4}");
  for (const std::string& code : codes) {
    EXPECT_TRUE(std::regex_match(code, format)) << code;
    EXPECT_EQ(NormalizeRecoveryCode(code).size(), 12u);
  }
  EXPECT_EQ(std::set<std::string>(codes.begin(), codes.end()).size(), codes.size());
  EXPECT_TRUE(GenerateRecoveryCodes(&env, 0).empty());
  EXPECT_TRUE(GenerateRecoveryCodes(&env, -3).empty());
  EXPECT_EQ(GenerateRecoveryCodes(&env, 3).size(), 3u);
}

TEST(RecoveryCodeTest, UsesAll32Symbols) {
  // 5 bits per character: across many codes every symbol of the alphabet shows up.
  base::SimulatedEnv env(absl::FromUnixSeconds(0), 7);
  std::set<char> seen;
  for (const std::string& code : GenerateRecoveryCodes(&env, 200)) {
    for (char c : code) {
      if (c != '-') seen.insert(c);
    }
  }
  EXPECT_EQ(seen.size(), 32u);
}

TEST(RecoveryCodeTest, NormalizeAcceptsWhatUsersType) {
  EXPECT_EQ(NormalizeRecoveryCode("k7q2-m9xa-4trp"), "k7q2m9xa4trp");
  EXPECT_EQ(NormalizeRecoveryCode(" K7Q2 M9XA-4TRP "), "k7q2m9xa4trp");
  EXPECT_EQ(NormalizeRecoveryCode("k7q2\tm9xa--4trp"), "k7q2m9xa4trp");
  // Crockford look-alikes: O is zero, I and L are one.
  EXPECT_EQ(NormalizeRecoveryCode("OoIiLl-0011"), "0011110011");
  EXPECT_EQ(NormalizeRecoveryCode(""), "");
}

// Runs `command` and returns its stdout with the trailing newline removed.
std::string RunCommand(const std::string& command, int* exit_code) {
  std::string out;
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) {
    *exit_code = -1;
    return out;
  }
  char buf[256];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, pipe)) > 0) out.append(buf, n);
  *exit_code = pclose(pipe);
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
  return out;
}

TEST(TotpInteropTest, OathtoolCodesMatch) {
  constexpr const char* kOathtool = "/usr/bin/oathtool";
  ASSERT_EQ(access(kOathtool, X_OK), 0)
      << kOathtool << " is missing: install Debian's oathtool package (apt-get install "
      << "oathtool); this interoperability test must not be skipped";
  base::SimulatedEnv env(absl::FromUnixSeconds(0), 2026);
  struct Case {
    const char* when;  // as oathtool parses it
    int64_t unix_seconds;
  };
  const Case cases[] = {
      {"2026-01-02 03:04:05 UTC", 1767323045},
      {"2033-05-18 03:33:20 UTC", 2000000000},
      {"1970-01-01 00:00:59 UTC", 59},
  };
  for (int round = 0; round < 3; ++round) {
    const std::string secret = GenerateTotpSecret(&env);
    const std::string b32 = base::Base32Encode(secret);
    for (const Case& c : cases) {
      int exit_code = 0;
      const std::string code = RunCommand(std::string(kOathtool) + " --totp -b " + b32 + " -N '" +
                                       c.when + "'",
                                   &exit_code);
      ASSERT_EQ(exit_code, 0) << "oathtool failed: " << code;
      const absl::Time t = absl::FromUnixSeconds(c.unix_seconds);
      EXPECT_EQ(code, TotpCode(secret, TotpStep(t))) << b32 << " at " << c.when;
      EXPECT_EQ(MatchTotp(secret, code, t, 0), TotpStep(t)) << b32 << " at " << c.when;
    }
  }
}

}  // namespace
}  // namespace edgevault::crypto
