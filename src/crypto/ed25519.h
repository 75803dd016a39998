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
#include "src/crypto/ed25519_public.h"

namespace edgevault::crypto {

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
