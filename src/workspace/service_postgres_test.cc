// Two api nodes on one PostgreSQL workspace store: two workspace::Service instances, each
// with its own connection pool (its write lock covers only its own "process"), writing
// the same workspace. A write reads and validates under its own lock, so another node may
// commit in between; these tests make that happen deterministically from inside the
// first write's authorizer (called after validation, before the commit) and check that
// exactly one of two conflicting writes wins. Without the head check at commit time the
// loser commits on stale state (regression: issue 15, cross-node stale check).
#include <atomic>
#include <memory>
#include <mutex>
#include <vector>

#include "gtest/gtest.h"
#include "src/base/status.h"
#include "src/base/testing/poll_until.h"
#include "src/base/testing/temp_dir.h"
#include "src/storage/lmdb/edge_kv_lmdb.h"
#include "src/storage/postgres/postgres_test_server.h"
#include "src/storage/postgres/workspace_store_postgres.h"
#include "src/storage/sqlite/control_store_sqlite.h"
#include "src/workspace/service.h"

namespace edgevault::workspace {
namespace {

namespace json = boost::json;
using storage::ItemKind;

json::object Obj(std::string_view text) { return json::parse(text).as_object(); }

constexpr char kBoolFlag[] = R"({"variations":[{"value":false},{"value":true}],
    "environments":{"prod":{"on":true,"fallthrough":{"variation":1}}}})";
constexpr char kNeedsBilling[] = R"({"variations":[{"value":false},{"value":true}],
    "environments":{"prod":{"on":true,"fallthrough":{"variation":1},
                            "prerequisites":[{"flag":"billing","variation":1}]}}})";

class TwoNodeServiceTest : public ::testing::Test {
 protected:
  // Node C: B's stores, re-checking another node's outbox at once; nullptr on failure.
  std::unique_ptr<Service> StartedThirdNode() {
    ServiceOptions so;
    so.stores = stores_[1].get();
    so.directory = control_.get();
    so.kv = kv_.get();
    so.env = base::Env::Default();
    so.outbox_recheck_delay = absl::ZeroDuration();
    auto created = Service::Create(so);
    EXPECT_TRUE(created.ok()) << created.status();
    if (!created.ok() || !(*created)->Start().ok()) return nullptr;
    return std::move(*created);
  }
  void SetUp() override {
    url_ = storage::NewPostgresTestDatabase();
    ASSERT_FALSE(url_.empty());
    auto control = storage::OpenSqliteControlStore({dir_.path() + "/control.db", base::Env::Default()});
    ASSERT_TRUE(control.ok()) << control.status();
    control_ = std::move(*control);
    storage::Org org;
    org.id = "org_1";
    org.name = "default";
    org.created_at = absl::Now();
    ASSERT_TRUE(control_->CreateOrg(org).ok());
    auto kv = storage::OpenLmdbEdgeKv({.path = dir_.path() + "/edge"});
    ASSERT_TRUE(kv.ok()) << kv.status();
    kv_ = std::move(*kv);
    for (int n = 0; n < 2; ++n) {
      auto stores = storage::OpenPostgresWorkspaceStoreProvider(
          {.url = url_, .env = base::Env::Default(), .max_connections = 4});
      ASSERT_TRUE(stores.ok()) << stores.status();
      stores_[n] = std::move(*stores);
      ServiceOptions so;
      so.stores = stores_[n].get();
      so.directory = control_.get();
      so.kv = kv_.get();
      so.env = base::Env::Default();
      auto service = Service::Create(so);
      ASSERT_TRUE(service.ok()) << service.status();
      node_[n] = std::move(*service);
    }
    absl::StatusOr<storage::Workspace> ws = node_[0]->CreateWorkspace(actor_, "shop", "Shop");
    ASSERT_TRUE(ws.ok()) << ws.status();
    ws_ = *ws;
    ASSERT_TRUE(node_[0]->CreateEnvironment(actor_, ws_, {{"key", "prod"}, {"name", "Prod"}}, "setup",
                                            std::nullopt)
                    .ok());
  }
  void TearDown() override {
    // Stores first (they hold pooled connections into a database the next test drops).
    for (auto& n : node_) n.reset();
    for (auto& s : stores_) s.reset();
  }

