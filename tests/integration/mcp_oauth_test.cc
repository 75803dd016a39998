// OAuth 2.1 for MCP clients against the real binaries (issue 16; docs/design/oauth.md):
// discovery from the api's 401 (RFC 9728) to auth's metadata (RFC 8414), dynamic
// registration (RFC 7591) of public clients with loopback/https redirect URIs only, the
// consent a logged-in user gives, the code exchange with PKCE S256, tokens bound to the
// api's MCP resource (RFC 8707: good on /mcp, refused on REST), refresh-token rotation with
// reuse detection, code replay, revocation, scopes capped by role, and the audit trail.
#include <map>
#include <set>
#include <string>

#include "gtest/gtest.h"
#include "src/base/encoding.h"
#include "tests/integration/harness.h"
#include "tests/integration/other_org.h"

namespace edgevault {
namespace {

namespace json = boost::json;
using testing::EdgeVaultUp;
using testing::HttpReply;

// RFC 7636 Appendix B.
constexpr char kVerifier[] = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
constexpr char kChallenge[] = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
constexpr char kRedirect[] = "http://127.0.0.1:43123/callback";

std::string Enc(std::string_view s) { return base::PercentEncode(s); }

std::string Form(const std::vector<std::pair<std::string, std::string>>& params) {
  std::string out;
  for (const auto& [n, v] : params) {
    if (!out.empty()) out.push_back('&');
    out.append(Enc(n)).append("=").append(Enc(v));
  }
  return out;
}

// The value of query parameter `name` in `url` (no decoding needed for our tokens).
std::string QueryValue(std::string_view url, std::string_view name) {
  std::string key = std::string(name).append("=");
  size_t at = url.find(std::string("?").append(key));
  if (at == std::string_view::npos) at = url.find(std::string("&").append(key));
  key.insert(key.begin(), '?');
  if (at == std::string_view::npos) return "";
  size_t start = at + key.size();
  size_t end = url.find('&', start);
  return std::string(url.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start));
}

std::string Str(const json::value& v, std::string_view member) {
  const json::object* o = v.if_object();
  const json::value* m = o == nullptr ? nullptr : o->if_contains(member);
  return m != nullptr && m->is_string() ? std::string(m->get_string()) : "";
}

class McpOAuthTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    up_ = EdgeVaultUp::Start().release();
    ASSERT_NE(up_, nullptr);
    api_ = "http://127.0.0.1:" + std::to_string(up_->port("api"));
    auth_ = "http://127.0.0.1:" + std::to_string(up_->port("auth"));
    resource_ = api_ + "/mcp";
    ASSERT_EQ(up_->Json("api", "POST", "/v1/workspaces", json::object{{"key", "shop"}}, up_->admin_key()).status, 201);
    developer_session_ = NewSession("dev@oauth.test", "developer");
    viewer_session_ = NewSession("viewer@oauth.test", "viewer");
    ASSERT_FALSE(developer_session_.empty());
    ASSERT_FALSE(viewer_session_.empty());
    HttpReply reg = up_->Json("auth", "POST", "/oauth/register",
                              json::object{{"client_name", "itest agent"}, {"redirect_uris", json::array{kRedirect}},
                                           {"token_endpoint_auth_method", "none"}});
    ASSERT_EQ(reg.status, 201) << reg.body;
    client_id_ = Str(reg.json, "client_id");
  }
  static void TearDownTestSuite() {
    delete up_;
    up_ = nullptr;
  }

  static std::string NewSession(const std::string& email, const std::string& role) {
    const std::string password = "integration password 1";
    if (up_->Json("auth", "POST", "/v1/users", {{"email", email}, {"role", role}, {"password", password}},
                  up_->admin_key())
            .status != 201) {
      return "";
    }
    HttpReply login = up_->Json("auth", "POST", "/v1/login", {{"email", email}, {"password", password}});
    return Str(login.json, "session");
  }

  static json::object Authorize(std::string scope = "read write secrets:read") {
    return json::object{{"response_type", "code"}, {"client_id", client_id_}, {"redirect_uri", kRedirect},
                        {"code_challenge", kChallenge}, {"code_challenge_method", "S256"}, {"scope", scope},
                        {"state", "st-1"}, {"resource", resource_}};
  }

  // A code the user behind `session` grants (approve = true); "" on failure.
  static std::string Consent(const std::string& session, json::object request = Authorize()) {
    request["approve"] = true;
    HttpReply r = up_->Json("auth", "POST", "/v1/oauth/authorize", request, session);
    EXPECT_EQ(r.status, 200) << r.body;
    std::string to = Str(r.json, "redirect_to");
    EXPECT_TRUE(to.starts_with(std::string(kRedirect) + "?code=evoa_")) << to;
    EXPECT_EQ(QueryValue(to, "state"), "st-1");
    EXPECT_EQ(QueryValue(to, "iss"), Enc(auth_));
    return QueryValue(to, "code");
  }

  static HttpReply Token(const std::vector<std::pair<std::string, std::string>>& params) {
    return up_->Call("auth", "POST", "/oauth/token", Form(params), "",
                     {{"Content-Type", "application/x-www-form-urlencoded"}});
  }
  static HttpReply Exchange(const std::string& code, const std::string& verifier = kVerifier) {
    return Token({{"grant_type", "authorization_code"}, {"code", code}, {"code_verifier", verifier},
                  {"redirect_uri", kRedirect}, {"client_id", client_id_}, {"resource", resource_}});
  }
  static HttpReply Refresh(const std::string& refresh) {
    return Token({{"grant_type", "refresh_token"}, {"refresh_token", refresh}, {"client_id", client_id_},
                  {"resource", resource_}});
  }

  static HttpReply Mcp(const json::value& message, const std::string& token, const std::string& session = "") {
    std::vector<std::pair<std::string, std::string>> h = {{"Accept", "application/json, text/event-stream"}};
    if (!session.empty()) h.emplace_back("Mcp-Session-Id", session);
    return up_->Json("api", "POST", "/mcp", message, token, h);
  }
  static std::string Initialize(const std::string& token) {
    HttpReply r = Mcp(json::object{{"jsonrpc", "2.0"}, {"id", 1}, {"method", "initialize"},
                                   {"params", {{"protocolVersion", "2025-06-18"}, {"capabilities", json::object()},
                                               {"clientInfo", {{"name", "itest-oauth"}, {"version", "1"}}}}}},
                      token);
    EXPECT_EQ(r.status, 200) << r.body;
    return r.Header("Mcp-Session-Id");
  }
  static std::vector<std::string> ToolNames(const std::string& token) {
    std::string session = Initialize(token);
    HttpReply r = Mcp(json::object{{"jsonrpc", "2.0"}, {"id", 2}, {"method", "tools/list"}}, token, session);
    std::vector<std::string> names;
    if (r.status != 200) return names;
    for (const json::value& t : r.json.at("result").at("tools").as_array()) names.emplace_back(t.at("name").as_string());
    return names;
  }

  static EdgeVaultUp* up_;
  static std::string api_, auth_, resource_, client_id_, developer_session_, viewer_session_;
};

