// The real binaries on a damaged or lost embedded edge KV (DATA_DIR/edge, LMDB;
// docs/delivery.md "A damaged or lost store", docs/design/edge-kv.md "Damage"):
//  - data.mdb overwritten or truncated while `edgevault up` runs: delivery stays up and
//    keeps answering known SDK keys from memory (200, never 401/5xx), the api moves the
//    damaged store aside, rebuilds it from the workspaces, and delivery serves fresh data
//    again without a restart;
//  - the same damage found at start-up (delivery or the api restarted on it): no crash loop;
//  - DATA_DIR/edge deleted: the api recreates and re-fills it, so SDK keys keep working
//    (they were 401 for good when only Redis was re-filled).
// And, with delivery alone (no api to rebuild), what delivery says about a damaged store:
// /readyz 503 naming the damage, the store state in /metrics, stale answers from memory.
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <boost/json.hpp>

#include "gtest/gtest.h"
#include "src/base/testing/scramble.h"
#include "src/base/testing/temp_dir.h"
#include "src/crypto/hash.h"
#include "src/storage/edge_kv.h"
#include "src/storage/lmdb/edge_kv_lmdb.h"
#include "tests/integration/harness.h"

namespace edgevault {
namespace {

namespace fs = std::filesystem;
namespace json = boost::json;
using testing::EdgeVaultUp;
using testing::HttpReply;

constexpr int kDeadlineMs = 60000;  // only bounds how long a failure waits

// Polls `probe` until it returns true; false after kDeadlineMs.
bool Eventually(const std::function<bool()>& probe) {
  return testing::PollUntil(probe, kDeadlineMs);
}

std::string Greeting(const HttpReply& r) {
  if (!r.json.is_object()) return "";
  const json::value* configs = r.json.as_object().if_contains("configs");
  const json::value* greeting =
      configs != nullptr && configs->is_object() ? configs->as_object().if_contains("greeting") : nullptr;
  const json::value* value =
      greeting != nullptr && greeting->is_object() ? greeting->as_object().if_contains("value") : nullptr;
  return value != nullptr && value->is_string() ? std::string(value->as_string()) : "";
}

// Overwrites data.mdb from `offset` on with random bytes, in place (same inode and size).
void Scramble(const std::string& path, off_t offset) {
  ASSERT_TRUE(base::testing::Scramble(path, offset)) << path;
}

void Truncate(const std::string& path, off_t size) { ASSERT_EQ(::truncate(path.c_str(), size), 0) << path; }

bool HasDamagedCopy(const std::string& data_dir) {
  for (const auto& e : fs::directory_iterator(data_dir)) {
    if (e.path().filename().string().rfind("edge.damaged-", 0) == 0) return true;
  }
  return false;
}

class EdgeKvDamageTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ::signal(SIGPIPE, SIG_IGN);
    up_ = EdgeVaultUp::Start();
    ASSERT_NE(up_, nullptr) << "edgevault up did not start";
    ASSERT_EQ(Api("POST", "/v1/workspaces", json::object{{"key", "shop"}, {"name", "Shop"}}).status, 201);
    ASSERT_EQ(Api("POST", kBase + "/environments",
                  json::object{{"key", "prod"}, {"name", "Production"}, {"reason", "setup"}})
                  .status,
              201);
    ASSERT_EQ(PutGreeting("hello").status, 200);
    HttpReply minted = Api("POST", kBase + "/environments/prod/sdk-keys", json::object{{"name", "web"}});
    ASSERT_EQ(minted.status, 201) << minted.body;
    sdk_key_ = std::string(minted.json.as_object().at("key").as_string());
    ASSERT_TRUE(Eventually([&] {
      HttpReply r = Config();
      return r.status == 200 && Greeting(r) == "hello";
    })) << "delivery never served the first document";
    data_mdb_ = up_->data_dir() + "/edge/data.mdb";
    ASSERT_TRUE(fs::exists(data_mdb_));
    delivery_pid_ = up_->ServicePid("delivery");
    api_pid_ = up_->ServicePid("api");
    ASSERT_GT(delivery_pid_, 0);
    ASSERT_GT(api_pid_, 0);
  }