  absl::StatusOr<int64_t> PutConfig(Service& node, const std::string& key, int value,
                                    std::optional<int64_t> if_match, const WriteAuthorizer& authorize) {
    return node.PutItem(actor_, ws_, ItemKind::kConfig, key,
                        json::object{{"type", "integer"}, {"values", json::object{{"prod", value}}}}, "test",
                        if_match, authorize);
  }

  // An authorizer that, the first time it is called, lets `other` happen (another node's
  // write, committed between this write's validation and its commit).
  static WriteAuthorizer InterleaveOnce(std::function<void()> other, std::atomic<int>* calls) {
    return [other = std::move(other), calls](const WriteEffect&) {
      if (calls->fetch_add(1) == 0) other();
      return absl::OkStatus();
    };
  }

  base::testing::TempDir dir_{"ev-service-pg"};
  std::string url_;
  Actor actor_{"user:usr_1", "org_1", "127.0.0.1", "req-1"};
  std::unique_ptr<storage::ControlStore> control_;
  std::unique_ptr<storage::EdgeKv> kv_;
  std::unique_ptr<storage::WorkspaceStoreProvider> stores_[2];
  std::unique_ptr<Service> node_[2];
  storage::Workspace ws_;
};

// The org's item limit is checked against the item count read under node A's lock; node B
// adds the last item that fits before A commits. A must re-check and be refused.
TEST_F(TwoNodeServiceTest, TheItemLimitHoldsWhenTwoNodesAddTheLastItemAtOnce) {
  storage::Entitlements one_item;
  one_item.max_items = 1;
  ASSERT_TRUE(control_->SetEntitlements("org_1", one_item).ok());
  absl::StatusOr<int64_t> b_wrote;
  std::atomic<int> calls{0};
  absl::StatusOr<int64_t> a_wrote = PutConfig(
      *node_[0], "a", 1, std::nullopt,
      InterleaveOnce([&] { b_wrote = PutConfig(*node_[1], "b", 2, std::nullopt, AllowAnyWrite()); }, &calls));
  ASSERT_TRUE(b_wrote.ok()) << b_wrote.status();
  ASSERT_FALSE(a_wrote.ok()) << "node A committed on a stale item count";
  EXPECT_EQ(a_wrote.status().code(), absl::StatusCode::kPermissionDenied) << a_wrote.status();
  absl::StatusOr<std::vector<storage::Item>> items = node_[1]->ListItems(ws_, ItemKind::kConfig);
  ASSERT_TRUE(items.ok());
  ASSERT_EQ(items->size(), 1u);
  EXPECT_EQ((*items)[0].key, "b");
}

// Node A deletes flag "billing" after checking that no flag requires it; node B meanwhile
// adds a flag that requires it. Exactly one of them may win: A re-validates and refuses.
TEST_F(TwoNodeServiceTest, ADeleteIsRevalidatedWhenAnotherNodeStartsDependingOnTheItem) {
  ASSERT_TRUE(node_[0]->PutItem(actor_, ws_, ItemKind::kFlag, "billing", Obj(kBoolFlag), "setup", std::nullopt,
                                AllowAnyWrite())
                  .ok());
  absl::StatusOr<int64_t> b_wrote;
  std::atomic<int> calls{0};
  absl::Status a_deleted =
      node_[0]
          ->DeleteItem(actor_, ws_, ItemKind::kFlag, "billing", "cleanup", std::nullopt,
                       InterleaveOnce(
                           [&] {
                             b_wrote = node_[1]->PutItem(actor_, ws_, ItemKind::kFlag, "checkout",
                                                         Obj(kNeedsBilling), "test", std::nullopt,
                                                         AllowAnyWrite());
                           },
                           &calls))
          .status();
  ASSERT_TRUE(b_wrote.ok()) << b_wrote.status();
  EXPECT_EQ(a_deleted.code(), absl::StatusCode::kFailedPrecondition) << a_deleted;
  EXPECT_EQ(calls.load(), 1);  // the retry refused before asking for authorization again
  EXPECT_TRUE(node_[1]->GetItem(ws_, ItemKind::kFlag, "billing").ok()) << "the required flag was deleted";
}

