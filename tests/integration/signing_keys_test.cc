// JWT signing keys through the real binaries (`edgevault up`, the CLI, auth and the api):
// a key revoked with `edgevault keys revoke-signing` is refused by the api within seconds,
// and a key added with `rotate-signing` is published before auth signs with it, so the api
// never refuses a token auth issued during a rotation.
#include <chrono>
#include <thread>

#include "gtest/gtest.h"
#include "src/base/encoding.h"
#include "src/base/strings.h"
#include "tests/integration/harness.h"

namespace edgevault {
namespace {

namespace json = boost::json;
using testing::EdgeVaultUp;
using testing::HttpReply;

// Polls `done` every 50 ms until it holds or `limit` passes; true when it held.
template <typename F>
bool PollUntil(F done, std::chrono::seconds limit = std::chrono::seconds(60)) {
  return testing::PollUntil(done, static_cast<int>(std::chrono::milliseconds(limit).count()));
}

std::string KidOf(const std::string& jwt) {
  absl::StatusOr<std::string> header = base::Base64UrlDecode(jwt.substr(0, jwt.find('.')));
  if (!header.ok()) return "";
  boost::system::error_code ec;
  json::value v = json::parse(*header, ec);
  if (ec || !v.is_object()) return "";
  const json::value* kid = v.as_object().if_contains("kid");
  return kid != nullptr && kid->is_string() ? std::string(kid->as_string()) : "";
}

class SigningKeysTest : public ::testing::Test {
 protected:
  void SetUp() override {
    up_ = EdgeVaultUp::Start();
    ASSERT_NE(up_, nullptr);
    const std::string password = "signing keys password 1";
    HttpReply created = up_->Json("auth", "POST", "/v1/users",
                                  {{"email", "dev@example.com"}, {"role", "developer"}, {"password", password}},
                                  up_->admin_key());
    ASSERT_EQ(created.status, 201) << created.body;
    HttpReply login = up_->Json("auth", "POST", "/v1/login", {{"email", "dev@example.com"}, {"password", password}});
    ASSERT_EQ(login.status, 200) << login.body;
    session_ = std::string(login.json.at("session").as_string());
  }

  std::string Token() {
    HttpReply r = up_->Call("auth", "POST", "/v1/token", "", session_);
    if (r.status != 200 || !r.json.is_object() || !r.json.as_object().if_contains("token")) return "";
    return std::string(r.json.at("token").as_string());
  }
  int ApiStatus(const std::string& jwt) { return up_->Call("api", "GET", "/v1/workspaces", "", jwt).status; }
  std::string Jwks() { return up_->Call("auth", "GET", "/.well-known/jwks.json").body; }
  // `edgevault keys COMMAND --data-dir D [-- KID]`: a kid is base64url and may start with
  // '-', which reads as an option unless it follows "--" (1 run in 64 failed on it).
  testing::CommandResult Keys(const std::string& command, const std::string& kid = "") {
    return testing::RunEdgevault("keys " + command + " --data-dir " + up_->data_dir() + (kid.empty() ? "" : " -- " + kid));
  }

  std::unique_ptr<EdgeVaultUp> up_;
  std::string session_;
};

TEST_F(SigningKeysTest, RevokedKeyIsRefusedByTheApiWithinSeconds) {
  std::string jwt = Token();
  ASSERT_FALSE(jwt.empty());
  ASSERT_EQ(ApiStatus(jwt), 200);
  std::string kid = KidOf(jwt);
  ASSERT_FALSE(kid.empty());

  testing::CommandResult revoked = Keys("revoke-signing", kid);
  ASSERT_EQ(revoked.code, 0) << revoked.out;
  EXPECT_NE(revoked.out.find(kid), std::string::npos) << revoked.out;
  // Auth stops publishing it at once...
  EXPECT_EQ(Jwks().find(kid), std::string::npos);
  // ...and the api refuses it as soon as its JWKS cache refreshes (every few seconds).
  EXPECT_TRUE(PollUntil([&] { return ApiStatus(jwt) == 401; }, std::chrono::seconds(30)))
      << "the api still accepts a token signed with the revoked key";
  // New tokens come from another key and work.
  std::string fresh;
  EXPECT_TRUE(PollUntil([&] {
    fresh = Token();
    return !fresh.empty() && ApiStatus(fresh) == 200;
  }));
  EXPECT_NE(KidOf(fresh), kid);
  // Revoking it again changes nothing; an unknown kid is an error.
  EXPECT_EQ(Keys("revoke-signing", kid).code, 0);
  testing::CommandResult unknown = Keys("revoke-signing", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
  EXPECT_NE(unknown.code, 0) << unknown.out;
}

TEST_F(SigningKeysTest, RotationNeverGetsATokenRefusedByTheApi) {
  std::string old_kid = KidOf(Token());
  ASSERT_FALSE(old_kid.empty());
  // A token naming a kid the api does not know makes it refresh its JWKS now, which
  // used to block the next refresh for 10 s: the window in which a freshly rotated key
  // was refused.
  std::string forged = base::Base64UrlEncode(R"({"alg":"EdDSA","typ":"JWT","kid":"no-such-key"})") +
                       ".e30." + base::Base64UrlEncode(std::string(64, 'x'));
  EXPECT_EQ(ApiStatus(forged), 401);
  testing::CommandResult rotated = Keys("rotate-signing");
  ASSERT_EQ(rotated.code, 0) << rotated.out;
  int minted = 0, refused = 0;
  bool switched = PollUntil([&] {
    std::string jwt = Token();
    if (jwt.empty()) return false;
    ++minted;
    if (ApiStatus(jwt) != 200) ++refused;
    return KidOf(jwt) != old_kid;
  });
  EXPECT_TRUE(switched) << "auth never started signing with the new key";
  EXPECT_GT(minted, 1);
  EXPECT_EQ(refused, 0) << "of " << minted << " tokens minted during the rotation";
}

}  // namespace
}  // namespace edgevault
