#include "src/services/auth/oauth.h"

#include <gtest/gtest.h>

#include "src/base/encoding.h"
#include "src/base/status.h"
#include "src/crypto/hash.h"

namespace edgevault::auth {
namespace {

namespace json = boost::json;

json::object Reg(json::value uris) {
  return json::object{{"client_name", "Claude"}, {"redirect_uris", std::move(uris)}};
}

TEST(OAuthRedirectUriTest, LoopbackHttpAndHttpsOnly) {
  for (const char* ok : {"http://127.0.0.1:8976/callback", "http://localhost/cb", "http://[::1]:9/x?a=b",
                         "https://claude.ai/api/mcp/auth_callback", "http://LOCALHOST:1/"}) {
    EXPECT_TRUE(ValidateRedirectUri(ok).ok()) << ok;
  }
  for (const char* bad : {"http://example.com/cb", "http://127.0.0.1.evil.com/cb", "javascript:alert(1)",
                          "myapp://cb", "https://x.test/cb#frag", "https://user@x.test/cb", "https://",
                          "http://127.0.0.1:80a/", "https://x.test/a b", "", "ftp://127.0.0.1/"}) {
    absl::Status st = ValidateRedirectUri(bad);
    EXPECT_FALSE(st.ok()) << bad;
    EXPECT_EQ(base::ErrorCode(st), "invalid_redirect_uri") << bad;
  }
  EXPECT_FALSE(ValidateRedirectUri("https://x.test/" + std::string(600, 'a')).ok());
}

TEST(OAuthRedirectUriTest, LoopbackPortMayVaryButNothingElse) {
  EXPECT_TRUE(RedirectUriMatches("http://127.0.0.1:1000/cb", "http://127.0.0.1:2000/cb"));
  EXPECT_TRUE(RedirectUriMatches("http://localhost/cb", "http://localhost:5555/cb"));
  EXPECT_FALSE(RedirectUriMatches("http://127.0.0.1:1000/cb", "http://127.0.0.1:1000/other"));
  EXPECT_FALSE(RedirectUriMatches("http://127.0.0.1:1000/cb", "http://localhost:1000/cb"));
  EXPECT_FALSE(RedirectUriMatches("https://x.test:443/cb", "https://x.test:444/cb"));
  EXPECT_TRUE(RedirectUriMatches("https://x.test/cb", "https://x.test/cb"));
}

TEST(OAuthRegistrationTest, PublicClientsOnly) {
  absl::StatusOr<OAuthClient> c = ParseClientRegistration(Reg(json::array{"http://127.0.0.1:3/cb"}), 100);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->name, "Claude");
  EXPECT_EQ(c->issued_at, 100);

  json::object secret = Reg(json::array{"http://127.0.0.1:3/cb"});
  secret["token_endpoint_auth_method"] = "client_secret_basic";
  EXPECT_EQ(base::ErrorCode(ParseClientRegistration(secret, 1).status()), "invalid_client_metadata");

  json::object implicit = Reg(json::array{"http://127.0.0.1:3/cb"});
  implicit["grant_types"] = json::array{"implicit"};
  EXPECT_EQ(base::ErrorCode(ParseClientRegistration(implicit, 1).status()), "invalid_client_metadata");
  implicit["grant_types"] = json::array{"client_credentials"};
  EXPECT_FALSE(ParseClientRegistration(implicit, 1).ok());
  json::object token = Reg(json::array{"http://127.0.0.1:3/cb"});
  token["response_types"] = json::array{"token"};
  EXPECT_FALSE(ParseClientRegistration(token, 1).ok());

