// The real binaries on a Redis edge KV (kv.url = redis://...; docs/delivery.md, "Redis"):
// writes reach delivery through Redis; when redis-server dies delivery keeps answering from
// memory with EdgeVault-Stale (fail-static); when it comes back EMPTY (no persistence) the api
// re-fills it and delivery, an open stream included, serves new versions again — nothing is
// restarted but Redis.
#include <arpa/inet.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <boost/json.hpp>

#include "gtest/gtest.h"
#include "src/base/testing/temp_dir.h"
#include "src/crypto/hash.h"
#include "src/storage/redis/redis_test_server.h"
#include "src/storage/testing/test_pki.h"
#include "tests/integration/harness.h"

namespace edgevault {
namespace {

namespace json = boost::json;
using testing::EdgeVaultUp;
using testing::HttpReply;

constexpr int kDeadlineMs = 30000;  // only bounds how long a failure waits

// Integer replies of a command on the test server; -1 on failure.
long long Integer(const storage::RedisServer& server, const std::vector<std::string>& args) {
  storage::RawReply r = server.Raw(args);
  return r != nullptr && r->type == REDIS_REPLY_INTEGER ? r->integer : -1;
}

// A raw HTTP/1.1 GET /v1/stream whose bytes a reader thread collects.
class StreamReader {
 public:
  StreamReader(int port, const std::string& sdk_key) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(static_cast<uint16_t>(port));
    if (fd_ < 0 || ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) return;
    std::string req = "GET /v1/stream HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n"
                      "Authorization: Bearer " + sdk_key + "\r\n\r\n";
    if (::send(fd_, req.data(), req.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(req.size())) return;
    thread_ = std::thread([this] {
      char buf[4096];
      while (!stop_) {
        pollfd p{.fd = fd_, .events = POLLIN, .revents = 0};
        if (::poll(&p, 1, 100) <= 0) continue;
        ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
        if (n <= 0) break;
        std::lock_guard<std::mutex> lock(mu_);
        text_.append(buf, static_cast<size_t>(n));
      }
    });
  }
  ~StreamReader() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
    if (fd_ >= 0) ::close(fd_);
  }
  std::string Text() {
    std::lock_guard<std::mutex> lock(mu_);
    return text_;
  }
  bool WaitFor(const std::string& needle) {
    return testing::PollUntil([&] { return Text().find(needle) != std::string::npos; }, kDeadlineMs);
  }

 private:
  int fd_ = -1;
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  std::string text_;
  std::thread thread_;
};

class RedisKvTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ::signal(SIGPIPE, SIG_IGN);
    ASSERT_TRUE(redis_.Start()) << "could not start redis-server";
    up_ = EdgeVaultUp::Start({"--set", "kv.url=" + redis_.Url()});
    ASSERT_NE(up_, nullptr) << "edgevault up did not start on " << redis_.Url();
  }

  HttpReply Api(std::string method, std::string target, const json::value& body = nullptr) {
    if (body.is_null()) return up_->Call("api", std::move(method), std::move(target), "", up_->admin_key());
    return up_->Json("api", std::move(method), std::move(target), body, up_->admin_key());
  }
  HttpReply PutGreeting(const std::string& base, const std::string& value) {
    return Api("PUT", base + "/configs/greeting",
               json::object{{"type", "string"}, {"values", {{"prod", value}}}, {"reason", "test"}});
  }
  HttpReply Config(const std::string& sdk_key) {
    return up_->Call("delivery", "GET", "/v1/config", "", sdk_key);
  }
  // Polls GET /v1/config until `done` holds for a reply; every reply must pass `each`.
  // Returns the last reply.
  HttpReply PollConfig(const std::string& sdk_key, const std::function<bool(const HttpReply&)>& done,
                       const std::function<void(const HttpReply&)>& each = nullptr) {
    HttpReply r;
    if (testing::PollUntil([&] {
          r = Config(sdk_key);
          if (each) each(r);
          return done(r);
        }, kDeadlineMs)) {
      return r;
    }
    ADD_FAILURE() << "timed out; last reply " << r.status << " " << r.body;
    return r;
  }
  static std::string Greeting(const HttpReply& r) {
    if (!r.json.is_object()) return "";
    const json::value* v = r.json.as_object().if_contains("configs");
    if (v == nullptr || !v->is_object() || !v->as_object().contains("greeting")) return "";
    return std::string(v->at("greeting").at("value").as_string());
  }
  static int64_t Version(const HttpReply& r) {
    return r.json.is_object() && r.json.as_object().contains("version") ? r.json.at("version").as_int64() : -1;
  }

  storage::RedisServer redis_;
  std::unique_ptr<EdgeVaultUp> up_;
};

