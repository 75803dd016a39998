#include "src/services/auth/totp_seal.h"

#include <openssl/crypto.h>

#include "src/base/status.h"
#include "src/base/strings.h"
#include "src/base/key_file.h"
#include "src/crypto/keyring.h"

namespace edgevault::auth {
namespace {

constexpr std::string_view kAadLabel = "edgevault/totp-secret/v1";

// AAD: label, NUL, the header (version, key id), NUL, the user id.
std::string Aad(std::string_view header, std::string_view user_id) {
  return base::StrCat(kAadLabel, std::string_view("\0", 1), header, std::string_view("\0", 1), user_id);
}

}  // namespace

absl::StatusOr<std::unique_ptr<TotpSealer>> TotpSealer::LoadOrCreate(base::Env* env,
                                                                     const std::string& dir) {
  if (env == nullptr) return absl::InvalidArgumentError("TotpSealer: null env");
  EV_ASSIGN_OR_RETURN(std::string raw, base::LoadOrCreateKeyFile(env, dir, kTotpSealKeyFile,
                                                                 "TOTP seal key", base::RandomKey(env)));
  crypto::SecureBuffer key{std::string_view(raw)};
  OPENSSL_cleanse(raw.data(), raw.size());
  return FromKey(env, std::string(kTotpSealKeyId), std::move(key));
}

absl::StatusOr<std::unique_ptr<TotpSealer>> TotpSealer::FromKey(base::Env* env, std::string key_id,
                                                               crypto::SecureBuffer key) {
  if (env == nullptr) return absl::InvalidArgumentError("TotpSealer: null env");
  if (key.size() != crypto::kAesGcmKeySize) {
    return absl::InvalidArgumentError("TotpSealer: the key must be 32 bytes");
  }
  if (!crypto::IsValidMasterKeyId(key_id)) {
    return absl::InvalidArgumentError("TotpSealer: a key id is 1 to 8 of [a-z0-9_-]");
  }
  return std::unique_ptr<TotpSealer>(new TotpSealer(env, std::move(key_id), std::move(key)));
}

std::string TotpSealer::Header() const {
  std::string header;
  header.push_back(static_cast<char>(kSealedTotpVersion));
  header.push_back(static_cast<char>(key_id_.size()));
  header += key_id_;
  return header;
}

absl::StatusOr<std::string> TotpSealer::Seal(std::string_view plaintext,
                                             std::string_view user_id) const {
  std::string header = Header();
  std::string nonce(crypto::kAesGcmNonceSize, '\0');
  env_->RandomBytes(nonce.data(), nonce.size());
  EV_ASSIGN_OR_RETURN(std::string sealed,
                      crypto::AesGcmSeal(key_.view(), nonce, plaintext, Aad(header, user_id)));
  return base::StrCat(header, nonce, sealed);
}

absl::StatusOr<std::string> TotpSealer::Open(std::string_view sealed,
                                             std::string_view user_id) const {
  if (sealed.size() < 2 || static_cast<unsigned char>(sealed[0]) != kSealedTotpVersion) {
    return absl::InvalidArgumentError("sealed TOTP secret: unknown format version");
  }
  size_t id_size = static_cast<unsigned char>(sealed[1]);
  if (sealed.size() < 2 + id_size + crypto::kAesGcmNonceSize + crypto::kAesGcmTagSize) {
    return absl::InvalidArgumentError("sealed TOTP secret: truncated");
  }
  std::string_view key_id = sealed.substr(2, id_size);
  if (key_id != key_id_) {
    return absl::FailedPreconditionError(base::StrCat(
        "sealed TOTP secret: sealed under key \"", key_id, "\", but auth holds key \"", key_id_, "\""));
  }
  std::string_view header = sealed.substr(0, 2 + id_size);
  std::string_view nonce = sealed.substr(header.size(), crypto::kAesGcmNonceSize);
  std::string_view body = sealed.substr(header.size() + nonce.size());
  EV_ASSIGN_OR_RETURN(crypto::SecureBuffer opened,
                      crypto::AesGcmOpen(key_.view(), nonce, body, Aad(header, user_id)));
  return std::string(opened.view());
}

}  // namespace edgevault::auth
