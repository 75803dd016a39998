#include "src/storage/sqlite/workspace_store_sqlite.h"

#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <mutex>
#include <set>
#include <string>
#include <thread>

#include "gtest/gtest.h"
#include "src/base/status.h"
#include "src/base/strings.h"
#include "src/base/testing/poll_until.h"
#include "src/storage/testing/test_util.h"
#include "src/storage/sqlite/sqlite_db.h"
#include "src/storage/workspace_store_conformance.h"

namespace edgevault::storage {
namespace {

namespace fs = std::filesystem;
using base::StrCat;

using testing::ScratchDir;

base::SimulatedEnv* TestEnv() {
  static base::SimulatedEnv* env = new base::SimulatedEnv();
  return env;
}

std::unique_ptr<WorkspaceStore> NewStore() {
  auto store = OpenSqliteWorkspaceStore({.path = ScratchDir::Get()->NewPath("conformance", ".db"),
                                         .env = TestEnv(),
                                         .workspace_id = "ws_conformance"});
  if (!store.ok()) {
    ADD_FAILURE() << store.status();
    return nullptr;
  }
  return std::move(*store);
}

// Registers the scratch directory's cleanup before any test runs.
[[maybe_unused]] const ScratchDir* const kScratch = ScratchDir::Get();

}  // namespace
}  // namespace edgevault::storage

INSTANTIATE_WORKSPACE_STORE_CONFORMANCE(Sqlite, &NewStore)