  HttpReply Api(std::string method, std::string target, const json::value& body = nullptr) {
    if (body.is_null()) return up_->Call("api", std::move(method), std::move(target), "", up_->admin_key());
    return up_->Json("api", std::move(method), std::move(target), body, up_->admin_key());
  }
  HttpReply PutGreeting(const std::string& value) {
    return Api("PUT", kBase + "/configs/greeting",
               json::object{{"type", "string"}, {"values", {{"prod", value}}}, {"reason", "test"}});
  }
  HttpReply Config() { return up_->Call("delivery", "GET", "/v1/config", "", sdk_key_); }

  // After damage: every answer to the known SDK key is a 200 (from memory, or fresh once
  // the store is rebuilt), never 401/404/5xx; a write made now reaches delivery (the api
  // rebuilt the store and delivery switched to it), and it comes without the stale header.
  void ExpectServedThroughoutThenFresh(bool delivery_must_survive) {
    ASSERT_TRUE(Eventually([&] { return PutGreeting("after").status == 200; }));
    HttpReply last;
    bool fresh = Eventually([&] {
      last = Config();
      // A restarted delivery holds nothing in memory: 503 until the store is back (<= 0: no
      // connection while it restarts). Never 401/404/500.
      const bool no_connection = last.status <= 0;
      const bool allowed = last.status == 200 || (!delivery_must_survive && (no_connection || last.status == 503));
      if (!allowed) ADD_FAILURE() << "delivery answered " << last.status << " " << last.body;
      if (delivery_must_survive) {
        EXPECT_GT(last.status, 0) << "delivery stopped answering";
      }
      return last.status == 200 && Greeting(last) == "after" && last.Header("EdgeVault-Stale").empty();
    });
    EXPECT_TRUE(fresh) << "delivery never served the write made after the damage; last: " << last.status
                       << " " << last.body << "\n" << up_->Output().substr(0, 20000);
    if (delivery_must_survive) {
      EXPECT_EQ(up_->ServicePid("delivery"), delivery_pid_) << "delivery was restarted (it crashed)";
    }
    EXPECT_EQ(up_->ServicePid("api"), api_pid_) << "the api was restarted (it crashed)";
    // A key delivery has not seen is refused as unknown again once the store is populated
    // (the marker is the republish's last write).
    EXPECT_TRUE(Eventually([&] { return up_->Call("delivery", "GET", "/v1/config", "", "evs_unknown").status == 401; }));
  }

  const std::string kBase = "/v1/workspaces/shop";
  std::unique_ptr<EdgeVaultUp> up_;
  std::string sdk_key_;
  std::string data_mdb_;
  pid_t delivery_pid_ = -1;
  pid_t api_pid_ = -1;
};

TEST_F(EdgeKvDamageTest, PagesOverwrittenWhileRunning) {
  Scramble(data_mdb_, 2 * 4096);  // every page after the two meta pages
  ExpectServedThroughoutThenFresh(/*delivery_must_survive=*/true);
  EXPECT_TRUE(HasDamagedCopy(up_->data_dir())) << "the api did not move the damaged store aside";
}

TEST_F(EdgeKvDamageTest, WholeFileOverwrittenWhileRunning) {
  Scramble(data_mdb_, 0);  // the meta pages too
  ExpectServedThroughoutThenFresh(/*delivery_must_survive=*/true);
  EXPECT_TRUE(HasDamagedCopy(up_->data_dir()));
}

TEST_F(EdgeKvDamageTest, TruncatedWhileRunning) {
  Truncate(data_mdb_, 4096);  // only the first meta page is left
  ExpectServedThroughoutThenFresh(/*delivery_must_survive=*/true);
  EXPECT_TRUE(HasDamagedCopy(up_->data_dir()));
}

TEST_F(EdgeKvDamageTest, DeliveryRestartedOnADamagedStore) {
  Scramble(data_mdb_, 2 * 4096);
  ASSERT_EQ(::kill(delivery_pid_, SIGKILL), 0);
  // `up` restarts delivery on the damaged file: it must come up (not crash-loop) and serve
  // once the api has rebuilt the store.
  ExpectServedThroughoutThenFresh(/*delivery_must_survive=*/false);
}

