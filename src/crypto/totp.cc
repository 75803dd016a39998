#include "src/crypto/totp.h"

#include <algorithm>
#include <limits>
#include <set>

#include "src/base/check.h"
#include "src/base/encoding.h"
#include "src/crypto/hash.h"

namespace edgevault::crypto {
namespace {

// Crockford's base32 alphabet, lower case: no i, l, o, u.
constexpr std::string_view kRecoveryAlphabet = "0123456789abcdefghjkmnpqrstvwxyz";
constexpr int kRecoveryChars = 12;  // 12 * 5 = 60 bits
constexpr int kRecoveryGroup = 4;

}  // namespace

namespace internal {

std::string HotpCode(std::string_view secret, uint64_t counter, int digits) {
  EV_DCHECK(digits >= 1 && digits <= 9);
  digits = std::clamp(digits, 1, 9);
  char message[8];
  for (int i = 7; i >= 0; --i) {
    message[i] = static_cast<char>(counter & 0xFF);
    counter >>= 8;
  }
  std::string mac = HmacSha1(secret, std::string_view(message, sizeof message));
  // RFC 4226 §5.3 dynamic truncation.
  const int offset = static_cast<unsigned char>(mac[19]) & 0x0F;
  const uint32_t binary = (static_cast<uint32_t>(static_cast<unsigned char>(mac[offset]) & 0x7F)
                           << 24) |
                          (static_cast<uint32_t>(static_cast<unsigned char>(mac[offset + 1]))
                           << 16) |
                          (static_cast<uint32_t>(static_cast<unsigned char>(mac[offset + 2]))
                           << 8) |
                          static_cast<uint32_t>(static_cast<unsigned char>(mac[offset + 3]));
  uint32_t modulus = 1;
  for (int i = 0; i < digits; ++i) modulus *= 10;
  uint32_t value = binary % modulus;
  std::string out(static_cast<size_t>(digits), '0');
  for (int i = digits - 1; i >= 0; --i) {
    out[static_cast<size_t>(i)] = static_cast<char>('0' + value % 10);
    value /= 10;
  }
  return out;
}

std::string PercentEncode(std::string_view text) { return base::PercentEncode(text); }

}  // namespace internal

std::string GenerateTotpSecret(base::Env* env) {
  std::string secret(kTotpSecretBytes, '\0');
  env->RandomBytes(secret.data(), secret.size());
  return secret;
}

int64_t TotpStep(absl::Time now) {
  const int64_t seconds = absl::ToUnixSeconds(now);  // rounds toward negative infinity
  int64_t step = seconds / kTotpPeriodSeconds;
  if (seconds % kTotpPeriodSeconds < 0) --step;  // floor, not truncation, before 1970
  return step;
}

std::string TotpCode(std::string_view secret, int64_t step) {
  return internal::HotpCode(secret, static_cast<uint64_t>(step), kTotpDigits);
}

std::optional<int64_t> MatchTotp(std::string_view secret, std::string_view code, absl::Time now,
                                 int window) {
  if (code.size() != static_cast<size_t>(kTotpDigits)) return std::nullopt;
  for (char c : code) {
    if (c < '0' || c > '9') return std::nullopt;
  }
  window = std::clamp(window, 0, kTotpMaxWindow);
  const int64_t step = TotpStep(now);
  std::optional<int64_t> match;
  // Every candidate is computed and compared, so the time does not reveal which one matched.
  for (int delta = -window; delta <= window; ++delta) {
    if (delta < 0 && step < std::numeric_limits<int64_t>::min() - delta) continue;
    if (delta > 0 && step > std::numeric_limits<int64_t>::max() - delta) continue;
    const int64_t candidate = step + delta;
    const bool equal = ConstantTimeEquals(TotpCode(secret, candidate), code);
    if (equal && !match) match = candidate;
  }
  return match;
}

std::string TotpUri(std::string_view issuer, std::string_view account, std::string_view secret) {
  const std::string encoded_issuer = internal::PercentEncode(issuer);
  return "otpauth://totp/" + encoded_issuer + ":" + internal::PercentEncode(account) +
         "?secret=" + base::Base32Encode(secret) + "&issuer=" + encoded_issuer +
         "&algorithm=SHA1&digits=6&period=30";
}

std::vector<std::string> GenerateRecoveryCodes(base::Env* env, int n) {
  std::vector<std::string> codes;
  if (n <= 0) return codes;
  codes.reserve(static_cast<size_t>(n));
  std::set<std::string> seen;
  while (codes.size() < static_cast<size_t>(n)) {
    unsigned char random[kRecoveryChars];
    env->RandomBytes(random, sizeof random);
    std::string code;
    for (int i = 0; i < kRecoveryChars; ++i) {
      if (i > 0 && i % kRecoveryGroup == 0) code.push_back('-');
      code.push_back(kRecoveryAlphabet[random[i] & 0x1F]);  // 256 % 32 == 0: unbiased
    }
    if (seen.insert(code).second) codes.push_back(std::move(code));
  }
  return codes;
}

std::string NormalizeRecoveryCode(std::string_view code) {
  std::string out;
  out.reserve(code.size());
  for (char c : code) {
    if (c == ' ' || c == '\t' || c == '-') continue;
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (c == 'o') c = '0';
    if (c == 'i' || c == 'l') c = '1';
    out.push_back(c);
  }
  return out;
}

}  // namespace edgevault::crypto
