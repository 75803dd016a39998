// Deleting, restoring and purging a workspace (service.h "deleting a workspace";
// docs/api.md "Deleting a workspace") over real stores: SQLite per workspace, a SQLite control store as the
// directory, the LMDB edge KV, all on a SimulatedEnv clock so the grace period passes when
// the test says so.

#include <atomic>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "src/base/env.h"
#include "src/base/status.h"
#include "src/base/testing/poll_until.h"
#include "src/base/testing/temp_dir.h"
#include "src/storage/lmdb/edge_kv_lmdb.h"
#include "src/storage/sqlite/control_store_sqlite.h"
#include "src/storage/sqlite/workspace_store_provider_sqlite.h"
#include "src/workspace/service.h"

namespace edgevault::workspace {
namespace {

namespace json = boost::json;
using storage::ItemKind;

class WorkspaceDeleteTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto control = storage::OpenSqliteControlStore({dir_.path() + "/control.db", &env_});
    ASSERT_TRUE(control.ok()) << control.status();
    control_ = std::move(*control);
    for (const char* id : {"org_1", "org_2"}) {
      storage::Org org;
      org.id = id;
      org.name = id;
      org.entitlements.max_workspaces = 100;
      org.created_at = env_.Now();
      ASSERT_TRUE(control_->CreateOrg(org).ok());
    }
    auto kv = storage::OpenLmdbEdgeKv({.path = dir_.path() + "/edge"});
    ASSERT_TRUE(kv.ok()) << kv.status();
    kv_ = std::move(*kv);
    auto stores = storage::OpenSqliteWorkspaceStoreProvider({.dir = dir_.path() + "/workspaces", .env = &env_});
    ASSERT_TRUE(stores.ok()) << stores.status();
    stores_ = std::move(*stores);
    ServiceOptions so;
    so.stores = stores_.get();
    so.directory = control_.get();
    so.kv = kv_.get();
    so.env = &env_;
    auto service = Service::Create(so);
    ASSERT_TRUE(service.ok()) << service.status();
    service_ = std::move(*service);
  }

  // A workspace with environment prod, config "limit" set there, propagated, and one SDK
  // key bound to prod.
  storage::Workspace Populated(const std::string& key) {
    absl::StatusOr<storage::Workspace> ws = service_->CreateWorkspace(actor_, key, key);
    EXPECT_TRUE(ws.ok()) << ws.status();
    EXPECT_TRUE(service_->CreateEnvironment(actor_, *ws, json::object{{"key", "prod"}, {"name", "Prod"}}, "setup",
                                            std::nullopt)
                    .ok());
    EXPECT_TRUE(Put(*ws, 1).ok());
    EXPECT_TRUE(service_->PropagateNow(ws->id).ok());
    storage::SdkKey k;
    k.id = "sdk_" + key;
    k.key_hash = std::string(64, key[0]);
    k.org_id = ws->org_id;
    k.workspace_id = ws->id;
    k.environment = "prod";
    keys_ = {k};
    EXPECT_TRUE(service_->PublishSdkKey(k.key_hash, *ws, "prod").ok());
    return *ws;
  }

  absl::StatusOr<int64_t> Put(const storage::Workspace& ws, int value) {
    return service_->PutItem(actor_, ws, ItemKind::kConfig, "limit",
                             json::object{{"type", "integer"}, {"values", {{"prod", value}}}}, "test", std::nullopt,
                             AllowAnyWrite());
  }

  bool KvHas(const std::string& key) { return kv_->Get(key).ok(); }

  std::vector<std::string> Actions(const storage::Workspace& ws) {
    std::vector<std::string> out;
    absl::StatusOr<std::shared_ptr<storage::WorkspaceStore>> store = stores_->Open(ws.id);
    if (!store.ok()) return out;
    absl::StatusOr<std::vector<storage::Activity>> all = (*store)->ListActivity(0, 1000);
    if (!all.ok()) return out;
    for (const storage::Activity& a : *all) out.push_back(a.action);
    return out;
  }

  // Relays every workspace's audit outbox (the purge waits until it is empty).
  void DrainAudit() {
    absl::StatusOr<std::vector<std::pair<std::string, std::string>>> rows = service_->PeekAuditOutbox(1000);
    ASSERT_TRUE(rows.ok()) << rows.status();
    std::vector<std::string> ids;
    for (const auto& [id, event] : *rows) ids.push_back(id);
    ASSERT_TRUE(service_->RemoveAuditOutbox(ids).ok());
  }

