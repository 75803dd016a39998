#pragma once
// The TOTP seal: how edgevault-auth keeps TOTP secrets out of control.db in clear text.
// A storage::SecretSealer over AES-256-GCM with a 256-bit key that only auth holds,
// <keys_dir>/auth/totp-seal.key (docs/design/key-files.md); the sealed format, with its
// version and key id (so the key can rotate later), is docs/design/sealed-totp.md. The
// AAD binds the user id: a sealed secret copied to another user's row fails to open.
//
// Thread-safety: Seal and Open may be called concurrently (the key is immutable; nonces
// come from the Env's random source).
//
//   EV_ASSIGN_OR_RETURN(auto sealer, auth::TotpSealer::LoadOrCreate(env, keys_dir + "/auth"));
//   store_options.totp_sealer = sealer.get();

#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "src/base/env.h"
#include "src/crypto/aead.h"
#include "src/storage/secret_sealer.h"

namespace edgevault::auth {

inline constexpr std::string_view kTotpSealKeyFile = "totp-seal.key";
// The id sealed secrets name for the key in totp-seal.key (docs/design/sealed-totp.md).
inline constexpr std::string_view kTotpSealKeyId = "t1";
inline constexpr unsigned char kSealedTotpVersion = 1;

class TotpSealer final : public storage::SecretSealer {
 public:
  // Loads `dir`/totp-seal.key (64 hex characters, the master.key format). When it is
  // missing, creates `dir` (0700) and a new random key file (0600) first, so an install
  // from before sealing migrates at its next start without an operator step.
  // Errors: PermissionDenied when the directory or file lets group or others in (the
  // message names the chmod); InvalidArgument when the file is not a key; the Env's errors.
  static absl::StatusOr<std::unique_ptr<TotpSealer>> LoadOrCreate(base::Env* env,
                                                                   const std::string& dir);
  // A sealer over `key` (32 bytes) named `key_id` (1 to 8 of [a-z0-9_-]). InvalidArgument
  // otherwise. For tests and a later rotation.
  static absl::StatusOr<std::unique_ptr<TotpSealer>> FromKey(base::Env* env, std::string key_id,
                                                             crypto::SecureBuffer key);

  absl::StatusOr<std::string> Seal(std::string_view plaintext,
                                   std::string_view user_id) const override;
  absl::StatusOr<std::string> Open(std::string_view sealed,
                                   std::string_view user_id) const override;

 private:
  TotpSealer(base::Env* env, std::string key_id, crypto::SecureBuffer key)
      : env_(env), key_id_(std::move(key_id)), key_(std::move(key)) {}
  std::string Header() const;

  base::Env* const env_;
  const std::string key_id_;
  const crypto::SecureBuffer key_;
};

}  // namespace edgevault::auth
