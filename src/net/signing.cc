#include "src/net/signing.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <charconv>
#include <cstring>

#include "src/base/check.h"
#include "src/base/strings.h"

namespace edgevault::net {
namespace {

constexpr size_t kNonceBytes = 16;
constexpr size_t kSha256Bytes = 32;
constexpr char kHexDigits[] = "0123456789abcdef";

std::string HexEncode(const uint8_t* data, size_t n) {
  std::string out(2 * n, '\0');
  for (size_t i = 0; i < n; ++i) {
    out[2 * i] = kHexDigits[data[i] >> 4];
    out[2 * i + 1] = kHexDigits[data[i] & 0xf];
  }
  return out;
}

int LowerHexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

// Decodes exactly 2 * out.size() lower-case hex characters. False on anything else.
bool DecodeLowerHex(std::string_view hex, std::span<uint8_t> out) {
  if (hex.size() != 2 * out.size()) return false;
  for (size_t i = 0; i < out.size(); ++i) {
    int hi = LowerHexValue(hex[2 * i]);
    int lo = LowerHexValue(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return false;
    out[i] = static_cast<uint8_t>((hi << 4) | lo);
  }
  return true;
}

// Unix seconds as written by Sign: 1 to 18 ASCII digits (18 keeps it far from overflow).
bool ParseTimestamp(std::string_view text, int64_t* out) {
  if (text.empty() || text.size() > 18) return false;
  int64_t v = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + (c - '0');
  }
  *out = v;
  return true;
}

std::string Sha256Hex(std::string_view data) {
  uint8_t digest[kSha256Bytes];
  unsigned int len = 0;
  // Fails only on allocation failure inside OpenSSL; nothing sensible to continue with.
  EV_CHECK(EVP_Digest(data.data(), data.size(), digest, &len, EVP_sha256(), nullptr) == 1);
  EV_CHECK(len == kSha256Bytes);
  return HexEncode(digest, sizeof digest);
}

std::array<uint8_t, kSha256Bytes> ComputeMac(const InternalKey& key, std::string_view method,
                                             std::string_view target, std::string_view timestamp,
                                             std::string_view nonce, std::string_view body) {
  std::string canonical =
      base::StrCat(method, "\n", target, "\n", timestamp, "\n", nonce, "\n", Sha256Hex(body));
  std::array<uint8_t, kSha256Bytes> mac;
  unsigned int len = 0;
  EV_CHECK(HMAC(EVP_sha256(), key.bytes.data(), static_cast<int>(key.bytes.size()),
                reinterpret_cast<const unsigned char*>(canonical.data()), canonical.size(),
                mac.data(), &len) != nullptr);
  EV_CHECK(len == mac.size());
  return mac;
}

// "0644" for mode 0644.
std::string OctalMode(uint32_t mode) {
  char buf[12];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, mode, 8);
  std::string digits(buf, end);
  return std::string(digits.size() < 4 ? 4 - digits.size() : 0, '0') + digits;
}

bool HasLineBreak(std::string_view s) { return s.find_first_of("\r\n") != std::string_view::npos; }

absl::Status Unauthenticated(std::string_view what) {
  return absl::UnauthenticatedError(base::StrCat("internal request signature: ", what));
}

}  // namespace

InternalKey::InternalKey(std::span<const uint8_t, kInternalKeySize> key_bytes) {
  std::copy(key_bytes.begin(), key_bytes.end(), bytes.begin());
}

InternalKey::~InternalKey() { OPENSSL_cleanse(bytes.data(), bytes.size()); }

absl::StatusOr<InternalKey> ParseInternalKey(std::string_view text) {
  std::string_view hex = text;
  if (!hex.empty() && hex.back() == '\n') hex.remove_suffix(1);
  InternalKey key;
  if (hex.size() != 2 * kInternalKeySize || !DecodeLowerHex(hex, key.bytes)) {
    // Never echo the text: it may be a nearly-right key.
    return absl::InvalidArgumentError(
        base::StrCat("want exactly ", 2 * kInternalKeySize,
                     " lower-case hex characters and an optional trailing newline, got ",
                     text.size(), " bytes that do not match; regenerate the key file"));
  }
  return key;
}

absl::StatusOr<InternalKey> LoadInternalKey(base::Env* env, const std::string& path) {
  EV_ASSIGN_OR_RETURN(uint32_t mode, env->FileMode(path));
  if ((mode & 077) != 0) {
    return absl::PermissionDeniedError(
        base::StrCat("internal key file ", path, " has mode ", OctalMode(mode),
                     ", which lets group or others access it; run `chmod 600 ", path, "`"));
  }
  EV_ASSIGN_OR_RETURN(std::string text, env->ReadFile(path));
  absl::StatusOr<InternalKey> key = ParseInternalKey(text);
  OPENSSL_cleanse(text.data(), text.size());
  if (!key.ok()) {
    return absl::InvalidArgumentError(
        base::StrCat("internal key file ", path, ": ", key.status().message()));
  }
  return key;
}