EdgeVaultUp* McpOAuthTest::up_ = nullptr;
std::string McpOAuthTest::api_, McpOAuthTest::auth_, McpOAuthTest::resource_, McpOAuthTest::client_id_,
    McpOAuthTest::developer_session_, McpOAuthTest::viewer_session_;

TEST_F(McpOAuthTest, DiscoveryFromThe401) {
  HttpReply r = Mcp(json::object{{"jsonrpc", "2.0"}, {"id", 1}, {"method", "ping"}}, "");
  ASSERT_EQ(r.status, 401);
  const std::string prm_url = api_ + "/.well-known/oauth-protected-resource/mcp";
  EXPECT_EQ(r.Header("WWW-Authenticate"),
            "Bearer realm=\"edgevault-api\", resource_metadata=\"" + prm_url + "\"");
  HttpReply bad = Mcp(json::object{{"jsonrpc", "2.0"}, {"id", 1}, {"method", "ping"}}, "not-a-token");
  EXPECT_NE(bad.Header("WWW-Authenticate").find("error=\"invalid_token\""), std::string::npos);

  for (const char* path : {"/.well-known/oauth-protected-resource/mcp", "/.well-known/oauth-protected-resource"}) {
    HttpReply prm = up_->Call("api", "GET", path);
    ASSERT_EQ(prm.status, 200) << path;
    EXPECT_EQ(Str(prm.json, "resource"), resource_);
    EXPECT_EQ(prm.json.at("authorization_servers").at(0).as_string(), auth_);
  }
  HttpReply meta = up_->Call("auth", "GET", "/.well-known/oauth-authorization-server");
  ASSERT_EQ(meta.status, 200);
  EXPECT_EQ(Str(meta.json, "issuer"), auth_);
  EXPECT_EQ(Str(meta.json, "authorization_endpoint"),
            "http://127.0.0.1:" + std::to_string(up_->port("console")) + "/oauth/authorize");
  EXPECT_EQ(Str(meta.json, "token_endpoint"), auth_ + "/oauth/token");
  EXPECT_EQ(Str(meta.json, "registration_endpoint"), auth_ + "/oauth/register");
  EXPECT_EQ(json::serialize(meta.json.at("code_challenge_methods_supported")), "[\"S256\"]");
  EXPECT_EQ(json::serialize(meta.json.at("token_endpoint_auth_methods_supported")), "[\"none\"]");
}

