#pragma once
// Byte encodings used on the wire and in files: hex, base64 (RFC 4648 §4) and base64url
// without padding (§5, as JWT/JWK/WebAuthn use it), base32 (§6, as TOTP secrets use it).
// Pure functions; thread-safe.
//
//   std::string s = base::Base64UrlEncode(bytes);
//   absl::StatusOr<std::string> raw = base::Base64UrlDecode(s);

#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace edgevault::base {

std::string HexEncode(std::string_view bytes);
// InvalidArgument on odd length or a non-hex character.
absl::StatusOr<std::string> HexDecode(std::string_view hex);

std::string Base64Encode(std::string_view bytes);  // with '=' padding
// Accepts padded or unpadded input; InvalidArgument on any other character.
absl::StatusOr<std::string> Base64Decode(std::string_view text);

std::string Base64UrlEncode(std::string_view bytes);  // no padding
// RFC 3986 percent-encoding: every byte but the unreserved A-Z a-z 0-9 - . _ ~ as %XX
// (upper-case hex); for query values and URI components.
std::string PercentEncode(std::string_view text);
// Accepts unpadded input (and tolerates trailing '='); InvalidArgument otherwise.
absl::StatusOr<std::string> Base64UrlDecode(std::string_view text);

std::string Base32Encode(std::string_view bytes);  // RFC 4648 alphabet, no padding
// Case-insensitive, ignores spaces and '=' padding; InvalidArgument otherwise.
absl::StatusOr<std::string> Base32Decode(std::string_view text);

}  // namespace edgevault::base
