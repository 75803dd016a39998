#include "src/base/encoding.h"

#include <gtest/gtest.h>

namespace edgevault::base {
namespace {

TEST(EncodingTest, Rfc4648Vectors) {
  const char* in[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
  const char* b64[] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
  const char* b32[] = {"", "MY", "MZXQ", "MZXW6", "MZXW6YQ", "MZXW6YTB", "MZXW6YTBOI"};
  for (int i = 0; i < 7; ++i) {
    EXPECT_EQ(Base64Encode(in[i]), b64[i]);
    EXPECT_EQ(*Base64Decode(b64[i]), in[i]);
    EXPECT_EQ(Base32Encode(in[i]), b32[i]);
    EXPECT_EQ(*Base32Decode(b32[i]), in[i]);
    EXPECT_EQ(*Base64UrlDecode(Base64UrlEncode(in[i])), in[i]);
  }
}

TEST(EncodingTest, UrlAlphabetAndNoPadding) {
  std::string bytes("\xfb\xff\xfe", 3);
  EXPECT_EQ(Base64Encode(bytes), "+//+");
  EXPECT_EQ(Base64UrlEncode(bytes), "-__-");
  EXPECT_EQ(Base64UrlEncode("f"), "Zg");
  EXPECT_FALSE(Base64UrlDecode("+//+").ok());
  EXPECT_FALSE(Base64Decode("Zm9v!").ok());
  EXPECT_FALSE(Base64Decode("Z").ok());
}

TEST(EncodingTest, Hex) {
  EXPECT_EQ(HexEncode(std::string("\x00\xab\xff", 3)), "00abff");
  EXPECT_EQ(*HexDecode("00ABff"), std::string("\x00\xab\xff", 3));
  EXPECT_FALSE(HexDecode("abc").ok());
  EXPECT_FALSE(HexDecode("zz").ok());
}

TEST(EncodingTest, Base32LenientInput) {
  EXPECT_EQ(*Base32Decode("mzxw 6ytb oi=="), "foobar");
  EXPECT_FALSE(Base32Decode("MZ1").ok());
}

}  // namespace
}  // namespace edgevault::base
