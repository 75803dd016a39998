// The console's backend-for-frontend through the real binaries (`edgevault up`): login
// into the cookie (the bootstrap owner's one-time password changed through
// /bff/v1/password), the session document, the api proxy, the CSRF rules, logout, no
// token ever in a body, security headers, static files without path traversal, the SSE
// relay, and login throttling by the browser's real address (docs/design/console.md).
#include <sys/socket.h>
#include <unistd.h>

#include <cctype>
#include <filesystem>
#include <fstream>

#include "gtest/gtest.h"
#include "src/base/encoding.h"
#include "src/base/strings.h"
#include "src/crypto/totp.h"
#include "tests/integration/harness.h"

namespace edgevault {
namespace {

namespace fs = std::filesystem;
namespace json = boost::json;
using testing::EdgeVaultUp;
using testing::HttpReply;

using Headers = std::vector<std::pair<std::string, std::string>>;

constexpr char kNewPassword[] = "console integration password 1";

void WriteFile(const fs::path& p, const std::string& text) {
  fs::create_directories(p.parent_path());
  std::ofstream(p) << text;
}

// The value of the session cookie in a Set-Cookie header ("" when none).
std::string CookieToken(const HttpReply& r) {
  std::string sc = r.Header("Set-Cookie");
  if (!sc.starts_with("ev_session=")) return "";
  return sc.substr(11, sc.find(';') - 11);
}

// Whether `body` holds a whole key with `prefix` (a listed key's short display prefix,
// "evk_AbCd", is not one).
bool HasKey(const std::string& body, std::string_view prefix) {
  for (size_t at = body.find(prefix); at != std::string::npos; at = body.find(prefix, at + 1)) {
    size_t n = 0;
    for (size_t i = at + prefix.size(); i < body.size() && (std::isalnum(static_cast<unsigned char>(body[i])) ||
                                                            body[i] == '_' || body[i] == '-');
         ++i) {
      ++n;
    }
    if (n >= 16) return true;
  }
  return false;
}

class ConsoleTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    root_ = new fs::path(fs::temp_directory_path() / base::StrCat("ev-console-web-", ::getpid()));
    fs::remove_all(*root_);
    WriteFile(*root_ / "web" / "index.html", "<!doctype html><title>EdgeVault test app</title>");
    WriteFile(*root_ / "web" / "assets" / "app.1234.js", "console.log('app');");
    WriteFile(*root_ / "web" / "assets" / "app.1234.css", "body{}");
    WriteFile(*root_ / "outside.txt", "OUTSIDE-SECRET");
    fs::create_symlink(*root_ / "outside.txt", *root_ / "web" / "assets" / "link.txt");
    up_ = EdgeVaultUp::Start({"--set", base::StrCat("console.web_dir=", (*root_ / "web").string())}).release();
    ASSERT_NE(up_, nullptr);
    origin_ = new std::string(base::StrCat("http://127.0.0.1:", up_->port("console")));

    // The bootstrap owner logs in with the one-time password, then must change it.
    first_login_ = new HttpReply(up_->Json("console", "POST", "/bff/v1/login",
                                           {{"email", up_->owner_email()}, {"password", up_->owner_password()}},
                                           "", SameOrigin()));
    std::string first = CookieToken(*first_login_);
    HttpReply doc = Get("/bff/v1/session", first);
    std::string csrf = doc.status == 200 ? std::string(doc.json.at("csrf_token").as_string()) : "";
    Headers h = SameOrigin();
    h.push_back({"Cookie", "ev_session=" + first});
    h.push_back({"X-CSRF-Token", csrf});
    password_change_ = new HttpReply(up_->Json(
        "console", "POST", "/bff/v1/password",
        {{"current_password", up_->owner_password()}, {"new_password", kNewPassword}}, "", h));
    session_ = new std::string(CookieToken(*password_change_));
    HttpReply now = Get("/bff/v1/session", *session_);
    csrf_ = new std::string(now.status == 200 ? std::string(now.json.at("csrf_token").as_string()) : "");
  }
  static void TearDownTestSuite() {
    delete up_;
    up_ = nullptr;
    if (root_) fs::remove_all(*root_);
  }

