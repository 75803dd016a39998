// The MCP endpoint /mcp of the real edgevault-api (issue 16; docs/design/mcp.md) over
// HTTP: tools run the REST handlers, so authorization by effect, viewer limits and the
// change-request-only policy hold for agents exactly as for REST clients; an agent's
// write is audited naming the agent, and a REST client cannot claim to be one.
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <string>

#include "gtest/gtest.h"
#include "src/base/strings.h"
#include "tests/integration/harness.h"

namespace edgevault {
namespace {

namespace json = boost::json;
using testing::EdgeVaultUp;
using testing::HttpReply;

class McpTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    up_ = EdgeVaultUp::Start().release();
    ASSERT_NE(up_, nullptr);
    developer_ = up_->TokenForNewUser("dev@mcp.test", "developer");
    viewer_ = up_->TokenForNewUser("viewer@mcp.test", "viewer");
    ASSERT_FALSE(developer_.empty());
    ASSERT_FALSE(viewer_.empty());
    auto admin = [](std::string method, std::string target, json::value body) {
      return up_->Json("api", std::move(method), std::move(target), body, up_->admin_key());
    };
    ASSERT_EQ(admin("POST", "/v1/workspaces", json::object{{"key", "shop"}}).status, 201);
    ASSERT_EQ(admin("POST", "/v1/workspaces/shop/environments", json::object{{"key", "dev"}, {"reason", "setup"}}).status, 201);
    ASSERT_EQ(admin("POST", "/v1/workspaces/shop/environments",
                    json::object{{"key", "prod"}, {"protected", true}, {"reason", "setup"}})
                  .status,
              201);
    ASSERT_EQ(admin("POST", "/v1/workspaces/shop/environments", json::object{{"key", "review"}, {"reason", "setup"}}).status,
              201);
    HttpReply policy = admin("PUT", "/v1/workspaces/shop/environments/review/policy",
                             json::object{{"required_approvals", 1}, {"change_requests_required", true}, {"reason", "reviewed"}});
    ASSERT_EQ(policy.status, 200) << policy.body;
  }
  static void TearDownTestSuite() {
    delete up_;
    up_ = nullptr;
  }

  static HttpReply Post(const json::value& message, const std::string& token, const std::string& session = "") {
    std::vector<std::pair<std::string, std::string>> h = {{"Accept", "application/json, text/event-stream"}};
    if (!session.empty()) h.emplace_back("Mcp-Session-Id", session);
    return up_->Json("api", "POST", "/mcp", message, token, h);
  }

  static std::string Initialize(const std::string& token) {
    HttpReply r = Post(json::object{{"jsonrpc", "2.0"}, {"id", 1}, {"method", "initialize"},
                                    {"params", {{"protocolVersion", "2025-06-18"},
                                                {"capabilities", json::object()},
                                                {"clientInfo", {{"name", "itest-agent"}, {"version", "9.9"}}}}}},
                       token);
    EXPECT_EQ(r.status, 200) << r.body;
    return r.Header("Mcp-Session-Id");
  }

  static json::value Tool(const std::string& token, const std::string& session, std::string_view name,
                          json::object args) {
    HttpReply r = Post(json::object{{"jsonrpc", "2.0"}, {"id", 2}, {"method", "tools/call"},
                                    {"params", {{"name", name}, {"arguments", std::move(args)}}}},
                       token, session);
    EXPECT_EQ(r.status, 200) << r.body;
    return r.json;
  }

  static std::vector<std::string> Tools(const std::string& token, const std::string& session) {
    HttpReply r = Post(json::object{{"jsonrpc", "2.0"}, {"id", 3}, {"method", "tools/list"}}, token, session);
    std::vector<std::string> names;
    if (r.status != 200) return names;
    for (const json::value& t : r.json.at("result").at("tools").as_array()) names.emplace_back(t.at("name").as_string());
    return names;
  }

  static EdgeVaultUp* up_;
  static std::string developer_, viewer_;
};

EdgeVaultUp* McpTest::up_ = nullptr;
std::string McpTest::developer_;
std::string McpTest::viewer_;

bool Has(const std::vector<std::string>& v, std::string_view s) { return std::find(v.begin(), v.end(), s) != v.end(); }

TEST_F(McpTest, NoTokenIsRefusedWithABearerChallenge) {
  HttpReply r = Post(json::object{{"jsonrpc", "2.0"}, {"id", 1}, {"method", "ping"}}, "");
  EXPECT_EQ(r.status, 401);
  EXPECT_EQ(r.Header("WWW-Authenticate").rfind("Bearer ", 0), 0u);
  EXPECT_EQ(r.json.at("jsonrpc"), "2.0");
  r = Post(json::object{{"jsonrpc", "2.0"}, {"id", 1}, {"method", "ping"}}, "evk_not_a_real_key");
  EXPECT_EQ(r.status, 401);
  // The API key from the bootstrap works as it does for REST.
  EXPECT_FALSE(Initialize(up_->admin_key()).empty());
}