TEST_F(EdgeKvDamageTest, ApiRestartedOnADamagedStore) {
  // Both restart on the damaged file (as after a host reboot).
  Scramble(data_mdb_, 0);
  ASSERT_EQ(::kill(api_pid_, SIGKILL), 0);
  ASSERT_EQ(::kill(delivery_pid_, SIGKILL), 0);
  ASSERT_TRUE(Eventually([&] {
    pid_t a = up_->ServicePid("api");
    return a > 0 && a != api_pid_ && up_->WaitHealthy("api", 100);
  })) << up_->Output();
  api_pid_ = up_->ServicePid("api");
  ExpectServedThroughoutThenFresh(/*delivery_must_survive=*/false);
  EXPECT_TRUE(HasDamagedCopy(up_->data_dir()));
}

TEST_F(EdgeKvDamageTest, EdgeDirectoryDeletedWhileRunning) {
  fs::remove_all(up_->data_dir() + "/edge");
  // The api notices and recreates the store with every document and SDK key.
  EXPECT_TRUE(Eventually([&] { return fs::exists(data_mdb_); })) << "the api did not recreate DATA_DIR/edge";
  ExpectServedThroughoutThenFresh(/*delivery_must_survive=*/true);
}

TEST_F(EdgeKvDamageTest, EdgeDirectoryDeletedThenBothRestarted) {
  fs::remove_all(up_->data_dir() + "/edge");
  ASSERT_EQ(::kill(api_pid_, SIGKILL), 0);
  ASSERT_EQ(::kill(delivery_pid_, SIGKILL), 0);
  // Before the fix the restarted api created an empty store that nothing re-filled: every
  // SDK key answered 401 for good.
  HttpReply last;
  bool served = Eventually([&] {
    last = Config();
    EXPECT_NE(last.status, 401) << "an SDK key minted before the loss was refused";
    return last.status == 200 && Greeting(last) == "hello";
  });
  EXPECT_TRUE(served) << "last: " << last.status << " " << last.body;
  api_pid_ = up_->ServicePid("api");
  ExpectServedThroughoutThenFresh(/*delivery_must_survive=*/false);
}

// Delivery alone on a store this test writes and damages (no api rebuilds it), started as
// `edgevault-delivery --set data_dir=...`.
class DeliveryOnDamagedStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ::signal(SIGPIPE, SIG_IGN);
    ASSERT_FALSE(temp_.path().empty());
    dir_ = temp_.path();
    auto [code, out] = testing::RunShell(testing::BinDir() + "/edgevault keys init-services --data-dir " + dir_);
    ASSERT_EQ(code, 0) << out;
    Publish("v1", 1);
  }
  void TearDown() override {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }

  // Writes the document (greeting = `greeting`, at `version`), the SDK key's binding and
  // the populated marker into DATA_DIR/edge, as the api does.
  void Publish(const std::string& greeting, int64_t version) {
    auto kv = storage::OpenLmdbEdgeKv({.path = dir_ + "/edge"});
    ASSERT_TRUE(kv.ok()) << kv.status();
    json::object doc{{"format", 1},
                     {"workspace_id", "ws_1"},
                     {"environment", "prod"},
                     {"version", version},
                     {"configs", {{"greeting", {{"type", "string"}, {"value", greeting}}}}},
                     {"flags", json::object()},
                     {"segments", json::object()}};
    ASSERT_TRUE((*kv)->PutIfNewer("doc/ws_1/prod", json::serialize(doc), version).ok());
    json::object binding{{"org_id", "org_1"}, {"workspace_id", "ws_1"}, {"environment", "prod"}};
    ASSERT_TRUE((*kv)->PutIfNewer(storage::EdgeKvSdkKey(crypto::Sha256Hex(kSdkKey)),
                                  json::serialize(binding), 1)
                    .ok());
    ASSERT_TRUE((*kv)->PutIfNewer("meta/populated", R"({"format":1})", 1).ok());
  }

  void StartDelivery() {
    // Port 0: the kernel picks one, delivery reports it in DATA_DIR/run/delivery.port.
    std::remove((dir_ + "/run/delivery.port").c_str());
    std::vector<std::string> args = {testing::BinDir() + "/edgevault-delivery",
                                     "--set", "data_dir=" + dir_,
                                     "--set", "services.delivery.port=0",
                                     "--set", "log.level=warn"};
    pid_ = ::fork();
    if (pid_ == 0) {
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      ::execv(argv[0], argv.data());
      ::_exit(127);
    }
    client_ = *net::HttpClient::Create({});
    ASSERT_TRUE(Eventually([&] {
      port_ = testing::ReadPortFile(dir_, "delivery");
      return port_ > 0 && Get("/healthz").status == 200;
    })) << "delivery did not start";
  }

  HttpReply Get(const std::string& target, const std::string& bearer = "") {
    net::ClientRequest req;
    req.method = "GET";
    req.target = target;
    if (!bearer.empty()) req.headers.push_back({"Authorization", "Bearer " + bearer});
    HttpReply r;
    auto resp = client_->Do("127.0.0.1", static_cast<uint16_t>(port_), req);
    if (!resp.ok()) return r;
    r.status = resp->status;
    r.body = resp->body;
    r.headers = resp->headers;
    boost::system::error_code ec;
    r.json = json::parse(r.body, ec);
    return r;
  }

  bool Alive() { return ::waitpid(pid_, nullptr, WNOHANG) == 0; }

  static constexpr const char* kSdkKey = "evs_damage_test_key";
  base::testing::TempDir temp_{"ev-damage"};
  std::string dir_;
  pid_t pid_ = -1;
  int port_ = 0;
  std::unique_ptr<net::HttpClient> client_;
};

