#pragma once
// Ed25519 public keys (RFC 8032): verification, raw and PEM encodings, RFC 7638 thumbprints.
// Split from ed25519.h so that a verifier (the document-signature library that SDKs, relays
// and delivery link: document_signature.h) links no private-key code at all.
// Thread-safety: key objects are immutable; const methods may run concurrently.
//
//   EV_ASSIGN_OR_RETURN(auto key, crypto::Ed25519PublicKey::FromRaw(raw32));
//   bool ok = key.Verify(message, signature);

#include <openssl/evp.h>

#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include "src/base/status.h"

namespace edgevault::crypto {

class Ed25519PrivateKey;

namespace internal {
struct EvpPkeyFree {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
using EvpPkeyPtr = std::unique_ptr<EVP_PKEY, EvpPkeyFree>;
// A new reference to the same (immutable) key.
EvpPkeyPtr UpRef(EVP_PKEY* p);
// The 32 raw public bytes of an Ed25519 key, or "" when OpenSSL fails.
std::string RawPublicOf(EVP_PKEY* pkey);
// RFC 7638 thumbprint of a raw Ed25519 public key.
std::string Ed25519Thumbprint(std::string_view raw_public);
// Reads an Ed25519 key from PEM: a private key (PKCS#8) when `private_key`, else a public
// key (SubjectPublicKeyInfo). InvalidArgument for another PEM or another key type.
absl::StatusOr<EvpPkeyPtr> ReadEd25519Pem(std::string_view pem, bool private_key);
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

}  // namespace edgevault::crypto
