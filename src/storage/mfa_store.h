#pragma once
// Second factors kept in the control DB: each user's TOTP state (RFC 6238 secret, whether
// enrolment finished, the last accepted time step) and hashed one-time recovery codes
// (DESIGN.md §7). The auth service owns it. TotpState carries the raw secret; at rest a
// backend stores it only sealed with the SecretSealer it was opened with
// (docs/design/sealed-totp.md).
//
// Thread-safety: every method may be called concurrently; each call is atomic.
//
// Error codes (every backend; driver errors never leak):
//   NotFound           no TOTP state for the user
//   InvalidArgument    empty user id
//   FailedPrecondition the store was opened without a sealer, so it can neither write a
//                      TOTP secret nor read a sealed one
//   DataLoss           a stored secret does not authenticate (tampered, moved to another
//                      user, sealed under another key)
//   Unavailable        the database is busy or unreachable; the caller may retry
//   Internal           anything else
//
//   EV_ASSIGN_OR_RETURN(storage::TotpState totp, mfa.GetTotp(user_id));
//   EV_ASSIGN_OR_RETURN(bool fresh, mfa.AdvanceTotpStep(user_id, step));

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "src/storage/control_types.h"

namespace edgevault::storage {

class MfaStore {
 public:
  virtual ~MfaStore() = default;

  // TOTP. PutTotp replaces any previous state of the user.
  virtual absl::Status PutTotp(const TotpState& state) = 0;
  virtual absl::StatusOr<TotpState> GetTotp(std::string_view user_id) = 0;
  virtual absl::Status ConfirmTotp(std::string_view user_id) = 0;
  // Atomically records `step` as used when it is greater than last_step; returns false
  // (and changes nothing) when it is not, which is how a replayed code is refused.
  virtual absl::StatusOr<bool> AdvanceTotpStep(std::string_view user_id, int64_t step) = 0;
  virtual absl::Status DeleteTotp(std::string_view user_id) = 0;  // also deletes recovery codes

  // Recovery codes, stored as SHA-256 hex.
  virtual absl::Status ReplaceRecoveryCodes(std::string_view user_id,
                                            const std::vector<std::string>& code_hashes) = 0;
  // Marks the code used; false when unknown or already used.
  virtual absl::StatusOr<bool> ConsumeRecoveryCode(std::string_view user_id,
                                                   std::string_view code_hash) = 0;
  virtual absl::StatusOr<int64_t> CountUnusedRecoveryCodes(std::string_view user_id) = 0;
};

}  // namespace edgevault::storage
