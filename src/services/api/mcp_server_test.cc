// McpServer's JSON-RPC handling, sessions and authorization (docs/design/mcp.md), with the
// REST routes replaced by a recording fake: what the transport answers, which tools a
// principal sees, that tools reach routes only with checked arguments, and that every
// call is audited naming the agent. The real routes are exercised by
// tests/integration/mcp_test.cc and tests/e2e/mcp.test.mjs.
#include "src/services/api/mcp_server.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include <set>
#include <utility>

#include "src/net/raw_request.h"
#include "src/services/common/http_json.h"

namespace edgevault::api {
namespace {

namespace json = boost::json;
namespace http = boost::beast::http;

struct RouteCall {
  http::verb method;
  std::string target;
  json::value body;
  std::vector<std::pair<std::string, std::string>> headers;
  workspace::AgentInfo agent;
  std::string authorization;
};

Principal Developer() {
  Principal p;
  p.subject = "key:key_dev";
  p.org_id = "org_1";
  p.role = storage::Role::kDeveloper;
  p.scopes = {"read", "write", "secrets:read"};
  return p;
}

Principal Viewer() {
  Principal p = Developer();
  p.subject = "key:key_viewer";
  p.role = storage::Role::kViewer;
  p.scopes = {"read"};
  return p;
}

struct HttpAnswer {
  int status = 0;
  json::value body;
  std::string session;
  const net::Response* raw = nullptr;
};

class McpServerTest : public ::testing::Test {
 protected:
  void Start(bool read_only = false, bool allow_secret_values = false) {
    McpServerOptions o;
    o.authenticate = [this](const net::Request& req) -> absl::StatusOr<Principal> {
      std::string_view auth = req.Header("Authorization");
      if (auth == "Bearer dev") return Developer();
      if (auth == "Bearer viewer") return Viewer();
      if (auth == "Bearer limited") {  // over its own api.rate_limit_*, as ApiAuth answers
        return services::WithRetryAfter(
            services::WithErrorCode(absl::ResourceExhaustedError("rate limit of 5 requests per second exceeded"),
                                    "rate_limited"),
            7);
      }
      if (auth == "Bearer other") {
        Principal p = Developer();
        p.subject = "key:key_other";
        return p;
      }
      return absl::UnauthenticatedError("no valid bearer token");
    };
    o.call_route = [this](const net::Request& outer, const workspace::AgentInfo& agent, http::verb method,
                          const std::string& target, const json::value* body,
                          const std::vector<std::pair<std::string, std::string>>& headers) {
      calls_.push_back({method, target, body != nullptr ? *body : json::value(nullptr), headers, agent,
                        std::string(outer.Header("Authorization"))});
      for (auto& [prefix, answer] : answers_) {
        if (target.rfind(prefix, 0) == 0 && (answer_method_.count(prefix) == 0 || answer_method_[prefix] == method)) {
          return answer;
        }
      }
      return RouteAnswer{200, json::object{{"items", json::array()}}};
    };
    o.record_denied = [this](const net::Request&, const absl::Status& why) { denied_.push_back(why); };
    o.record_event = [this](const std::string& event) -> absl::Status {
      if (!audit_ok_) return absl::UnavailableError("queue down");
      events_.push_back(json::parse(event));
      return absl::OkStatus();
    };
    o.subscribe = [this](const std::string& workspace_id,
                         std::function<void(const std::string&, const storage::Revision&)> fn) {
      uint64_t id = next_id_++;
      (workspace_id.empty() ? all_subscribers_ : subscribers_)[id] = {workspace_id, std::move(fn)};
      return id;
    };
    o.unsubscribe = [this](uint64_t id) {
      subscribers_.erase(id);
      all_subscribers_.erase(id);
    };
    o.watch_revocation = [this](const Principal& p, std::function<void()> fn) {
      uint64_t id = next_id_++;
      watches_[id] = {p.ActorId(), std::move(fn)};
      return id;
    };
    o.unwatch = [this](uint64_t id) { watches_.erase(id); };
    o.revoked = [this](const Principal& p) { return revoked_.contains(p.ActorId()); };
    o.env = &env_;
    o.read_only = read_only;
    o.allow_secret_values = allow_secret_values;
    o.session_rate_limit = session_rate_limit_;
    server_ = std::make_unique<McpServer>(std::move(o));
  }

  HttpAnswer Send(http::verb method, std::string body, std::vector<std::pair<std::string, std::string>> headers) {
    raw_ = std::make_unique<net::RawRequest>(method, "/mcp", 11);
    for (auto& [k, v] : headers) raw_->set(k, v);
    raw_->body() = std::move(body);
    req_ = std::make_unique<net::Request>(*raw_, "req-1", "127.0.0.1");
    last_ = server_->Handle(*req_);
    HttpAnswer a;
    a.status = last_.status;
    boost::system::error_code ec;
    a.body = last_.body.empty() ? json::value(nullptr) : json::parse(last_.body, ec);
    for (auto& [k, v] : last_.headers) {
      if (k == "Mcp-Session-Id") a.session = v;
    }
    a.raw = &last_;
    return a;
  }

  HttpAnswer Rpc(const json::value& message, std::string token = "dev", std::string session = "") {
    std::vector<std::pair<std::string, std::string>> h = {{"Content-Type", "application/json"},
                                                           {"Accept", "application/json, text/event-stream"}};
    if (!token.empty()) h.emplace_back("Authorization", "Bearer " + token);
    if (!session.empty()) h.emplace_back("Mcp-Session-Id", session);
    return Send(http::verb::post, json::serialize(message), h);
  }

  static std::string RetryAfter(const HttpAnswer& a) {
    for (auto& [k, v] : a.raw->headers) {
      if (k == "Retry-After") return v;
    }
    return "";
  }