TEST_F(McpTest, AViewerSeesNoWriteToolsAndCannotWriteThroughAnyOfThem) {
  std::string s = Initialize(viewer_);
  std::vector<std::string> tools = Tools(viewer_, s);
  EXPECT_TRUE(Has(tools, "list_items"));
  EXPECT_FALSE(Has(tools, "apply_change"));
  json::value r = Tool(viewer_, s, "apply_change",
                       {{"workspace", "shop"}, {"kind", "config"}, {"key", "x"},
                        {"body", {{"type", "integer"}, {"values", {{"dev", 1}}}}}, {"reason", "try"}});
  EXPECT_EQ(r.at("error").at("code"), -32602);
  // Positive control: the same viewer reads through MCP.
  r = Tool(viewer_, s, "list_environments", {{"workspace", "shop"}});
  EXPECT_EQ(r.at("result").at("structuredContent").at("environments").as_array().size(), 3u);
}

TEST_F(McpTest, WritesAreAuthorizedByEffectAsOverRest) {
  std::string s = Initialize(developer_);
  json::value r = Tool(developer_, s, "apply_change",
                       {{"workspace", "shop"}, {"kind", "config"}, {"key", "db.pool"},
                        {"body", {{"type", "integer"}, {"values", {{"dev", 5}}}}}, {"reason", "size the pool"}});
  ASSERT_TRUE(r.as_object().contains("result")) << json::serialize(r);
  EXPECT_EQ(r.at("result").at("structuredContent").at("outcome"), "applied") << json::serialize(r);
  // prod is protected: a developer's write there is refused by the route, through MCP too.
  r = Tool(developer_, s, "apply_change",
           {{"workspace", "shop"}, {"kind", "config"}, {"key", "db.pool"},
            {"body", {{"type", "integer"}, {"values", {{"dev", 5}, {"prod", 50}}}}}, {"reason", "prod too"}});
  EXPECT_EQ(r.at("result").at("isError"), true) << json::serialize(r);
  EXPECT_NE(json::serialize(r).find("\\\"status\\\":403"), std::string::npos) << json::serialize(r);
  HttpReply item = up_->Call("api", "GET", "/v1/workspaces/shop/configs/db.pool", "", developer_);
  EXPECT_FALSE(item.json.at("values").as_object().contains("prod"));
  // A bad value is refused by the route's validation.
  r = Tool(developer_, s, "apply_change",
           {{"workspace", "shop"}, {"kind", "config"}, {"key", "db.pool"},
            {"body", {{"type", "integer"}, {"values", {{"dev", "five"}}}}}, {"reason", "oops"}});
  EXPECT_EQ(r.at("result").at("isError"), true);
}

TEST_F(McpTest, AWriteToAChangeRequestOnlyEnvironmentOpensAChangeRequest) {
  std::string s = Initialize(developer_);
  json::value r = Tool(developer_, s, "apply_change",
                       {{"workspace", "shop"}, {"kind", "config"}, {"key", "timeout"},
                        {"body", {{"type", "integer"}, {"values", {{"review", 30}}}}}, {"reason", "longer timeout"}});
  ASSERT_TRUE(r.as_object().contains("result")) << json::serialize(r);
  const json::value& out = r.at("result").at("structuredContent");
  EXPECT_EQ(out.at("outcome"), "change_request_opened") << json::serialize(r);
  int64_t id = out.at("change_request").at("id").as_int64();
  // Nothing was written; the request waits for a human.
  EXPECT_EQ(up_->Call("api", "GET", "/v1/workspaces/shop/configs/timeout", "", developer_).status, 404);
  HttpReply cr = up_->Call("api", "GET", "/v1/workspaces/shop/change-requests/" + std::to_string(id), "", developer_);
  ASSERT_EQ(cr.status, 200) << cr.body;
  EXPECT_EQ(cr.json.at("state"), "open");
  EXPECT_EQ(cr.json.at("title"), "longer timeout");
  // The agent cannot approve: there is no such tool.
  json::value approve = Tool(developer_, s, "approve_change_request", {{"workspace", "shop"}, {"id", id}});
  EXPECT_EQ(approve.at("error").at("code"), -32602);
}

