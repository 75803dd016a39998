// The workspace service over real stores (SQLite per workspace, a SQLite control store,
// the LMDB edge KV) in a temporary directory. Fault-injecting wrappers stand in only for
// the one call a test makes fail.
#include "src/workspace/service.h"

#include <sys/resource.h>

#include <atomic>
#include <set>
#include <future>
#include <thread>

#include "gtest/gtest.h"
#include "src/audit/event.h"
#include "src/base/strings.h"
#include "src/base/testing/descriptors.h"
#include "src/base/testing/poll_until.h"
#include "src/base/testing/temp_dir.h"
#include "src/storage/lmdb/edge_kv_lmdb.h"
#include "src/storage/sqlite/control_store_sqlite.h"
#include "src/storage/sqlite/workspace_store_provider_sqlite.h"

namespace edgevault::workspace {
namespace {

namespace json = boost::json;
using storage::ItemKind;

// A WorkspaceStore that forwards to a real one; a test overrides what it makes fail.
class ForwardingStore : public storage::WorkspaceStore {
 public:
  explicit ForwardingStore(std::shared_ptr<storage::WorkspaceStore> real) : real_(std::move(real)) {}
  absl::StatusOr<std::string> WorkspaceId() override { return real_->WorkspaceId(); }
  absl::StatusOr<storage::CommitResult> Commit(const storage::CommitRequest& c) override { return real_->Commit(c); }
  absl::StatusOr<int64_t> Head() override { return real_->Head(); }
  absl::StatusOr<storage::Item> GetItem(ItemKind kind, std::string_view key) override {
    return real_->GetItem(kind, key);
  }
  absl::StatusOr<std::vector<storage::Item>> ListItems(ItemKind kind) override { return real_->ListItems(kind); }
  absl::StatusOr<int64_t> CountItems(ItemKind kind) override { return real_->CountItems(kind); }
  absl::StatusOr<std::vector<storage::Revision>> ListRevisions(int64_t after, int limit) override {
    return real_->ListRevisions(after, limit);
  }
  absl::StatusOr<storage::Revision> GetRevision(int64_t seq) override { return real_->GetRevision(seq); }
  absl::StatusOr<std::optional<std::string>> BodyAt(ItemKind kind, std::string_view key, int64_t seq) override {
    return real_->BodyAt(kind, key, seq);
  }
  absl::StatusOr<std::vector<std::pair<ItemKind, std::string>>> AllKeysEver() override {
    return real_->AllKeysEver();
  }
  absl::StatusOr<std::vector<storage::OutboxRow>> PendingOutbox(int limit) override {
    return real_->PendingOutbox(limit);
  }
  absl::StatusOr<std::vector<storage::OutboxRow>> PendingOutboxOfKind(std::string_view kind, int limit) override {
    return real_->PendingOutboxOfKind(kind, limit);
  }
  absl::Status MarkOutboxDone(int64_t id) override { return real_->MarkOutboxDone(id); }
  absl::Status MarkOutboxDoneMany(const std::vector<int64_t>& ids) override { return real_->MarkOutboxDoneMany(ids); }
  absl::Status RecordOutboxAttempt(int64_t id) override { return real_->RecordOutboxAttempt(id); }
  absl::StatusOr<int64_t> AppendActivity(const storage::Activity& a,
                                         const std::vector<storage::OutboxRow>& outbox) override {
    return real_->AppendActivity(a, outbox);
  }
  absl::StatusOr<std::vector<storage::Activity>> ListActivity(int64_t after, int limit) override {
    return real_->ListActivity(after, limit);
  }
  absl::StatusOr<storage::DataKeyRow> GetDataKey(std::string_view id) override { return real_->GetDataKey(id); }
  absl::StatusOr<std::vector<storage::DataKeyRow>> ListDataKeysNotUnder(std::string_view master_key_id,
                                                                       std::string_view after_id, int limit) override {
    return real_->ListDataKeysNotUnder(master_key_id, after_id, limit);
  }
  absl::StatusOr<int> ReplaceDataKeys(const std::vector<storage::DataKeyReplacement>& r) override {
    return real_->ReplaceDataKeys(r);
  }
  absl::StatusOr<int64_t> CountRows(std::string_view t) override { return real_->CountRows(t); }
  absl::StatusOr<std::vector<storage::TransferRow>> ExportRows(std::string_view t, int64_t offset,
                                                               int limit) override {
    return real_->ExportRows(t, offset, limit);
  }
  absl::StatusOr<int64_t> ImportRows(std::string_view t,
                                     const std::vector<storage::TransferRow>& rows) override {
    return real_->ImportRows(t, rows);
  }
  absl::StatusOr<std::map<std::string, int64_t>> CountDataKeysByMasterKey() override {
    return real_->CountDataKeysByMasterKey();
  }
  absl::StatusOr<std::vector<storage::OutboxRow>> PendingOutboxOfKindAfter(std::string_view kind, int64_t after,
                                                                            int limit) override {
    return real_->PendingOutboxOfKindAfter(kind, after, limit);
  }
  absl::StatusOr<int64_t> MarkOutboxOfKindDoneThrough(std::string_view kind, int64_t through) override {
    return real_->MarkOutboxOfKindDoneThrough(kind, through);
  }
  absl::StatusOr<std::vector<storage::WebhookRow>> ListWebhooks() override { return real_->ListWebhooks(); }
  absl::StatusOr<storage::WebhookRow> GetWebhook(std::string_view id) override { return real_->GetWebhook(id); }
  absl::StatusOr<storage::WebhookRow> CreateWebhook(const storage::WebhookRow& w,
                                                    const std::vector<storage::DataKeyRow>& keys,
                                                    const std::vector<storage::OutboxRow>& outbox) override {
    return real_->CreateWebhook(w, keys, outbox);
  }
  absl::Status UpdateWebhook(const storage::WebhookRow& w, bool clear_failing,
                             const std::vector<storage::DataKeyRow>& keys,
                             const std::vector<storage::OutboxRow>& outbox) override {
    return real_->UpdateWebhook(w, clear_failing, keys, outbox);
  }
  absl::Status DeleteWebhook(std::string_view id, const std::vector<storage::OutboxRow>& outbox) override {
    return real_->DeleteWebhook(id, outbox);
  }
  absl::Status SetWebhookDelivery(std::string_view id, int64_t cursor, bool failing,
                                  std::string_view last_error) override {
    return real_->SetWebhookDelivery(id, cursor, failing, last_error);
  }
  absl::StatusOr<absl::Duration> LeaseWebhook(std::string_view id, std::string_view holder,
                                              absl::Duration ttl) override {
    return real_->LeaseWebhook(id, holder, ttl);
  }
  absl::Status ReleaseWebhook(std::string_view id, std::string_view holder) override {
    return real_->ReleaseWebhook(id, holder);
  }
  absl::StatusOr<storage::ChangeRequest> WriteChangeRequest(const storage::ChangeRequestWrite& w) override {
    return real_->WriteChangeRequest(w);
  }
  absl::StatusOr<storage::ChangeRequest> GetChangeRequest(int64_t id) override { return real_->GetChangeRequest(id); }
  absl::StatusOr<std::vector<storage::ChangeRequest>> ListChangeRequests(int64_t before, int limit) override {
    return real_->ListChangeRequests(before, limit);
  }
  absl::StatusOr<std::vector<storage::ChangeRequest>> ListScheduledChangeRequests() override {
    return real_->ListScheduledChangeRequests();
  }
  absl::StatusOr<std::vector<storage::ChangeRequestReview>> ListChangeRequestReviews(int64_t id) override {
    return real_->ListChangeRequestReviews(id);
  }
  absl::StatusOr<std::vector<storage::ChangeRequestComment>> ListChangeRequestComments(int64_t id) override {
    return real_->ListChangeRequestComments(id);
  }