// Browser-based MCP clients call auth's metadata, registration, token and revocation
// endpoints and the api's protected-resource metadata cross-origin: each answers a preflight
// and carries Access-Control-Allow-Origin: * without credentials. The consent route and the
// REST api do not (positive control that the header is not simply everywhere).
TEST_F(McpOAuthTest, PublicOAuthEndpointsAnswerCorsWithoutCredentials) {
  const std::vector<std::pair<std::string, std::string>> origin = {{"Origin", "https://inspector.example"}};
  struct Case {
    std::string service, path, method;
  };
  for (const Case& c : std::vector<Case>{{"auth", "/.well-known/oauth-authorization-server", "GET"},
                                         {"auth", "/oauth/register", "POST"},
                                         {"auth", "/oauth/token", "POST"},
                                         {"auth", "/oauth/revoke", "POST"},
                                         {"api", "/.well-known/oauth-protected-resource", "GET"},
                                         {"api", "/.well-known/oauth-protected-resource/mcp", "GET"}}) {
    HttpReply pre = up_->Call(c.service, "OPTIONS", c.path, "", "",
                              {{"Origin", "https://inspector.example"},
                               {"Access-Control-Request-Method", c.method},
                               {"Access-Control-Request-Headers", "content-type, mcp-protocol-version"}});
    EXPECT_EQ(pre.status, 204) << c.path << " " << pre.body;
    EXPECT_EQ(pre.Header("Access-Control-Allow-Origin"), "*") << c.path;
    EXPECT_EQ(pre.Header("Access-Control-Allow-Methods"), c.method) << c.path;
    EXPECT_NE(pre.Header("Access-Control-Allow-Headers").find("MCP-Protocol-Version"), std::string::npos);
    EXPECT_EQ(pre.Header("Access-Control-Allow-Credentials"), "") << c.path;
    // The request itself, even a refused one, is readable by the page.
    HttpReply r = up_->Call(c.service, c.method, c.path, c.method == "POST" ? "x=1" : "", "", origin);
    EXPECT_EQ(r.Header("Access-Control-Allow-Origin"), "*") << c.path << " " << r.status;
    EXPECT_EQ(r.Header("Access-Control-Allow-Credentials"), "") << c.path;
  }
  // Not the consent (it needs the user's login session and is the console's, same-origin):
  HttpReply consent = up_->Call("auth", "GET", "/v1/oauth/authorize?client_id=x", "", "", origin);
  EXPECT_EQ(consent.Header("Access-Control-Allow-Origin"), "") << consent.status;
  EXPECT_NE(up_->Call("auth", "OPTIONS", "/v1/oauth/authorize", "", "", origin).status, 204);
  // Nor the REST api.
  EXPECT_EQ(up_->Call("api", "GET", "/v1/workspaces", "", up_->admin_key(), origin).Header("Access-Control-Allow-Origin"),
            "");
}

TEST_F(McpOAuthTest, RegistrationTakesPublicLoopbackOrHttpsClientsOnly) {
  auto reg = [](json::object body) { return up_->Json("auth", "POST", "/oauth/register", body); };
  HttpReply evil = reg({{"redirect_uris", json::array{"http://evil.test/cb"}}});
  EXPECT_EQ(evil.status, 400);
  EXPECT_EQ(Str(evil.json, "error"), "invalid_redirect_uri");
  HttpReply secret = reg({{"redirect_uris", json::array{kRedirect}}, {"token_endpoint_auth_method", "client_secret_post"}});
  EXPECT_EQ(secret.status, 400);
  EXPECT_EQ(Str(secret.json, "error"), "invalid_client_metadata");
  EXPECT_EQ(up_->Call("auth", "POST", "/oauth/register", "{not json").status, 400);
  HttpReply ok = reg({{"redirect_uris", json::array{"https://agent.example/cb"}}, {"client_name", "web agent"}});
  EXPECT_EQ(ok.status, 201) << ok.body;
  EXPECT_EQ(Str(ok.json, "token_endpoint_auth_method"), "none");
}

// Registration is open and each one is an audit row: one client address gets
// oauth.registrations_per_address per throttle window, then 429 with Retry-After, and the
// limit is its own (logging in from that address still works).
TEST(McpOAuthLimitTest, RegistrationsPerAddressAreLimited) {
  auto up = EdgeVaultUp::Start({"--set", "oauth.registrations_per_address=3"});
  ASSERT_NE(up, nullptr);
  auto reg = [&] {
    return up->Json("auth", "POST", "/oauth/register",
                    json::object{{"client_name", "flood"}, {"redirect_uris", json::array{kRedirect}}});
  };
  for (int i = 0; i < 3; ++i) ASSERT_EQ(reg().status, 201) << i;
  HttpReply refused = reg();
  EXPECT_EQ(refused.status, 429) << refused.body;
  EXPECT_EQ(Str(refused.json, "error"), "too_many_requests") << refused.body;
  EXPECT_FALSE(refused.Header("Retry-After").empty());
  EXPECT_EQ(up->Json("auth", "POST", "/v1/login", {{"email", up->owner_email()}, {"password", up->owner_password()}})
                .status,
            200);
}