  static Headers SameOrigin() { return {{"Origin", *origin_}, {"Sec-Fetch-Site", "same-origin"}}; }

  static HttpReply Get(const std::string& target, const std::string& session, Headers h = {}) {
    if (!session.empty()) h.push_back({"Cookie", "ev_session=" + session});
    return Checked(up_->Call("console", "GET", target, "", "", h), session);
  }
  // A state-changing request as the web app sends it: cookie, Origin, Sec-Fetch-Site and
  // the CSRF token.
  static HttpReply Write(const std::string& method, const std::string& target, const json::value& body,
                         const std::string& session = "", const std::string& csrf = "") {
    Headers h = SameOrigin();
    h.push_back({"Cookie", "ev_session=" + (session.empty() ? *session_ : session)});
    h.push_back({"X-CSRF-Token", csrf.empty() ? *csrf_ : csrf});
    return Checked(up_->Json("console", method, target, body, "", h), session.empty() ? *session_ : session);
  }
  // No answer to the browser holds a JWT, a session token or a key.
  static HttpReply Checked(HttpReply r, const std::string& session) {
    EXPECT_EQ(r.body.find("eyJ"), std::string::npos) << r.body;
    EXPECT_EQ(r.body.find("evsn_"), std::string::npos) << r.body;
    EXPECT_FALSE(HasKey(r.body, "evk_")) << r.body;
    EXPECT_FALSE(HasKey(r.body, "evs_")) << r.body;
    if (!session.empty()) {
      EXPECT_EQ(r.body.find(session), std::string::npos);
    }
    return r;
  }
  static json::array Workspaces() {
    HttpReply r = Get("/bff/api/workspaces", *session_);
    EXPECT_EQ(r.status, 200) << r.body;
    return r.status == 200 ? r.json.at("workspaces").as_array() : json::array{};
  }
  static void ExpectSecurityHeaders(const HttpReply& r) {
    EXPECT_EQ(r.Header("X-Content-Type-Options"), "nosniff");
    EXPECT_EQ(r.Header("Referrer-Policy"), "no-referrer");
    EXPECT_EQ(r.Header("X-Frame-Options"), "DENY");
    EXPECT_NE(r.Header("Content-Security-Policy").find("frame-ancestors 'none'"), std::string::npos);
  }

  static fs::path* root_;
  static EdgeVaultUp* up_;
  static std::string* origin_;
  static HttpReply* first_login_;
  static HttpReply* password_change_;
  static std::string* session_;
  static std::string* csrf_;
};

fs::path* ConsoleTest::root_ = nullptr;
EdgeVaultUp* ConsoleTest::up_ = nullptr;
std::string* ConsoleTest::origin_ = nullptr;
HttpReply* ConsoleTest::first_login_ = nullptr;
HttpReply* ConsoleTest::password_change_ = nullptr;
std::string* ConsoleTest::session_ = nullptr;
std::string* ConsoleTest::csrf_ = nullptr;

TEST_F(ConsoleTest, LoginSetsAStrictHttpOnlyCookieAndNoTokenInTheBody) {
  ASSERT_EQ(first_login_->status, 200) << first_login_->body;
  std::string sc = first_login_->Header("Set-Cookie");
  EXPECT_TRUE(sc.starts_with("ev_session=evsn_")) << sc;
  EXPECT_NE(sc.find("; HttpOnly"), std::string::npos) << sc;
  EXPECT_NE(sc.find("; SameSite=Strict"), std::string::npos) << sc;
  EXPECT_NE(sc.find("; Path=/"), std::string::npos) << sc;
  EXPECT_EQ(sc.find("Secure"), std::string::npos) << "plain HTTP: no Secure, no __Host- prefix";
  EXPECT_EQ(first_login_->body.find("evsn_"), std::string::npos) << first_login_->body;
  EXPECT_EQ(first_login_->body.find(CookieToken(*first_login_)), std::string::npos);
  EXPECT_TRUE(first_login_->json.at("must_change_password").as_bool());
  EXPECT_EQ(first_login_->Header("Cache-Control"), "no-store");

  // The one-time password is replaced; auth's new session replaces the cookie.
  ASSERT_EQ(password_change_->status, 200) << password_change_->body;
  EXPECT_TRUE(session_->starts_with("evsn_"));
  EXPECT_NE(*session_, CookieToken(*first_login_));
  EXPECT_FALSE(password_change_->json.at("must_change_password").as_bool());
  // The first session ended with the password change.
  EXPECT_EQ(Get("/bff/v1/session", CookieToken(*first_login_)).status, 401);
}