// Prompts (docs/design/mcp.md §3b) are filled through the REST handlers: real data, the
// caller's rights (a viewer cannot plan a promotion), and audited naming the agent.
TEST_F(McpTest, PromptsAreFilledFromRealDataWithTheCallersRights) {
  std::string s = Initialize(developer_);
  auto rpc = [&](const std::string& token, const std::string& session, std::string method, json::object params) {
    return Post(json::object{{"jsonrpc", "2.0"}, {"id", 7}, {"method", std::move(method)}, {"params", std::move(params)}},
                token, session);
  };
  HttpReply list = rpc(developer_, s, "prompts/list", {});
  ASSERT_EQ(list.status, 200) << list.body;
  std::vector<std::string> names;
  for (const json::value& p : list.json.at("result").at("prompts").as_array()) names.emplace_back(p.at("name").as_string());
  EXPECT_EQ(names, (std::vector<std::string>{"review_change_request", "explain_flag", "plan_promotion"}));

  json::value cr = Tool(developer_, s, "apply_change",
                        {{"workspace", "shop"}, {"kind", "config"}, {"key", "prompted"},
                         {"body", {{"type", "integer"}, {"values", {{"review", 7}}}}}, {"reason", "prompt me"}});
  ASSERT_EQ(cr.at("result").at("structuredContent").at("outcome"), "change_request_opened") << json::serialize(cr);
  std::string id = std::to_string(cr.at("result").at("structuredContent").at("change_request").at("id").as_int64());
  HttpReply review = rpc(developer_, s, "prompts/get",
                         {{"name", "review_change_request"}, {"arguments", {{"workspace", "shop"}, {"id", id}}}});
  ASSERT_EQ(review.status, 200) << review.body;
  const std::string text(review.json.at("result").at("messages").at(0).at("content").at("text").as_string());
  EXPECT_NE(text.find("prompt me"), std::string::npos) << text;  // the request's own title
  EXPECT_NE(text.find("never approve"), std::string::npos);

  HttpReply missing = rpc(developer_, s, "prompts/get", {{"name", "review_change_request"}, {"arguments", {{"workspace", "shop"}}}});
  EXPECT_EQ(missing.json.at("error").at("code"), -32602);
  HttpReply unknown = rpc(developer_, s, "prompts/get", {{"name", "approve_everything"}});
  EXPECT_EQ(unknown.json.at("error").at("code"), -32602);
  HttpReply bad_context = rpc(developer_, s, "prompts/get",
                              {{"name", "explain_flag"}, {"arguments", {{"workspace", "shop"}, {"flag", "f"}, {"context", "[1]"}}}});
  EXPECT_EQ(bad_context.json.at("error").at("code"), -32602);

  json::value dev_write = Tool(developer_, s, "apply_change",
                               {{"workspace", "shop"}, {"kind", "config"}, {"key", "plan.me"},
                                {"body", {{"type", "integer"}, {"values", {{"dev", 1}}}}}, {"reason", "to promote"}});
  ASSERT_EQ(dev_write.at("result").at("structuredContent").at("outcome"), "applied") << json::serialize(dev_write);
  // The promotion dry run needs the write right: a viewer's prompt is refused by the route.
  std::string vs = Initialize(viewer_);
  HttpReply plan = rpc(viewer_, vs, "prompts/get",
                       {{"name", "plan_promotion"}, {"arguments", {{"workspace", "shop"}, {"from", "dev"}, {"to", "review"}}}});
  EXPECT_EQ(plan.json.at("error").at("data").at("status"), 403) << plan.body;
  HttpReply dev_plan = rpc(developer_, s, "prompts/get",
                           {{"name", "plan_promotion"}, {"arguments", {{"workspace", "shop"}, {"from", "dev"}, {"to", "review"}}}});
  ASSERT_EQ(dev_plan.status, 200);
  ASSERT_TRUE(dev_plan.json.as_object().contains("result")) << dev_plan.body;
  EXPECT_NE(json::serialize(dev_plan.json).find("plan.me"), std::string::npos) << dev_plan.body;
  EXPECT_TRUE(testing::PollUntil(
      [&] {
        return testing::CountAuditLines(up_->data_dir(), "api.mcp.prompt_get",
                                        {"\"tool\":\"prompts/get:review_change_request\"", "mcp:itest-agent/9.9"}) >= 1;
      },
      30000));
}