  std::string Initialize(std::string token = "dev", std::string version = "2025-06-18") {
    HttpAnswer a = Rpc(json::object{{"jsonrpc", "2.0"}, {"id", 1}, {"method", "initialize"},
                                    {"params", {{"protocolVersion", version}, {"capabilities", json::object()},
                                                {"clientInfo", {{"name", "test-agent"}, {"version", "1.2.3"}}}}}},
                       token);
    EXPECT_EQ(a.status, 200) << json::serialize(a.body);
    return a.session;
  }

  json::value Request(std::string_view method, json::object params, const std::string& session,
                      std::string token = "dev") {
    HttpAnswer a = Rpc(json::object{{"jsonrpc", "2.0"}, {"id", 7}, {"method", method}, {"params", std::move(params)}},
                       token, session);
    EXPECT_EQ(a.status, 200) << json::serialize(a.body);
    return a.body;
  }

  std::vector<std::string> ToolNames(const std::string& session, std::string token = "dev") {
    json::value r = Request("tools/list", {}, session, token);
    std::vector<std::string> names;
    for (const json::value& t : r.at("result").at("tools").as_array()) names.emplace_back(t.at("name").as_string());
    return names;
  }

  json::value CallTool(const std::string& session, std::string_view name, json::object args,
                       std::string token = "dev") {
    return Request("tools/call", {{"name", name}, {"arguments", std::move(args)}}, session, token);
  }

  // A recheck that finds `actor` gone: what ApiAuth does (Revoked, then the watches fire).
  void Revoke(const std::string& actor) {
    revoked_.insert(actor);
    std::vector<std::function<void()>> fire;
    for (auto it = watches_.begin(); it != watches_.end();) {
      if (it->second.first == actor) {
        fire.push_back(std::move(it->second.second));
        it = watches_.erase(it);
      } else {
        ++it;
      }
    }
    for (auto& f : fire) f();
  }
  // A revision published to the subscribers of `workspace_id`, as the workspace service does.
  // `before`/`after` as the store writes them ("null" for a created/deleted item).
  void Publish(const std::string& workspace_id, storage::ItemKind kind, std::string key,
               std::string before = "{}", std::string after = "{}") {
    storage::Revision rev;
    rev.seq = ++seq_;
    rev.kind = kind;
    rev.key = std::move(key);
    rev.before = std::move(before);
    rev.after = std::move(after);
    std::vector<std::function<void(const std::string&, const storage::Revision&)>> fns;
    for (auto& [id, sub] : subscribers_) {
      if (sub.first == workspace_id) fns.push_back(sub.second);
    }
    for (auto& [id, sub] : all_subscribers_) fns.push_back(sub.second);
    for (auto& f : fns) f(workspace_id, rev);
  }

  base::SimulatedEnv env_;
  storage::RateLimit session_rate_limit_ = {.count = 0};  // unlimited unless a test says
  using Subscriber = std::pair<std::string, std::function<void(const std::string&, const storage::Revision&)>>;
  std::map<uint64_t, Subscriber> subscribers_;      // of one workspace (resources/subscribe)
  std::map<uint64_t, Subscriber> all_subscribers_;  // of every workspace (list_changed)
  std::map<uint64_t, std::pair<std::string, std::function<void()>>> watches_;
  std::set<std::string> revoked_;
  uint64_t next_id_ = 1;
  int64_t seq_ = 0;
  std::unique_ptr<McpServer> server_;
  std::unique_ptr<net::RawRequest> raw_;
  std::unique_ptr<net::Request> req_;
  net::Response last_;
  std::vector<RouteCall> calls_;
  std::vector<std::pair<std::string, RouteAnswer>> answers_;
  std::map<std::string, http::verb> answer_method_;
  std::vector<absl::Status> denied_;
  std::vector<json::value> events_;
  bool audit_ok_ = true;
};

// An open GET stream as the HTTP server hands it to Response::sse: records what is sent.
class FakeStream : public net::SseStream {
 public:
  bool Send(const net::SseEvent& e) override {
    if (closed_) return false;
    events.push_back(e);
    return true;
  }
  bool SendComment(std::string_view) override { return !closed_; }
  void Close() override {
    if (closed_) return;
    closed_ = true;
    if (on_close_) std::exchange(on_close_, nullptr)();
  }
  bool closed() const override { return closed_; }
  void OnClose(std::function<void()> cb) override {
    if (closed_) cb();
    else on_close_ = std::move(cb);
  }
  std::string_view last_event_id() const override { return ""; }
  // The URIs of the notifications/resources/updated messages sent.
  std::vector<std::string> Updated() const {
    std::vector<std::string> uris;
    for (const net::SseEvent& e : events) {
      json::value m = json::parse(e.data);
      EXPECT_EQ(e.event, "message");
      EXPECT_EQ(m.at("method"), "notifications/resources/updated");
      uris.emplace_back(m.at("params").at("uri").as_string());
    }
    return uris;
  }
  // How many notifications/resources/list_changed were sent (and nothing else).
  size_t ListChanged() const {
    size_t n = 0;
    for (const net::SseEvent& e : events) {
      json::value m = json::parse(e.data);
      EXPECT_EQ(m.at("method"), "notifications/resources/list_changed");
      n += m.at("method") == "notifications/resources/list_changed" ? 1 : 0;
    }
    return n;
  }
  std::vector<net::SseEvent> events;

