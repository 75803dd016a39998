#include "src/storage/postgres/workspace_store_postgres.h"

#include <atomic>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "src/base/status.h"
#include "src/base/strings.h"
#include "src/storage/postgres/pg_migrate.h"
#include "src/storage/postgres/pg_pool.h"
#include "src/storage/postgres/postgres_test_server.h"
#include "src/storage/testing/test_util.h"
#include "src/storage/workspace_store_conformance.h"

namespace edgevault::storage {
namespace {

using base::StrCat;

base::SimulatedEnv* TestEnv() {
  static base::SimulatedEnv* env = new base::SimulatedEnv();
  return env;
}

std::unique_ptr<WorkspaceStoreProvider> NewProvider(const std::string& url, int max_connections = 8,
                                                    absl::Duration lock_timeout = absl::Seconds(5)) {
  auto p = OpenPostgresWorkspaceStoreProvider(
      {.url = url, .env = TestEnv(), .max_connections = max_connections, .lock_timeout = lock_timeout});
  EXPECT_TRUE(p.ok()) << p.status();
  return p.ok() ? std::move(*p) : nullptr;
}

// The conformance suite's stores: one database for the whole binary (migrated once by the
// provider), a new workspace per test, so every test also runs next to the workspaces of
// the tests before it — isolation between workspaces is part of what it checks.
std::unique_ptr<WorkspaceStore> NewConformanceStore() {
  // Made directly on the server, not with NewPostgresTestDatabase: that one drops the
  // databases of earlier tests, and this one serves every conformance test.
  static std::string* url = [] {
    PostgresTestServer* server = PostgresTestServer::Shared();
    absl::StatusOr<std::string> made =
        server != nullptr ? server->CreateDatabase() : absl::UnavailableError("no PostgreSQL test server");
    if (!made.ok()) ADD_FAILURE() << made.status();
    return new std::string(made.ok() ? *made : "");
  }();
  static WorkspaceStoreProvider* provider = url->empty() ? nullptr : NewProvider(*url).release();
  static std::shared_ptr<PgPool>* pool = [] {
    if (url->empty()) return new std::shared_ptr<PgPool>();
    auto p = PgPool::Create({.connect = {.url = *url}, .max_connections = 8});
    EXPECT_TRUE(p.ok()) << p.status();
    return new std::shared_ptr<PgPool>(p.ok() ? std::move(*p) : nullptr);
  }();
  static std::atomic<int> next{0};
  if (provider == nullptr || *pool == nullptr) return nullptr;
  const std::string id = StrCat("ws_conformance_", next++);
  absl::StatusOr<std::shared_ptr<WorkspaceStore>> created = provider->Create(id);
  if (!created.ok()) {
    ADD_FAILURE() << created.status();
    return nullptr;
  }
  auto store = OpenPostgresWorkspaceStore(*pool, TestEnv(), id);
  if (!store.ok()) {
    ADD_FAILURE() << store.status();
    return nullptr;
  }
  return std::move(*store);
}

}  // namespace
}  // namespace edgevault::storage

INSTANTIATE_WORKSPACE_STORE_CONFORMANCE(Postgres, &NewConformanceStore)

