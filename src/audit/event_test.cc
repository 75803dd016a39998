#include "src/audit/event.h"

#include "gtest/gtest.h"
#include "src/audit/test_util.h"

namespace edgevault::audit {
namespace {

// What the auth service writes today (src/services/auth/auth_service.cc Impl::Audit).
constexpr std::string_view kAuthJson =
    R"({"v":1,"id":"evt_0006a1b2c3d4e5f60718293a4b5c6d7e","time":"2026-03-04T05:06:07.123456Z",)"
    R"("service":"auth","action":"auth.login","outcome":"denied",)"
    R"("actor":{"id":"email-hash:0123456789abcdef","address":"127.0.0.1","user_agent":"curl/8"},)"
    R"("org":"","request_id":"r1","details":{"reason":"invalid_credentials"}})";

TEST(AuditEventTest, ParsesWhatAuthWrites) {
  absl::StatusOr<AuditEvent> e = ParseAuditEvent(kAuthJson);
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_EQ(e->id, "evt_0006a1b2c3d4e5f60718293a4b5c6d7e");
  EXPECT_EQ(FormatEventTime(e->time), "2026-03-04T05:06:07.123456Z");
  EXPECT_EQ(e->actor.id, "email-hash:0123456789abcdef");
  EXPECT_EQ(e->actor.user_agent, "curl/8");
  EXPECT_EQ(e->outcome, "denied");
  EXPECT_EQ(e->workspace, "");
  EXPECT_EQ(e->details.at("reason").as_string(), "invalid_credentials");
}

TEST(AuditEventTest, CanonicalHasFixedOrderAndNoWhitespace) {
  absl::StatusOr<AuditEvent> e = ParseAuditEvent(kAuthJson);
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(CanonicalJson(*e),
            R"({"v":1,"id":"evt_0006a1b2c3d4e5f60718293a4b5c6d7e","time":"2026-03-04T05:06:07.123456Z",)"
            R"("service":"auth","actor":{"id":"email-hash:0123456789abcdef","address":"127.0.0.1",)"
            R"("user_agent":"curl/8"},"action":"auth.login","org":"","workspace":"","environment":"",)"
            R"("target":"","outcome":"denied","request_id":"r1","details":{"reason":"invalid_credentials"}})");
}

TEST(AuditEventTest, CanonicalSortsDetailsAndRoundTrips) {
  absl::StatusOr<AuditEvent> e = ParseAuditEvent(
      R"({"v":1,"id":"evt_0006a1b2c3d4e5f60718293a4b5c6d7e","time":"2026-03-04T05:06:07.000001Z",)"
      R"("service":"api","actor":{"id":"key:k1"},"action":"item.update","outcome":"success",)"
      R"("details":{"z":[3,{"b":1,"a":2.5}],"a":"x\ny\u0001\"/é","m":1.0,"n":null,"t":true}})");
  ASSERT_TRUE(e.ok()) << e.status();
  std::string c = CanonicalJson(*e);
  EXPECT_NE(c.find(R"("details":{"a":"x\ny\u0001\"/é","m":1.0,"n":null,"t":true,"z":[3,{"a":2.5,"b":1}]})"),
            std::string::npos)
      << c;
  absl::StatusOr<AuditEvent> again = ParseAuditEvent(c);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(*again, *e);
  EXPECT_EQ(CanonicalJson(*again), c);
}

TEST(AuditEventTest, MissingOrBadFieldsAreNamed) {
  struct Case {
    std::string from, to, field;
  };
  const Case cases[] = {
      {R"("service":"auth",)", "", "'service'"},
      {R"("id":"evt_0006a1b2c3d4e5f60718293a4b5c6d7e")", R"("id":"evt_XYZ")", "'id'"},
      {R"("time":"2026-03-04T05:06:07.123456Z")", R"("time":"2026-03-04T05:06:07Z")", "'time'"},
      {R"("time":"2026-03-04T05:06:07.123456Z")", R"("time":"2026-02-30T05:06:07.123456Z")", "'time'"},
      {R"("outcome":"denied")", R"("outcome":"maybe")", "'outcome'"},
      {R"("id":"email-hash:0123456789abcdef",)", "", "'actor.id'"},
      {R"("v":1,)", R"("v":2,)", "'v'"},
      {R"("org":"",)", R"("org":"","color":"red",)", "'color'"},
      {R"("details":{"reason":"invalid_credentials"})", R"("details":[1])", "'details'"},
  };
  for (const Case& c : cases) {
    std::string text(kAuthJson);
    size_t at = text.find(c.from);
    ASSERT_NE(at, std::string::npos) << c.from;
    text.replace(at, c.from.size(), c.to);
    absl::StatusOr<AuditEvent> e = ParseAuditEvent(text);
    ASSERT_FALSE(e.ok()) << text;
    EXPECT_EQ(e.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(std::string(e.status().message()).find(c.field), std::string::npos)
        << e.status() << " for " << c.field;
  }
  EXPECT_FALSE(ParseAuditEvent("not json").ok());
  EXPECT_FALSE(ParseAuditEvent("[]").ok());
}

TEST(AuditEventTest, CorrelationHashIsKeyed) {
  std::string a = CorrelationHash("key-1", "alice@example.com");
  EXPECT_EQ(a.size(), 32u);
  EXPECT_EQ(a, CorrelationHash("key-1", "alice@example.com"));
  EXPECT_NE(a, CorrelationHash("key-2", "alice@example.com"));
  EXPECT_NE(a, CorrelationHash("key-1", "bob@example.com"));
}

}  // namespace
}  // namespace edgevault::audit