TEST_F(ConsoleTest, SessionDocumentSaysWhoIsLoggedIn) {
  HttpReply r = Get("/bff/v1/session", *session_);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.json.at("user").at("email").as_string(), up_->owner_email());
  EXPECT_FALSE(r.json.at("user").at("id").as_string().empty());
  EXPECT_EQ(r.json.at("role").as_string(), "owner");
  EXPECT_FALSE(r.json.at("org_id").as_string().empty());
  EXPECT_EQ(r.json.at("csrf_token").as_string().size(), 64u);
  EXPECT_EQ(r.Header("Cache-Control"), "no-store");
  ExpectSecurityHeaders(r);
  // Without a cookie, or with a made-up one: 401.
  EXPECT_EQ(Get("/bff/v1/session", "").status, 401);
  EXPECT_EQ(Get("/bff/v1/session", "evsn_made_up").status, 401);
}

TEST_F(ConsoleTest, ApiProxyCreatesAndListsAWorkspace) {
  HttpReply created = Write("POST", "/bff/api/workspaces", json::object{{"key", "shop"}, {"name", "Shop"}});
  ASSERT_EQ(created.status, 201) << created.body;
  EXPECT_EQ(created.Header("Content-Type").substr(0, 16), "application/json");
  bool found = false;
  for (const json::value& w : Workspaces()) found = found || w.at("key").as_string() == "shop";
  EXPECT_TRUE(found);
  // Auth's account routes with the session as bearer; token and login routes are not there.
  HttpReply members = Get("/bff/auth/members", *session_);
  EXPECT_EQ(members.status, 200) << members.body;
  EXPECT_EQ(Write("POST", "/bff/auth/token", json::object{}).status, 404);
  EXPECT_EQ(Write("POST", "/bff/auth/login", json::object{}).status, 404);
  EXPECT_EQ(Get("/bff/nothing-here", *session_).status, 404);
}

TEST_F(ConsoleTest, CrossSiteWritesAreRefusedAndChangeNothing) {
  const size_t before = Workspaces().size();
  const std::string body = json::serialize(json::object{{"key", "csrf"}, {"name", "x"}});
  const std::string cookie = "ev_session=" + *session_;
  std::vector<std::pair<std::string, Headers>> cases = {
      {"no Origin", {{"Cookie", cookie}, {"X-CSRF-Token", *csrf_}}},
      {"foreign Origin", {{"Cookie", cookie}, {"X-CSRF-Token", *csrf_}, {"Origin", "http://evil.example"}}},
      {"cross-site", {{"Cookie", cookie}, {"X-CSRF-Token", *csrf_}, {"Origin", *origin_}, {"Sec-Fetch-Site", "cross-site"}}},
      {"no CSRF token", {{"Cookie", cookie}, {"Origin", *origin_}, {"Sec-Fetch-Site", "same-origin"}}},
      {"wrong CSRF token", {{"Cookie", cookie}, {"Origin", *origin_}, {"X-CSRF-Token", std::string(64, '0')}}},
  };
  for (const auto& [what, headers] : cases) {
    SCOPED_TRACE(what);
    HttpReply r = Checked(up_->Call("console", "POST", "/bff/api/workspaces", body, "", headers), *session_);
    EXPECT_EQ(r.status, 403) << r.body;
    ASSERT_TRUE(r.json.is_object()) << r.body;
    EXPECT_EQ(r.json.at("error").at("code").as_string(), "csrf");
    ExpectSecurityHeaders(r);
  }
  // Logout and login are state-changing too.
  EXPECT_EQ(up_->Call("console", "POST", "/bff/v1/logout", "", "", {{"Cookie", cookie}}).status, 403);
  EXPECT_EQ(up_->Json("console", "POST", "/bff/v1/login", {{"email", "a@b.c"}, {"password", "x"}}, "",
                      {{"Origin", "http://evil.example"}})
                .status,
            403);
  EXPECT_EQ(Workspaces().size(), before);
  EXPECT_EQ(Get("/bff/v1/session", *session_).status, 200) << "the session survived";
}

