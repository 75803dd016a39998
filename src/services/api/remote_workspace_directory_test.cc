// RemoteWorkspaceDirectory against a stand-in for auth's internal routes (a real HTTP
// server on loopback, port 0) that counts the calls, with a simulated clock for the
// entitlements TTL. The contract against the real auth service is tested in
// src/services/auth/auth_service_test.cc (RemoteWorkspaceDirectoryKeepsTheStoresContract).
#include "src/services/api/remote_workspace_directory.h"

#include <atomic>
#include <boost/json.hpp>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "gtest/gtest.h"
#include "src/base/env.h"
#include "src/net/http_client.h"
#include "src/net/http_server.h"
#include "tests/integration/harness.h"

namespace edgevault::api {
namespace {

namespace json = boost::json;

class FakeAuth {
 public:
  FakeAuth() {
    net::Router router;
    router.Post("/internal/v1/workspaces/get", [this](net::Request& req) { return Get(req); });
    router.Post("/internal/v1/workspaces/create", [this](net::Request&) {
      std::lock_guard<std::mutex> lock(mu_);
      ++calls_["create"];
      return create_answer_;
    });
    router.Post("/internal/v1/workspaces/rename", [this](net::Request& req) {
      json::value body = json::parse(req.body());
      std::lock_guard<std::mutex> lock(mu_);
      ++calls_["rename"];
      auto row = rows_.find(std::string(body.at("id").as_string()));
      if (row == rows_.end()) return net::Response::Error(404, "not_found", "workspace not found");
      row->second["name"] = body.at("name");
      return net::Response::Json(200, json::serialize(row->second));
    });
    router.Post("/internal/v1/workspaces/list", [this](net::Request&) {
      std::lock_guard<std::mutex> lock(mu_);
      ++calls_["list"];
      json::array a;
      for (auto& [id, w] : rows_) a.push_back(w);
      return net::Response::Json(200, json::serialize(json::object{{"workspaces", a}}));
    });
    router.Post("/internal/v1/orgs/entitlements", [this](net::Request&) {
      std::lock_guard<std::mutex> lock(mu_);
      ++calls_["entitlements"];
      return net::Response::Json(200, json::serialize(json::object{
                                          {"max_workspaces", 10}, {"max_environments", max_envs_}, {"max_items", 30}}));
    });
    router.Post("/internal/v1/sdk-keys/list", [this](net::Request&) {
      std::lock_guard<std::mutex> lock(mu_);
      ++calls_["sdk-keys"];
      json::object key{{"id", "sdk_1"}, {"name", "web"}, {"prefix", "evs_abcd"}, {"workspace_id", "ws_1"},
                       {"environment", "prod"}, {"created_by", "user:1"}, {"created_at", "2026-01-02T03:04:05Z"},
                       {"last_used_at", nullptr}, {"revoked_at", "2026-02-03T04:05:06Z"}, {"key_hash", "ab12"}};
      return net::Response::Json(200, json::serialize(json::object{{"sdk_keys", json::array{key}}}));
    });
    net::ServerOptions so;
    so.service = "fake-auth";
    so.io_threads = 1;
    so.access_log = false;
    server_ = *net::HttpServer::Create(so, std::move(router));
    EXPECT_TRUE(server_->Start().ok());
  }

  net::Response Get(net::Request& req) {
    json::value body = json::parse(req.body());
    std::lock_guard<std::mutex> lock(mu_);
    ++calls_["get"];
    if (down_) return net::Response::Error(503, "unavailable", "auth is restarting");
    for (auto& [id, w] : rows_) {
      const json::object& q = body.as_object();
      bool match = q.contains("id") ? q.at("id") == w.at("id")
                                    : (q.at("org_id") == w.at("org_id") && q.at("key") == w.at("key"));
      if (match) return net::Response::Json(200, json::serialize(w));
    }
    return net::Response::Error(404, "not_found", "workspace not found");
  }

  void AddRow(const std::string& id, const std::string& key) {
    std::lock_guard<std::mutex> lock(mu_);
    rows_[id] = json::object{{"id", id}, {"org_id", "org_1"}, {"key", key}, {"name", key}, {"created_at_us", 1234567}};
  }
  void SetName(const std::string& id, const std::string& name) {
    std::lock_guard<std::mutex> lock(mu_);
    rows_[id]["name"] = name;
  }
  void SetDown(bool down) {
    std::lock_guard<std::mutex> lock(mu_);
    down_ = down;
  }
  void AnswerCreate(net::Response r) {
    std::lock_guard<std::mutex> lock(mu_);
    create_answer_ = std::move(r);
  }
  void SetMaxEnvironments(int64_t n) {
    std::lock_guard<std::mutex> lock(mu_);
    max_envs_ = n;
  }
  int Calls(const std::string& route) {
    std::lock_guard<std::mutex> lock(mu_);
    return calls_[route];
  }
  uint16_t port() const { return server_->port(); }