namespace edgevault::storage {
namespace {

const absl::Time kT0 = absl::FromUnixMicros(1'800'000'000'000'001);

CommitRequest Put(std::string key, std::string body) {
  CommitRequest c{.actor = "user:usr_1", .reason = "test", .op = "put", .time = kT0};
  c.mutations.push_back(Mutation{.kind = ItemKind::kConfig, .key = std::move(key), .body = std::move(body)});
  return c;
}

using testing::RunConcurrently;

class PostgresWorkspaceStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    url_ = NewPostgresTestDatabase();
    ASSERT_FALSE(url_.empty());
  }
  std::string url_;  // a fresh database per test
};

// Issue 15: any api node may write any workspace. Two providers with pools of their own
// (two "nodes") commit to one workspace from four threads each; every commit writes one
// revision and one outbox row. The revisions must be exactly 1..N, each writer's in its
// own order with its before/after chain intact, and the outbox ids must follow the
// revisions (the row of revision s has id s): numbers are handed out in commit order.
TEST_F(PostgresWorkspaceStoreTest, TwoNodesWritingOneWorkspaceGetGaplessOrderedRevisions) {
  constexpr int kNodes = 2;
  constexpr int kThreadsPerNode = 4;
  constexpr int kCommits = 60;
  constexpr int kWriters = kNodes * kThreadsPerNode;
  std::vector<std::unique_ptr<WorkspaceStoreProvider>> nodes;
  std::vector<std::shared_ptr<WorkspaceStore>> stores;
  for (int n = 0; n < kNodes; ++n) {
    nodes.push_back(NewProvider(url_, /*max_connections=*/kThreadsPerNode));
    ASSERT_NE(nodes.back(), nullptr);
    EV_TEST_ASSIGN(std::shared_ptr<WorkspaceStore> s, nodes.back()->Create("ws_shared"));
    stores.push_back(std::move(s));
  }
  ASSERT_NE(stores[0].get(), stores[1].get());  // really two instances, two pools

  std::atomic<int> failures{0};
  std::vector<std::vector<int64_t>> got(kWriters);
  RunConcurrently(kWriters, [&](int w) {
    WorkspaceStore& store = *stores[w % kNodes];
    for (int i = 0; i < kCommits; ++i) {
      const std::string body = StrCat("{\"w\":", w, ",\"i\":", i, "}");
      CommitRequest c = Put(StrCat("w", w), body);
      c.outbox.push_back(OutboxRow{.kind = "propagate", .payload = body, .created_at = kT0});
      absl::StatusOr<CommitResult> r = store.Commit(c);
      if (!r.ok() || r->first_revision != r->last_revision || r->outbox_ids.size() != 1 ||
          r->outbox_ids[0] != r->first_revision) {
        ADD_FAILURE() << (r.ok() ? "unexpected numbers" : r.status().ToString());
        ++failures;
        continue;
      }
      got[w].push_back(r->first_revision);
    }
  });
  ASSERT_EQ(failures.load(), 0);

  std::set<int64_t> all;
  for (const auto& v : got) {
    for (size_t i = 1; i < v.size(); ++i) EXPECT_LT(v[i - 1], v[i]) << "a writer went backwards";
    all.insert(v.begin(), v.end());
  }
  EXPECT_EQ(all.size(), static_cast<size_t>(kWriters * kCommits));

  // Read back through the other node than the one most writes went through: the history
  // is one log, the same from everywhere.
  std::vector<int> next_i(kWriters, 0);
  int64_t expected = 1;
  int64_t after = 0;
  for (;;) {
    EV_TEST_ASSIGN(std::vector<Revision> page, stores[1]->ListRevisions(after, 1000));
    if (page.empty()) break;
    for (const Revision& r : page) {
      ASSERT_EQ(r.seq, expected++);
      int w = std::stoi(r.key.substr(1));
      ASSERT_GE(w, 0);
      ASSERT_LT(w, kWriters);
      EXPECT_EQ(r.after, StrCat("{\"w\":", w, ",\"i\":", next_i[w], "}"));
      EXPECT_EQ(r.before,
                next_i[w] == 0 ? std::string("null") : StrCat("{\"w\":", w, ",\"i\":", next_i[w] - 1, "}"));
      ++next_i[w];
    }
    after = page.back().seq;
  }
  EXPECT_EQ(expected - 1, kWriters * kCommits);
  EV_TEST_ASSIGN(int64_t head, stores[0]->Head());
  EXPECT_EQ(head, kWriters * kCommits);

  EV_TEST_ASSIGN(std::vector<OutboxRow> outbox, stores[0]->PendingOutbox(1000));
  ASSERT_EQ(outbox.size(), static_cast<size_t>(kWriters * kCommits));
  for (const OutboxRow& row : outbox) {
    EV_TEST_ASSIGN(Revision rev, stores[0]->GetRevision(row.id));
    EXPECT_EQ(row.payload, rev.after) << "outbox row " << row.id << " is not its revision's";
  }
}

// expected_head (If-Match) across nodes: every head is won by exactly one writer.
TEST_F(PostgresWorkspaceStoreTest, ExpectedHeadHasOneWinnerPerHeadAcrossNodes) {
  auto a = NewProvider(url_, 2);
  auto b = NewProvider(url_, 2);
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  EV_TEST_ASSIGN(std::shared_ptr<WorkspaceStore> sa, a->Create("ws_cas"));
  EV_TEST_ASSIGN(std::shared_ptr<WorkspaceStore> sb, b->Open("ws_cas"));
  constexpr int kWinsPerWriter = 15;
  std::atomic<int> wins{0}, errors{0};
  RunConcurrently(4, [&](int t) {
    WorkspaceStore& store = t % 2 == 0 ? *sa : *sb;
    int mine = 0;
    while (mine < kWinsPerWriter) {
      absl::StatusOr<int64_t> head = store.Head();
      if (!head.ok()) {
        ++errors;
        return;
      }
      CommitRequest c = Put("shared", StrCat("{\"t\":", t, "}"));
      c.expected_head = *head;
      absl::StatusOr<CommitResult> r = store.Commit(c);
      if (r.ok()) {
        if (r->first_revision != *head + 1) ++errors;
        ++wins;
        ++mine;
      } else if (r.status().code() != absl::StatusCode::kAborted) {
        ADD_FAILURE() << r.status();
        ++errors;
        return;
      }
    }
  });
  EXPECT_EQ(errors.load(), 0);
  EXPECT_EQ(wins.load(), 4 * kWinsPerWriter);
  EV_TEST_ASSIGN(int64_t head, sb->Head());
  EXPECT_EQ(head, 4 * kWinsPerWriter);
}

// Nodes starting together on an empty database: the migration runs once (advisory lock),
// and every node comes up.
TEST_F(PostgresWorkspaceStoreTest, NodesStartingTogetherMigrateOnce) {
  std::vector<absl::Status> results(4);
  RunConcurrently(4, [&](int i) {
    results[i] = OpenPostgresWorkspaceStoreProvider({.url = url_, .env = TestEnv(), .max_connections = 1}).status();
  });
  for (const absl::Status& s : results) EXPECT_TRUE(s.ok()) << s;
  auto pool = PgPool::Create({.connect = {.url = url_}, .max_connections = 1});
  ASSERT_TRUE(pool.ok()) << pool.status();
  EV_TEST_ASSIGN(PgPool::Lease conn, (*pool)->Acquire());
  EV_TEST_ASSIGN(int64_t version, PgSchemaVersion(*conn, "workspace"));
  EXPECT_EQ(version, static_cast<int64_t>(PostgresWorkspaceDbMigrations().size()));
  // And opening again applies nothing.
  EV_TEST_ASSIGN(int applied, PgMigrate(*conn, "workspace", PostgresWorkspaceDbMigrations()));
  EXPECT_EQ(applied, 0);
}

TEST_F(PostgresWorkspaceStoreTest, WorkspacesInOneDatabaseDoNotSeeEachOther) {
  auto p = NewProvider(url_);
  ASSERT_NE(p, nullptr);
  EV_TEST_ASSIGN(std::shared_ptr<WorkspaceStore> a, p->Create("ws_a"));
  EV_TEST_ASSIGN(std::shared_ptr<WorkspaceStore> b, p->Create("ws_b"));
  CommitRequest c = Put("shared.key", "{\"in\":\"a\"}");
  c.data_keys.push_back(DataKeyRow{"dk1", "m1", "wrapped-a"});
  c.outbox.push_back(OutboxRow{.kind = "audit", .payload = "{}", .created_at = kT0});
  EV_TEST_ASSERT_OK(a->Commit(c));
  EV_TEST_ASSERT_OK(a->Commit(Put("only.a", "{}")));
  // The same key and the same data key id in another workspace: its own numbering.
  c.mutations[0].body = "{\"in\":\"b\"}";
  c.data_keys[0].wrapped = "wrapped-b";
  EV_TEST_ASSIGN(CommitResult rb, b->Commit(c));
  EXPECT_EQ(rb.first_revision, 1);
  EXPECT_EQ(rb.outbox_ids, std::vector<int64_t>{1});
  EV_TEST_ASSIGN(int64_t head_a, a->Head());
  EV_TEST_ASSIGN(int64_t head_b, b->Head());
  EXPECT_EQ(head_a, 2);
  EXPECT_EQ(head_b, 1);
  EV_TEST_ASSIGN(Item item_b, b->GetItem(ItemKind::kConfig, "shared.key"));
  EXPECT_EQ(item_b.body, "{\"in\":\"b\"}");
  EV_TEST_EXPECT_CODE(b->GetItem(ItemKind::kConfig, "only.a"), kNotFound);
  EV_TEST_ASSIGN(DataKeyRow key_b, b->GetDataKey("dk1"));
  EXPECT_EQ(key_b.wrapped, "wrapped-b");
  EV_TEST_ASSIGN(auto keys_b, b->AllKeysEver());
  EXPECT_EQ(keys_b.size(), 1u);
  EV_TEST_ASSIGN(int64_t done, b->MarkOutboxOfKindDoneThrough("audit", 100));
  EXPECT_EQ(done, 1);  // b's row only
  EV_TEST_ASSIGN(auto pending_a, a->PendingOutbox(10));
  EXPECT_EQ(pending_a.size(), 1u);
}

TEST_F(PostgresWorkspaceStoreTest, ProviderCreatesOpensListsAndHandsOutOneInstanceWhileHeld) {
  auto p = NewProvider(url_);
  ASSERT_NE(p, nullptr);
  EV_TEST_EXPECT_CODE(p->Open("ws_missing"), kNotFound);
  EV_TEST_EXPECT_CODE(p->Open("../etc"), kInvalidArgument);
  EV_TEST_EXPECT_CODE(p->Create("a b"), kInvalidArgument);
  EV_TEST_EXPECT_CODE(p->Create(std::string(129, 'a')), kInvalidArgument);
  EXPECT_EQ(p->OpenCount(), 0u);
  EV_TEST_ASSIGN(std::shared_ptr<WorkspaceStore> b, p->Create("ws_b"));
  {
    EV_TEST_ASSIGN(std::shared_ptr<WorkspaceStore> a, p->Create("ws_a"));
    EV_TEST_ASSIGN(std::string id, a->WorkspaceId());
    EXPECT_EQ(id, "ws_a");
    EV_TEST_ASSIGN(std::shared_ptr<WorkspaceStore> again, p->Open("ws_a"));
    EXPECT_EQ(again.get(), a.get());
    EV_TEST_ASSIGN(std::shared_ptr<WorkspaceStore> created_again, p->Create("ws_a"));
    EXPECT_EQ(created_again.get(), a.get());
    EXPECT_EQ(p->OpenCount(), 2u);
  }
  EXPECT_EQ(p->OpenCount(), 1u);  // ws_a released: nothing of it stays open
  EV_TEST_ASSIGN(std::vector<std::string> ids, p->List());
  EXPECT_EQ(ids, (std::vector<std::string>{"ws_a", "ws_b"}));
  // Another node sees the workspaces this one created.
  auto other = NewProvider(url_);
  ASSERT_NE(other, nullptr);
  EV_TEST_ASSIGN(std::shared_ptr<WorkspaceStore> a2, other->Open("ws_a"));
  EV_TEST_ASSIGN(int64_t head, a2->Head());
  EXPECT_EQ(head, 0);
  EV_TEST_EXPECT_CODE(OpenPostgresWorkspaceStore(nullptr, TestEnv(), "ws_a"), kInvalidArgument);
}

// The purge of a deleted workspace (WorkspaceStoreProvider::Destroy): every row of it, in
// every table of the schema, and nothing of another workspace.
TEST_F(PostgresWorkspaceStoreTest, DestroyRemovesEveryRowOfTheWorkspaceOnly) {
  auto p = NewProvider(url_);
  ASSERT_NE(p, nullptr);
  for (const char* id : {"ws_a", "ws_b"}) {
    EV_TEST_ASSIGN(std::shared_ptr<WorkspaceStore> s, p->Create(id));
    CommitRequest c = Put("k", "{}");
    c.data_keys.push_back(DataKeyRow{"dk1", "m1", "wrapped"});
    c.outbox.push_back(OutboxRow{.kind = "audit", .payload = "{}", .created_at = kT0});
    EV_TEST_ASSERT_OK(s->Commit(c));
    EV_TEST_ASSERT_OK(s->AppendActivity(Activity{.time = kT0, .actor = "user:u", .action = "x", .details = "{}"}, {}));
    if (std::string(id) == "ws_a") {
      EV_TEST_EXPECT_CODE(p->Destroy("ws_a"), kFailedPrecondition);  // held
    }
  }
  EV_TEST_ASSERT_OK(p->Destroy("ws_a"));
  EV_TEST_ASSERT_OK(p->Destroy("ws_a"));  // nothing left: still OK
  EV_TEST_EXPECT_CODE(p->Open("ws_a"), kNotFound);
  EV_TEST_ASSIGN(std::vector<std::string> ids, p->List());
  EXPECT_EQ(ids, std::vector<std::string>{"ws_b"});
  auto pool = PgPool::Create({.connect = {.url = url_}, .max_connections = 1});
  ASSERT_TRUE(pool.ok()) << pool.status();
  EV_TEST_ASSIGN(PgPool::Lease conn, (*pool)->Acquire());
  // Every table with a workspace_id column, so a table added later is checked too.
  EV_TEST_ASSIGN(PgResult tables, conn->Query("SELECT table_name FROM information_schema.columns "
                                              "WHERE column_name = 'workspace_id' AND table_name LIKE 'ws\\_%'"));
  ASSERT_GE(tables.Rows(), 9);
  for (int i = 0; i < tables.Rows(); ++i) {
    const std::string table = tables.String(i, 0);
    EV_TEST_ASSIGN(PgResult a, conn->Query("SELECT count(*) FROM " + table + " WHERE workspace_id = 'ws_a'"));
    EXPECT_EQ(a.Int64(0, 0), 0) << table;
  }
  // Revisions stay append-only outside a purge of their own workspace.
  EV_TEST_EXPECT_CODE(conn->Exec("DELETE FROM ws_revisions WHERE workspace_id = 'ws_b'"), kInternal);
  EV_TEST_ASSIGN(std::shared_ptr<WorkspaceStore> b, p->Open("ws_b"));
  EV_TEST_ASSIGN(Item item, b->GetItem(ItemKind::kConfig, "k"));
  EXPECT_EQ(item.body, "{}");
  EV_TEST_ASSIGN(DataKeyRow key, b->GetDataKey("dk1"));
  EXPECT_EQ(key.wrapped, "wrapped");
}

TEST_F(PostgresWorkspaceStoreTest, BadOptionsAndUnreachableServers) {
  EV_TEST_EXPECT_CODE(OpenPostgresWorkspaceStoreProvider({.url = url_, .env = nullptr}), kInvalidArgument);
  EV_TEST_EXPECT_CODE(OpenPostgresWorkspaceStoreProvider({.url = "mysql://x/y", .env = TestEnv()}),
                      kInvalidArgument);
  EV_TEST_EXPECT_CODE(OpenPostgresWorkspaceStoreProvider({.url = url_, .env = TestEnv(), .max_connections = 0}),
                      kInvalidArgument);
  EV_TEST_EXPECT_CODE(
      OpenPostgresWorkspaceStoreProvider({.url = url_, .env = TestEnv(), .lock_timeout = absl::ZeroDuration()}),
      kInvalidArgument);
  // Port 1: nothing listens there (and no test server can bind it).
  EV_TEST_EXPECT_CODE(
      OpenPostgresWorkspaceStoreProvider({.url = "postgres://postgres@127.0.0.1:1/x", .env = TestEnv()}),
      kUnavailable);
}

TEST_F(PostgresWorkspaceStoreTest, RevisionsCannotBeUpdatedOrDeletedEvenWithRawSql) {
  auto p = NewProvider(url_);
  ASSERT_NE(p, nullptr);
  EV_TEST_ASSIGN(std::shared_ptr<WorkspaceStore> s, p->Create("ws_a"));
  EV_TEST_ASSERT_OK(s->Commit(Put("k", "{\"v\":1}")));
  auto pool = PgPool::Create({.connect = {.url = url_}, .max_connections = 1});
  ASSERT_TRUE(pool.ok()) << pool.status();
  EXPECT_FALSE((*pool)->Exec("UPDATE ws_revisions SET after = '{}'").ok());
  EXPECT_FALSE((*pool)->Exec("DELETE FROM ws_revisions").ok());
  EXPECT_FALSE((*pool)->Exec("TRUNCATE ws_revisions CASCADE").ok());
  EV_TEST_ASSIGN(Revision r, s->GetRevision(1));
  EXPECT_EQ(r.after, "{\"v\":1}");
}

// PostgreSQL TEXT holds neither invalid UTF-8 nor NUL: such input is refused as bad input
// (InvalidArgument, nothing written), never stored cut short or reported as a server fault.
TEST_F(PostgresWorkspaceStoreTest, TextPostgresCannotHoldIsInvalidArgument) {
  auto p = NewProvider(url_);
  ASSERT_NE(p, nullptr);
  EV_TEST_ASSIGN(std::shared_ptr<WorkspaceStore> s, p->Create("ws_a"));
  EV_TEST_EXPECT_CODE(s->Commit(Put("k", "{\"v\":\"\xff\xfe\"}")), kInvalidArgument);
  EV_TEST_EXPECT_CODE(s->Commit(Put("k", std::string("{\"v\":\"a\0b\"}", 12))), kInvalidArgument);
  EV_TEST_EXPECT_CODE(s->Commit(Put(std::string("k\0x", 3), "{}")), kInvalidArgument);
  EV_TEST_ASSIGN(int64_t head, s->Head());
  EXPECT_EQ(head, 0);
  EV_TEST_EXPECT_CODE(s->GetItem(ItemKind::kConfig, "k"), kNotFound);
}

// A writer that cannot get the workspace's row lock within lock_timeout gives up with
// Unavailable and writes nothing; the same commit succeeds once the lock is free.
TEST_F(PostgresWorkspaceStoreTest, AWriterBlockedPastTheLockTimeoutIsUnavailable) {
  auto p = NewProvider(url_, 2, absl::Milliseconds(50));
  ASSERT_NE(p, nullptr);
  EV_TEST_ASSIGN(std::shared_ptr<WorkspaceStore> s, p->Create("ws_a"));
  auto pool = PgPool::Create({.connect = {.url = url_}, .max_connections = 1});
  ASSERT_TRUE(pool.ok()) << pool.status();
  {
    EV_TEST_ASSIGN(PgPool::Lease holder, (*pool)->Acquire());
    EV_TEST_ASSIGN(PgTransaction tx, PgTransaction::Begin(*holder));
    EV_TEST_ASSERT_OK(holder->Query("SELECT 1 FROM ws_stores WHERE workspace_id = 'ws_a' FOR UPDATE"));
    absl::StatusOr<CommitResult> blocked = s->Commit(Put("k", "{}"));
    EV_TEST_EXPECT_CODE(blocked, kUnavailable);
    EXPECT_NE(blocked.status().message().find("ws_a"), std::string_view::npos) << blocked.status();
    // Readers are not blocked by a writer.
    EV_TEST_ASSIGN(int64_t head, s->Head());
    EXPECT_EQ(head, 0);
    tx.Rollback();
  }
  EV_TEST_ASSIGN(CommitResult r, s->Commit(Put("k", "{}")));
  EXPECT_EQ(r.first_revision, 1);
}

}  // namespace
}  // namespace edgevault::storage
