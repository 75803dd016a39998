#include "src/crypto/ed25519_public.h"

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

namespace internal {

EvpPkeyPtr UpRef(EVP_PKEY* p) {
  if (p != nullptr) EVP_PKEY_up_ref(p);
  return EvpPkeyPtr(p);
}

std::string Ed25519Thumbprint(std::string_view raw_public) {
  // RFC 7638 §3: required members only, lexicographic order, no whitespace.
  std::string input = base::StrCat(R"({"crv":"Ed25519","kty":"OKP","x":")",
                                   base::Base64UrlEncode(raw_public), R"("})");
  return base::Base64UrlEncode(Sha256(input));
}

std::string RawPublicOf(EVP_PKEY* pkey) {
  std::string out(kKeySize, '\0');
  size_t len = out.size();
  if (EVP_PKEY_get_raw_public_key(pkey, reinterpret_cast<unsigned char*>(out.data()), &len) !=
          1 ||
      len != kKeySize) {
    ERR_clear_error();
    return std::string();
  }
  return out;
}

absl::StatusOr<EvpPkeyPtr> ReadEd25519Pem(std::string_view pem, bool private_key) {
  std::unique_ptr<BIO, BioFree> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (!bio) return absl::InternalError(base::StrCat("BIO_new_mem_buf: ", OpenSslErrorString()));
  EVP_PKEY* p = private_key ? PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr)
                            : PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr);
  const std::string_view what = private_key ? "PEM private key" : "PEM public key";
  if (p == nullptr) {
    return absl::InvalidArgumentError(base::StrCat(
        private_key ? "not a PKCS#8 PEM private key: " : "not a PEM public key: ", OpenSslErrorString()));
  }
  EvpPkeyPtr key(p);
  if (EVP_PKEY_get_id(p) != EVP_PKEY_ED25519) {
    return absl::InvalidArgumentError(base::StrCat(what, " is not an Ed25519 key"));
  }
  return key;
}

}  // namespace internal

// ---- Ed25519PublicKey

absl::StatusOr<Ed25519PublicKey> Ed25519PublicKey::FromRaw(std::string_view raw) {
  if (raw.size() != kKeySize) {
    return absl::InvalidArgumentError(
        base::StrCat("Ed25519 public key must be 32 bytes, got ", raw.size()));
  }
  EVP_PKEY* p = EVP_PKEY_new_raw_public_key(
      EVP_PKEY_ED25519, nullptr, reinterpret_cast<const unsigned char*>(raw.data()), raw.size());
  if (p == nullptr) {
    return absl::InvalidArgumentError(
        base::StrCat("invalid Ed25519 public key: ", OpenSslErrorString()));
  }
  return Ed25519PublicKey(internal::EvpPkeyPtr(p));
}

absl::StatusOr<Ed25519PublicKey> Ed25519PublicKey::FromPem(std::string_view pem) {
  absl::StatusOr<internal::EvpPkeyPtr> key = internal::ReadEd25519Pem(pem, /*private_key=*/false);
  if (!key.ok()) return key.status();
  return Ed25519PublicKey(*std::move(key));
}

std::string Ed25519PublicKey::Raw() const { return internal::RawPublicOf(pkey_.get()); }

absl::StatusOr<std::string> Ed25519PublicKey::ToPem() const {
  std::unique_ptr<BIO, BioFree> bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_PUBKEY(bio.get(), pkey_.get()) != 1) {
    return absl::InternalError(base::StrCat("Ed25519 key encoding failed: ", OpenSslErrorString()));
  }
  char* data = nullptr;
  long len = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(len));
}

std::string Ed25519PublicKey::Kid() const { return internal::Ed25519Thumbprint(Raw()); }

bool Ed25519PublicKey::Verify(std::string_view message, std::string_view signature) const {
  if (signature.size() != kSignatureSize) return false;
  std::unique_ptr<EVP_MD_CTX, MdCtxFree> ctx(EVP_MD_CTX_new());
  bool ok = ctx != nullptr &&
            EVP_DigestVerifyInit(ctx.get(), nullptr, nullptr, nullptr, pkey_.get()) == 1 &&
            EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(signature.data()),
                             signature.size(),
                             reinterpret_cast<const unsigned char*>(message.data()),
                             message.size()) == 1;
  if (!ok) ERR_clear_error();
  return ok;
}

}  // namespace edgevault::crypto