 private:
  std::mutex mu_;
  std::map<std::string, json::object> rows_;
  net::Response create_answer_ = net::Response::Json(201, "{}");
  int64_t max_envs_ = 20;
  bool down_ = false;
  std::map<std::string, int> calls_;  // route → calls, guarded by mu_
  std::unique_ptr<net::HttpServer> server_;
};

class RemoteWorkspaceDirectoryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    client_ = *net::HttpClient::Create({});
    dir_ = *RemoteWorkspaceDirectory::Create(
        {.client = client_.get(), .host = "127.0.0.1", .port = auth_.port(), .env = &env_,
         .entitlements_ttl = absl::Seconds(5)});
  }
  storage::Workspace Ws(std::string id, std::string key) {
    return storage::Workspace{std::move(id), "org_1", std::move(key), "W", absl::FromUnixMicros(1234567)};
  }

  FakeAuth auth_;
  base::SimulatedEnv env_;
  std::unique_ptr<net::HttpClient> client_;
  std::unique_ptr<RemoteWorkspaceDirectory> dir_;
};

TEST_F(RemoteWorkspaceDirectoryTest, RowsAreCachedByIdAndKeyButNotFoundNeverIs) {
  EXPECT_EQ(dir_->GetWorkspaceById("ws_1").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(dir_->GetWorkspaceByKey("org_1", "shop").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(auth_.Calls("get"), 2);
  // Created meanwhile (by another api process): found at once, not a cached NotFound.
  auth_.AddRow("ws_1", "shop");
  auto by_id = dir_->GetWorkspaceById("ws_1");
  ASSERT_TRUE(by_id.ok()) << by_id.status();
  EXPECT_EQ(by_id->key, "shop");
  EXPECT_EQ(by_id->created_at, absl::FromUnixMicros(1234567));
  EXPECT_EQ(auth_.Calls("get"), 3);
  // Now cached, under both names.
  EXPECT_EQ(dir_->GetWorkspaceById("ws_1")->key, "shop");
  EXPECT_EQ(dir_->GetWorkspaceByKey("org_1", "shop")->id, "ws_1");
  EXPECT_EQ(auth_.Calls("get"), 3);
  // Another org's key is another lookup.
  EXPECT_EQ(dir_->GetWorkspaceByKey("org_2", "shop").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(auth_.Calls("get"), 4);
}

// A row is asked for again once older than workspace_ttl (a rename through another api
// process shows), and the cached row is used while auth does not answer.
TEST_F(RemoteWorkspaceDirectoryTest, RowsAreAskedAgainAfterTheirTtlAndKeptWhileAuthIsDown) {
  auth_.AddRow("ws_1", "shop");
  ASSERT_EQ(dir_->GetWorkspaceByKey("org_1", "shop")->name, "shop");
  auth_.SetName("ws_1", "Storefront");
  env_.AdvanceBy(absl::Seconds(4));
  EXPECT_EQ(dir_->GetWorkspaceByKey("org_1", "shop")->name, "shop");  // within the TTL
  EXPECT_EQ(auth_.Calls("get"), 1);
  env_.AdvanceBy(absl::Seconds(1));
  EXPECT_EQ(dir_->GetWorkspaceByKey("org_1", "shop")->name, "Storefront");
  EXPECT_EQ(dir_->GetWorkspaceById("ws_1")->name, "Storefront");
  EXPECT_EQ(auth_.Calls("get"), 2);
  auth_.SetDown(true);
  env_.AdvanceBy(absl::Seconds(10));
  absl::StatusOr<storage::Workspace> stale = dir_->GetWorkspaceByKey("org_1", "shop");
  ASSERT_TRUE(stale.ok()) << stale.status();
  EXPECT_EQ(stale->name, "Storefront");
  ASSERT_TRUE(dir_->GetWorkspaceById("ws_1").ok());
  EXPECT_EQ(auth_.Calls("get"), 4);
  // A workspace never seen is not invented.
  EXPECT_EQ(dir_->GetWorkspaceByKey("org_1", "other").status().code(), absl::StatusCode::kUnavailable);
}

TEST_F(RemoteWorkspaceDirectoryTest, RenameAsksAuthAndUpdatesTheCache) {
  auth_.AddRow("ws_1", "shop");
  ASSERT_EQ(dir_->GetWorkspaceById("ws_1")->name, "shop");
  ASSERT_TRUE(dir_->RenameWorkspace("org_1", "ws_1", "Storefront").ok());
  EXPECT_EQ(auth_.Calls("rename"), 1);
  EXPECT_EQ(dir_->GetWorkspaceById("ws_1")->name, "Storefront");  // from the cache, renamed
  EXPECT_EQ(auth_.Calls("get"), 1);
  EXPECT_EQ(dir_->RenameWorkspace("org_1", "ws_9", "x").code(), absl::StatusCode::kNotFound);
}

TEST_F(RemoteWorkspaceDirectoryTest, ListsAlwaysAskAndFillTheRowCache) {
  auth_.AddRow("ws_1", "shop");
  ASSERT_EQ(dir_->ListWorkspaces("org_1")->size(), 1u);
  ASSERT_EQ(dir_->ListWorkspaces("org_1")->size(), 1u);
  EXPECT_EQ(auth_.Calls("list"), 2);
  EXPECT_EQ(dir_->GetWorkspaceByKey("org_1", "shop")->id, "ws_1");
  EXPECT_EQ(auth_.Calls("get"), 0);
}

TEST_F(RemoteWorkspaceDirectoryTest, EntitlementsAreCachedForTheirTtlOnly) {
  EXPECT_EQ(dir_->GetEntitlements("org_1")->max_environments, 20);
  auth_.SetMaxEnvironments(2);
  env_.AdvanceBy(absl::Seconds(4));
  EXPECT_EQ(dir_->GetEntitlements("org_1")->max_environments, 20);  // within the TTL
  EXPECT_EQ(auth_.Calls("entitlements"), 1);
  env_.AdvanceBy(absl::Seconds(1));
  EXPECT_EQ(dir_->GetEntitlements("org_1")->max_environments, 2);
  EXPECT_EQ(auth_.Calls("entitlements"), 2);
}

TEST_F(RemoteWorkspaceDirectoryTest, CreateMapsAuthsAnswersToTheDirectoryCodes) {
  struct Case {
    net::Response answer;
    absl::StatusCode want;
  };
  Case cases[] = {
      {net::Response::Error(409, "conflict", "taken"), absl::StatusCode::kAlreadyExists},
      {net::Response::Error(429, "entitlement_exceeded", "the org's plan allows 3 workspaces"),
       absl::StatusCode::kResourceExhausted},
      {net::Response::Error(404, "not_found", "org \"org_1\" not found"), absl::StatusCode::kNotFound},
      {net::Response::Error(400, "invalid_argument", "field 'key'"), absl::StatusCode::kInvalidArgument},
      // Not a directory answer: another 409, a throttle 429, a 500, a 201 of another shape.
      {net::Response::Error(409, "aborted", "x"), absl::StatusCode::kUnavailable},
      // 409 failed_precondition is a directory answer (delete, restore, purge).
      {net::Response::Error(409, "failed_precondition", "x"), absl::StatusCode::kFailedPrecondition},
      {net::Response::Error(429, "rate_limited", "x"), absl::StatusCode::kUnavailable},
      {net::Response::Error(500, "internal", "x"), absl::StatusCode::kUnavailable},
      {net::Response::Json(201, "[]"), absl::StatusCode::kUnavailable},
  };
  for (Case& c : cases) {
    int status = c.answer.status;
    auth_.AnswerCreate(std::move(c.answer));
    absl::Status st = dir_->CreateWorkspaceWithinLimit(Ws("ws_9", "nine"));
    EXPECT_EQ(st.code(), c.want) << status << ": " << st;
  }
  auth_.AnswerCreate(net::Response::Error(429, "entitlement_exceeded", "the org's plan allows 3 workspaces"));
  EXPECT_EQ(dir_->CreateWorkspaceWithinLimit(Ws("ws_9", "nine")).message(), "the org's plan allows 3 workspaces");
  // A failed create caches nothing.
  EXPECT_EQ(dir_->GetWorkspaceById("ws_9").status().code(), absl::StatusCode::kNotFound);
}

TEST_F(RemoteWorkspaceDirectoryTest, ACreatedWorkspaceIsCached) {
  auth_.AnswerCreate(net::Response::Json(
      201, R"({"id":"ws_7","org_id":"org_1","key":"seven","name":"W","created_at_us":1234567})"));
  ASSERT_TRUE(dir_->CreateWorkspaceWithinLimit(Ws("ws_7", "seven")).ok());
  EXPECT_EQ(dir_->GetWorkspaceByKey("org_1", "seven")->id, "ws_7");
  EXPECT_EQ(auth_.Calls("get"), 0);
}

TEST_F(RemoteWorkspaceDirectoryTest, SdkKeysKeepWhatTheRepublisherNeeds) {
  auto keys = dir_->ListSdkKeys("org_1", "ws_1");
  ASSERT_TRUE(keys.ok()) << keys.status();
  ASSERT_EQ(keys->size(), 1u);
  EXPECT_EQ((*keys)[0].key_hash, "ab12");
  EXPECT_EQ((*keys)[0].environment, "prod");
  EXPECT_EQ((*keys)[0].org_id, "org_1");
  EXPECT_TRUE((*keys)[0].revoked_at.has_value());
  EXPECT_FALSE((*keys)[0].last_used_at.has_value());
}

TEST(RemoteWorkspaceDirectoryDownTest, NoAuthIsUnavailable) {
  auto client = *net::HttpClient::Create({});
  base::SimulatedEnv env;
  testing::RefusingPort refusing;  // bound, never listening
  ASSERT_NE(refusing.port(), 0);
  auto dir = *RemoteWorkspaceDirectory::Create(
      {.client = client.get(), .host = "127.0.0.1", .port = static_cast<uint16_t>(refusing.port()), .env = &env});
  EXPECT_EQ(dir->GetWorkspaceById("ws_1").status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(dir->GetEntitlements("org_1").status().code(), absl::StatusCode::kUnavailable);
}

}  // namespace
}  // namespace edgevault::api