std::string GenerateInternalKeyFile(base::Env* env) {
  return base::StrCat(env->RandomHex(kInternalKeySize), "\n");
}

SignedHeaders Sign(const InternalKey& key, std::string_view method, std::string_view target,
                   std::string_view body, absl::Time now, base::Env* env) {
  EV_DCHECK(!HasLineBreak(method) && !HasLineBreak(target));
  SignedHeaders out;
  out.timestamp = base::StrCat(absl::ToUnixSeconds(now));
  out.nonce = env->RandomHex(kNonceBytes);
  auto mac = ComputeMac(key, method, target, out.timestamp, out.nonce, body);
  out.signature = HexEncode(mac.data(), mac.size());
  return out;
}

size_t SignatureVerifier::NonceHash::operator()(const Nonce& n) const {
  // Nonces are random and only key holders can insert them, so no flooding concern.
  size_t h;
  std::memcpy(&h, n.data(), sizeof h);
  return h;
}

SignatureVerifier::SignatureVerifier(const InternalKey& key, SignatureVerifierOptions options)
    : key_(key), options_(options) {
  EV_CHECK(options_.window > absl::ZeroDuration());
}

absl::Status SignatureVerifier::Verify(std::string_view method, std::string_view target,
                                       std::string_view timestamp_header,
                                       std::string_view nonce_header,
                                       std::string_view signature_header, std::string_view body,
                                       absl::Time now) {
  if (timestamp_header.empty()) return Unauthenticated("missing X-EV-Timestamp header");
  if (nonce_header.empty()) return Unauthenticated("missing X-EV-Nonce header");
  if (signature_header.empty()) return Unauthenticated("missing X-EV-Signature header");
  // The canonical string separates fields by '\n'; a field containing one could shift them.
  if (method.empty() || target.empty() || HasLineBreak(method) || HasLineBreak(target)) {
    return Unauthenticated("malformed request line");
  }
  int64_t timestamp;
  if (!ParseTimestamp(timestamp_header, &timestamp)) {
    return Unauthenticated("malformed X-EV-Timestamp (want unix seconds in decimal digits)");
  }
  Nonce nonce;
  if (!DecodeLowerHex(nonce_header, nonce)) {
    return Unauthenticated("malformed X-EV-Nonce (want 32 lower-case hex characters)");
  }
  std::array<uint8_t, kSha256Bytes> presented;
  if (!DecodeLowerHex(signature_header, presented)) {
    return Unauthenticated("malformed X-EV-Signature (want 64 lower-case hex characters)");
  }

  const absl::Time signed_at = absl::FromUnixSeconds(timestamp);
  const absl::Duration skew = now - signed_at;
  if (skew > options_.window || skew < -options_.window) {
    return Unauthenticated(base::StrCat(
        "stale X-EV-Timestamp: ", absl::FormatDuration(absl::AbsDuration(skew)),
        skew > absl::ZeroDuration() ? " behind" : " ahead of", " this server's clock, outside the ",
        absl::FormatDuration(options_.window), " window; check clock sync between the hosts"));
  }

  auto expected = ComputeMac(key_, method, target, timestamp_header, nonce_header, body);
  if (CRYPTO_memcmp(expected.data(), presented.data(), expected.size()) != 0) {
    return Unauthenticated("bad signature (wrong key, or request altered after signing)");
  }

  std::lock_guard lock(mu_);
  ExpireLocked(now);
  if (seen_.contains(nonce)) return Unauthenticated("replayed nonce");
  if (seen_.size() >= options_.max_nonces) {
    return absl::ResourceExhaustedError(
        base::StrCat("internal request signature: replay cache full (", seen_.size(),
                     " nonces within the window); rejecting rather than forgetting a live nonce"));
  }
  seen_.insert(nonce);
  expiry_heap_.push_back(Entry{signed_at + options_.window, nonce});
  std::push_heap(expiry_heap_.begin(), expiry_heap_.end(), LaterExpiry());
  return absl::OkStatus();
}

size_t SignatureVerifier::RememberedNonces() {
  std::lock_guard lock(mu_);
  return seen_.size();
}

void SignatureVerifier::ExpireLocked(absl::Time now) {
  while (!expiry_heap_.empty() && expiry_heap_.front().expires < now) {
    std::pop_heap(expiry_heap_.begin(), expiry_heap_.end(), LaterExpiry());
    seen_.erase(expiry_heap_.back().nonce);
    expiry_heap_.pop_back();
  }
}

}  // namespace edgevault::net
