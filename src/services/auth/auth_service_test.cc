// The auth service over real HTTP on loopback, with a real SQLite control DB, real
// Argon2id, real Ed25519 — and a simulated clock, so expiry and throttling windows are
// tested without waiting.
#include "src/services/auth/auth_service.h"

#include <atomic>
#include <set>
#include <thread>


#include "src/base/encoding.h"
#include "src/base/strings.h"
#include "src/crypto/hash.h"
#include "src/crypto/jwt.h"
#include "src/crypto/totp.h"
#include "src/services/api/remote_workspace_directory.h"
#include "src/services/auth/auth_service_test_fixture.h"

namespace edgevault::auth {
namespace {

TEST_F(AuthServiceTest, BootstrapRunsOnceAndRollsBackWhenPersistFails) {
  auto failed = service_->Bootstrap("owner@example.com", [](const AuthService::BootstrapResult&) {
    return absl::InternalError("disk full");
  });
  EXPECT_FALSE(failed.ok());
  EXPECT_EQ(*store_->CountUsers(), 0);
  auto first = Boot();
  EXPECT_TRUE(first.created);
  EXPECT_EQ(first.email, "owner@example.com");
  EXPECT_EQ(first.api_key.rfind("evk_", 0), 0u);
  EXPECT_GE(first.password.size(), 20u);
  auto second = Boot();
  EXPECT_FALSE(second.created);
  EXPECT_TRUE(second.password.empty());
  EXPECT_EQ(*store_->CountUsers(), 1);
  // The owner API key works and acts as owner.
  Reply who = Call("GET", "/v1/session", "", first.api_key);
  EXPECT_EQ(who.status, 200) << who.raw;
  EXPECT_EQ(who.body.at("role").as_string(), "owner");
}

TEST_F(AuthServiceTest, OneTimePasswordMustBeChangedBeforeTokens) {
  auto boot = Boot();
  std::string s = Login(boot.email, boot.password);
  Reply denied = Post("/v1/token", json::object{}, s);
  EXPECT_EQ(denied.status, 403);
  EXPECT_EQ(denied.body.at("error").at("code").as_string(), "password_change_required");
  Reply weak = Post("/v1/password", {{"current_password", boot.password}, {"new_password", "short"}}, s);
  EXPECT_EQ(weak.status, 400);
  Reply same_as_email =
      Post("/v1/password", {{"current_password", boot.password}, {"new_password", boot.email}}, s);
  EXPECT_EQ(same_as_email.status, 400);
  Reply changed = Post("/v1/password",
                       {{"current_password", boot.password}, {"new_password", kOwnerPassword}}, s);
  ASSERT_EQ(changed.status, 200) << changed.raw;
  std::string s2(changed.body.at("session").as_string());
  EXPECT_NE(s, s2);  // rotated
  EXPECT_EQ(Call("GET", "/v1/session", "", s).status, 401);
  EXPECT_EQ(Post("/v1/token", json::object{}, s2).status, 200);
  EXPECT_EQ(Post("/v1/login", {{"email", boot.email}, {"password", boot.password}}).status, 401);
  EXPECT_FALSE(Login(boot.email, kOwnerPassword).empty());
}

TEST_F(AuthServiceTest, UnknownEmailAndWrongPasswordLookTheSame) {
  OwnerSession();
  Reply unknown = Post("/v1/login", {{"email", "nobody@example.com"}, {"password", "whatever-123456"}});
  Reply wrong = Post("/v1/login", {{"email", "owner@example.com"}, {"password", "whatever-123456"}});
  EXPECT_EQ(unknown.status, 401);
  EXPECT_EQ(wrong.status, 401);
  EXPECT_EQ(unknown.raw, wrong.raw);
  // The audit event for the unknown email carries a keyed hash of it, never the address.
  auto outbox = store_->PeekOutbox(1000);
  ASSERT_TRUE(outbox.ok());
  std::string expected = "email-hash:" + base::HexEncode(crypto::HmacSha256(std::string(32, 'k'), "nobody@example.com").substr(0, 16));
  bool found = false;
  for (const auto& e : *outbox) {
    EXPECT_EQ(e.json.find("nobody@example.com"), std::string::npos);
    found = found || e.json.find(expected) != std::string::npos;
  }
  EXPECT_TRUE(found);
}

TEST_F(AuthServiceTest, BadRequestsAreStructured400sAndWriteNothing) {
  OwnerSession();
  int64_t users = *store_->CountUsers();
  for (const std::string& body :
       {std::string(""), std::string("{"), std::string("[]"), std::string("{\"email\":1,\"password\":\"x\"}"),
        std::string("{\"email\":\"a@b\"}"), std::string("{\"email\":\"a@b\",\"password\":\"p\",\"extra\":1}"),
        std::string("{\"email\":\"not-an-email\",\"password\":\"p\"}")}) {
    Reply r = Call("POST", "/v1/login", body);
    EXPECT_EQ(r.status, 400) << body << " → " << r.raw;
    EXPECT_TRUE(r.body.is_object() && r.body.as_object().contains("error")) << r.raw;
  }
  EXPECT_EQ(*store_->CountUsers(), users);
  EXPECT_EQ(Post("/v1/token", json::object{}).status, 401);
  EXPECT_EQ(Post("/v1/token", json::object{}, "evsn_made-up").status, 401);
  EXPECT_EQ(Post("/v1/token", json::object{}, "garbage").status, 401);
}

TEST_F(AuthServiceTest, AccountThrottleAndAddressThrottle) {
  OwnerSession();
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(Post("/v1/login", {{"email", "owner@example.com"}, {"password", "wrong-password-1"}}).status, 401);
  }
  Reply limited = Post("/v1/login", {{"email", "owner@example.com"}, {"password", kOwnerPassword}});
  EXPECT_EQ(limited.status, 429);
  EXPECT_EQ(limited.body.at("error").at("code").as_string(), "too_many_attempts");
  ASSERT_FALSE(limited.retry_after.empty());
  EXPECT_GT(std::stoi(limited.retry_after), 0);
  env_.AdvanceBy(absl::Minutes(16));
  EXPECT_FALSE(Login("owner@example.com", kOwnerPassword).empty());

