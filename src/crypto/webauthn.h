#pragma once
// WebAuthn Level 2 relying-party verification for passkeys: registration (§7.1) and
// authentication assertions (§7.2) with ES256, EdDSA (Ed25519) and RS256 credential keys.
// Accepts attestation format "none" and "packed" self-attestation only; attestation trust
// chains are never checked (see docs/design/webauthn.md). Pure functions; thread-safe.
//
//   RegistrationExpectation want{.challenge = issued, .rp_id = "vault.example.com",
//                                .allowed_origins = {"https://vault.example.com"}};
//   EV_ASSIGN_OR_RETURN(RegisteredCredential cred,
//                       VerifyRegistration(client_data_json, attestation_object, want));
//   // store cred.credential_id, cred.public_key_cose, cred.sign_count, ...
//
// Error codes, for every function below:
//   InvalidArgument     malformed input (JSON, CBOR, authenticator data, COSE key, base64url
//                       challenge) or an unusable expectation (empty challenge/rp_id/origins);
//   PermissionDenied    a check failed: type, challenge, origin, crossOrigin, rpIdHash, flags,
//                       algorithm not allowed, attestation format, signature;
//   FailedPrecondition  the signature counter did not increase (possible cloned authenticator).
// Messages name the check that failed.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "src/base/env.h"

namespace edgevault::crypto {

// COSE algorithm identifiers we verify.
inline constexpr int32_t kCoseEs256 = -7;
inline constexpr int32_t kCoseEdDsa = -8;
inline constexpr int32_t kCoseRs256 = -257;

struct RegistrationExpectation {
  std::string challenge;                     // raw bytes, as issued by NewChallenge
  std::string rp_id;                         // e.g. "vault.example.com"
  std::vector<std::string> allowed_origins;  // exact match, e.g. "https://vault.example.com"
  bool require_user_verification = false;
  std::vector<int32_t> allowed_algorithms = {kCoseEs256, kCoseEdDsa, kCoseRs256};
};

// What a relying party stores per credential after a successful registration.
struct RegisteredCredential {
  std::string credential_id;    // raw bytes from the attested credential data
  std::string public_key_cose;  // the COSE_Key bytes exactly as the authenticator sent them
  int32_t algorithm = 0;        // COSE alg of the key
  uint32_t sign_count = 0;
  std::string aaguid;  // 16 raw bytes (all zero for most passkey providers)
  bool user_verified = false;
  bool backup_eligible = false;    // BE flag
  bool backed_up = false;          // BS flag
  std::string attestation_format;  // "none" or "packed"
};

// Verifies a navigator.credentials.create() response. `client_data_json` and
// `attestation_object` are the raw bytes of response.clientDataJSON and
// response.attestationObject. The caller must still check that credential_id equals the
// response's rawId and is not yet registered to any user (§7.1 step 22).
absl::StatusOr<RegisteredCredential> VerifyRegistration(std::string_view client_data_json,
                                                        std::string_view attestation_object,
                                                        const RegistrationExpectation& expected);

struct AssertionExpectation {
  std::string challenge;  // raw bytes
  std::string rp_id;
  std::vector<std::string> allowed_origins;
  bool require_user_verification = false;
  std::string public_key_cose;  // RegisteredCredential::public_key_cose of the credential used
  uint32_t stored_sign_count = 0;
};

struct VerifiedAssertion {
  uint32_t sign_count = 0;  // store this as the credential's new stored_sign_count
  bool user_verified = false;
  bool backed_up = false;
};

// Verifies a navigator.credentials.get() response: raw response.clientDataJSON,
// response.authenticatorData and response.signature. The caller looks up the credential by
// rawId (and, for discoverable credentials, checks userHandle) before calling.
// Counter rule: when the stored or the new count is nonzero, the new count must be greater
// than the stored one, else FailedPrecondition; both zero (counterless passkeys) passes.
absl::StatusOr<VerifiedAssertion> VerifyAssertion(std::string_view client_data_json,
                                                  std::string_view authenticator_data,
                                                  std::string_view signature,
                                                  const AssertionExpectation& expected);

// 32 random bytes from env->RandomBytes, to send (base64url) as the ceremony's challenge.
std::string NewChallenge(base::Env* env);

}  // namespace edgevault::crypto