 private:
  bool closed_ = false;
  std::function<void()> on_close_;
};

bool Contains(const std::vector<std::string>& v, std::string_view s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

TEST_F(McpServerTest, InitializeNegotiatesTheVersionAndOpensASession) {
  Start();
  HttpAnswer a = Rpc(json::object{{"jsonrpc", "2.0"}, {"id", "init"}, {"method", "initialize"},
                                  {"params", {{"protocolVersion", "2025-03-26"},
                                              {"clientInfo", {{"name", "x"}, {"version", "1"}}}}}});
  ASSERT_EQ(a.status, 200);
  EXPECT_EQ(a.body.at("id"), "init");
  EXPECT_EQ(a.body.at("result").at("protocolVersion"), "2025-03-26");
  EXPECT_EQ(a.body.at("result").at("serverInfo").at("name"), "edgevault-api");
  EXPECT_TRUE(a.body.at("result").at("capabilities").as_object().contains("tools"));
  EXPECT_EQ(a.session.rfind("mcps_", 0), 0u);
  EXPECT_EQ(a.session.size(), 5u + 32u);
  // A version this server does not speak gets the latest one it does.
  a = Rpc(json::object{{"jsonrpc", "2.0"}, {"id", 2}, {"method", "initialize"},
                       {"params", {{"protocolVersion", "1999-01-01"}, {"clientInfo", {{"name", "x"}}}}}});
  EXPECT_EQ(a.body.at("result").at("protocolVersion"), json::value(kMcpProtocolVersions[0]));
  EXPECT_EQ(server_->session_count(), 2u);
  // Without clientInfo.name the agent could not be named in the audit log.
  a = Rpc(json::object{{"jsonrpc", "2.0"}, {"id", 3}, {"method", "initialize"}, {"params", {{"protocolVersion", "2025-06-18"}}}});
  EXPECT_EQ(a.status, 200);
  EXPECT_EQ(a.body.at("error").at("code"), -32602);
  EXPECT_TRUE(a.session.empty());
}

TEST_F(McpServerTest, EveryRequestAfterInitializeNeedsItsOwnSession) {
  Start();
  std::string s = Initialize();
  EXPECT_EQ(Request("ping", {}, s).at("result"), json::object());
  HttpAnswer none = Rpc(json::object{{"jsonrpc", "2.0"}, {"id", 1}, {"method", "ping"}});
  EXPECT_EQ(none.status, 400);
  EXPECT_EQ(none.body.at("error").at("code"), -32600);
  HttpAnswer unknown = Rpc(json::object{{"jsonrpc", "2.0"}, {"id", 1}, {"method", "ping"}}, "dev", "mcps_nope");
  EXPECT_EQ(unknown.status, 404);
  // Another principal presenting the session id finds nothing.
  HttpAnswer stolen = Rpc(json::object{{"jsonrpc", "2.0"}, {"id", 1}, {"method", "ping"}}, "other", s);
  EXPECT_EQ(stolen.status, 404);
  // initialize never reuses a session.
  HttpAnswer again = Rpc(json::object{{"jsonrpc", "2.0"}, {"id", 1}, {"method", "initialize"},
                                      {"params", {{"protocolVersion", "2025-06-18"}, {"clientInfo", {{"name", "x"}}}}}},
                         "dev", s);
  EXPECT_EQ(again.status, 400);
  // DELETE ends it.
  HttpAnswer del = Send(http::verb::delete_, "", {{"Authorization", "Bearer dev"}, {"Mcp-Session-Id", s}});
  EXPECT_EQ(del.status, 204);
  EXPECT_EQ(Rpc(json::object{{"jsonrpc", "2.0"}, {"id", 1}, {"method", "ping"}}, "dev", s).status, 404);
}

TEST_F(McpServerTest, IdleSessionsExpire) {
  Start();
  std::string s = Initialize();
  env_.AdvanceBy(absl::Minutes(59));
  EXPECT_EQ(Rpc(json::object{{"jsonrpc", "2.0"}, {"id", 1}, {"method", "ping"}}, "dev", s).status, 200);
  env_.AdvanceBy(absl::Minutes(61));
  EXPECT_EQ(Rpc(json::object{{"jsonrpc", "2.0"}, {"id", 1}, {"method", "ping"}}, "dev", s).status, 404);
}

TEST_F(McpServerTest, APrincipalOverItsSessionLimitIsRefusedWith429) {
  Start();
  std::vector<std::string> open;
  for (int i = 0; i < 64; ++i) open.push_back(Initialize());
  env_.AdvanceBy(absl::Minutes(10));
  HttpAnswer refused = Rpc(json::object{{"jsonrpc", "2.0"}, {"id", 1}, {"method", "initialize"},
                                        {"params", {{"protocolVersion", "2025-06-18"}, {"clientInfo", {{"name", "x"}}}}}});
  EXPECT_EQ(refused.status, 429) << json::serialize(refused.body);
  EXPECT_EQ(refused.body.at("error").at("data").at("code"), "too_many_sessions");
  EXPECT_TRUE(refused.session.empty());
  std::string retry = RetryAfter(refused);
  EXPECT_EQ(retry, "3000");  // the oldest session goes idle 50 minutes from now
  // Nothing was evicted: every open session still works.
  EXPECT_EQ(Rpc(json::object{{"jsonrpc", "2.0"}, {"id", 1}, {"method", "ping"}}, "dev", open.front()).status, 200);
  // The limit is per principal: another key opens one.
  EXPECT_FALSE(Initialize("other").empty());
  // Ending one makes room.
  Send(http::verb::delete_, "", {{"Authorization", "Bearer dev"}, {"Mcp-Session-Id", open.back()}});
  EXPECT_FALSE(Initialize().empty());
}

TEST_F(McpServerTest, BadInputGetsA4xxWithAJsonRpcErrorNeverA500) {
  Start();
  std::string s = Initialize();
  std::vector<std::pair<std::string, std::string>> h = {{"Content-Type", "application/json"},
                                                         {"Authorization", "Bearer dev"},
                                                         {"Mcp-Session-Id", s}};
  struct Case {
    std::string body;
    int status;
    int code;
  };
  const Case cases[] = {
      {"{not json", 400, -32700},
      {"", 400, -32700},
      {"[{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}]", 400, -32600},
      {"42", 400, -32600},
      {"{\"jsonrpc\":\"1.0\",\"id\":1,\"method\":\"ping\"}", 400, -32600},
      {"{\"jsonrpc\":\"2.0\",\"id\":true,\"method\":\"ping\"}", 400, -32600},
      {"{\"jsonrpc\":\"2.0\",\"id\":1.5,\"method\":\"ping\"}", 400, -32600},
      {"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":7}", 400, -32600},
      {"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\",\"params\":[1]}", 400, -32600},
      {"{\"jsonrpc\":\"2.0\",\"id\":1}", 400, -32600},
      {"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"nope/nope\"}", 200, -32601},
      {"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{}}", 200, -32602},
      {"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"get_item\",\"arguments\":[]}}", 200, -32602},
      {"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"no_such_tool\"}}", 200, -32602},
      {"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"resources/read\",\"params\":{\"uri\":\"file:///etc/passwd\"}}", 200, -32002},
      {"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"resources/read\",\"params\":{\"uri\":\"edgevault://w/../x\"}}", 200, -32002},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.body);
    HttpAnswer a = Send(http::verb::post, c.body, h);
    EXPECT_EQ(a.status, c.status);
    ASSERT_TRUE(a.body.is_object());
    EXPECT_EQ(a.body.at("jsonrpc"), "2.0");
    EXPECT_EQ(a.body.at("error").at("code"), c.code);
  }
  EXPECT_TRUE(calls_.empty());  // nothing bad reached a route
  // Notifications and responses are acknowledged with 202 and no body.
  EXPECT_EQ(Send(http::verb::post, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}", h).status, 202);
  EXPECT_EQ(Send(http::verb::post, "{\"jsonrpc\":\"2.0\",\"id\":3,\"result\":{}}", h).status, 202);
  // Transport rules.
  EXPECT_EQ(Send(http::verb::post, "{}", {{"Content-Type", "text/plain"}, {"Authorization", "Bearer dev"}}).status, 415);
  EXPECT_EQ(Send(http::verb::post, "{}",
                 {{"Content-Type", "application/json"}, {"Accept", "text/html"}, {"Authorization", "Bearer dev"}})
                .status,
            406);
  EXPECT_EQ(Send(http::verb::put, "{}", {{"Authorization", "Bearer dev"}}).status, 405);
  EXPECT_EQ(Send(http::verb::post, "{}", {{"Origin", "https://evil.example"}, {"Authorization", "Bearer dev"}}).status, 403);
  EXPECT_EQ(Send(http::verb::get, "", {{"Accept", "application/json"}, {"Authorization", "Bearer dev"}, {"Mcp-Session-Id", s}})
                .status,
            406);
  HttpAnswer version = Send(http::verb::post, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}",
                            {{"Content-Type", "application/json"}, {"Authorization", "Bearer dev"},
                             {"Mcp-Session-Id", s}, {"MCP-Protocol-Version", "2023-01-01"}});
  EXPECT_EQ(version.status, 400);
}

TEST_F(McpServerTest, NoTokenIs401WithWwwAuthenticateAndRecordedAsDenied) {
  Start();
  HttpAnswer a = Rpc(json::object{{"jsonrpc", "2.0"}, {"id", 1}, {"method", "ping"}}, "");
  EXPECT_EQ(a.status, 401);
  bool challenge = false;
  for (auto& [k, v] : a.raw->headers) challenge = challenge || (k == "WWW-Authenticate" && v.rfind("Bearer ", 0) == 0);
  EXPECT_TRUE(challenge);
  ASSERT_EQ(denied_.size(), 1u);
  EXPECT_TRUE(absl::IsUnauthenticated(denied_[0]));
  EXPECT_EQ(Rpc(json::object{{"jsonrpc", "2.0"}, {"id", 1}, {"method", "ping"}}, "forged").status, 401);
}

TEST_F(McpServerTest, EveryToolHasSchemasAndAnnotations) {
  Start(false, true);
  std::string s = Initialize();
  json::value r = Request("tools/list", {}, s);
  const json::array& tools = r.at("result").at("tools").as_array();
  ASSERT_GE(tools.size(), 15u);
  for (const json::value& t : tools) {
    SCOPED_TRACE(json::serialize(t.at("name")));
    EXPECT_EQ(t.at("inputSchema").at("type"), "object");
    EXPECT_EQ(t.at("inputSchema").at("additionalProperties"), false);
    EXPECT_EQ(t.at("outputSchema").at("type"), "object");
    EXPECT_TRUE(t.at("annotations").at("readOnlyHint").is_bool());
    EXPECT_TRUE(t.at("annotations").at("destructiveHint").is_bool());
  }
  std::vector<std::string> names = ToolNames(s);
  for (std::string_view n : {"list_workspaces", "list_environments", "list_items", "get_item", "get_resolved_environment",
                             "export_workspace",
                             "search_items", "explain_flag", "flag_insights", "get_history", "diff_revisions", "list_change_requests",
                             "propose_change", "apply_change", "create_promotion", "read_secret_value"}) {
    EXPECT_TRUE(Contains(names, n)) << n;
  }
  // Agents never approve.
  for (const std::string& n : names) EXPECT_EQ(n.find("approve"), std::string::npos);
}

TEST_F(McpServerTest, ReadOnlyServerNeitherListsNorRunsWriteTools) {
  Start(/*read_only=*/true);
  std::string s = Initialize();
  std::vector<std::string> names = ToolNames(s);
  EXPECT_TRUE(Contains(names, "get_item"));  // positive control: tools are listed
  for (std::string_view w : {"apply_change", "propose_change", "create_promotion", "import_workspace"}) {
    EXPECT_FALSE(Contains(names, w)) << w;
  }
  json::value r = CallTool(s, "apply_change",
                           {{"workspace", "w"}, {"kind", "config"}, {"key", "k"}, {"body", json::object()}, {"reason", "r"}});
  EXPECT_EQ(r.at("error").at("code"), -32602);
  EXPECT_NE(std::string(r.at("error").at("message").as_string()).find("read-only"), std::string::npos);
  EXPECT_TRUE(calls_.empty());
  ASSERT_EQ(events_.size(), 1u);
  EXPECT_EQ(events_[0].at("outcome"), "denied");
}

TEST_F(McpServerTest, ATokenThatCannotWriteSeesNoWriteTools) {
  Start();
  std::string s = Initialize("viewer");
  std::vector<std::string> names = ToolNames(s, "viewer");
  EXPECT_TRUE(Contains(names, "list_items"));
  EXPECT_FALSE(Contains(names, "apply_change"));
  EXPECT_FALSE(Contains(names, "propose_change"));
  std::string d = Initialize("dev");
  EXPECT_TRUE(Contains(ToolNames(d), "apply_change"));
}

TEST_F(McpServerTest, SecretValuesNeedTheServerSwitchAndTheTokensRight) {
  for (bool allow : {false, true}) {
    Start(false, allow);
    std::string dev = Initialize("dev");
    std::string viewer = Initialize("viewer");
    EXPECT_EQ(Contains(ToolNames(dev), "read_secret_value"), allow) << allow;
    EXPECT_FALSE(Contains(ToolNames(viewer, "viewer"), "read_secret_value"));
    json::value r = CallTool(viewer, "read_secret_value", {{"workspace", "w"}, {"environment", "e"}, {"key", "k"}}, "viewer");
    EXPECT_EQ(r.at("error").at("code"), -32602);
  }
  EXPECT_TRUE(calls_.empty());
}

TEST_F(McpServerTest, ToolsCallTheirRouteWithTheCallersCredentialAndTheAgent) {
  Start();
  std::string s = Initialize();
  answers_.push_back({"/v1/workspaces/shop/configs/", RouteAnswer{200, json::object{{"key", "db.pool"}, {"kind", "config"}}}});
  json::value r = CallTool(s, "get_item", {{"workspace", "shop"}, {"kind", "config"}, {"key", "db.pool"}});
  ASSERT_EQ(calls_.size(), 1u);
  EXPECT_EQ(calls_[0].method, http::verb::get);
  EXPECT_EQ(calls_[0].target, "/v1/workspaces/shop/configs/db.pool");
  EXPECT_EQ(calls_[0].authorization, "Bearer dev");
  EXPECT_EQ(calls_[0].agent.client, "test-agent");
  EXPECT_EQ(calls_[0].agent.client_version, "1.2.3");
  EXPECT_EQ(calls_[0].agent.tool, "get_item");
  EXPECT_EQ(calls_[0].agent.session, s);
  EXPECT_EQ(r.at("result").at("structuredContent").at("key"), "db.pool");
  EXPECT_FALSE(r.at("result").as_object().contains("isError"));
  // A path parameter cannot add path steps.
  CallTool(s, "get_item", {{"workspace", "../x"}, {"kind", "flag"}, {"key", "a/b?c"}});
  EXPECT_EQ(calls_.back().target, "/v1/workspaces/..%2Fx/flags/a%2Fb%3Fc");
  CallTool(s, "get_item", {{"workspace", ".."}, {"kind", "flag"}, {"key", "."}});
  EXPECT_EQ(calls_.back().target, "/v1/workspaces/%2E%2E/flags/%2E");
}

TEST_F(McpServerTest, ArgumentsAreCheckedBeforeAnyRouteRuns) {
  Start();
  std::string s = Initialize();
  const json::object bad[] = {
      {{"workspace", "w"}, {"kind", "config"}},                                   // key missing
      {{"workspace", "w"}, {"kind", "widget"}, {"key", "k"}},                      // kind not in enum
      {{"workspace", "w"}, {"kind", "config"}, {"key", 3}},                        // wrong type
      {{"workspace", "w"}, {"kind", "config"}, {"key", "k"}, {"extra", true}},     // unknown member
      {{"workspace", ""}, {"kind", "config"}, {"key", "k"}},                       // too short
  };
  for (const json::object& args : bad) {
    SCOPED_TRACE(json::serialize(args));
    json::value r = CallTool(s, "get_item", args);
    EXPECT_EQ(r.at("result").at("isError"), true);
    EXPECT_NE(json::serialize(r.at("result").at("content")).find("invalid_arguments"), std::string::npos);
  }
  json::value r = CallTool(s, "list_items", {{"workspace", "w"}, {"limit", 100000}});
  EXPECT_EQ(r.at("result").at("isError"), true);
  r = CallTool(s, "apply_change", {{"workspace", "w"}, {"kind", "config"}, {"key", "k"}, {"reason", "r"}});
  EXPECT_EQ(r.at("result").at("isError"), true);  // neither body nor delete
  EXPECT_TRUE(calls_.empty());
}

TEST_F(McpServerTest, ApplyChangeOpensAChangeRequestWhereThePolicyRequiresOne) {
  Start();
  std::string s = Initialize();
  answers_.push_back({"/v1/workspaces/shop/secrets/",
                      RouteAnswer{403, json::object{{"error", {{"code", "change_request_required"},
                                                               {"message", "environment \"prod\" accepts changes only through change requests"}}}}}});
  answers_.push_back({"/v1/workspaces/shop/change-requests", RouteAnswer{201, json::object{{"id", 7}, {"state", "open"}}}});
  json::value r = CallTool(s, "apply_change",
                           {{"workspace", "shop"}, {"kind", "secret"}, {"key", "stripe.key"},
                            {"body", {{"values", {{"prod", "sk_live_1"}, {"dev", nullptr}}}}},
                            {"reason", "rotate the key"}, {"if_match", 12}});
  ASSERT_EQ(calls_.size(), 2u);
  EXPECT_EQ(calls_[0].method, http::verb::put);
  EXPECT_EQ(calls_[0].body.at("reason"), "rotate the key");
  ASSERT_EQ(calls_[0].headers.size(), 1u);
  EXPECT_EQ(calls_[0].headers[0].second, "\"12\"");
  EXPECT_EQ(calls_[1].method, http::verb::post);
  EXPECT_EQ(calls_[1].target, "/v1/workspaces/shop/change-requests");
  EXPECT_EQ(calls_[1].body.at("title"), "rotate the key");
  const json::array& changes = calls_[1].body.at("changes").as_array();
  ASSERT_EQ(changes.size(), 2u);
  EXPECT_EQ(changes[0].at("kind"), "secret");
  EXPECT_TRUE(changes[0].as_object().contains("environment"));
  const json::value& out = r.at("result").at("structuredContent");
  EXPECT_EQ(out.at("outcome"), "change_request_opened");
  EXPECT_EQ(out.at("change_request").at("id"), 7);
  // The secret value went to the route, never back into the answer.
  EXPECT_EQ(json::serialize(r).find("sk_live_1"), std::string::npos);
}

TEST_F(McpServerTest, ApplyChangeReturnsEveryOtherRefusalAsItIs) {
  Start();
  std::string s = Initialize();
  answers_.push_back({"/v1/workspaces/shop/configs/",
                      RouteAnswer{403, json::object{{"error", {{"code", "forbidden"}, {"message", "admin needed for prod"}}}}}});
  json::value r = CallTool(s, "apply_change",
                           {{"workspace", "shop"}, {"kind", "config"}, {"key", "db.pool"}, {"delete", true}, {"reason", "gone"}});
  ASSERT_EQ(calls_.size(), 1u);  // no change request
  EXPECT_EQ(calls_[0].method, http::verb::delete_);
  EXPECT_EQ(r.at("result").at("isError"), true);
  ASSERT_EQ(events_.size(), 1u);
  EXPECT_EQ(events_[0].at("outcome"), "denied");
  EXPECT_EQ(events_[0].at("details").at("error"), "forbidden");
}

TEST_F(McpServerTest, EveryCallIsAuditedNamingTheAgentAndThePrincipal) {
  Start();
  std::string s = Initialize();
  CallTool(s, "list_workspaces", {});
  ASSERT_EQ(events_.size(), 1u);
  const json::value& e = events_[0];
  EXPECT_EQ(e.at("action"), "api.mcp.tool_call");
  EXPECT_EQ(e.at("outcome"), "success");
  EXPECT_EQ(e.at("actor").at("id"), "key:key_dev");
  EXPECT_EQ(e.at("actor").at("user_agent"), "mcp:test-agent/1.2.3");
  EXPECT_EQ(e.at("org"), "org_1");
  EXPECT_EQ(e.at("details").at("agent").at("tool"), "list_workspaces");
  EXPECT_EQ(e.at("details").at("agent").at("client"), "test-agent");
  EXPECT_EQ(e.at("details").at("agent").at("session"), json::value(s));
  answers_.push_back({"/v1/workspaces/w/environments/prod/resolved", RouteAnswer{200, json::object{{"version", 3}}}});
  json::value read = Request("resources/read", {{"uri", "edgevault://w/environments/prod/resolved"}}, s);
  EXPECT_EQ(read.at("result").at("contents").at(0).at("mimeType"), "application/json");
  ASSERT_EQ(events_.size(), 2u);
  EXPECT_EQ(events_[1].at("action"), "api.mcp.resource_read");
}

TEST_F(McpServerTest, AnAnswerIsWithheldWhenItsAuditEventCannotBeRecorded) {
  Start();
  std::string s = Initialize();
  audit_ok_ = false;
  json::value r = CallTool(s, "list_workspaces", {});
  EXPECT_EQ(r.at("error").at("code"), -32603);
  EXPECT_FALSE(r.as_object().contains("result"));
}

// Opens the session's GET stream the way the HTTP server does (Response::sse).
std::shared_ptr<FakeStream> OpenStream(McpServer& server, const std::string& session, const std::string& token) {
  net::RawRequest raw(http::verb::get, "/mcp", 11);
  raw.set("Accept", "text/event-stream");
  raw.set("Authorization", "Bearer " + token);
  raw.set("Mcp-Session-Id", session);
  net::Request req(raw, "req-get", "127.0.0.1");
  net::Response resp = server.Handle(req);
  EXPECT_EQ(resp.status, 200);
  auto stream = std::make_shared<FakeStream>();
  if (resp.sse) resp.sse(stream);
  return stream;
}

TEST_F(McpServerTest, ASubscribedResourceUpdateReachesTheSessionStream) {
  Start();
  answers_.push_back({"/v1/workspaces/shop", RouteAnswer{200, json::object{{"id", "ws_1"}, {"key", "shop"}}}});
  std::string s = Initialize();
  json::value init = Rpc(json::object{{"jsonrpc", "2.0"}, {"id", 1}, {"method", "initialize"},
                                      {"params", {{"protocolVersion", "2025-06-18"}, {"clientInfo", {{"name", "x"}}}}}})
                         .body;
  EXPECT_EQ(init.at("result").at("capabilities").at("resources").at("subscribe"), true);
  auto stream = OpenStream(*server_, s, "dev");
  const std::string item = "edgevault://shop/configs/db.pool";
  const std::string resolved = "edgevault://shop/environments/prod/resolved";
  EXPECT_EQ(Request("resources/subscribe", {{"uri", item}}, s).at("result"), json::object());
  EXPECT_EQ(Request("resources/subscribe", {{"uri", resolved}}, s).at("result"), json::object());
  EXPECT_EQ(subscribers_.size(), 2u);
  EXPECT_EQ(subscribers_.begin()->second.first, "ws_1");  // by the id the workspace route answered
  // The subscription ran the workspace route as the agent, and was audited.
  ASSERT_FALSE(events_.empty());
  EXPECT_EQ(events_.back().at("action"), "api.mcp.resource_subscribe");

  Publish("ws_1", storage::ItemKind::kConfig, "db.pool");  // the item and the document
  Publish("ws_1", storage::ItemKind::kConfig, "other");    // only the document
  Publish("ws_1", storage::ItemKind::kSecret, "db.pool");  // neither: no secret is resolved, another kind
  EXPECT_EQ(stream->Updated(), (std::vector<std::string>{item, resolved, resolved}));

  // Unsubscribed: nothing more about the item.
  EXPECT_EQ(Request("resources/unsubscribe", {{"uri", item}}, s).at("result"), json::object());
  stream->events.clear();
  Publish("ws_1", storage::ItemKind::kConfig, "db.pool");
  EXPECT_EQ(stream->Updated(), (std::vector<std::string>{resolved}));

  // DELETE ends the session, its stream and its subscriptions.
  Send(http::verb::delete_, "", {{"Authorization", "Bearer dev"}, {"Mcp-Session-Id", s}});
  EXPECT_TRUE(stream->closed());
  EXPECT_TRUE(subscribers_.empty());
  EXPECT_TRUE(watches_.empty());
}

TEST_F(McpServerTest, SubscribingNeedsAServedUriInAReadableWorkspace) {
  Start();
  answers_.push_back({"/v1/workspaces/theirs",
                      RouteAnswer{404, json::object{{"error", {{"code", "not_found"}, {"message", "no workspace"}}}}}});
  std::string s = Initialize();
  json::value r = Request("resources/subscribe", {{"uri", "edgevault://theirs/flags/x"}}, s);
  EXPECT_EQ(r.at("error").at("code"), -32002);
  r = Request("resources/subscribe", {{"uri", "https://example.com/x"}}, s);
  EXPECT_EQ(r.at("error").at("code"), -32002);
  r = Request("resources/subscribe", json::object{}, s);
  EXPECT_EQ(r.at("error").at("code"), -32602);
  EXPECT_TRUE(subscribers_.empty());
  // Positive control: a readable workspace is subscribed.
  answers_.push_back({"/v1/workspaces/shop", RouteAnswer{200, json::object{{"id", "ws_1"}}}});
  EXPECT_EQ(Request("resources/subscribe", {{"uri", "edgevault://shop/flags/x"}}, s).at("result"), json::object());
  EXPECT_EQ(subscribers_.size(), 1u);
}

TEST_F(McpServerTest, ARevokedPrincipalsStreamClosesAndHearsNothingMore) {
  Start();
  answers_.push_back({"/v1/workspaces/shop", RouteAnswer{200, json::object{{"id", "ws_1"}}}});
  std::string s = Initialize();
  std::string other = Initialize("other");
  auto stream = OpenStream(*server_, s, "dev");
  auto other_stream = OpenStream(*server_, other, "other");
  EXPECT_EQ(watches_.size(), 2u);  // each open stream pins its principal
  const std::string uri = "edgevault://shop/flags/x";
  Request("resources/subscribe", {{"uri", uri}}, s);
  Request("resources/subscribe", {{"uri", uri}}, other, "other");
  Publish("ws_1", storage::ItemKind::kFlag, "x");
  EXPECT_EQ(stream->Updated().size(), 1u);  // positive control
  EXPECT_EQ(other_stream->Updated().size(), 1u);

  Revoke("key:key_dev");  // the recheck found the key revoked
  EXPECT_TRUE(stream->closed());
  EXPECT_FALSE(other_stream->closed());
  Publish("ws_1", storage::ItemKind::kFlag, "x");
  EXPECT_EQ(stream->Updated().size(), 1u);
  EXPECT_EQ(other_stream->Updated().size(), 2u);
  EXPECT_EQ(subscribers_.size(), 1u);  // the revoked session's subscription ended
}

TEST_F(McpServerTest, ANotificationIsNotSentOnceTheRecheckSaysGone) {
  // The revision may arrive between the recheck's answer and its watch firing: the
  // notification checks Revoked itself.
  Start();
  answers_.push_back({"/v1/workspaces/shop", RouteAnswer{200, json::object{{"id", "ws_1"}}}});
  std::string s = Initialize();
  auto stream = OpenStream(*server_, s, "dev");
  Request("resources/subscribe", {{"uri", "edgevault://shop/flags/x"}}, s);
  revoked_.insert("key:key_dev");
  Publish("ws_1", storage::ItemKind::kFlag, "x");
  EXPECT_TRUE(stream->events.empty());
  EXPECT_TRUE(stream->closed());
  EXPECT_EQ(server_->session_count(), 0u);
}

// notifications/resources/list_changed (docs/design/mcp.md §1c): an environment created or
// deleted in a workspace a session listed, or a workspace change in its org; never to a
// session that did not list, saw other workspaces, is of another org, or was revoked.
TEST_F(McpServerTest, TheResourceListChangeReachesTheSessionsThatListed) {
  Start();
  answers_.push_back({"/v1/workspaces/shop/environments",
                      RouteAnswer{200, json::object{{"environments", json::array{json::object{{"key", "prod"}}}}}}});
  answers_.push_back({"/v1/workspaces",
                      RouteAnswer{200, json::object{{"workspaces", json::array{json::object{{"id", "ws_1"}, {"key", "shop"}}}}}}});
  json::value init = Rpc(json::object{{"jsonrpc", "2.0"}, {"id", 1}, {"method", "initialize"},
                                      {"params", {{"protocolVersion", "2025-06-18"}, {"clientInfo", {{"name", "x"}}}}}})
                         .body;
  EXPECT_EQ(init.at("result").at("capabilities").at("resources").at("listChanged"), true);
  std::string listed = Initialize();
  std::string silent = Initialize();  // never lists: list_changed does not concern it
  auto stream = OpenStream(*server_, listed, "dev");
  auto silent_stream = OpenStream(*server_, silent, "dev");
  json::value list = Request("resources/list", {}, listed);
  ASSERT_EQ(list.at("result").at("resources").as_array().size(), 1u) << list;

  Publish("ws_1", storage::ItemKind::kEnvironment, "staging", "null", "{}");  // created
  EXPECT_EQ(stream->ListChanged(), 1u);
  Publish("ws_1", storage::ItemKind::kEnvironment, "staging", "{}", "{\"name\":\"S\"}");  // renamed: same list
  Publish("ws_1", storage::ItemKind::kConfig, "db.pool", "null", "{}");                     // not a resource
  Publish("ws_2", storage::ItemKind::kEnvironment, "prod", "null", "{}");                   // a workspace it did not see
  EXPECT_EQ(stream->ListChanged(), 1u);
  Publish("ws_1", storage::ItemKind::kEnvironment, "staging", "{}", "null");  // deleted
  EXPECT_EQ(stream->ListChanged(), 2u);
  server_->ResourceListChanged("", "org_other");  // a workspace of another org
  EXPECT_EQ(stream->ListChanged(), 2u);
  server_->ResourceListChanged("", "org_1");  // a workspace of its org created or renamed
  EXPECT_EQ(stream->ListChanged(), 3u);
  EXPECT_TRUE(silent_stream->events.empty());

  // Once the recheck says the principal is gone, the session ends instead.
  revoked_.insert("key:key_dev");
  Publish("ws_1", storage::ItemKind::kEnvironment, "qa", "null", "{}");
  EXPECT_EQ(stream->ListChanged(), 3u);
  EXPECT_TRUE(stream->closed());
  // The server's own subscription ends with it.
  EXPECT_EQ(all_subscribers_.size(), 1u);
  server_.reset();
  EXPECT_TRUE(all_subscribers_.empty());
}

TEST_F(McpServerTest, ASessionWithAnOpenStreamIsNotIdle) {
  Start();
  std::string s = Initialize();
  auto stream = OpenStream(*server_, s, "dev");
  env_.AdvanceBy(absl::Hours(2));
  EXPECT_EQ(Rpc(json::object{{"jsonrpc", "2.0"}, {"id", 1}, {"method", "ping"}}, "dev", s).status, 200);
  stream->Close();
  env_.AdvanceBy(absl::Hours(2));
  EXPECT_EQ(Rpc(json::object{{"jsonrpc", "2.0"}, {"id", 1}, {"method", "ping"}}, "dev", s).status, 404);
}

// mcp.session_rate_limit_*: each session has its own bucket; over it 429 with Retry-After and
// a JSON-RPC error answering the request's id; the principal's other sessions go on.
TEST_F(McpServerTest, ASessionOverItsRateIsRefusedWith429AndOthersGoOn) {
  session_rate_limit_ = {.count = 2, .period = absl::Seconds(1), .burst = 3};
  Start();
  std::string s = Initialize();
  std::string other = Initialize();
  auto ping = [&](const std::string& session, int id) {
    return Rpc(json::object{{"jsonrpc", "2.0"}, {"id", id}, {"method", "ping"}}, "dev", session);
  };
  for (int i = 0; i < 3; ++i) EXPECT_EQ(ping(s, i).status, 200) << i;
  HttpAnswer refused = ping(s, 42);
  ASSERT_EQ(refused.status, 429) << json::serialize(refused.body);
  EXPECT_EQ(refused.body.at("id"), 42);
  EXPECT_EQ(refused.body.at("error").at("code"), -32000);
  EXPECT_EQ(refused.body.at("error").at("data").at("code"), "rate_limited");
  EXPECT_EQ(refused.body.at("error").at("data").at("retry_after_s"), 1);
  std::string retry = RetryAfter(refused);
  EXPECT_EQ(retry, "1");
  // A tool call is refused before it runs.
  size_t calls = calls_.size();
  HttpAnswer tool = Rpc(json::object{{"jsonrpc", "2.0"}, {"id", 43}, {"method", "tools/call"},
                                     {"params", {{"name", "list_workspaces"}, {"arguments", json::object()}}}},
                        "dev", s);
  EXPECT_EQ(tool.status, 429);
  EXPECT_EQ(calls_.size(), calls);
  // So is a GET stream, and a notification.
  HttpAnswer get = Send(http::verb::get, "", {{"Authorization", "Bearer dev"}, {"Accept", "text/event-stream"}, {"Mcp-Session-Id", s}});
  EXPECT_EQ(get.status, 429);
  EXPECT_EQ(Rpc(json::object{{"jsonrpc", "2.0"}, {"method", "notifications/initialized"}}, "dev", s).status, 429);
  // The same principal's other session, and a new one, are not slowed down.
  EXPECT_EQ(ping(other, 1).status, 200);
  EXPECT_FALSE(Initialize().empty());
  // An unknown session is still 404, not 429; ending the limited session still works.
  EXPECT_EQ(ping("no-such-session", 1).status, 404);
  // Half a second refills one request (2 per second).
  env_.AdvanceBy(absl::Milliseconds(500));
  EXPECT_EQ(ping(s, 5).status, 200);
  EXPECT_EQ(ping(s, 6).status, 429);
  HttpAnswer del = Send(http::verb::delete_, "", {{"Authorization", "Bearer dev"}, {"Mcp-Session-Id", s}});
  EXPECT_EQ(del.status, 204);
}

// The principal's own rate limit (what authenticate answers) is a 429 with its Retry-After and
// the same JSON-RPC error, not a "session not found".
TEST_F(McpServerTest, APrincipalOverItsRateGets429WithRetryAfter) {
  Start();
  HttpAnswer r = Rpc(json::object{{"jsonrpc", "2.0"}, {"id", 1}, {"method", "ping"}}, "limited", "");
  ASSERT_EQ(r.status, 429) << json::serialize(r.body);
  EXPECT_EQ(r.body.at("error").at("code"), -32000);
  EXPECT_EQ(r.body.at("error").at("data").at("code"), "rate_limited");
  EXPECT_EQ(r.body.at("error").at("data").at("retry_after_s"), 7);
  std::string retry = RetryAfter(r);
  EXPECT_EQ(retry, "7");
  EXPECT_TRUE(denied_.empty());  // a rate limit is not a denied request
}

}  // namespace
}  // namespace edgevault::api