TEST_F(ConsoleTest, LogoutMakesTheOldCookieUseless) {
  HttpReply login = up_->Json("console", "POST", "/bff/v1/login",
                              {{"email", up_->owner_email()}, {"password", kNewPassword}}, "", SameOrigin());
  ASSERT_EQ(login.status, 200) << login.body;
  Checked(login, CookieToken(login));
  const std::string session = CookieToken(login);
  HttpReply doc = Get("/bff/v1/session", session);
  ASSERT_EQ(doc.status, 200);
  const std::string csrf(doc.json.at("csrf_token").as_string());
  EXPECT_EQ(Get("/bff/api/workspaces", session).status, 200);  // a JWT is now cached for it
  HttpReply out = Write("POST", "/bff/v1/logout", json::object{}, session, csrf);
  EXPECT_EQ(out.status, 200) << out.body;
  EXPECT_NE(out.Header("Set-Cookie").find("Max-Age=0"), std::string::npos);
  EXPECT_EQ(Get("/bff/v1/session", session).status, 401);
  EXPECT_EQ(Get("/bff/api/workspaces", session).status, 401);
  EXPECT_EQ(Get("/bff/auth/members", session).status, 401);
  EXPECT_EQ(Get("/bff/v1/session", *session_).status, 200) << "other sessions are untouched";
}

TEST_F(ConsoleTest, ApiKeyShownOnceToItsCreatorOnly) {
  HttpReply key = up_->Json("console", "POST", "/bff/auth/api-keys", {{"name", "ci"}}, "",
                            [] {
                              Headers h = SameOrigin();
                              h.push_back({"Cookie", "ev_session=" + *session_});
                              h.push_back({"X-CSRF-Token", *csrf_});
                              return h;
                            }());
  ASSERT_EQ(key.status, 201) << key.body;
  EXPECT_TRUE(HasKey(key.body, "evk_")) << "the key the user just created: " << key.body;
  HttpReply list = Get("/bff/auth/api-keys", *session_);  // Checked: no evk_ secret in the list
  EXPECT_EQ(list.status, 200) << list.body;
}

TEST_F(ConsoleTest, StaticFilesWithHeadersAndNoTraversal) {
  HttpReply index = Get("/", "");
  EXPECT_EQ(index.status, 200);
  EXPECT_NE(index.body.find("EdgeVault test app"), std::string::npos);
  EXPECT_EQ(index.Header("Cache-Control"), "no-cache");
  EXPECT_EQ(index.Header("Content-Type"), "text/html; charset=utf-8");
  ExpectSecurityHeaders(index);
  HttpReply deep = Get("/workspaces/shop/flags", "");  // client-side routing
  EXPECT_EQ(deep.status, 200);
  EXPECT_EQ(deep.body, index.body);

  HttpReply js = Get("/assets/app.1234.js", "");
  EXPECT_EQ(js.status, 200);
  EXPECT_EQ(js.body, "console.log('app');");
  EXPECT_EQ(js.Header("Content-Type"), "text/javascript; charset=utf-8");
  EXPECT_EQ(js.Header("Cache-Control"), "public, max-age=31536000, immutable");
  ExpectSecurityHeaders(js);
  EXPECT_EQ(Get("/assets/app.1234.css", "").Header("Content-Type"), "text/css; charset=utf-8");

  HttpReply missing = Get("/assets/x", "");
  EXPECT_EQ(missing.status, 404);
  EXPECT_EQ(missing.json.at("error").at("code").as_string(), "not_found");
  ExpectSecurityHeaders(missing);
  for (const char* bad : {"/assets/../outside.txt", "/assets/../../outside.txt", "/assets/..%2f..%2foutside.txt",
                          "/assets/%2e%2e/%2e%2e/outside.txt", "/assets/link.txt", "/assets/..%5coutside.txt",
                          "/assets/./app.1234.js"}) {
    SCOPED_TRACE(bad);
    HttpReply r = Get(bad, "");
    EXPECT_EQ(r.status, 404) << r.body;
    EXPECT_EQ(r.body.find("OUTSIDE-SECRET"), std::string::npos);
  }
  EXPECT_EQ(Get("/../outside.txt", "").body.find("OUTSIDE-SECRET"), std::string::npos);
}