 private:
  std::shared_ptr<storage::WorkspaceStore> real_;
};

// Reading revisions fails after a commit, as a disk error or a busy database might.
class RevisionsUnreadableStore : public ForwardingStore {
 public:
  using ForwardingStore::ForwardingStore;
  absl::StatusOr<std::vector<storage::Revision>> ListRevisions(int64_t, int) override {
    return absl::UnavailableError("injected: revisions unreadable");
  }
};

// Hands out the real provider's stores, wrapped by `wrap` for the workspaces it names.
class WrappingProvider : public storage::WorkspaceStoreProvider {
 public:
  using Wrap = std::function<std::shared_ptr<storage::WorkspaceStore>(std::shared_ptr<storage::WorkspaceStore>)>;
  WrappingProvider(storage::WorkspaceStoreProvider* real, Wrap wrap) : real_(real), wrap_(std::move(wrap)) {}
  absl::StatusOr<std::shared_ptr<storage::WorkspaceStore>> Open(std::string_view id) override {
    EV_ASSIGN_OR_RETURN(auto s, real_->Open(id));
    return wrap_(std::move(s));
  }
  absl::StatusOr<std::shared_ptr<storage::WorkspaceStore>> Create(std::string_view id) override {
    EV_ASSIGN_OR_RETURN(auto s, real_->Create(id));
    return wrap_(std::move(s));
  }
  absl::StatusOr<std::vector<std::string>> List() override { return real_->List(); }
  absl::Status Destroy(std::string_view id) override { return real_->Destroy(id); }
  size_t OpenCount() override { return real_->OpenCount(); }

 private:
  storage::WorkspaceStoreProvider* real_;
  Wrap wrap_;
};

// An edge KV whose batch writes fail for keys containing `poison` (one broken workspace).
class PoisonedKv : public storage::EdgeKv {
 public:
  PoisonedKv(storage::EdgeKv* real, std::string poison) : real_(real), poison_(std::move(poison)) {}
  absl::StatusOr<bool> PutIfNewer(std::string_view key, std::string_view value, int64_t version) override {
    return real_->PutIfNewer(key, value, version);
  }
  absl::StatusOr<storage::KvEntry> Get(std::string_view key) override { return real_->Get(key); }
  absl::StatusOr<int64_t> GetVersion(std::string_view key) override { return real_->GetVersion(key); }
  absl::StatusOr<bool> DeleteIfNotNewer(std::string_view key, int64_t version) override {
    return real_->DeleteIfNotNewer(key, version);
  }
  absl::StatusOr<std::vector<std::string>> ListKeys(std::string_view prefix, int limit) override {
    return real_->ListKeys(prefix, limit);
  }
  absl::StatusOr<std::vector<bool>> PutManyIfNewer(const std::vector<storage::KvWrite>& writes) override {
    for (const auto& w : writes) {
      if (w.key.find(poison_) != std::string::npos) return absl::UnavailableError("injected: this workspace fails");
    }
    return real_->PutManyIfNewer(writes);
  }

 private:
  storage::EdgeKv* real_;
  std::string poison_;
};

using base::testing::OpenDescriptors;

class ServiceTest : public ::testing::Test {
 protected:
  // Everything lives under root() (a fresh temporary directory unless a test moved it).
  void Open(size_t max_open = 64, std::function<void(ServiceOptions&)> adjust = nullptr) {
    ASSERT_FALSE(root().empty());
    auto control = storage::OpenSqliteControlStore({root() + "/control.db", base::Env::Default()});
    ASSERT_TRUE(control.ok()) << control.status();
    control_ = std::move(*control);
    storage::Org org;
    org.id = "org_1";
    org.name = "default";
    org.entitlements.max_workspaces = 5000;
    org.created_at = absl::Now();
    ASSERT_TRUE(control_->CreateOrg(org).ok());
    auto kv = storage::OpenLmdbEdgeKv({.path = root() + "/edge"});
    ASSERT_TRUE(kv.ok()) << kv.status();
    kv_ = std::move(*kv);
    auto stores = storage::OpenSqliteWorkspaceStoreProvider(
        {.dir = root() + "/workspaces", .env = base::Env::Default(), .max_open = max_open});
    ASSERT_TRUE(stores.ok()) << stores.status();
    stores_ = std::move(*stores);
    ServiceOptions so;
    so.stores = stores_.get();
    so.directory = control_.get();
    so.kv = kv_.get();
    so.env = base::Env::Default();
    if (adjust) adjust(so);
    auto service = Service::Create(so);
    ASSERT_TRUE(service.ok()) << service.status();
    service_ = std::move(*service);
  }

