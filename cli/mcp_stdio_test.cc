// The stdio relay of `edgevault mcp` (mcp_stdio.h) against a fake /mcp: one line in, one
// line out, the session id and protocol version carried, notifications silent, a lost
// session re-opened with the client's own initialize, bad lines and an unreachable api
// answered as JSON-RPC errors, a 429 relayed with its wait. tests/e2e/mcp.test.mjs drives
// it with the real SDK.
#include "cli/mcp_stdio.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <sstream>

namespace edgevault::cli {
namespace {

namespace json = boost::json;

struct Sent {
  std::string method, body;
  std::map<std::string, std::string> headers;
};

class McpStdioTest : public ::testing::Test {
 protected:
  McpPost Fake() {
    return [this](const std::string& method, const std::string& body,
                  const std::vector<std::pair<std::string, std::string>>& headers) {
      Sent s{method, body, {}};
      for (const auto& [k, v] : headers) s.headers[k] = v;
      sent_.push_back(s);
      if (!reachable_) return McpHttpReply{-1, "", "", "connection refused"};
      if (method == "DELETE") return McpHttpReply{204, "", "", ""};
      json::value msg = json::parse(body);
      const json::object& o = msg.as_object();
      if (!o.contains("id")) return McpHttpReply{202, "", "", ""};
      std::string m(o.at("method").as_string());
      if (m == "initialize") {
        std::string id = "mcps_" + std::to_string(++sessions_);
        live_ = id;
        return McpHttpReply{200, json::serialize(json::object{{"jsonrpc", "2.0"}, {"id", o.at("id")},
                                                             {"result", {{"protocolVersion", "2025-06-18"}}}}),
                            id, ""};
      }
      if (limited_ && m == "tools/call") {
        // What /mcp answers a session over its rate (429 with Retry-After).
        return McpHttpReply{429, json::serialize(json::object{
                                     {"jsonrpc", "2.0"}, {"id", o.at("id")},
                                     {"error", {{"code", -32000}, {"message", "rate limited; retry in 2 s"},
                                                {"data", {{"status", 429}, {"code", "rate_limited"}, {"retry_after_s", 2}}}}}}),
                            "", ""};
      }
      auto it = s.headers.find("Mcp-Session-Id");
      if (it == s.headers.end() || it->second != live_) {
        return McpHttpReply{404, R"({"jsonrpc":"2.0","id":null,"error":{"code":-32001,"message":"session not found"}})", "", ""};
      }
      return McpHttpReply{200, json::serialize(json::object{{"jsonrpc", "2.0"}, {"id", o.at("id")}, {"result", json::object()}}),
                          "", ""};
    };
  }

  std::vector<json::value> Run(const std::string& input) {
    std::istringstream in(input);
    std::ostringstream out, log;
    EXPECT_EQ(RelayMcpStdio(in, out, log, Fake()), 0);
    std::vector<json::value> lines;
    std::istringstream o(out.str());
    for (std::string line; std::getline(o, line);) lines.push_back(json::parse(line));
    return lines;
  }

  std::vector<Sent> sent_;
  int sessions_ = 0;
  std::string live_;
  bool reachable_ = true;
  bool limited_ = false;  // tools/call answers 429
};

const char kInit[] =
    R"({"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","clientInfo":{"name":"t"}}})"
    "\n";

TEST_F(McpStdioTest, RelaysEachLineWithTheSessionAndEndsIt) {
  std::vector<json::value> out = Run(std::string(kInit) + R"({"jsonrpc":"2.0","method":"notifications/initialized"})" "\n"
                                     R"({"jsonrpc":"2.0","id":"a","method":"tools/list"})" "\n");
  ASSERT_EQ(out.size(), 2u);  // the notification has no answer
  EXPECT_EQ(out[0].at("id"), 0);
  EXPECT_EQ(out[1].at("id"), "a");
  EXPECT_TRUE(out[1].as_object().contains("result"));
  ASSERT_EQ(sent_.size(), 4u);
  EXPECT_EQ(sent_[0].headers.count("Mcp-Session-Id"), 0u);
  EXPECT_EQ(sent_[2].headers["Mcp-Session-Id"], "mcps_1");
  EXPECT_EQ(sent_[2].headers["MCP-Protocol-Version"], "2025-06-18");
  EXPECT_EQ(sent_[3].method, "DELETE");
}

TEST_F(McpStdioTest, ALostSessionIsReopenedWithTheClientsInitialize) {
  std::istringstream in(std::string(kInit) + R"({"jsonrpc":"2.0","id":1,"method":"ping"})" "\n");
  std::ostringstream out, log;
  McpPost fake = Fake();
  // The api "restarts" after the initialize: the session it gave is gone.
  McpPost forgetting = [&](const std::string& m, const std::string& b,
                           const std::vector<std::pair<std::string, std::string>>& h) {
    McpHttpReply r = fake(m, b, h);
    if (sessions_ == 1 && m == "POST" && b.find("initialize") != std::string::npos) live_ = "gone";
    return r;
  };
  RelayMcpStdio(in, out, log, forgetting);
  std::istringstream o(out.str());
  std::vector<json::value> lines;
  for (std::string line; std::getline(o, line);) lines.push_back(json::parse(line));
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[1].at("id"), 1);
  EXPECT_TRUE(lines[1].as_object().contains("result")) << out.str();
  EXPECT_EQ(sessions_, 2);
}

// A 429 reaches the client as the api's JSON-RPC error, under the client's id, with the
// code and the wait an agent needs; the session is kept (it is not "lost").
TEST_F(McpStdioTest, ARateLimitedCallIsRelayedWithItsWaitAndKeepsTheSession) {
  limited_ = true;
  std::vector<json::value> lines = Run(
      R"({"jsonrpc":"2.0","id":1,"method":"initialize","params":{}})"
      "\n"
      R"({"jsonrpc":"2.0","id":"call-7","method":"tools/call","params":{"name":"list_workspaces"}})"
      "\n");
  ASSERT_EQ(lines.size(), 2u);
  const json::object& err = lines[1].at("error").as_object();
  EXPECT_EQ(lines[1].at("id"), json::value("call-7"));
  EXPECT_EQ(err.at("code").as_int64(), -32000);
  EXPECT_EQ(err.at("data").at("code").as_string(), "rate_limited");
  EXPECT_EQ(err.at("data").at("retry_after_s").as_int64(), 2);
  EXPECT_EQ(sessions_, 1);  // not re-initialized
}

TEST_F(McpStdioTest, BadLinesAndAnUnreachableApiAreAnsweredAsJsonRpcErrors) {
  std::vector<json::value> out = Run("{not json\n\n");
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].at("error").at("code"), -32700);
  EXPECT_TRUE(out[0].at("id").is_null());
  reachable_ = false;
  out = Run(kInit);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].at("id"), 0);
  EXPECT_EQ(out[0].at("error").at("code"), -32603);
  // A request without a session gets the api's error under its own id.
  reachable_ = true;
  out = Run(R"({"jsonrpc":"2.0","id":9,"method":"ping"})" "\n");
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].at("id"), 9);
  EXPECT_EQ(out[0].at("error").at("code"), -32001);
}

}  // namespace
}  // namespace edgevault::cli
