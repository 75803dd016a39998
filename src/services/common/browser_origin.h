#pragma once
// Browser origins of client SDK keys (docs/delivery.md, "Client keys"): the one accepted
// form and its normalisation, so that delivery can compare a request's `Origin` header with
// a key's origins byte for byte. Pure functions; thread-safe.
//
//   EV_ASSIGN_OR_RETURN(std::string o, services::NormalizeBrowserOrigin("HTTPS://App.Example:443"));
//   // o == "https://app.example"
//
// The form is `scheme://host[:port]`, exactly what a browser sends in `Origin`:
//   - scheme `http` or `https`;
//   - host a DNS name (labels of letters, digits and '-', not starting or ending with '-',
//     separated by single dots; no trailing dot), an IPv4 address, or `[` IPv6 `]`;
//   - port 1..65535 without leading zeros; the scheme's default (80, 443) is dropped;
//   - nothing else: no path (not even "/"), query, fragment, user info, and no wildcard.
//     Wildcards are refused on purpose: `https://*.example` would admit any subdomain,
//     including one an attacker controls through a dangling DNS record. List each origin.

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace edgevault::services {

// The normalised origin (lower case, default port dropped). InvalidArgument naming what
// is wrong and the expected form otherwise.
absl::StatusOr<std::string> NormalizeBrowserOrigin(std::string_view origin);

// The origins of a client key, each normalised, duplicates removed, order kept.
// InvalidArgument (naming the field `origins[i]`) for a bad one or more than kMaxOrigins.
inline constexpr size_t kMaxBrowserOrigins = 32;
absl::StatusOr<std::vector<std::string>> NormalizeBrowserOrigins(
    const std::vector<std::string>& origins);

}  // namespace edgevault::services
