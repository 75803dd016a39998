#include "src/storage/control_store_conformance.h"

#include <algorithm>
#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "src/base/status.h"
#include "src/base/strings.h"
#include "src/storage/testing/test_util.h"

namespace edgevault::storage {

bool ControlStoreConformanceLinked() { return true; }

void ControlStoreConformanceTest::SetUp() {
  store_ = GetParam()();
  ASSERT_NE(store_, nullptr) << "the factory returned no store";
}

namespace {

using base::StrCat;

// Microsecond precision on purpose: every backend must keep it.
const absl::Time kT0 = absl::FromUnixMicros(1'800'000'000'123'457);

absl::Time At(int64_t seconds) { return kT0 + absl::Seconds(seconds); }

Org MakeOrg(std::string id, std::string name, absl::Time at = kT0) {
  Org o;
  o.id = std::move(id);
  o.name = std::move(name);
  o.created_at = at;
  return o;
}

User MakeUser(std::string id, std::string email, absl::Time at = kT0) {
  User u;
  u.id = std::move(id);
  u.email = std::move(email);
  u.display_name = "Name of " + u.id;
  u.password_hash = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA";
  u.created_at = at;
  return u;
}

Membership MakeMembership(std::string org, std::string user, Role role, absl::Time at = kT0) {
  return Membership{
      .org_id = std::move(org), .user_id = std::move(user), .role = role, .created_at = at};
}

Session MakeSession(std::string token_hash, std::string user, absl::Time created = kT0) {
  Session s;
  s.token_hash = std::move(token_hash);
  s.user_id = std::move(user);
  s.org_id = "o1";
  s.created_at = created;
  s.last_seen_at = created;
  s.idle_expires_at = created + absl::Minutes(30);
  s.absolute_expires_at = created + absl::Hours(12);
  s.client_address = "203.0.113.7";
  s.user_agent = "curl/8.0";
  s.auth_methods = "pwd+totp";
  return s;
}

ApiKey MakeApiKey(std::string id, std::string hash, std::string org, absl::Time at = kT0) {
  ApiKey k;
  k.id = std::move(id);
  k.key_hash = std::move(hash);
  k.prefix = "evk_ab12";
  k.org_id = std::move(org);
  k.created_by = "u1";
  k.name = "ci";
  k.scopes = {"read", "write:flags"};
  k.role = Role::kDeveloper;
  k.created_at = at;
  return k;
}

SdkKey MakeSdkKey(std::string id, std::string hash, std::string ws, absl::Time at = kT0) {
  SdkKey k;
  k.id = std::move(id);
  k.key_hash = std::move(hash);
  k.prefix = "evs_cd34";
  k.org_id = "o1";
  k.workspace_id = std::move(ws);
  k.environment = "production";
  k.name = "web";
  k.created_by = "u1";
  k.created_at = at;
  return k;
}

Workspace MakeWorkspace(std::string id, std::string org, std::string key, absl::Time at = kT0) {
  return Workspace{.id = std::move(id),
                   .org_id = std::move(org),
                   .key = std::move(key),
                   .name = "Workspace",
                   .created_at = at};
}

PasskeyCredential MakePasskey(std::string id, std::string user, absl::Time at = kT0) {
  PasskeyCredential c;
  c.credential_id = std::move(id);
  c.user_id = std::move(user);
  c.public_key_cose = std::string("\xa5\x01\x02\x03\x26\x20\x01\x00\xff", 9);
  c.algorithm = -7;
  c.sign_count = 5;
  c.name = "YubiKey";
  c.aaguid = std::string(16, '\0');
  c.aaguid[3] = '\x7f';
  c.user_verified_at_registration = true;
  c.created_at = at;
  return c;
}

// Runs `fn(i)` on `n` threads released together; returns when all finished.
template <typename Fn>
void RunConcurrently(int n, Fn fn) {
  std::atomic<bool> go{false};
  std::vector<std::thread> threads;
  for (int i = 0; i < n; ++i) {
    threads.emplace_back([&, i] {
      while (!go.load()) std::this_thread::yield();
      fn(i);
    });
  }
  go.store(true);
  for (std::thread& t : threads) t.join();
}

// Creates org o1 ("default") and users u1, u2.
#define CS_SEED()                                                      \
  do {                                                                 \
    EV_TEST_ASSERT_OK(store().CreateOrg(MakeOrg("o1", "default")));         \
    EV_TEST_ASSERT_OK(store().CreateUser(MakeUser("u1", "a@example.com"))); \
    EV_TEST_ASSERT_OK(store().CreateUser(MakeUser("u2", "b@example.com"))); \
  } while (0)

// ---- Roles -----------------------------------------------------------------------------

TEST_P(ControlStoreConformanceTest, RoleNamesRoundTripAndUnknownIsInvalidArgument) {
  for (Role role : {Role::kViewer, Role::kDeveloper, Role::kAdmin, Role::kOwner}) {
    EV_TEST_ASSIGN(Role back, ParseRole(RoleName(role)));
    EXPECT_EQ(back, role);
  }
  EXPECT_EQ(RoleName(Role::kOwner), "owner");
  EXPECT_EQ(RoleName(Role::kViewer), "viewer");
  EV_TEST_EXPECT_CODE(ParseRole("root"), kInvalidArgument);
  EV_TEST_EXPECT_CODE(ParseRole("Owner"), kInvalidArgument);
  EV_TEST_EXPECT_CODE(ParseRole(""), kInvalidArgument);
  EXPECT_LT(Role::kAdmin, Role::kOwner);
  EXPECT_LT(Role::kViewer, Role::kDeveloper);
}

// ---- Orgs ------------------------------------------------------------------------------

TEST_P(ControlStoreConformanceTest, OrgCreateAndGetByIdAndName) {
  Org org = MakeOrg("o1", "default");
  org.entitlements = Entitlements{.max_workspaces = 3, .max_environments = 4, .max_items = 99};
  EV_TEST_ASSERT_OK(store().CreateOrg(org));
  EV_TEST_ASSIGN(Org got, store().GetOrg("o1"));
  EXPECT_EQ(got.id, "o1");
  EXPECT_EQ(got.name, "default");
  EXPECT_EQ(got.entitlements.max_workspaces, 3);
  EXPECT_EQ(got.entitlements.max_environments, 4);
  EXPECT_EQ(got.entitlements.max_items, 99);
  EXPECT_EQ(got.created_at, kT0);
  EV_TEST_ASSIGN(Org by_name, store().GetOrgByName("default"));
  EXPECT_EQ(by_name.id, "o1");
}

TEST_P(ControlStoreConformanceTest, OrgMissingIsNotFound) {
  EV_TEST_EXPECT_CODE(store().GetOrg("nope"), kNotFound);
  EV_TEST_EXPECT_CODE(store().GetOrgByName("nope"), kNotFound);
  EV_TEST_EXPECT_CODE(store().SetEntitlements("nope", Entitlements{}), kNotFound);
}

TEST_P(ControlStoreConformanceTest, OrgDuplicateIdOrNameIsAlreadyExists) {
  EV_TEST_ASSERT_OK(store().CreateOrg(MakeOrg("o1", "default")));
  EV_TEST_EXPECT_CODE(store().CreateOrg(MakeOrg("o1", "other")), kAlreadyExists);
  EV_TEST_EXPECT_CODE(store().CreateOrg(MakeOrg("o2", "default")), kAlreadyExists);
  EV_TEST_EXPECT_OK(store().CreateOrg(MakeOrg("o2", "other")));
}

TEST_P(ControlStoreConformanceTest, EmptyIdsAreInvalidArgument) {
  EV_TEST_EXPECT_CODE(store().CreateOrg(MakeOrg("", "x")), kInvalidArgument);
  EV_TEST_EXPECT_CODE(store().CreateUser(MakeUser("", "x@example.com")), kInvalidArgument);
  EV_TEST_EXPECT_CODE(store().CreateUser(MakeUser("u9", "")), kInvalidArgument);
  EV_TEST_EXPECT_CODE(store().PutChallenge(Challenge{.id = "", .kind = "mfa", .expires_at = kT0}),
                 kInvalidArgument);
  EV_TEST_EXPECT_CODE(store().AppendOutbox(OutboxEvent{.id = "", .json = "{}", .created_at = kT0}),
                 kInvalidArgument);
}

TEST_P(ControlStoreConformanceTest, SetEntitlementsReplacesThem) {
  EV_TEST_ASSERT_OK(store().CreateOrg(MakeOrg("o1", "default")));
  EV_TEST_ASSIGN(Org before, store().GetOrg("o1"));
  EXPECT_EQ(before.entitlements.max_workspaces, Entitlements{}.max_workspaces);
  EV_TEST_ASSERT_OK(store().SetEntitlements(
      "o1", Entitlements{.max_workspaces = 1, .max_environments = 2, .max_items = 3}));
  EV_TEST_ASSIGN(Org after, store().GetOrg("o1"));
  EXPECT_EQ(after.entitlements.max_workspaces, 1);
  EXPECT_EQ(after.entitlements.max_environments, 2);
  EXPECT_EQ(after.entitlements.max_items, 3);
}

// ---- Users -----------------------------------------------------------------------------

TEST_P(ControlStoreConformanceTest, UserRoundTripAndLookupByEmail) {
  User u = MakeUser("u1", "a@example.com");
  u.disabled = true;
  u.must_change_password = true;
  EV_TEST_ASSERT_OK(store().CreateUser(u));
  EV_TEST_ASSIGN(User got, store().GetUser("u1"));
  EXPECT_EQ(got.id, "u1");
  EXPECT_EQ(got.email, "a@example.com");
  EXPECT_EQ(got.display_name, "Name of u1");
  EXPECT_EQ(got.password_hash, u.password_hash);
  EXPECT_TRUE(got.disabled);
  EXPECT_TRUE(got.must_change_password);
  EXPECT_EQ(got.created_at, kT0);
  EV_TEST_ASSIGN(User by_email, store().GetUserByEmail("a@example.com"));
  EXPECT_EQ(by_email.id, "u1");
  User passkey_only = MakeUser("u2", "b@example.com");
  passkey_only.password_hash.clear();
  EV_TEST_ASSERT_OK(store().CreateUser(passkey_only));
  EV_TEST_ASSIGN(User got2, store().GetUser("u2"));
  EXPECT_EQ(got2.password_hash, "");
  EXPECT_FALSE(got2.disabled);
  EXPECT_FALSE(got2.must_change_password);
}

TEST_P(ControlStoreConformanceTest, UserMissingIsNotFound) {
  EV_TEST_EXPECT_CODE(store().GetUser("u1"), kNotFound);
  EV_TEST_EXPECT_CODE(store().GetUserByEmail("a@example.com"), kNotFound);
  EV_TEST_EXPECT_CODE(store().UpdatePassword("u1", "h", false), kNotFound);
  EV_TEST_EXPECT_CODE(store().SetUserDisabled("u1", true), kNotFound);
}

TEST_P(ControlStoreConformanceTest, UserDuplicateIdOrEmailIsAlreadyExists) {
  EV_TEST_ASSERT_OK(store().CreateUser(MakeUser("u1", "a@example.com")));
  EV_TEST_EXPECT_CODE(store().CreateUser(MakeUser("u1", "other@example.com")), kAlreadyExists);
  EV_TEST_EXPECT_CODE(store().CreateUser(MakeUser("u2", "a@example.com")), kAlreadyExists);
  EV_TEST_ASSIGN(int64_t n, store().CountUsers());
  EXPECT_EQ(n, 1);
}

TEST_P(ControlStoreConformanceTest, CountUsersAcrossOrgs) {
  EV_TEST_ASSIGN(int64_t zero, store().CountUsers());
  EXPECT_EQ(zero, 0);
  CS_SEED();
  EV_TEST_ASSERT_OK(store().CreateOrg(MakeOrg("o2", "second")));
  EV_TEST_ASSERT_OK(store().CreateUser(MakeUser("u3", "c@example.com")));
  EV_TEST_ASSERT_OK(store().AddMembership(MakeMembership("o2", "u3", Role::kOwner)));
  EV_TEST_ASSIGN(int64_t n, store().CountUsers());
  EXPECT_EQ(n, 3);
}

TEST_P(ControlStoreConformanceTest, UpdatePasswordAndDisable) {
  User u = MakeUser("u1", "a@example.com");
  u.must_change_password = true;
  EV_TEST_ASSERT_OK(store().CreateUser(u));
  EV_TEST_ASSERT_OK(store().UpdatePassword("u1", "$argon2id$new", false));
  EV_TEST_ASSIGN(User got, store().GetUser("u1"));
  EXPECT_EQ(got.password_hash, "$argon2id$new");
  EXPECT_FALSE(got.must_change_password);
  EV_TEST_ASSERT_OK(store().UpdatePassword("u1", "$argon2id$reset", true));
  EV_TEST_ASSIGN(got, store().GetUser("u1"));
  EXPECT_TRUE(got.must_change_password);
  EV_TEST_ASSERT_OK(store().SetUserDisabled("u1", true));
  EV_TEST_ASSIGN(got, store().GetUser("u1"));
  EXPECT_TRUE(got.disabled);
  EV_TEST_ASSERT_OK(store().SetUserDisabled("u1", false));
  EV_TEST_ASSIGN(got, store().GetUser("u1"));
  EXPECT_FALSE(got.disabled);
}

// ---- Memberships -----------------------------------------------------------------------

TEST_P(ControlStoreConformanceTest, MembershipAddGetListUpdateRemove) {
  CS_SEED();
  EV_TEST_ASSERT_OK(store().CreateOrg(MakeOrg("o2", "second")));
  EV_TEST_ASSERT_OK(store().AddMembership(MakeMembership("o1", "u2", Role::kViewer, At(2))));
  EV_TEST_ASSERT_OK(store().AddMembership(MakeMembership("o1", "u1", Role::kOwner, At(1))));
  EV_TEST_ASSERT_OK(store().AddMembership(MakeMembership("o2", "u1", Role::kAdmin, At(3))));

  EV_TEST_ASSIGN(Membership m, store().GetMembership("o1", "u1"));
  EXPECT_EQ(m.role, Role::kOwner);
  EXPECT_EQ(m.created_at, At(1));

  EV_TEST_ASSIGN(std::vector<Membership> members, store().ListMembers("o1"));
  ASSERT_EQ(members.size(), 2u);
  EXPECT_EQ(members[0].user_id, "u1");  // older first
  EXPECT_EQ(members[1].user_id, "u2");

  EV_TEST_ASSIGN(std::vector<Membership> of_user, store().ListMembershipsOfUser("u1"));
  ASSERT_EQ(of_user.size(), 2u);
  EXPECT_EQ(of_user[0].org_id, "o1");
  EXPECT_EQ(of_user[1].org_id, "o2");
  EXPECT_EQ(of_user[1].role, Role::kAdmin);

  EV_TEST_ASSERT_OK(store().UpdateRole("o1", "u2", Role::kDeveloper));
  EV_TEST_ASSIGN(m, store().GetMembership("o1", "u2"));
  EXPECT_EQ(m.role, Role::kDeveloper);

  EV_TEST_ASSERT_OK(store().RemoveMembership("o1", "u2"));
  EV_TEST_EXPECT_CODE(store().GetMembership("o1", "u2"), kNotFound);
  EV_TEST_EXPECT_CODE(store().RemoveMembership("o1", "u2"), kNotFound);
  EV_TEST_EXPECT_CODE(store().UpdateRole("o1", "u2", Role::kAdmin), kNotFound);
  EV_TEST_ASSIGN(members, store().ListMembers("o1"));
  EXPECT_EQ(members.size(), 1u);
  EV_TEST_ASSIGN(members, store().ListMembers("no-such-org"));
  EXPECT_TRUE(members.empty());
}

TEST_P(ControlStoreConformanceTest, MembershipDuplicateIsAlreadyExists) {
  CS_SEED();
  EV_TEST_ASSERT_OK(store().AddMembership(MakeMembership("o1", "u1", Role::kOwner)));
  EV_TEST_EXPECT_CODE(store().AddMembership(MakeMembership("o1", "u1", Role::kViewer)), kAlreadyExists);
  EV_TEST_ASSIGN(Membership m, store().GetMembership("o1", "u1"));
  EXPECT_EQ(m.role, Role::kOwner);
}

TEST_P(ControlStoreConformanceTest, MembershipOfUnknownUserOrOrgIsFailedPrecondition) {
  CS_SEED();
  EV_TEST_EXPECT_CODE(store().AddMembership(MakeMembership("o1", "ghost", Role::kViewer)),
                 kFailedPrecondition);
  EV_TEST_EXPECT_CODE(store().AddMembership(MakeMembership("ghost", "u1", Role::kViewer)),
                 kFailedPrecondition);
  EV_TEST_EXPECT_CODE(store().AddMembership(MakeMembership("o1", "u1", static_cast<Role>(9))),
                 kInvalidArgument);
}

TEST_P(ControlStoreConformanceTest, CountMembersWithRole) {
  CS_SEED();
  EV_TEST_ASSERT_OK(store().CreateUser(MakeUser("u3", "c@example.com")));
  EV_TEST_ASSERT_OK(store().CreateOrg(MakeOrg("o2", "second")));
  EV_TEST_ASSERT_OK(store().AddMembership(MakeMembership("o1", "u1", Role::kOwner)));
  EV_TEST_ASSERT_OK(store().AddMembership(MakeMembership("o1", "u2", Role::kOwner)));
  EV_TEST_ASSERT_OK(store().AddMembership(MakeMembership("o1", "u3", Role::kViewer)));
  EV_TEST_ASSERT_OK(store().AddMembership(MakeMembership("o2", "u3", Role::kOwner)));
  EV_TEST_ASSIGN(int64_t owners, store().CountMembersWithRole("o1", Role::kOwner));
  EXPECT_EQ(owners, 2);
  EV_TEST_ASSIGN(int64_t viewers, store().CountMembersWithRole("o1", Role::kViewer));
  EXPECT_EQ(viewers, 1);
  EV_TEST_ASSIGN(int64_t admins, store().CountMembersWithRole("o1", Role::kAdmin));
  EXPECT_EQ(admins, 0);
  EV_TEST_ASSERT_OK(store().UpdateRole("o1", "u2", Role::kAdmin));
  EV_TEST_ASSIGN(owners, store().CountMembersWithRole("o1", Role::kOwner));
  EXPECT_EQ(owners, 1);
}

// ---- Sessions --------------------------------------------------------------------------

TEST_P(ControlStoreConformanceTest, SessionRoundTripAndTouch) {
  CS_SEED();
  Session s = MakeSession("h1", "u1");
  EV_TEST_ASSERT_OK(store().CreateSession(s));
  EV_TEST_ASSIGN(Session got, store().GetSession("h1"));
  EXPECT_EQ(got.token_hash, "h1");
  EXPECT_EQ(got.user_id, "u1");
  EXPECT_EQ(got.org_id, "o1");
  EXPECT_EQ(got.created_at, s.created_at);
  EXPECT_EQ(got.last_seen_at, s.last_seen_at);
  EXPECT_EQ(got.idle_expires_at, s.idle_expires_at);
  EXPECT_EQ(got.absolute_expires_at, s.absolute_expires_at);
  EXPECT_EQ(got.client_address, "203.0.113.7");
  EXPECT_EQ(got.user_agent, "curl/8.0");
  EXPECT_EQ(got.auth_methods, "pwd+totp");

  EV_TEST_ASSERT_OK(store().TouchSession("h1", At(60), At(60) + absl::Minutes(30)));
  EV_TEST_ASSIGN(got, store().GetSession("h1"));
  EXPECT_EQ(got.last_seen_at, At(60));
  EXPECT_EQ(got.idle_expires_at, At(60) + absl::Minutes(30));
  EXPECT_EQ(got.absolute_expires_at, s.absolute_expires_at);  // never moves
  EXPECT_EQ(got.created_at, s.created_at);
}

TEST_P(ControlStoreConformanceTest, SessionMissingDuplicateAndDelete) {
  CS_SEED();
  EV_TEST_EXPECT_CODE(store().GetSession("h1"), kNotFound);
  EV_TEST_EXPECT_CODE(store().TouchSession("h1", kT0, kT0), kNotFound);
  EV_TEST_EXPECT_CODE(store().DeleteSession("h1"), kNotFound);
  EV_TEST_ASSERT_OK(store().CreateSession(MakeSession("h1", "u1")));
  EV_TEST_EXPECT_CODE(store().CreateSession(MakeSession("h1", "u2")), kAlreadyExists);
  EV_TEST_ASSERT_OK(store().DeleteSession("h1"));
  EV_TEST_EXPECT_CODE(store().GetSession("h1"), kNotFound);
  EV_TEST_EXPECT_CODE(store().DeleteSession("h1"), kNotFound);
}

TEST_P(ControlStoreConformanceTest, DeleteSessionsOfUserKeepsTheException) {
  CS_SEED();
  EV_TEST_ASSERT_OK(store().CreateSession(MakeSession("a1", "u1")));
  EV_TEST_ASSERT_OK(store().CreateSession(MakeSession("a2", "u1")));
  EV_TEST_ASSERT_OK(store().CreateSession(MakeSession("a3", "u1")));
  EV_TEST_ASSERT_OK(store().CreateSession(MakeSession("b1", "u2")));
  EV_TEST_ASSIGN(int64_t n, store().DeleteSessionsOfUser("u1", "a2"));
  EXPECT_EQ(n, 2);
  EV_TEST_EXPECT_OK(store().GetSession("a2"));
  EV_TEST_EXPECT_CODE(store().GetSession("a1"), kNotFound);
  EV_TEST_EXPECT_CODE(store().GetSession("a3"), kNotFound);
  EV_TEST_EXPECT_OK(store().GetSession("b1"));
  EV_TEST_ASSIGN(n, store().DeleteSessionsOfUser("u1", ""));
  EXPECT_EQ(n, 1);
  EV_TEST_EXPECT_CODE(store().GetSession("a2"), kNotFound);
  EV_TEST_ASSIGN(n, store().DeleteSessionsOfUser("u1", ""));
  EXPECT_EQ(n, 0);
  EV_TEST_EXPECT_OK(store().GetSession("b1"));
}

TEST_P(ControlStoreConformanceTest, DeleteSessionsOfUserInOrgLeavesOtherOrgsAlone) {
  CS_SEED();
  Session a = MakeSession("a", "u1");  // org o1
  Session b = MakeSession("b", "u1");
  b.org_id = "o2";
  Session c = MakeSession("c", "u1");
  Session d = MakeSession("d", "u2");
  for (const Session& s : {a, b, c, d}) EV_TEST_ASSERT_OK(store().CreateSession(s));
  EV_TEST_ASSIGN(int64_t n, store().DeleteSessionsOfUserInOrg("u1", "o1", "c"));
  EXPECT_EQ(n, 1);
  EV_TEST_EXPECT_CODE(store().GetSession("a"), kNotFound);
  EV_TEST_EXPECT_OK(store().GetSession("b"));
  EV_TEST_EXPECT_OK(store().GetSession("c"));
  EV_TEST_EXPECT_OK(store().GetSession("d"));
  EV_TEST_ASSIGN(n, store().DeleteSessionsOfUserInOrg("u1", "o1", ""));
  EXPECT_EQ(n, 1);
  EV_TEST_ASSIGN(n, store().DeleteSessionsOfUserInOrg("u1", "o9", ""));
  EXPECT_EQ(n, 0);
  EV_TEST_EXPECT_OK(store().GetSession("b"));
}

TEST_P(ControlStoreConformanceTest, ListSessionsOfUserShowsLiveOnesMostRecentlyUsedFirst) {
  CS_SEED();
  Session old_one = MakeSession("old", "u1");
  Session recent = MakeSession("recent", "u1", At(60));
  recent.org_id = "o2";  // every org
  Session idle = MakeSession("idle", "u1");
  idle.idle_expires_at = At(100);
  Session other = MakeSession("other", "u2", At(120));
  for (const Session& s : {old_one, recent, idle, other}) EV_TEST_ASSERT_OK(store().CreateSession(s));
  EV_TEST_ASSIGN(std::vector<Session> live, store().ListSessionsOfUser("u1", At(100)));
  ASSERT_EQ(live.size(), 2u);
  EXPECT_EQ(live[0].token_hash, "recent");
  EXPECT_EQ(live[0].org_id, "o2");
  EXPECT_EQ(live[1].token_hash, "old");
  EXPECT_EQ(live[1].auth_methods, "pwd+totp");
  EV_TEST_ASSIGN(live, store().ListSessionsOfUser("u9", At(100)));
  EXPECT_TRUE(live.empty());
}

TEST_P(ControlStoreConformanceTest, DeleteExpiredSessionsUsesBothDeadlines) {
  CS_SEED();
  Session idle = MakeSession("idle", "u1");
  idle.idle_expires_at = At(100);
  idle.absolute_expires_at = At(10'000);
  Session absolute = MakeSession("absolute", "u1");
  absolute.idle_expires_at = At(10'000);
  absolute.absolute_expires_at = At(200);
  Session live = MakeSession("live", "u2");
  live.idle_expires_at = At(10'000);
  live.absolute_expires_at = At(20'000);
  for (const Session& s : {idle, absolute, live}) EV_TEST_ASSERT_OK(store().CreateSession(s));

  EV_TEST_ASSIGN(int64_t n, store().DeleteExpiredSessions(At(99)));
  EXPECT_EQ(n, 0);
  EV_TEST_ASSIGN(n, store().DeleteExpiredSessions(At(100)));  // expiry instant counts as expired
  EXPECT_EQ(n, 1);
  EV_TEST_EXPECT_CODE(store().GetSession("idle"), kNotFound);
  EV_TEST_ASSIGN(n, store().DeleteExpiredSessions(At(500)));
  EXPECT_EQ(n, 1);
  EV_TEST_EXPECT_CODE(store().GetSession("absolute"), kNotFound);
  EV_TEST_EXPECT_OK(store().GetSession("live"));
}

// ---- Invitations -----------------------------------------------------------------------

Invitation MakeInvitation(std::string id, std::string org, std::string email, absl::Time at = kT0) {
  Invitation inv;
  inv.id = std::move(id);
  inv.org_id = std::move(org);
  inv.email = std::move(email);
  inv.role = Role::kDeveloper;
  inv.invited_by = "user:u1";
  inv.created_at = at;
  inv.expires_at = at + absl::Hours(24);
  return inv;
}

TEST_P(ControlStoreConformanceTest, InvitationRoundTripAndLists) {
  CS_SEED();
  EV_TEST_ASSERT_OK(store().CreateOrg(MakeOrg("o2", "acme")));
  Invitation first = MakeInvitation("i1", "o1", "c@example.com");
  first.creates_account = true;
  first.role = Role::kAdmin;
  EV_TEST_ASSERT_OK(store().CreateInvitation(first));
  EV_TEST_ASSERT_OK(store().CreateInvitation(MakeInvitation("i2", "o2", "c@example.com", At(1))));
  EV_TEST_ASSERT_OK(store().CreateInvitation(MakeInvitation("i3", "o1", "d@example.com", At(2))));
  EV_TEST_ASSIGN(Invitation got, store().GetInvitation("i1"));
  EXPECT_EQ(got.org_id, "o1");
  EXPECT_EQ(got.email, "c@example.com");
  EXPECT_EQ(got.role, Role::kAdmin);
  EXPECT_EQ(got.invited_by, "user:u1");
  EXPECT_TRUE(got.creates_account);
  EXPECT_EQ(got.status, InvitationStatus::kPending);
  EXPECT_EQ(got.created_at, kT0);
  EXPECT_EQ(got.expires_at, kT0 + absl::Hours(24));
  EXPECT_FALSE(got.responded_at.has_value());
  EV_TEST_EXPECT_CODE(store().GetInvitation("nope"), kNotFound);

  EV_TEST_ASSIGN(std::vector<Invitation> mine, store().ListPendingInvitationsForEmail("c@example.com", At(3)));
  ASSERT_EQ(mine.size(), 2u);
  EXPECT_EQ(mine[0].id, "i1");
  EXPECT_EQ(mine[1].id, "i2");
  EV_TEST_ASSIGN(std::vector<Invitation> org, store().ListPendingInvitationsOfOrg("o1", At(3)));
  ASSERT_EQ(org.size(), 2u);
  EXPECT_EQ(org[0].id, "i1");
  EXPECT_EQ(org[1].id, "i3");
  // Expired invitations are not listed.
  EV_TEST_ASSIGN(mine, store().ListPendingInvitationsForEmail("c@example.com", kT0 + absl::Hours(24)));
  ASSERT_EQ(mine.size(), 1u);
  EXPECT_EQ(mine[0].id, "i2");
}

TEST_P(ControlStoreConformanceTest, OnePendingInvitationPerOrgAndEmail) {
  CS_SEED();
  EV_TEST_ASSERT_OK(store().CreateInvitation(MakeInvitation("i1", "o1", "c@example.com")));
  EV_TEST_EXPECT_CODE(store().CreateInvitation(MakeInvitation("i2", "o1", "c@example.com", At(5))),
                      kAlreadyExists);
  EV_TEST_EXPECT_CODE(store().CreateInvitation(MakeInvitation("i1", "o1", "e@example.com")), kAlreadyExists);
  EV_TEST_EXPECT_CODE(store().CreateInvitation(MakeInvitation("i9", "nope", "c@example.com")),
                      kFailedPrecondition);
  Invitation bad = MakeInvitation("i8", "o1", "f@example.com");
  bad.status = InvitationStatus::kAccepted;
  EV_TEST_EXPECT_CODE(store().CreateInvitation(bad), kInvalidArgument);
  // Once the first has expired, a new one may be made; the old one reads as expired.
  EV_TEST_ASSERT_OK(store().CreateInvitation(MakeInvitation("i2", "o1", "c@example.com", kT0 + absl::Hours(25))));
  EV_TEST_ASSIGN(Invitation old, store().GetInvitation("i1"));
  EXPECT_EQ(old.status, InvitationStatus::kExpired);
  // And once it is answered, too.
  EV_TEST_ASSERT_OK(store().RespondToInvitation("i2", InvitationStatus::kDeclined, kT0 + absl::Hours(26)));
  EV_TEST_ASSERT_OK(store().CreateInvitation(MakeInvitation("i3", "o1", "c@example.com", kT0 + absl::Hours(27))));
}

TEST_P(ControlStoreConformanceTest, RespondToInvitationOnceAndOnlyWhilePending) {
  CS_SEED();
  EV_TEST_ASSERT_OK(store().CreateInvitation(MakeInvitation("i1", "o1", "c@example.com")));
  EV_TEST_EXPECT_CODE(store().RespondToInvitation("i1", InvitationStatus::kPending, At(1)), kInvalidArgument);
  EV_TEST_EXPECT_CODE(store().RespondToInvitation("i1", InvitationStatus::kExpired, At(1)), kInvalidArgument);
  EV_TEST_ASSERT_OK(store().RespondToInvitation("i1", InvitationStatus::kAccepted, At(1)));
  EV_TEST_ASSIGN(Invitation got, store().GetInvitation("i1"));
  EXPECT_EQ(got.status, InvitationStatus::kAccepted);
  ASSERT_TRUE(got.responded_at.has_value());
  EXPECT_EQ(*got.responded_at, At(1));
  EV_TEST_EXPECT_CODE(store().RespondToInvitation("i1", InvitationStatus::kDeclined, At(2)), kNotFound);
  EV_TEST_EXPECT_CODE(store().RespondToInvitation("nope", InvitationStatus::kRevoked, At(2)), kNotFound);
  // An expired invitation cannot be answered.
  EV_TEST_ASSERT_OK(store().CreateInvitation(MakeInvitation("i2", "o1", "d@example.com")));
  EV_TEST_EXPECT_CODE(store().RespondToInvitation("i2", InvitationStatus::kAccepted, kT0 + absl::Hours(24)),
                      kNotFound);
  EV_TEST_ASSERT_OK(store().RespondToInvitation("i2", InvitationStatus::kRevoked, kT0 + absl::Hours(23)));
}

TEST_P(ControlStoreConformanceTest, InvitationAcceptedConcurrentlyHasExactlyOneWinner) {
  CS_SEED();
  EV_TEST_ASSERT_OK(store().CreateInvitation(MakeInvitation("i1", "o1", "c@example.com")));
  std::atomic<int> wins{0}, not_found{0};
  RunConcurrently(8, [&](int i) {
    absl::Status st = store().RespondToInvitation(
        "i1", i % 2 == 0 ? InvitationStatus::kAccepted : InvitationStatus::kDeclined, At(1));
    if (st.ok()) ++wins;
    if (absl::IsNotFound(st)) ++not_found;
  });
  EXPECT_EQ(wins.load(), 1);
  EXPECT_EQ(not_found.load(), 7);
}

// ---- API keys --------------------------------------------------------------------------

TEST_P(ControlStoreConformanceTest, ApiKeyRoundTripWithOptionalTimes) {
  CS_SEED();
  ApiKey bare = MakeApiKey("k1", "hash1", "o1");
  EV_TEST_ASSERT_OK(store().CreateApiKey(bare));
  EV_TEST_ASSIGN(ApiKey got, store().GetApiKeyByHash("hash1"));
  EXPECT_EQ(got.id, "k1");
  EXPECT_EQ(got.key_hash, "hash1");
  EXPECT_EQ(got.prefix, "evk_ab12");
  EXPECT_EQ(got.org_id, "o1");
  EXPECT_EQ(got.created_by, "u1");
  EXPECT_EQ(got.name, "ci");
  EXPECT_EQ(got.scopes, (std::vector<std::string>{"read", "write:flags"}));
  EXPECT_EQ(got.role, Role::kDeveloper);
  EXPECT_EQ(got.created_at, kT0);
  EXPECT_EQ(got.expires_at, std::nullopt);
  EXPECT_EQ(got.last_used_at, std::nullopt);
  EXPECT_EQ(got.revoked_at, std::nullopt);

  ApiKey full = MakeApiKey("k2", "hash2", "o1");
  full.created_by = "bootstrap";
  full.role = Role::kOwner;
  full.scopes = {};
  full.expires_at = At(86'400);
  full.last_used_at = At(5);
  full.revoked_at = At(6);
  EV_TEST_ASSERT_OK(store().CreateApiKey(full));
  EV_TEST_ASSIGN(got, store().GetApiKey("o1", "k2"));
  EXPECT_EQ(got.created_by, "bootstrap");
  EXPECT_EQ(got.role, Role::kOwner);
  EXPECT_TRUE(got.scopes.empty());
  EXPECT_EQ(got.expires_at, std::optional<absl::Time>(At(86'400)));
  EXPECT_EQ(got.last_used_at, std::optional<absl::Time>(At(5)));
  EXPECT_EQ(got.revoked_at, std::optional<absl::Time>(At(6)));
}

TEST_P(ControlStoreConformanceTest, ApiKeyScopesWithAwkwardCharactersRoundTrip) {
  CS_SEED();
  ApiKey k = MakeApiKey("k1", "hash1", "o1");
  k.scopes = {"a\"b", "back\\slash", "comma,and space", "[]{}", "ünïcödé", "", "tab\tnl\n"};
  EV_TEST_ASSERT_OK(store().CreateApiKey(k));
  EV_TEST_ASSIGN(ApiKey got, store().GetApiKey("o1", "k1"));
  EXPECT_EQ(got.scopes, k.scopes);
}

TEST_P(ControlStoreConformanceTest, ApiKeyLookupsAreScopedAndDuplicatesRefused) {
  CS_SEED();
  EV_TEST_ASSERT_OK(store().CreateOrg(MakeOrg("o2", "second")));
  EV_TEST_ASSERT_OK(store().CreateApiKey(MakeApiKey("k1", "hash1", "o1")));
  EV_TEST_EXPECT_CODE(store().GetApiKey("o2", "k1"), kNotFound);
  EV_TEST_EXPECT_CODE(store().GetApiKey("o1", "k9"), kNotFound);
  EV_TEST_EXPECT_CODE(store().GetApiKeyByHash("hash9"), kNotFound);
  EV_TEST_EXPECT_CODE(store().CreateApiKey(MakeApiKey("k1", "hash2", "o1")), kAlreadyExists);
  EV_TEST_EXPECT_CODE(store().CreateApiKey(MakeApiKey("k2", "hash1", "o2")), kAlreadyExists);
  EV_TEST_EXPECT_CODE(store().CreateApiKey(MakeApiKey("k3", "hash3", "ghost-org")), kFailedPrecondition);
}

TEST_P(ControlStoreConformanceTest, ApiKeyRevokeOnceThenFailedPrecondition) {
  CS_SEED();
  EV_TEST_ASSERT_OK(store().CreateOrg(MakeOrg("o2", "second")));
  EV_TEST_ASSERT_OK(store().CreateApiKey(MakeApiKey("k1", "hash1", "o1")));
  EV_TEST_EXPECT_CODE(store().RevokeApiKey("o2", "k1", At(1)), kNotFound);  // other org's key
  EV_TEST_EXPECT_CODE(store().RevokeApiKey("o1", "k9", At(1)), kNotFound);
  EV_TEST_ASSERT_OK(store().RevokeApiKey("o1", "k1", At(10)));
  EV_TEST_EXPECT_CODE(store().RevokeApiKey("o1", "k1", At(20)), kFailedPrecondition);
  EV_TEST_ASSIGN(ApiKey got, store().GetApiKeyByHash("hash1"));
  EXPECT_EQ(got.revoked_at, std::optional<absl::Time>(At(10)));  // the first revocation
}

TEST_P(ControlStoreConformanceTest, ApiKeyTouchSetsLastUsed) {
  CS_SEED();
  EV_TEST_ASSERT_OK(store().CreateApiKey(MakeApiKey("k1", "hash1", "o1")));
  EV_TEST_ASSERT_OK(store().TouchApiKey("k1", At(42)));
  EV_TEST_ASSIGN(ApiKey got, store().GetApiKey("o1", "k1"));
  EXPECT_EQ(got.last_used_at, std::optional<absl::Time>(At(42)));
  EV_TEST_ASSERT_OK(store().TouchApiKey("k1", At(43)));
  EV_TEST_ASSIGN(got, store().GetApiKey("o1", "k1"));
  EXPECT_EQ(got.last_used_at, std::optional<absl::Time>(At(43)));
  EV_TEST_EXPECT_CODE(store().TouchApiKey("k9", At(1)), kNotFound);
}

TEST_P(ControlStoreConformanceTest, ListApiKeysIsOrderedByCreationAndScopedToOrg) {
  CS_SEED();
  EV_TEST_ASSERT_OK(store().CreateOrg(MakeOrg("o2", "second")));
  // Inserted out of order; ids sort the other way round from times.
  EV_TEST_ASSERT_OK(store().CreateApiKey(MakeApiKey("a", "h-a", "o1", At(30))));
  EV_TEST_ASSERT_OK(store().CreateApiKey(MakeApiKey("c", "h-c", "o1", At(10))));
  EV_TEST_ASSERT_OK(store().CreateApiKey(MakeApiKey("b", "h-b", "o1", At(20))));
  EV_TEST_ASSERT_OK(store().CreateApiKey(MakeApiKey("z", "h-z", "o2", At(0))));
  EV_TEST_ASSIGN(std::vector<ApiKey> keys, store().ListApiKeys("o1"));
  ASSERT_EQ(keys.size(), 3u);
  EXPECT_EQ(keys[0].id, "c");
  EXPECT_EQ(keys[1].id, "b");
  EXPECT_EQ(keys[2].id, "a");
  EV_TEST_ASSIGN(keys, store().ListApiKeys("o2"));
  ASSERT_EQ(keys.size(), 1u);
  EXPECT_EQ(keys[0].id, "z");
}

// ---- SDK keys and workspaces -------------------------------------------------------------

TEST_P(ControlStoreConformanceTest, WorkspaceKeyIsUniquePerOrgOnly) {
  CS_SEED();
  EV_TEST_ASSERT_OK(store().CreateOrg(MakeOrg("o2", "second")));
  EV_TEST_ASSERT_OK(store().CreateWorkspace(MakeWorkspace("w1", "o1", "shop")));
  EV_TEST_EXPECT_CODE(store().CreateWorkspace(MakeWorkspace("w2", "o1", "shop")), kAlreadyExists);
  EV_TEST_EXPECT_CODE(store().CreateWorkspace(MakeWorkspace("w1", "o2", "other")), kAlreadyExists);
  EV_TEST_ASSERT_OK(store().CreateWorkspace(MakeWorkspace("w3", "o2", "shop")));
  EV_TEST_ASSIGN(Workspace a, store().GetWorkspaceByKey("o1", "shop"));
  EV_TEST_ASSIGN(Workspace b, store().GetWorkspaceByKey("o2", "shop"));
  EXPECT_EQ(a.id, "w1");
  EXPECT_EQ(b.id, "w3");
  EXPECT_EQ(a.name, "Workspace");
  EXPECT_EQ(a.created_at, kT0);
  EV_TEST_EXPECT_CODE(store().GetWorkspaceByKey("o1", "nope"), kNotFound);
  EV_TEST_ASSIGN(Workspace by_id, store().GetWorkspaceById("w3"));
  EXPECT_EQ(by_id.org_id, "o2");
  EXPECT_EQ(by_id.key, "shop");
  EV_TEST_EXPECT_CODE(store().GetWorkspaceById("nope"), kNotFound);
  EV_TEST_EXPECT_CODE(store().CreateWorkspace(MakeWorkspace("w4", "ghost", "x")), kFailedPrecondition);
}

// ---- WorkspaceDirectory: the api's slice ----------------------------------------------

TEST_P(ControlStoreConformanceTest, CreateWorkspaceWithinLimitStopsAtTheLimitWithItsNumber) {
  CS_SEED();
  EV_TEST_ASSERT_OK(store().SetEntitlements("o1", Entitlements{.max_workspaces = 2}));
  WorkspaceDirectory& dir = store();
  EV_TEST_ASSERT_OK(dir.CreateWorkspaceWithinLimit(MakeWorkspace("w1", "o1", "one")));
  EV_TEST_EXPECT_CODE(dir.CreateWorkspaceWithinLimit(MakeWorkspace("w2", "o1", "one")), kAlreadyExists);
  EV_TEST_ASSERT_OK(dir.CreateWorkspaceWithinLimit(MakeWorkspace("w2", "o1", "two")));
  absl::Status full = dir.CreateWorkspaceWithinLimit(MakeWorkspace("w3", "o1", "three"));
  EXPECT_EQ(full.code(), absl::StatusCode::kResourceExhausted) << full;
  EXPECT_EQ(full.message(), "the org's plan allows 2 workspaces");
  EV_TEST_EXPECT_CODE(dir.GetWorkspaceById("w3"), kNotFound);  // nothing written
  EV_TEST_EXPECT_CODE(dir.CreateWorkspaceWithinLimit(MakeWorkspace("w4", "ghost", "x")), kNotFound);
  EV_TEST_EXPECT_CODE(dir.CreateWorkspaceWithinLimit(MakeWorkspace("", "o1", "x")), kInvalidArgument);
  EV_TEST_ASSIGN(std::vector<Workspace> all, dir.ListWorkspaces("o1"));
  EXPECT_EQ(all.size(), 2u);
}

TEST_P(ControlStoreConformanceTest, ParallelCreatesAtTheLimitHaveExactlyOneWinner) {
  CS_SEED();
  EV_TEST_ASSERT_OK(store().CreateWorkspace(MakeWorkspace("w0", "o1", "zero")));
  EV_TEST_ASSERT_OK(store().SetEntitlements("o1", Entitlements{.max_workspaces = 2}));
  std::atomic<int> wins{0}, full{0}, other{0};
  RunConcurrently(8, [&](int i) {
    absl::Status st = store().CreateWorkspaceWithinLimit(
        MakeWorkspace(base::StrCat("wp", i), "o1", base::StrCat("p", i)));
    if (st.ok()) {
      ++wins;
    } else if (absl::IsResourceExhausted(st)) {
      ++full;
    } else {
      ++other;
    }
  });
  EXPECT_EQ(wins.load(), 1);
  EXPECT_EQ(full.load(), 7);
  EXPECT_EQ(other.load(), 0);
  EV_TEST_ASSIGN(std::vector<Workspace> all, store().ListWorkspaces("o1"));
  EXPECT_EQ(all.size(), 2u);
}

TEST_P(ControlStoreConformanceTest, GetEntitlementsIsTheOrgsAndNotFoundForAnUnknownOrg) {
  CS_SEED();
  EV_TEST_ASSERT_OK(store().SetEntitlements("o1", Entitlements{3, 4, 5}));
  EV_TEST_ASSIGN(Entitlements e, store().GetEntitlements("o1"));
  EXPECT_EQ(e.max_workspaces, 3);
  EXPECT_EQ(e.max_environments, 4);
  EXPECT_EQ(e.max_items, 5);
  EV_TEST_EXPECT_CODE(store().GetEntitlements("ghost"), kNotFound);
}

TEST_P(ControlStoreConformanceTest, RenameWorkspaceChangesOnlyTheName) {
  CS_SEED();
  EV_TEST_ASSERT_OK(store().CreateOrg(MakeOrg("o2", "second")));
  EV_TEST_ASSERT_OK(store().CreateWorkspace(MakeWorkspace("w1", "o1", "shop", At(1))));
  EV_TEST_ASSERT_OK(store().RenameWorkspace("o1", "w1", "Shop (EU)"));
  EV_TEST_ASSIGN(Workspace ws, store().GetWorkspaceByKey("o1", "shop"));
  EXPECT_EQ(ws.id, "w1");
  EXPECT_EQ(ws.name, "Shop (EU)");
  EXPECT_EQ(ws.created_at, At(1));
  EV_TEST_EXPECT_CODE(store().RenameWorkspace("o2", "w1", "taken over"), kNotFound);  // other org
  EV_TEST_EXPECT_CODE(store().RenameWorkspace("o1", "ghost", "x"), kNotFound);
  EV_TEST_EXPECT_CODE(store().RenameWorkspace("o1", "w1", ""), kInvalidArgument);
  EV_TEST_ASSIGN(ws, store().GetWorkspaceById("w1"));
  EXPECT_EQ(ws.name, "Shop (EU)");
}

// Deletion with a grace period (workspace_directory.h): marks set and cleared together,
// scoped to the org, visible to every reader of the row; the purge finds due rows of every
// org and removes only a deleted row (its SDK keys with it).
TEST_P(ControlStoreConformanceTest, DeleteRestoreAndPurgeWorkspace) {
  CS_SEED();
  EV_TEST_ASSERT_OK(store().CreateOrg(MakeOrg("o2", "second")));
  EV_TEST_ASSERT_OK(store().CreateWorkspace(MakeWorkspace("w1", "o1", "shop", At(1))));
  EV_TEST_ASSERT_OK(store().CreateWorkspace(MakeWorkspace("w2", "o1", "blog", At(2))));
  EV_TEST_ASSERT_OK(store().CreateWorkspace(MakeWorkspace("w9", "o2", "other", At(3))));
  EV_TEST_ASSERT_OK(store().CreateSdkKey(MakeSdkKey("s1", "sh1", "w1", At(2))));
  EV_TEST_ASSIGN(Workspace live, store().GetWorkspaceById("w1"));
  EXPECT_FALSE(live.deleted());
  EXPECT_FALSE(live.purge_after.has_value());

  EV_TEST_EXPECT_CODE(store().MarkWorkspaceDeleted("o2", "w1", At(10), At(20)), kNotFound);  // other org
  EV_TEST_EXPECT_CODE(store().MarkWorkspaceDeleted("o1", "ghost", At(10), At(20)), kNotFound);
  EV_TEST_ASSIGN(Workspace marked, store().MarkWorkspaceDeleted("o1", "w1", At(10), At(20)));
  EXPECT_EQ(marked.deleted_at, At(10));
  EXPECT_EQ(marked.purge_after, At(20));
  EXPECT_EQ(marked.key, "shop");
  EV_TEST_EXPECT_CODE(store().MarkWorkspaceDeleted("o1", "w1", At(11), At(99)), kFailedPrecondition);
  // Every read of the row says so; the key stays taken.
  EV_TEST_ASSIGN(Workspace by_key, store().GetWorkspaceByKey("o1", "shop"));
  EXPECT_EQ(by_key.purge_after, At(20));
  EV_TEST_ASSIGN(std::vector<Workspace> listed, store().ListWorkspaces("o1"));
  ASSERT_EQ(listed.size(), 2u);
  EXPECT_TRUE(listed[0].deleted());
  EXPECT_FALSE(listed[1].deleted());
  EV_TEST_EXPECT_CODE(store().CreateWorkspace(MakeWorkspace("w3", "o1", "shop")), kAlreadyExists);

  // Due for purge: purge_after at or before now, every org, earliest first.
  EV_TEST_ASSERT_OK(store().MarkWorkspaceDeleted("o2", "w9", At(5), At(15)));
  EV_TEST_ASSIGN(std::vector<Workspace> due, store().ListWorkspacesDueForPurge(At(19), 10));
  ASSERT_EQ(due.size(), 1u);
  EXPECT_EQ(due[0].id, "w9");
  EV_TEST_ASSIGN(due, store().ListWorkspacesDueForPurge(At(20), 10));
  ASSERT_EQ(due.size(), 2u);
  EXPECT_EQ(due[0].id, "w9");
  EXPECT_EQ(due[1].id, "w1");
  EV_TEST_ASSIGN(due, store().ListWorkspacesDueForPurge(At(20), 1));
  EXPECT_EQ(due.size(), 1u);
  EV_TEST_EXPECT_CODE(store().ListWorkspacesDueForPurge(At(20), 0), kInvalidArgument);

  // Restore clears both marks; only a deleted workspace of the org can be restored.
  EV_TEST_EXPECT_CODE(store().RestoreWorkspace("o1", "w9"), kNotFound);
  EV_TEST_EXPECT_CODE(store().RestoreWorkspace("o1", "w2"), kFailedPrecondition);
  EV_TEST_ASSIGN(Workspace restored, store().RestoreWorkspace("o2", "w9"));
  EXPECT_FALSE(restored.deleted());
  EXPECT_FALSE(restored.purge_after.has_value());
  EV_TEST_ASSIGN(due, store().ListWorkspacesDueForPurge(At(100), 10));
  ASSERT_EQ(due.size(), 1u);
  EXPECT_EQ(due[0].id, "w1");

  // Purge removes only a deleted row of the org, with its SDK keys.
  EV_TEST_EXPECT_CODE(store().PurgeWorkspace("o2", "w1"), kNotFound);
  EV_TEST_EXPECT_CODE(store().PurgeWorkspace("o1", "w2"), kFailedPrecondition);
  EV_TEST_EXPECT_OK(store().GetWorkspaceById("w2"));
  EV_TEST_ASSERT_OK(store().PurgeWorkspace("o1", "w1"));
  EV_TEST_EXPECT_CODE(store().GetWorkspaceById("w1"), kNotFound);
  EV_TEST_EXPECT_CODE(store().GetSdkKeyByHash("sh1"), kNotFound);
  EV_TEST_EXPECT_CODE(store().PurgeWorkspace("o1", "w1"), kNotFound);
  // The key is free again.
  EV_TEST_EXPECT_OK(store().CreateWorkspace(MakeWorkspace("w4", "o1", "shop")));
}

TEST_P(ControlStoreConformanceTest, ListAndDeleteWorkspaces) {
  CS_SEED();
  EV_TEST_ASSERT_OK(store().CreateOrg(MakeOrg("o2", "second")));
  EV_TEST_ASSERT_OK(store().CreateWorkspace(MakeWorkspace("w2", "o1", "second", At(2))));
  EV_TEST_ASSERT_OK(store().CreateWorkspace(MakeWorkspace("w1", "o1", "first", At(1))));
  EV_TEST_ASSERT_OK(store().CreateWorkspace(MakeWorkspace("w9", "o2", "elsewhere", At(0))));
  EV_TEST_ASSIGN(std::vector<Workspace> list, store().ListWorkspaces("o1"));
  ASSERT_EQ(list.size(), 2u);
  EXPECT_EQ(list[0].id, "w1");
  EXPECT_EQ(list[1].id, "w2");
  EV_TEST_EXPECT_CODE(store().DeleteWorkspace("o2", "w1"), kNotFound);  // other org
  EV_TEST_ASSERT_OK(store().DeleteWorkspace("o1", "w1"));
  EV_TEST_EXPECT_CODE(store().DeleteWorkspace("o1", "w1"), kNotFound);
  EV_TEST_EXPECT_CODE(store().GetWorkspaceByKey("o1", "first"), kNotFound);
  EV_TEST_ASSIGN(list, store().ListWorkspaces("o1"));
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0].id, "w2");
  // The key is free again.
  EV_TEST_EXPECT_OK(store().CreateWorkspace(MakeWorkspace("w5", "o1", "first")));
}

TEST_P(ControlStoreConformanceTest, SdkKeyRoundTripListAndRevoke) {
  CS_SEED();
  EV_TEST_ASSERT_OK(store().CreateWorkspace(MakeWorkspace("w1", "o1", "shop")));
  EV_TEST_ASSERT_OK(store().CreateWorkspace(MakeWorkspace("w2", "o1", "blog")));
  SdkKey k = MakeSdkKey("s1", "sh1", "w1", At(2));
  k.last_used_at = At(3);
  EV_TEST_ASSERT_OK(store().CreateSdkKey(k));
  EV_TEST_ASSERT_OK(store().CreateSdkKey(MakeSdkKey("s0", "sh0", "w1", At(1))));
  EV_TEST_ASSERT_OK(store().CreateSdkKey(MakeSdkKey("s2", "sh2", "w2", At(0))));

  EV_TEST_ASSIGN(SdkKey got, store().GetSdkKeyByHash("sh1"));
  EXPECT_EQ(got.id, "s1");
  EXPECT_EQ(got.prefix, "evs_cd34");
  EXPECT_EQ(got.org_id, "o1");
  EXPECT_EQ(got.workspace_id, "w1");
  EXPECT_EQ(got.environment, "production");
  EXPECT_EQ(got.name, "web");
  EXPECT_EQ(got.created_by, "u1");
  EXPECT_EQ(got.created_at, At(2));
  EXPECT_EQ(got.last_used_at, std::optional<absl::Time>(At(3)));
  EXPECT_EQ(got.revoked_at, std::nullopt);

  EV_TEST_ASSIGN(std::vector<SdkKey> list, store().ListSdkKeys("o1", "w1"));
  ASSERT_EQ(list.size(), 2u);
  EXPECT_EQ(list[0].id, "s0");
  EXPECT_EQ(list[1].id, "s1");
  EV_TEST_ASSIGN(list, store().ListSdkKeys("o1", "w2"));
  ASSERT_EQ(list.size(), 1u);
  EV_TEST_ASSIGN(list, store().ListSdkKeys("other-org", "w1"));
  EXPECT_TRUE(list.empty());

  EV_TEST_EXPECT_CODE(store().CreateSdkKey(MakeSdkKey("s3", "sh1", "w1")), kAlreadyExists);
  EV_TEST_EXPECT_CODE(store().CreateSdkKey(MakeSdkKey("s1", "sh9", "w1")), kAlreadyExists);
  EV_TEST_EXPECT_CODE(store().GetSdkKeyByHash("nope"), kNotFound);

  EV_TEST_EXPECT_CODE(store().RevokeSdkKey("o1", "nope", At(9)), kNotFound);
  EV_TEST_ASSERT_OK(store().RevokeSdkKey("o1", "s1", At(9)));
  EV_TEST_EXPECT_CODE(store().RevokeSdkKey("o1", "s1", At(10)), kFailedPrecondition);
  EV_TEST_ASSIGN(got, store().GetSdkKeyByHash("sh1"));
  EXPECT_EQ(got.revoked_at, std::optional<absl::Time>(At(9)));
}

TEST_P(ControlStoreConformanceTest, ClientSdkKeyKeepsItsKindAndOrigins) {
  CS_SEED();
  EV_TEST_ASSERT_OK(store().CreateWorkspace(MakeWorkspace("w1", "o1", "shop")));
  SdkKey client = MakeSdkKey("c1", "ch1", "w1", At(1));
  client.kind = SdkKeyKind::kClient;
  client.origins = {"https://app.example", "http://127.0.0.1:8080"};
  EV_TEST_ASSERT_OK(store().CreateSdkKey(client));
  EV_TEST_ASSERT_OK(store().CreateSdkKey(MakeSdkKey("s1", "sh1", "w1", At(2))));
  EV_TEST_ASSIGN(SdkKey got, store().GetSdkKeyByHash("ch1"));
  EXPECT_EQ(got.kind, SdkKeyKind::kClient);
  EXPECT_EQ(got.origins, client.origins);
  EV_TEST_ASSIGN(std::vector<SdkKey> list, store().ListSdkKeys("o1", "w1"));
  ASSERT_EQ(list.size(), 2u);
  EXPECT_EQ(list[0].kind, SdkKeyKind::kClient);
  EXPECT_EQ(list[0].origins, client.origins);
  EXPECT_EQ(list[1].kind, SdkKeyKind::kServer);
  EXPECT_TRUE(list[1].origins.empty());
  // Origins belong to client keys only.
  SdkKey server = MakeSdkKey("s2", "sh2", "w1");
  server.origins = {"https://app.example"};
  EV_TEST_EXPECT_CODE(store().CreateSdkKey(server), kInvalidArgument);
}

TEST_P(ControlStoreConformanceTest, SdkKeyNeedsAWorkspaceOfItsOrgAndGoesWithIt) {
  CS_SEED();
  EV_TEST_ASSERT_OK(store().CreateOrg(MakeOrg("o2", "second")));
  EV_TEST_ASSERT_OK(store().CreateWorkspace(MakeWorkspace("w1", "o1", "shop")));
  EV_TEST_ASSERT_OK(store().CreateWorkspace(MakeWorkspace("w2", "o2", "shop")));
  EV_TEST_EXPECT_CODE(store().CreateSdkKey(MakeSdkKey("s1", "sh1", "ghost")), kFailedPrecondition);
  // A key of org o1 cannot point at org o2's workspace.
  EV_TEST_EXPECT_CODE(store().CreateSdkKey(MakeSdkKey("s1", "sh1", "w2")), kFailedPrecondition);
  EV_TEST_ASSERT_OK(store().CreateSdkKey(MakeSdkKey("s1", "sh1", "w1")));
  EV_TEST_ASSERT_OK(store().DeleteWorkspace("o1", "w1"));
  EV_TEST_EXPECT_CODE(store().GetSdkKeyByHash("sh1"), kNotFound);
}

// ---- TOTP and recovery codes -------------------------------------------------------------

TEST_P(ControlStoreConformanceTest, TotpPutGetConfirmReplace) {
  CS_SEED();
  EV_TEST_EXPECT_CODE(store().GetTotp("u1"), kNotFound);
  EV_TEST_EXPECT_CODE(store().ConfirmTotp("u1"), kNotFound);
  std::string secret("\x00\x01\xfe\xff secret", 11);
  EV_TEST_ASSERT_OK(store().PutTotp(TotpState{.user_id = "u1", .secret = secret, .created_at = kT0}));
  EV_TEST_ASSIGN(TotpState got, store().GetTotp("u1"));
  EXPECT_EQ(got.user_id, "u1");
  EXPECT_EQ(got.secret, secret);
  EXPECT_FALSE(got.confirmed);
  EXPECT_EQ(got.last_step, -1);
  EXPECT_EQ(got.created_at, kT0);
  EV_TEST_ASSERT_OK(store().ConfirmTotp("u1"));
  EV_TEST_ASSIGN(bool advanced, store().AdvanceTotpStep("u1", 1000));
  EXPECT_TRUE(advanced);
  EV_TEST_ASSIGN(got, store().GetTotp("u1"));
  EXPECT_TRUE(got.confirmed);
  EXPECT_EQ(got.last_step, 1000);
  // Re-enrolment replaces everything.
  EV_TEST_ASSERT_OK(store().PutTotp(
      TotpState{.user_id = "u1", .secret = "new", .confirmed = false, .created_at = At(5)}));
  EV_TEST_ASSIGN(got, store().GetTotp("u1"));
  EXPECT_EQ(got.secret, "new");
  EXPECT_FALSE(got.confirmed);
  EXPECT_EQ(got.last_step, -1);
  EXPECT_EQ(got.created_at, At(5));
}

TEST_P(ControlStoreConformanceTest, AdvanceTotpStepIsMonotonicAndRefusesReplay) {
  CS_SEED();
  EV_TEST_EXPECT_CODE(store().AdvanceTotpStep("u1", 1), kNotFound);
  EV_TEST_ASSERT_OK(store().PutTotp(TotpState{.user_id = "u1", .secret = "s", .created_at = kT0}));
  EV_TEST_ASSIGN(bool ok, store().AdvanceTotpStep("u1", 0));
  EXPECT_TRUE(ok);  // -1 < 0
  EV_TEST_ASSIGN(ok, store().AdvanceTotpStep("u1", 100));
  EXPECT_TRUE(ok);
  EV_TEST_ASSIGN(ok, store().AdvanceTotpStep("u1", 100));
  EXPECT_FALSE(ok);  // replay
  EV_TEST_ASSIGN(ok, store().AdvanceTotpStep("u1", 99));
  EXPECT_FALSE(ok);  // older step
  EV_TEST_ASSIGN(TotpState got, store().GetTotp("u1"));
  EXPECT_EQ(got.last_step, 100);  // refused calls change nothing
  EV_TEST_ASSIGN(ok, store().AdvanceTotpStep("u1", 101));
  EXPECT_TRUE(ok);
}

TEST_P(ControlStoreConformanceTest, AdvanceTotpStepConcurrentlyHasExactlyOneWinner) {
  CS_SEED();
  EV_TEST_ASSERT_OK(store().PutTotp(TotpState{.user_id = "u1", .secret = "s", .created_at = kT0}));
  for (int64_t step = 1; step <= 5; ++step) {
    std::atomic<int> wins{0}, errors{0};
    RunConcurrently(8, [&](int) {
      absl::StatusOr<bool> r = store().AdvanceTotpStep("u1", step);
      if (!r.ok()) {
        ++errors;
      } else if (*r) {
        ++wins;
      }
    });
    EXPECT_EQ(errors.load(), 0);
    EXPECT_EQ(wins.load(), 1) << "step " << step;
  }
}

TEST_P(ControlStoreConformanceTest, DeleteTotpAlsoDeletesRecoveryCodes) {
  CS_SEED();
  EV_TEST_EXPECT_CODE(store().DeleteTotp("u1"), kNotFound);
  EV_TEST_ASSERT_OK(store().PutTotp(TotpState{.user_id = "u1", .secret = "s", .created_at = kT0}));
  EV_TEST_ASSERT_OK(store().ReplaceRecoveryCodes("u1", {"c1", "c2"}));
  EV_TEST_ASSERT_OK(store().PutTotp(TotpState{.user_id = "u2", .secret = "s", .created_at = kT0}));
  EV_TEST_ASSERT_OK(store().ReplaceRecoveryCodes("u2", {"c1"}));
  EV_TEST_ASSERT_OK(store().DeleteTotp("u1"));
  EV_TEST_EXPECT_CODE(store().GetTotp("u1"), kNotFound);
  EV_TEST_ASSIGN(int64_t left, store().CountUnusedRecoveryCodes("u1"));
  EXPECT_EQ(left, 0);
  EV_TEST_ASSIGN(bool used, store().ConsumeRecoveryCode("u1", "c1"));
  EXPECT_FALSE(used);
  EV_TEST_ASSIGN(int64_t other, store().CountUnusedRecoveryCodes("u2"));
  EXPECT_EQ(other, 1);  // another user's state is untouched
  EV_TEST_EXPECT_OK(store().GetTotp("u2"));
}

TEST_P(ControlStoreConformanceTest, RecoveryCodesAreConsumedOnce) {
  CS_SEED();
  EV_TEST_ASSERT_OK(store().ReplaceRecoveryCodes("u1", {"c1", "c2", "c3"}));
  EV_TEST_ASSERT_OK(store().ReplaceRecoveryCodes("u2", {"c4"}));
  EV_TEST_ASSIGN(int64_t n, store().CountUnusedRecoveryCodes("u1"));
  EXPECT_EQ(n, 3);
  EV_TEST_ASSIGN(bool used, store().ConsumeRecoveryCode("u1", "c2"));
  EXPECT_TRUE(used);
  EV_TEST_ASSIGN(used, store().ConsumeRecoveryCode("u1", "c2"));
  EXPECT_FALSE(used);
  EV_TEST_ASSIGN(used, store().ConsumeRecoveryCode("u1", "unknown"));
  EXPECT_FALSE(used);
  EV_TEST_ASSIGN(used, store().ConsumeRecoveryCode("u1", "c4"));  // u2's code
  EXPECT_FALSE(used);
  EV_TEST_ASSIGN(n, store().CountUnusedRecoveryCodes("u1"));
  EXPECT_EQ(n, 2);
  EV_TEST_ASSIGN(n, store().CountUnusedRecoveryCodes("u2"));
  EXPECT_EQ(n, 1);
}

TEST_P(ControlStoreConformanceTest, ReplaceRecoveryCodesDropsTheOldSet) {
  CS_SEED();
  EV_TEST_ASSERT_OK(store().ReplaceRecoveryCodes("u1", {"old1", "old2"}));
  EV_TEST_ASSIGN(bool used, store().ConsumeRecoveryCode("u1", "old1"));
  EXPECT_TRUE(used);
  EV_TEST_ASSERT_OK(store().ReplaceRecoveryCodes("u1", {"new1", "new2", "new3"}));
  EV_TEST_ASSIGN(int64_t n, store().CountUnusedRecoveryCodes("u1"));
  EXPECT_EQ(n, 3);
  EV_TEST_ASSIGN(used, store().ConsumeRecoveryCode("u1", "old2"));
  EXPECT_FALSE(used);
  EV_TEST_ASSIGN(used, store().ConsumeRecoveryCode("u1", "new3"));
  EXPECT_TRUE(used);
  // A failed replacement (duplicate hash) leaves the previous set as it was.
  EV_TEST_EXPECT_CODE(store().ReplaceRecoveryCodes("u1", {"x", "x"}), kAlreadyExists);
  EV_TEST_ASSIGN(n, store().CountUnusedRecoveryCodes("u1"));
  EXPECT_EQ(n, 2);
  EV_TEST_ASSERT_OK(store().ReplaceRecoveryCodes("u1", {}));
  EV_TEST_ASSIGN(n, store().CountUnusedRecoveryCodes("u1"));
  EXPECT_EQ(n, 0);
}

TEST_P(ControlStoreConformanceTest, RecoveryCodeConsumedConcurrentlyHasExactlyOneWinner) {
  CS_SEED();
  EV_TEST_ASSERT_OK(store().ReplaceRecoveryCodes("u1", {"c1", "c2", "c3"}));
  for (const char* code : {"c1", "c2", "c3"}) {
    std::atomic<int> wins{0}, errors{0};
    RunConcurrently(8, [&](int) {
      absl::StatusOr<bool> r = store().ConsumeRecoveryCode("u1", code);
      if (!r.ok()) {
        ++errors;
      } else if (*r) {
        ++wins;
      }
    });
    EXPECT_EQ(errors.load(), 0);
    EXPECT_EQ(wins.load(), 1) << code;
  }
}

// ---- Passkeys --------------------------------------------------------------------------

TEST_P(ControlStoreConformanceTest, PasskeyRoundTripWithBinaryFields) {
  CS_SEED();
  std::string id("\x00\x9f\x10raw\x00id", 9);
  PasskeyCredential c = MakePasskey(id, "u1");
  EV_TEST_ASSERT_OK(store().AddPasskey(c));
  EV_TEST_ASSIGN(PasskeyCredential got, store().GetPasskey(id));
  EXPECT_EQ(got.credential_id, id);
  EXPECT_EQ(got.user_id, "u1");
  EXPECT_EQ(got.public_key_cose, c.public_key_cose);
  EXPECT_EQ(got.algorithm, -7);
  EXPECT_EQ(got.sign_count, 5u);
  EXPECT_EQ(got.name, "YubiKey");
  EXPECT_EQ(got.aaguid, c.aaguid);
  EXPECT_EQ(got.aaguid.size(), 16u);
  EXPECT_TRUE(got.user_verified_at_registration);
  EXPECT_EQ(got.created_at, kT0);
  EXPECT_EQ(got.last_used_at, std::nullopt);
  // A prefix of the id is a different credential.
  EV_TEST_EXPECT_CODE(store().GetPasskey(std::string("\x00\x9f", 2)), kNotFound);
  EV_TEST_EXPECT_CODE(store().AddPasskey(MakePasskey(id, "u2")), kAlreadyExists);
  EV_TEST_EXPECT_CODE(store().AddPasskey(MakePasskey("other", "ghost")), kFailedPrecondition);
}

TEST_P(ControlStoreConformanceTest, PasskeyListUseAndDelete) {
  CS_SEED();
  PasskeyCredential eddsa = MakePasskey("k2", "u1", At(2));
  eddsa.algorithm = -8;
  eddsa.sign_count = 0xFFFFFFF0u;  // above INT32_MAX must survive
  EV_TEST_ASSERT_OK(store().AddPasskey(eddsa));
  EV_TEST_ASSERT_OK(store().AddPasskey(MakePasskey("k1", "u1", At(1))));
  EV_TEST_ASSERT_OK(store().AddPasskey(MakePasskey("k3", "u2", At(0))));
  EV_TEST_ASSIGN(std::vector<PasskeyCredential> list, store().ListPasskeys("u1"));
  ASSERT_EQ(list.size(), 2u);
  EXPECT_EQ(list[0].credential_id, "k1");
  EXPECT_EQ(list[1].credential_id, "k2");
  EXPECT_EQ(list[1].algorithm, -8);
  EXPECT_EQ(list[1].sign_count, 0xFFFFFFF0u);

  EV_TEST_ASSERT_OK(store().UpdatePasskeyUse("k1", 77, At(50)));
  EV_TEST_ASSIGN(PasskeyCredential got, store().GetPasskey("k1"));
  EXPECT_EQ(got.sign_count, 77u);
  EXPECT_EQ(got.last_used_at, std::optional<absl::Time>(At(50)));
  EV_TEST_EXPECT_CODE(store().UpdatePasskeyUse("nope", 1, At(1)), kNotFound);

  EV_TEST_EXPECT_CODE(store().DeletePasskey("u2", "k1"), kNotFound);  // not u2's
  EV_TEST_ASSERT_OK(store().DeletePasskey("u1", "k1"));
  EV_TEST_EXPECT_CODE(store().GetPasskey("k1"), kNotFound);
  EV_TEST_EXPECT_CODE(store().DeletePasskey("u1", "k1"), kNotFound);
  EV_TEST_ASSIGN(list, store().ListPasskeys("u1"));
  EXPECT_EQ(list.size(), 1u);
}

// ---- Challenges ------------------------------------------------------------------------

TEST_P(ControlStoreConformanceTest, ChallengeIsTakenOnce) {
  std::string payload("\x00\x01raw-challenge\xff", 16);
  EV_TEST_ASSERT_OK(store().PutChallenge(Challenge{.id = "c1",
                                              .kind = "passkey-login",
                                              .user_id = "",
                                              .payload = payload,
                                              .expires_at = At(300)}));
  EV_TEST_EXPECT_CODE(store().PutChallenge(Challenge{.id = "c1", .kind = "mfa", .expires_at = At(1)}),
                 kAlreadyExists);
  EV_TEST_ASSIGN(Challenge got, store().TakeChallenge("c1", "passkey-login", At(10)));
  EXPECT_EQ(got.id, "c1");
  EXPECT_EQ(got.kind, "passkey-login");
  EXPECT_EQ(got.user_id, "");
  EXPECT_EQ(got.payload, payload);
  EXPECT_EQ(got.expires_at, At(300));
  EV_TEST_EXPECT_CODE(store().TakeChallenge("c1", "passkey-login", At(10)), kNotFound);
  EV_TEST_EXPECT_CODE(store().TakeChallenge("never", "mfa", At(10)), kNotFound);
}

TEST_P(ControlStoreConformanceTest, ChallengeOfAnotherKindIsNotFoundAndNotConsumed) {
  EV_TEST_ASSERT_OK(store().PutChallenge(
      Challenge{.id = "t1", .kind = "mfa", .user_id = "u1", .expires_at = At(300)}));
  EV_TEST_EXPECT_CODE(store().TakeChallenge("t1", "passkey-login", At(1)), kNotFound);
  EV_TEST_ASSIGN(Challenge got, store().TakeChallenge("t1", "mfa", At(1)));
  EXPECT_EQ(got.user_id, "u1");
}

TEST_P(ControlStoreConformanceTest, ExpiredChallengeIsNotFound) {
  EV_TEST_ASSERT_OK(store().PutChallenge(Challenge{.id = "c1", .kind = "mfa", .expires_at = At(60)}));
  EV_TEST_ASSERT_OK(store().PutChallenge(Challenge{.id = "c2", .kind = "mfa", .expires_at = At(60)}));
  EV_TEST_EXPECT_CODE(store().TakeChallenge("c1", "mfa", At(60)), kNotFound);  // at the deadline
  EV_TEST_EXPECT_CODE(store().TakeChallenge("c2", "mfa", At(61)), kNotFound);
  EV_TEST_ASSERT_OK(store().PutChallenge(Challenge{.id = "c3", .kind = "mfa", .expires_at = At(60)}));
  EV_TEST_EXPECT_OK(store().TakeChallenge("c3", "mfa", At(59)));
}

TEST_P(ControlStoreConformanceTest, ChallengesAreReadAndListedWithoutBeingTaken) {
  for (const char* id : {"g2", "g1", "g3"}) {
    EV_TEST_ASSERT_OK(store().PutChallenge(
        Challenge{.id = id, .kind = "oauth-grant", .user_id = "u1", .payload = id, .expires_at = At(300)}));
  }
  EV_TEST_ASSERT_OK(store().PutChallenge(
      Challenge{.id = "old", .kind = "oauth-grant", .user_id = "u1", .expires_at = At(60)}));
  EV_TEST_ASSERT_OK(store().PutChallenge(
      Challenge{.id = "theirs", .kind = "oauth-grant", .user_id = "u2", .expires_at = At(300)}));
  EV_TEST_ASSERT_OK(store().PutChallenge(
      Challenge{.id = "refresh", .kind = "oauth-refresh", .user_id = "u1", .expires_at = At(300)}));
  EV_TEST_ASSIGN(std::vector<Challenge> mine, store().ListChallengesOfUser("u1", "oauth-grant", At(61), 100));
  ASSERT_EQ(mine.size(), 3u);  // not the expired one, not u2's, not another kind
  EXPECT_EQ(mine[0].id, "g1");
  EXPECT_EQ(mine[1].id, "g2");
  EXPECT_EQ(mine[2].payload, "g3");
  EV_TEST_ASSIGN(mine, store().ListChallengesOfUser("u1", "oauth-grant", At(61), 2));
  EXPECT_EQ(mine.size(), 2u);
  EV_TEST_EXPECT_CODE(store().ListChallengesOfUser("u1", "oauth-grant", At(61), 0), kInvalidArgument);
  EV_TEST_ASSIGN(Challenge got, store().GetChallenge("g2", "oauth-grant", At(61)));
  EXPECT_EQ(got.user_id, "u1");
  EXPECT_EQ(got.expires_at, At(300));
  EV_TEST_EXPECT_CODE(store().GetChallenge("g2", "oauth-refresh", At(61)), kNotFound);
  EV_TEST_EXPECT_CODE(store().GetChallenge("old", "oauth-grant", At(61)), kNotFound);
  EV_TEST_EXPECT_CODE(store().GetChallenge("never", "oauth-grant", At(61)), kNotFound);
  // Reading took nothing.
  EV_TEST_EXPECT_OK(store().TakeChallenge("g2", "oauth-grant", At(61)));
  EV_TEST_ASSIGN(mine, store().ListChallengesOfUser("u1", "oauth-grant", At(61), 100));
  EXPECT_EQ(mine.size(), 2u);
}

TEST_P(ControlStoreConformanceTest, ChallengeTakenConcurrentlyHasExactlyOneWinner) {
  for (int round = 0; round < 5; ++round) {
    std::string id = StrCat("c", round);
    EV_TEST_ASSERT_OK(store().PutChallenge(
        Challenge{.id = id, .kind = "mfa", .payload = id, .expires_at = At(300)}));
    std::atomic<int> wins{0}, not_found{0}, errors{0};
    RunConcurrently(8, [&](int) {
      absl::StatusOr<Challenge> r = store().TakeChallenge(id, "mfa", At(1));
      if (r.ok()) {
        EXPECT_EQ(r->payload, id);
        ++wins;
      } else if (absl::IsNotFound(r.status())) {
        ++not_found;
      } else {
        ++errors;
      }
    });
    EXPECT_EQ(wins.load(), 1);
    EXPECT_EQ(not_found.load(), 7);
    EXPECT_EQ(errors.load(), 0);
  }
}

// ---- Outbox ----------------------------------------------------------------------------

TEST_P(ControlStoreConformanceTest, OutboxAppendPeekInOrderAndDelete) {
  EV_TEST_ASSERT_OK(
      store().AppendOutbox(OutboxEvent{.id = "e3", .json = "{\"n\":3}", .created_at = At(3)}));
  EV_TEST_ASSERT_OK(
      store().AppendOutbox(OutboxEvent{.id = "e1", .json = "{\"n\":1}", .created_at = At(1)}));
  EV_TEST_ASSERT_OK(
      store().AppendOutbox(OutboxEvent{.id = "e2", .json = "{\"n\":2}", .created_at = At(2)}));
  EV_TEST_EXPECT_CODE(store().AppendOutbox(OutboxEvent{.id = "e2", .json = "{}", .created_at = At(9)}),
                 kAlreadyExists);
  EV_TEST_ASSIGN(std::vector<OutboxEvent> events, store().PeekOutbox(10));
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[0].id, "e1");
  EXPECT_EQ(events[0].json, "{\"n\":1}");
  EXPECT_EQ(events[0].created_at, At(1));
  EXPECT_EQ(events[1].id, "e2");
  EXPECT_EQ(events[2].id, "e3");
  EV_TEST_ASSIGN(events, store().PeekOutbox(2));
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[1].id, "e2");
  EV_TEST_ASSIGN(events, store().PeekOutbox(10));  // peeking does not remove
  EXPECT_EQ(events.size(), 3u);
  EV_TEST_ASSERT_OK(store().DeleteOutbox({"e1", "e2", "never-existed"}));
  EV_TEST_ASSIGN(events, store().PeekOutbox(10));
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].id, "e3");
  EV_TEST_ASSERT_OK(store().DeleteOutbox({}));
  EV_TEST_ASSIGN(events, store().PeekOutbox(0));
  EXPECT_TRUE(events.empty());
}

TEST_P(ControlStoreConformanceTest, OutboxSameTimestampOrdersById) {
  for (const char* id : {"b", "c", "a"}) {
    EV_TEST_ASSERT_OK(store().AppendOutbox(OutboxEvent{.id = id, .json = "{}", .created_at = kT0}));
  }
  EV_TEST_ASSIGN(std::vector<OutboxEvent> events, store().PeekOutbox(10));
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[0].id, "a");
  EXPECT_EQ(events[1].id, "b");
  EXPECT_EQ(events[2].id, "c");
}

// ---- Transactions ----------------------------------------------------------------------

TEST_P(ControlStoreConformanceTest, WithTransactionCommitsOnOk) {
  EV_TEST_ASSERT_OK(store().CreateOrg(MakeOrg("o1", "default")));
  EV_TEST_ASSERT_OK(store().WithTransaction([](ControlStore& tx) -> absl::Status {
    EV_RETURN_IF_ERROR(tx.CreateUser(MakeUser("u1", "a@example.com")));
    EV_RETURN_IF_ERROR(tx.AddMembership(MakeMembership("o1", "u1", Role::kOwner)));
    // Reads inside see the transaction's own writes.
    absl::StatusOr<Membership> m = tx.GetMembership("o1", "u1");
    if (!m.ok()) return m.status();
    return tx.AppendOutbox(OutboxEvent{.id = "e1", .json = "{}", .created_at = kT0});
  }));
  EV_TEST_EXPECT_OK(store().GetUser("u1"));
  EV_TEST_EXPECT_OK(store().GetMembership("o1", "u1"));
  EV_TEST_ASSIGN(std::vector<OutboxEvent> events, store().PeekOutbox(10));
  EXPECT_EQ(events.size(), 1u);
}

TEST_P(ControlStoreConformanceTest, WithTransactionRollsBackEveryWriteOnError) {
  EV_TEST_ASSERT_OK(store().CreateOrg(MakeOrg("o1", "default")));
  absl::Status status = store().WithTransaction([](ControlStore& tx) -> absl::Status {
    EV_RETURN_IF_ERROR(tx.CreateUser(MakeUser("u1", "a@example.com")));
    EV_RETURN_IF_ERROR(tx.AddMembership(MakeMembership("o1", "u1", Role::kOwner)));
    EV_RETURN_IF_ERROR(tx.SetEntitlements("o1", Entitlements{.max_workspaces = 1}));
    EV_RETURN_IF_ERROR(tx.AppendOutbox(OutboxEvent{.id = "e1", .json = "{}", .created_at = kT0}));
    return absl::AbortedError("changed my mind");
  });
  EXPECT_EQ(status.code(), absl::StatusCode::kAborted);
  EXPECT_EQ(status.message(), "changed my mind");
  EV_TEST_EXPECT_CODE(store().GetUser("u1"), kNotFound);
  EV_TEST_EXPECT_CODE(store().GetMembership("o1", "u1"), kNotFound);
  EV_TEST_ASSIGN(Org org, store().GetOrg("o1"));
  EXPECT_EQ(org.entitlements.max_workspaces, Entitlements{}.max_workspaces);
  EV_TEST_ASSIGN(std::vector<OutboxEvent> events, store().PeekOutbox(10));
  EXPECT_TRUE(events.empty());
  EV_TEST_ASSIGN(int64_t users, store().CountUsers());
  EXPECT_EQ(users, 0);
  // The store is usable afterwards.
  EV_TEST_EXPECT_OK(store().CreateUser(MakeUser("u1", "a@example.com")));
}

TEST_P(ControlStoreConformanceTest, WithTransactionPropagatesAStoreErrorAndRollsBack) {
  CS_SEED();
  absl::Status status = store().WithTransaction([](ControlStore& tx) -> absl::Status {
    EV_RETURN_IF_ERROR(tx.CreateUser(MakeUser("u3", "c@example.com")));
    return tx.CreateUser(MakeUser("u4", "a@example.com"));  // email taken
  });
  EXPECT_EQ(status.code(), absl::StatusCode::kAlreadyExists);
  EV_TEST_EXPECT_CODE(store().GetUser("u3"), kNotFound);
}

TEST_P(ControlStoreConformanceTest, FailedCallInsideTransactionLeavesTheRestIntact) {
  CS_SEED();
  EV_TEST_ASSERT_OK(store().WithTransaction([](ControlStore& tx) -> absl::Status {
    EV_RETURN_IF_ERROR(tx.CreateUser(MakeUser("u3", "c@example.com")));
    // Each call is atomic even inside a transaction: this one fails whole...
    absl::Status dup = tx.ReplaceRecoveryCodes("u3", {"x", "y", "x"});
    if (dup.code() != absl::StatusCode::kAlreadyExists) return absl::InternalError("expected dup");
    // ...and the caller may go on and commit the rest.
    return tx.ReplaceRecoveryCodes("u1", {"z"});
  }));
  EV_TEST_EXPECT_OK(store().GetUser("u3"));
  EV_TEST_ASSIGN(int64_t n3, store().CountUnusedRecoveryCodes("u3"));
  EXPECT_EQ(n3, 0);
  EV_TEST_ASSIGN(int64_t n1, store().CountUnusedRecoveryCodes("u1"));
  EXPECT_EQ(n1, 1);
}

TEST_P(ControlStoreConformanceTest, NestedWithTransactionRollsBackOnlyTheInnerPart) {
  CS_SEED();
  EV_TEST_ASSERT_OK(store().WithTransaction([](ControlStore& tx) -> absl::Status {
    EV_RETURN_IF_ERROR(tx.AddMembership(MakeMembership("o1", "u1", Role::kOwner)));
    absl::Status inner = tx.WithTransaction([](ControlStore& tx2) -> absl::Status {
      EV_RETURN_IF_ERROR(tx2.AddMembership(MakeMembership("o1", "u2", Role::kViewer)));
      return absl::CancelledError("inner");
    });
    if (inner.code() != absl::StatusCode::kCancelled) return absl::InternalError("inner lost");
    return tx.WithTransaction(
        [](ControlStore& tx2) { return tx2.CreateOrg(MakeOrg("o2", "second")); });
  }));
  EV_TEST_EXPECT_OK(store().GetMembership("o1", "u1"));
  EV_TEST_EXPECT_CODE(store().GetMembership("o1", "u2"), kNotFound);
  EV_TEST_EXPECT_OK(store().GetOrg("o2"));
}

TEST_P(ControlStoreConformanceTest, ConcurrentTransactionsAreIsolated) {
  EV_TEST_ASSERT_OK(store().CreateOrg(MakeOrg("o1", "default")));
  EV_TEST_ASSERT_OK(store().SetEntitlements("o1", Entitlements{.max_items = 0}));
  constexpr int kThreads = 4, kRounds = 25;
  std::atomic<int> errors{0};
  RunConcurrently(kThreads, [&](int) {
    for (int i = 0; i < kRounds; ++i) {
      // Read-modify-write: a lost update shows up as a smaller total.
      absl::Status s = store().WithTransaction([](ControlStore& tx) -> absl::Status {
        absl::StatusOr<Org> org = tx.GetOrg("o1");
        if (!org.ok()) return org.status();
        Entitlements e = org->entitlements;
        ++e.max_items;
        return tx.SetEntitlements("o1", e);
      });
      if (!s.ok()) ++errors;
    }
  });
  EXPECT_EQ(errors.load(), 0);
  EV_TEST_ASSIGN(Org org, store().GetOrg("o1"));
  EXPECT_EQ(org.entitlements.max_items, kThreads * kRounds);
}

// ---- Times -----------------------------------------------------------------------------

TEST_P(ControlStoreConformanceTest, TimesRoundTripAtMicrosecondPrecision) {
  const absl::Time times[] = {
      absl::FromUnixMicros(1'800'000'000'000'001),
      absl::FromUnixMicros(1'800'000'000'999'999),
      absl::FromUnixMicros(0),
      absl::FromUnixMicros(-1'234'567),             // before the epoch
      absl::FromUnixMicros(4'102'444'800'000'000),  // 2100
  };
  EV_TEST_ASSERT_OK(store().CreateOrg(MakeOrg("o1", "default")));
  int i = 0;
  for (absl::Time t : times) {
    std::string id = StrCat("u", i++);
    EV_TEST_ASSERT_OK(store().CreateUser(MakeUser(id, id + "@example.com", t)));
    EV_TEST_ASSIGN(User u, store().GetUser(id));
    EXPECT_EQ(u.created_at, t) << absl::FormatTime(t);
    EV_TEST_ASSERT_OK(store().AppendOutbox(OutboxEvent{.id = id, .json = "{}", .created_at = t}));
    ApiKey k = MakeApiKey(id, "h" + id, "o1", t);
    k.expires_at = t + absl::Microseconds(1);
    EV_TEST_ASSERT_OK(store().CreateApiKey(k));
    EV_TEST_ASSIGN(ApiKey got, store().GetApiKey("o1", id));
    EXPECT_EQ(got.created_at, t);
    EXPECT_EQ(got.expires_at, std::optional<absl::Time>(t + absl::Microseconds(1)));
  }
  EV_TEST_ASSIGN(std::vector<OutboxEvent> events, store().PeekOutbox(10));
  ASSERT_EQ(events.size(), 5u);
  EXPECT_EQ(events[0].created_at, times[3]);  // sorted by time, negative first
  EXPECT_EQ(events[4].created_at, times[4]);
}

// ---- Transfer (edgevault migrate) ------------------------------------------------------

// Every row of every portable table, encoded, in export order (pages of 2, so paging is
// exercised).
std::vector<std::vector<std::string>> AllTransferRows(StoreTransfer& s) {
  std::vector<std::vector<std::string>> out;
  for (const TransferTable& t : ControlTransferTables()) {
    std::vector<std::string> rows;
    for (int64_t offset = 0;;) {
      absl::StatusOr<std::vector<TransferRow>> page = s.ExportRows(t.name, offset, 2);
      EXPECT_TRUE(page.ok()) << t.name << ": " << page.status();
      if (!page.ok() || page->empty()) break;
      for (const TransferRow& r : *page) rows.push_back(EncodeTransferRow(r));
      offset += static_cast<int64_t>(page->size());
    }
    out.push_back(std::move(rows));
  }
  return out;
}

TEST_P(ControlStoreConformanceTest, TransferCopiesEveryTableRowForRowAndIsIdempotent) {
  CS_SEED();
  EV_TEST_ASSERT_OK(store().AddMembership(MakeMembership("o1", "u1", Role::kOwner)));
  EV_TEST_ASSERT_OK(store().CreateSession(MakeSession("tok1", "u1")));
  ApiKey key = MakeApiKey("k1", "hash-k1", "o1");
  key.expires_at = At(3600);
  EV_TEST_ASSERT_OK(store().CreateApiKey(key));
  EV_TEST_ASSERT_OK(store().CreateWorkspace(MakeWorkspace("ws1", "o1", "shop")));
  SdkKey sdk = MakeSdkKey("s1", "hash-s1", "ws1");
  sdk.kind = SdkKeyKind::kClient;
  sdk.origins = {"https://app.example"};
  EV_TEST_ASSERT_OK(store().CreateSdkKey(sdk));
  EV_TEST_ASSERT_OK(store().RevokeSdkKey("o1", "s1", At(5)));
  EV_TEST_ASSERT_OK(store().PutTotp(TotpState{.user_id = "u1",
                                              .secret = std::string("\x00\x01secret\xff", 9),
                                              .created_at = kT0}));
  EV_TEST_ASSERT_OK(store().ConfirmTotp("u1"));
  EV_TEST_ASSERT_OK(store().ReplaceRecoveryCodes("u1", {"rc-a", "rc-b", "rc-c"}));
  EV_TEST_ASSERT_OK(store().AddPasskey(MakePasskey(std::string("\x01\x00\xfe", 3), "u2")));
  EV_TEST_ASSERT_OK(store().PutChallenge(Challenge{.id = "ch1", .kind = "mfa", .user_id = "u1",
                                                   .payload = std::string("\x00p", 2),
                                                   .expires_at = At(60)}));
  EV_TEST_ASSERT_OK(store().AppendOutbox(OutboxEvent{.id = "e1", .json = "{}", .created_at = kT0}));
  EV_TEST_ASSERT_OK(store().CreateInvitation(MakeInvitation("i1", "o1", "c@example.com")));

  std::unique_ptr<ControlStore> target = GetParam()();
  ASSERT_NE(target, nullptr);
  for (const TransferTable& t : ControlTransferTables()) {
    EV_TEST_ASSIGN(int64_t n, store().CountRows(t.name));
    EXPECT_GT(n, 0) << t.name << ": the test fills every table";
    for (int64_t offset = 0; offset < n; offset += 2) {
      EV_TEST_ASSIGN(std::vector<TransferRow> rows, store().ExportRows(t.name, offset, 2));
      EV_TEST_ASSIGN(int64_t inserted, target->ImportRows(t.name, rows));
      EXPECT_EQ(inserted, static_cast<int64_t>(rows.size())) << t.name;
      // A resumed migration imports the same page again: nothing changes.
      EV_TEST_ASSIGN(int64_t again, target->ImportRows(t.name, rows));
      EXPECT_EQ(again, 0) << t.name;
    }
    EV_TEST_ASSIGN(int64_t copied, target->CountRows(t.name));
    EXPECT_EQ(copied, n) << t.name;
  }
  EXPECT_EQ(AllTransferRows(*target), AllTransferRows(store()));

  // The copy works through the store's own API: hashes, sealed secrets, bytes, flags.
  EV_TEST_ASSIGN(User u1, target->GetUserByEmail("a@example.com"));
  EXPECT_EQ(u1.id, "u1");
  EV_TEST_ASSIGN(ApiKey k, target->GetApiKeyByHash("hash-k1"));
  EXPECT_EQ(k.expires_at, At(3600));
  EV_TEST_ASSIGN(SdkKey s, target->GetSdkKeyByHash("hash-s1"));
  EXPECT_EQ(s.kind, SdkKeyKind::kClient);
  EXPECT_EQ(s.revoked_at, At(5));
  EV_TEST_ASSIGN(TotpState totp, target->GetTotp("u1"));
  EXPECT_EQ(totp.secret, std::string("\x00\x01secret\xff", 9));
  EXPECT_TRUE(totp.confirmed);
  EV_TEST_ASSIGN(bool consumed, target->ConsumeRecoveryCode("u1", "rc-b"));
  EXPECT_TRUE(consumed);
  EV_TEST_ASSIGN(PasskeyCredential pk, target->GetPasskey(std::string("\x01\x00\xfe", 3)));
  EXPECT_TRUE(pk.user_verified_at_registration);
  EXPECT_EQ(pk.public_key_cose, MakePasskey("x", "u2").public_key_cose);
}

TEST_P(ControlStoreConformanceTest, TransferRefusesRowsThatDoNotFitAndWritesNothing) {
  CS_SEED();
  EV_TEST_EXPECT_CODE(store().CountRows("nope"), kInvalidArgument);
  EV_TEST_EXPECT_CODE(store().ExportRows("users", 0, 0), kInvalidArgument);
  EV_TEST_EXPECT_CODE(store().ExportRows("users", 0, 1001), kInvalidArgument);
  std::unique_ptr<ControlStore> target = GetParam()();
  ASSERT_NE(target, nullptr);
  EV_TEST_ASSIGN(std::vector<TransferRow> users, store().ExportRows("users", 0, 10));
  ASSERT_EQ(users.size(), 2u);
  // Wrong arity, wrong type, a missing parent: nothing of the batch is written.
  std::vector<TransferRow> short_row = users;
  short_row[1].pop_back();
  EV_TEST_EXPECT_CODE(target->ImportRows("users", short_row), kInvalidArgument);
  std::vector<TransferRow> bad_bool = users;
  bad_bool[1][4] = int64_t{7};
  EV_TEST_EXPECT_CODE(target->ImportRows("users", bad_bool), kInvalidArgument);
  EV_TEST_ASSIGN(int64_t none, target->CountRows("users"));
  EXPECT_EQ(none, 0);
  EV_TEST_ASSERT_OK(store().AddMembership(MakeMembership("o1", "u1", Role::kOwner)));
  EV_TEST_ASSIGN(std::vector<TransferRow> members, store().ExportRows("memberships", 0, 10));
  EV_TEST_EXPECT_CODE(target->ImportRows("memberships", members), kFailedPrecondition);
  EV_TEST_ASSIGN(int64_t no_members, target->CountRows("memberships"));
  EXPECT_EQ(no_members, 0);
}

}  // namespace
}  // namespace edgevault::storage
