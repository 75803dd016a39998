#pragma once
// Second factors for the auth service: RFC 6238 TOTP (HMAC-SHA1, 30 s step, 6 digits, T0 = 0,
// what every authenticator app defaults to), its otpauth:// enrolment URI, and one-time
// recovery codes. Spec: docs/design/password-hash.md. Pure functions; thread-safe.
//
//   std::string secret = crypto::GenerateTotpSecret(env);     // store encrypted
//   std::string uri = crypto::TotpUri("EdgeVault", email, secret);  // show as a QR code
//   std::optional<int64_t> step = crypto::MatchTotp(secret, code, env->Now());
//   if (!step || *step <= user.last_totp_step) return Unauthenticated();  // replay guard
//
// MatchTotp does not remember used steps; the caller stores the returned step and rejects
// any step at or before it, so a code cannot be replayed inside its window.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/time/time.h"
#include "src/base/env.h"

namespace edgevault::crypto {

inline constexpr int kTotpDigits = 6;
inline constexpr int64_t kTotpPeriodSeconds = 30;
inline constexpr size_t kTotpSecretBytes = 20;  // RFC 4226 §4 recommends 160 bits
inline constexpr int kTotpMaxWindow = 10;

// 20 random bytes from `env` (raw; Base32 is only for the URI).
std::string GenerateTotpSecret(base::Env* env);

// floor((now - 1970-01-01) / 30 s); negative before the epoch.
int64_t TotpStep(absl::Time now);

// The 6-digit code for `step`, zero-padded ("000123").
std::string TotpCode(std::string_view secret, int64_t step);

// The step in [step(now) - window, step(now) + window] whose code equals `code`, comparing
// every candidate in constant time. nullopt for a wrong code and for a malformed one (not
// exactly 6 ASCII digits). `window` is clamped to [0, kTotpMaxWindow].
std::optional<int64_t> MatchTotp(std::string_view secret, std::string_view code, absl::Time now,
                                 int window = 1);

// "otpauth://totp/<Issuer>:<account>?secret=<BASE32>&issuer=<Issuer>&algorithm=SHA1&digits=6
// &period=30", issuer and account percent-encoded (everything but RFC 3986 unreserved
// characters, so ':' '@' and spaces are escaped too).
std::string TotpUri(std::string_view issuer, std::string_view account, std::string_view secret);

// `n` distinct recovery codes like "k7q2-m9xa-4trp": 12 characters from Crockford's base32
// alphabet in lower case (no i, l, o, u), so 60 bits of entropy each. Empty for n <= 0.
std::vector<std::string> GenerateRecoveryCodes(base::Env* env, int n = 10);

// The form a recovery code is hashed (SHA-256) and compared in: ASCII-lowercased, spaces,
// tabs and dashes removed, and the look-alikes a user may type mapped as Crockford does
// (o -> 0, i and l -> 1). "K7Q2 M9XA-4TRP" -> "k7q2m9xa4trp".
std::string NormalizeRecoveryCode(std::string_view code);

namespace internal {
// RFC 4226 HOTP with dynamic truncation: `digits` (1..9) zero-padded digits for `counter`.
// TotpCode(secret, step) == HotpCode(secret, step, 6). Exposed for the RFC test vectors.
std::string HotpCode(std::string_view secret, uint64_t counter, int digits);
// Percent-encodes all but RFC 3986 unreserved characters, upper-case hex.
std::string PercentEncode(std::string_view text);
}  // namespace internal

}  // namespace edgevault::crypto