// The token endpoint is open too: per OAuth client (oauth.token_requests_per_client) and per
// client address (oauth.token_requests_per_address) within the throttle window, then 429
// too_many_requests with Retry-After in the OAuth error JSON; a client's count is its own,
// a made-up client id counts against the address only, and logging in still works.
TEST(McpOAuthLimitTest, TokenRequestsPerClientAndPerAddressAreLimited) {
  auto up = EdgeVaultUp::Start(
      {"--set", "oauth.token_requests_per_client=3", "--set", "oauth.token_requests_per_address=6"});
  ASSERT_NE(up, nullptr);
  // Two registrations alike within one second are one client id (nothing is stored; the id
  // is the signed registration), so the two clients differ in name.
  auto client = [&](const std::string& name) {
    HttpReply r = up->Json("auth", "POST", "/oauth/register",
                           json::object{{"client_name", name}, {"redirect_uris", json::array{kRedirect}}});
    EXPECT_EQ(r.status, 201) << r.body;
    return Str(r.json, "client_id");
  };
  auto token = [&](const std::string& client_id) {
    return up->Call("auth", "POST", "/oauth/token",
                    Form({{"grant_type", "refresh_token"}, {"refresh_token", "evor_guess"}, {"client_id", client_id}}),
                    "", {{"Content-Type", "application/x-www-form-urlencoded"}});
  };
  std::string a = client("limited a");
  std::string b = client("limited b");
  ASSERT_NE(a, b);
  for (int i = 0; i < 3; ++i) ASSERT_EQ(token(a).status, 400) << i;  // invalid_grant, counted
  HttpReply refused = token(a);
  EXPECT_EQ(refused.status, 429) << refused.body;
  EXPECT_EQ(Str(refused.json, "error"), "too_many_requests") << refused.body;
  EXPECT_FALSE(Str(refused.json, "error_description").empty());
  EXPECT_FALSE(refused.Header("Retry-After").empty());
  EXPECT_EQ(refused.Header("Cache-Control"), "no-store");
  // Client b has its own allowance (the refused request counted nothing)...
  EXPECT_EQ(token(b).status, 400);
  // ...an id that does not verify is refused as before and counts against the address:
  EXPECT_EQ(token("evoc_made.up").status, 401);
  // 3 (a) + 1 (b) + 1 (made up) + this one = 6: the address is at its limit.
  EXPECT_EQ(token(b).status, 400);
  EXPECT_EQ(token(b).status, 429);
  EXPECT_EQ(token("evoc_made.up").status, 429);
  EXPECT_EQ(up->Json("auth", "POST", "/v1/login", {{"email", up->owner_email()}, {"password", up->owner_password()}})
                .status,
            200);
}

TEST_F(McpOAuthTest, ConsentNeedsALoginSessionAndAValidRequest) {
  json::object q = Authorize();
  std::string query;
  for (const auto& [k, v] : q) {
    query.push_back(query.empty() ? '?' : '&');
    query.append(k).append("=").append(Enc(v.as_string()));
  }
  HttpReply shown = up_->Call("auth", "GET", "/v1/oauth/authorize" + query, "", developer_session_);
  ASSERT_EQ(shown.status, 200) << shown.body;
  EXPECT_EQ(Str(shown.json.at("client"), "name"), "itest agent");
  EXPECT_EQ(json::serialize(shown.json.at("scopes_grantable")), "[\"read\",\"write\",\"secrets:read\"]");
  // No login, or an API key (an agent's credential): no consent.
  EXPECT_EQ(up_->Call("auth", "GET", "/v1/oauth/authorize" + query).status, 401);
  EXPECT_EQ(up_->Call("auth", "GET", "/v1/oauth/authorize" + query, "", up_->admin_key()).status, 403);

  auto refused = [&](std::string_view member, json::value value) {
    json::object r = Authorize();
    r[member] = std::move(value);
    r["approve"] = true;
    return up_->Json("auth", "POST", "/v1/oauth/authorize", r, developer_session_);
  };
  // Before the redirect URI is trusted: shown to the user only, never a redirect.
  HttpReply foreign = refused("redirect_uri", "http://127.0.0.1:43123/elsewhere");
  EXPECT_EQ(foreign.status, 400);
  EXPECT_EQ(foreign.json.as_object().if_contains("redirect_to"), nullptr);
  EXPECT_EQ(refused("client_id", "evoc_forged.abc").status, 400);
  // After: back to the client with the error.
  HttpReply plain = refused("code_challenge_method", "plain");
  EXPECT_EQ(plain.status, 400);
  EXPECT_EQ(QueryValue(Str(plain.json, "redirect_to"), "error"), "invalid_request");
  HttpReply other = refused("resource", "http://127.0.0.1:1/mcp");
  EXPECT_EQ(QueryValue(Str(other.json, "redirect_to"), "error"), "invalid_target");
  HttpReply admin = refused("scope", "read admin");
  EXPECT_EQ(QueryValue(Str(admin.json, "redirect_to"), "error"), "invalid_scope");

  json::object deny = Authorize();
  deny["approve"] = false;
  HttpReply denied = up_->Json("auth", "POST", "/v1/oauth/authorize", deny, developer_session_);
  ASSERT_EQ(denied.status, 200);
  EXPECT_EQ(QueryValue(Str(denied.json, "redirect_to"), "error"), "access_denied");
}

