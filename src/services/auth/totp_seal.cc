#include "src/services/auth/totp_seal.h"

#include <openssl/crypto.h>

#include "src/base/status.h"
#include "src/base/strings.h"
#include "src/crypto/keygen.h"
#include "src/crypto/keyring.h"

namespace edgevault::auth {
namespace {

constexpr std::string_view kAadLabel = "edgevault/totp-secret/v1";

absl::Status RequirePrivate(base::Env* env, const std::string& path, std::string_view what,
                            std::string_view chmod) {
  EV_ASSIGN_OR_RETURN(uint32_t mode, env->FileMode(path));
  if ((mode & 077) != 0) {
    return absl::PermissionDeniedError(base::StrCat(
        what, " ", path, " lets group or others access it; run `chmod ", chmod, " ", path, "`"));
  }
  return absl::OkStatus();
}

// AAD: label, NUL, the header (version, key id), NUL, the user id.
std::string Aad(std::string_view header, std::string_view user_id) {
  return base::StrCat(kAadLabel, std::string_view("\0", 1), header, std::string_view("\0", 1), user_id);
}

}  // namespace

absl::StatusOr<std::unique_ptr<TotpSealer>> TotpSealer::LoadOrCreate(base::Env* env,
                                                                     const std::string& dir) {
  if (env == nullptr) return absl::InvalidArgumentError("TotpSealer: null env");
  EV_RETURN_IF_ERROR(env->CreateDirs(dir, 0700));
  EV_RETURN_IF_ERROR(RequirePrivate(env, dir, "TOTP seal key directory", "700"));
  const std::string path = base::StrCat(dir, "/", kTotpSealKeyFile);
  if (!env->Exists(path)) {
    std::string text = crypto::GenerateSymmetricKeyFile(env);
    absl::Status written = env->WriteFileAtomically(path, text, 0600);
    OPENSSL_cleanse(text.data(), text.size());
    EV_RETURN_IF_ERROR(written);
  }
  EV_RETURN_IF_ERROR(RequirePrivate(env, path, "TOTP seal key file", "600"));
  EV_ASSIGN_OR_RETURN(std::string text, env->ReadFile(path));
  absl::StatusOr<crypto::SecureBuffer> key = crypto::ParseMasterKey(text);
  OPENSSL_cleanse(text.data(), text.size());
  if (!key.ok()) {
    return absl::InvalidArgumentError(
        base::StrCat("TOTP seal key file ", path, ": ", base::ToStd(key.status().message())));
  }
  return FromKey(env, std::string(kTotpSealKeyId), std::move(*key));
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
