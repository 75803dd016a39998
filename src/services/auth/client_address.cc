#include "src/services/auth/client_address.h"

#include <array>
#include <optional>

#include "src/base/strings.h"

namespace edgevault::auth {
namespace {

namespace ip = boost::asio::ip;

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// An IP address exactly as written; an IPv4-mapped IPv6 address as its IPv4 address.
std::optional<ip::address> MakeAddress(std::string_view s) {
  boost::system::error_code ec;
  ip::address a = ip::make_address(std::string(s), ec);
  if (ec) return std::nullopt;
  if (a.is_v6() && a.to_v6().is_v4_mapped()) return ip::make_address_v4(ip::v4_mapped, a.to_v6());
  return a;
}

// "1.2.3.4", "1.2.3.4:80", "2001:db8::1", "[2001:db8::1]", "[2001:db8::1]:443".
std::optional<ip::address> ParseAddress(std::string_view s) {
  s = Trim(s);
  if (s.empty() || s.size() > 64) return std::nullopt;
  if (s.front() == '[') {
    size_t close = s.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    s = s.substr(1, close - 1);
  } else if (s.find(':') != std::string_view::npos && s.find(':') == s.rfind(':') &&
             s.find('.') != std::string_view::npos) {
    s = s.substr(0, s.find(':'));  // IPv4 with a port
  }
  return MakeAddress(s);
}

// The address part of net::Request::remote_address() ("address:port").
std::optional<ip::address> PeerAddress(std::string_view peer) {
  size_t colon = peer.rfind(':');
  return MakeAddress(colon == std::string_view::npos ? peer : peer.substr(0, colon));
}

std::string KeyOf(const ip::address& a) {
  if (a.is_v4()) return a.to_string();
  ip::address_v6::bytes_type b = a.to_v6().to_bytes();
  for (size_t i = 8; i < b.size(); ++i) b[i] = 0;
  return ip::address_v6(b).to_string() + "/64";
}

bool InV4(const ip::network_v4& net, const ip::address_v4& a) {
  uint32_t mask = net.prefix_length() == 0 ? 0 : ~uint32_t{0} << (32 - net.prefix_length());
  return (a.to_uint() & mask) == (net.address().to_uint() & mask);
}

bool InV6(const ip::network_v6& net, const ip::address_v6& a) {
  ip::address_v6::bytes_type x = a.to_bytes(), n = net.address().to_bytes();
  unsigned bits = net.prefix_length();
  for (size_t i = 0; i < x.size() && bits > 0; ++i) {
    unsigned take = bits >= 8 ? 8 : bits;
    uint8_t mask = static_cast<uint8_t>(0xff << (8 - take));
    if ((x[i] & mask) != (n[i] & mask)) return false;
    bits -= take;
  }
  return true;
}

}  // namespace

absl::StatusOr<ClientAddressResolver> ClientAddressResolver::Create(ClientAddressOptions options) {
  ClientAddressResolver r;
  for (const std::string& entry : options.trusted_proxies) {
    std::string e(Trim(entry));
    if (e.empty()) continue;
    boost::system::error_code ec;
    if (e.find('/') == std::string::npos) {
      ip::address a = ip::make_address(e, ec);
      if (!ec) {
        e += a.is_v4() ? "/32" : "/128";
      }
    }
    if (!ec) {
      if (e.find(':') == std::string::npos) {
        ip::network_v4 n = ip::make_network_v4(e, ec);
        if (!ec) r.v4_.push_back(n);
      } else {
        ip::network_v6 n = ip::make_network_v6(e, ec);
        if (!ec) r.v6_.push_back(n);
      }
    }
    if (ec) {
      return absl::InvalidArgumentError(base::StrCat(
          "trusted proxy \"", entry, "\" is not an IP address or CIDR range such as 10.0.0.0/8"));
    }
  }
  if (!options.header.empty() && r.v4_.empty() && r.v6_.empty()) {
    return absl::InvalidArgumentError(base::StrCat(
        "the client address header \"", options.header,
        "\" is only read from trusted proxies; list them (auth.trusted_proxies) or unset the header"));
  }
  r.options_ = std::move(options);
  return r;
}

bool ClientAddressResolver::Trusted(const ip::address& a) const {
  if (a.is_v4()) {
    for (const auto& n : v4_) {
      if (InV4(n, a.to_v4())) return true;
    }
    return false;
  }
  for (const auto& n : v6_) {
    if (InV6(n, a.to_v6())) return true;
  }
  return false;
}

std::string ClientAddressResolver::Resolve(std::string_view peer,
                                           std::string_view header_value) const {
  std::optional<ip::address> p = PeerAddress(peer);
  if (!p) return std::string(peer);  // not an IP socket (never in practice): as it is
  if (options_.header.empty() || header_value.empty() || !Trusted(*p)) {
    return KeyOf(*p);
  }
  // Rightmost entry that is not a trusted proxy.
  std::string_view rest = header_value;
  while (!rest.empty()) {
    size_t comma = rest.rfind(',');
    std::string_view entry = comma == std::string_view::npos ? rest : rest.substr(comma + 1);
    rest = comma == std::string_view::npos ? std::string_view() : rest.substr(0, comma);
    std::optional<ip::address> a = ParseAddress(entry);
    if (!a) break;  // garbage: believe nothing further left
    if (!Trusted(*a)) return KeyOf(*a);
  }
  return KeyOf(*p);
}

}  // namespace edgevault::auth