TEST_F(McpOAuthTest, CodeNeedsPkceAndIsSingleUse) {
  std::string code = Consent(developer_session_);
  std::string wrong_verifier = kVerifier;
  wrong_verifier[0] = 'x';
  HttpReply wrong = Exchange(code, wrong_verifier);
  EXPECT_EQ(wrong.status, 400);
  EXPECT_EQ(Str(wrong.json, "error"), "invalid_grant");
  EXPECT_EQ(Exchange(code).status, 400) << "a code is gone after one attempt";

  std::string code2 = Consent(developer_session_);
  HttpReply other_client = Token({{"grant_type", "authorization_code"}, {"code", code2}, {"code_verifier", kVerifier},
                                  {"redirect_uri", kRedirect}, {"client_id", "evoc_x.y"}});
  EXPECT_EQ(other_client.status, 401);
  EXPECT_EQ(Str(other_client.json, "error"), "invalid_client");
  HttpReply other_resource = Token({{"grant_type", "authorization_code"}, {"code", code2}, {"code_verifier", kVerifier},
                                    {"redirect_uri", kRedirect}, {"client_id", client_id_},
                                    {"resource", "http://127.0.0.1:1/mcp"}});
  EXPECT_EQ(Str(other_resource.json, "error"), "invalid_target");
  HttpReply ok = Exchange(code2);
  ASSERT_EQ(ok.status, 200) << ok.body;
  EXPECT_EQ(ok.Header("Cache-Control"), "no-store");
  std::string refresh = Str(ok.json, "refresh_token");
  ASSERT_TRUE(refresh.starts_with("evor_"));
  ASSERT_EQ(Refresh(refresh).status, 200) << "the grant works";
  // The code replayed: refused, and the grant it made is revoked (RFC 6749 4.1.2).
  EXPECT_EQ(Exchange(code2).status, 400);
  HttpReply after = Token({{"grant_type", "refresh_token"}, {"refresh_token", refresh}, {"client_id", client_id_}});
  EXPECT_EQ(after.status, 400);
}

TEST_F(McpOAuthTest, TokenIsBoundToTheMcpResource) {
  HttpReply t = Exchange(Consent(developer_session_));
  ASSERT_EQ(t.status, 200) << t.body;
  const std::string access = Str(t.json, "access_token");
  EXPECT_EQ(Str(t.json, "scope"), "read write secrets:read");
  EXPECT_LE(t.json.at("expires_in").as_int64(), 300);
  // /mcp takes it, and the tools it runs (REST handlers called by the tool layer) too.
  std::string session = Initialize(access);
  ASSERT_FALSE(session.empty());
  HttpReply call = Mcp(json::object{{"jsonrpc", "2.0"}, {"id", 5}, {"method", "tools/call"},
                                    {"params", {{"name", "list_workspaces"}, {"arguments", json::object()}}}},
                       access, session);
  ASSERT_EQ(call.status, 200) << call.body;
  EXPECT_NE(call.body.find("\"shop\""), std::string::npos) << call.body;
  EXPECT_EQ(call.body.find("\"isError\":true"), std::string::npos) << call.body;
  // Any other route of the api refuses it: it was minted for /mcp only.
  EXPECT_EQ(up_->Call("api", "GET", "/v1/workspaces", "", access).status, 401);
  // Neither is a token minted for the api's REST audience a way round: it is the
  // pre-OAuth bearer and keeps working on both (positive control for the refusal above).
  HttpReply jwt = up_->Call("auth", "POST", "/v1/token", "", developer_session_);
  EXPECT_EQ(up_->Call("api", "GET", "/v1/workspaces", "", Str(jwt.json, "token")).status, 200);
  // An EdgeVault-Agent header sent from outside does not open REST to the OAuth token.
  EXPECT_EQ(up_->Call("api", "GET", "/v1/workspaces", "", access,
                      {{"EdgeVault-Agent", "{\"protocol\":\"mcp\",\"client\":\"x\"}"}})
                .status,
            401);
}