  base::SimulatedEnv env_;
  base::testing::TempDir dir_{"ev-wsdel"};
  Actor actor_{"user:usr_1", "org_1", "127.0.0.1", "req-1"};
  std::unique_ptr<storage::ControlStore> control_;
  std::unique_ptr<storage::EdgeKv> kv_;
  std::unique_ptr<storage::WorkspaceStoreProvider> stores_;
  std::unique_ptr<Service> service_;
  std::vector<storage::SdkKey> keys_;
};

TEST_F(WorkspaceDeleteTest, CreateIsRecorded) {
  absl::StatusOr<storage::Workspace> ws = service_->CreateWorkspace(actor_, "shop", "Shop");
  ASSERT_TRUE(ws.ok()) << ws.status();
  EXPECT_EQ(Actions(*ws), std::vector<std::string>{"workspace.create"});
}

TEST_F(WorkspaceDeleteTest, DeletedWorkspaceIsNeitherServedNorReadableNorWritable) {
  storage::Workspace ws = Populated("shop");
  const std::string doc = storage::EdgeKvDocumentKey(ws.id, "prod");
  ASSERT_TRUE(KvHas(doc));
  ASSERT_TRUE(KvHas(storage::EdgeKvSdkKey(keys_[0].key_hash)));

  const absl::Time now = env_.Now();
  absl::StatusOr<storage::Workspace> deleted = service_->DeleteWorkspace(actor_, ws, "gone", absl::Hours(24 * 7), keys_);
  ASSERT_TRUE(deleted.ok()) << deleted.status();
  EXPECT_EQ(deleted->deleted_at, now);
  EXPECT_EQ(deleted->purge_after, now + absl::Hours(24 * 7));

  // Delivery has nothing left to serve: documents and the SDK key's binding are gone.
  EXPECT_FALSE(KvHas(doc));
  EXPECT_FALSE(KvHas(storage::EdgeKvClientDocumentKey(ws.id, "prod")));
  EXPECT_FALSE(KvHas(storage::EdgeKvSdkKey(keys_[0].key_hash)));

  // The service refuses it, whoever holds the old row (the scheduler, MCP, a promotion).
  EXPECT_TRUE(absl::IsNotFound(service_->GetWorkspace("org_1", "shop").status()));
  EXPECT_TRUE(service_->GetWorkspace("org_1", "shop", /*include_deleted=*/true).ok());
  EXPECT_TRUE(service_->ListWorkspaces("org_1")->empty());
  EXPECT_EQ(service_->ListWorkspaces("org_1", true)->size(), 1u);
  EXPECT_TRUE(absl::IsNotFound(Put(ws, 2).status()));
  EXPECT_TRUE(absl::IsNotFound(service_->GetItem(ws, ItemKind::kConfig, "limit").status()));
  EXPECT_TRUE(absl::IsNotFound(service_->ListEnvironments(ws).status()));
  EXPECT_TRUE(absl::IsNotFound(service_->Resolve(ws, "prod").status()));
  EXPECT_TRUE(absl::IsNotFound(service_->Head(ws).status()));
  EXPECT_TRUE(absl::IsNotFound(service_->ListRevisions(ws, 0, 10).status()));
  EXPECT_TRUE(absl::IsNotFound(service_->ReadChangeSetInput(ws).status()));
  EXPECT_TRUE(absl::IsNotFound(service_->PublishSdkKey(std::string(64, 'z'), ws, "prod")));
  EXPECT_TRUE(absl::IsNotFound(service_->RecordActivity(actor_, ws, "workspace.secret.read", {})));
  EXPECT_EQ(base::ErrorCode(Put(ws, 2).status()), "workspace_deleted");
  // A second delete is refused; nothing changes.
  EXPECT_FALSE(service_->DeleteWorkspace(actor_, ws, "again", absl::Hours(1), keys_).ok());
  EXPECT_EQ(control_->GetWorkspaceById(ws.id)->purge_after, now + absl::Hours(24 * 7));

  // A propagation job left pending is not published while it is deleted.
  EXPECT_TRUE(service_->PropagateNow(ws.id).ok());
  EXPECT_FALSE(KvHas(doc));
}

