// The fleet of docs/deploy.md on loopback (issue 15): PostgreSQL (control DB, workspaces,
// audit queue), Redis (edge KV, rate limits), an S3-compatible server (audit warehouse),
// 2 auth, 2 api, 2 delivery and 1 audit process, each service binary run directly with the
// shared configuration and its own data directory (as systemd units would), the keys made
// once by `edgevault up` on a seed directory.
//
// A write storm into one workspace through both api nodes gives gapless revisions; one api
// node is SIGKILLed mid-storm: no acknowledged write is lost and the other node finishes
// its jobs (propagation, audit outbox); both delivery nodes converge to the head; the
// audit warehouse in S3 verifies and holds every write's event; an SDK key's OFREP limit
// holds across both delivery nodes within 10%.
#include <signal.h>
#include <sys/wait.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <boost/json.hpp>

#include "gtest/gtest.h"
#include "src/base/strings.h"
#include "src/net/http_client.h"
#include "src/net/s3_test_server.h"
#include "src/storage/postgres/pg_pool.h"
#include "src/storage/postgres/postgres_test_server.h"
#include "src/storage/redis/redis_test_server.h"
#include "tests/integration/harness.h"

namespace edgevault {
namespace {

namespace json = boost::json;

constexpr int kDeadlineMs = 60000;  // only bounds how long a failure waits
constexpr int64_t kRate = 100;      // OFREP requests per second per SDK key
constexpr int64_t kBurst = 10;
constexpr char kContext[] = R"({"context":{"targetingKey":"u1"}})";

// One service process of the fleet, killed (SIGKILL) when the test ends however it ends.
struct Node {
  std::string service;  // api, delivery, auth, audit
  std::string dir;      // its data directory
  pid_t pid = -1;
  int port = 0;
  ~Node() {
    if (pid > 0) {
      ::kill(pid, SIGKILL);
      testing::WaitExit(pid, 30000);
    }
  }
  std::string Log() const { return testing::ReadFile(dir + ".out"); }
};

class Cluster {
 public:
  bool Start() {
    if (!redis_.Start()) return Fail("could not start redis-server");
    if (!s3_.Start(/*conditional_writes=*/true)) return Fail("s3: " + s3_.error());
    ::setenv("AWS_ACCESS_KEY_ID", "S3RVER", 1);
    ::setenv("AWS_SECRET_ACCESS_KEY", "S3RVER", 1);
    pg_ = storage::NewPostgresTestDatabase();
    if (pg_.empty()) return Fail("no PostgreSQL");
    warehouse_ = base::StrCat("s3://audit/fleet/?endpoint=", s3_.Endpoint(), "&region=us-east-1");
    // The seed: `up` makes every key on its first start (docs/deploy.md).
    seed_ = testing::EdgeVaultUp::Start();
    if (seed_ == nullptr) return Fail("the seed `edgevault up` did not start");
    if (seed_->Stop().exit_code != 0) return Fail("the seed did not stop cleanly");
    root_ = seed_->data_dir() + "/../fleet";
    std::filesystem::create_directories(root_);
    shared_ = {"api.workspace_db_url=" + pg_, "auth.control_db_url=" + pg_, "audit.queue_url=" + pg_,
               base::StrCat("kv.url=", redis_.Url()), base::StrCat("rate_limit.url=", redis_.Url()),
               "audit.warehouse_url=" + warehouse_,
               base::StrCat("delivery.ofrep_rate_limit_per_second=", kRate),
               base::StrCat("delivery.ofrep_rate_limit_burst=", kBurst),
               "keys.dir=" + seed_->data_dir() + "/keys", "keys.trust_dir=" + seed_->data_dir() + "/trust"};
    auto client = net::HttpClient::Create({});
    if (!client.ok()) return Fail("no HTTP client");
    client_ = std::move(*client);
    // Peers call the first node of each service (the "internal VIP"); each node is
    // started after those it calls at start. Delivery calls the api only to ship usage.
    if (!Launch(auth_[0], "auth", "auth-1") || !Launch(auth_[1], "auth", "auth-2")) return false;
    admin_key_ = testing::ReadFile(auth_[0].dir + "/bootstrap-admin.key");
    while (!admin_key_.empty() && admin_key_.back() == '\n') admin_key_.pop_back();
    if (admin_key_.empty()) return Fail("auth-1 wrote no bootstrap-admin.key");
    if (!Launch(delivery_[0], "delivery", "delivery-1") || !Launch(delivery_[1], "delivery", "delivery-2")) {
      return false;
    }
    if (!Launch(api_[0], "api", "api-1") || !Launch(api_[1], "api", "api-2")) return false;
    return Launch(audit_, "audit", "audit-1");
  }