TEST_F(McpOAuthTest, RefreshRotatesAndAReusedTokenEndsTheGrant) {
  HttpReply t = Exchange(Consent(developer_session_));
  ASSERT_EQ(t.status, 200);
  std::string r1 = Str(t.json, "refresh_token");
  HttpReply t2 = Refresh(r1);
  ASSERT_EQ(t2.status, 200) << t2.body;
  std::string r2 = Str(t2.json, "refresh_token");
  EXPECT_NE(r1, r2);
  EXPECT_FALSE(Initialize(Str(t2.json, "access_token")).empty());
  // Narrowing on refresh is allowed, widening is not.
  HttpReply narrowed = Token({{"grant_type", "refresh_token"}, {"refresh_token", r2}, {"client_id", client_id_},
                              {"scope", "read"}});
  ASSERT_EQ(narrowed.status, 200) << narrowed.body;
  EXPECT_EQ(Str(narrowed.json, "scope"), "read");
  std::string r3 = Str(narrowed.json, "refresh_token");
  // r1 again: someone kept a copy. Refused, and r3 (the live one) dies with the grant.
  EXPECT_EQ(Str(Refresh(r1).json, "error"), "invalid_grant");
  EXPECT_EQ(Str(Refresh(r3).json, "error"), "invalid_grant");
  EXPECT_TRUE(testing::PollUntil(
      [] { return testing::CountAuditLines(up_->data_dir(), "auth.oauth.refresh_reuse", {"itest agent"}) >= 1; },
      30000));
}

TEST_F(McpOAuthTest, RevocationEndsTheGrant) {
  HttpReply t = Exchange(Consent(developer_session_));
  ASSERT_EQ(t.status, 200);
  std::string refresh = Str(t.json, "refresh_token");
  auto revoke = [&](std::string token) {
    return up_->Call("auth", "POST", "/oauth/revoke", Form({{"token", token}, {"client_id", client_id_}}), "",
                     {{"Content-Type", "application/x-www-form-urlencoded"}});
  };
  EXPECT_EQ(revoke("evor_unknown").status, 200) << "RFC 7009: unknown tokens are not an error";
  EXPECT_EQ(revoke(refresh).status, 200);
  EXPECT_EQ(Str(Refresh(refresh).json, "error"), "invalid_grant");
}

// A user lists the OAuth clients they authorized and revokes one (docs/design/oauth.md §7b):
// its refresh token is refused at once, its access token at the api within the recheck
// window; another user can neither see nor revoke it, an API key cannot list grants at all;
// the revocation is audited.
TEST_F(McpOAuthTest, AUserListsAndRevokesTheirGrants) {
  auto list = [](const std::string& bearer) {
    return up_->Call("auth", "GET", "/v1/account/oauth-grants", "", bearer);
  };
  auto ids = [&](const std::string& bearer) {
    std::set<std::string> out;
    HttpReply r = list(bearer);
    EXPECT_EQ(r.status, 200) << r.body;
    if (r.status != 200) return out;
    for (const json::value& g : r.json.at("grants").as_array()) out.insert(Str(g, "id"));
    return out;
  };
  std::set<std::string> before = ids(developer_session_);
  HttpReply t = Exchange(Consent(developer_session_, Authorize("read write")));
  ASSERT_EQ(t.status, 200) << t.body;
  std::string access = Str(t.json, "access_token");
  std::string refresh = Str(t.json, "refresh_token");
  HttpReply mine = list(developer_session_);
  ASSERT_EQ(mine.status, 200) << mine.body;
  const json::object* grant = nullptr;
  for (const json::value& g : mine.json.at("grants").as_array()) {
    if (!before.contains(Str(g, "id"))) grant = &g.as_object();
  }
  ASSERT_NE(grant, nullptr) << mine.body;
  const std::string id = Str(*grant, "id");
  EXPECT_TRUE(id.starts_with("ogr_")) << id;
  EXPECT_EQ(Str(grant->at("client"), "name"), "itest agent");
  EXPECT_EQ(Str(grant->at("client"), "ref").size(), 16u);
  EXPECT_EQ(json::serialize(grant->at("scopes")), "[\"read\",\"write\"]");
  EXPECT_EQ(Str(*grant, "resource"), resource_);
  EXPECT_FALSE(Str(*grant, "created_at").empty());
  EXPECT_FALSE(Str(*grant, "last_used_at").empty());
  EXPECT_FALSE(Str(*grant, "expires_at").empty());
  EXPECT_EQ(mine.body.find(refresh), std::string::npos);

  // Another user sees nothing of it and cannot revoke it; an API key lists nothing.
  EXPECT_FALSE(ids(viewer_session_).contains(id));
  EXPECT_EQ(up_->Call("auth", "DELETE", "/v1/account/oauth-grants/" + id, "", viewer_session_).status, 404);
  EXPECT_EQ(list(up_->admin_key()).status, 403);
  EXPECT_EQ(up_->Call("auth", "DELETE", "/v1/account/oauth-grants/not-a-grant", "", developer_session_).status, 400);
  // Positive control: the token works while the grant lives.
  EXPECT_FALSE(Initialize(access).empty());

  HttpReply revoked = up_->Call("auth", "DELETE", "/v1/account/oauth-grants/" + id, "", developer_session_);
  ASSERT_EQ(revoked.status, 200) << revoked.body;
  EXPECT_EQ(Str(revoked.json, "id"), id);
  EXPECT_FALSE(ids(developer_session_).contains(id));
  EXPECT_EQ(up_->Call("auth", "DELETE", "/v1/account/oauth-grants/" + id, "", developer_session_).status, 404);
  EXPECT_EQ(Str(Refresh(refresh).json, "error"), "invalid_grant");
  // The access token (valid for minutes more) stops at the api within the recheck window.
  auto init = [&] {
    return Mcp(json::object{{"jsonrpc", "2.0"}, {"id", 1}, {"method", "initialize"},
                            {"params", {{"protocolVersion", "2025-06-18"}, {"clientInfo", {{"name", "x"}}}}}},
               access)
        .status;
  };
  int last = 0;
  EXPECT_TRUE(testing::PollUntil([&] { return (last = init()) == 401; }, 20000)) << last;
  EXPECT_TRUE(testing::PollUntil(
      [] { return testing::CountAuditLines(up_->data_dir(), "auth.oauth.revoke", {"itest agent", "account"}) >= 1; },
      30000));
}