TEST_F(WorkspaceDeleteTest, DeleteSurvivesARestartOfTheService) {
  storage::Workspace ws = Populated("shop");
  ASSERT_TRUE(service_->DeleteWorkspace(actor_, ws, "gone", absl::Hours(1), keys_).ok());
  // A new Service (a restart, or another api node) knows it only from the directory row.
  ServiceOptions so;
  so.stores = stores_.get();
  so.directory = control_.get();
  so.kv = kv_.get();
  so.env = &env_;
  service_.reset();
  absl::StatusOr<std::unique_ptr<Service>> again = Service::Create(so);
  ASSERT_TRUE(again.ok());
  service_ = std::move(*again);
  EXPECT_TRUE(absl::IsNotFound(service_->GetItem(ws, ItemKind::kConfig, "limit").status()));
  EXPECT_TRUE(absl::IsNotFound(Put(ws, 9).status()));
  EXPECT_TRUE(absl::IsNotFound(service_->GetWorkspace("org_1", "shop").status()));
}

TEST_F(WorkspaceDeleteTest, RestorePublishesEverythingAgain) {
  storage::Workspace ws = Populated("shop");
  absl::StatusOr<storage::KvEntry> before = kv_->Get(storage::EdgeKvDocumentKey(ws.id, "prod"));
  ASSERT_TRUE(before.ok());
  ASSERT_TRUE(service_->DeleteWorkspace(actor_, ws, "oops", absl::Hours(24), keys_).ok());
  ASSERT_FALSE(KvHas(storage::EdgeKvDocumentKey(ws.id, "prod")));

  absl::StatusOr<storage::Workspace> restored = service_->RestoreWorkspace(actor_, ws, "mistake", keys_);
  ASSERT_TRUE(restored.ok()) << restored.status();
  EXPECT_FALSE(restored->deleted());
  EXPECT_FALSE(restored->purge_after.has_value());
  absl::StatusOr<storage::KvEntry> after = kv_->Get(storage::EdgeKvDocumentKey(ws.id, "prod"));
  ASSERT_TRUE(after.ok()) << after.status();
  EXPECT_EQ(after->value, before->value);
  EXPECT_EQ(after->version, before->version);
  EXPECT_TRUE(KvHas(storage::EdgeKvClientDocumentKey(ws.id, "prod")));
  EXPECT_TRUE(KvHas(storage::EdgeKvSdkKey(keys_[0].key_hash)));
  // Writable again, and the trail says what happened.
  EXPECT_TRUE(Put(ws, 3).ok());
  std::vector<std::string> actions = Actions(ws);
  ASSERT_GE(actions.size(), 3u);
  EXPECT_EQ(actions[0], "workspace.create");
  EXPECT_EQ(actions[actions.size() - 2], "workspace.delete");
  EXPECT_EQ(actions.back(), "workspace.restore");
  // A restore of a live workspace is refused.
  EXPECT_TRUE(absl::IsFailedPrecondition(service_->RestoreWorkspace(actor_, ws, "x", keys_).status()));
}