  net::ClientResponse Call(const Node& node, std::string method, std::string target, const std::string& bearer,
                           std::string body = "") {
    net::ClientRequest req;
    req.method = std::move(method);
    req.target = std::move(target);
    req.body = std::move(body);
    if (!req.body.empty()) req.headers.push_back({"Content-Type", "application/json"});
    if (!bearer.empty()) req.headers.push_back({"Authorization", "Bearer " + bearer});
    auto r = client_->Do("127.0.0.1", static_cast<uint16_t>(node.port), req);
    if (!r.ok()) {
      net::ClientResponse failed;
      failed.status = -1;
      return failed;
    }
    return std::move(*r);
  }
  net::ClientResponse Api(int node, std::string method, std::string target, const json::value& body) {
    return Call(api_[node], std::move(method), std::move(target), admin_key_,
                body.is_null() ? "" : json::serialize(body));
  }
  int Ofrep(int node, const std::string& sdk_key) {
    net::ClientRequest req;
    req.method = "POST";
    req.target = "/ofrep/v1/evaluate/flags";
    req.body = kContext;
    req.headers = {{"Content-Type", "application/json"}, {"Authorization", "Bearer " + sdk_key}};
    auto r = client_->Do("127.0.0.1", static_cast<uint16_t>(delivery_[node].port), req);
    return r.ok() ? r->status : -1;
  }
  // The first column of the first row of a query, -1 when it fails.
  int64_t Count(const std::string& sql, const storage::PgParams& params = {}) {
    if (pool_ == nullptr) {
      auto p = storage::PgPool::Create({.connect = {.url = pg_}, .max_connections = 1});
      if (!p.ok()) return -1;
      pool_ = std::move(*p);
    }
    auto r = pool_->Query(sql, params);
    return r.ok() ? r->Int64(0, 0) : -1;
  }
  testing::CommandResult Verify() {
    return testing::RunEdgevault("audit verify --warehouse-url '" + warehouse_ + "'");
  }

  Node api_[2], delivery_[2], auth_[2], audit_;
  std::string error_;

 private:
  bool Fail(std::string why) {
    error_ = std::move(why);
    return false;
  }
  bool Launch(Node& node, const std::string& service, const std::string& name) {
    node.service = service;
    node.dir = root_ + "/" + name;
    std::filesystem::create_directories(node.dir);
    std::vector<std::string> args = {testing::BinDir() + "/edgevault-" + service, "--config",
                                     seed_->data_dir() + "/edgevault.toml", "--set", "data_dir=" + node.dir,
                                     "--set", "node_id=" + name, "--set", "services." + service + ".port=0"};
    for (const std::string& s : shared_) {
      args.push_back("--set");
      args.push_back(s);
    }
    for (const auto& [peer, first] : {std::pair<std::string, Node*>{"auth", &auth_[0]},
                                      {"api", &api_[0]}, {"delivery", &delivery_[0]}}) {
      if (peer == service) continue;
      // Not started yet (delivery before the api): a port that refuses connections; the
      // caller retries later (usage shipping) or does not need it to start.
      int placeholder = peer == "api" ? no_api_.port() : peer == "delivery" ? no_delivery_.port() : 0;
      args.push_back("--set");
      args.push_back(base::StrCat("services.", peer, ".port=", first->port > 0 ? first->port : placeholder));
    }
    node.pid = testing::Spawn(args, node.dir + ".out").pid;
    if (node.pid <= 0) return Fail("cannot spawn " + name);
    bool exited = false;
    if (!testing::PollUntil(
            [&] {
              int status = 0;
              exited = ::waitpid(node.pid, &status, WNOHANG) == node.pid;
              return exited || (node.port = testing::ReadPortFile(node.dir, service)) > 0;
            },
            kDeadlineMs) ||
        exited) {
      if (exited) node.pid = -1;
      return Fail(name + " did not start: " + node.Log());
    }
    return true;
  }