// An admin sees which agents hold access to the org and through whom (oauth.md §7c), and
// ends one; a grant of an admin or owner is an owner's to end; others see nothing.
TEST_F(McpOAuthTest, AnAdminListsAndRevokesTheOrgsGrants) {
  const std::string admin = NewSession("admin@oauth.test", "admin");
  ASSERT_FALSE(admin.empty());
  auto org_ids = [&](const std::string& bearer) {
    std::map<std::string, std::string> out;  // grant id → its user's email
    HttpReply r = up_->Call("auth", "GET", "/v1/org/oauth-grants", "", bearer);
    EXPECT_EQ(r.status, 200) << r.body;
    if (r.status != 200) return out;
    for (const json::value& g : r.json.at("grants").as_array()) out[Str(g, "id")] = Str(g.at("user"), "email");
    return out;
  };
  auto grant_of = [&](const std::string& session) {
    std::set<std::string> before;
    const HttpReply earlier = up_->Call("auth", "GET", "/v1/account/oauth-grants", "", session);
    for (const json::value& g : earlier.json.at("grants").as_array()) before.insert(Str(g, "id"));
    HttpReply t = Exchange(Consent(session, Authorize("read")));
    EXPECT_EQ(t.status, 200) << t.body;
    const HttpReply after = up_->Call("auth", "GET", "/v1/account/oauth-grants", "", session);
    for (const json::value& g : after.json.at("grants").as_array()) {
      if (!before.contains(Str(g, "id"))) return std::make_pair(Str(g, "id"), Str(t.json, "refresh_token"));
    }
    return std::make_pair(std::string(), std::string());
  };
  auto [dev_grant, dev_refresh] = grant_of(developer_session_);
  auto [admin_grant, admin_refresh] = grant_of(admin);
  ASSERT_FALSE(dev_grant.empty());
  ASSERT_FALSE(admin_grant.empty());

  // The admin (a session) and the owner's admin key both see both grants, with their users.
  std::map<std::string, std::string> seen = org_ids(admin);
  EXPECT_EQ(seen[dev_grant], "dev@oauth.test");
  EXPECT_EQ(seen[admin_grant], "admin@oauth.test");
  EXPECT_TRUE(org_ids(up_->admin_key()).contains(dev_grant));
  // A developer or viewer may not look, nor revoke; bad ids are 400; unknown ones 404.
  EXPECT_EQ(up_->Call("auth", "GET", "/v1/org/oauth-grants", "", developer_session_).status, 403);
  EXPECT_EQ(up_->Call("auth", "GET", "/v1/org/oauth-grants", "", viewer_session_).status, 403);
  EXPECT_EQ(up_->Call("auth", "DELETE", "/v1/org/oauth-grants/" + dev_grant, "", viewer_session_).status, 403);
  EXPECT_EQ(up_->Call("auth", "DELETE", "/v1/org/oauth-grants/nope", "", admin).status, 400);
  EXPECT_EQ(up_->Call("auth", "DELETE", "/v1/org/oauth-grants/ogr_unknown", "", admin).status, 404);
  // Another org's owner neither sees nor revokes this org's grants.
  const std::string rival = testing::TokenForOwnerOfAnotherOrg(*up_, "grants-rival");
  ASSERT_FALSE(rival.empty());
  HttpReply rival_list = up_->Call("auth", "GET", "/v1/org/oauth-grants", "", rival);
  if (rival_list.status == 200) {
    EXPECT_EQ(rival_list.body.find(dev_grant), std::string::npos) << rival_list.body;
  }
  EXPECT_NE(up_->Call("auth", "DELETE", "/v1/org/oauth-grants/" + dev_grant, "", rival).status, 200);

  // An admin may not end another admin's grant; the owner may.
  HttpReply above = up_->Call("auth", "DELETE", "/v1/org/oauth-grants/" + admin_grant, "", NewSession("admin2@oauth.test", "admin"));
  EXPECT_EQ(above.status, 403) << above.body;
  EXPECT_TRUE(org_ids(admin).contains(admin_grant));
  // The admin ends the developer's grant: its refresh token is refused at once.
  HttpReply revoked = up_->Call("auth", "DELETE", "/v1/org/oauth-grants/" + dev_grant, "", admin);
  ASSERT_EQ(revoked.status, 200) << revoked.body;
  EXPECT_EQ(Str(Refresh(dev_refresh).json, "error"), "invalid_grant");
  EXPECT_FALSE(org_ids(admin).contains(dev_grant));
  HttpReply by_owner = up_->Call("auth", "DELETE", "/v1/org/oauth-grants/" + admin_grant, "", up_->admin_key());
  EXPECT_EQ(by_owner.status, 200) << by_owner.body;
  EXPECT_TRUE(testing::PollUntil(
      [] { return testing::CountAuditLines(up_->data_dir(), "auth.oauth.revoke", {"\"via\":\"org\""}) >= 2; }, 30000));

  // The CLI: `member apps list` and `member apps revoke` with an admin key.
  auto [third, third_refresh] = grant_of(developer_session_);
  ASSERT_FALSE(third.empty());
  const std::string env = "EDGEVAULT_AUTH_URL=http://127.0.0.1:" + std::to_string(up_->port("auth")) +
                          " EDGEVAULT_API_URL=http://127.0.0.1:" + std::to_string(up_->port("api")) +
                          " EDGEVAULT_TOKEN=" + up_->admin_key() + " EDGEVAULT_PROFILE=/nonexistent";
  testing::CommandResult listed = testing::RunEdgevault("member apps list", env);
  EXPECT_EQ(listed.code, 0) << listed.out;
  EXPECT_NE(listed.out.find(third), std::string::npos) << listed.out;
  EXPECT_NE(listed.out.find("dev@oauth.test"), std::string::npos) << listed.out;
  testing::CommandResult cut = testing::RunEdgevault("member apps revoke " + third, env);
  EXPECT_EQ(cut.code, 0) << cut.out;
  EXPECT_EQ(Str(Refresh(third_refresh).json, "error"), "invalid_grant");
  testing::CommandResult again = testing::RunEdgevault("member apps revoke " + third, env);
  EXPECT_NE(again.code, 0) << again.out;
}

