// GET /v1/audit/events on the real binaries: auth's events travel outbox → queue →
// edgevault-audit → warehouse, and the api reads them back for the org's admins only,
// filtered, newest first, paged; bad queries get 400 JSON errors.
#include <chrono>
#include <thread>

#include "gtest/gtest.h"
#include "tests/integration/harness.h"

namespace edgevault {
namespace {

using testing::EdgeVaultUp;
using testing::HttpReply;

std::string Str(const boost::json::value& v, std::string_view key) {
  const boost::json::object* o = v.if_object();
  const boost::json::value* m = o ? o->if_contains(key) : nullptr;
  return m && m->is_string() ? std::string(m->as_string()) : "";
}

const boost::json::array* Events(const HttpReply& r) {
  const boost::json::object* o = r.json.if_object();
  const boost::json::value* e = o ? o->if_contains("events") : nullptr;
  return e ? e->if_array() : nullptr;
}

TEST(AuditReadIntegrationTest, AdminsReadTheirOrgsEventsFilteredAndPaged) {
  std::unique_ptr<EdgeVaultUp> up = EdgeVaultUp::Start();
  ASSERT_NE(up, nullptr);
  const std::string key = up->admin_key();
  HttpReply me = up->Call("auth", "GET", "/v1/session", "", key);
  ASSERT_EQ(me.status, 200) << me.body;
  const std::string org = Str(me.json, "org_id");
  ASSERT_FALSE(org.empty());

  // Two members log in: auth.member.invite and auth.login events of this org.
  const std::string dev = up->TokenForNewUser("dev@audit.test", "developer");
  ASSERT_FALSE(dev.empty());
  ASSERT_FALSE(up->TokenForNewUser("viewer@audit.test", "viewer").empty());
  // Refused requests to the api are events too, but of no org: never shown.
  EXPECT_EQ(up->Call("api", "GET", "/v1/audit/events").status, 401);
  HttpReply denied = up->Call("api", "GET", "/v1/audit/events", "", dev);
  EXPECT_EQ(denied.status, 403) << denied.body;

  // The warehouse fills asynchronously (relay, queue, consumer): wait for both logins.
  HttpReply logins;
  ASSERT_TRUE(testing::PollUntil([&] {
    logins = up->Call("api", "GET", "/v1/audit/events?action=auth.login", "", key);
    return logins.status != 200 || (Events(logins) && Events(logins)->size() >= 2);
  }, 30000)) << "no login events reached the warehouse: " << logins.body;
  ASSERT_EQ(logins.status, 200) << logins.body;
  std::string previous;
  for (const boost::json::value& e : *Events(logins)) {
    EXPECT_EQ(Str(e, "action"), "auth.login");
    EXPECT_EQ(Str(e, "org"), org);
    if (!previous.empty()) {
      EXPECT_LT(Str(e, "id"), previous) << "not newest first";
    }
    previous = Str(e, "id");
  }

  // No filter: still only this org (the api's denied-request events have none).
  HttpReply all = up->Call("api", "GET", "/v1/audit/events?limit=1000", "", key);
  ASSERT_EQ(all.status, 200);
  ASSERT_NE(Events(all), nullptr);
  bool saw_invite = false;
  for (const boost::json::value& e : *Events(all)) {
    EXPECT_EQ(Str(e, "org"), org) << boost::json::serialize(e);
    saw_invite = saw_invite || Str(e, "action") == "auth.member.invite";
  }
  EXPECT_TRUE(saw_invite);
  HttpReply prefix = up->Call("api", "GET", "/v1/audit/events?action=auth.*", "", key);
  ASSERT_EQ(prefix.status, 200);
  EXPECT_GE(Events(prefix)->size(), Events(logins)->size() + 1);

  // Paging: one at a time, each page older than the last, no repeats.
  HttpReply p1 = up->Call("api", "GET", "/v1/audit/events?action=auth.login&limit=1", "", key);
  ASSERT_EQ(p1.status, 200);
  ASSERT_EQ(Events(p1)->size(), 1u);
  const std::string cursor = Str(p1.json, "next_cursor");
  ASSERT_FALSE(cursor.empty()) << p1.body;
  HttpReply p2 = up->Call("api", "GET", "/v1/audit/events?action=auth.login&limit=1&cursor=" + cursor, "", key);
  ASSERT_EQ(p2.status, 200);
  ASSERT_EQ(Events(p2)->size(), 1u);
  EXPECT_LT(Str((*Events(p2))[0], "id"), Str((*Events(p1))[0], "id"));

  // Actor and time filters.
  const std::string actor = Str((*Events(p1))[0].as_object().at("actor"), "id");
  HttpReply by_actor = up->Call("api", "GET", "/v1/audit/events?actor=" + actor, "", key);
  ASSERT_EQ(by_actor.status, 200);
  ASSERT_FALSE(Events(by_actor)->empty());
  for (const boost::json::value& e : *Events(by_actor)) EXPECT_EQ(Str(e.as_object().at("actor"), "id"), actor);
  HttpReply future = up->Call("api", "GET", "/v1/audit/events?since=2999-01-01T00:00:00Z", "", key);
  ASSERT_EQ(future.status, 200);
  EXPECT_TRUE(Events(future)->empty());
  EXPECT_TRUE(Str(future.json, "next_cursor").empty());

  // Bad queries: 400 with a JSON error, nothing read.
  for (std::string q : {"limit=0", "limit=x", "since=yesterday", "until=2026-13-01T00:00:00Z", "cursor=nope",
                        "action=auth%20login", "bogus=1",
                        "since=2026-02-01T00:00:00Z&until=2026-01-01T00:00:00Z"}) {
    HttpReply bad = up->Call("api", "GET", "/v1/audit/events?" + q, "", key);
    EXPECT_EQ(bad.status, 400) << q << ": " << bad.body;
    const boost::json::object* o = bad.json.if_object();
    EXPECT_TRUE(o && o->contains("error")) << q << ": " << bad.body;
  }
}

}  // namespace
}  // namespace edgevault