TEST_F(RedisKvTest, DeliveryServesStaleWhileRedisIsDownAndRecoversAfterAnEmptyRestart) {
  // A workspace with one environment, a config and an SDK key, all published to Redis.
  ASSERT_EQ(Api("POST", "/v1/workspaces", json::object{{"key", "shop"}, {"name", "Shop"}}).status, 201);
  const std::string base = "/v1/workspaces/shop";
  ASSERT_EQ(Api("POST", base + "/environments",
                json::object{{"key", "prod"}, {"name", "Production"}, {"reason", "setup"}})
                .status,
            201);
  HttpReply put = PutGreeting(base, "hello");
  ASSERT_EQ(put.status, 200) << put.body;
  HttpReply minted = Api("POST", base + "/environments/prod/sdk-keys", json::object{{"name", "web"}});
  ASSERT_EQ(minted.status, 201) << minted.body;
  const std::string sdk_key(minted.json.at("key").as_string());

  HttpReply first = PollConfig(sdk_key, [](const HttpReply& r) { return r.status == 200 && Greeting(r) == "hello"; });
  ASSERT_EQ(first.status, 200);
  EXPECT_EQ(first.Header("EdgeVault-Stale"), "");
  EXPECT_GT(Integer(redis_, {"DBSIZE"}), 0);  // the documents live in Redis, not in DATA_DIR/edge
  EXPECT_FALSE(std::filesystem::exists(up_->data_dir() + "/edge"));
  const int64_t v1 = Version(first);

  StreamReader stream(up_->port("delivery"), sdk_key);
  ASSERT_TRUE(stream.WaitFor("id: " + std::to_string(v1))) << stream.Text();

  // Redis dies: delivery answers from memory, marked stale; the api still takes writes.
  redis_.Kill();
  HttpReply stale = Config(sdk_key);
  EXPECT_EQ(stale.status, 200) << stale.body;
  EXPECT_EQ(stale.Header("EdgeVault-Stale"), "true");
  EXPECT_EQ(stale.body, first.body);
  HttpReply while_down = PutGreeting(base, "hello again");
  ASSERT_EQ(while_down.status, 200) << while_down.body;
  stale = Config(sdk_key);
  EXPECT_EQ(stale.status, 200) << stale.body;
  EXPECT_EQ(stale.Header("EdgeVault-Stale"), "true");
  EXPECT_EQ(stale.body, first.body);

  // Redis comes back EMPTY on the same port. The api's propagation retries the pending job
  // and its republisher restores the SDK binding; until then delivery stays fail-static
  // (200 from memory, never 401/404 for a key and document it already knew).
  ASSERT_TRUE(redis_.Restart()) << "could not restart redis-server on port " << redis_.port();
  HttpReply fresh = PollConfig(
      sdk_key,
      [](const HttpReply& r) { return r.Header("EdgeVault-Stale").empty() && Greeting(r) == "hello again"; },
      [&](const HttpReply& r) {
        EXPECT_EQ(r.status, 200) << r.body;
        if (r.status == 200 && Greeting(r) != "hello again") {
          EXPECT_EQ(r.body, first.body);
        }
      });
  ASSERT_EQ(fresh.status, 200);
  const int64_t v2 = Version(fresh);
  EXPECT_GT(v2, v1);
  // The stream opened before the outage gets the new version without reconnecting.
  EXPECT_TRUE(stream.WaitFor("id: " + std::to_string(v2))) << stream.Text();

  // And a write after the recovery travels the normal way (Redis PUBLISH → watcher →
  // delivery), to the stream too.
  ASSERT_EQ(PutGreeting(base, "third").status, 200);
  HttpReply third = PollConfig(sdk_key, [](const HttpReply& r) { return r.status == 200 && Greeting(r) == "third"; });
  EXPECT_EQ(third.Header("EdgeVault-Stale"), "");
  EXPECT_TRUE(stream.WaitFor("id: " + std::to_string(Version(third)))) << stream.Text();
  EXPECT_NE(stream.Text().find("third"), std::string::npos);

  // The api re-filled what Redis lost: the SDK binding (delivery had it cached, but a new
  // delivery node would not) and the populated marker; so an unknown key is refused (401)
  // again rather than answered "unavailable".
  EXPECT_EQ(Integer(redis_, {"EXISTS", "ev:sdk/" + crypto::Sha256Hex(sdk_key)}), 1);
  EXPECT_EQ(Integer(redis_, {"EXISTS", "ev:meta/populated"}), 1);
  EXPECT_EQ(Config("evs_unknown").status, 401);
}

