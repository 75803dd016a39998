#pragma once
// The client address the auth service throttles by (docs/auth.md "Throttling").
//
// By default it is the connection's peer address without its port, so a new connection
// per attempt is the same client. Behind a reverse proxy every connection comes from the
// proxy; then a header the proxy sets (`auth.client_address_header`, e.g.
// X-Forwarded-For) names the client — but only when the connection comes from one of
// `auth.trusted_proxies`: anyone else could send the header and pick a fresh address per
// attempt. In an X-Forwarded-For-style list the client is the rightmost entry that is
// not itself a trusted proxy (entries left of it were written by the client and prove
// nothing). A header that is missing or holds no valid address leaves the peer address.
//
// The result is a throttling key, not a display address: an IPv4 address as written
// ("203.0.113.7"); an IPv4-mapped IPv6 address as its IPv4 address; any other IPv6
// address as its /64 network ("2001:db8:1:2::/64"), because one host normally gets a
// whole /64 and could otherwise rotate through it.
//
// Thread-safety: immutable after Create; Resolve may run on any thread.
//
//   EV_ASSIGN_OR_RETURN(ClientAddressResolver r, ClientAddressResolver::Create(
//       {.header = "X-Forwarded-For", .trusted_proxies = {"10.0.0.0/8"}}));
//   std::string key = r.Resolve(req.remote_address(), req.Header("X-Forwarded-For"));

#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/network_v4.hpp>
#include <boost/asio/ip/network_v6.hpp>

#include "absl/status/statusor.h"

namespace edgevault::auth {

struct ClientAddressOptions {
  // Header naming the client behind a trusted proxy; empty = never read one.
  std::string header;
  // Addresses or CIDR ranges ("10.0.0.5", "10.0.0.0/8", "fd00::/8") of the proxies whose
  // header is believed.
  std::vector<std::string> trusted_proxies;
};

class ClientAddressResolver {
 public:
  // InvalidArgument naming an entry of trusted_proxies that is not an address or CIDR
  // range, or when a header is set without any trusted proxy (it would never be read).
  static absl::StatusOr<ClientAddressResolver> Create(ClientAddressOptions options);
  ClientAddressResolver() = default;  // peer address only

  const std::string& header() const { return options_.header; }

  // `peer` is the connection's "address:port" (net::Request::remote_address());
  // `header_value` the configured header's value ("" when absent or not configured).
  std::string Resolve(std::string_view peer, std::string_view header_value) const;

 private:
  bool Trusted(const boost::asio::ip::address& address) const;

  ClientAddressOptions options_;
  std::vector<boost::asio::ip::network_v4> v4_;
  std::vector<boost::asio::ip::network_v6> v6_;
};

}  // namespace edgevault::auth