  testing::RefusingPort no_api_, no_delivery_;
  storage::RedisServer redis_;
  net::S3TestServer s3_;
  std::string pg_, warehouse_, root_, admin_key_;
  std::unique_ptr<testing::EdgeVaultUp> seed_;
  std::vector<std::string> shared_;
  std::unique_ptr<net::HttpClient> client_;
  std::unique_ptr<storage::PgPool> pool_;
};

TEST(ClusterTest, TwoOfEachServiceShareOneSystemOfRecordAndSurviveAnApiNodeKill) {
  ::signal(SIGPIPE, SIG_IGN);
  Cluster c;
  ASSERT_TRUE(c.Start()) << c.error_;

  ASSERT_EQ(c.Api(0, "POST", "/v1/workspaces", json::object{{"key", "storm"}, {"name", "Storm"}}).status, 201);
  ASSERT_EQ(c.Api(1, "POST", "/v1/workspaces/storm/environments",
                  json::object{{"key", "prod"}, {"name", "Production"}, {"reason", "setup"}})
                .status,
            201);
  net::ClientResponse minted =
      c.Api(0, "POST", "/v1/workspaces/storm/environments/prod/sdk-keys", json::object{{"name", "web"}});
  ASSERT_EQ(minted.status, 201) << minted.body;
  const std::string sdk_key(json::parse(minted.body).at("key").as_string());
  const std::string ws_id(json::parse(c.Api(0, "GET", "/v1/workspaces/storm", nullptr).body).at("id").as_string());

  // ---- The storm: 4 writers, two per api node; api-2 is killed after 60 acknowledged
  // writes, and its writers go on through api-1 (as a load balancer would send them).
  constexpr int kWriters = 4;
  constexpr int kPerWriter = 75;
  std::mutex mu;
  std::map<std::string, int64_t> acked;  // reason → the revision the api answered
  std::atomic<int> acked_count{0};
  std::atomic<bool> killed{false};
  std::atomic<int> failed_on_killed{0}, failed_other{0}, retried{0};
  {
    std::vector<std::thread> writers;
    for (int w = 0; w < kWriters; ++w) {
      writers.emplace_back([&, w] {
        for (int i = 0; i < kPerWriter; ++i) {
          const std::string reason = base::StrCat("storm ", w, "/", i);
          const int node = (w % 2 == 1 && !killed.load()) ? 1 : 0;
          net::ClientResponse r;
          // 503: the workspace kept moving under this write on every attempt (the other
          // node kept committing), nothing was written; a client retries.
          for (int attempt = 0; attempt < 20 && (attempt == 0 || r.status == 503); ++attempt) {
            if (attempt > 0) ++retried;
            r = c.Api(node, "PUT", base::StrCat("/v1/workspaces/storm/configs/k", w),
                      json::object{{"type", "integer"}, {"values", {{"prod", i}}}, {"reason", reason}});
          }
          if (r.status == 200) {
            std::lock_guard<std::mutex> lock(mu);
            acked[reason] = json::parse(r.body).at("revision").to_number<int64_t>();
            ++acked_count;
          } else if (node == 1) {
            ++failed_on_killed;  // in flight when api-2 died: may or may not have committed
          } else {
            ++failed_other;
          }
          if (w == 1 && acked_count.load() >= 60 && !killed.exchange(true)) {
            ::kill(c.api_[1].pid, SIGKILL);
          }
        }
      });
    }
    for (std::thread& t : writers) t.join();
  }
  ASSERT_TRUE(killed.load());
  EXPECT_EQ(failed_other.load(), 0);
  testing::WaitExit(c.api_[1].pid, 30000);
  c.api_[1].pid = -1;

  // Gapless: revisions 1..head, and every acknowledged write is there under the number
  // the api answered, with its reason.
  const int64_t head = c.Count("SELECT COALESCE(MAX(seq), 0) FROM ws_revisions WHERE workspace_id = $1", {ws_id});
  EXPECT_EQ(c.Count("SELECT COUNT(*) FROM ws_revisions WHERE workspace_id = $1", {ws_id}), head);
  EXPECT_GE(head, static_cast<int64_t>(acked.size()) + 1);
  for (const auto& [reason, revision] : acked) {
    EXPECT_EQ(c.Count("SELECT COUNT(*) FROM ws_revisions WHERE workspace_id = $1 AND seq = $2 AND reason = $3",
                      {ws_id, revision, reason}),
              1)
        << reason << " acknowledged as revision " << revision;
  }
  std::printf("storm: %zu acknowledged writes, head %lld, %d in flight on the killed node, %d retried after 503\n",
              acked.size(), static_cast<long long>(head), failed_on_killed.load(), retried.load());

  // The killed node's jobs: api-1 finishes every propagation job and relays every audit
  // outbox row, whoever wrote it.
  EXPECT_TRUE(testing::PollUntil([&] {
    return c.Count("SELECT COUNT(*) FROM ws_outbox WHERE workspace_id = $1 AND done_at IS NULL", {ws_id}) == 0;
  }, kDeadlineMs)) << c.Count("SELECT COUNT(*) FROM ws_outbox WHERE workspace_id = $1 AND done_at IS NULL", {ws_id});

  // Both delivery nodes serve the head.
  for (int node = 0; node < 2; ++node) {
    std::string body;
    EXPECT_TRUE(testing::PollUntil([&] {
      net::ClientResponse doc = c.Call(c.delivery_[node], "GET", "/v1/config", sdk_key);
      body = doc.body;
      if (doc.status != 200) return false;
      json::value v = json::parse(doc.body);
      return v.is_object() && v.as_object().if_contains("version") != nullptr &&
             v.at("version").to_number<int64_t>() == head;
    }, kDeadlineMs)) << "delivery-" << node + 1 << ": " << body;
  }

  // The audit warehouse: every event reached S3 through the PostgreSQL queue, once; the
  // chain verifies; it holds at least one event per acknowledged write.
  EXPECT_TRUE(testing::PollUntil([&] { return c.Count("SELECT COUNT(*) FROM audit_queue WHERE NOT acked") == 0; },
                                 kDeadlineMs));
  testing::CommandResult verified = c.Verify();
  EXPECT_EQ(verified.code, 0) << verified.out;
  long long events = 0;
  EXPECT_EQ(std::sscanf(verified.out.c_str(), "OK: %lld event(s)", &events), 1) << verified.out;
  EXPECT_GE(events, static_cast<long long>(acked.size())) << verified.out;

  // ---- The SDK key's OFREP limit across both delivery nodes, within 10%.
  for (int node = 0; node < 2; ++node) {
    ASSERT_TRUE(testing::PollUntil([&] { return c.Ofrep(node, sdk_key) == 200; }, kDeadlineMs)) << node;
  }
  constexpr int kPerNode = 400;
  std::atomic<int> admitted[2] = {0, 0};
  std::atomic<int> refused{0}, other{0};
  const auto start = std::chrono::steady_clock::now();
  {
    std::vector<std::thread> threads;
    for (int node = 0; node < 2; ++node) {
      threads.emplace_back([&, node] {
        for (int i = 0; i < kPerNode; ++i) {
          int status = c.Ofrep(node, sdk_key);
          if (status == 200) ++admitted[node];
          else if (status == 429) ++refused;
          else ++other;
        }
      });
    }
    for (std::thread& t : threads) t.join();
  }
  const double elapsed_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const int total = admitted[0] + admitted[1];
  const double refilled = static_cast<double>(kRate) * elapsed_s;
  std::printf("OFREP: admitted %d + %d, refused %d in %.3f s (rate x elapsed = %.1f, burst %lld)\n",
              admitted[0].load(), admitted[1].load(), refused.load(), elapsed_s, refilled,
              static_cast<long long>(kBurst));
  EXPECT_EQ(other.load(), 0);
  ASSERT_GT(refused.load(), total) << "the demand did not exceed the rate";
  EXPECT_GT(admitted[0].load(), 0);
  EXPECT_GT(admitted[1].load(), 0);
  EXPECT_LE(total, (refilled + kBurst) * 1.1);
  EXPECT_GE(total, refilled * 0.9);

  // Every surviving node stops cleanly.
  for (Node* n : {&c.audit_, &c.api_[0], &c.delivery_[0], &c.delivery_[1], &c.auth_[0], &c.auth_[1]}) {
    ::kill(n->pid, SIGTERM);
    EXPECT_EQ(testing::WaitExit(n->pid, 30000), 0) << n->dir << ": " << n->Log();
    n->pid = -1;
  }
}

}  // namespace
}  // namespace edgevault