namespace edgevault::storage {
namespace {

const absl::Time kT0 = absl::FromUnixMicros(1'800'000'000'000'001);

uint32_t ModeOf(const std::string& path) {
  struct stat st;
  EXPECT_EQ(::stat(path.c_str(), &st), 0) << path;
  return st.st_mode & 07777;
}

std::unique_ptr<WorkspaceStore> OpenAt(const std::string& path, std::string workspace_id = "ws_1") {
  auto store = OpenSqliteWorkspaceStore(
      {.path = path, .env = TestEnv(), .workspace_id = std::move(workspace_id)});
  EXPECT_TRUE(store.ok()) << store.status();
  return store.ok() ? std::move(*store) : nullptr;
}

CommitRequest PutRequest(std::string key, std::string body) {
  CommitRequest c{.actor = "user:usr_1", .reason = "test", .op = "put", .time = kT0};
  c.mutations.push_back(
      Mutation{.kind = ItemKind::kConfig, .key = std::move(key), .body = std::move(body)});
  return c;
}

TEST(SqliteWorkspaceStoreTest, DataFileIsCreatedWithMode0600) {
  std::string path = ScratchDir::Get()->NewPath("mode", ".db");
  // A permissive umask must not leak into the file mode.
  mode_t old = ::umask(0);
  auto store = OpenAt(path);
  ::umask(old);
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->Commit(PutRequest("a", "{}")).ok());
  EXPECT_EQ(ModeOf(path), 0600u);
  ASSERT_TRUE(fs::exists(path + "-wal"));  // WAL mode, open connection
  EXPECT_EQ(ModeOf(path + "-wal"), 0600u);
  ASSERT_TRUE(fs::exists(path + "-shm"));
  EXPECT_EQ(ModeOf(path + "-shm"), 0600u);
}

TEST(SqliteWorkspaceStoreTest, FileUsesWalAndTheCurrentSchemaVersion) {
  std::string path = ScratchDir::Get()->NewPath("pragmas", ".db");
  { ASSERT_NE(OpenAt(path), nullptr); }
  auto db = SqliteDb::Open({.path = path});
  ASSERT_TRUE(db.ok()) << db.status();
  auto mode = (*db)->Prepare("PRAGMA journal_mode");
  ASSERT_TRUE(mode.ok());
  ASSERT_TRUE(*mode->Step());
  EXPECT_EQ(mode->ColumnText(0), "wal");
  auto version = (*db)->UserVersion();
  ASSERT_TRUE(version.ok());
  EXPECT_EQ(*version, static_cast<int64_t>(WorkspaceDbMigrations().size()));
  auto meta = (*db)->Prepare("SELECT value FROM meta WHERE name = 'schema_version'");
  ASSERT_TRUE(meta.ok());
  ASSERT_TRUE(*meta->Step());
  EXPECT_EQ(meta->ColumnText(0), StrCat(WorkspaceDbMigrations().size()));
}

TEST(SqliteWorkspaceStoreTest, ReopeningKeepsEverything) {
  std::string path = ScratchDir::Get()->NewPath("reopen", ".db");
  int64_t outbox_id = 0, activity_id = 0;
  {
    auto store = OpenAt(path, "ws_keep");
    ASSERT_NE(store, nullptr);
    CommitRequest c = PutRequest("a", R"({"v":1})");
    c.mutations.push_back(Mutation{.kind = ItemKind::kFlag, .key = "f", .body = "{}"});
    c.outbox.push_back(OutboxRow{.kind = "propagate", .payload = "{}", .created_at = kT0});
    auto r = store->Commit(c);
    ASSERT_TRUE(r.ok()) << r.status();
    outbox_id = r->outbox_ids.at(0);
    ASSERT_TRUE(store->Commit(PutRequest("a", R"({"v":2})")).ok());
    auto a = store->AppendActivity(
        {.time = kT0, .actor = "user:usr_1", .action = "secret.read", .details = "{}"}, {});
    ASSERT_TRUE(a.ok());
    activity_id = *a;
  }
  // Reopening without an id is allowed; with the right id too. Migrations must not re-run.
  for (std::string id : {"", "ws_keep"}) {
    SCOPED_TRACE(StrCat("workspace_id \"", id, "\""));
    auto store = OpenSqliteWorkspaceStore({.path = path, .env = TestEnv(), .workspace_id = id});
    ASSERT_TRUE(store.ok()) << store.status();
    auto ws = (*store)->WorkspaceId();
    ASSERT_TRUE(ws.ok());
    EXPECT_EQ(*ws, "ws_keep");
    auto head = (*store)->Head();
    ASSERT_TRUE(head.ok());
    EXPECT_EQ(*head, 3);
    auto item = (*store)->GetItem(ItemKind::kConfig, "a");
    ASSERT_TRUE(item.ok());
    EXPECT_EQ(item->body, R"({"v":2})");
    EXPECT_EQ(item->revision, 3);
    EXPECT_EQ(item->created_at, kT0);
    auto rev = (*store)->GetRevision(3);
    ASSERT_TRUE(rev.ok());
    EXPECT_EQ(rev->before, R"({"v":1})");
    auto pending = (*store)->PendingOutbox(10);
    ASSERT_TRUE(pending.ok());
    ASSERT_EQ(pending->size(), 1u);
    EXPECT_EQ((*pending)[0].id, outbox_id);
    auto activity = (*store)->ListActivity(0, 10);
    ASSERT_TRUE(activity.ok());
    ASSERT_EQ(activity->size(), 1u);
    EXPECT_EQ((*activity)[0].id, activity_id);
  }
}

TEST(SqliteWorkspaceStoreTest, ReopeningWithAnotherWorkspaceIdIsFailedPrecondition) {
  std::string path = ScratchDir::Get()->NewPath("other-id", ".db");
  { ASSERT_NE(OpenAt(path, "ws_a"), nullptr); }
  auto store = OpenSqliteWorkspaceStore({.path = path, .env = TestEnv(), .workspace_id = "ws_b"});
  EXPECT_EQ(store.status().code(), absl::StatusCode::kFailedPrecondition) << store.status();
  // The stored id is untouched.
  auto again = OpenAt(path, "ws_a");
  ASSERT_NE(again, nullptr);
  EXPECT_EQ(*again->WorkspaceId(), "ws_a");
}

TEST(SqliteWorkspaceStoreTest, BadOptionsAreInvalidArgumentAndCreateNothing) {
  EXPECT_EQ(
      OpenSqliteWorkspaceStore({.path = "", .env = TestEnv(), .workspace_id = "w"}).status().code(),
      absl::StatusCode::kInvalidArgument);
  std::string no_env = ScratchDir::Get()->NewPath("noenv", ".db");
  EXPECT_EQ(OpenSqliteWorkspaceStore({.path = no_env, .env = nullptr, .workspace_id = "w"})
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
  std::string no_id = ScratchDir::Get()->NewPath("noid", ".db");
  EXPECT_EQ(OpenSqliteWorkspaceStore({.path = no_id, .env = TestEnv()}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_FALSE(fs::exists(no_id));
  EXPECT_FALSE(fs::exists(no_env));
}

TEST(SqliteWorkspaceStoreTest, NewerSchemaIsRefused) {
  std::string path = ScratchDir::Get()->NewPath("newer", ".db");
  { ASSERT_NE(OpenAt(path), nullptr); }
  {
    auto db = SqliteDb::Open({.path = path});
    ASSERT_TRUE(db.ok());
    ASSERT_TRUE((*db)->Exec("PRAGMA user_version = 999").ok());
  }
  auto store = OpenSqliteWorkspaceStore({.path = path, .env = TestEnv(), .workspace_id = "ws_1"});
  EXPECT_EQ(store.status().code(), absl::StatusCode::kFailedPrecondition) << store.status();
}

TEST(SqliteWorkspaceStoreTest, RevisionsCannotBeUpdatedOrDeletedEvenWithRawSql) {
  std::string path = ScratchDir::Get()->NewPath("append-only", ".db");
  {
    auto store = OpenAt(path);
    ASSERT_NE(store, nullptr);
    ASSERT_TRUE(store->Commit(PutRequest("a", "{}")).ok());
  }
  auto db = SqliteDb::Open({.path = path});
  ASSERT_TRUE(db.ok());
  EXPECT_FALSE((*db)->Exec("UPDATE revisions SET after = '{\"x\":1}' WHERE seq = 1").ok());
  EXPECT_FALSE((*db)->Exec("DELETE FROM revisions").ok());
  auto st = (*db)->Prepare("SELECT COUNT(*), MAX(after) FROM revisions");
  ASSERT_TRUE(st.ok());
  ASSERT_TRUE(*st->Step());
  EXPECT_EQ(st->ColumnInt64(0), 1);
  EXPECT_EQ(st->ColumnText(1), "{}");
}

TEST(SqliteWorkspaceStoreTest, TwoConnectionsCommitWithoutGapOrDuplicate) {
  // Serialisation across connections (processes) comes from BEGIN IMMEDIATE, not the mutex.
  std::string path = ScratchDir::Get()->NewPath("two-connections", ".db");
  auto a = OpenAt(path);
  auto b = OpenAt(path);
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  std::set<int64_t> seqs;
  std::mutex mu;
  int errors = 0;
  auto run = [&](WorkspaceStore* store, const std::string& key) {
    for (int i = 0; i < 30; ++i) {
      auto r = store->Commit(PutRequest(key, StrCat("{\"i\":", i, "}")));
      std::lock_guard<std::mutex> lock(mu);
      if (!r.ok()) {
        ++errors;
        continue;
      }
      seqs.insert(r->first_revision);
    }
  };
  std::thread ta(run, a.get(), "a");
  std::thread tb(run, b.get(), "b");
  ta.join();
  tb.join();
  EXPECT_EQ(errors, 0);
  ASSERT_EQ(seqs.size(), 60u);
  EXPECT_EQ(*seqs.begin(), 1);
  EXPECT_EQ(*seqs.rbegin(), 60);
  EXPECT_EQ(*a->Head(), 60);
}

// A child process commits in a loop and is SIGKILLed at a random moment; the file it
// leaves must hold only whole commits. Each commit = 2 mutations + 1 outbox row naming
// its revisions, so a torn commit would show as an odd head or a mismatched outbox.
class SqliteWorkspaceStoreCrashTest : public ::testing::TestWithParam<int> {};

// Kills and reaps the child on every way out of the test, so a failed assertion never
// leaves a writer running.
class ChildGuard {
 public:
  explicit ChildGuard(pid_t pid) : pid_(pid) {}
  ChildGuard(const ChildGuard&) = delete;
  ChildGuard& operator=(const ChildGuard&) = delete;
  ~ChildGuard() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    int status = 0;
    ::waitpid(pid_, &status, 0);
  }
  // Kills the child now and returns its wait status.
  int KillAndReap() {
    int status = 0;
    if (::kill(pid_, SIGKILL) != 0 || ::waitpid(pid_, &status, 0) != pid_) status = -1;
    pid_ = -1;
    return status;
  }
  pid_t pid() const { return pid_; }

 private:
  pid_t pid_;
};

[[noreturn]] void CommitForever(const std::string& path, pid_t parent) {
  // Die with the test process, whatever happens to it.
  if (::prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || ::getppid() != parent) ::_exit(4);
  base::SimulatedEnv env;
  auto store = OpenSqliteWorkspaceStore({.path = path, .env = &env, .workspace_id = "ws_crash"});
  if (!store.ok()) ::_exit(2);
  for (int64_t i = 0;; ++i) {
    CommitRequest c{.actor = "user:usr_1", .reason = "crash test", .op = "put", .time = kT0};
    const std::string body = StrCat("{\"i\":", i, "}");
    c.mutations.push_back(
        Mutation{.kind = ItemKind::kConfig, .key = StrCat("k", i % 7), .body = body});
    c.mutations.push_back(Mutation{
        .kind = ItemKind::kFlag, .key = StrCat("f", i % 5), .body = body, .environment = "prod"});
    c.outbox.push_back(OutboxRow{
        .kind = "propagate", .payload = StrCat("{\"last\":", 2 * i + 2, "}"), .created_at = kT0});
    c.expected_head = 2 * i;
    if (!(*store)->Commit(c).ok()) ::_exit(3);
  }
}

TEST_P(SqliteWorkspaceStoreCrashTest, KilledWriterLeavesOnlyWholeCommits) {
  std::string path = ScratchDir::Get()->NewPath(StrCat("crash", GetParam()));
  { ASSERT_NE(OpenAt(path, "ws_crash"), nullptr); }  // create it before racing

  uint32_t random = 0;
  base::Env::Default()->RandomBytes(&random, sizeof random);
  const int64_t min_head = 2 * (1 + random % 40);         // let it commit a little first
  const int64_t extra_delay_us = (random >> 8) % 20'000;  // then kill mid-stride

  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) CommitForever(path, parent);
  ChildGuard child(pid);

  {
    auto watcher = OpenAt(path, "ws_crash");
    ASSERT_NE(watcher, nullptr);
    bool died = false;
    ASSERT_TRUE(base::testing::PollUntil([&] {
      auto head = watcher->Head();
      int status = 0;
      died = died || ::waitpid(child.pid(), &status, WNOHANG) != 0;
      return died || (head.ok() && *head >= min_head);
    }));
    ASSERT_FALSE(died) << "the writer died early";
  }
  std::this_thread::sleep_for(std::chrono::microseconds(extra_delay_us));
  const int status = child.KillAndReap();
  ASSERT_NE(status, -1);
  ASSERT_TRUE(WIFSIGNALED(status)) << "the writer exited on its own: " << status;
  EXPECT_EQ(WTERMSIG(status), SIGKILL);

  auto store = OpenAt(path, "ws_crash");
  ASSERT_NE(store, nullptr);
  auto head_or = store->Head();
  ASSERT_TRUE(head_or.ok());
  const int64_t head = *head_or;
  EXPECT_GE(head, min_head);
  EXPECT_EQ(head % 2, 0) << "a commit was torn";

  int64_t expected = 1, after = 0;
  for (;;) {
    auto page = store->ListRevisions(after, 1000);
    ASSERT_TRUE(page.ok()) << page.status();
    if (page->empty()) break;
    for (const Revision& r : *page) ASSERT_EQ(r.seq, expected++);
    after = page->back().seq;
  }
  EXPECT_EQ(expected - 1, head) << "head != number of revisions";

  for (ItemKind kind : {ItemKind::kConfig, ItemKind::kFlag}) {
    auto items = store->ListItems(kind);
    ASSERT_TRUE(items.ok());
    EXPECT_FALSE(items->empty());
    for (const Item& item : *items) {
      EXPECT_LE(item.revision, head) << item.key;
      auto rev = store->GetRevision(item.revision);
      ASSERT_TRUE(rev.ok()) << item.key << " names revision " << item.revision;
      EXPECT_EQ(rev->key, item.key);
      EXPECT_EQ(rev->after, item.body);
      auto at_head = store->BodyAt(kind, item.key, head);
      ASSERT_TRUE(at_head.ok());
      EXPECT_EQ(at_head->value_or("(absent)"), item.body);
    }
  }

  auto outbox = store->PendingOutbox(1000);
  ASSERT_TRUE(outbox.ok());
  ASSERT_EQ(static_cast<int64_t>(outbox->size()), std::min<int64_t>(head / 2, 1000));
  if (!outbox->empty()) {
    EXPECT_EQ(outbox->front().payload, "{\"last\":2}");
  }
  // The last commit's outbox row names the head: it committed with its revisions.
  int64_t last_payload_after = 0;
  std::string last_payload;
  for (;;) {
    auto page = store->PendingOutbox(1000);
    ASSERT_TRUE(page.ok());
    if (page->empty()) break;
    last_payload = page->back().payload;
    for (const OutboxRow& row : *page) ASSERT_TRUE(store->MarkOutboxDone(row.id).ok());
    last_payload_after += static_cast<int64_t>(page->size());
  }
  EXPECT_EQ(last_payload_after, head / 2);
  EXPECT_EQ(last_payload, StrCat("{\"last\":", head, "}"));

  // And the store goes on from there.
  auto next = store->Commit(PutRequest("after-crash", "{}"));
  ASSERT_TRUE(next.ok()) << next.status();
  EXPECT_EQ(next->first_revision, head + 1);
}

INSTANTIATE_TEST_SUITE_P(ThreeRuns, SqliteWorkspaceStoreCrashTest, ::testing::Range(0, 3));

}  // namespace
}  // namespace edgevault::storage
