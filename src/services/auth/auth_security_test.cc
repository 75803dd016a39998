// Regression tests for the identity-service items of the security issue (throttling,
// second factors, client addresses, cross-org reach, one-time-password sessions, role
// ceilings, signing-key settle). Each test names the item it guards; each failed on the
// code before the fix.
#include <atomic>
#include <map>
#include <set>
#include <thread>
#include <vector>

#include "src/base/encoding.h"
#include "src/crypto/jwt_keys.h"
#include "src/crypto/password.h"
#include "src/crypto/totp.h"
#include "src/services/auth/auth_service_test_fixture.h"
#include "src/storage/sqlite/sqlite_db.h"

namespace edgevault::auth {
namespace {

// A six-digit code that is not valid for `secret` around `now` (±1 step).
std::string WrongCode(const std::string& secret, absl::Time now) {
  int64_t step = crypto::TotpStep(now);
  for (int n = 0;; ++n) {
    std::string c = std::to_string(100000 + n);
    if (c != crypto::TotpCode(secret, step - 1) && c != crypto::TotpCode(secret, step) &&
        c != crypto::TotpCode(secret, step + 1)) {
      return c;
    }
  }
}

std::string ErrorCode(const Reply& r) {
  if (!r.body.is_object()) return "";
  const json::value* e = r.body.as_object().if_contains("error");
  if (e == nullptr || !e->is_object()) return "";
  const json::value* c = e->as_object().if_contains("code");
  return c != nullptr && c->is_string() ? std::string(c->as_string()) : "";
}

std::string Str(const Reply& r, const char* field) {
  if (!r.body.is_object()) return "";
  const json::value* v = r.body.as_object().if_contains(field);
  return v != nullptr && v->is_string() ? std::string(v->as_string()) : "";
}

std::set<std::string> KeysOf(const json::value& v) {
  std::set<std::string> out;
  if (!v.is_object()) return out;
  for (const auto& kv : v.as_object()) out.insert(std::string(kv.key()));
  return out;
}

class AuthSecurityTest : public AuthServiceTest {
 protected:
  // Enrols and confirms TOTP for the session's user; returns the raw secret.
  std::string EnableTotp(const std::string& session) {
    Reply enrol = Post("/v1/mfa/totp/enroll", json::object{}, session);
    EXPECT_EQ(enrol.status, 200) << enrol.raw;
    std::string secret = *base::Base32Decode(Str(enrol, "secret"));
    Reply confirm = Post("/v1/mfa/totp/confirm",
                         {{"code", crypto::TotpCode(secret, crypto::TotpStep(env_.Now()))}}, session);
    EXPECT_EQ(confirm.status, 200) << confirm.raw;
    return secret;
  }

  // Another org with a user who is its owner, made directly in the control DB.
  struct OtherOrg {
    std::string org_id, user_id, email, password;
  };
  OtherOrg MakeOtherOrg(const std::string& org_name, const std::string& email) {
    OtherOrg o{"org_" + org_name, "usr_" + org_name, email, org_name + " owner password 1"};
    EXPECT_TRUE(store_->CreateOrg({o.org_id, org_name, {}, env_.Now()}).ok());
    storage::User u;
    u.id = o.user_id;
    u.email = email;
    u.password_hash = *crypto::HashPassword(o.password, crypto::PasswordParams::ForTests());
    u.created_at = env_.Now();
    EXPECT_TRUE(store_->CreateUser(u).ok());
    EXPECT_TRUE(store_->AddMembership({o.org_id, o.user_id, storage::Role::kOwner, env_.Now()}).ok());
    return o;
  }

  std::string OrgIdOf(const std::string& session) {
    return Str(Call("GET", "/v1/session", "", session), "org_id");
  }

