#pragma once
// Hashes, MACs and comparisons shared by identity code: SHA-256 for stored token hashes,
// HMAC for TOTP and keyed correlation, constant-time equality for anything secret.
// Pure functions over OpenSSL 3; thread-safe.
//
//   std::string digest = crypto::Sha256(token);               // 32 raw bytes
//   bool same = crypto::ConstantTimeEquals(a, b);

#include <string>
#include <string_view>

namespace edgevault::crypto {

std::string Sha256(std::string_view data);                            // 32 bytes
std::string Sha256Hex(std::string_view data);                         // 64 hex chars
// A strong HTTP ETag for `data`: the first 32 hex digits of SHA-256, quoted ("\"3f2a...\"").
std::string Sha256Etag(std::string_view data);
std::string HmacSha1(std::string_view key, std::string_view data);    // 20 bytes
std::string HmacSha256(std::string_view key, std::string_view data);  // 32 bytes

// True when a and b have equal length and bytes; time depends only on the lengths.
bool ConstantTimeEquals(std::string_view a, std::string_view b);

}  // namespace edgevault::crypto