  storage::Workspace NewWorkspace(const std::string& key) {
    absl::StatusOr<storage::Workspace> ws = service_->CreateWorkspace(actor_, key, key);
    EXPECT_TRUE(ws.ok()) << ws.status();
    for (json::object env : {json::object{{"key", "prod"}, {"name", "Prod"}, {"protected", true}},
                             json::object{{"key", "dev"}, {"name", "Dev"}, {"parent", "prod"}}}) {
      EXPECT_TRUE(service_->CreateEnvironment(actor_, *ws, env, "setup", std::nullopt).ok());
    }
    return *ws;
  }

  absl::StatusOr<int64_t> Put(const storage::Workspace& ws, const std::string& key, json::object values) {
    return service_->PutItem(actor_, ws, ItemKind::kConfig, key,
                             json::object{{"type", "integer"}, {"values", std::move(values)}}, "test",
                             std::nullopt, AllowAnyWrite());
  }

  // Polls the KV until doc/<ws>/<env> reaches `version` (a deadline only bounds a failure).
  bool KvReaches(const storage::Workspace& ws, const std::string& env, int64_t version) {
    return base::testing::PollUntil([&] {
      absl::StatusOr<int64_t> v = kv_->GetVersion(storage::EdgeKvDocumentKey(ws.id, env));
      return v.ok() && *v >= version;
    });
  }

  const std::string& root() const { return shm_ ? shm_->path() : dir_.path(); }

  base::testing::TempDir dir_{"ev-service"};
  std::unique_ptr<base::testing::TempDir> shm_;  // set before Open() to work on tmpfs
  Actor actor_{"user:usr_1", "org_1", "127.0.0.1", "req-1"};
  std::unique_ptr<storage::ControlStore> control_;
  std::unique_ptr<storage::EdgeKv> kv_;
  std::unique_ptr<storage::WorkspaceStoreProvider> stores_;
  std::unique_ptr<storage::WorkspaceStoreProvider> wrapper_;
  std::unique_ptr<storage::EdgeKv> kv_wrapper_;
  std::unique_ptr<Service> service_;
};

// Regression (issue 12 §6): after the commit was durable, a failure to list the new
// revisions answered "failed" and skipped propagation. Committed means succeeded.
TEST_F(ServiceTest, ACommittedWriteSucceedsEvenWhenReadingItBackFails) {
  std::atomic<bool> unreadable{false};
  Open(64, [&](ServiceOptions& so) {
    wrapper_ = std::make_unique<WrappingProvider>(so.stores, [&](std::shared_ptr<storage::WorkspaceStore> s) {
      return unreadable ? std::make_shared<RevisionsUnreadableStore>(std::move(s)) : s;
    });
    so.stores = wrapper_.get();
  });
  ASSERT_TRUE(service_->Start().ok());
  storage::Workspace ws = NewWorkspace("shop");
  std::vector<int64_t> seen;
  service_->Subscribe(ws.id, [&](const RevisionEvent& e) { seen.push_back(e.revision.seq); });
  unreadable = true;
  absl::StatusOr<int64_t> rev = Put(ws, "pool", {{"dev", 5}});
  ASSERT_TRUE(rev.ok()) << rev.status();
  unreadable = false;
  absl::StatusOr<storage::Item> item = service_->GetItem(ws, ItemKind::kConfig, "pool");
  ASSERT_TRUE(item.ok());
  EXPECT_EQ(item->revision, *rev);
  EXPECT_TRUE(KvReaches(ws, "dev", *rev));  // propagation ran from the outbox
  EXPECT_TRUE(seen.empty());                // subscribers catch up on reconnect
}

// Subscribe("") hears every workspace's revisions, each naming its workspace (the MCP
// server's resources/list_changed rides on it); a workspace subscriber hears only its own.
TEST_F(ServiceTest, AnEmptyWorkspaceIdSubscribesToEveryWorkspace) {
  Open();
  ASSERT_TRUE(service_->Start().ok());
  storage::Workspace shop = NewWorkspace("shop");
  storage::Workspace blog = NewWorkspace("blog");
  std::vector<std::string> all, only_shop;
  uint64_t id = service_->Subscribe("", [&](const RevisionEvent& e) { all.push_back(e.workspace_id + ":" + e.revision.key); });
  service_->Subscribe(shop.id, [&](const RevisionEvent& e) { only_shop.push_back(e.revision.key); });
  ASSERT_TRUE(Put(shop, "pool", {{"dev", 5}}).ok());
  ASSERT_TRUE(Put(blog, "theme", {{"dev", 1}}).ok());
  EXPECT_EQ(all, (std::vector<std::string>{shop.id + ":pool", blog.id + ":theme"}));
  EXPECT_EQ(only_shop, (std::vector<std::string>{"pool"}));
  service_->Unsubscribe(id);
  ASSERT_TRUE(Put(blog, "theme", {{"dev", 2}}).ok());
  EXPECT_EQ(all.size(), 2u);
}

// Regression (issue 12 §7): subscribers were called under the subscriber mutex with the
// workspace's write lock held, so one that subscribed, unsubscribed or wrote deadlocked.
TEST_F(ServiceTest, SubscribersMaySubscribeUnsubscribeAndWriteFromTheirCallback) {
  Open();
  storage::Workspace ws = NewWorkspace("shop");
  std::vector<int64_t> seen;
  std::vector<uint64_t> extra;
  std::atomic<int> nested_writes{0};
  uint64_t self = 0;
  self = service_->Subscribe(ws.id, [&](const RevisionEvent& e) {
    seen.push_back(e.revision.seq);
    extra.push_back(service_->Subscribe(ws.id, [](const RevisionEvent&) {}));
    service_->Unsubscribe(extra.back());
    if (e.revision.key == "first") {
      ++nested_writes;
      EXPECT_TRUE(Put(ws, "from-callback", {{"dev", 1}}).ok());
    }
  });
  auto done = std::async(std::launch::async, [&] { return Put(ws, "first", {{"dev", 1}}); });
  if (done.wait_for(std::chrono::seconds(30)) != std::future_status::ready) {
    ADD_FAILURE() << "a write whose subscriber calls back into the service never finished (deadlock)";
    std::_Exit(1);
  }
  ASSERT_TRUE(done.get().ok());
  EXPECT_EQ(nested_writes.load(), 1);
  ASSERT_EQ(seen.size(), 2u);  // its own revision, then the one its callback wrote
  EXPECT_LT(seen[0], seen[1]);
  service_->Unsubscribe(self);
}

// Revisions reach each subscriber once and in order, whatever the number of writers.
TEST_F(ServiceTest, SubscribersSeeEveryRevisionOnceInOrderUnderConcurrentWriters) {
  Open();
  storage::Workspace ws = NewWorkspace("shop");
  absl::StatusOr<int64_t> start = service_->Head(ws);
  ASSERT_TRUE(start.ok());
  std::mutex mu;
  std::vector<int64_t> seen;
  service_->Subscribe(ws.id, [&](const RevisionEvent& e) {
    std::lock_guard<std::mutex> lock(mu);
    seen.push_back(e.revision.seq);
  });
  std::vector<std::thread> writers;
  for (int t = 0; t < 4; ++t) {
    writers.emplace_back([&, t] {
      for (int i = 0; i < 25; ++i) {
        EXPECT_TRUE(Put(ws, base::StrCat("k", std::to_string(t)), {{"dev", i}}).ok());
      }
    });
  }
  for (auto& w : writers) w.join();
  std::lock_guard<std::mutex> lock(mu);
  ASSERT_EQ(seen.size(), 100u);
  for (size_t i = 0; i < seen.size(); ++i) EXPECT_EQ(seen[i], *start + 1 + static_cast<int64_t>(i));
}

// Regression (issue 12 §8): every workspace ever opened stayed open (three descriptors
// each), and the audit relay opened every workspace file every 200 ms. 2,000 workspaces
// under a descriptor limit of 256: every write, audit relay pass and propagation works.
TEST_F(ServiceTest, TwoThousandWorkspacesUnderADescriptorLimitOf256) {
  // On tmpfs when there is one: this test is about descriptors, not fsync.
  if (std::filesystem::is_directory("/dev/shm")) {
    shm_ = std::make_unique<base::testing::TempDir>("ev-service", "/dev/shm");
    if (shm_->path().empty()) shm_.reset();
  }
  struct rlimit old_limit {};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &old_limit), 0);
  struct rlimit low = old_limit;
  low.rlim_cur = 256;
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &low), 0);
  struct Restore {
    rlimit limit;
    ~Restore() { ::setrlimit(RLIMIT_NOFILE, &limit); }
  } restore{old_limit};

  Open(32);
  ASSERT_TRUE(service_->Start().ok());
  constexpr int kWorkspaces = 2000;
  std::vector<storage::Workspace> all;
  for (int i = 0; i < kWorkspaces; ++i) {
    absl::StatusOr<storage::Workspace> ws = service_->CreateWorkspace(actor_, base::StrCat("w", std::to_string(i)), "w");
    ASSERT_TRUE(ws.ok()) << i << ": " << ws.status();
    ASSERT_TRUE(service_->CreateEnvironment(actor_, *ws, json::object{{"key", "dev"}, {"name", "Dev"}}, "s", std::nullopt)
                    .ok())
        << i;
    all.push_back(*ws);
    ASSERT_LT(OpenDescriptors(), 256);
  }
  // The audit relay's job: drain every outbox.
  int relayed = 0;
  for (;;) {
    absl::StatusOr<std::vector<std::pair<std::string, std::string>>> batch = service_->PeekAuditOutbox(500);
    ASSERT_TRUE(batch.ok()) << batch.status();
    if (batch->empty()) break;
    std::vector<std::string> ids;
    for (const auto& [id, event] : *batch) ids.push_back(id);
    ASSERT_TRUE(service_->RemoveAuditOutbox(ids).ok());
    relayed += static_cast<int>(ids.size());
  }
  EXPECT_EQ(relayed, 2 * kWorkspaces);  // workspace.create and environment.create, each
  EXPECT_LE(stores_->OpenCount(), 32u);
  // With nothing new, a relay pass opens nothing.
  ASSERT_TRUE(service_->PeekAuditOutbox(500).ok());
  // Every workspace propagates, and reads back.
  for (int i = 0; i < kWorkspaces; i += 97) {
    absl::StatusOr<int64_t> rev = Put(all[static_cast<size_t>(i)], "k", {{"dev", i}});
    ASSERT_TRUE(rev.ok()) << rev.status();
    EXPECT_TRUE(KvReaches(all[static_cast<size_t>(i)], "dev", *rev)) << i;
  }
  EXPECT_LT(OpenDescriptors(), 256);
}