TEST_F(McpTest, AnAgentsWriteIsAuditedNamingItAndARestClientCannotClaimToBeOne) {
  std::string s = Initialize(developer_);
  json::value r = Tool(developer_, s, "apply_change",
                       {{"workspace", "shop"}, {"kind", "config"}, {"key", "audited"},
                        {"body", {{"type", "string"}, {"values", {{"dev", "x"}}}}}, {"reason", "audit me"}});
  ASSERT_EQ(r.at("result").at("structuredContent").at("outcome"), "applied") << json::serialize(r);
  // A REST client sending the internal header is not an agent.
  HttpReply forged = up_->Json("api", "PUT", "/v1/workspaces/shop/configs/forged",
                               json::object{{"type", "string"}, {"values", {{"dev", "y"}}}, {"reason", "forge"}}, developer_,
                               {{"EdgeVault-Agent", R"({"client":"forged-agent","tool":"apply_change"})"}});
  ASSERT_EQ(forged.status, 200) << forged.body;
  const std::string dir = up_->data_dir();
  EXPECT_TRUE(testing::PollUntil(
      [&] {
        return testing::CountAuditLines(dir, "workspace.config.create",
                                        {"config:audited", "\"client\":\"itest-agent\"", "\"tool\":\"apply_change\""}) == 1 &&
               testing::CountAuditLines(dir, "api.mcp.tool_call",
                                        {"\"client\":\"itest-agent\"", "\"tool\":\"apply_change\"",
                                         "mcp:itest-agent/9.9"}) >= 1 &&
               testing::CountAuditLines(dir, "workspace.config.create", {"config:forged"}) == 1;
      },
      30000));
  EXPECT_EQ(testing::CountAuditLines(dir, "workspace.config.create", {"forged-agent"}), 0);
}

// Resource subscriptions (docs/design/mcp.md §1b) over a real socket: a write reaches the
// session's GET stream as notifications/resources/updated; when the member behind the
// session is removed, the principal recheck closes the idle stream by itself (no write in
// between), and the session is gone.
TEST_F(McpTest, SubscribedStreamHearsWritesAndClosesWhenTheMemberIsRemoved) {
  std::string jwt = up_->TokenForNewUser("leaver@mcp.test", "developer");
  ASSERT_FALSE(jwt.empty());
  std::string user_id;
  HttpReply members = up_->Call("auth", "GET", "/v1/members", "", up_->admin_key());
  for (const auto& m : members.json.at("members").as_array()) {
    if (m.at("email").as_string() == "leaver@mcp.test") user_id = std::string(m.at("user_id").as_string());
  }
  ASSERT_FALSE(user_id.empty()) << members.body;
  std::string session = Initialize(jwt);
  ASSERT_FALSE(session.empty());
  const std::string uri = "edgevault://shop/configs/subscribed";
  HttpReply sub = Post(json::object{{"jsonrpc", "2.0"}, {"id", 5}, {"method", "resources/subscribe"},
                                    {"params", {{"uri", uri}}}},
                       jwt, session);
  ASSERT_EQ(sub.status, 200) << sub.body;
  ASSERT_TRUE(sub.json.as_object().contains("result")) << sub.body;

  int fd = testing::ConnectLoopback(up_->port("api"));
  ASSERT_GE(fd, 0);
  std::string req = base::StrCat("GET /mcp HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\nAuthorization: Bearer ",
                                 jwt, "\r\nMcp-Session-Id: ", session, "\r\n\r\n");
  ASSERT_EQ(::send(fd, req.data(), req.size(), 0), static_cast<ssize_t>(req.size()));
  std::string got;
  testing::ReadUntil(fd, got, ": edgevault mcp session stream");
  ASSERT_NE(got.find("text/event-stream"), std::string::npos) << got;

  // Positive control: the write is announced on the open stream.
  auto put = [&](const std::string& value) {
    return up_->Json("api", "PUT", "/v1/workspaces/shop/configs/subscribed",
                     json::object{{"type", "string"}, {"values", {{"dev", value}}}, {"reason", value}},
                     up_->admin_key());
  };
  ASSERT_EQ(put("first").status, 200);
  testing::ReadUntil(fd, got, "notifications/resources/updated");
  ASSERT_NE(got.find("notifications/resources/updated"), std::string::npos) << got;
  EXPECT_NE(got.find(uri), std::string::npos) << got;

  ASSERT_EQ(up_->Call("auth", "DELETE", "/v1/members/" + user_id, "", up_->admin_key()).status, 200);
  // Nothing is written: only the recheck's watch can end the stream. Read to the end.
  std::string rest;
  bool closed = false;
  testing::PollUntil(
      [&] {
        char buf[1024];
        ssize_t n = ::recv(fd, buf, sizeof buf, 0);
        if (n > 0) rest.append(buf, static_cast<size_t>(n));
        closed = n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
        return closed;
      },
      30000);
  EXPECT_TRUE(closed) << "the stream stayed open after the member was removed: " << rest;
  EXPECT_EQ(rest.find("notifications/resources/updated"), std::string::npos) << rest;
  ::close(fd);
  // A write after it reaches nobody, and the session is gone (the JWT itself is refused).
  ASSERT_EQ(put("second").status, 200);
  HttpReply after = Post(json::object{{"jsonrpc", "2.0"}, {"id", 6}, {"method", "ping"}}, jwt, session);
  EXPECT_EQ(after.status, 401) << after.body;
}

}  // namespace
}  // namespace edgevault
