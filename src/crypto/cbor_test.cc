#include "src/crypto/cbor.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <random>
#include <string>

#include "src/base/encoding.h"

namespace edgevault::crypto::cbor {
namespace {

std::string Hex(std::string_view hex) {
  auto bytes = base::HexDecode(hex);
  EXPECT_TRUE(bytes.ok()) << hex;
  return bytes.ok() ? *bytes : std::string();
}

absl::StatusOr<Value> DecodeHex(std::string_view hex) { return Decode(Hex(hex)); }

void ExpectRejected(std::string_view hex) {
  auto v = DecodeHex(hex);
  ASSERT_FALSE(v.ok()) << hex;
  EXPECT_EQ(v.status().code(), absl::StatusCode::kInvalidArgument) << hex;
}

// Examples from RFC 8949 Appendix A.
TEST(CborTest, DecodesIntegers) {
  EXPECT_EQ(DecodeHex("00")->integer(), 0);
  EXPECT_EQ(DecodeHex("17")->integer(), 23);
  EXPECT_EQ(DecodeHex("1818")->integer(), 24);
  EXPECT_EQ(DecodeHex("1903e8")->integer(), 1000);
  EXPECT_EQ(DecodeHex("1a000f4240")->integer(), 1000000);
  EXPECT_EQ(DecodeHex("1b000000e8d4a51000")->integer(), 1000000000000);
  EXPECT_EQ(DecodeHex("20")->integer(), -1);
  EXPECT_EQ(DecodeHex("3863")->integer(), -100);
  EXPECT_EQ(DecodeHex("390100")->integer(), -257);
  EXPECT_EQ(DecodeHex("1b7fffffffffffffff")->integer(), std::numeric_limits<int64_t>::max());
  EXPECT_EQ(DecodeHex("3b7fffffffffffffff")->integer(), std::numeric_limits<int64_t>::min());
}

TEST(CborTest, RejectsIntegersOutsideInt64) {
  ExpectRejected("1bffffffffffffffff");  // 18446744073709551615
  ExpectRejected("3bffffffffffffffff");  // -18446744073709551616
  ExpectRejected("1b8000000000000000");
}

TEST(CborTest, DecodesStringsArraysMapsAndSimpleValues) {
  EXPECT_EQ(DecodeHex("4401020304")->bytes(), std::string("\x01\x02\x03\x04", 4));
  EXPECT_EQ(DecodeHex("40")->bytes(), "");
  EXPECT_EQ(DecodeHex("6449455446")->text(), "IETF");
  EXPECT_EQ(DecodeHex("62c3bc")->text(), "\xc3\xbc");

  auto arr = DecodeHex("8301820203820405");
  ASSERT_TRUE(arr.ok());
  ASSERT_EQ(arr->array().size(), 3u);
  EXPECT_EQ(arr->array()[1].array()[1].integer(), 3);

  auto map = DecodeHex("a26161016162820203");  // {"a": 1, "b": [2, 3]}
  ASSERT_TRUE(map.ok());
  ASSERT_NE(map->Find("a"), nullptr);
  EXPECT_EQ(map->Find("a")->integer(), 1);
  EXPECT_EQ(map->Find("b")->array()[0].integer(), 2);
  EXPECT_EQ(map->Find("c"), nullptr);
  EXPECT_EQ(map->Find(1), nullptr);

  auto cose = DecodeHex("a201020326");  // {1: 2, 3: -7}
  ASSERT_TRUE(cose.ok());
  EXPECT_EQ(cose->Find(3)->integer(), -7);

  EXPECT_FALSE(DecodeHex("f4")->boolean());
  EXPECT_TRUE(DecodeHex("f5")->boolean());
  EXPECT_TRUE(DecodeHex("f6")->is_null());
}

TEST(CborTest, RejectsUnsupportedFeatures) {
  ExpectRejected("f7");                  // undefined
  ExpectRejected("f820");                // simple value 32
  ExpectRejected("f0");                  // simple value 16
  ExpectRejected("f93c00");              // half float 1.0
  ExpectRejected("fa47c35000");          // single float
  ExpectRejected("fb3ff199999999999a");  // double 1.1
  ExpectRejected("5f42010243030405ff");  // indefinite byte string
  ExpectRejected("7f657374726561646d696e67ff");
  ExpectRejected("9f018202039f0405ffff");                          // indefinite array
  ExpectRejected("bf61610161629f0203ffff");                        // indefinite map
  ExpectRejected("ff");                                            // lone break
  ExpectRejected("c074323031332d30332d32315432303a30343a30305a");  // tag 0
  ExpectRejected("1c");                                            // reserved additional info 28
  ExpectRejected("62c328");                                        // invalid UTF-8 in text
  ExpectRejected("63eda080");  // UTF-16 surrogate encoded in UTF-8
  ExpectRejected("62c081");    // overlong
}

TEST(CborTest, RejectsBadMapKeys) {
  ExpectRejected("a201010102");      // duplicate integer key 1
  ExpectRejected("a261610161610f");  // duplicate text key "a"
  ExpectRejected("a1410001");        // byte-string key
  ExpectRejected("a1800f");          // array key
}

TEST(CborTest, RejectsDeclaredLengthsBeyondInput) {
  ExpectRejected("5bffffffffffffffff");  // byte string of 2^64-1 bytes
  ExpectRejected("7a7fffffff41");        // text of 2^31-1 bytes
  ExpectRejected("9b0000000100000000");  // array of 2^32 items
  ExpectRejected("bb7fffffffffffffff");  // map of 2^63-1 pairs
  ExpectRejected("8301");                // array of 3, one present
  ExpectRejected("a20102");              // map of 2, one pair present
  ExpectRejected("450102");              // 5-byte string, 2 present
  ExpectRejected("19");                  // missing 2-byte argument
  ExpectRejected("1903");
  ExpectRejected("");
}

TEST(CborTest, EnforcesDepthLimit) {
  std::string ok(kMaxDepth - 1, '\x81');
  ok.push_back('\x80');  // kMaxDepth nested arrays
  EXPECT_TRUE(Decode(ok).ok());
  std::string deep(kMaxDepth, '\x81');
  deep.push_back('\x80');  // one more level
  auto v = Decode(deep);
  ASSERT_FALSE(v.ok());
  EXPECT_NE(v.status().message().find("nesting"), absl::string_view::npos);
  std::string very_deep(100000, '\x81');  // must fail fast, not overflow the stack
  EXPECT_FALSE(Decode(very_deep).ok());
}

TEST(CborTest, DecodePrefixReportsConsumedBytes) {
  std::string data = Hex("a201020326") + "tail";
  size_t used = 0;
  auto v = DecodePrefix(data, &used);
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(used, 5u);
  EXPECT_EQ(v->Find(1)->integer(), 2);
  auto whole = Decode(data);
  ASSERT_FALSE(whole.ok());
  EXPECT_NE(whole.status().message().find("trailing"), absl::string_view::npos);
}

TEST(CborTest, RandomInputNeverCrashes) {
  std::mt19937 rng(1234);
  int decoded = 0;
  for (int i = 0; i < 20000; ++i) {
    std::string data(rng() % 24, '\0');
    for (char& c : data) c = static_cast<char>(rng());
    size_t used = 0;
    auto v = DecodePrefix(data, &used);
    if (v.ok()) {
      ++decoded;
      EXPECT_LE(used, data.size());
    }
  }
  EXPECT_GT(decoded, 0);  // the generator does reach valid items too
}

}  // namespace
}  // namespace edgevault::crypto::cbor
