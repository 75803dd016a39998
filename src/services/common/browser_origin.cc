#include "src/services/common/browser_origin.h"

#include <algorithm>
#include <charconv>

#include "absl/strings/ascii.h"

namespace edgevault::services {
namespace {

constexpr std::string_view kForm = "expected scheme://host[:port], e.g. https://app.example or http://127.0.0.1:5173";

absl::Status Bad(std::string_view origin, std::string_view why) {
  return absl::InvalidArgumentError("browser origin \"" + std::string(origin.substr(0, 100)) +
                                    "\": " + std::string(why) + "; " + std::string(kForm));
}

bool IsDnsName(std::string_view host) {
  if (host.empty() || host.size() > 253) return false;
  size_t start = 0;
  while (start <= host.size()) {
    size_t dot = host.find('.', start);
    std::string_view label = host.substr(start, dot == std::string_view::npos ? host.npos : dot - start);
    if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-') return false;
    for (char c : label) {
      if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '-') return false;
    }
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  return true;
}

bool IsIpv6Literal(std::string_view host) {
  if (host.size() < 4 || host.front() != '[' || host.back() != ']') return false;
  std::string_view inner = host.substr(1, host.size() - 2);
  return std::all_of(inner.begin(), inner.end(), [](char c) {
    return absl::ascii_isxdigit(static_cast<unsigned char>(c)) || c == ':' || c == '.';
  }) && inner.find(':') != std::string_view::npos;
}

}  // namespace

absl::StatusOr<std::string> NormalizeBrowserOrigin(std::string_view origin) {
  std::string o(origin);
  absl::AsciiStrToLower(&o);
  if (o.find('*') != std::string::npos) {
    return Bad(origin, "wildcards are not accepted (list each origin)");
  }
  std::string_view rest = o;
  std::string_view scheme;
  if (rest.substr(0, 8) == "https://") {
    scheme = "https";
  } else if (rest.substr(0, 7) == "http://") {
    scheme = "http";
  } else {
    return Bad(origin, "the scheme must be http or https");
  }
  rest.remove_prefix(scheme.size() + 3);
  if (rest.find_first_of("/?#@\\ ") != std::string_view::npos) {
    return Bad(origin, "an origin has no path, query, fragment or user info");
  }
  std::string_view host = rest, port;
  size_t colon = rest.rfind(':');
  if (colon != std::string_view::npos && rest.find(']', colon) == std::string_view::npos) {
    host = rest.substr(0, colon);
    port = rest.substr(colon + 1);
  }
  if (!IsDnsName(host) && !IsIpv6Literal(host)) return Bad(origin, "the host is not a DNS name or IP address");
  std::string out = std::string(scheme) + "://" + std::string(host);
  if (colon != std::string_view::npos && host.size() != rest.size()) {
    int n = 0;
    auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), n);
    if (port.empty() || ec != std::errc() || end != port.data() + port.size() || n < 1 || n > 65535 ||
        port.front() == '0') {
      return Bad(origin, "the port must be a number from 1 to 65535");
    }
    bool default_port = (scheme == "https" && n == 443) || (scheme == "http" && n == 80);
    if (!default_port) out.append(":").append(port);
  }
  return out;
}

absl::StatusOr<std::vector<std::string>> NormalizeBrowserOrigins(const std::vector<std::string>& origins) {
  if (origins.size() > kMaxBrowserOrigins) {
    return absl::InvalidArgumentError("field 'origins': at most " + std::to_string(kMaxBrowserOrigins) +
                                      " origins per key");
  }
  std::vector<std::string> out;
  for (size_t i = 0; i < origins.size(); ++i) {
    absl::StatusOr<std::string> o = NormalizeBrowserOrigin(origins[i]);
    if (!o.ok()) {
      return absl::InvalidArgumentError("field 'origins[" + std::to_string(i) + "]': " +
                                        std::string(o.status().message()));
    }
    if (std::find(out.begin(), out.end(), *o) == out.end()) out.push_back(*std::move(o));
  }
  return out;
}

}  // namespace edgevault::services