  EXPECT_EQ(base::ErrorCode(ParseClientRegistration(Reg(json::array{}), 1).status()), "invalid_redirect_uri");
  EXPECT_EQ(base::ErrorCode(ParseClientRegistration(json::object{}, 1).status()), "invalid_redirect_uri");
  EXPECT_EQ(base::ErrorCode(ParseClientRegistration(Reg(json::array{"http://evil.test/cb"}), 1).status()),
            "invalid_redirect_uri");
  EXPECT_FALSE(ParseClientRegistration(Reg(json::array{1}), 1).ok());
  EXPECT_FALSE(ParseClientRegistration(Reg(json::array{"https://a/1", "https://a/2", "https://a/3", "https://a/4",
                                                       "https://a/5", "https://a/6"}), 1).ok());
  json::object named = Reg(json::array{"https://a/1"});
  named["client_name"] = std::string(101, 'n');
  EXPECT_FALSE(ParseClientRegistration(named, 1).ok());
  named["client_name"] = "a\nb\x01";
  ASSERT_TRUE(ParseClientRegistration(named, 1).ok());
  EXPECT_EQ(ParseClientRegistration(named, 1)->name, "ab");
  named["scope"] = "read admin";
  EXPECT_FALSE(ParseClientRegistration(named, 1).ok());
}

TEST(OAuthClientIdTest, RoundTripsAndRefusesTampering) {
  OAuthClient c{"VS Code", {"http://127.0.0.1:33418/", "https://vscode.dev/redirect"}, 1800000000};
  std::string id = EncodeClientId(c, "key-one");
  ASSERT_TRUE(id.starts_with("evoc_"));
  absl::StatusOr<OAuthClient> back = DecodeClientId(id, "key-one");
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->name, "VS Code");
  EXPECT_EQ(back->redirect_uris, c.redirect_uris);
  EXPECT_EQ(back->issued_at, 1800000000);
  // Another server's key, a changed payload, a truncated id: all unknown clients.
  EXPECT_EQ(base::ErrorCode(DecodeClientId(id, "key-two").status()), "invalid_client");
  std::string forged = id;
  forged[10] = forged[10] == 'A' ? 'B' : 'A';
  EXPECT_FALSE(DecodeClientId(forged, "key-one").ok());
  EXPECT_FALSE(DecodeClientId(id.substr(0, id.size() - 2), "key-one").ok());
  EXPECT_FALSE(DecodeClientId("evoc_", "key-one").ok());
  EXPECT_FALSE(DecodeClientId("", "key-one").ok());
  // A payload that is signed but not a client (the MAC is checked first, then the shape).
  std::string payload = base::Base64UrlEncode("[1,2]");
  EXPECT_FALSE(DecodeClientId("evoc_" + payload + "." + base::Base64UrlEncode(crypto::HmacSha256("k", payload)), "k").ok());
}

TEST(OAuthPkceTest, S256OnlyAndExact) {
  // RFC 7636 Appendix B.
  const std::string verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
  const std::string challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
  EXPECT_TRUE(ValidCodeChallenge(challenge));
  EXPECT_TRUE(VerifyPkceS256(verifier, challenge));
  EXPECT_FALSE(VerifyPkceS256(verifier + "x", challenge));
  EXPECT_FALSE(VerifyPkceS256(challenge, challenge));  // "plain": the challenge itself is not a verifier
  EXPECT_FALSE(VerifyPkceS256("short", base::Base64UrlEncode(crypto::Sha256("short"))));
  EXPECT_FALSE(VerifyPkceS256(std::string(129, 'a'), base::Base64UrlEncode(crypto::Sha256(std::string(129, 'a')))));
  std::string spaced = "dBjftJeZ4CVP mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
  EXPECT_FALSE(VerifyPkceS256(spaced, base::Base64UrlEncode(crypto::Sha256(spaced))));
  EXPECT_FALSE(ValidCodeChallenge(challenge + "="));
  EXPECT_FALSE(ValidCodeChallenge(challenge.substr(1)));
  EXPECT_FALSE(ValidCodeChallenge(""));
}

TEST(OAuthScopeTest, ParsedAndCappedByRole) {
  EXPECT_EQ(*ParseScopes(""), std::vector<std::string>{"read"});
  EXPECT_EQ(*ParseScopes("secrets:read  write read write"),
            (std::vector<std::string>{"read", "write", "secrets:read"}));
  EXPECT_EQ(base::ErrorCode(ParseScopes("read admin").status()), "invalid_scope");
  EXPECT_FALSE(ParseScopes("offline_access").ok());
  std::vector<std::string> all{"read", "write", "secrets:read"};
  EXPECT_EQ(CapScopes(all, storage::Role::kViewer), std::vector<std::string>{"read"});
  EXPECT_EQ(CapScopes(all, storage::Role::kDeveloper), all);
  EXPECT_EQ(CapScopes({"write"}, storage::Role::kViewer), std::vector<std::string>{});
  EXPECT_EQ(JoinScopes(all), "read write secrets:read");
}

TEST(OAuthFormTest, DecodesAndRefusesRepeats) {
  auto f = ParseForm("grant_type=authorization_code&code=evoa_x&redirect_uri=http%3A%2F%2F127.0.0.1%3A9%2Fcb&a=b+c");
  ASSERT_TRUE(f.ok());
  EXPECT_EQ((*f)["redirect_uri"], "http://127.0.0.1:9/cb");
  EXPECT_EQ((*f)["a"], "b c");
  EXPECT_EQ(base::ErrorCode(ParseForm("code=a&code=b").status()), "invalid_request");
  EXPECT_FALSE(ParseForm(std::string(17 * 1024, 'a')).ok());
  EXPECT_EQ(AppendQuery("http://127.0.0.1:9/cb", {{"code", "a b"}, {"state", "x&y"}}),
            "http://127.0.0.1:9/cb?code=a%20b&state=x%26y");
  EXPECT_EQ(AppendQuery("https://x.test/cb?k=1", {{"code", "c"}}), "https://x.test/cb?k=1&code=c");
}

}  // namespace
}  // namespace edgevault::auth
