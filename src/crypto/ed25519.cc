#include "src/crypto/ed25519.h"

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>

#include "src/base/encoding.h"
#include "src/base/strings.h"
#include "src/crypto/hash.h"
#include "src/crypto/openssl_error.h"

namespace edgevault::crypto {

namespace {

constexpr size_t kKeySize = 32;
constexpr size_t kSignatureSize = 64;

struct MdCtxFree {
  void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
};
struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};

}  // namespace

// ---- Ed25519PrivateKey

absl::StatusOr<Ed25519PrivateKey> Ed25519PrivateKey::FromPem(std::string_view pem) {
  absl::StatusOr<internal::EvpPkeyPtr> key = internal::ReadEd25519Pem(pem, /*private_key=*/true);
  if (!key.ok()) return key.status();
  return Ed25519PrivateKey(*std::move(key));
}

absl::StatusOr<Ed25519PrivateKey> Ed25519PrivateKey::FromRaw(std::string_view seed) {
  if (seed.size() != kKeySize) {
    return absl::InvalidArgumentError(
        base::StrCat("Ed25519 private key must be 32 bytes, got ", seed.size()));
  }
  EVP_PKEY* p = EVP_PKEY_new_raw_private_key(
      EVP_PKEY_ED25519, nullptr, reinterpret_cast<const unsigned char*>(seed.data()),
      seed.size());
  if (p == nullptr) {
    return absl::InvalidArgumentError(
        base::StrCat("invalid Ed25519 private key: ", OpenSslErrorString()));
  }
  return Ed25519PrivateKey(internal::EvpPkeyPtr(p));
}

Ed25519PublicKey Ed25519PrivateKey::PublicKey() const {
  // The EVP_PKEY holds both halves; sharing it is fine because the public key object only
  // ever uses the public half.
  return Ed25519PublicKey(internal::UpRef(pkey_.get()));
}

std::string Ed25519PrivateKey::RawPublic() const { return internal::RawPublicOf(pkey_.get()); }

std::string Ed25519PrivateKey::Kid() const { return internal::Ed25519Thumbprint(RawPublic()); }

absl::StatusOr<std::string> Ed25519PrivateKey::ToPem() const {
  std::unique_ptr<BIO, BioFree> bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_PrivateKey(bio.get(), pkey_.get(), nullptr, nullptr, 0, nullptr,
                                       nullptr) != 1) {
    return absl::InternalError(base::StrCat("Ed25519 key encoding failed: ", OpenSslErrorString()));
  }
  char* data = nullptr;
  long len = BIO_get_mem_data(bio.get(), &data);
  std::string pem(data, static_cast<size_t>(len));
  OPENSSL_cleanse(data, static_cast<size_t>(len));
  return pem;
}

std::string Ed25519PrivateKey::Sign(std::string_view message) const {
  std::string sig(kSignatureSize, '\0');
  size_t len = sig.size();
  std::unique_ptr<EVP_MD_CTX, MdCtxFree> ctx(EVP_MD_CTX_new());
  bool ok = ctx != nullptr &&
            EVP_DigestSignInit(ctx.get(), nullptr, nullptr, nullptr, pkey_.get()) == 1 &&
            EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &len,
                           reinterpret_cast<const unsigned char*>(message.data()),
                           message.size()) == 1 &&
            len == kSignatureSize;
  // Ed25519 signing over a valid key only fails on allocation failure; an empty
  // signature then fails every verification rather than crashing the issuer.
  if (!ok) {
    ERR_clear_error();
    return std::string();
  }
  return sig;
}

}  // namespace edgevault::crypto