TEST_F(WorkspaceDeleteTest, PurgeTaskDestroysTheWorkspaceOnlyAfterTheGracePeriod) {
  storage::Workspace ws = Populated("shop");
  storage::Workspace other = Populated("keep");
  std::vector<storage::SdkKey> shop_keys = {keys_[0]};
  shop_keys[0].key_hash = std::string(64, 's');
  ASSERT_TRUE(service_->DeleteWorkspace(actor_, ws, "gone", absl::Hours(24 * 7), shop_keys).ok());
  const std::string file = dir_.path() + "/workspaces/" + ws.id + ".db";
  ASSERT_TRUE(env_.Exists(file));

  std::vector<std::string> purged;
  auto task = service_->SchedulePurge(
      absl::Minutes(1), [](const storage::Workspace&) { return absl::StatusOr<std::vector<storage::SdkKey>>(std::vector<storage::SdkKey>{}); },
      [&](const storage::Workspace& w, std::string_view) {
        purged.push_back(w.id);
        return absl::OkStatus();
      });
  env_.RunFor(absl::Hours(24 * 7) - absl::Minutes(2));
  EXPECT_TRUE(purged.empty());
  EXPECT_TRUE(env_.Exists(file));
  // Due now, but its audit events (create, delete, ...) have not reached the queue: it waits.
  env_.RunFor(absl::Minutes(5));
  EXPECT_TRUE(purged.empty());
  EXPECT_TRUE(env_.Exists(file));
  DrainAudit();
  env_.RunFor(absl::Minutes(2));
  ASSERT_EQ(purged, std::vector<std::string>{ws.id});
  EXPECT_FALSE(env_.Exists(file));
  EXPECT_FALSE(env_.Exists(file + "-wal"));
  EXPECT_TRUE(absl::IsNotFound(control_->GetWorkspaceById(ws.id).status()));
  EXPECT_TRUE(absl::IsNotFound(stores_->Open(ws.id).status()));
  EXPECT_TRUE(absl::IsNotFound(service_->GetWorkspace("org_1", "shop", true).status()));
  // The other workspace is untouched; the key is free again.
  EXPECT_TRUE(Put(other, 7).ok());
  EXPECT_TRUE(service_->CreateWorkspace(actor_, "shop", "Shop again").ok());
  env_.RunFor(absl::Minutes(2));
  EXPECT_EQ(purged.size(), 1u);
}

// A node stopped after the purge removed the control row and before it destroyed the
// store (unfinished_purges_ died with it): the next node's purge task destroys the
// leftover at its first run, and only it: not a live workspace whose row is missing, not a
// deleted one still in its grace period (until that ends), not a store without history.
TEST_F(WorkspaceDeleteTest, APurgeInterruptedAfterItsRowWasRemovedIsFinishedByTheNextStart) {
  storage::Workspace gone = Populated("gone");
  storage::Workspace live = Populated("live");
  storage::Workspace grace = Populated("grace");
  ASSERT_TRUE(service_->DeleteWorkspace(actor_, gone, "gone", absl::Hours(1), {}).ok());
  ASSERT_TRUE(service_->DeleteWorkspace(actor_, grace, "later", absl::Hours(48), {}).ok());
  env_.AdvanceBy(absl::Hours(2));
  // The interrupted purges: rows removed, data left. The live workspace's row goes
  // without any delete in its history (as with a wrong control DB).
  ASSERT_TRUE(control_->PurgeWorkspace("org_1", gone.id).ok());
  ASSERT_TRUE(control_->PurgeWorkspace("org_1", grace.id).ok());
  ASSERT_TRUE(control_->MarkWorkspaceDeleted("org_1", live.id, env_.Now(), env_.Now()).ok());
  ASSERT_TRUE(control_->PurgeWorkspace("org_1", live.id).ok());
  // A creation that failed before its row: a store with no history.
  ASSERT_TRUE(stores_->Create("ws_nohistory").ok());
  // The delete's edge-KV cleanup had failed too.
  const std::string doc = storage::EdgeKvDocumentKey(gone.id, "prod");
  ASSERT_TRUE(kv_->PutIfNewer(doc, "{}", 1).ok());
  const std::string dir = dir_.path() + "/workspaces/";

  // "Restart": a new service over the same stores, and its purge task.
  service_.reset();
  ServiceOptions so;
  so.stores = stores_.get();
  so.directory = control_.get();
  so.kv = kv_.get();
  so.env = &env_;
  absl::StatusOr<std::unique_ptr<Service>> restarted = Service::Create(so);
  ASSERT_TRUE(restarted.ok()) << restarted.status();
  service_ = std::move(*restarted);
  auto task = service_->SchedulePurge(
      absl::Minutes(1), [](const storage::Workspace&) { return absl::StatusOr<std::vector<storage::SdkKey>>(std::vector<storage::SdkKey>{}); },
      [](const storage::Workspace&, std::string_view) { return absl::OkStatus(); });
  env_.RunFor(absl::Minutes(2));
  EXPECT_FALSE(env_.Exists(dir + gone.id + ".db"));
  EXPECT_TRUE(absl::IsNotFound(stores_->Open(gone.id).status()));
  EXPECT_FALSE(KvHas(doc));
  EXPECT_TRUE(env_.Exists(dir + live.id + ".db"));
  EXPECT_TRUE(env_.Exists(dir + grace.id + ".db"));
  EXPECT_TRUE(env_.Exists(dir + "ws_nohistory.db"));

  // The grace period ends: the next hourly sweep takes that one too, and only it.
  env_.RunFor(absl::Hours(47));
  EXPECT_FALSE(env_.Exists(dir + grace.id + ".db"));
  EXPECT_TRUE(env_.Exists(dir + live.id + ".db"));
  EXPECT_TRUE(env_.Exists(dir + "ws_nohistory.db"));
  absl::StatusOr<int> again = service_->DestroyPurgedLeftovers();
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(*again, 0);
}