TEST_F(DeliveryOnDamagedStoreTest, ServesFromMemoryAndSaysNotReadyUntilTheStoreIsRebuilt) {
  StartDelivery();
  HttpReply first = Get("/v1/config", kSdkKey);
  ASSERT_EQ(first.status, 200) << first.body;
  ASSERT_EQ(Greeting(first), "v1");
  EXPECT_EQ(Get("/readyz").status, 200);

  Scramble(dir_ + "/edge/data.mdb", 2 * 4096);
  HttpReply stale = Get("/v1/config", kSdkKey);
  EXPECT_TRUE(Alive()) << "delivery crashed on the damaged store";
  EXPECT_EQ(stale.status, 200) << stale.body;
  EXPECT_EQ(stale.Header("EdgeVault-Stale"), "true");
  EXPECT_EQ(stale.body, first.body);
  // An SDK key delivery never saw cannot be checked: 503, not 401.
  EXPECT_EQ(Get("/v1/config", "evs_other").status, 503);
  // Delivery's poll notices (a walk of every page once data.mdb changed), and says so.
  HttpReply ready;
  EXPECT_TRUE(Eventually([&] {
    ready = Get("/readyz");
    return ready.status == 503 && ready.body.find("damaged") != std::string::npos;
  })) << ready.status << " " << ready.body;
  HttpReply metrics = Get("/metrics");
  EXPECT_NE(metrics.body.find("edgevault_edge_kv_state{service=\"delivery\",state=\"damaged\"} 1"),
            std::string::npos)
      << metrics.body;
  EXPECT_EQ(Get("/v1/config", kSdkKey).Header("EdgeVault-Stale"), "true");
  EXPECT_TRUE(Alive());

  // What the api does on damage: move the store aside and write a fresh one.
  fs::rename(dir_ + "/edge", dir_ + "/edge.damaged-by-test");
  Publish("v2", 2);
  HttpReply fresh;
  EXPECT_TRUE(Eventually([&] {
    fresh = Get("/v1/config", kSdkKey);
    return fresh.status == 200 && Greeting(fresh) == "v2" && fresh.Header("EdgeVault-Stale").empty();
  })) << fresh.status << " " << fresh.body;
  EXPECT_TRUE(Eventually([&] { return Get("/readyz").status == 200; }));
  metrics = Get("/metrics");
  EXPECT_NE(metrics.body.find("edgevault_edge_kv_state{service=\"delivery\",state=\"ok\"} 1"),
            std::string::npos)
      << metrics.body;
  EXPECT_TRUE(Alive());
}

TEST_F(DeliveryOnDamagedStoreTest, StartsOnADamagedStoreInsteadOfCrashing) {
  Scramble(dir_ + "/edge/data.mdb", 2 * 4096);
  StartDelivery();
  EXPECT_TRUE(Alive()) << "delivery did not start on a damaged store";
  HttpReply r = Get("/v1/config", kSdkKey);
  EXPECT_EQ(r.status, 503) << r.body;
  HttpReply ready = Get("/readyz");
  EXPECT_EQ(ready.status, 503) << ready.body;
  EXPECT_NE(ready.body.find("damaged"), std::string::npos) << ready.body;
  EXPECT_TRUE(Alive());
}

}  // namespace
}  // namespace edgevault