  // Adds a member with a password through the API and logs them in; returns the session.
  std::string AddMember(const std::string& admin, const std::string& email, const std::string& role) {
    Reply r = Post("/v1/users", {{"email", email}, {"role", role}, {"password", email + " password"}}, admin);
    EXPECT_EQ(r.status, 201) << r.raw;
    return Login(email, email + " password");
  }
};

// ---- item 10: login throttling

TEST_F(AuthSecurityTest, ParallelGuessesNeverGetPastTheAccountLimit) {
  // Check-then-record let every guess that started before the first one finished through.
  Start({3, 1000, absl::Minutes(15), 1000}, crypto::PasswordParams::ForTests(), 8);
  OwnerSession();
  constexpr int kGuesses = 16;
  std::atomic<int> ready{0}, verified{0}, throttled{0}, other{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < kGuesses; ++i) {
    threads.emplace_back([&] {
      auto client = FreshConnectionClient();  // a new connection per attempt
      ++ready;
      while (ready.load() < kGuesses) std::this_thread::yield();
      Reply r = Call("POST", "/v1/login",
                     json::serialize(json::object{{"email", "owner@example.com"},
                                                  {"password", "wrong-password-1"}}),
                     "", {}, client.get());
      if (r.status == 401) {
        ++verified;
      } else if (r.status == 429) {
        ++throttled;
      } else {
        ++other;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(other.load(), 0);
  EXPECT_LE(verified.load(), 3) << "more guesses than the limit reached the password check";
  EXPECT_EQ(verified.load() + throttled.load(), kGuesses);
  // And the right password is refused now too.
  EXPECT_EQ(Post("/v1/login", {{"email", "owner@example.com"}, {"password", kOwnerPassword}}).status, 429);
}

TEST_F(AuthSecurityTest, DeniedLoginWhoseAuditRowFailsIsAnErrorNotSilence) {
  OwnerSession();
  // Make every outbox insert fail, as a full or broken disk would.
  auto db = storage::SqliteDb::Open({.path = (dir_ / "control.db").string()});
  ASSERT_TRUE(db.ok()) << db.status();
  ASSERT_TRUE((*db)->Exec("CREATE TRIGGER no_outbox BEFORE INSERT ON outbox "
                          "BEGIN SELECT RAISE(ABORT, 'outbox unavailable'); END;").ok());
  for (const char* email : {"owner@example.com", "nobody@example.com"}) {
    Reply denied = Post("/v1/login", {{"email", email}, {"password", "wrong-password-1"}});
    EXPECT_EQ(denied.status, 503) << denied.raw;
    EXPECT_EQ(ErrorCode(denied), "audit_unavailable") << denied.raw;
  }
  // The refused attempts still count: the account is throttled once the limit is reached.
  Post("/v1/login", {{"email", "owner@example.com"}, {"password", "wrong-password-1"}});
  Post("/v1/login", {{"email", "owner@example.com"}, {"password", "wrong-password-1"}});
  ASSERT_TRUE((*db)->Exec("DROP TRIGGER no_outbox;").ok());
  Reply after = Post("/v1/login", {{"email", "owner@example.com"}, {"password", kOwnerPassword}});
  EXPECT_EQ(after.status, 429) << after.raw;
}

// ---- item 15: second factors

TEST_F(AuthSecurityTest, SecondFactorGuessesAreThrottledAcrossCorrectPasswords) {
  // Each correct password cleared the account's failures, so rounds of (password, a few
  // wrong codes) went on for ever.
  Start({3, 1000, absl::Minutes(15), 1000});
  std::string s = OwnerSession();
  std::string secret = EnableTotp(s);
  int wrong_codes = 0;
  bool throttled = false;
  for (int round = 0; round < 6 && !throttled; ++round) {
    env_.AdvanceBy(absl::Seconds(1));
    Reply first = Post("/v1/login", {{"email", "owner@example.com"}, {"password", kOwnerPassword}});
    ASSERT_EQ(first.status, 200) << first.raw;
    std::string mfa = Str(first, "mfa_token");
    for (int i = 0; i < 2; ++i) {
      Reply bad = Post("/v1/login/totp", {{"mfa_token", mfa}, {"code", WrongCode(secret, env_.Now())}});
      if (bad.status == 429) {
        throttled = true;
        break;
      }
      EXPECT_EQ(bad.status, 401) << bad.raw;
      ++wrong_codes;
    }
  }
  EXPECT_TRUE(throttled) << wrong_codes << " wrong codes and never throttled";
  EXPECT_LE(wrong_codes, 5);
  // While throttled, a right code and a recovery code are refused too.
  Reply again = Post("/v1/login", {{"email", "owner@example.com"}, {"password", kOwnerPassword}});
  std::string mfa = Str(again, "mfa_token");
  env_.AdvanceBy(absl::Seconds(30));
  std::string code = crypto::TotpCode(secret, crypto::TotpStep(env_.Now()));
  EXPECT_EQ(Post("/v1/login/totp", {{"mfa_token", mfa}, {"code", code}}).status, 429);
  EXPECT_EQ(Post("/v1/login/totp", {{"mfa_token", mfa}, {"recovery_code", "aaaa-bbbb"}}).status, 429);
  // Once the window has passed, the right code works.
  env_.AdvanceBy(absl::Minutes(16));
  Reply fresh = Post("/v1/login", {{"email", "owner@example.com"}, {"password", kOwnerPassword}});
  code = crypto::TotpCode(secret, crypto::TotpStep(env_.Now()));
  Reply ok = Post("/v1/login/totp", {{"mfa_token", Str(fresh, "mfa_token")}, {"code", code}});
  EXPECT_EQ(ok.status, 200) << ok.raw;
}

TEST_F(AuthSecurityTest, FailedPasskeySecondFactorsCountWithTheCodes) {
  Start({3, 1000, absl::Minutes(15), 1000});
  std::string s = OwnerSession();
  std::string secret = EnableTotp(s);
  env_.AdvanceBy(absl::Seconds(30));
  Reply first = Post("/v1/login", {{"email", "owner@example.com"}, {"password", kOwnerPassword}});
  std::string mfa = Str(first, "mfa_token");
  // Five passkey assertions that fail (a credential this account never registered).
  json::object credential{{"id", base::Base64UrlEncode("not-a-registered-credential")},
                          {"response", json::object{{"clientDataJSON", base::Base64UrlEncode("{}")},
                                                    {"authenticatorData", base::Base64UrlEncode(std::string(37, 'a'))},
                                                    {"signature", base::Base64UrlEncode(std::string(64, 's'))}}}};
  for (int i = 0; i < 5; ++i) {
    Reply begin = Post("/v1/login/passkey/begin", {{"mfa_token", mfa}});
    ASSERT_EQ(begin.status, 200) << begin.raw;
    Reply finish = Post("/v1/login/passkey/finish",
                        {{"challenge_id", Str(begin, "challenge_id")}, {"mfa_token", mfa}, {"credential", credential}});
    EXPECT_EQ(finish.status, 401) << finish.raw;
  }
  // The second factor is now locked for codes as well, the right one included.
  std::string code = crypto::TotpCode(secret, crypto::TotpStep(env_.Now()));
  Reply locked = Post("/v1/login/totp", {{"mfa_token", mfa}, {"code", code}});
  EXPECT_EQ(locked.status, 429) << locked.raw;
  Reply begin = Post("/v1/login/passkey/begin", {{"mfa_token", mfa}});
  Reply finish = Post("/v1/login/passkey/finish",
                      {{"challenge_id", Str(begin, "challenge_id")}, {"mfa_token", mfa}, {"credential", credential}});
  EXPECT_EQ(finish.status, 429) << finish.raw;
}

// ---- item 16: per-address limit

TEST_F(AuthSecurityTest, AddressLimitHoldsWithANewConnectionPerAttempt) {
  // The limit was keyed by ip:port, so a new connection per attempt was never throttled.
  Start({1000, 6, absl::Minutes(15), 1000});
  OwnerSession();
  auto client = FreshConnectionClient();
  for (int i = 0; i < 6; ++i) {
    Reply r = Call("POST", "/v1/login",
                   json::serialize(json::object{{"email", "guess" + std::to_string(i) + "@example.com"},
                                                {"password", "wrong-password-1"}}),
                   "", {}, client.get());
    EXPECT_EQ(r.status, 401) << r.raw;
  }
  Reply r = Call("POST", "/v1/login",
                 json::serialize(json::object{{"email", "owner@example.com"}, {"password", kOwnerPassword}}),
                 "", {}, client.get());
  EXPECT_EQ(r.status, 429) << r.raw;
}

TEST_F(AuthSecurityTest, ForwardedForIsBelievedOnlyFromATrustedProxy) {
  // The test client connects from 127.0.0.1: first as a trusted proxy, then not.
  configure_ = [](AuthOptions& o) {
    o.client_address = {"X-Forwarded-For", {"127.0.0.1"}};
  };
  Start({1000, 3, absl::Minutes(15), 1000});
  OwnerSession();
  auto guess = [&](int i, const std::string& forwarded) {
    return Call("POST", "/v1/login",
                json::serialize(json::object{{"email", "guess" + std::to_string(i) + "@example.com"},
                                             {"password", "wrong-password-1"}}),
                "", {{"X-Forwarded-For", forwarded}}).status;
  };
  for (int i = 0; i < 3; ++i) EXPECT_EQ(guess(i, "198.51.100.1"), 401);
  EXPECT_EQ(guess(3, "198.51.100.1"), 429);
  // Another client behind the same proxy is not affected; a spoofed entry to the left of
  // the one the proxy appended changes nothing.
  EXPECT_EQ(guess(4, "198.51.100.2"), 401);
  EXPECT_EQ(guess(5, "203.0.113.9, 198.51.100.1"), 429);

  // Not from a trusted proxy: the header is ignored and the connection's address counts.
  configure_ = [](AuthOptions& o) {
    o.client_address = {"X-Forwarded-For", {"192.0.2.1"}};
  };
  Start({1000, 3, absl::Minutes(15), 1000});
  for (int i = 0; i < 3; ++i) EXPECT_EQ(guess(10 + i, "198.51.100." + std::to_string(10 + i)), 401);
  EXPECT_EQ(guess(13, "198.51.100.99"), 429);
}

// ---- item 17: cross-org reach

TEST_F(AuthSecurityTest, AddingAUserOfAnotherOrgIsAnInvitationAndRevealsNothing) {
  std::string owner = OwnerSession();
  OtherOrg acme = MakeOtherOrg("acme", "eve@acme.example");
  Reply fresh = Post("/v1/users", {{"email", "new@example.com"}, {"role", "developer"}}, owner);
  Reply existing = Post("/v1/users", {{"email", "eve@acme.example"}, {"role", "developer"}}, owner);
  // The same answer whether or not the email has an account elsewhere.
  EXPECT_EQ(fresh.status, 201) << fresh.raw;
  EXPECT_EQ(existing.status, fresh.status) << existing.raw;
  EXPECT_EQ(KeysOf(existing.body), KeysOf(fresh.body)) << fresh.raw << " vs " << existing.raw;
  EXPECT_EQ(existing.raw.find(acme.user_id), std::string::npos) << existing.raw;
  // Eve is not a member until she accepts, with her own session.
  EXPECT_EQ(MemberId(owner, "eve@acme.example"), "");
  EXPECT_FALSE(store_->GetMembership(OrgIdOf(owner), acme.user_id).ok());
  std::string eve = Login(acme.email, acme.password);
  Reply mine = Call("GET", "/v1/invitations", "", eve);
  ASSERT_EQ(mine.status, 200) << mine.raw;
  ASSERT_EQ(mine.body.at("invitations").as_array().size(), 1u) << mine.raw;
  const json::value& inv = mine.body.at("invitations").as_array()[0];
  EXPECT_EQ(inv.at("org").as_string(), "default");
  EXPECT_EQ(inv.at("role").as_string(), "developer");
  std::string id(inv.at("id").as_string());
  Reply accepted = Post("/v1/invitations/" + id + "/accept", json::object{}, eve);
  ASSERT_EQ(accepted.status, 200) << accepted.raw;
  EXPECT_EQ(MemberId(owner, "eve@acme.example"), acme.user_id);
  Reply in_default = Post("/v1/login", {{"email", acme.email}, {"password", acme.password}, {"org", "default"}});
  ASSERT_EQ(in_default.status, 200) << in_default.raw;
  EXPECT_EQ(in_default.body.at("role").as_string(), "developer");
  // Accepting twice does nothing more.
  EXPECT_EQ(Post("/v1/invitations/" + id + "/accept", json::object{}, eve).status, 404);
}

TEST_F(AuthSecurityTest, AnInvitationIsAnsweredByItsInviteeOnly) {
  std::string owner = OwnerSession();
  OtherOrg acme = MakeOtherOrg("acme", "eve@acme.example");
  std::string eve = Login(acme.email, acme.password);
  // Eve invites the owner of "default" to acme; the owner declines.
  Reply up = Post("/v1/users", {{"email", "owner@example.com"}, {"role", "viewer"}}, eve);
  ASSERT_EQ(up.status, 201) << up.raw;
  std::string id = Str(up, "id");
  // Nobody but the invitee can answer it (an admin of the inviting org included).
  EXPECT_EQ(Post("/v1/invitations/" + id + "/accept", json::object{}, eve).status, 404);
  Reply listed = Call("GET", "/v1/org/invitations", "", eve);
  ASSERT_EQ(listed.status, 200) << listed.raw;
  EXPECT_NE(listed.raw.find(id), std::string::npos);
  Reply declined = Post("/v1/invitations/" + id + "/decline", json::object{}, owner);
  ASSERT_EQ(declined.status, 200) << declined.raw;
  EXPECT_EQ(Post("/v1/invitations/" + id + "/accept", json::object{}, owner).status, 404);
  EXPECT_FALSE(store_->GetMembership(acme.org_id, MemberId(owner, "owner@example.com")).ok());
  EXPECT_EQ(Call("GET", "/v1/org/invitations", "", eve).raw.find(id), std::string::npos);
  // Invited again and revoked by the inviting org's admin: gone from the invitee's list.
  Reply again = Post("/v1/users", {{"email", "owner@example.com"}, {"role", "viewer"}}, eve);
  ASSERT_EQ(again.status, 201) << again.raw;
  EXPECT_EQ(Call("DELETE", "/v1/org/invitations/" + Str(again, "id"), "", eve).status, 200);
  Reply mine = Call("GET", "/v1/invitations", "", owner);
  EXPECT_EQ(mine.body.at("invitations").as_array().size(), 0u) << mine.raw;
}

TEST_F(AuthSecurityTest, AUserWithNoOrgCanOnlyAnswerInvitations) {
  std::string owner = OwnerSession();
  // An account whose creating invitation was revoked before its first login, then
  // invited by another org: its login opens a session that can only answer invitations.
  Reply made = Post("/v1/users", {{"email", "zed@example.com"}, {"role", "viewer"},
                                  {"password", "zed password 12345"}}, owner);
  ASSERT_EQ(made.status, 201) << made.raw;
  ASSERT_EQ(Call("DELETE", "/v1/org/invitations/" + Str(made, "id"), "", owner).status, 200);
  EXPECT_EQ(Post("/v1/login", {{"email", "zed@example.com"}, {"password", "zed password 12345"}}).status, 401);
  OtherOrg acme = MakeOtherOrg("acme", "eve@acme.example");
  std::string eve = Login(acme.email, acme.password);
  ASSERT_EQ(Post("/v1/users", {{"email", "zed@example.com"}, {"role", "developer"}}, eve).status, 201);
  Reply login = Post("/v1/login", {{"email", "zed@example.com"}, {"password", "zed password 12345"}});
  ASSERT_EQ(login.status, 200) << login.raw;
  EXPECT_TRUE(login.body.at("org_id").is_null()) << login.raw;
  std::string zed = Str(login, "session");
  EXPECT_EQ(Call("GET", "/v1/session", "", zed).status, 200);
  Reply token = Post("/v1/token", json::object{}, zed);
  EXPECT_EQ(token.status, 403) << token.raw;
  EXPECT_EQ(ErrorCode(token), "no_org");
  EXPECT_EQ(Call("GET", "/v1/members", "", zed).status, 403);
  EXPECT_EQ(Post("/v1/api-keys", {{"name", "k"}}, zed).status, 403);
  Reply mine = Call("GET", "/v1/invitations", "", zed);
  ASSERT_EQ(mine.status, 200) << mine.raw;
  ASSERT_EQ(mine.body.at("invitations").as_array().size(), 1u);
  std::string id(mine.body.at("invitations").as_array()[0].at("id").as_string());
  ASSERT_EQ(Post("/v1/invitations/" + id + "/accept", json::object{}, zed).status, 200);
  Reply in_acme = Post("/v1/login", {{"email", "zed@example.com"}, {"password", "zed password 12345"}});
  ASSERT_EQ(in_acme.status, 200) << in_acme.raw;
  EXPECT_EQ(in_acme.body.at("org_id").as_string(), acme.org_id);
  EXPECT_EQ(in_acme.body.at("role").as_string(), "developer");
}

TEST_F(AuthSecurityTest, AdminSessionRevocationStaysInsideItsOrg) {
  // An org admin could end a user's sessions in every org.
  std::string owner = OwnerSession();
  OtherOrg acme = MakeOtherOrg("acme", "sam@acme.example");
  std::string default_org = OrgIdOf(owner);
  ASSERT_TRUE(store_->AddMembership({default_org, acme.user_id, storage::Role::kDeveloper, env_.Now()}).ok());
  auto login = [&](const std::string& org) {
    Reply r = Post("/v1/login", {{"email", acme.email}, {"password", acme.password}, {"org", org}});
    EXPECT_EQ(r.status, 200) << r.raw;
    return Str(r, "session");
  };
  std::string in_acme = login("acme");
  std::string in_default = login("default");
  Reply revoked = Post("/v1/sessions/revoke-all", {{"user_id", acme.user_id}}, owner);
  ASSERT_EQ(revoked.status, 200) << revoked.raw;
  EXPECT_EQ(Call("GET", "/v1/session", "", in_default).status, 401);
  EXPECT_EQ(Call("GET", "/v1/session", "", in_acme).status, 200) << "a session in another org ended";
  // A role change and a removal in this org leave the other org's sessions alone too.
  in_default = login("default");
  EXPECT_EQ(Call("PATCH", "/v1/members/" + acme.user_id, R"({"role":"viewer"})", owner).status, 200);
  EXPECT_EQ(Call("GET", "/v1/session", "", in_default).status, 401);
  EXPECT_EQ(Call("GET", "/v1/session", "", in_acme).status, 200);
  EXPECT_EQ(Call("DELETE", "/v1/members/" + acme.user_id, "", owner).status, 200);
  EXPECT_EQ(Call("GET", "/v1/session", "", in_acme).status, 200);
}

// ---- item 18: one-time-password sessions and role ceilings

struct RouteCall {
  const char* method;
  const char* pattern;  // as registered
  std::string target;
  std::string body;
};

TEST_F(AuthSecurityTest, OneTimePasswordSessionCanOnlyChangeItsPassword) {
  auto boot = Boot();
  std::string s = Login(boot.email, boot.password);
  const std::vector<RouteCall> refused = {
      {"POST", "/v1/users", "/v1/users", R"({"email":"x@example.com","role":"viewer"})"},
      {"GET", "/v1/members", "/v1/members", ""},
      {"PATCH", "/v1/members/{user_id}", "/v1/members/usr_x", R"({"role":"viewer"})"},
      {"DELETE", "/v1/members/{user_id}", "/v1/members/usr_x", ""},
      {"POST", "/v1/api-keys", "/v1/api-keys", R"({"name":"k"})"},
      {"GET", "/v1/api-keys", "/v1/api-keys", ""},
      {"DELETE", "/v1/api-keys/{id}", "/v1/api-keys/key_x", ""},
      {"POST", "/v1/token", "/v1/token", "{}"},
      {"POST", "/v1/sessions/revoke-all", "/v1/sessions/revoke-all", "{}"},
      {"GET", "/v1/sessions", "/v1/sessions", ""},
      {"DELETE", "/v1/sessions/{id}", "/v1/sessions/0123456789abcdef", ""},
      {"POST", "/v1/mfa/totp/enroll", "/v1/mfa/totp/enroll", "{}"},
      {"POST", "/v1/mfa/totp/confirm", "/v1/mfa/totp/confirm", R"({"code":"123456"})"},
      {"POST", "/v1/mfa/totp/disable", "/v1/mfa/totp/disable", R"({"password":"x","code":"123456"})"},
      {"POST", "/v1/mfa/recovery-codes", "/v1/mfa/recovery-codes", "{}"},
      {"POST", "/v1/passkeys/register/begin", "/v1/passkeys/register/begin", "{}"},
      {"POST", "/v1/passkeys/register/finish", "/v1/passkeys/register/finish",
       R"({"challenge_id":"c","credential":{}})"},
      {"GET", "/v1/passkeys", "/v1/passkeys", ""},
      {"DELETE", "/v1/passkeys/{id}", "/v1/passkeys/AAAA", ""},
      {"GET", "/v1/invitations", "/v1/invitations", ""},
      {"POST", "/v1/invitations/{id}/accept", "/v1/invitations/inv_x/accept", "{}"},
      {"POST", "/v1/invitations/{id}/decline", "/v1/invitations/inv_x/decline", "{}"},
      {"GET", "/v1/org/invitations", "/v1/org/invitations", ""},
      {"DELETE", "/v1/org/invitations/{id}", "/v1/org/invitations/inv_x", ""},
  };
  for (const auto& c : refused) {
    Reply r = Call(c.method, c.target, c.body, s);
    EXPECT_EQ(r.status, 403) << c.method << " " << c.target << " → " << r.raw;
    EXPECT_EQ(ErrorCode(r), "password_change_required") << c.method << " " << c.target;
  }
  EXPECT_EQ(*store_->CountUsers(), 1);
  // The allow-list: who am I, change the password, log out.
  EXPECT_EQ(Call("GET", "/v1/session", "", s).status, 200);
  Reply changed = Post("/v1/password", {{"current_password", boot.password}, {"new_password", kOwnerPassword}}, s);
  ASSERT_EQ(changed.status, 200) << changed.raw;
  std::string s2 = Str(changed, "session");
  EXPECT_EQ(Call("GET", "/v1/members", "", s2).status, 200);
  EXPECT_EQ(Post("/v1/logout", json::object{}, s2).status, 200);

  // Every route is accounted for: a new authenticated route must be added to a list here.
  const std::set<std::string> allowed = {"/v1/session", "/v1/password", "/v1/logout"};
  const std::set<std::string> unauthenticated = {
      "/.well-known/jwks.json", "/v1/login", "/v1/login/totp", "/v1/login/passkey/begin",
      "/v1/login/passkey/finish", "/internal/v1/api-keys/exchange", "/internal/v1/sdk-keys",
      "/internal/v1/sdk-keys/list", "/internal/v1/sdk-keys/revoke", "/internal/v1/workspaces/create",
      "/internal/v1/workspaces/get", "/internal/v1/workspaces/list", "/internal/v1/workspaces/rename",
      "/internal/v1/workspaces/delete", "/internal/v1/workspaces/restore", "/internal/v1/workspaces/due-for-purge",
      "/internal/v1/workspaces/purge",
      "/internal/v1/orgs/entitlements",
      "/internal/v1/principals/rights", "/internal/v1/principals/check"};
  std::set<std::string> listed = allowed;
  listed.insert(unauthenticated.begin(), unauthenticated.end());
  for (const auto& c : refused) listed.insert(c.pattern);
  net::Router router;
  service_->Install(router);
  std::set<std::string> registered;
  for (uint32_t i = 1; i < router.route_count(); ++i) registered.insert(std::string(router.pattern(i)));
  EXPECT_EQ(registered, listed);
}

TEST_F(AuthSecurityTest, AdminCannotActAboveItsRole) {
  std::string owner = OwnerSession();
  std::string admin = AddMember(owner, "adm@example.com", "admin");
  std::string admin2 = AddMember(owner, "adm2@example.com", "admin");
  std::string dev = AddMember(owner, "dev@example.com", "developer");
  ASSERT_FALSE(admin.empty());
  // An owner's API key (and the bootstrap owner key) is beyond an admin.
  Reply owner_key = Post("/v1/api-keys", {{"name", "owner-ci"}}, owner);
  ASSERT_EQ(owner_key.status, 201) << owner_key.raw;
  Reply denied = Call("DELETE", "/v1/api-keys/" + Str(owner_key, "id"), "", admin);
  EXPECT_EQ(denied.status, 403) << denied.raw;
  Reply keys = Call("GET", "/v1/api-keys", "", owner);
  for (const auto& k : keys.body.at("api_keys").as_array()) {
    if (k.at("name") == json::value("bootstrap-admin")) {
      std::string id(k.at("id").as_string());
      EXPECT_EQ(Call("DELETE", "/v1/api-keys/" + id, "", admin).status, 403);
    }
  }
  // So are another admin's key and sessions.
  Reply admin2_key = Post("/v1/api-keys", {{"name", "adm2-ci"}}, admin2);
  ASSERT_EQ(admin2_key.status, 201) << admin2_key.raw;
  EXPECT_EQ(Call("DELETE", "/v1/api-keys/" + Str(admin2_key, "id"), "", admin).status, 403);
  std::string admin2_id = MemberId(owner, "adm2@example.com");
  EXPECT_EQ(Post("/v1/sessions/revoke-all", {{"user_id", admin2_id}}, admin).status, 403);
  EXPECT_EQ(Call("GET", "/v1/session", "", admin2).status, 200);
  // A developer's key and sessions are within an admin's reach; the owner's reach is all.
  Reply dev_key = Post("/v1/api-keys", {{"name", "dev-ci"}}, dev);
  ASSERT_EQ(dev_key.status, 201) << dev_key.raw;
  EXPECT_EQ(Call("DELETE", "/v1/api-keys/" + Str(dev_key, "id"), "", admin).status, 200);
  EXPECT_EQ(Post("/v1/sessions/revoke-all", {{"user_id", MemberId(owner, "dev@example.com")}}, admin).status, 200);
  EXPECT_EQ(Call("DELETE", "/v1/api-keys/" + Str(admin2_key, "id"), "", owner).status, 200);
}

// ---- item 22: a new signing key is published before it signs

TEST_F(AuthSecurityTest, NewSigningKeyIsPublishedBeforeItSigns) {
  std::string s = OwnerSession();
  auto kid_of = [&](const Reply& tok) {
    std::string t = Str(tok, "token");
    std::string header = *base::Base64UrlDecode(t.substr(0, t.find('.')));
    return std::string(json::parse(header).at("kid").as_string());
  };
  std::string old_kid = kid_of(Post("/v1/token", json::object{}, s));
  env_.AdvanceBy(absl::Minutes(1));
  auto new_kid = crypto::AddSigningKey(&env_, keys_dir());
  ASSERT_TRUE(new_kid.ok());
  env_.AdvanceBy(absl::Seconds(6));  // past auth's key reload
  Reply jwks = Call("GET", "/.well-known/jwks.json");
  EXPECT_NE(jwks.raw.find(*new_kid), std::string::npos) << "the new key is published at once";
  EXPECT_EQ(kid_of(Post("/v1/token", json::object{}, s)), old_kid) << "signed before verifiers could know the key";
  env_.AdvanceBy(absl::Seconds(10));  // the default settle period has passed
  EXPECT_EQ(kid_of(Post("/v1/token", json::object{}, s)), *new_kid);
}

// ---- item 5: stored rows of an unexpected shape

TEST_F(AuthSecurityTest, CorruptStoredRowsGiveAnErrorAnswerNotACrash) {
  std::string owner = OwnerSession();
  Reply key = Post("/v1/api-keys", {{"name", "ci"}}, owner);
  ASSERT_EQ(key.status, 201) << key.raw;
  auto db = storage::SqliteDb::Open({.path = (dir_ / "control.db").string()});
  ASSERT_TRUE(db.ok()) << db.status();
  for (const char* scopes : {R"({"read":true})", "[1,2]", "not json", "null"}) {
    ASSERT_TRUE((*db)->Exec(std::string("UPDATE api_keys SET scopes_json = '") + scopes +
                            "' WHERE name = 'ci'").ok());
    Reply r = Post("/v1/token", json::object{}, Str(key, "key"));
    EXPECT_EQ(r.status, 500) << scopes << " → " << r.raw;
    EXPECT_FALSE(ErrorCode(r).empty()) << r.raw;
    Reply list = Call("GET", "/v1/api-keys", "", owner);
    EXPECT_EQ(list.status, 500) << list.raw;
  }
  // The service is still up and answers everything else.
  EXPECT_EQ(Call("GET", "/v1/session", "", owner).status, 200);
}

TEST_F(AuthSecurityTest, RevokedSigningKeyStopsAtOnce) {
  std::string s = OwnerSession();
  auto kid_of = [&](const Reply& tok) {
    std::string t = Str(tok, "token");
    return std::string(json::parse(*base::Base64UrlDecode(t.substr(0, t.find('.')))).at("kid").as_string());
  };
  std::string kid = kid_of(Post("/v1/token", json::object{}, s));
  // What `edgevault keys revoke-signing` does when the key is the one signing.
  auto revoked = crypto::RevokeSigningKey(&env_, keys_dir(), kid, env_.Now());
  ASSERT_TRUE(revoked.ok()) << revoked.status();
  auto replacement = crypto::AddSigningKey(&env_, keys_dir());
  ASSERT_TRUE(replacement.ok());
  // No reload interval to wait for: the very next requests see it.
  Reply jwks = Call("GET", "/.well-known/jwks.json");
  EXPECT_EQ(jwks.raw.find(kid), std::string::npos) << jwks.raw;
  EXPECT_NE(jwks.raw.find(*replacement), std::string::npos) << jwks.raw;
  EXPECT_EQ(kid_of(Post("/v1/token", json::object{}, s)), *replacement);
  // A revocation list that cannot be read stops signing rather than keep the old set.
  ASSERT_TRUE(env_.WriteFileAtomically(keys_dir() + "/revoked", "garbage\n", 0600).ok());
  Reply refused = Post("/v1/token", json::object{}, s);
  EXPECT_EQ(refused.status, 503) << refused.raw;
  EXPECT_EQ(Call("GET", "/.well-known/jwks.json").status, 503);
}

// ---- the api's recheck (docs/design/principal-recheck.md)

// POST /internal/v1/principals/check answers, for every principal the api asks about, the
// rights it holds now; a key never above its creator, nothing for a revoked key, a removed
// member or a removed member's key, and nothing across orgs.
TEST_F(AuthSecurityTest, PrincipalsCheckAnswersTheRightsHeldNow) {
  std::string owner = OwnerSession();
  std::string org = OrgIdOf(owner);
  std::string admin = AddMember(owner, "adm-check@example.com", "admin");
  std::string admin_id = MemberId(owner, "adm-check@example.com");
  Reply admin_key = Post("/v1/api-keys", {{"name", "adm-ci"}, {"scopes", json::array{"read", "admin"}}}, admin);
  ASSERT_EQ(admin_key.status, 201) << admin_key.raw;
  Reply plain_key = Post("/v1/api-keys", {{"name", "owner-ci"}, {"scopes", json::array{"read"}}}, owner);
  ASSERT_EQ(plain_key.status, 201) << plain_key.raw;
  OtherOrg other = MakeOtherOrg("elsewhere", "else@example.com");

  net::HttpClientOptions co;
  co.credential = &api_credential_;
  co.audience = "auth";
  auto signed_client = *net::HttpClient::Create(co);
  auto check = [&](json::array principals) -> std::map<std::string, json::value> {
    net::ClientRequest req;
    req.method = "POST";
    req.target = "/internal/v1/principals/check";
    req.body = json::serialize(json::object{{"principals", std::move(principals)}});
    auto r = signed_client->Do("127.0.0.1", server_->port(), req);
    EXPECT_TRUE(r.ok());
    EXPECT_EQ(r->status, 200) << r->body;
    std::map<std::string, json::value> out;
    json::value v = json::parse(r->body);
    for (const auto& p : v.at("principals").as_array()) {
      out[std::string(p.at("org_id").as_string()) + " " + std::string(p.at("actor").as_string())] = p.at("rights");
    }
    return out;
  };
  const std::string admin_actor = "user:" + admin_id;
  const std::string admin_key_actor = "key:" + Str(admin_key, "id");
  const std::string plain_key_actor = "key:" + Str(plain_key, "id");
  auto all = [&] {
    return json::array{json::object{{"org_id", org}, {"actor", admin_actor}},
                       json::object{{"org_id", org}, {"actor", admin_key_actor}},
                       json::object{{"org_id", org}, {"actor", plain_key_actor}},
                       json::object{{"org_id", other.org_id}, {"actor", admin_actor}},
                       json::object{{"org_id", other.org_id}, {"actor", plain_key_actor}}};
  };
  auto got = check(all());
  EXPECT_EQ(got[org + " " + admin_actor].at("role").as_string(), "admin");
  EXPECT_EQ(got[org + " " + admin_key_actor].at("role").as_string(), "admin");
  EXPECT_EQ(got[org + " " + admin_key_actor].at("scopes"), (json::array{"read", "admin"}));
  EXPECT_EQ(got[org + " " + plain_key_actor].at("role").as_string(), "owner");
  EXPECT_TRUE(got[other.org_id + " " + admin_actor].is_null()) << "not a member of the other org";
  EXPECT_TRUE(got[other.org_id + " " + plain_key_actor].is_null()) << "a key belongs to one org";

  // Lowered: the member and the key it made follow; revoked: the key holds nothing.
  ASSERT_EQ(Call("PATCH", "/v1/members/" + admin_id, json::serialize(json::object{{"role", "viewer"}}), owner).status, 200);
  ASSERT_EQ(Call("DELETE", "/v1/api-keys/" + Str(plain_key, "id"), "", owner).status, 200);
  got = check(all());
  EXPECT_EQ(got[org + " " + admin_actor].at("role").as_string(), "viewer");
  EXPECT_EQ(got[org + " " + admin_key_actor].at("role").as_string(), "viewer");
  EXPECT_TRUE(got[org + " " + plain_key_actor].is_null());

  // Removed: the member and every key it made hold nothing.
  ASSERT_EQ(Call("DELETE", "/v1/members/" + admin_id, "", owner).status, 200);
  got = check(all());
  EXPECT_TRUE(got[org + " " + admin_actor].is_null());
  EXPECT_TRUE(got[org + " " + admin_key_actor].is_null());

  // Bad input is a 400 that names the problem.
  net::ClientRequest bad;
  bad.method = "POST";
  bad.target = "/internal/v1/principals/check";
  bad.body = R"({"principals":[{"org_id":"o","actor":"robot:1"}]})";
  auto r = signed_client->Do("127.0.0.1", server_->port(), bad);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 400) << r->body;
  EXPECT_NE(r->body.find("actor"), std::string::npos) << r->body;
}

}  // namespace
}  // namespace edgevault::auth
