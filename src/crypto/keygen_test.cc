#include "src/crypto/keygen.h"

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "gtest/gtest.h"

namespace edgevault::crypto {
namespace {

TEST(KeygenTest, SymmetricKeyFileIs64HexCharsAndNewline) {
  std::string text = GenerateSymmetricKeyFile(base::Env::Default());
  ASSERT_EQ(text.size(), 65u);
  EXPECT_EQ(text.back(), '\n');
  for (size_t i = 0; i < 64; ++i) EXPECT_TRUE(std::isxdigit(text[i]) && !std::isupper(text[i]));
  EXPECT_NE(text, GenerateSymmetricKeyFile(base::Env::Default()));
}

TEST(KeygenTest, Ed25519PemParsesBackAsEd25519) {
  absl::StatusOr<std::string> pem = GenerateEd25519PrivateKeyPem();
  ASSERT_TRUE(pem.ok()) << pem.status();
  BIO* bio = BIO_new_mem_buf(pem->data(), static_cast<int>(pem->size()));
  EVP_PKEY* key = PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  ASSERT_NE(key, nullptr);
  EXPECT_EQ(EVP_PKEY_get_id(key), EVP_PKEY_ED25519);
  EVP_PKEY_free(key);
}

}  // namespace
}  // namespace edgevault::crypto