TEST_F(ConsoleTest, EventsAreRelayedFromTheApi) {
  ASSERT_EQ(Write("POST", "/bff/api/workspaces", json::object{{"key", "live"}, {"name", "Live"}}).status, 201);
  ASSERT_EQ(Write("POST", "/bff/api/workspaces/live/environments",
                  json::object{{"key", "dev"}, {"name", "Dev"}, {"reason", "setup"}})
                .status,
            201);
  int fd = testing::ConnectLoopback(up_->port("console"));
  ASSERT_GE(fd, 0);
  std::string req = base::StrCat("GET /bff/api/workspaces/live/events HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: ev_session=",
                                 *session_, "\r\n\r\n");
  ::send(fd, req.data(), req.size(), 0);
  std::string got;
  testing::ReadUntil(fd, got, ": connected");
  ASSERT_NE(got.find("text/event-stream"), std::string::npos) << got;
  ASSERT_EQ(Write("PUT", "/bff/api/workspaces/live/configs/greeting",
                  json::object{{"type", "string"}, {"values", {{"dev", "hi"}}}, {"reason", "relay me"}})
                .status,
            200);
  testing::ReadUntil(fd, got, "relay me");
  EXPECT_NE(got.find("event: revision"), std::string::npos) << got;
  EXPECT_NE(got.find("relay me"), std::string::npos) << got;
  EXPECT_EQ(got.find("eyJ"), std::string::npos);
  ::close(fd);
  // Without a session: 401, no stream.
  EXPECT_EQ(Get("/bff/api/workspaces/live/events", "").status, 401);
}

