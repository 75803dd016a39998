#include "src/services/api/edge_kv_republisher.h"

#include <signal.h>
#include <stdlib.h>

#include <filesystem>
#include <memory>
#include <optional>
#include <string>

#include <boost/json.hpp>

#include "gtest/gtest.h"
#include "src/base/env.h"
#include "src/services/common/edge_kv_open.h"
#include "src/storage/redis/edge_kv_redis.h"
#include "src/storage/redis/redis_test_server.h"
#include "src/storage/sqlite/control_store_sqlite.h"
#include "src/storage/sqlite/workspace_store_provider_sqlite.h"

namespace edgevault::api {
namespace {

namespace json = boost::json;

class EdgeKvRepublisherTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ::signal(SIGPIPE, SIG_IGN);
    std::string tmpl = (std::filesystem::path(::testing::TempDir()) / "republisher.XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    ASSERT_TRUE(redis_.Start()) << "could not start redis-server";
    auto kv = storage::OpenRedisEdgeKv(redis_.Options());
    ASSERT_TRUE(kv.ok()) << kv.status();
    kv_ = std::move(*kv);
    auto control = storage::OpenSqliteControlStore({.path = dir_ + "/control.db", .env = &env_});
    ASSERT_TRUE(control.ok()) << control.status();
    control_ = std::move(*control);
    storage::Org org;
    org.id = "org_1";
    org.name = "default";
    org.created_at = env_.Now();
    ASSERT_TRUE(control_->CreateOrg(org).ok());
    auto stores = storage::OpenSqliteWorkspaceStoreProvider({.dir = dir_ + "/workspaces", .env = &env_});
    ASSERT_TRUE(stores.ok()) << stores.status();
    stores_ = std::move(*stores);
    workspace::ServiceOptions so;
    so.stores = stores_.get();
    so.directory = control_.get();
    so.kv = kv_.get();
    so.env = &env_;
    // Not started: nothing propagates on its own, so the KV holds only what the
    // republisher writes.
    auto service = workspace::Service::Create(so);
    ASSERT_TRUE(service.ok()) << service.status();
    service_ = std::move(*service);

    actor_.id = "user:usr_1";
    actor_.org_id = "org_1";
    auto ws = service_->CreateWorkspace(actor_, "shop", "Shop");
    ASSERT_TRUE(ws.ok()) << ws.status();
    ws_ = *ws;
    ASSERT_TRUE(service_->CreateEnvironment(actor_, ws_, json::object{{"key", "prod"}, {"name", "Prod"}},
                                            "setup", std::nullopt)
                    .ok());
    ASSERT_TRUE(service_->PutItem(actor_, ws_, storage::ItemKind::kConfig, "greeting",
                                  json::object{{"type", "string"}, {"values", {{"prod", "hello"}}}},
                                  "setup", std::nullopt, workspace::AllowAnyWrite())
                    .ok());
    AddSdkKey("sdk_live", std::string(64, 'a'));
    AddSdkKey("sdk_revoked", std::string(64, 'b'));
    ASSERT_TRUE(control_->RevokeSdkKey("org_1", "sdk_revoked", env_.Now()).ok());

    auto republisher = EdgeKvRepublisher::Create({.service = service_.get(), .directory = control_.get(), .sdk_keys = control_.get(),
                                                  .kv = kv_.get(), .stores = stores_.get(),
                                                  .on_published = [this] { ++published_; }});
    ASSERT_TRUE(republisher.ok()) << republisher.status();
    republisher_ = std::move(*republisher);
  }
  void TearDown() override {
    republisher_.reset();
    service_.reset();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  void AddSdkKey(const std::string& id, const std::string& hash) {
    storage::SdkKey k;
    k.id = id;
    k.key_hash = hash;
    k.prefix = "evs_" + id;
    k.org_id = "org_1";
    k.workspace_id = ws_.id;
    k.environment = "prod";
    k.name = id;
    k.created_by = actor_.id;
    k.created_at = env_.Now();
    ASSERT_TRUE(control_->CreateSdkKey(k).ok());
  }

  // The KV holds exactly what propagation would have written.
  void ExpectRepublished() {
    absl::StatusOr<int64_t> head = service_->Head(ws_);
    ASSERT_TRUE(head.ok()) << head.status();
    absl::StatusOr<std::string> resolved = service_->Resolve(ws_, "prod");
    ASSERT_TRUE(resolved.ok()) << resolved.status();
    absl::StatusOr<storage::KvEntry> doc = kv_->Get("doc/" + ws_.id + "/prod");
    ASSERT_TRUE(doc.ok()) << doc.status();
    EXPECT_EQ(doc->version, *head);
    EXPECT_EQ(doc->value, *resolved);
    absl::StatusOr<storage::KvEntry> live = kv_->Get("sdk/" + std::string(64, 'a'));
    ASSERT_TRUE(live.ok()) << live.status();
    EXPECT_NE(live->value.find("\"environment\":\"prod\""), std::string::npos);
    EXPECT_EQ(kv_->GetVersion("sdk/" + std::string(64, 'b')).status().code(),
              absl::StatusCode::kNotFound);  // revoked keys stay out
    EXPECT_EQ(kv_->GetVersion(services::kPopulatedKey).value_or(-1), 1);
  }

  std::string dir_;
  base::SimulatedEnv env_;
  storage::RedisServer redis_;
  std::unique_ptr<storage::EdgeKv> kv_;
  std::unique_ptr<storage::ControlStore> control_;
  std::unique_ptr<storage::WorkspaceStoreProvider> stores_;
  std::unique_ptr<workspace::Service> service_;
  std::unique_ptr<EdgeKvRepublisher> republisher_;
  workspace::Actor actor_;
  storage::Workspace ws_;
  int published_ = 0;
};

TEST_F(EdgeKvRepublisherTest, FillsAnEmptyKvThenWritesTheMarkerOnce) {
  EXPECT_EQ(kv_->GetVersion("doc/" + ws_.id + "/prod").status().code(), absl::StatusCode::kNotFound);
  absl::StatusOr<bool> first = republisher_->CheckOnce();
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_TRUE(*first);
  EXPECT_EQ(published_, 1);
  ExpectRepublished();

  absl::StatusOr<bool> second = republisher_->CheckOnce();
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_FALSE(*second);  // the marker is there: one GetVersion, nothing written
  EXPECT_EQ(published_, 1);
}

TEST_F(EdgeKvRepublisherTest, RedisRestartedEmptyIsRefilled) {
  ASSERT_TRUE(republisher_->CheckOnce().ok());
  ASSERT_TRUE(redis_.Restart());  // no persistence: everything is gone
  EXPECT_EQ(kv_->GetVersion("sdk/" + std::string(64, 'a')).status().code(), absl::StatusCode::kNotFound);
  absl::StatusOr<bool> again = republisher_->CheckOnce();
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_TRUE(*again);
  EXPECT_EQ(published_, 2);
  ExpectRepublished();
}

TEST_F(EdgeKvRepublisherTest, UnreachableKvIsAnErrorAndLeavesNoMarker) {
  redis_.Kill();
  EXPECT_EQ(republisher_->CheckOnce().status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(published_, 0);
}

TEST_F(EdgeKvRepublisherTest, NewerDocumentsAreNotReplacedByOlderOnes) {
  // A propagation that already wrote a newer head wins over a republish racing with it.
  const std::string key = "doc/" + ws_.id + "/prod";
  ASSERT_TRUE(kv_->PutIfNewer(key, "{\"newer\":true}", 1000).ok());
  ASSERT_TRUE(republisher_->CheckOnce().ok());
  absl::StatusOr<storage::KvEntry> doc = kv_->Get(key);
  ASSERT_TRUE(doc.ok()) << doc.status();
  EXPECT_EQ(doc->version, 1000);
  EXPECT_EQ(doc->value, "{\"newer\":true}");
}

TEST(EdgeKvRepublisherCreateTest, MissingDependenciesAreInvalidArgument) {
  EXPECT_EQ(EdgeKvRepublisher::Create({}).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace edgevault::api
