#include "src/services/console/console_web.h"

#include <vector>

#include "gtest/gtest.h"

namespace edgevault::console {
namespace {

namespace http = boost::beast::http;

TEST(ConsoleCookieTest, SessionCookieIsHttpOnlyStrictAndSecureOnlyOverTls) {
  EXPECT_EQ(SessionCookie("evsn_abc", false), "ev_session=evsn_abc; Path=/; HttpOnly; SameSite=Strict");
  EXPECT_EQ(SessionCookie("evsn_abc", true),
            "__Host-ev_session=evsn_abc; Path=/; HttpOnly; SameSite=Strict; Secure");
  EXPECT_EQ(ClearedSessionCookie(false), "ev_session=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict");
  EXPECT_NE(ClearedSessionCookie(true).find("; Secure"), std::string::npos);
}

TEST(ConsoleCookieTest, CookieValueFindsTheNamedCookieOnly) {
  EXPECT_EQ(CookieValue("a=1; ev_session=evsn_x; b=2", "ev_session"), "evsn_x");
  EXPECT_EQ(CookieValue("ev_session=evsn_x", "ev_session"), "evsn_x");
  EXPECT_EQ(CookieValue("xev_session=evil; ev_session2=evil", "ev_session"), "");
  EXPECT_EQ(CookieValue("ev_session=\"q\"", "ev_session"), "q");
  EXPECT_EQ(CookieValue("", "ev_session"), "");
}

TEST(ConsoleCsrfTest, SameOriginPassesEverythingElseIsRefused) {
  EXPECT_TRUE(CheckSameOrigin("http://localhost:8080", "localhost:8080", "same-origin", false).ok());
  EXPECT_TRUE(CheckSameOrigin("http://localhost:8080", "localhost:8080", "", false).ok());
  EXPECT_TRUE(CheckSameOrigin("https://ev.example", "ev.example", "", true).ok());
  // Missing Origin, foreign Origin, wrong scheme, cross-site or same-site fetches.
  EXPECT_TRUE(absl::IsPermissionDenied(CheckSameOrigin("", "localhost:8080", "", false)));
  EXPECT_TRUE(absl::IsPermissionDenied(CheckSameOrigin("http://evil.example", "localhost:8080", "", false)));
  EXPECT_TRUE(absl::IsPermissionDenied(CheckSameOrigin("https://localhost:8080", "localhost:8080", "", false)));
  EXPECT_TRUE(absl::IsPermissionDenied(CheckSameOrigin("http://localhost:8080", "localhost:8080", "cross-site", false)));
  EXPECT_TRUE(absl::IsPermissionDenied(CheckSameOrigin("http://localhost:8080", "localhost:8080", "same-site", false)));
  EXPECT_TRUE(absl::IsPermissionDenied(CheckSameOrigin("http://localhost:8080", "", "", false)));
  EXPECT_TRUE(absl::IsPermissionDenied(CheckSameOrigin("null", "localhost:8080", "", false)));
}

TEST(ConsoleCsrfTest, TokenIsAKeyedHashOfTheSession) {
  std::string a = CsrfToken("key-one", "evsn_1");
  EXPECT_EQ(a.size(), 64u);
  EXPECT_EQ(a, CsrfToken("key-one", "evsn_1"));
  EXPECT_NE(a, CsrfToken("key-two", "evsn_1"));
  EXPECT_NE(a, CsrfToken("key-one", "evsn_2"));
  EXPECT_TRUE(TokensEqual(a, a));
  EXPECT_FALSE(TokensEqual(a, a.substr(1)));
  EXPECT_FALSE(TokensEqual("", a));
}

TEST(ConsoleCsrfTest, OnlyReadsAreNotStateChanging) {
  EXPECT_FALSE(IsStateChanging(http::verb::get));
  EXPECT_FALSE(IsStateChanging(http::verb::head));
  EXPECT_TRUE(IsStateChanging(http::verb::post));
  EXPECT_TRUE(IsStateChanging(http::verb::put));
  EXPECT_TRUE(IsStateChanging(http::verb::patch));
  EXPECT_TRUE(IsStateChanging(http::verb::delete_));
}

TEST(ConsoleAssetPathTest, PlainNamesPassTraversalAndEncodingsDoNot) {
  EXPECT_EQ(SanitizeAssetPath("app.3f2a.js"), "assets/app.3f2a.js");
  EXPECT_EQ(SanitizeAssetPath("fonts/x-1_2.woff2"), "assets/fonts/x-1_2.woff2");
  for (const char* bad : {"", "..", "../index.html", "a/../../etc/passwd", "./a.js", "a//b.js", "a/",
                          "..%2f..%2fetc%2fpasswd", "a%2fb", "%2e%2e/x", "a\\b", "a b", "/etc/passwd"}) {
    EXPECT_EQ(SanitizeAssetPath(bad), std::nullopt) << bad;
  }
  EXPECT_EQ(SanitizeAssetPath(std::string("a\0b", 3)), std::nullopt);
  EXPECT_EQ(SanitizeAssetPath(std::string(600, 'a')), std::nullopt);
}

TEST(ConsoleAssetPathTest, ContentTypeByExtension) {
  EXPECT_EQ(ContentTypeFor("app.js"), "text/javascript; charset=utf-8");
  EXPECT_EQ(ContentTypeFor("app.css"), "text/css; charset=utf-8");
  EXPECT_EQ(ContentTypeFor("index.html"), "text/html; charset=utf-8");
  EXPECT_EQ(ContentTypeFor("logo.svg"), "image/svg+xml");
  EXPECT_EQ(ContentTypeFor("f.woff2"), "font/woff2");
  EXPECT_EQ(ContentTypeFor("js"), "application/octet-stream");
  EXPECT_EQ(ContentTypeFor("x.bin"), "application/octet-stream");
}

TEST(ConsoleRoutesTest, AuthAllowListKeepsTokenAndLoginRoutesOut) {
  for (const char* ok : {"mfa/totp/enroll", "passkeys", "passkeys/abc", "sessions/revoke-all", "api-keys",
                         "members/u1", "users", "invitations", "org/invitations/x", "oauth/authorize",
                         "account/oauth-grants", "account/oauth-grants/ogr_1"}) {
    EXPECT_TRUE(AuthPathAllowed(ok)) << ok;
  }
  for (const char* bad : {"token", "login", "login/totp", "login/passkey/begin", "logout", "password",
                          "session", "internal/x", "", "tokens", "mfax"}) {
    EXPECT_FALSE(AuthPathAllowed(bad)) << bad;
  }
}

TEST(ConsoleRoutesTest, PeerAddressDropsThePort) {
  EXPECT_EQ(PeerAddress("127.0.0.1:5000"), "127.0.0.1");
  EXPECT_EQ(PeerAddress("[::1]:5000"), "::1");
  EXPECT_EQ(PeerAddress("::1"), "::1");
  EXPECT_EQ(PeerAddress("10.0.0.1"), "10.0.0.1");
}

TEST(ConsoleHeadersTest, SecurityHeadersAndNoStoreForBff) {
  net::Response r;
  AddSecurityHeaders(r, true);
  auto has = [&r](std::string_view name) {
    for (const auto& [n, v] : r.headers) if (n == name) return true;
    return false;
  };
  for (const char* h : {"Content-Security-Policy", "X-Content-Type-Options", "Referrer-Policy",
                        "X-Frame-Options", "Cache-Control"}) {
    EXPECT_TRUE(has(h)) << h;
  }
  net::Response page;
  AddSecurityHeaders(page, false);
  for (const auto& [n, v] : page.headers) EXPECT_NE(n, "Cache-Control");
  for (const auto& [n, v] : page.headers) EXPECT_NE(n, "Strict-Transport-Security");
  net::Response tls_page;
  AddSecurityHeaders(tls_page, false, /*tls=*/true);
  bool hsts = false;
  for (const auto& [n, v] : tls_page.headers) hsts |= n == "Strict-Transport-Security";
  EXPECT_TRUE(hsts);
}

struct Collected {
  std::vector<net::SseEvent> events;
  std::vector<std::string> comments;
};

TEST(ConsoleSseParserTest, EventsSurviveAnyChunking) {
  const std::string stream =
      ": connected\n\nid: 7\nevent: revision\ndata: {\"seq\":7}\n\nid:8\r\nevent:revision\r\ndata:a\r\ndata:b\r\n\r\n"
      "retry: 500\ndata: x\n\n";
  for (size_t chunk : {1u, 2u, 5u, 1000u}) {
    SCOPED_TRACE(chunk);
    Collected c;
    SseParser p([&c](const net::SseEvent& e) { c.events.push_back(e); },
                [&c](std::string_view t) { c.comments.emplace_back(t); });
    for (size_t i = 0; i < stream.size(); i += chunk) p.Feed(std::string_view(stream).substr(i, chunk));
    ASSERT_EQ(c.comments.size(), 1u);
    EXPECT_EQ(c.comments[0], "connected");
    ASSERT_EQ(c.events.size(), 3u);
    EXPECT_EQ(c.events[0].id, "7");
    EXPECT_EQ(c.events[0].event, "revision");
    EXPECT_EQ(c.events[0].data, "{\"seq\":7}");
    EXPECT_EQ(c.events[1].id, "8");
    EXPECT_EQ(c.events[1].data, "a\nb");
    EXPECT_EQ(c.events[2].retry_ms, 500);
    EXPECT_EQ(c.events[2].data, "x");
  }
}

TEST(ConsoleSseParserTest, AnUnfinishedEventIsNotDelivered) {
  Collected c;
  SseParser p([&c](const net::SseEvent& e) { c.events.push_back(e); },
              [&c](std::string_view t) { c.comments.emplace_back(t); });
  p.Feed("id: 1\ndata: half");
  EXPECT_TRUE(c.events.empty());
  p.Feed("\n\n");
  ASSERT_EQ(c.events.size(), 1u);
  EXPECT_EQ(c.events[0].data, "half");
}

}  // namespace
}  // namespace edgevault::console