// The second-factor step: /bff/v1/login answers a continuation (no cookie), and
// /bff/v1/login/totp sets the cookie.
TEST(ConsoleMfaTest, SecondFactorLoginSetsTheCookieOnlyAfterTheSecondStep) {
  auto up = EdgeVaultUp::Start();
  ASSERT_NE(up, nullptr);
  const std::string origin = base::StrCat("http://127.0.0.1:", up->port("console"));
  auto post = [&](const std::string& target, const json::value& body, const std::string& session = "",
                  const std::string& csrf = "") {
    Headers h = {{"Origin", origin}, {"Sec-Fetch-Site", "same-origin"}};
    if (!session.empty()) h.push_back({"Cookie", "ev_session=" + session});
    if (!csrf.empty()) h.push_back({"X-CSRF-Token", csrf});
    return up->Json("console", "POST", target, body, "", h);
  };
  auto csrf_of = [&](const std::string& session) {
    HttpReply r = up->Call("console", "GET", "/bff/v1/session", "", "", {{"Cookie", "ev_session=" + session}});
    return r.status == 200 ? std::string(r.json.at("csrf_token").as_string()) : std::string();
  };
  HttpReply first = post("/bff/v1/login", {{"email", up->owner_email()}, {"password", up->owner_password()}});
  ASSERT_EQ(first.status, 200) << first.body;
  std::string session = CookieToken(first);
  HttpReply changed = post("/bff/v1/password",
                           {{"current_password", up->owner_password()}, {"new_password", kNewPassword}}, session,
                           csrf_of(session));
  ASSERT_EQ(changed.status, 200) << changed.body;
  session = CookieToken(changed);
  const std::string csrf = csrf_of(session);
  HttpReply enroll = post("/bff/auth/mfa/totp/enroll", json::object{}, session, csrf);
  ASSERT_EQ(enroll.status, 200) << enroll.body;
  absl::StatusOr<std::string> secret = base::Base32Decode(std::string(enroll.json.at("secret").as_string()));
  ASSERT_TRUE(secret.ok());
  HttpReply confirm = post("/bff/auth/mfa/totp/confirm",
                           {{"code", crypto::TotpCode(*secret, crypto::TotpStep(absl::Now()))}}, session, csrf);
  ASSERT_EQ(confirm.status, 200) << confirm.body;
  const std::string recovery(confirm.json.at("recovery_codes").as_array().at(0).as_string());

  HttpReply step1 = post("/bff/v1/login", {{"email", up->owner_email()}, {"password", kNewPassword}});
  ASSERT_EQ(step1.status, 200) << step1.body;
  EXPECT_TRUE(step1.json.at("mfa_required").as_bool());
  EXPECT_EQ(step1.Header("Set-Cookie"), "") << "no session before the second factor";
  HttpReply step2 = post("/bff/v1/login/totp",
                         {{"mfa_token", step1.json.at("mfa_token")}, {"recovery_code", recovery}});
  ASSERT_EQ(step2.status, 200) << step2.body;
  const std::string second = CookieToken(step2);
  EXPECT_TRUE(second.starts_with("evsn_"));
  EXPECT_EQ(step2.body.find("evsn_"), std::string::npos) << step2.body;
  EXPECT_EQ(step2.json.at("auth_methods").as_string(), "pwd+recovery");
  EXPECT_EQ(up->Call("console", "GET", "/bff/api/workspaces", "", "", {{"Cookie", "ev_session=" + second}}).status,
            200);
}

// The browser cannot pick the address auth throttles: the console replaces its
// X-Forwarded-For with the connection's address.
TEST(ConsoleThrottleTest, ForgedForwardedForDoesNotEscapeTheAddressLockout) {
  const fs::path empty = fs::temp_directory_path() / base::StrCat("ev-console-empty-", ::getpid());
  fs::create_directories(empty);
  auto up = EdgeVaultUp::Start({"--set", "auth.throttle_address_failures=3", "--set",
                                base::StrCat("console.web_dir=", empty.string())});
  ASSERT_NE(up, nullptr);
  Headers h = {{"Origin", base::StrCat("http://127.0.0.1:", up->port("console"))}};
  auto login = [&](int i, const std::string& claimed) {
    Headers with = h;
    with.push_back({"X-Forwarded-For", claimed});
    return up->Json("console", "POST", "/bff/v1/login",
                    {{"email", base::StrCat("guess", i, "@example.com")}, {"password", "wrong password 1"}}, "",
                    with);
  };
  for (int i = 0; i < 3; ++i) EXPECT_EQ(login(i, base::StrCat("198.51.100.", i + 1)).status, 401);
  HttpReply locked = login(9, "198.51.100.99");
  EXPECT_EQ(locked.status, 429) << locked.body;
  EXPECT_FALSE(locked.Header("Retry-After").empty());
  // Positive control: auth itself believes X-Forwarded-For from loopback (up's default), so
  // it was the console's replacement that kept the lockout.
  HttpReply direct = up->Json("auth", "POST", "/v1/login",
                              {{"email", "guess10@example.com"}, {"password", "wrong password 1"}}, "",
                              {{"X-Forwarded-For", "198.51.100.100"}});
  EXPECT_EQ(direct.status, 401) << direct.body;
  // The web app is not built here: a built-in page says so, with the security headers.
  HttpReply page = up->Call("console", "GET", "/");
  EXPECT_EQ(page.status, 200);
  EXPECT_NE(page.body.find("not built"), std::string::npos) << page.body;
  EXPECT_EQ(page.Header("X-Frame-Options"), "DENY");
  up.reset();
  fs::remove_all(empty);
}

}  // namespace
}  // namespace edgevault
