// Two real delivery processes sharing one Redis for the edge KV and for rate limits
// (rate_limit.url; docs/design/rate-limits.md): an SDK key's OFREP limit holds across both —
// together they admit what one would, not twice that. Counts are checked against the
// configured rate and the time the test measured, never against a wall-clock threshold.
#include <signal.h>
#include <sys/wait.h>

#include <atomic>
#include <cstdio>
#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <boost/json.hpp>

#include "gtest/gtest.h"
#include "src/net/http_client.h"
#include "src/storage/redis/redis_test_server.h"
#include "tests/integration/harness.h"

namespace edgevault {
namespace {

namespace json = boost::json;
using testing::EdgeVaultUp;
using testing::HttpReply;

constexpr int64_t kRate = 100;  // OFREP requests per second per SDK key
constexpr int64_t kBurst = 10;
constexpr char kContext[] = R"({"context":{"targetingKey":"u1"}})";

// A child process killed (SIGKILL) and reaped when the test ends, however it ends.
struct Child {
  pid_t pid = -1;
  ~Child() {
    if (pid > 0) {
      ::kill(pid, SIGKILL);
      testing::WaitExit(pid, 30000);
    }
  }
};

class SharedRateLimitTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ::signal(SIGPIPE, SIG_IGN);
    ASSERT_TRUE(redis_.Start()) << "could not start redis-server";
    settings_ = {"kv.url=" + redis_.Url(), "rate_limit.url=" + redis_.Url(),
                 "delivery.ofrep_rate_limit_per_second=" + std::to_string(kRate),
                 "delivery.ofrep_rate_limit_burst=" + std::to_string(kBurst)};
    settings_.insert(settings_.end(), extra_settings_.begin(), extra_settings_.end());
    std::vector<std::string> args;
    for (const std::string& s : settings_) {
      args.push_back("--set");
      args.push_back(s);
    }
    up_ = EdgeVaultUp::Start(args);
    ASSERT_NE(up_, nullptr) << "edgevault up did not start";
    auto client = net::HttpClient::Create({});
    ASSERT_TRUE(client.ok()) << client.status();
    client_ = std::move(*client);
  }

  HttpReply Api(std::string method, std::string target, const json::value& body) {
    return up_->Json("api", std::move(method), std::move(target), body, up_->admin_key());
  }

  // A second delivery node: the same configuration and keys as `up`'s, a data directory of
  // its own (for its port file), its own port.
  void StartSecondDelivery() {
    second_dir_ = up_->data_dir() + "-second";
    ASSERT_TRUE(std::filesystem::create_directories(second_dir_));
    std::vector<std::string> args = {testing::BinDir() + "/edgevault-delivery", "--config",
                                     up_->data_dir() + "/edgevault.toml",
                                     "--set", "data_dir=" + second_dir_,
                                     "--set", "keys.dir=" + up_->data_dir() + "/keys",
                                     "--set", "keys.trust_dir=" + up_->data_dir() + "/trust",
                                     "--set", "services.delivery.port=0"};
    for (const std::string& s : settings_) {
      args.push_back("--set");
      args.push_back(s);
    }
    second_.pid = testing::Spawn(args, second_dir_ + ".out").pid;
    ASSERT_GT(second_.pid, 0);
    ASSERT_TRUE(testing::PollUntil(
        [&] { return (second_port_ = testing::ReadPortFile(second_dir_, "delivery")) > 0; }, 30000))
        << testing::ReadFile(second_dir_ + ".out");
  }

  // POST /ofrep/v1/evaluate/flags on a delivery node; the status (-1: no answer).
  int Ofrep(int port, const std::string& sdk_key, std::string* retry_after = nullptr) {
    net::ClientRequest req;
    req.method = "POST";
    req.target = "/ofrep/v1/evaluate/flags";
    req.body = kContext;
    req.headers = {{"Content-Type", "application/json"}, {"Authorization", "Bearer " + sdk_key}};
    auto r = client_->Do("127.0.0.1", static_cast<uint16_t>(port), req);
    if (!r.ok()) return -1;
    if (retry_after != nullptr) *retry_after = r->Header("Retry-After").value_or("");
    return r->status;
  }

  storage::RedisServer redis_;
  std::vector<std::string> extra_settings_;  // a derived fixture's own --set values
  std::vector<std::string> settings_;
  std::unique_ptr<EdgeVaultUp> up_;
  std::unique_ptr<net::HttpClient> client_;
  std::string second_dir_;
  Child second_;
  int second_port_ = 0;
};

