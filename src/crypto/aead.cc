#include "src/crypto/aead.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>

#include <cstring>
#include <utility>

#include "src/base/strings.h"
#include "src/crypto/openssl_error.h"

namespace edgevault::crypto {
namespace {

// GCM allows far more, but OpenSSL's update calls take an int and nothing EdgeVault
// encrypts comes near this.
constexpr size_t kMaxInput = size_t{1} << 30;
constexpr size_t kSha256Size = 32;

absl::Status OpenSslFailure(std::string_view what) {
  return absl::InternalError(base::StrCat(what, ": ", OpenSslErrorString()));
}

// Fetched once: an implicit fetch (EVP_aes_256_gcm()) on every init costs a provider lookup.
// Fetched algorithm objects are reference-counted and safe to share between threads.
const EVP_CIPHER* AesGcmCipher() {
  static EVP_CIPHER* cipher = EVP_CIPHER_fetch(nullptr, "AES-256-GCM", nullptr);
  return cipher;
}

EVP_KDF* HkdfAlgorithm() {
  static EVP_KDF* kdf = EVP_KDF_fetch(nullptr, "HKDF", nullptr);
  return kdf;
}

using CipherCtx = std::unique_ptr<EVP_CIPHER_CTX, decltype(&EVP_CIPHER_CTX_free)>;

const unsigned char* U8(std::string_view s) {
  return reinterpret_cast<const unsigned char*>(s.data());
}

absl::Status CheckKeyAndNonce(std::string_view key, std::string_view nonce) {
  if (key.size() != kAesGcmKeySize) {
    return absl::InvalidArgumentError(base::StrCat("AES-256-GCM: key must be ", kAesGcmKeySize,
                                                   " bytes, got ", key.size()));
  }
  if (nonce.size() != kAesGcmNonceSize) {
    return absl::InvalidArgumentError(base::StrCat(
        "AES-256-GCM: nonce must be ", kAesGcmNonceSize, " bytes, got ", nonce.size()));
  }
  return absl::OkStatus();
}

absl::Status CheckInputSize(std::string_view what, size_t size) {
  if (size > kMaxInput) {
    return absl::InvalidArgumentError(
        base::StrCat("AES-256-GCM: ", what, " of ", size, " bytes exceeds the 1 GiB limit"));
  }
  return absl::OkStatus();
}

absl::StatusOr<CipherCtx> NewContext(bool encrypt, std::string_view key, std::string_view nonce) {
  const EVP_CIPHER* cipher = AesGcmCipher();
  if (cipher == nullptr) return OpenSslFailure("fetching AES-256-GCM");
  CipherCtx ctx(EVP_CIPHER_CTX_new(), EVP_CIPHER_CTX_free);
  if (!ctx) return OpenSslFailure("EVP_CIPHER_CTX_new");
  // The default GCM IV length is 12 bytes, which is what we pass.
  int ok = encrypt ? EVP_EncryptInit_ex2(ctx.get(), cipher, U8(key), U8(nonce), nullptr)
                   : EVP_DecryptInit_ex2(ctx.get(), cipher, U8(key), U8(nonce), nullptr);
  if (ok != 1) return OpenSslFailure("AES-256-GCM init");
  return ctx;
}

}  // namespace

SecureBuffer::SecureBuffer(size_t size) : data_(new char[size]()), size_(size) {}

SecureBuffer::SecureBuffer(std::string_view bytes)
    : data_(new char[bytes.size()]), size_(bytes.size()) {
  if (size_ > 0) std::memcpy(data_.get(), bytes.data(), size_);
}

SecureBuffer::~SecureBuffer() { Clear(); }

SecureBuffer::SecureBuffer(SecureBuffer&& other) noexcept
    : data_(std::move(other.data_)), size_(std::exchange(other.size_, 0)) {}

SecureBuffer& SecureBuffer::operator=(SecureBuffer&& other) noexcept {
  if (this != &other) {
    Clear();
    data_ = std::move(other.data_);
    size_ = std::exchange(other.size_, 0);
  }
  return *this;
}

void SecureBuffer::Clear() {
  if (data_ != nullptr && size_ > 0) OPENSSL_cleanse(data_.get(), size_);
  data_.reset();
  size_ = 0;
}

absl::StatusOr<std::string> AesGcmSeal(std::string_view key, std::string_view nonce,
                                       std::string_view plaintext, std::string_view aad) {
  if (absl::Status s = CheckKeyAndNonce(key, nonce); !s.ok()) return s;
  if (absl::Status s = CheckInputSize("plaintext", plaintext.size()); !s.ok()) return s;
  if (absl::Status s = CheckInputSize("AAD", aad.size()); !s.ok()) return s;
  absl::StatusOr<CipherCtx> ctx = NewContext(/*encrypt=*/true, key, nonce);
  if (!ctx.ok()) return ctx.status();

  std::string out(plaintext.size() + kAesGcmTagSize, '\0');
  auto* out_bytes = reinterpret_cast<unsigned char*>(out.data());
  int len = 0;
  if (!aad.empty() &&
      EVP_EncryptUpdate(ctx->get(), nullptr, &len, U8(aad), static_cast<int>(aad.size())) != 1) {
    return OpenSslFailure("AES-256-GCM AAD");
  }
  size_t written = 0;
  if (!plaintext.empty()) {
    if (EVP_EncryptUpdate(ctx->get(), out_bytes, &len, U8(plaintext),
                          static_cast<int>(plaintext.size())) != 1) {
      return OpenSslFailure("AES-256-GCM encrypt");
    }
    written = static_cast<size_t>(len);
  }
  if (EVP_EncryptFinal_ex(ctx->get(), out_bytes + written, &len) != 1) {
    return OpenSslFailure("AES-256-GCM final");
  }
  written += static_cast<size_t>(len);
  if (written != plaintext.size()) return absl::InternalError("AES-256-GCM: short output");
  if (EVP_CIPHER_CTX_ctrl(ctx->get(), EVP_CTRL_GCM_GET_TAG, static_cast<int>(kAesGcmTagSize),
                          out_bytes + written) != 1) {
    return OpenSslFailure("AES-256-GCM tag");
  }
  return out;
}

absl::StatusOr<SecureBuffer> AesGcmOpen(std::string_view key, std::string_view nonce,
                                        std::string_view ciphertext_and_tag,
                                        std::string_view aad) {
  if (absl::Status s = CheckKeyAndNonce(key, nonce); !s.ok()) return s;
  if (absl::Status s = CheckInputSize("ciphertext", ciphertext_and_tag.size()); !s.ok()) {
    return s;
  }
  if (absl::Status s = CheckInputSize("AAD", aad.size()); !s.ok()) return s;
  if (ciphertext_and_tag.size() < kAesGcmTagSize) {
    return absl::Status(kAuthFailureCode, "authentication failed (input shorter than a tag)");
  }
  std::string_view ciphertext = ciphertext_and_tag.substr(0, ciphertext_and_tag.size() -
                                                                 kAesGcmTagSize);
  // OpenSSL takes a non-const pointer for SET_TAG but only reads it.
  unsigned char tag[kAesGcmTagSize];
  std::memcpy(tag, ciphertext_and_tag.data() + ciphertext.size(), kAesGcmTagSize);

  absl::StatusOr<CipherCtx> ctx = NewContext(/*encrypt=*/false, key, nonce);
  if (!ctx.ok()) return ctx.status();
  // Decrypted bytes land here before the tag is checked; on failure the destructor wipes them
  // and the caller gets only the status.
  SecureBuffer plain(ciphertext.size());
  int len = 0;
  if (!aad.empty() &&
      EVP_DecryptUpdate(ctx->get(), nullptr, &len, U8(aad), static_cast<int>(aad.size())) != 1) {
    return OpenSslFailure("AES-256-GCM AAD");
  }
  size_t written = 0;
  if (!ciphertext.empty()) {
    if (EVP_DecryptUpdate(ctx->get(), plain.bytes(), &len, U8(ciphertext),
                          static_cast<int>(ciphertext.size())) != 1) {
      return OpenSslFailure("AES-256-GCM decrypt");
    }
    written = static_cast<size_t>(len);
  }
  if (EVP_CIPHER_CTX_ctrl(ctx->get(), EVP_CTRL_GCM_SET_TAG, static_cast<int>(kAesGcmTagSize),
                          tag) != 1) {
    return OpenSslFailure("AES-256-GCM set tag");
  }
  unsigned char final_block[16];
  if (EVP_DecryptFinal_ex(ctx->get(), final_block, &len) != 1) {
    ERR_clear_error();
    return absl::Status(kAuthFailureCode, "authentication failed");
  }
  if (written + static_cast<size_t>(len) != ciphertext.size()) {
    return absl::InternalError("AES-256-GCM: short output");
  }
  return plain;
}

absl::StatusOr<SecureBuffer> Hkdf(std::string_view ikm, std::string_view salt,
                                  std::string_view info, size_t length) {
  if (ikm.empty()) return absl::InvalidArgumentError("HKDF: empty input keying material");
  if (length == 0 || length > 255 * kSha256Size) {
    return absl::InvalidArgumentError(
        base::StrCat("HKDF-SHA256: output length must be 1..", 255 * kSha256Size, ", got ",
                     length));
  }
  EVP_KDF* kdf = HkdfAlgorithm();
  if (kdf == nullptr) return OpenSslFailure("fetching HKDF");
  std::unique_ptr<EVP_KDF_CTX, decltype(&EVP_KDF_CTX_free)> ctx(EVP_KDF_CTX_new(kdf),
                                                                EVP_KDF_CTX_free);
  if (!ctx) return OpenSslFailure("EVP_KDF_CTX_new");

  char digest[] = "SHA256";
  OSSL_PARAM params[5];
  size_t n = 0;
  params[n++] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, digest, 0);
  params[n++] = OSSL_PARAM_construct_octet_string(
      OSSL_KDF_PARAM_KEY, const_cast<char*>(ikm.data()), ikm.size());
  // Absent salt and info are simply not passed: OpenSSL then uses the RFC's defaults
  // (HashLen zero bytes of salt, empty info).
  if (!salt.empty()) {
    params[n++] = OSSL_PARAM_construct_octet_string(
        OSSL_KDF_PARAM_SALT, const_cast<char*>(salt.data()), salt.size());
  }
  if (!info.empty()) {
    params[n++] = OSSL_PARAM_construct_octet_string(
        OSSL_KDF_PARAM_INFO, const_cast<char*>(info.data()), info.size());
  }
  params[n] = OSSL_PARAM_construct_end();

  SecureBuffer out(length);
  if (EVP_KDF_derive(ctx.get(), out.bytes(), length, params) != 1) {
    return OpenSslFailure("HKDF-SHA256 derive");
  }
  return out;
}

}  // namespace edgevault::crypto