  // The address limit (6) counts failures across accounts, and a correct login does
  // not reset it.
  for (int i = 0; i < 6; ++i) {
    Post("/v1/login", {{"email", "guess" + std::to_string(i) + "@example.com"}, {"password", "wrong-password-1"}});
    if (i == 2) {
      EXPECT_FALSE(Login("owner@example.com", kOwnerPassword).empty());
    }
  }
  EXPECT_EQ(Post("/v1/login", {{"email", "owner@example.com"}, {"password", kOwnerPassword}}).status, 429);
  env_.AdvanceBy(absl::Minutes(16));
  EXPECT_FALSE(Login("owner@example.com", kOwnerPassword).empty());
}

TEST_F(AuthServiceTest, SessionIdleAndAbsoluteExpiry) {
  std::string s = OwnerSession();
  env_.AdvanceBy(absl::Hours(11));
  EXPECT_EQ(Call("GET", "/v1/session", "", s).status, 200);  // use moves the idle expiry
  env_.AdvanceBy(absl::Hours(11));
  EXPECT_EQ(Call("GET", "/v1/session", "", s).status, 200);
  env_.AdvanceBy(absl::Hours(12) + absl::Seconds(1));
  EXPECT_EQ(Call("GET", "/v1/session", "", s).status, 401);  // idle

  std::string s2 = Login("owner@example.com", kOwnerPassword);
  for (int i = 1; i <= 15; ++i) {  // used every 11 h: 165 h in, still valid
    env_.AdvanceBy(absl::Hours(11));
    EXPECT_EQ(Call("GET", "/v1/session", "", s2).status, 200) << i;
  }
  env_.AdvanceBy(absl::Hours(11));  // 176 h: past the 7-day absolute limit
  EXPECT_EQ(Call("GET", "/v1/session", "", s2).status, 401);
}

TEST_F(AuthServiceTest, LogoutAndRevokeAll) {
  std::string a = OwnerSession();
  std::string b = Login("owner@example.com", kOwnerPassword);
  std::string c = Login("owner@example.com", kOwnerPassword);
  EXPECT_EQ(Post("/v1/logout", json::object{}, c).status, 200);
  EXPECT_EQ(Call("GET", "/v1/session", "", c).status, 401);
  Reply revoked = Post("/v1/sessions/revoke-all", json::object{}, a);
  EXPECT_EQ(revoked.status, 200) << revoked.raw;
  EXPECT_EQ(revoked.body.at("revoked").as_int64(), 1);
  EXPECT_EQ(Call("GET", "/v1/session", "", b).status, 401);
  EXPECT_EQ(Call("GET", "/v1/session", "", a).status, 200);
}

TEST_F(AuthServiceTest, ListAndRevokeOwnSessions) {
  std::string a = OwnerSession();
  env_.AdvanceBy(absl::Seconds(5));
  std::string b = Login("owner@example.com", kOwnerPassword);
  Reply list = Call("GET", "/v1/sessions", "", a);
  ASSERT_EQ(list.status, 200) << list.raw;
  const json::array& sessions = list.body.at("sessions").as_array();
  ASSERT_EQ(sessions.size(), 2u);
  const size_t current = sessions[0].at("current").as_bool() ? 0 : 1;
  ASSERT_TRUE(sessions[current].at("current").as_bool());
  ASSERT_FALSE(sessions[1 - current].at("current").as_bool());
  std::string mine(sessions[current].at("id").as_string());
  std::string other(sessions[1 - current].at("id").as_string());
  EXPECT_EQ(other.size(), 16u);
  EXPECT_EQ(list.raw.find(b), std::string::npos) << "a token leaked into the list";

  EXPECT_EQ(Call("DELETE", "/v1/sessions/" + mine, "", a).status, 409);
  EXPECT_EQ(Call("DELETE", "/v1/sessions/NOT-HEX", "", a).status, 400);
  EXPECT_EQ(Call("DELETE", "/v1/sessions/0000000000000000", "", a).status, 404);
  Reply revoked = Call("DELETE", "/v1/sessions/" + other, "", a);
  EXPECT_EQ(revoked.status, 200) << revoked.raw;
  EXPECT_EQ(Call("GET", "/v1/session", "", b).status, 401);
  EXPECT_EQ(Call("GET", "/v1/session", "", a).status, 200);
  EXPECT_EQ(Call("DELETE", "/v1/sessions/" + other, "", a).status, 404);
  // Sessions are a login session's own business: not an API key's.
  Reply key = Post("/v1/api-keys", {{"name", "k"}}, a);
  ASSERT_EQ(key.status, 201) << key.raw;
  EXPECT_EQ(Call("GET", "/v1/sessions", "", std::string(key.body.at("key").as_string())).status, 403);
}

// The sessions routes reach the caller's own sessions only: another member's (even for the
// org's owner) are not listed, and ending one by its id answers as for an id that does not
// exist, leaving it working.
TEST_F(AuthServiceTest, AnotherUsersSessionsAreNeitherListedNorEnded) {
  std::string owner = OwnerSession();
  Reply added = Post("/v1/users", {{"email", "dev@example.com"}, {"role", "developer"},
                                   {"password", "developer password 1"}}, owner);
  ASSERT_EQ(added.status, 201) << added.raw;
  std::string dev = Login("dev@example.com", "developer password 1");
  env_.AdvanceBy(absl::Seconds(5));
  std::string dev2 = Login("dev@example.com", "developer password 1");
  auto ids = [&](const std::string& session) {
    std::set<std::string> out;
    Reply list = Call("GET", "/v1/sessions", "", session);
    EXPECT_EQ(list.status, 200) << list.raw;
    if (list.status != 200) return out;
    for (const json::value& s : list.body.at("sessions").as_array()) out.insert(std::string(s.at("id").as_string()));
    return out;
  };
  std::set<std::string> owners = ids(owner), devs = ids(dev);
  ASSERT_EQ(owners.size(), 1u);
  ASSERT_EQ(devs.size(), 2u);
  for (const std::string& id : devs) EXPECT_EQ(owners.count(id), 0u) << "the owner sees a developer's session";

  Reply unknown = Call("DELETE", "/v1/sessions/0000000000000000", "", owner);
  ASSERT_EQ(unknown.status, 404) << unknown.raw;
  for (const std::string& id : devs) {
    Reply r = Call("DELETE", "/v1/sessions/" + id, "", owner);
    EXPECT_EQ(r.status, 404) << r.raw;
    EXPECT_EQ(r.raw, unknown.raw) << "the answer differs from one for an id nobody has";
  }
  Reply back = Call("DELETE", "/v1/sessions/" + *owners.begin(), "", dev);
  EXPECT_EQ(back.status, 404) << back.raw;
  EXPECT_EQ(Call("GET", "/v1/session", "", dev).status, 200);
  EXPECT_EQ(Call("GET", "/v1/session", "", dev2).status, 200);
  EXPECT_EQ(Call("GET", "/v1/session", "", owner).status, 200);
  EXPECT_EQ(ids(dev), devs);
  EXPECT_EQ(ids(owner), owners);
}

TEST_F(AuthServiceTest, TokenVerifiesAgainstJwksAndRotationKeepsOldKeyPublished) {
  std::string s = OwnerSession();
  Reply jwks = Call("GET", "/.well-known/jwks.json");
  ASSERT_EQ(jwks.status, 200);
  auto verifier = crypto::JwtVerifier::FromJwks(jwks.raw);
  ASSERT_TRUE(verifier.ok()) << verifier.status();
  Reply tok = Post("/v1/token", json::object{}, s);
  ASSERT_EQ(tok.status, 200) << tok.raw;
  std::string old_token(tok.body.at("token").as_string());
  auto claims = verifier->Verify(old_token, env_.Now(), "edgevault", "edgevault");
  ASSERT_TRUE(claims.ok()) << claims.status();
  EXPECT_EQ(claims->roles, std::vector<std::string>{"owner"});
  EXPECT_EQ(claims->exp - claims->iat, absl::Minutes(5));
  EXPECT_FALSE(claims->jti.empty());
  EXPECT_FALSE(claims->org.empty());

  env_.AdvanceBy(absl::Seconds(10));
  auto new_kid = crypto::AddSigningKey(&env_, keys_dir());
  ASSERT_TRUE(new_kid.ok());
  env_.AdvanceBy(absl::Seconds(11));  // past the reload interval and the settle period
  Reply jwks2 = Call("GET", "/.well-known/jwks.json");
  EXPECT_EQ(jwks2.body.at("keys").as_array().size(), 2u);
  auto v2 = crypto::JwtVerifier::FromJwks(jwks2.raw);
  ASSERT_TRUE(v2.ok());
  EXPECT_TRUE(v2->Verify(old_token, env_.Now(), "edgevault", "edgevault").ok());
  Reply tok2 = Post("/v1/token", json::object{}, s);
  std::string new_token(tok2.body.at("token").as_string());
  std::string header = *base::Base64UrlDecode(new_token.substr(0, new_token.find('.')));
  EXPECT_NE(header.find(*new_kid), std::string::npos);
  // The old verifier (without the new key) reports an unknown kid: refresh and retry.
  EXPECT_TRUE(absl::IsNotFound(verifier->Verify(new_token, env_.Now(), "edgevault", "edgevault").status()));

  env_.AdvanceBy(absl::Minutes(7));  // every token of the old key has expired
  Reply jwks3 = Call("GET", "/.well-known/jwks.json");
  EXPECT_EQ(jwks3.body.at("keys").as_array().size(), 1u);
}

TEST_F(AuthServiceTest, TotpEnrolLoginReplayAndRecoveryCodes) {
  std::string s = OwnerSession();
  Reply enrol = Post("/v1/mfa/totp/enroll", json::object{}, s);
  ASSERT_EQ(enrol.status, 200) << enrol.raw;
  std::string secret = *base::Base32Decode(std::string(enrol.body.at("secret").as_string()));
  EXPECT_EQ(std::string(enrol.body.at("otpauth_uri").as_string()).rfind("otpauth://totp/", 0), 0u);
  EXPECT_EQ(std::string(enrol.body.at("qr_svg").as_string()).rfind("<svg", 0), 0u);
  EXPECT_EQ(Post("/v1/mfa/totp/confirm", {{"code", "000000"}}, s).status, 401);
  std::string code = crypto::TotpCode(secret, crypto::TotpStep(env_.Now()));
  Reply confirm = Post("/v1/mfa/totp/confirm", {{"code", code}}, s);
  ASSERT_EQ(confirm.status, 200) << confirm.raw;
  auto codes = confirm.body.at("recovery_codes").as_array();
  ASSERT_EQ(codes.size(), 10u);

  env_.AdvanceBy(absl::Seconds(30));
  Reply first = Post("/v1/login", {{"email", "owner@example.com"}, {"password", kOwnerPassword}});
  ASSERT_EQ(first.status, 200);
  ASSERT_TRUE(first.body.at("mfa_required").as_bool());
  EXPECT_FALSE(first.body.as_object().contains("session"));
  std::string mfa(first.body.at("mfa_token").as_string());
  EXPECT_EQ(Post("/v1/login/totp", {{"mfa_token", mfa}, {"code", "123456"}}).status, 401);
  code = crypto::TotpCode(secret, crypto::TotpStep(env_.Now()));
  Reply ok = Post("/v1/login/totp", {{"mfa_token", mfa}, {"code", code}});
  ASSERT_EQ(ok.status, 200) << ok.raw;
  EXPECT_TRUE(ok.body.as_object().contains("session"));
  // The mfa token is spent, and the same code is refused on a fresh login (replay).
  EXPECT_EQ(Post("/v1/login/totp", {{"mfa_token", mfa}, {"code", code}}).status, 401);
  Reply again = Post("/v1/login", {{"email", "owner@example.com"}, {"password", kOwnerPassword}});
  std::string mfa2(again.body.at("mfa_token").as_string());
  Reply replay = Post("/v1/login/totp", {{"mfa_token", mfa2}, {"code", code}});
  EXPECT_EQ(replay.status, 401);
  EXPECT_NE(replay.raw.find("already used"), std::string::npos) << replay.raw;
  // A recovery code works once (the mfa token survives failed attempts).
  std::string rc(codes[0].as_string());
  EXPECT_EQ(Post("/v1/login/totp", {{"mfa_token", mfa2}, {"recovery_code", rc}}).status, 200);
  Reply again2 = Post("/v1/login", {{"email", "owner@example.com"}, {"password", kOwnerPassword}});
  std::string mfa3(again2.body.at("mfa_token").as_string());
  EXPECT_EQ(Post("/v1/login/totp", {{"mfa_token", mfa3}, {"recovery_code", rc}}).status, 401);
  // The mfa token expires.
  env_.AdvanceBy(absl::Minutes(6));
  EXPECT_EQ(Post("/v1/login/totp", {{"mfa_token", mfa3}, {"recovery_code", std::string(codes[1].as_string())}}).status,
            401);
}

TEST_F(AuthServiceTest, ApiKeysScopesRevocationAndExpiry) {
  std::string s = OwnerSession();
  Reply bad_scope = Post("/v1/api-keys", {{"name", "ci"}, {"scopes", json::array{"launch-missiles"}}}, s);
  EXPECT_EQ(bad_scope.status, 400);
  Reply created = Post("/v1/api-keys", {{"name", "ci"}, {"scopes", json::array{"read", "write"}},
                                        {"expires_in", 3600}, {"role", "developer"}}, s);
  ASSERT_EQ(created.status, 201) << created.raw;
  std::string key(created.body.at("key").as_string());
  std::string id(created.body.at("id").as_string());
  EXPECT_EQ(key.rfind("evk_", 0), 0u);
  Reply list = Call("GET", "/v1/api-keys", "", s);
  EXPECT_EQ(list.raw.find(key), std::string::npos);  // never shown again
  EXPECT_NE(list.raw.find(id), std::string::npos);

  Reply tok = Post("/v1/token", json::object{}, key);
  ASSERT_EQ(tok.status, 200) << tok.raw;
  auto verifier = crypto::JwtVerifier::FromJwks(Call("GET", "/.well-known/jwks.json").raw);
  auto claims = verifier->Verify(std::string(tok.body.at("token").as_string()), env_.Now(), "edgevault", "edgevault");
  ASSERT_TRUE(claims.ok());
  EXPECT_EQ(claims->sub, "key:" + id);
  EXPECT_EQ(claims->roles, std::vector<std::string>{"developer"});
  EXPECT_EQ(claims->scopes, (std::vector<std::string>{"read", "write"}));
  // A developer key cannot mint keys (needs admin scope).
  EXPECT_EQ(Post("/v1/api-keys", {{"name", "x"}}, key).status, 403);

  env_.AdvanceBy(absl::Hours(2));
  EXPECT_EQ(Post("/v1/token", json::object{}, key).status, 401);  // expired

  Reply k2 = Post("/v1/api-keys", {{"name", "short"}}, s);
  std::string key2(k2.body.at("key").as_string());
  EXPECT_EQ(Call("DELETE", "/v1/api-keys/" + std::string(k2.body.at("id").as_string()), "", s).status, 200);
  EXPECT_EQ(Call("DELETE", "/v1/api-keys/" + std::string(k2.body.at("id").as_string()), "", s).status, 409);
  EXPECT_EQ(Post("/v1/token", json::object{}, key2).status, 401);
  EXPECT_EQ(Call("DELETE", "/v1/api-keys/key_nope", "", s).status, 404);
}

TEST_F(AuthServiceTest, MembersAndRoleRules) {
  std::string owner = OwnerSession();
  Reply dev = Post("/v1/users", {{"email", "dev@example.com"}, {"role", "developer"},
                                 {"password", "developer password 1"}}, owner);
  ASSERT_EQ(dev.status, 201) << dev.raw;
  Reply adm = Post("/v1/users", {{"email", "adm@example.com"}, {"role", "admin"}}, owner);
  ASSERT_EQ(adm.status, 201) << adm.raw;
  ASSERT_TRUE(adm.body.as_object().contains("one_time_password"));
  // Already invited (pending until the first login).
  EXPECT_EQ(Post("/v1/users", {{"email", "dev@example.com"}, {"role", "viewer"}}, owner).status, 409);
  EXPECT_EQ(MemberId(owner, "dev@example.com"), "");

  std::string dev_s = Login("dev@example.com", "developer password 1");
  std::string dev_id = MemberId(owner, "dev@example.com");
  ASSERT_FALSE(dev_id.empty());
  EXPECT_EQ(Post("/v1/users", {{"email", "dev@example.com"}, {"role", "viewer"}}, owner).status, 409);
  // A developer cannot manage members or raise their own role.
  EXPECT_EQ(Post("/v1/users", {{"email", "x@example.com"}, {"role", "viewer"}}, dev_s).status, 403);
  EXPECT_EQ(Call("PATCH", "/v1/members/" + dev_id, "{\"role\":\"owner\"}", dev_s).status, 403);
  // An admin cannot grant admin or owner, nor change their own role.
  std::string one_time(adm.body.at("one_time_password").as_string());
  std::string adm_first = Login("adm@example.com", one_time);
  Reply adm_changed = Post("/v1/password", {{"current_password", one_time},
                                            {"new_password", "admin password 12"}}, adm_first);
  ASSERT_EQ(adm_changed.status, 200) << adm_changed.raw;
  std::string adm_s(adm_changed.body.at("session").as_string());
  std::string adm_id = MemberId(owner, "adm@example.com");
  EXPECT_EQ(Call("PATCH", "/v1/members/" + dev_id, "{\"role\":\"owner\"}", adm_s).status, 403);
  EXPECT_EQ(Call("PATCH", "/v1/members/" + adm_id, "{\"role\":\"owner\"}", adm_s).status, 403);
  EXPECT_EQ(Call("PATCH", "/v1/members/" + dev_id, "{\"role\":\"superuser\"}", owner).status, 400);
  // A role change is a privilege change: the member's sessions end.
  Reply changed = Call("PATCH", "/v1/members/" + dev_id, "{\"role\":\"viewer\"}", adm_s);
  EXPECT_EQ(changed.status, 200) << changed.raw;
  EXPECT_EQ(Call("GET", "/v1/session", "", dev_s).status, 401);
  std::string dev_s2 = Login("dev@example.com", "developer password 1");
  EXPECT_EQ(Call("GET", "/v1/session", "", dev_s2).body.at("role").as_string(), "viewer");
  // The last owner cannot be removed.
  Reply members = Call("GET", "/v1/members", "", owner);
  std::string owner_id;
  for (const auto& m : members.body.at("members").as_array()) {
    if (m.at("role").as_string() == "owner") owner_id = std::string(m.at("user_id").as_string());
  }
  EXPECT_EQ(Call("DELETE", "/v1/members/" + owner_id, "", owner).status, 409);
  EXPECT_EQ(Call("DELETE", "/v1/members/" + dev_id, "", adm_s).status, 200);
  EXPECT_EQ(Post("/v1/login", {{"email", "dev@example.com"}, {"password", "developer password 1"}}).status, 401);
}

TEST_F(AuthServiceTest, LoginRehashesWhenConfiguredCostGrows) {
  OwnerSession();
  std::string before = store_->GetUserByEmail("owner@example.com")->password_hash;
  crypto::PasswordParams stronger = crypto::PasswordParams::ForTests();
  stronger.memory_kib *= 2;
  stronger.iterations += 1;
  Start({3, 6, absl::Minutes(15), 1000}, stronger);
  EXPECT_TRUE(crypto::NeedsRehash(before, stronger));
  EXPECT_FALSE(Login("owner@example.com", kOwnerPassword).empty());
  std::string after = store_->GetUserByEmail("owner@example.com")->password_hash;
  EXPECT_NE(after, before);
  EXPECT_FALSE(crypto::NeedsRehash(after, stronger));
  EXPECT_NE(after.find("m=" + std::to_string(stronger.memory_kib)), std::string::npos) << after;
  EXPECT_FALSE(Login("owner@example.com", kOwnerPassword).empty());  // still the same password
}

TEST_F(AuthServiceTest, DisablingTotpNeedsPasswordAndCode) {
  std::string s = OwnerSession();
  Reply enrol = Post("/v1/mfa/totp/enroll", json::object{}, s);
  std::string secret = *base::Base32Decode(std::string(enrol.body.at("secret").as_string()));
  ASSERT_EQ(Post("/v1/mfa/totp/confirm", {{"code", crypto::TotpCode(secret, crypto::TotpStep(env_.Now()))}}, s).status, 200);
  env_.AdvanceBy(absl::Seconds(30));
  std::string code = crypto::TotpCode(secret, crypto::TotpStep(env_.Now()));
  EXPECT_EQ(Post("/v1/mfa/totp/disable", {{"password", "wrong password here"}, {"code", code}}, s).status, 403);
  EXPECT_EQ(Post("/v1/mfa/totp/disable", {{"password", kOwnerPassword}, {"code", "000000"}}, s).status, 403);
  EXPECT_EQ(Post("/v1/mfa/totp/disable", {{"password", kOwnerPassword}}, s).status, 400);
  EXPECT_TRUE(Post("/v1/login", {{"email", "owner@example.com"}, {"password", kOwnerPassword}})
                  .body.as_object().contains("mfa_required"));
  env_.AdvanceBy(absl::Minutes(16));  // past the throttle the failures above started
  code = crypto::TotpCode(secret, crypto::TotpStep(env_.Now()));
  Reply off = Post("/v1/mfa/totp/disable", {{"password", kOwnerPassword}, {"code", code}}, s);
  ASSERT_EQ(off.status, 200) << off.raw;
  Reply plain = Post("/v1/login", {{"email", "owner@example.com"}, {"password", kOwnerPassword}});
  EXPECT_TRUE(plain.body.as_object().contains("session")) << plain.raw;
}

TEST_F(AuthServiceTest, InternalEndpointsNeedTheServiceSignature) {
  auto boot = Boot();
  Reply unsigned_call = Post("/internal/v1/api-keys/exchange", {{"api_key", boot.api_key}});
  EXPECT_EQ(unsigned_call.status, 401);
  net::HttpClientOptions co;
  co.credential = &api_credential_;
  co.audience = "auth";
  auto signed_client = *net::HttpClient::Create(co);
  auto call = [&](const std::string& target, const json::value& body) {
    net::ClientRequest req;
    req.method = "POST";
    req.target = target;
    req.body = json::serialize(body);
    auto r = signed_client->Do("127.0.0.1", server_->port(), req);
    EXPECT_TRUE(r.ok());
    return std::make_pair(r->status, json::parse(r->body));
  };
  auto [st, body] = call("/internal/v1/api-keys/exchange", {{"api_key", boot.api_key}});
  EXPECT_EQ(st, 200) << body;
  EXPECT_EQ(body.at("role").as_string(), "owner");
  auto [bad, bad_body] = call("/internal/v1/api-keys/exchange", {{"api_key", "evk_nope"}});
  EXPECT_EQ(bad, 401) << bad_body;
  std::string org(body.at("org_id").as_string());
  auto [created, sdk] = call("/internal/v1/sdk-keys", {{"org_id", org}, {"workspace_id", "ws_1"},
                                                        {"environment", "prod"}, {"name", "web"},
                                                        {"created_by", "user:1"}});
  // ws_1 does not exist in the control DB: the foreign key refuses it.
  EXPECT_EQ(created, 409) << sdk;
  storage::Workspace ws{"ws_1", org, "shop", "Shop", env_.Now()};
  ASSERT_TRUE(store_->CreateWorkspace(ws).ok());
  auto [created2, sdk2] = call("/internal/v1/sdk-keys", {{"org_id", org}, {"workspace_id", "ws_1"},
                                                          {"environment", "prod"}, {"name", "web"},
                                                          {"created_by", "user:1"}});
  ASSERT_EQ(created2, 201) << sdk2;
  std::string key(sdk2.at("key").as_string());
  EXPECT_EQ(key.rfind("evs_", 0), 0u);
  auto stored = store_->GetSdkKeyByHash(crypto::Sha256Hex(key));
  ASSERT_TRUE(stored.ok());
  EXPECT_EQ(stored->environment, "prod");
}

// The api's RemoteWorkspaceDirectory against auth's internal workspace routes: the same
// answers (and error codes) as the control store, and the workspace limit still holds for
// parallel creates, which now meet in auth's transaction instead of the api's.
TEST_F(AuthServiceTest, RemoteWorkspaceDirectoryKeepsTheStoresContract) {
  auto boot = Boot();
  std::string org = store_->GetOrgByName("default")->id;
  net::HttpClientOptions co;
  co.credential = &api_credential_;
  co.audience = "auth";
  auto signed_client = *net::HttpClient::Create(co);
  auto dir = api::RemoteWorkspaceDirectory::Create(
      {.client = signed_client.get(), .host = "127.0.0.1", .port = server_->port(), .env = &env_});
  ASSERT_TRUE(dir.ok()) << dir.status();
  storage::WorkspaceDirectory& remote = **dir;
  ASSERT_TRUE(store_->SetEntitlements(org, {.max_workspaces = 2, .max_environments = 3, .max_items = 4}).ok());

  storage::Workspace shop{"ws_shop", org, "shop", "Shop", absl::FromUnixMicros(1'800'000'000'000'001)};
  ASSERT_TRUE(remote.CreateWorkspaceWithinLimit(shop).ok());
  auto by_key = remote.GetWorkspaceByKey(org, "shop");
  ASSERT_TRUE(by_key.ok()) << by_key.status();
  EXPECT_EQ(by_key->id, "ws_shop");
  EXPECT_EQ(by_key->created_at, shop.created_at);  // exact, microseconds included
  EXPECT_EQ(remote.GetWorkspaceById("ws_shop")->key, "shop");
  EXPECT_EQ(remote.GetWorkspaceById("ws_nope").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(remote.GetWorkspaceByKey(org, "nope").status().code(), absl::StatusCode::kNotFound);
  storage::Workspace dup{"ws_dup", org, "shop", "Again", env_.Now()};
  EXPECT_EQ(remote.CreateWorkspaceWithinLimit(dup).code(), absl::StatusCode::kAlreadyExists);
  storage::Workspace ghost{"ws_ghost", "org_ghost", "x", "X", env_.Now()};
  EXPECT_EQ(remote.CreateWorkspaceWithinLimit(ghost).code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(remote.GetEntitlements("org_ghost").status().code(), absl::StatusCode::kNotFound);
  auto ent = remote.GetEntitlements(org);
  ASSERT_TRUE(ent.ok()) << ent.status();
  EXPECT_EQ(ent->max_environments, 3);
  EXPECT_EQ(ent->max_items, 4);

  // Eight api threads race for the one place left: exactly one wins.
  std::atomic<int> wins{0}, full{0}, other{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&, i] {
      storage::Workspace ws{base::StrCat("ws_p", i), org, base::StrCat("p", i), "P", env_.Now()};
      absl::Status st = remote.CreateWorkspaceWithinLimit(ws);
      if (st.ok()) {
        ++wins;
      } else if (absl::IsResourceExhausted(st) && st.message() == "the org's plan allows 2 workspaces") {
        ++full;
      } else {
        ++other;
        ADD_FAILURE() << st;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(wins.load(), 1);
  EXPECT_EQ(full.load(), 7);
  EXPECT_EQ(other.load(), 0);
  auto listed = remote.ListWorkspaces(org);
  ASSERT_TRUE(listed.ok()) << listed.status();
  EXPECT_EQ(listed->size(), 2u);
  EXPECT_EQ((*store_->ListWorkspaces(org)).size(), 2u);

  // Deletion round-trips (docs/design/control-db.md "Deleted workspaces"): a second api
  // node, with its own cache, sees the row deleted once its cached row has aged.
  auto second = api::RemoteWorkspaceDirectory::Create(
      {.client = signed_client.get(), .host = "127.0.0.1", .port = server_->port(), .env = &env_});
  ASSERT_TRUE(second.ok());
  ASSERT_FALSE((*second)->GetWorkspaceById("ws_shop")->deleted());
  const absl::Time at = absl::FromUnixMicros(1'800'000'100'000'007), purge = at + absl::Hours(168);
  EXPECT_EQ(remote.MarkWorkspaceDeleted("org_ghost", "ws_shop", at, purge).status().code(), absl::StatusCode::kNotFound);
  auto marked = remote.MarkWorkspaceDeleted(org, "ws_shop", at, purge);
  ASSERT_TRUE(marked.ok()) << marked.status();
  EXPECT_EQ(marked->deleted_at, at);
  EXPECT_EQ(marked->purge_after, purge);
  EXPECT_EQ(remote.GetWorkspaceById("ws_shop")->purge_after, purge);  // this node: at once
  EXPECT_EQ(remote.MarkWorkspaceDeleted(org, "ws_shop", at, purge).status().code(),
            absl::StatusCode::kFailedPrecondition);
  env_.AdvanceBy(absl::Seconds(6));
  EXPECT_TRUE((*second)->GetWorkspaceById("ws_shop")->deleted());  // another node: after its TTL
  auto due = remote.ListWorkspacesDueForPurge(purge, 10);
  ASSERT_TRUE(due.ok()) << due.status();
  ASSERT_EQ(due->size(), 1u);
  EXPECT_EQ((*due)[0].id, "ws_shop");
  EXPECT_TRUE(remote.ListWorkspacesDueForPurge(purge - absl::Microseconds(1), 10)->empty());
  auto restored = remote.RestoreWorkspace(org, "ws_shop");
  ASSERT_TRUE(restored.ok()) << restored.status();
  EXPECT_FALSE(restored->deleted());
  EXPECT_EQ(remote.RestoreWorkspace(org, "ws_shop").status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(remote.PurgeWorkspace(org, "ws_shop").code(), absl::StatusCode::kFailedPrecondition);
  ASSERT_TRUE(remote.MarkWorkspaceDeleted(org, "ws_shop", at, purge).ok());
  ASSERT_TRUE(remote.PurgeWorkspace(org, "ws_shop").ok());
  EXPECT_EQ(remote.GetWorkspaceById("ws_shop").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->GetWorkspaceById("ws_shop").status().code(), absl::StatusCode::kNotFound);

  // Unsigned, the routes answer 401 (they are internal).
  EXPECT_EQ(Post("/internal/v1/workspaces/list", {{"org_id", org}}).status, 401);
  EXPECT_EQ(Post("/internal/v1/workspaces/delete", {{"org_id", org}, {"id", "ws_p0"}}).status, 401);
  (void)boot;
}

}  // namespace
}  // namespace edgevault::auth

namespace edgevault::auth {
namespace {

// Issue 12 item 3: the edge holds a credential, but no write route lists it. Every
// internal route of auth, called with delivery's valid signature, answers 403 and changes
// nothing (no SDK key minted, none revoked, no API key exchanged for a token).
TEST_F(AuthServiceTest, DeliveryCredentialIsRefusedOnEveryInternalRoute) {
  auto boot = Boot();
  auto client_for = [&](const net::ServiceCredential* c) {
    net::HttpClientOptions co;
    co.credential = c;
    co.audience = "auth";
    return *net::HttpClient::Create(co);
  };
  auto api = client_for(&api_credential_);
  auto delivery = client_for(&delivery_credential_);
  auto call = [&](net::HttpClient& client, const std::string& target, const json::value& body) {
    net::ClientRequest req;
    req.method = "POST";
    req.target = target;
    req.body = json::serialize(body);
    auto r = client.Do("127.0.0.1", server_->port(), req);
    EXPECT_TRUE(r.ok()) << r.status();
    return std::make_pair(r->status, r->body);
  };
  auto [st, exchanged] = call(*api, "/internal/v1/api-keys/exchange", {{"api_key", boot.api_key}});
  ASSERT_EQ(st, 200) << exchanged;
  std::string org(json::parse(exchanged).at("org_id").as_string());
  ASSERT_TRUE(store_->CreateWorkspace({"ws_1", org, "shop", "Shop", env_.Now()}).ok());
  json::object mint{{"org_id", org}, {"workspace_id", "ws_1"}, {"environment", "prod"},
                    {"name", "web"}, {"created_by", "user:1"}};
  auto [minted, minted_body] = call(*api, "/internal/v1/sdk-keys", mint);
  ASSERT_EQ(minted, 201) << minted_body;
  std::string sdk_id(json::parse(minted_body).at("id").as_string());

  const std::vector<std::pair<std::string, json::value>> routes = {
      {"/internal/v1/api-keys/exchange", json::object{{"api_key", boot.api_key}}},
      {"/internal/v1/sdk-keys", mint},
      {"/internal/v1/sdk-keys/list", json::object{{"org_id", org}, {"workspace_id", "ws_1"}}},
      {"/internal/v1/sdk-keys/revoke", json::object{{"org_id", org}, {"id", sdk_id}}},
  };
  for (const auto& [target, body] : routes) {
    auto [code, answer] = call(*delivery, target, body);
    EXPECT_EQ(code, 403) << target << ": " << answer;
    EXPECT_NE(answer.find("caller_not_allowed"), std::string::npos) << answer;
    EXPECT_EQ(answer.find("evs_"), std::string::npos) << answer;
  }
  auto keys = store_->ListSdkKeys(org, "ws_1");
  ASSERT_TRUE(keys.ok());
  ASSERT_EQ(keys->size(), 1u);  // nothing minted
  EXPECT_FALSE((*keys)[0].revoked_at.has_value());  // nothing revoked
}

}  // namespace
}  // namespace edgevault::auth
