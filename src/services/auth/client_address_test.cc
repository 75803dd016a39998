#include "src/services/auth/client_address.h"

#include "gtest/gtest.h"

namespace edgevault::auth {
namespace {

TEST(ClientAddressTest, PeerAddressWithoutItsPort) {
  ClientAddressResolver r;
  EXPECT_EQ(r.Resolve("203.0.113.7:51234", ""), "203.0.113.7");
  EXPECT_EQ(r.Resolve("203.0.113.7:51235", ""), "203.0.113.7");
  EXPECT_EQ(r.Resolve("::ffff:203.0.113.7:443", ""), "203.0.113.7");
  // IPv6 clients are keyed by their /64.
  EXPECT_EQ(r.Resolve("2001:db8:1:2:aaaa:bbbb:cccc:dddd:443", ""), "2001:db8:1:2::/64");
  EXPECT_EQ(r.Resolve("2001:db8:1:2::9:443", ""), "2001:db8:1:2::/64");
  EXPECT_EQ(r.Resolve("::1:8080", ""), "::/64");
  // Without configuration a header is never read.
  EXPECT_EQ(r.Resolve("203.0.113.7:1", "198.51.100.1"), "203.0.113.7");
}

TEST(ClientAddressTest, HeaderOnlyFromTrustedProxies) {
  auto r = ClientAddressResolver::Create({"X-Forwarded-For", {"10.0.0.0/8", "192.0.2.10", "fd00::/8"}});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->header(), "X-Forwarded-For");
  EXPECT_EQ(r->Resolve("10.1.2.3:5000", "198.51.100.1"), "198.51.100.1");
  EXPECT_EQ(r->Resolve("192.0.2.10:5000", "198.51.100.1"), "198.51.100.1");
  EXPECT_EQ(r->Resolve("fd00::1:5000", "2001:db8::7"), "2001:db8::/64");
  // From anyone else the header is ignored: it could name a fresh address per attempt.
  EXPECT_EQ(r->Resolve("192.0.2.11:5000", "198.51.100.1"), "192.0.2.11");
  EXPECT_EQ(r->Resolve("203.0.113.7:5000", "198.51.100.1"), "203.0.113.7");
}

TEST(ClientAddressTest, RightmostUntrustedEntryOfAList) {
  auto r = ClientAddressResolver::Create({"X-Forwarded-For", {"10.0.0.0/8"}});
  ASSERT_TRUE(r.ok());
  // The client wrote the leftmost entries; our proxies appended the rest.
  EXPECT_EQ(r->Resolve("10.0.0.1:1", "1.2.3.4, 198.51.100.1, 10.0.0.2"), "198.51.100.1");
  EXPECT_EQ(r->Resolve("10.0.0.1:1", "198.51.100.1:4711"), "198.51.100.1");
  EXPECT_EQ(r->Resolve("10.0.0.1:1", "[2001:db8::5]:443"), "2001:db8::/64");
  // Only proxies in the chain, garbage, or nothing: the connection's own address.
  EXPECT_EQ(r->Resolve("10.0.0.1:1", "10.0.0.3, 10.0.0.2"), "10.0.0.1");
  EXPECT_EQ(r->Resolve("10.0.0.1:1", "not-an-address"), "10.0.0.1");
  EXPECT_EQ(r->Resolve("10.0.0.1:1", "198.51.100.1, junk, 10.0.0.2"), "10.0.0.1");
  EXPECT_EQ(r->Resolve("10.0.0.1:1", ""), "10.0.0.1");
}

TEST(ClientAddressTest, BadConfigurationIsRefused) {
  EXPECT_FALSE(ClientAddressResolver::Create({"X-Forwarded-For", {}}).ok());
  EXPECT_FALSE(ClientAddressResolver::Create({"X-Forwarded-For", {"10.0.0.0/33"}}).ok());
  EXPECT_FALSE(ClientAddressResolver::Create({"X-Forwarded-For", {"proxy.example"}}).ok());
  EXPECT_TRUE(ClientAddressResolver::Create({"", {"10.0.0.1"}}).ok());
  EXPECT_TRUE(ClientAddressResolver::Create({}).ok());
}

}  // namespace
}  // namespace edgevault::auth