// rediss://: the whole product through a Redis that speaks only TLS on the port it is given
// and wants a client certificate and a password: the api writes, delivery reads and watches
// (a write reaches an open stream through PUBLISH), and rate limits are counted there too.
TEST(RedisKvTlsTest, UpWritesServesAndCountsThroughRedisOverTls) {
  ::signal(SIGPIPE, SIG_IGN);
  edgevault::testing::TestPki pki;
  ASSERT_TRUE(pki.ok());
  storage::RedisServer redis;
  redis.RequirePassword("tls pw");
  redis.EnableTls(pki.File("good.crt"), pki.File("good.key"), pki.File("ca.crt"), true);
  ASSERT_TRUE(redis.Start()) << "could not start a TLS redis-server";
  const std::string url = "rediss://:tls%20pw@127.0.0.1:" + std::to_string(redis.tls_port()) +
                          "?ca_file=" + pki.File("ca.crt") + "&cert_file=" + pki.File("good.crt") +
                          "&key_file=" + pki.File("good.key");
  std::unique_ptr<EdgeVaultUp> up =
      EdgeVaultUp::Start({"--set", "kv.url=" + url, "--set", "rate_limit.url=" + url, "--set",
                          "delivery.ofrep_rate_limit_per_second=1000", "--set", "delivery.ofrep_rate_limit_burst=1000"});
  ASSERT_NE(up, nullptr) << "edgevault up did not start on " << url;
  auto api = [&](std::string method, std::string target, const json::value& body) {
    return up->Json("api", std::move(method), std::move(target), body, up->admin_key());
  };
  ASSERT_EQ(api("POST", "/v1/workspaces", json::object{{"key", "shop"}, {"name", "Shop"}}).status, 201);
  ASSERT_EQ(api("POST", "/v1/workspaces/shop/environments",
                json::object{{"key", "prod"}, {"name", "Production"}, {"reason", "setup"}})
                .status,
            201);
  HttpReply minted = api("POST", "/v1/workspaces/shop/environments/prod/sdk-keys", json::object{{"name", "web"}});
  ASSERT_EQ(minted.status, 201) << minted.body;
  const std::string sdk_key(minted.json.at("key").as_string());
  auto put = [&](const std::string& value) {
    return api("PUT", "/v1/workspaces/shop/configs/greeting",
               json::object{{"type", "string"}, {"values", {{"prod", value}}}, {"reason", "test"}});
  };
  ASSERT_EQ(put("over tls").status, 200);
  HttpReply served;
  ASSERT_TRUE(testing::PollUntil([&] {
    served = up->Call("delivery", "GET", "/v1/config", "", sdk_key);
    return served.status == 200 && served.body.find("over tls") != std::string::npos;
  }, kDeadlineMs)) << served.status << " " << served.body;
  EXPECT_EQ(served.Header("EdgeVault-Stale"), "");
  EXPECT_FALSE(std::filesystem::exists(up->data_dir() + "/edge"));

  // The watcher (its own TLS connection) carries the next write to an open stream.
  StreamReader stream(up->port("delivery"), sdk_key);
  ASSERT_TRUE(stream.WaitFor("over tls")) << stream.Text();
  ASSERT_EQ(put("still over tls").status, 200);
  EXPECT_TRUE(stream.WaitFor("still over tls")) << stream.Text();

  // OFREP requests are counted in that Redis: its rate-limit keys appear there. (A check
  // whose connection is not ready within the limiter's 250 ms, such as the first TLS
  // handshake on a loaded machine, counts on the node for a second by design: so ask
  // until one lands.)
  bool counted = false;
  ASSERT_TRUE(testing::PollUntil([&] {
    HttpReply ofrep = up->Json("delivery", "POST", "/ofrep/v1/evaluate/flags",
                               json::object{{"context", json::object{{"targetingKey", "u1"}}}}, sdk_key);
    EXPECT_EQ(ofrep.status, 200) << ofrep.body;
    storage::RawReply keys = redis.Raw({"KEYS", "ev:rl:ofrep:*"});
    counted = keys != nullptr && keys->elements > 0;
    if (!counted) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    return counted;
  }, kDeadlineMs)) << "no rate-limit counts in the TLS Redis";
}