TEST_F(WorkspaceDeleteTest, PurgeRefusesALiveWorkspace) {
  storage::Workspace ws = Populated("shop");
  DrainAudit();
  int recorded = 0;
  absl::Status st = service_->PurgeWorkspace(ws, "now", keys_, [&](const storage::Workspace&, std::string_view) {
    ++recorded;
    return absl::OkStatus();
  });
  EXPECT_TRUE(absl::IsFailedPrecondition(st)) << st;
  EXPECT_EQ(recorded, 0);
  EXPECT_TRUE(Put(ws, 4).ok());
}

TEST_F(WorkspaceDeleteTest, OtherOrgCannotDeleteOrRestoreThroughTheDirectory) {
  storage::Workspace ws = Populated("shop");
  EXPECT_TRUE(absl::IsNotFound(control_->MarkWorkspaceDeleted("org_2", ws.id, env_.Now(), env_.Now()).status()));
  EXPECT_FALSE(control_->GetWorkspaceById(ws.id)->deleted());
  ASSERT_TRUE(service_->DeleteWorkspace(actor_, ws, "gone", absl::Hours(1), keys_).ok());
  EXPECT_TRUE(absl::IsNotFound(control_->RestoreWorkspace("org_2", ws.id).status()));
  EXPECT_TRUE(absl::IsNotFound(control_->PurgeWorkspace("org_2", ws.id)));
  EXPECT_TRUE(control_->GetWorkspaceById(ws.id)->deleted());
}

// Writers race a delete: once DeleteWorkspace has answered, no write succeeds, and every
// write that succeeded is in the history the delete left behind.
TEST_F(WorkspaceDeleteTest, NoWriteIsAcknowledgedAfterTheDeleteAnswered) {
  storage::Workspace ws = Populated("shop");
  std::atomic<bool> deleted{false}, stop{false};
  std::atomic<int> after_delete{0};
  std::vector<std::thread> writers;
  std::mutex mu;
  std::vector<int64_t> acked;
  for (int t = 0; t < 3; ++t) {
    writers.emplace_back([&, t] {
      for (int i = 0; !stop.load(); ++i) {
        const bool started_after = deleted.load();
        absl::StatusOr<int64_t> rev = Put(ws, t * 100000 + i + 10);
        if (!rev.ok()) continue;
        if (started_after) after_delete.fetch_add(1);
        std::lock_guard<std::mutex> lock(mu);
        acked.push_back(*rev);
      }
    });
  }
  // Let the writers get going (a condition, not a sleep).
  ASSERT_TRUE(base::testing::PollUntil([&] {
    std::lock_guard<std::mutex> lock(mu);
    return acked.size() >= 5;
  }));
  ASSERT_TRUE(service_->DeleteWorkspace(actor_, ws, "gone", absl::Hours(1), keys_).ok());
  deleted.store(true);
  absl::StatusOr<std::shared_ptr<storage::WorkspaceStore>> store = stores_->Open(ws.id);
  ASSERT_TRUE(store.ok());
  absl::StatusOr<int64_t> head_at_delete = (*store)->Head();
  ASSERT_TRUE(head_at_delete.ok());
  // Keep writing for a while after the delete answered.
  for (int i = 0; i < 200; ++i) EXPECT_FALSE(Put(ws, i).ok());
  stop.store(true);
  for (std::thread& w : writers) w.join();
  EXPECT_EQ(after_delete.load(), 0);
  EXPECT_EQ(*(*store)->Head(), *head_at_delete);
  for (int64_t rev : acked) EXPECT_LE(rev, *head_at_delete);
}

}  // namespace
}  // namespace edgevault::workspace
