#pragma once
// Password hashing for the auth service: Argon2id (libsodium) stored as a PHC string, the
// password policy, and a dummy verification that evens out timing for unknown accounts.
// Spec: docs/design/password-hash.md. Thread-safe; every function may run on any thread.
//
//   PasswordParams params;  // OWASP minimum: m=19456 KiB, t=2, p=1
//   EV_RETURN_IF_ERROR(crypto::CheckPasswordPolicy(password, email));
//   EV_ASSIGN_OR_RETURN(std::string phc, crypto::HashPassword(password, params));
//   ...
//   if (!user) { crypto::DummyVerify(params); return Unauthenticated(); }
//   if (!crypto::VerifyPassword(password, user->phc)) return Unauthenticated();
//   if (crypto::NeedsRehash(user->phc, params)) StoreNewHash(HashPassword(password, params));

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace edgevault::crypto {

// Argon2id cost parameters. The defaults are the OWASP Password Storage Cheat Sheet minimum
// for Argon2id (19 MiB, 2 passes, 1 lane).
struct PasswordParams {
  uint32_t memory_kib = 19456;  // m; at least kMinMemoryKib unless allow_weak
  uint32_t iterations = 2;      // t; at least kMinIterations unless allow_weak
  uint32_t parallelism = 1;     // p; libsodium always computes one lane, so this must be 1
  // Lifts the OWASP floor (libsodium's own minimums still apply). Only for tests and
  // benchmarks; production configuration never sets it.
  bool allow_weak = false;

  static constexpr uint32_t kMinMemoryKib = 19456;
  static constexpr uint32_t kMinIterations = 2;

  // Cheap parameters for unit tests: 8 MiB, t=1, allow_weak.
  static PasswordParams ForTests() { return PasswordParams{8192, 1, 1, true}; }
};

// InvalidArgument naming the offending field ("memory_kib", "iterations" or "parallelism")
// when parallelism != 1, or memory/iterations are below the OWASP floor (without allow_weak)
// or below libsodium's minimum (8 KiB, t=1).
absl::Status ValidatePasswordParams(const PasswordParams& params);

// Hashes `password` with a fresh random salt and returns the PHC string
// "$argon2id$v=19$m=19456,t=2,p=1$<salt b64>$<hash b64>".
// Errors: InvalidArgument (bad params, see ValidatePasswordParams), ResourceExhausted (could
// not allocate the memory the parameters ask for), Internal (libsodium failed to start).
absl::StatusOr<std::string> HashPassword(std::string_view password, const PasswordParams& params);

// True only when `phc` is an Argon2id PHC string and `password` matches it. False for a wrong
// password and for an empty, truncated or otherwise malformed hash; never throws.
bool VerifyPassword(std::string_view password, std::string_view phc);

// True when the stored hash should be replaced at the next successful login: its memory or
// iterations are below `params`, or it is not a well-formed Argon2id (v=19) PHC string.
// A hash stronger than the configuration is kept.
bool NeedsRehash(std::string_view phc, const PasswordParams& params);

// The password policy for new passwords. InvalidArgument, with a message telling the user
// what to do, when the password is shorter than 12 characters (UTF-8 code points), longer
// than 1024 bytes, or equal to the email address (ignoring ASCII case).
absl::Status CheckPasswordPolicy(std::string_view password, std::string_view email);

// Spends the time of one VerifyPassword against a hash made with `params`; call it when the
// account does not exist so that both paths take comparable time. The dummy hash for each
// distinct (memory, iterations) pair is computed once, on first use.
void DummyVerify(const PasswordParams& params);

namespace internal {
// The cached dummy PHC string DummyVerify checks against (exposed for tests). Empty when the
// parameters are invalid.
std::string DummyHash(const PasswordParams& params);
}  // namespace internal

}  // namespace edgevault::crypto
