#include "src/crypto/aead.h"

#include <string>

#include "gtest/gtest.h"
#include "src/base/encoding.h"

namespace edgevault::crypto {
namespace {

std::string Unhex(std::string_view hex) {
  absl::StatusOr<std::string> bytes = base::HexDecode(hex);
  EXPECT_TRUE(bytes.ok()) << hex;
  return bytes.ok() ? *bytes : std::string();
}

// AES-256 test cases of McGrew & Viega, "The Galois/Counter Mode of Operation (GCM)",
// Appendix B (the vectors NIST SP 800-38D points to). Cases 17 and 18 use 64- and 480-bit
// IVs, which this API rejects by design (see NonceOtherThan96BitsIsRejected).
struct GcmVector {
  const char* name;
  const char* key;
  const char* plaintext;
  const char* aad;
  const char* iv;
  const char* ciphertext;
  const char* tag;
};

constexpr char kKey15[] = "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308";

const GcmVector kGcmVectors[] = {
    {"case 13", "0000000000000000000000000000000000000000000000000000000000000000", "", "",
     "000000000000000000000000", "", "530f8afbc74536b9a963b4f1c4cb738b"},
    {"case 14", "0000000000000000000000000000000000000000000000000000000000000000",
     "00000000000000000000000000000000", "", "000000000000000000000000",
     "cea7403d4d606b6e074ec5d3baf39d18", "d0d1c8a799996bf0265b98b5d48ab919"},
    {"case 15", kKey15,
     "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
     "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aafd255",
     "", "cafebabefacedbaddecaf888",
     "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
     "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662898015ad",
     "b094dac5d93471bdec1a502270e3cc6c"},
    {"case 16", kKey15,
     "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
     "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39",
     "feedfacedeadbeeffeedfacedeadbeefabaddad2", "cafebabefacedbaddecaf888",
     "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
     "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662",
     "76fc6ece0f4e1768cddf8853bb2d551b"},
};

TEST(AesGcmTest, SealMatchesGcmSpecVectors) {
  for (const GcmVector& v : kGcmVectors) {
    absl::StatusOr<std::string> sealed =
        AesGcmSeal(Unhex(v.key), Unhex(v.iv), Unhex(v.plaintext), Unhex(v.aad));
    ASSERT_TRUE(sealed.ok()) << v.name << ": " << sealed.status();
    EXPECT_EQ(base::HexEncode(*sealed), std::string(v.ciphertext) + v.tag) << v.name;
  }
}

TEST(AesGcmTest, OpenMatchesGcmSpecVectors) {
  for (const GcmVector& v : kGcmVectors) {
    absl::StatusOr<SecureBuffer> opened = AesGcmOpen(
        Unhex(v.key), Unhex(v.iv), Unhex(std::string(v.ciphertext) + v.tag), Unhex(v.aad));
    ASSERT_TRUE(opened.ok()) << v.name << ": " << opened.status();
    EXPECT_EQ(base::HexEncode(opened->view()), v.plaintext) << v.name;
  }
}

TEST(AesGcmTest, EveryBitFlipOfCase16FailsAuthentication) {
  const GcmVector& v = kGcmVectors[3];
  std::string key = Unhex(v.key), iv = Unhex(v.iv), aad = Unhex(v.aad);
  std::string sealed = Unhex(std::string(v.ciphertext) + v.tag);
  for (size_t i = 0; i < sealed.size(); ++i) {
    for (int bit = 0; bit < 8; ++bit) {
      std::string bad = sealed;
      bad[i] = static_cast<char>(bad[i] ^ (1 << bit));
      absl::StatusOr<SecureBuffer> opened = AesGcmOpen(key, iv, bad, aad);
      ASSERT_EQ(opened.status().code(), kAuthFailureCode) << "byte " << i << " bit " << bit;
      EXPECT_EQ(opened.status().message(), "authentication failed");
    }
  }
  for (size_t i = 0; i < aad.size(); ++i) {
    std::string bad = aad;
    bad[i] = static_cast<char>(bad[i] ^ 0x01);
    EXPECT_EQ(AesGcmOpen(key, iv, sealed, bad).status().code(), kAuthFailureCode);
  }
  std::string other_iv = iv;
  other_iv[11] = static_cast<char>(other_iv[11] ^ 0x80);
  EXPECT_EQ(AesGcmOpen(key, other_iv, sealed, aad).status().code(), kAuthFailureCode);
  std::string other_key = key;
  other_key[0] = static_cast<char>(other_key[0] ^ 0x01);
  EXPECT_EQ(AesGcmOpen(other_key, iv, sealed, aad).status().code(), kAuthFailureCode);
}

TEST(AesGcmTest, InputShorterThanTagFailsAuthentication) {
  std::string key(32, 'k'), iv(12, 'n');
  for (size_t n = 0; n < kAesGcmTagSize; ++n) {
    EXPECT_EQ(AesGcmOpen(key, iv, std::string(n, 'x'), "").status().code(), kAuthFailureCode)
        << n;
  }
}

TEST(AesGcmTest, NonceOtherThan96BitsIsRejected) {
  std::string key(32, 'k');
  // GCM spec cases 17 and 18 use these IV lengths; this API only takes 96-bit nonces.
  for (size_t n : {0u, 8u, 11u, 13u, 16u, 60u}) {
    EXPECT_EQ(AesGcmSeal(key, std::string(n, 'n'), "x", "").status().code(),
              absl::StatusCode::kInvalidArgument)
        << n;
    EXPECT_EQ(AesGcmOpen(key, std::string(n, 'n'), std::string(17, 'x'), "").status().code(),
              absl::StatusCode::kInvalidArgument)
        << n;
  }
}

TEST(AesGcmTest, KeyOtherThan256BitsIsRejected) {
  for (size_t n : {0u, 16u, 24u, 31u, 33u}) {
    EXPECT_EQ(AesGcmSeal(std::string(n, 'k'), std::string(12, 'n'), "x", "").status().code(),
              absl::StatusCode::kInvalidArgument)
        << n;
  }
}

TEST(AesGcmTest, RoundTripsEmptyAndLargeValues) {
  std::string key(32, '\x42'), iv(12, '\x07');
  for (size_t n : {0u, 1u, 15u, 16u, 17u, 100u, 4096u, 100000u}) {
    std::string plain(n, '\0');
    for (size_t i = 0; i < n; ++i) plain[i] = static_cast<char>(i * 31);
    absl::StatusOr<std::string> sealed = AesGcmSeal(key, iv, plain, "aad");
    ASSERT_TRUE(sealed.ok());
    ASSERT_EQ(sealed->size(), n + kAesGcmTagSize);
    absl::StatusOr<SecureBuffer> opened = AesGcmOpen(key, iv, *sealed, "aad");
    ASSERT_TRUE(opened.ok());
    EXPECT_EQ(opened->view(), plain);
  }
}

// RFC 5869 Appendix A, test cases 1-3 (SHA-256).
TEST(HkdfTest, Rfc5869Case1) {
  absl::StatusOr<SecureBuffer> okm =
      Hkdf(Unhex("0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b"),
           Unhex("000102030405060708090a0b0c"), Unhex("f0f1f2f3f4f5f6f7f8f9"), 42);
  ASSERT_TRUE(okm.ok()) << okm.status();
  EXPECT_EQ(base::HexEncode(okm->view()),
            "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865");
}

TEST(HkdfTest, Rfc5869Case2) {
  std::string ikm, salt, info;
  for (int i = 0; i < 80; ++i) {
    ikm.push_back(static_cast<char>(i));
    salt.push_back(static_cast<char>(0x60 + i));
    info.push_back(static_cast<char>(0xb0 + i));
  }
  absl::StatusOr<SecureBuffer> okm = Hkdf(ikm, salt, info, 82);
  ASSERT_TRUE(okm.ok()) << okm.status();
  EXPECT_EQ(base::HexEncode(okm->view()),
            "b11e398dc80327a1c8e7f78c596a49344f012eda2d4efad8a050cc4c19afa97c"
            "59045a99cac7827271cb41c65e590e09da3275600c2f09b8367793a9aca3db71"
            "cc30c58179ec3e87c14c01d5c1f3434f1d87");
}

TEST(HkdfTest, Rfc5869Case3EmptySaltAndInfo) {
  absl::StatusOr<SecureBuffer> okm =
      Hkdf(Unhex("0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b"), "", "", 42);
  ASSERT_TRUE(okm.ok()) << okm.status();
  EXPECT_EQ(base::HexEncode(okm->view()),
            "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8");
}

TEST(HkdfTest, RejectsBadLengthsAndEmptyIkm) {
  EXPECT_EQ(Hkdf("ikm", "s", "i", 0).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Hkdf("ikm", "s", "i", 8161).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(Hkdf("ikm", "s", "i", 8160).ok());
  EXPECT_EQ(Hkdf("", "s", "i", 32).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(SecureBufferTest, MoveTransfersBytesAndEmptiesSource) {
  SecureBuffer a(std::string_view("secret bytes"));
  const char* heap = a.data();
  SecureBuffer b(std::move(a));
  EXPECT_EQ(b.view(), "secret bytes");
  EXPECT_EQ(b.data(), heap);  // the heap block changed owner; nothing was copied
  EXPECT_EQ(a.size(), 0u);    // NOLINT(bugprone-use-after-move): the contract under test
  EXPECT_EQ(a.data(), nullptr);

  SecureBuffer c(std::string_view("other"));
  c = std::move(b);
  EXPECT_EQ(c.view(), "secret bytes");
  EXPECT_TRUE(b.empty());  // NOLINT(bugprone-use-after-move)
}

TEST(SecureBufferTest, CopyIsExplicitAndIndependent) {
  static_assert(!std::is_copy_constructible_v<SecureBuffer>);
  static_assert(!std::is_copy_assignable_v<SecureBuffer>);
  SecureBuffer a(std::string_view("abc"));
  SecureBuffer b = a.Copy();
  b.data()[0] = 'x';
  EXPECT_EQ(a.view(), "abc");
  EXPECT_EQ(b.view(), "xbc");
}

TEST(SecureBufferTest, ClearEmptiesAndSizedConstructorZeroFills) {
  SecureBuffer z(5);
  EXPECT_EQ(z.view(), std::string(5, '\0'));
  z.Clear();
  EXPECT_TRUE(z.empty());
  EXPECT_EQ(z.view(), "");
}

}  // namespace
}  // namespace edgevault::crypto