// The services refuse to start without their credential (`edgevault up` writes it).
bool InitServices(const std::string& data_dir) {
  auto [code, out] = testing::RunShell(testing::BinDir() + "/edgevault keys init-services --data-dir " + data_dir);
  EXPECT_EQ(code, 0) << out;
  return code == 0;
}

TEST(RedisKvStartupTest, ARedissCaFileThatDoesNotExistStopsStartupNamingIt) {
  base::testing::TempDir temp("ev-kvurl");
  ASSERT_FALSE(temp.path().empty());
  const std::string& dir = temp.path();
  ASSERT_TRUE(InitServices(dir));
  auto [code, out] = testing::RunShell(testing::BinDir() + "/edgevault-delivery --set data_dir=" + dir +
                                       " --set 'kv.url=rediss://127.0.0.1:6390?ca_file=/nonexistent/redis-ca.pem'");
  EXPECT_EQ(code, 2) << out;  // a configuration that cannot work (service_main.h)
  EXPECT_NE(out.find("/nonexistent/redis-ca.pem"), std::string::npos) << out;
}

// Runs a service binary with `args`; returns (exit status, combined output).
TEST(RedisKvStartupTest, BadKvUrlStopsStartupNamingTheKey) {
  base::testing::TempDir temp("ev-kvurl");
  ASSERT_FALSE(temp.path().empty());
  const std::string& dir = temp.path();
  for (const std::string service : {"delivery", "api"}) {
    auto [code, out] = testing::RunShell(testing::BinDir() + "/edgevault-" + service + " --set data_dir=" + dir +
                                         " --set 'kv.url=redis://:hunter2@cache:notaport'");
    EXPECT_EQ(code, 2) << out;  // configuration errors exit 2 (service_main.h)
    EXPECT_NE(out.find("kv.url"), std::string::npos) << out;
    EXPECT_EQ(out.find("hunter2"), std::string::npos) << out;
  }
}

TEST(RedisKvStartupTest, UnreachableRedisStopsDeliveryStartupWithAMessage) {
  base::testing::TempDir temp("ev-kvurl");
  ASSERT_FALSE(temp.path().empty());
  const std::string& dir = temp.path();
  ASSERT_TRUE(InitServices(dir));
  testing::RefusingPort refusing;  // nobody listens there, and nobody can start to
  ASSERT_NE(refusing.port(), 0);
  const int port = refusing.port();
  auto [code, out] = testing::RunShell(testing::BinDir() + "/edgevault-delivery --set data_dir=" + dir +
                                       " --set kv.url=redis://127.0.0.1:" + std::to_string(port));
  EXPECT_EQ(code, 1) << out;
  EXPECT_NE(out.find("127.0.0.1:" + std::to_string(port)), std::string::npos) << out;
}

}  // namespace
}  // namespace edgevault