TEST_F(McpOAuthTest, ScopesNeverExceedTheRole) {
  HttpReply t = Exchange(Consent(viewer_session_));
  ASSERT_EQ(t.status, 200) << t.body;
  EXPECT_EQ(Str(t.json, "scope"), "read");
  std::vector<std::string> tools = ToolNames(Str(t.json, "access_token"));
  EXPECT_NE(std::find(tools.begin(), tools.end(), "list_workspaces"), tools.end());
  EXPECT_EQ(std::find(tools.begin(), tools.end(), "apply_change"), tools.end());
  // A developer who unticks write gets a read-only agent too.
  json::object req = Authorize();
  req["scopes"] = json::array{"read"};
  HttpReply ro = Exchange(Consent(developer_session_, req));
  ASSERT_EQ(ro.status, 200);
  EXPECT_EQ(Str(ro.json, "scope"), "read");
  tools = ToolNames(Str(ro.json, "access_token"));
  EXPECT_EQ(std::find(tools.begin(), tools.end(), "propose_change"), tools.end());
}

TEST_F(McpOAuthTest, GrantsAreAudited) {
  ASSERT_FALSE(Consent(developer_session_).empty());
  EXPECT_TRUE(testing::PollUntil(
      [] { return testing::CountAuditLines(up_->data_dir(), "auth.oauth.grant", {"itest agent", "user:"}) >= 1; },
      30000));
  EXPECT_TRUE(testing::PollUntil(
      [] { return testing::CountAuditLines(up_->data_dir(), "auth.oauth.client.register", {"itest agent"}) >= 1; },
      30000));
}

}  // namespace
}  // namespace edgevault