// Two If-Match writes of the same item at the same head: the second to commit answers
// Aborted (412) whichever node it runs on, and the item holds the winner's value.
TEST_F(TwoNodeServiceTest, OfTwoIfMatchWritesAtOneHeadExactlyOneWins) {
  ASSERT_TRUE(PutConfig(*node_[0], "pool", 1, std::nullopt, AllowAnyWrite()).ok());
  absl::StatusOr<int64_t> head = node_[0]->Head(ws_);
  ASSERT_TRUE(head.ok());
  absl::StatusOr<int64_t> b_wrote;
  std::atomic<int> calls{0};
  absl::StatusOr<int64_t> a_wrote = PutConfig(
      *node_[0], "pool", 10, *head,
      InterleaveOnce([&] { b_wrote = PutConfig(*node_[1], "pool", 20, *head, AllowAnyWrite()); }, &calls));
  ASSERT_TRUE(b_wrote.ok()) << b_wrote.status();
  EXPECT_EQ(a_wrote.status().code(), absl::StatusCode::kAborted) << a_wrote.status();
  absl::StatusOr<storage::Item> item = node_[0]->GetItem(ws_, ItemKind::kConfig, "pool");
  ASSERT_TRUE(item.ok());
  EXPECT_EQ(item->revision, *b_wrote);
  EXPECT_NE(item->body.find("20"), std::string::npos) << item->body;
}

// A write without If-Match whose check went stale is not refused: it is checked again on
// the new state and committed on top of the other node's write (no lost update of the
// other item, no spurious 412).
TEST_F(TwoNodeServiceTest, AStaleWriteWithoutIfMatchIsRetriedOnTheNewHead) {
  absl::StatusOr<int64_t> b_wrote;
  std::atomic<int> calls{0};
  absl::StatusOr<int64_t> a_wrote = PutConfig(
      *node_[0], "a", 1, std::nullopt,
      InterleaveOnce([&] { b_wrote = PutConfig(*node_[1], "b", 2, std::nullopt, AllowAnyWrite()); }, &calls));
  ASSERT_TRUE(b_wrote.ok()) << b_wrote.status();
  ASSERT_TRUE(a_wrote.ok()) << a_wrote.status();
  EXPECT_EQ(*a_wrote, *b_wrote + 1);
  EXPECT_EQ(calls.load(), 2);  // authorized again on the state it finally committed on
  absl::StatusOr<std::vector<storage::Item>> items = node_[0]->ListItems(ws_, ItemKind::kConfig);
  ASSERT_TRUE(items.ok());
  EXPECT_EQ(items->size(), 2u);
}

// A node that loses every attempt gives up with Unavailable (503, retry) after a bounded
// number of them rather than looping.
TEST_F(TwoNodeServiceTest, AWriteThatKeepsLosingGivesUpWithUnavailable) {
  std::atomic<int> calls{0};
  int other = 0;
  absl::StatusOr<int64_t> a_wrote =
      PutConfig(*node_[0], "a", 1, std::nullopt, [&](const WriteEffect&) {
        ++calls;
        EXPECT_TRUE(PutConfig(*node_[1], "b", ++other, std::nullopt, AllowAnyWrite()).ok());
        return absl::OkStatus();
      });
  EXPECT_EQ(a_wrote.status().code(), absl::StatusCode::kUnavailable) << a_wrote.status();
  EXPECT_EQ(calls.load(), 5);
  EXPECT_FALSE(node_[1]->GetItem(ws_, ItemKind::kConfig, "a").ok());
}

}  // namespace
}  // namespace edgevault::workspace

