#pragma once
// Seals a small secret for storage and opens it again (authenticated encryption bound to a
// context such as the owning user's id). A store that keeps a secret the service must read
// back in full — a TOTP secret, unlike a password or token, cannot be stored as a hash —
// is given a sealer, so its rows hold only sealed bytes and the database file (and every
// process that can open it) never sees the secret. The key stays with whoever constructed
// the sealer (the auth service: src/services/auth/totp_seal.h).
//
// Thread-safety: implementations are safe to call concurrently.
//
//   EV_ASSIGN_OR_RETURN(std::string sealed, sealer.Seal(secret, user_id));
//   EV_ASSIGN_OR_RETURN(std::string secret, sealer.Open(sealed, user_id));

#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace edgevault::storage {

class SecretSealer {
 public:
  virtual ~SecretSealer() = default;
  // Errors: Internal when the cipher fails.
  virtual absl::StatusOr<std::string> Seal(std::string_view plaintext,
                                           std::string_view context) const = 0;
  // Errors: DataLoss when the bytes do not authenticate (tampered, moved to another
  // context, sealed under another key); InvalidArgument when they are not in the sealed
  // format; FailedPrecondition when they name a key this sealer does not hold.
  virtual absl::StatusOr<std::string> Open(std::string_view sealed,
                                           std::string_view context) const = 0;
};

}  // namespace edgevault::storage
