#pragma once
// QR codes as SVG for TOTP enrolment: the otpauth:// URI is shown to the user as an inline
// SVG image (libqrencode, 8-bit mode, error correction level M). Pure function; thread-safe
// (Debian's libqrencode is built with pthread support).
//
//   EV_ASSIGN_OR_RETURN(std::string svg, crypto::QrCodeSvg(crypto::TotpUri(...)));

#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace edgevault::crypto {

inline constexpr int kQrQuietZoneModules = 4;

// An <svg> document: white background, one black <path> made of one rectangle per horizontal
// run of dark modules, a 4-module quiet zone, viewBox in module units
// ("0 0 N N" with N = symbol width + 8), width/height N * module_px pixels and
// shape-rendering="crispEdges".
// Errors: InvalidArgument for empty text, text longer than a version-40 symbol holds
// (2331 bytes at level M) or module_px outside [1, 64]; ResourceExhausted/Internal when
// libqrencode fails otherwise.
absl::StatusOr<std::string> QrCodeSvg(std::string_view text, int module_px = 4);

}  // namespace edgevault::crypto