namespace edgevault::workspace {
namespace {

// Event subscribers of node B see node A's revisions too (issue 15), in order and once:
// B's own commit first hands over the revisions A committed before it; a notice
// (RevisionsCommitted, what B's LISTEN connection reports) hands over A's later ones; a
// repeated notice adds nothing; CatchUpSubscribers (after a lost listening connection)
// finds what no notice reported.
TEST_F(TwoNodeServiceTest, SubscribersOfOneNodeSeeEveryNodesRevisionsInOrderOnce) {
  std::mutex mu;
  std::vector<int64_t> seen;
  const uint64_t sub = node_[1]->Subscribe(ws_.id, [&](const RevisionEvent& e) {
    std::lock_guard<std::mutex> lock(mu);
    seen.push_back(e.revision.seq);
  });
  auto seen_now = [&] {
    std::lock_guard<std::mutex> lock(mu);
    return seen;
  };
  absl::StatusOr<int64_t> start = node_[0]->Head(ws_);
  ASSERT_TRUE(start.ok());
  const int64_t h = *start;
  ASSERT_TRUE(PutConfig(*node_[0], "a", 1, std::nullopt, AllowAnyWrite()).ok());
  ASSERT_TRUE(PutConfig(*node_[0], "a", 2, std::nullopt, AllowAnyWrite()).ok());
  EXPECT_TRUE(seen_now().empty());  // positive control below: nothing told B yet
  ASSERT_TRUE(PutConfig(*node_[1], "b", 1, std::nullopt, AllowAnyWrite()).ok());
  EXPECT_EQ(seen_now(), (std::vector<int64_t>{h + 1, h + 2, h + 3}));

  ASSERT_TRUE(PutConfig(*node_[0], "a", 3, std::nullopt, AllowAnyWrite()).ok());
  node_[1]->RevisionsCommitted(ws_.id, h + 4, h + 4);
  node_[1]->RevisionsCommitted(ws_.id, h + 4, h + 4);  // again: nothing new
  node_[1]->RevisionsCommitted(ws_.id, h + 3, h + 3);  // B's own, already handed over
  EXPECT_EQ(seen_now(), (std::vector<int64_t>{h + 1, h + 2, h + 3, h + 4}));

  ASSERT_TRUE(PutConfig(*node_[0], "a", 4, std::nullopt, AllowAnyWrite()).ok());
  ASSERT_TRUE(PutConfig(*node_[0], "a", 5, std::nullopt, AllowAnyWrite()).ok());
  node_[1]->CatchUpSubscribers();
  EXPECT_EQ(seen_now(), (std::vector<int64_t>{h + 1, h + 2, h + 3, h + 4, h + 5, h + 6}));

  // A notice about a workspace without subscribers at this node reads nothing.
  node_[1]->Unsubscribe(sub);
  ASSERT_TRUE(PutConfig(*node_[0], "a", 6, std::nullopt, AllowAnyWrite()).ok());
  node_[1]->RevisionsCommitted(ws_.id, h + 7, h + 7);
  EXPECT_EQ(seen_now().size(), 6u);
}

// A subscriber of every workspace (the MCP server's, for list_changed) hears another
// node's commits once they are reported, in order and once, and catches up after the
// listener reconnects, also for a workspace it had never heard of.
TEST_F(TwoNodeServiceTest, SubscribersOfEveryWorkspaceHearOtherNodesCommits) {
  std::mutex mu;
  std::vector<std::pair<std::string, int64_t>> seen;
  const uint64_t sub = node_[1]->Subscribe("", [&](const RevisionEvent& e) {
    std::lock_guard<std::mutex> lock(mu);
    seen.emplace_back(e.workspace_id, e.revision.seq);
  });
  auto seen_now = [&] {
    std::lock_guard<std::mutex> lock(mu);
    return seen;
  };
  absl::StatusOr<int64_t> start = node_[0]->Head(ws_);
  ASSERT_TRUE(start.ok());
  const int64_t h = *start;
  ASSERT_TRUE(PutConfig(*node_[0], "a", 1, std::nullopt, AllowAnyWrite()).ok());
  EXPECT_TRUE(seen_now().empty());  // nothing reported to B yet
  node_[1]->RevisionsCommitted(ws_.id, h + 1, h + 1);
  node_[1]->RevisionsCommitted(ws_.id, h + 1, h + 1);  // again: nothing new
  using Seen = std::vector<std::pair<std::string, int64_t>>;
  EXPECT_EQ(seen_now(), (Seen{{ws_.id, h + 1}}));

  // A second workspace, created and written on A only; B hears of it by the listener's
  // catch-up only once a notice named it (a lost notice is found with the next one).
  absl::StatusOr<storage::Workspace> other = node_[0]->CreateWorkspace(actor_, "blog", "Blog");
  ASSERT_TRUE(other.ok()) << other.status();
  ASSERT_TRUE(node_[0]->CreateEnvironment(actor_, *other, {{"key", "prod"}, {"name", "Prod"}}, "setup",
                                          std::nullopt)
                  .ok());
  absl::StatusOr<int64_t> other_head = node_[0]->Head(*other);
  ASSERT_TRUE(other_head.ok());
  node_[1]->RevisionsCommitted(other->id, *other_head, *other_head);
  ASSERT_TRUE(PutConfig(*node_[0], "a", 2, std::nullopt, AllowAnyWrite()).ok());
  node_[1]->CatchUpSubscribers();
  EXPECT_EQ(seen_now(), (Seen{{ws_.id, h + 1}, {other->id, *other_head}, {ws_.id, h + 2}}));

  node_[1]->Unsubscribe(sub);
  ASSERT_TRUE(PutConfig(*node_[0], "a", 3, std::nullopt, AllowAnyWrite()).ok());
  node_[1]->RevisionsCommitted(ws_.id, h + 3, h + 3);
  EXPECT_EQ(seen_now().size(), 3u);
}

// Node A commits and dies before it propagates or relays its audit event (here: it was
// never started). Node C, told of the commit (RevisionsCommitted), finishes both after
// outbox_recheck_delay.
TEST_F(TwoNodeServiceTest, AnotherNodeFinishesTheOutboxOfACommitWhoseNodeDied) {
  std::unique_ptr<Service> c = StartedThirdNode();
  ASSERT_NE(c, nullptr);
  // C relays what the setup left, so that it has nothing of this workspace pending.
  for (;;) {
    auto rows = c->PeekAuditOutbox(100);
    ASSERT_TRUE(rows.ok()) << rows.status();
    if (rows->empty()) break;
    std::vector<std::string> ids;
    for (const auto& [id, json] : *rows) ids.push_back(id);
    ASSERT_TRUE(c->RemoveAuditOutbox(ids).ok());
  }
  absl::StatusOr<int64_t> rev = PutConfig(*node_[0], "a", 1, std::nullopt, AllowAnyWrite());
  ASSERT_TRUE(rev.ok()) << rev.status();
  auto store = stores_[1]->Open(ws_.id);
  ASSERT_TRUE(store.ok()) << store.status();
  auto pending = [&] {
    auto rows = (*store)->PendingOutboxOfKind("propagate", 100);
    return rows.ok() ? static_cast<int>(rows->size()) : -1;
  };
  ASSERT_GT(pending(), 0);  // A never propagated
  absl::StatusOr<std::vector<std::pair<std::string, std::string>>> audit = c->PeekAuditOutbox(100);
  ASSERT_TRUE(audit.ok());
  EXPECT_TRUE(audit->empty());  // and C does not look on its own

  c->RevisionsCommitted(ws_.id, *rev, *rev);
  EXPECT_TRUE(base::testing::PollUntil([&] { return pending() == 0; }));
  auto doc = kv_->Get(storage::EdgeKvDocumentKey(ws_.id, "prod"));
  ASSERT_TRUE(doc.ok()) << doc.status();
  EXPECT_EQ(doc->version, *rev);
  audit = c->PeekAuditOutbox(100);
  ASSERT_TRUE(audit.ok());
  ASSERT_EQ(audit->size(), 1u);
  EXPECT_NE(audit->front().second.find("workspace.config"), std::string::npos) << audit->front().second;
}

// The notice of A's commit was lost (C's listener was away): after the reconnect C looks at
// every workspace's outbox and finishes what A left.
TEST_F(TwoNodeServiceTest, AfterAReconnectEveryOutboxIsLookedAtAgain) {
  std::unique_ptr<Service> c = StartedThirdNode();
  ASSERT_NE(c, nullptr);
  absl::StatusOr<int64_t> rev = PutConfig(*node_[0], "a", 7, std::nullopt, AllowAnyWrite());
  ASSERT_TRUE(rev.ok()) << rev.status();
  auto store = stores_[1]->Open(ws_.id);
  ASSERT_TRUE(store.ok()) << store.status();
  auto pending = [&] {
    auto rows = (*store)->PendingOutboxOfKind("propagate", 100);
    return rows.ok() ? static_cast<int>(rows->size()) : -1;
  };
  ASSERT_GT(pending(), 0);  // A never propagated, and C was never told
  c->RecheckEveryOutbox();
  EXPECT_TRUE(base::testing::PollUntil([&] { return pending() == 0; }));
  auto doc = kv_->Get(storage::EdgeKvDocumentKey(ws_.id, "prod"));
  ASSERT_TRUE(doc.ok()) << doc.status();
  EXPECT_EQ(doc->version, *rev);
}

}  // namespace
}  // namespace edgevault::workspace