TEST_F(SharedRateLimitTest, AnSdkKeysOfrepLimitHoldsAcrossTwoDeliveryNodes) {
  ASSERT_EQ(Api("POST", "/v1/workspaces", json::object{{"key", "shop"}, {"name", "Shop"}}).status, 201);
  ASSERT_EQ(Api("POST", "/v1/workspaces/shop/environments",
                json::object{{"key", "prod"}, {"name", "Production"}, {"reason", "setup"}})
                .status,
            201);
  HttpReply minted = Api("POST", "/v1/workspaces/shop/environments/prod/sdk-keys", json::object{{"name", "web"}});
  ASSERT_EQ(minted.status, 201) << minted.body;
  const std::string sdk_key(minted.json.at("key").as_string());
  ASSERT_NO_FATAL_FAILURE(StartSecondDelivery());
  const int ports[2] = {up_->port("delivery"), second_port_};

  // Both nodes know the key (through the Redis KV). Waiting for that spends tokens, so the
  // bucket holds anything from none to the burst when the count starts.
  for (int port : ports) {
    ASSERT_TRUE(testing::PollUntil([&] { return Ofrep(port, sdk_key) == 200; }, 30000)) << port;
  }

  // Each node gets 1500 requests back to back from its own thread: far more than the rate,
  // so the bucket is drained all the time and admits rate x elapsed in total, plus what it
  // held at the start (0..burst).
  constexpr int kPerNode = 1500;
  std::atomic<int> admitted[2] = {0, 0};
  std::atomic<int> refused{0}, other{0}, bad_retry_after{0};
  const auto start = std::chrono::steady_clock::now();
  {
    std::vector<std::thread> threads;
    for (int node = 0; node < 2; ++node) {
      threads.emplace_back([&, node] {
        for (int i = 0; i < kPerNode; ++i) {
          std::string retry_after;
          int status = Ofrep(ports[node], sdk_key, &retry_after);
          if (status == 200) {
            ++admitted[node];
          } else if (status == 429) {
            ++refused;
            // A wait of at most one refill interval (10 ms), rounded up to whole seconds.
            if (retry_after != "1") ++bad_retry_after;
          } else {
            ++other;
          }
        }
      });
    }
    for (std::thread& t : threads) t.join();
  }
  const double elapsed_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  const int total = admitted[0] + admitted[1];
  const double refilled = static_cast<double>(kRate) * elapsed_s;
  SCOPED_TRACE(::testing::Message() << "admitted " << admitted[0] << " + " << admitted[1]
                                    << " of " << 2 * kPerNode << " in " << elapsed_s
                                    << " s; the rate refilled " << refilled);
  std::printf("admitted %d + %d, refused %d, in %.3f s (rate x elapsed = %.1f, burst %lld)\n",
              admitted[0].load(), admitted[1].load(), refused.load(), elapsed_s, refilled,
              static_cast<long long>(kBurst));
  EXPECT_EQ(other.load(), 0);
  EXPECT_EQ(bad_retry_after.load(), 0);
  EXPECT_EQ(total + refused.load(), 2 * kPerNode);
  // The demand really exceeded the rate (else the count says nothing about the limit).
  ASSERT_GT(refused.load(), total);
  // Both nodes took part, and together they admitted what one limit allows, within 10%:
  // rate x elapsed, plus at most the burst. Counted per node, it would be twice that.
  EXPECT_GT(admitted[0].load(), 0);
  EXPECT_GT(admitted[1].load(), 0);
  EXPECT_LE(total, (refilled + kBurst) * 1.1);
  EXPECT_GE(total, refilled * 0.9);

  // Both nodes counted in Redis all along: neither fell back to counting on its own.
  for (int port : ports) {
    auto metrics = client_->Do("127.0.0.1", static_cast<uint16_t>(port),
                               net::ClientRequest{.method = "GET", .target = "/metrics"});
    ASSERT_TRUE(metrics.ok()) << metrics.status();
    EXPECT_NE(metrics->body.find("edgevault_rate_limit_fallbacks_total{service=\"delivery\"} 0"),
              std::string::npos)
        << metrics->body;
  }
}

// The api's per-principal limit (api.rate_limit_per_second), counted in the same Redis.
class ApiRateLimitTest : public SharedRateLimitTest {
 protected:
  ApiRateLimitTest() { extra_settings_ = {"api.rate_limit_per_second=1", "api.rate_limit_burst=5"}; }
};

