#pragma once
// Ed25519 keys (RFC 8032) over OpenSSL: signing and verification, PEM and raw encodings,
// RFC 7638 thumbprints. Used by the JWTs (jwt.h) and by the per-service credentials that
// sign internal requests (src/net/signing.h). No decryption lives here, so every service,
// delivery included, may link it. Spec of the files: docs/design/key-files.md.
// Thread-safety: key objects are immutable; const methods may run concurrently.
//
//   EV_ASSIGN_OR_RETURN(auto key, crypto::Ed25519PrivateKey::FromPem(pem));
//   std::string sig = key.Sign(message);
//   bool ok = key.PublicKey().Verify(message, sig);

#include <openssl/evp.h>

#include <memory>
#include <string>
#include <string_view>

#include "src/base/status.h"

namespace edgevault::crypto {

namespace internal {
struct EvpPkeyFree {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
using EvpPkeyPtr = std::unique_ptr<EVP_PKEY, EvpPkeyFree>;
// A new reference to the same (immutable) key.
EvpPkeyPtr UpRef(EVP_PKEY* p);
}  // namespace internal

class Ed25519PublicKey {
 public:
  // Errors: InvalidArgument unless `raw` is 32 bytes that OpenSSL accepts.
  static absl::StatusOr<Ed25519PublicKey> FromRaw(std::string_view raw);

  Ed25519PublicKey(const Ed25519PublicKey& o) : pkey_(internal::UpRef(o.pkey_.get())) {}
  Ed25519PublicKey& operator=(const Ed25519PublicKey& o) {
    if (this != &o) pkey_ = internal::UpRef(o.pkey_.get());
    return *this;
  }
  Ed25519PublicKey(Ed25519PublicKey&&) = default;
  Ed25519PublicKey& operator=(Ed25519PublicKey&&) = default;

  // SubjectPublicKeyInfo "-----BEGIN PUBLIC KEY-----" PEM, as `openssl pkey -pubout`
  // writes it. Errors: InvalidArgument when unparsable or not an Ed25519 key.
  static absl::StatusOr<Ed25519PublicKey> FromPem(std::string_view pem);

  std::string Raw() const;  // 32 bytes
  // SubjectPublicKeyInfo PEM. Errors: Internal when OpenSSL fails.
  absl::StatusOr<std::string> ToPem() const;
  // RFC 7638 JWK thumbprint: base64url(SHA-256(`{"crv":"Ed25519","kty":"OKP","x":"..."}`)).
  std::string Kid() const;
  // True when `signature` is a valid Ed25519 signature of `message` under this key.
  bool Verify(std::string_view message, std::string_view signature) const;

 private:
  explicit Ed25519PublicKey(internal::EvpPkeyPtr p) : pkey_(std::move(p)) {}
  friend class Ed25519PrivateKey;
  internal::EvpPkeyPtr pkey_;
};

class Ed25519PrivateKey {
 public:
  // PKCS#8 "-----BEGIN PRIVATE KEY-----" PEM, as `openssl genpkey -algorithm ed25519`
  // writes it. Errors: InvalidArgument when unparsable or not an Ed25519 key.
  static absl::StatusOr<Ed25519PrivateKey> FromPem(std::string_view pem);
  // The 32-byte seed (RFC 8032 "private key", JWK "d"). Errors: InvalidArgument.
  static absl::StatusOr<Ed25519PrivateKey> FromRaw(std::string_view seed);

  Ed25519PrivateKey(const Ed25519PrivateKey& o) : pkey_(internal::UpRef(o.pkey_.get())) {}
  Ed25519PrivateKey& operator=(const Ed25519PrivateKey& o) {
    if (this != &o) pkey_ = internal::UpRef(o.pkey_.get());
    return *this;
  }
  Ed25519PrivateKey(Ed25519PrivateKey&&) = default;
  Ed25519PrivateKey& operator=(Ed25519PrivateKey&&) = default;

  Ed25519PublicKey PublicKey() const;
  std::string RawPublic() const;  // 32 bytes
  std::string Kid() const;        // thumbprint of the public key
  // PKCS#8 PEM. Errors: Internal when OpenSSL fails.
  absl::StatusOr<std::string> ToPem() const;
  // 64-byte Ed25519 signature (deterministic).
  std::string Sign(std::string_view message) const;

 private:
  explicit Ed25519PrivateKey(internal::EvpPkeyPtr p) : pkey_(std::move(p)) {}
  internal::EvpPkeyPtr pkey_;
};

}  // namespace edgevault::crypto
