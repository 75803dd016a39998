#include "src/crypto/hash.h"

#include <gtest/gtest.h>

#include "src/base/encoding.h"

namespace edgevault::crypto {
namespace {

TEST(HashTest, Sha256KnownAnswer) {
  EXPECT_EQ(Sha256Hex("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(HashTest, Sha256EtagIsTheQuotedFirstHalfOfTheHexDigest) {
  // SHA-256("abc") = ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad.
  EXPECT_EQ(Sha256Etag("abc"), "\"ba7816bf8f01cfea414140de5dae2223\"");
}

TEST(HashTest, HmacRfc4231Case2) {
  EXPECT_EQ(base::HexEncode(HmacSha256("Jefe", "what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

TEST(HashTest, HmacSha1Rfc2202Case2) {
  EXPECT_EQ(base::HexEncode(HmacSha1("Jefe", "what do ya want for nothing?")),
            "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79");
}

TEST(HashTest, ConstantTimeEquals) {
  EXPECT_TRUE(ConstantTimeEquals("abc", "abc"));
  EXPECT_FALSE(ConstantTimeEquals("abc", "abd"));
  EXPECT_FALSE(ConstantTimeEquals("abc", "abcd"));
  EXPECT_TRUE(ConstantTimeEquals("", ""));
}

}  // namespace
}  // namespace edgevault::crypto
