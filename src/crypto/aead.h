#pragma once
// Symmetric primitives of the secrets path (OpenSSL 3 EVP): AES-256-GCM with a 96-bit nonce
// and a 128-bit tag, HKDF-SHA256 (RFC 5869), and SecureBuffer, the byte buffer that holds
// keys and plaintext and wipes itself. Key-handling code: the delivery service never links it.
// Thread-safety: the functions are pure and thread-safe; a SecureBuffer is a plain value.
//
//   EV_ASSIGN_OR_RETURN(std::string sealed, crypto::AesGcmSeal(key, nonce, plaintext, aad));
//   absl::StatusOr<SecureBuffer> opened = crypto::AesGcmOpen(key, nonce, sealed, aad);
//   if (crypto::IsAuthenticationFailure(opened.status())) { /* tampered */ }
//
// A failed tag check never yields bytes: the partial output is wiped and the call returns
// kAuthFailureCode (DataLoss) with the message "authentication failed".

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace edgevault::crypto {

inline constexpr size_t kAesGcmKeySize = 32;    // AES-256
inline constexpr size_t kAesGcmNonceSize = 12;  // 96-bit nonce (SP 800-38D §8.2)
inline constexpr size_t kAesGcmTagSize = 16;    // 128-bit tag

// The single code for "this ciphertext does not authenticate" (tampered, moved, truncated
// past its header, or sealed under another key). DataLoss rather than InvalidArgument (which
// means "malformed") or PermissionDenied (which the services map to 403, blaming the caller):
// stored data that fails its integrity check is corruption the caller cannot fix.
inline constexpr absl::StatusCode kAuthFailureCode = absl::StatusCode::kDataLoss;

inline bool IsAuthenticationFailure(const absl::Status& status) {
  return status.code() == kAuthFailureCode;
}

// A heap byte buffer for keys and plaintext. The bytes are OPENSSL_cleanse-d when the buffer
// is destroyed, when it is move-assigned over, and are never left behind by a move (the heap
// block changes owner; no small-buffer copy). Copying is explicit: Copy().
class SecureBuffer {
 public:
  SecureBuffer() = default;
  // `size` zero bytes.
  explicit SecureBuffer(size_t size);
  // A copy of `bytes` (the caller wipes its own copy if it must).
  explicit SecureBuffer(std::string_view bytes);
  ~SecureBuffer();

  SecureBuffer(SecureBuffer&& other) noexcept;
  SecureBuffer& operator=(SecureBuffer&& other) noexcept;
  SecureBuffer(const SecureBuffer&) = delete;
  SecureBuffer& operator=(const SecureBuffer&) = delete;

  SecureBuffer Copy() const { return SecureBuffer(view()); }

  // Wipes and releases the bytes; size() becomes 0.
  void Clear();

  char* data() { return data_.get(); }
  const char* data() const { return data_.get(); }
  unsigned char* bytes() { return reinterpret_cast<unsigned char*>(data_.get()); }
  const unsigned char* bytes() const {
    return reinterpret_cast<const unsigned char*>(data_.get());
  }
  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  // Valid until the buffer is changed or destroyed. Do not copy it into a std::string that
  // outlives the request.
  std::string_view view() const { return std::string_view(data_.get(), size_); }

 private:
  std::unique_ptr<char[]> data_;
  size_t size_ = 0;
};

// AES-256-GCM encryption. Returns ciphertext || 16-byte tag (plaintext.size() + 16 bytes).
// Never call it twice with the same key and nonce.
// Errors: InvalidArgument when key is not 32 bytes, nonce not 12 bytes, or the plaintext or
// AAD is larger than 1 GiB; Internal when OpenSSL fails.
absl::StatusOr<std::string> AesGcmSeal(std::string_view key, std::string_view nonce,
                                       std::string_view plaintext, std::string_view aad);

// AES-256-GCM decryption of ciphertext || tag, as AesGcmSeal produced it.
// Errors: kAuthFailureCode ("authentication failed") when the tag does not verify (any change
// to key, nonce, ciphertext, tag or AAD) or the input is shorter than a tag; InvalidArgument
// when key or nonce has the wrong size or an input is larger than 1 GiB; Internal when
// OpenSSL fails.
absl::StatusOr<SecureBuffer> AesGcmOpen(std::string_view key, std::string_view nonce,
                                        std::string_view ciphertext_and_tag,
                                        std::string_view aad);

// HKDF-SHA256 (RFC 5869, extract then expand) through OpenSSL's EVP_KDF "HKDF". An empty
// salt means HashLen zero bytes, as the RFC says.
// Errors: InvalidArgument when ikm is empty or length is 0 or above 255 * 32 = 8160;
// Internal when OpenSSL fails.
absl::StatusOr<SecureBuffer> Hkdf(std::string_view ikm, std::string_view salt,
                                  std::string_view info, size_t length);

}  // namespace edgevault::crypto
