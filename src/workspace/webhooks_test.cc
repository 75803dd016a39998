#include "src/base/status.h"
#include "src/workspace/webhooks.h"

#include "gtest/gtest.h"

namespace edgevault::workspace {
namespace {

namespace json = boost::json;

std::string Code(const absl::Status& st) { return base::ErrorCode(st); }

TEST(WebhookUrlTest, HttpUrlsParseIntoHostPortAndTarget) {
  absl::StatusOr<WebhookUrl> u = ParseWebhookUrl("http://Hooks.Example.com:8080/a/b?x=1");
  ASSERT_TRUE(u.ok()) << u.status();
  EXPECT_EQ(u->host, "hooks.example.com");
  EXPECT_EQ(u->port, 8080);
  EXPECT_EQ(u->target, "/a/b?x=1");
  u = ParseWebhookUrl("http://127.0.0.1");
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(u->port, 80);
  EXPECT_EQ(u->target, "/");
  u = ParseWebhookUrl("http://[::1]:9000?q");
  ASSERT_TRUE(u.ok()) << u.status();
  EXPECT_EQ(u->host, "::1");
  EXPECT_EQ(u->target, "/?q");
}

TEST(WebhookUrlTest, HttpsUrlsAreDeliveredOverTlsToPort443ByDefault) {
  absl::StatusOr<WebhookUrl> u = ParseWebhookUrl("HTTPS://Hooks.Example.com/in");
  ASSERT_TRUE(u.ok()) << u.status();
  EXPECT_TRUE(u->tls);
  EXPECT_EQ(u->host, "hooks.example.com");
  EXPECT_EQ(u->port, 443);
  EXPECT_EQ(u->target, "/in");
  u = ParseWebhookUrl("https://[::1]:8443");
  ASSERT_TRUE(u.ok()) << u.status();
  EXPECT_TRUE(u->tls);
  EXPECT_EQ(u->port, 8443);
  u = ParseWebhookUrl("http://h/");
  ASSERT_TRUE(u.ok());
  EXPECT_FALSE(u->tls);
  // The allow-list applies to https as to http.
  EXPECT_EQ(Code(WebhookSpecFromRequest(json::object{{"url", "https://127.0.0.1/"}, {"events", "*"}}, nullptr,
                                        {"hooks.internal"})
                     .status()),
            "host_not_allowed");
  EXPECT_TRUE(WebhookSpecFromRequest(json::object{{"url", "https://hooks.internal/"}, {"events", "*"}}, nullptr,
                                     {"hooks.internal"})
                  .ok());
}

TEST(WebhookUrlTest, RefusesWhatItCannotOrMustNotCall) {
  for (std::string bad : {"", "ftp://x/", "http://", "http://user:pw@host/", "http://host@evil/", "http://h/#f",
                          "http://h:0/", "http://h:65536/", "http://h:/", "http://h x/", "http://h/\n",
                          "http://[::1/", "http://h_1/", "http://[::1]x/", "//h/", "https://", "https://u@h/",
                          "https://h:0/", "httpx://h/"}) {
    absl::StatusOr<WebhookUrl> u = ParseWebhookUrl(bad);
    EXPECT_TRUE(absl::IsInvalidArgument(u.status())) << bad;
    EXPECT_EQ(Code(u.status()), "invalid_url") << bad;
  }
  EXPECT_FALSE(ParseWebhookUrl("http://h/" + std::string(kMaxWebhookUrlBytes, 'a')).ok());
}

TEST(WebhookSpecTest, CreateNeedsUrlAndEventsAndNormalisesEvents) {
  absl::StatusOr<WebhookSpec> s = WebhookSpecFromRequest(
      json::object{{"url", "http://h/"}, {"events", json::array{"promotion.applied", "revision.written",
                                                                "revision.written"}}},
      nullptr, {});
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->events, (std::vector<std::string>{"promotion.applied", "revision.written"}));
  EXPECT_TRUE(s->active);
  EXPECT_TRUE(s->Subscribes("revision.written"));
  EXPECT_FALSE(s->Subscribes("change_request.opened"));
  s = WebhookSpecFromRequest(json::object{{"url", "http://h/"}, {"events", "*"}}, nullptr, {});
  ASSERT_TRUE(s.ok());
  EXPECT_TRUE(s->Subscribes("change_request.opened"));
  EXPECT_FALSE(WebhookSpecFromRequest(json::object{{"url", "http://h/"}}, nullptr, {}).ok());
  EXPECT_FALSE(WebhookSpecFromRequest(json::object{{"events", "*"}}, nullptr, {}).ok());
  EXPECT_EQ(Code(WebhookSpecFromRequest(json::object{{"url", "http://h/"}, {"events", json::array{"x"}}}, nullptr, {})
                     .status()),
            "unknown_event_type");
  EXPECT_FALSE(WebhookSpecFromRequest(json::object{{"url", "http://h/"}, {"events", "*"}, {"active", "yes"}}, nullptr, {})
                   .ok());
  // Round trip through the stored body.
  absl::StatusOr<WebhookSpec> back = WebhookSpecFromStored(json::serialize(s->ToJson()));
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->events, s->events);
  EXPECT_EQ(back->url, s->url);
}

TEST(WebhookSpecTest, PatchChangesOnlyTheNamedFieldsAndTheAllowListHolds) {
  WebhookSpec base{"http://a/", {"*"}, "d", true};
  absl::StatusOr<WebhookSpec> s = WebhookSpecFromRequest(json::object{{"active", false}}, &base, {});
  ASSERT_TRUE(s.ok());
  EXPECT_FALSE(s->active);
  EXPECT_EQ(s->url, "http://a/");
  EXPECT_EQ(s->description, "d");
  std::vector<std::string> allowed = {"hooks.internal", "[::1]"};
  EXPECT_EQ(Code(WebhookSpecFromRequest(json::object{{"url", "http://127.0.0.1/"}}, &base, allowed).status()),
            "host_not_allowed");
  EXPECT_TRUE(WebhookSpecFromRequest(json::object{{"url", "http://HOOKS.internal:81/"}}, &base, allowed).ok());
  EXPECT_TRUE(WebhookSpecFromRequest(json::object{{"url", "http://[::1]/"}}, &base, allowed).ok());
  EXPECT_TRUE(WebhookHostAllowed("anything", {}));
}

}  // namespace
}  // namespace edgevault::workspace