TEST_F(ApiRateLimitTest, EachUserOrKeyHasItsOwnLimitCountedInRedis) {
  const std::string viewer = up_->TokenForNewUser("viewer@example.com", "viewer");  // auth only
  ASSERT_FALSE(viewer.empty());
  const auto start = std::chrono::steady_clock::now();
  int admitted = 0;
  HttpReply limited;
  for (int i = 0; i < 100 && limited.status == 0; ++i) {
    HttpReply r = up_->Call("api", "GET", "/v1/workspaces", "", up_->admin_key());
    if (r.status == 200) {
      ++admitted;
    } else {
      limited = r;
    }
  }
  const double elapsed_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  ASSERT_EQ(limited.status, 429) << limited.body;
  EXPECT_EQ(limited.Header("Retry-After"), "1");  // one request a second: due within 1 s
  ASSERT_TRUE(limited.json.is_object()) << limited.body;
  EXPECT_EQ(limited.json.at("error").at("code"), "rate_limited");
  // The burst plus what one per second refilled meanwhile (+1: a refill due at the end).
  EXPECT_GE(admitted, 1);
  EXPECT_LE(admitted, 5 + static_cast<int>(elapsed_s) + 1) << elapsed_s << " s";
  // Another principal has its own count; no token is still 401, never 429.
  EXPECT_EQ(up_->Call("api", "GET", "/v1/workspaces", "", viewer).status, 200);
  EXPECT_EQ(up_->Call("api", "GET", "/v1/workspaces").status, 401);
  // Both principals are counted in Redis, under ev:rl:api:<subject>.
  storage::RawReply keys = redis_.Raw({"KEYS", "ev:rl:api:*"});
  ASSERT_NE(keys, nullptr);
  EXPECT_EQ(keys->elements, 2u);
}

// An MCP tool runs REST routes as its caller; the /mcp request that called it was counted,
// the routes are not again (before, each tools/call took two of the principal's requests,
// and an agent got half its rate). Over the limit /mcp answers 429 with Retry-After and a
// JSON-RPC error.
TEST_F(ApiRateLimitTest, AnMcpToolCallCountsOnceAgainstItsPrincipal) {
  const std::vector<std::pair<std::string, std::string>> accept = {{"Accept", "application/json, text/event-stream"}};
  HttpReply init = up_->Json("api", "POST", "/mcp",
                             json::object{{"jsonrpc", "2.0"}, {"id", 1}, {"method", "initialize"},
                                          {"params", {{"protocolVersion", "2025-06-18"},
                                                      {"capabilities", json::object()},
                                                      {"clientInfo", {{"name", "rate-agent"}}}}}},
                             up_->admin_key(), accept);
  ASSERT_EQ(init.status, 200) << init.body;
  auto headers = accept;
  headers.emplace_back("Mcp-Session-Id", init.Header("Mcp-Session-Id"));
  // The burst is 5: initialize and four tool calls fit (counted twice, the third call's
  // route would already be refused: 1 + 2 + 2 + 1).
  for (int i = 0; i < 4; ++i) {
    HttpReply r = up_->Json("api", "POST", "/mcp",
                            json::object{{"jsonrpc", "2.0"}, {"id", 10 + i}, {"method", "tools/call"},
                                         {"params", {{"name", "list_workspaces"}, {"arguments", json::object()}}}},
                            up_->admin_key(), headers);
    ASSERT_EQ(r.status, 200) << i << ": " << r.body;
    ASSERT_TRUE(r.json.as_object().contains("result")) << i << ": " << r.body;
    EXPECT_FALSE(r.json.at("result").as_object().contains("isError") && r.json.at("result").at("isError") == true)
        << i << ": " << r.body;
  }
  // The bucket empties (one request a second refills it): then a 429 naming the limit.
  HttpReply limited;
  for (int i = 0; i < 50 && limited.status != 429; ++i) {
    limited = up_->Json("api", "POST", "/mcp", json::object{{"jsonrpc", "2.0"}, {"id", 99}, {"method", "ping"}},
                        up_->admin_key(), headers);
  }
  ASSERT_EQ(limited.status, 429) << limited.body;
  EXPECT_EQ(limited.Header("Retry-After"), "1");
  EXPECT_EQ(limited.json.at("error").at("code"), -32000);
  EXPECT_EQ(limited.json.at("error").at("data").at("code"), "rate_limited");
  // A client cannot pass for a tool's route to be let through: the agent header is dropped
  // from what clients send, on /mcp and on REST routes alike, so such requests are counted
  // (of ten sent back to back, one may find a refilled request; not all of them).
  const std::string claim = R"({"client":"x","tool":"list_workspaces"})";
  auto claiming = headers;
  claiming.emplace_back("EdgeVault-Agent", claim);
  int mcp_refused = 0, rest_refused = 0;
  for (int i = 0; i < 10; ++i) {
    mcp_refused += up_->Json("api", "POST", "/mcp", json::object{{"jsonrpc", "2.0"}, {"id", 100}, {"method", "ping"}},
                             up_->admin_key(), claiming)
                       .status == 429;
    rest_refused += up_->Call("api", "GET", "/v1/workspaces", "", up_->admin_key(), {{"EdgeVault-Agent", claim}})
                        .status == 429;
  }
  EXPECT_GT(mcp_refused, 0);
  EXPECT_GT(rest_refused, 0);
}

}  // namespace
}  // namespace edgevault