// Regression (issue 12 §9): the workspace limit was checked outside the create, so
// parallel creates all passed it.
TEST_F(ServiceTest, ParallelCreatesNeverExceedTheWorkspaceLimit) {
  Open();
  storage::Entitlements five;
  five.max_workspaces = 5;
  ASSERT_TRUE(control_->SetEntitlements("org_1", five).ok());
  std::atomic<int> created{0}, refused{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 16; ++t) {
    threads.emplace_back([&, t] {
      absl::StatusOr<storage::Workspace> ws = service_->CreateWorkspace(actor_, base::StrCat("p", std::to_string(t)), "p");
      if (ws.ok()) {
        ++created;
      } else {
        EXPECT_EQ(ws.status().code(), absl::StatusCode::kPermissionDenied) << ws.status();
        ++refused;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(created.load(), 5);
  EXPECT_EQ(refused.load(), 11);
  EXPECT_EQ(control_->ListWorkspaces("org_1")->size(), 5u);
}

// Deleting an environment races giving it a child (a reparent or a new environment under
// it) from another request: the writes are serialised, so either the child moved first and
// the delete is refused (it has children), or the delete went first and the child's write
// is refused (unknown parent). Never an environment whose parent is gone.
TEST_F(ServiceTest, ParallelDeleteAndReparentNeverLeaveAnOrphan) {
  Open();
  ASSERT_TRUE(service_->Start().ok());
  storage::Workspace ws = NewWorkspace("race");  // prod (protected) <- dev
  for (int round = 0; round < 12; ++round) {
    std::string doomed = "staging" + std::to_string(round);
    std::string child = "qa" + std::to_string(round);
    absl::Status made = service_->CreateEnvironment(actor_, ws, json::object{{"key", doomed}}, "setup", std::nullopt).status();
    ASSERT_TRUE(made.ok()) << made;
    made = service_->CreateEnvironment(actor_, ws, json::object{{"key", child}, {"parent", "dev"}}, "setup", std::nullopt)
               .status();
    ASSERT_TRUE(made.ok()) << made;
    std::string born = "new" + std::to_string(round);
    std::promise<void> go;
    std::shared_future<void> start = go.get_future().share();
    auto del = std::async(std::launch::async, [&] {
      start.wait();
      return service_->DeleteEnvironment(actor_, ws, doomed, {}, "retire", std::nullopt).status();
    });
    auto move = std::async(std::launch::async, [&] {
      start.wait();
      return service_->UpdateEnvironment(actor_, ws, child, json::object{{"parent", doomed}}, "move", std::nullopt)
          .status();
    });
    auto create = std::async(std::launch::async, [&] {
      start.wait();
      return service_->CreateEnvironment(actor_, ws, json::object{{"key", born}, {"parent", doomed}}, "add",
                                         std::nullopt)
          .status();
    });
    go.set_value();
    absl::Status d = del.get(), m = move.get(), c = create.get();
    if (d.ok()) {
      EXPECT_EQ(m.code(), absl::StatusCode::kInvalidArgument) << m;
      EXPECT_EQ(c.code(), absl::StatusCode::kInvalidArgument) << c;
    } else {
      EXPECT_EQ(d.code(), absl::StatusCode::kFailedPrecondition) << d;
      EXPECT_TRUE(m.ok() || c.ok()) << m << " / " << c;
    }
    absl::StatusOr<std::vector<storage::Item>> envs = service_->ListEnvironments(ws);
    ASSERT_TRUE(envs.ok()) << envs.status();
    std::set<std::string> keys;
    for (const storage::Item& e : *envs) keys.insert(e.key);
    for (const storage::Item& e : *envs) {
      json::value body = json::parse(e.body);
      const json::value* parent = body.as_object().if_contains("parent");
      if (parent != nullptr && parent->is_string()) {
        EXPECT_TRUE(keys.contains(std::string(parent->as_string()))) << e.key << " has a deleted parent: " << e.body;
      }
    }
    // Leave room under the plan's environment limit for the next round.
    for (const std::string& e : {child, born, doomed}) {
      if (keys.contains(e)) {
        absl::Status gone = service_->DeleteEnvironment(actor_, ws, e, {}, "cleanup", std::nullopt).status();
        ASSERT_TRUE(gone.ok()) << e << ": " << gone;
      }
    }
  }
}

// Regression (issue 12 §9): one workspace whose propagation failed put the single
// propagation thread to sleep for every other workspace.
TEST_F(ServiceTest, OneFailingWorkspaceDoesNotHoldUpTheOthers) {
  Open();
  storage::Workspace broken = NewWorkspace("broken");
  storage::Workspace healthy = NewWorkspace("healthy");
  // A service whose KV refuses every write of `broken`, with a retry far in the future:
  // a propagation thread that slept on it would never come back within the test.
  kv_wrapper_ = std::make_unique<PoisonedKv>(kv_.get(), broken.id);
  service_.reset();
  ServiceOptions so;
  so.stores = stores_.get();
  so.directory = control_.get();
  so.kv = kv_wrapper_.get();
  so.env = base::Env::Default();
  so.propagation_retry = absl::Hours(1);
  so.propagation_retry_max = absl::Hours(1);
  service_ = *Service::Create(so);
  ASSERT_TRUE(service_->Start().ok());
  ASSERT_TRUE(Put(broken, "a", {{"dev", 1}}).ok());
  for (int i = 0; i < 3; ++i) {
    absl::StatusOr<int64_t> rev = Put(healthy, "a", {{"dev", i}});
    ASSERT_TRUE(rev.ok());
    EXPECT_TRUE(KvReaches(healthy, "dev", *rev)) << i;
  }
  EXPECT_FALSE(kv_->GetVersion(storage::EdgeKvDocumentKey(broken.id, "dev")).ok());
  service_->Stop();  // returns promptly although a retry is an hour away
}

// Regression (issue 12 §14): a stored body that cannot be resolved (here `Infinity`,
// which older builds let in) stopped the workspace's propagation, so a bad write to dev
// froze what prod served. Now that item is left out and reported; the rest propagates.
TEST_F(ServiceTest, AnUnresolvableItemIsReportedAndTheRestPropagates) {
  std::vector<std::string> reported;
  std::mutex mu;
  Open(64, [&](ServiceOptions& so) {
    so.on_problem = [&](const std::string&, const ResolveProblem& p) {
      std::lock_guard<std::mutex> lock(mu);
      reported.push_back(p.key);
    };
  });
  ASSERT_TRUE(service_->Start().ok());
  storage::Workspace ws = NewWorkspace("shop");
  {
    absl::StatusOr<std::shared_ptr<storage::WorkspaceStore>> store = stores_->Open(ws.id);
    ASSERT_TRUE(store.ok());
    storage::CommitRequest c;
    c.actor = "user:old";
    c.reason = "written by an older build";
    c.op = "create";
    c.time = absl::Now();
    c.mutations.push_back({ItemKind::kConfig, "huge", R"({"type":"number","schema":null,"values":{"dev":Infinity}})", ""});
    ASSERT_TRUE((*store)->Commit(c).ok());
  }
  absl::StatusOr<int64_t> rev = Put(ws, "pool", {{"prod", 10}});
  ASSERT_TRUE(rev.ok()) << rev.status();
  ASSERT_TRUE(KvReaches(ws, "prod", *rev));
  absl::StatusOr<storage::KvEntry> doc = kv_->Get(storage::EdgeKvDocumentKey(ws.id, "dev"));
  ASSERT_TRUE(doc.ok());
  EXPECT_NE(doc->value.find("\"pool\""), std::string::npos) << doc->value;
  EXPECT_EQ(doc->value.find("\"huge\""), std::string::npos) << doc->value;
  std::lock_guard<std::mutex> lock(mu);
  EXPECT_FALSE(reported.empty());
  for (const auto& k : reported) EXPECT_EQ(k, "huge");
}

// Regression (issue 12 §21): audit events carried empty `target` and `environment`.
TEST_F(ServiceTest, AuditEventsNameTheirTargetAndEnvironments) {
  Open();
  storage::Workspace ws = NewWorkspace("shop");
  ASSERT_TRUE(Put(ws, "pool", {{"dev", 5}}).ok());
  ASSERT_TRUE(Put(ws, "limit", {{"prod", 1}}).ok());
  ASSERT_TRUE(service_->RecordActivity(actor_, ws, "workspace.sdk_key.create", {{"environment", "dev"}}, "dev",
                                       "sdk_key:sdk_1")
                  .ok());
  absl::StatusOr<std::vector<std::pair<std::string, std::string>>> rows = service_->PeekAuditOutbox(100);
  ASSERT_TRUE(rows.ok());
  std::map<std::string, audit::AuditEvent> by_target;
  for (const auto& [id, text] : *rows) {
    absl::StatusOr<audit::AuditEvent> e = audit::ParseAuditEvent(text);
    ASSERT_TRUE(e.ok()) << e.status() << text;
    by_target[e->target] = *e;
  }
  ASSERT_TRUE(by_target.contains("config:pool"));
  EXPECT_EQ(by_target["config:pool"].environment, "dev");
  ASSERT_TRUE(by_target.contains("config:limit"));
  EXPECT_EQ(by_target["config:limit"].environment, "dev,prod");  // dev inherits prod's value
  ASSERT_TRUE(by_target.contains("environment:dev"));
  ASSERT_TRUE(by_target.contains("sdk_key:sdk_1"));
  EXPECT_EQ(by_target["sdk_key:sdk_1"].environment, "dev");
}

// The write authorizer sees the effect under the lock and its refusal changes nothing.
TEST_F(ServiceTest, ARefusedWriteChangesNothing) {
  Open();
  storage::Workspace ws = NewWorkspace("shop");
  ASSERT_TRUE(Put(ws, "pool", {{"prod", 1}, {"dev", 1}}).ok());
  int64_t head = *service_->Head(ws);
  WriteEffect seen;
  absl::StatusOr<int64_t> refused = service_->PutItem(
      actor_, ws, ItemKind::kConfig, "pool",
      json::object{{"type", "integer"}, {"values", {{"prod", 2}, {"dev", 1}}}}, "x", std::nullopt,
      [&](const WriteEffect& e) {
        seen = e;
        return absl::PermissionDeniedError("no");
      });
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(seen.environments, std::set<std::string>{"prod"});  // dev has its own value
  EXPECT_EQ(seen.protected_environments, std::set<std::string>{"prod"});
  EXPECT_EQ(*service_->Head(ws), head);
}

// An environment change is one revision (none when nothing changes); undoing it, by revert
// or rollback, shows the authorizer the environment in `environment_settings`, and a
// refusal changes nothing.
TEST_F(ServiceTest, EnvironmentUpdatesAreRevisionsWhoseUndoIsAuthorizedAsSuch) {
  Open();
  storage::Workspace ws = NewWorkspace("shop");
  int64_t head = *service_->Head(ws);
  absl::StatusOr<int64_t> renamed =
      service_->UpdateEnvironment(actor_, ws, "dev", json::object{{"name", "Development"}}, "rename", head);
  ASSERT_TRUE(renamed.ok()) << renamed.status();
  EXPECT_EQ(*renamed, head + 1);
  EXPECT_EQ(*service_->UpdateEnvironment(actor_, ws, "dev", json::object{{"name", "Development"}}, "again", std::nullopt),
            head + 1);
  EXPECT_EQ(service_->UpdateEnvironment(actor_, ws, "qa", json::object{{"name", "QA"}}, "x", std::nullopt).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(service_->UpdateEnvironment(actor_, ws, "dev", json::object{{"name", "D"}}, "x", head).status().code(),
            absl::StatusCode::kAborted);
  ASSERT_TRUE(service_->UpdateEnvironment(actor_, ws, "dev", json::object{{"protected", true}}, "freeze", std::nullopt).ok());
  int64_t protect_rev = *service_->Head(ws);
  EXPECT_TRUE(*service_->IsProtected(ws, "dev"));

  WriteEffect seen;
  auto refuse = [&](const WriteEffect& e) {
    seen = e;
    return absl::PermissionDeniedError("no");
  };
  EXPECT_EQ(service_->Revert(actor_, ws, protect_rev, "undo", std::nullopt, refuse).status().code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(seen.environment_settings, std::set<std::string>{"dev"});
  EXPECT_TRUE(*service_->IsProtected(ws, "dev"));
  seen = {};
  EXPECT_EQ(service_->Rollback(actor_, ws, head, "undo", std::nullopt, refuse).status().code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(seen.environment_settings, std::set<std::string>{"dev"});
  EXPECT_EQ(*service_->Head(ws), protect_rev);

  ASSERT_TRUE(service_->Revert(actor_, ws, protect_rev, "undo", std::nullopt, AllowAnyWrite()).ok());
  EXPECT_FALSE(*service_->IsProtected(ws, "dev"));
  ASSERT_TRUE(service_->Rollback(actor_, ws, head, "undo", std::nullopt, AllowAnyWrite()).ok());
  absl::StatusOr<storage::Item> dev = service_->GetItem(ws, ItemKind::kEnvironment, "dev");
  ASSERT_TRUE(dev.ok());
  EXPECT_EQ(dev->body, R"({"key":"dev","name":"Dev","parent":"prod","protected":false})");
  // The creation of an environment is not undone.
  EXPECT_EQ(service_->Revert(actor_, ws, 1, "x", std::nullopt, AllowAnyWrite()).status().code(),
            absl::StatusCode::kFailedPrecondition);
  // Reverting a rename gives the old name back and keeps a later change of protection.
  ASSERT_TRUE(service_->UpdateEnvironment(actor_, ws, "dev", json::object{{"name", "Sandbox"}}, "r", std::nullopt).ok());
  int64_t rename_rev = *service_->Head(ws);
  ASSERT_TRUE(service_->UpdateEnvironment(actor_, ws, "dev", json::object{{"protected", true}}, "p", std::nullopt).ok());
  ASSERT_TRUE(service_->Revert(actor_, ws, rename_rev, "undo rename", std::nullopt, AllowAnyWrite()).ok());
  dev = service_->GetItem(ws, ItemKind::kEnvironment, "dev");
  ASSERT_TRUE(dev.ok());
  EXPECT_EQ(dev->body, R"({"key":"dev","name":"Dev","parent":"prod","protected":true})");
}

// Issue 17: an environment's parent can change (never into a cycle), and an environment can
// be deleted: with its values, its document leaving the edge KV, its children given a new
// parent only when the caller says which.
TEST_F(ServiceTest, EnvironmentsCanBeReparentedAndDeleted) {
  Open();
  ASSERT_TRUE(service_->Start().ok());
  storage::Workspace ws = NewWorkspace("shop");  // prod (protected) <- dev
  for (json::object env : {json::object{{"key", "qa"}, {"parent", "dev"}}, json::object{{"key", "staging"}}}) {
    ASSERT_TRUE(service_->CreateEnvironment(actor_, ws, env, "setup", std::nullopt).ok());
  }
  ASSERT_TRUE(Put(ws, "pool", {{"prod", 10}, {"dev", 20}, {"qa", 30}}).ok());
  absl::StatusOr<int64_t> rev = Put(ws, "only.prod", {{"prod", 1}});
  ASSERT_TRUE(rev.ok()) << rev.status();
  ASSERT_TRUE(KvReaches(ws, "dev", *rev));
  EXPECT_NE(service_->Resolve(ws, "qa")->find("\"only.prod\""), std::string::npos);

  // A cycle is refused and changes nothing.
  int64_t head = *service_->Head(ws);
  absl::Status cycle = service_->UpdateEnvironment(actor_, ws, "dev", json::object{{"parent", "qa"}}, "loop",
                                                   std::nullopt).status();
  EXPECT_EQ(cycle.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(cycle.message().find("cycle"), std::string_view::npos) << cycle;
  EXPECT_EQ(service_->UpdateEnvironment(actor_, ws, "qa", json::object{{"parent", "nope"}}, "x", std::nullopt)
                .status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(*service_->Head(ws), head);

  // Deleting refuses a protected environment and one with children (naming them).
  absl::Status st = service_->DeleteEnvironment(actor_, ws, "prod", {}, "x", std::nullopt).status();
  EXPECT_EQ(st.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(st.message().find("unprotect"), std::string_view::npos) << st;
  st = service_->DeleteEnvironment(actor_, ws, "dev", {}, "x", std::nullopt).status();
  EXPECT_EQ(st.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(st.message().find("\"qa\""), std::string_view::npos) << st;
  EXPECT_EQ(service_->DeleteEnvironment(actor_, ws, "dev", {.reparent_children_to = "qa"}, "x", std::nullopt)
                .status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(service_->DeleteEnvironment(actor_, ws, "dev", {.reparent_children_to = "nope"}, "x", std::nullopt)
                .status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(service_->DeleteEnvironment(actor_, ws, "nope", {}, "x", std::nullopt).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(*service_->Head(ws), head);

  // Another parent: qa stops inheriting prod's values.
  ASSERT_TRUE(service_->UpdateEnvironment(actor_, ws, "qa", json::object{{"parent", "staging"}}, "move", std::nullopt).ok());
  int64_t moved = *service_->Head(ws);
  EXPECT_EQ(service_->Resolve(ws, "qa")->find("\"only.prod\""), std::string::npos);
  ASSERT_TRUE(KvReaches(ws, "qa", moved));
  EXPECT_EQ(kv_->Get(storage::EdgeKvDocumentKey(ws.id, "qa"))->value.find("\"only.prod\""), std::string::npos);

  ASSERT_TRUE(kv_->GetVersion(storage::EdgeKvClientDocumentKey(ws.id, "dev")).ok());  // there to be removed
  // dev has no children now: it goes, with its value of pool; its document leaves the KV.
  absl::StatusOr<int64_t> deleted = service_->DeleteEnvironment(actor_, ws, "dev", {}, "retire dev", std::nullopt);
  ASSERT_TRUE(deleted.ok()) << deleted.status();
  EXPECT_FALSE(service_->GetItem(ws, ItemKind::kEnvironment, "dev").ok());
  EXPECT_EQ(service_->GetItem(ws, ItemKind::kConfig, "pool")->body.find("\"dev\""), std::string::npos);
  // Its client document (what client keys read) goes too.
  EXPECT_TRUE(base::testing::PollUntil([&] {
    return absl::IsNotFound(kv_->GetVersion(storage::EdgeKvDocumentKey(ws.id, "dev")).status()) &&
           absl::IsNotFound(kv_->GetVersion(storage::EdgeKvClientDocumentKey(ws.id, "dev")).status());
  }));
  // Its deletion is not undone by revert (it says what to do instead).
  absl::StatusOr<std::vector<storage::Revision>> revs = service_->ListRevisions(ws, moved, 10);
  ASSERT_TRUE(revs.ok());
  int64_t env_rev = 0;
  for (const auto& r : *revs) {
    if (r.kind == ItemKind::kEnvironment) env_rev = r.seq;
  }
  ASSERT_GT(env_rev, 0);
  st = service_->Revert(actor_, ws, env_rev, "undo", std::nullopt, AllowAnyWrite()).status();
  EXPECT_EQ(st.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(st.message().find("env create"), std::string_view::npos) << st;

  // Children can be told where to go: "" makes them roots.
  ASSERT_TRUE(service_->DeleteEnvironment(actor_, ws, "staging", {.reparent_children_to = ""}, "x", std::nullopt).ok());
  EXPECT_EQ(service_->GetItem(ws, ItemKind::kEnvironment, "qa")->body,
            R"({"key":"qa","name":"qa","parent":null,"protected":false})");
}

}  // namespace
}  // namespace edgevault::workspace

namespace edgevault::workspace {
namespace {

std::unique_ptr<crypto::KeyringHolder> OneKeyHolder() {
  crypto::Keyring k;
  EXPECT_TRUE(k.Add("m1", crypto::SecureBuffer(std::string(32, '\x42'))).ok());
  return std::make_unique<crypto::KeyringHolder>(std::move(k));
}

// Webhook events (docs/design/webhooks.md) are outbox rows of the commit itself: a refused
// write leaves none, a workspace without webhooks gets none, and a secret's event names
// its key and environments but never its value.
TEST_F(ServiceTest, WebhookEventsAreWrittenWithTheirCommitOnly) {
  std::unique_ptr<crypto::KeyringHolder> keyring = OneKeyHolder();
  std::vector<std::string> woken;
  Open(64, [&](ServiceOptions& so) {
    so.keyring = keyring.get();
    so.on_webhook_events = [&](const std::string& id) { woken.push_back(id); };
  });
  storage::Workspace ws = NewWorkspace("hooks");
  auto store = stores_->Open(ws.id);
  ASSERT_TRUE(store.ok());
  ASSERT_TRUE(Put(ws, "a", {{"prod", 1}}).ok());
  auto rows = (*store)->PendingOutboxOfKind(kWebhookOutboxKind, 100);
  ASSERT_TRUE(rows.ok());
  EXPECT_TRUE(rows->empty());  // no webhook, no event rows
  EXPECT_TRUE(woken.empty());

  absl::StatusOr<WebhookWithSecret> hook =
      service_->CreateWebhook(actor_, ws, json::object{{"url", "http://127.0.0.1:9/h"}, {"events", "*"}});
  ASSERT_TRUE(hook.ok()) << hook.status();
  EXPECT_EQ(hook->secret.rfind("whsec_", 0), 0u);
  absl::StatusOr<crypto::SecureBuffer> opened = service_->OpenWebhookSecret(ws.id, hook->row);
  ASSERT_TRUE(opened.ok()) << opened.status();
  EXPECT_EQ(std::string(opened->view()), hook->secret);
  EXPECT_EQ(hook->row.secret.find(hook->secret), std::string::npos);  // stored sealed

  // A refused write (stale If-Match) writes no event.
  absl::StatusOr<int64_t> head = service_->Head(ws);
  ASSERT_TRUE(head.ok());
  EXPECT_FALSE(service_->PutItem(actor_, ws, ItemKind::kConfig, "a",
                                 json::object{{"type", "integer"}, {"values", {{"prod", 2}}}}, "stale", *head - 1,
                                 AllowAnyWrite())
                   .ok());
  rows = (*store)->PendingOutboxOfKind(kWebhookOutboxKind, 100);
  ASSERT_TRUE(rows.ok());
  EXPECT_TRUE(rows->empty());

  absl::StatusOr<int64_t> written = service_->PutSecret(
      actor_, ws, "db.password", json::object{{"values", {{"dev", "PLAINTEXT-VALUE-123"}}}}, "set", std::nullopt,
      AllowAnyWrite());
  ASSERT_TRUE(written.ok()) << written.status();
  rows = (*store)->PendingOutboxOfKind(kWebhookOutboxKind, 100);
  ASSERT_TRUE(rows.ok());
  ASSERT_EQ(rows->size(), 1u);
  EXPECT_EQ(rows->front().payload.find("PLAINTEXT-VALUE-123"), std::string::npos);
  EXPECT_EQ(rows->front().payload.find("envelope"), std::string::npos);
  json::value event = json::parse(rows->front().payload);
  EXPECT_EQ(event.at("type").as_string(), "revision.written");
  EXPECT_EQ(event.at("data").at("first_revision").as_int64(), *written);
  EXPECT_EQ(event.at("data").at("revisions").at(0).at("key").as_string(), "db.password");
  EXPECT_EQ(json::serialize(event.at("data").at("environments")), R"(["dev"])");
  EXPECT_EQ(woken, std::vector<std::string>{ws.id});
}

TEST_F(ServiceTest, WebhooksNeedTheMasterKey) {
  Open();
  storage::Workspace ws = NewWorkspace("nokeys");
  absl::StatusOr<WebhookWithSecret> hook =
      service_->CreateWebhook(actor_, ws, json::object{{"url", "http://127.0.0.1:9/h"}, {"events", "*"}});
  EXPECT_TRUE(absl::IsFailedPrecondition(hook.status())) << hook.status();
  auto listed = service_->ListWebhooks(ws);
  ASSERT_TRUE(listed.ok());
  EXPECT_TRUE(listed->empty());
}

}  // namespace
}  // namespace edgevault::workspace

namespace edgevault::workspace {
namespace {

// Issue 19: propagation writes each environment's client document (client-visible items
// only) beside the full one, and publishing a client key writes it at once (a KV last
// propagated by an older build has none).
TEST_F(ServiceTest, PropagationAndClientKeysWriteTheClientDocument) {
  Open();
  ASSERT_TRUE(service_->Start().ok());
  storage::Workspace ws = NewWorkspace("shop");
  absl::StatusOr<int64_t> hidden = Put(ws, "pool", {{"prod", 10}});
  ASSERT_TRUE(hidden.ok()) << hidden.status();
  absl::StatusOr<int64_t> shown =
      service_->PutItem(actor_, ws, ItemKind::kConfig, "theme",
                        json::object{{"type", "string"}, {"client_visible", true}, {"values", {{"prod", "dark"}}}},
                        "test", std::nullopt, AllowAnyWrite());
  ASSERT_TRUE(shown.ok()) << shown.status();
  ASSERT_TRUE(KvReaches(ws, "dev", *shown));
  absl::StatusOr<storage::KvEntry> client = kv_->Get(storage::EdgeKvClientDocumentKey(ws.id, "dev"));
  ASSERT_TRUE(client.ok()) << client.status();
  EXPECT_EQ(client->version, *shown);
  EXPECT_NE(client->value.find(R"("audience":"client")"), std::string::npos) << client->value;
  EXPECT_NE(client->value.find("\"theme\""), std::string::npos) << client->value;
  EXPECT_EQ(client->value.find("\"pool\""), std::string::npos) << client->value;

  // As if an older build had propagated: no client document; a new client key writes it.
  ASSERT_TRUE(kv_->DeleteIfNotNewer(storage::EdgeKvClientDocumentKey(ws.id, "prod"), *shown).ok());
  ASSERT_TRUE(service_->PublishSdkKey("hash_1", ws, "prod", storage::SdkKeyKind::kClient, {"https://app.example"}).ok());
  client = kv_->Get(storage::EdgeKvClientDocumentKey(ws.id, "prod"));
  ASSERT_TRUE(client.ok()) << client.status();
  EXPECT_EQ(client->version, *shown);
  EXPECT_NE(client->value.find("\"theme\""), std::string::npos);
  absl::StatusOr<storage::KvEntry> binding = kv_->Get(storage::EdgeKvSdkKey("hash_1"));
  ASSERT_TRUE(binding.ok());
  EXPECT_EQ(binding->value,
            R"({"org_id":")" + ws.org_id + R"(","workspace_id":")" + ws.id +
                R"(","environment":"prod","kind":"client","origins":["https://app.example"]})");
}

}  // namespace
}  // namespace edgevault::workspace
