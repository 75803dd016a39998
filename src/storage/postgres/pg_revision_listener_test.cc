#include "src/storage/postgres/pg_revision_listener.h"

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <vector>

#include "gtest/gtest.h"
#include "src/base/env.h"
#include "src/base/strings.h"
#include "src/storage/postgres/pg_pool.h"
#include "src/storage/postgres/postgres_test_server.h"
#include "src/storage/postgres/workspace_store_postgres.h"

namespace edgevault::storage {
namespace {

TEST(RevisionNoticeTest, RoundTripsAndRefusesAnythingElse) {
  RevisionNotice n{"ws_0123456789abcdefabcd", 7, 9};
  std::optional<RevisionNotice> back = ParseRevisionNotice(FormatRevisionNotice(n));
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(back->workspace_id, n.workspace_id);
  EXPECT_EQ(back->first, 7);
  EXPECT_EQ(back->last, 9);
  for (const char* bad : {"", "ws", "ws 1", " 1 2", "ws 1 x", "ws 0 1", "ws 3 2", "ws 1 2 3", "ws -1 2",
                          "ws 1 99999999999999999999"}) {
    EXPECT_FALSE(ParseRevisionNotice(bad).has_value()) << bad;
  }
}

// What the listener hands over, awaited by the test.
struct Heard {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<RevisionNotice> notices;
  int resyncs = 0;

  template <typename Pred>
  bool Await(Pred done) {
    std::unique_lock<std::mutex> lock(mu);
    // The bound only limits how long a failing test waits.
    return cv.wait_for(lock, std::chrono::seconds(30), [&] { return done(*this); });
  }
};

std::unique_ptr<PgRevisionListener> Listen(const std::string& url, Heard& heard) {
  auto l = PgRevisionListener::Start(
      {.url = url,
       .env = base::Env::Default(),
       .on_notice =
           [&heard](const RevisionNotice& n) {
             std::lock_guard<std::mutex> lock(heard.mu);
             heard.notices.push_back(n);
             heard.cv.notify_all();
           },
       .on_resync =
           [&heard] {
             std::lock_guard<std::mutex> lock(heard.mu);
             ++heard.resyncs;
             heard.cv.notify_all();
           }});
  EXPECT_TRUE(l.ok()) << l.status();
  return l.ok() ? std::move(*l) : nullptr;
}

TEST(PgRevisionListenerTest, HearsEveryCommitInOrderAndReconnectsAfterTheConnectionIsCut) {
  const std::string url = NewPostgresTestDatabase();
  ASSERT_FALSE(url.empty());
  auto provider = OpenPostgresWorkspaceStoreProvider({.url = url, .env = base::Env::Default()});
  ASSERT_TRUE(provider.ok()) << provider.status();
  auto store = (*provider)->Create("ws_listen");
  ASSERT_TRUE(store.ok()) << store.status();
  Heard heard;
  std::unique_ptr<PgRevisionListener> listener = Listen(url, heard);
  ASSERT_NE(listener, nullptr);
  ASSERT_TRUE(heard.Await([](Heard& h) { return h.resyncs == 1; }));

  auto commit = [&](int mutations) {
    CommitRequest c;
    c.actor = "user:usr_test";
    c.reason = "test";
    c.op = "put";
    c.time = absl::Now();
    for (int i = 0; i < mutations; ++i) c.mutations.push_back({ItemKind::kConfig, base::StrCat("k", i), "1"});
    auto r = (*store)->Commit(c);
    EXPECT_TRUE(r.ok()) << r.status();
  };
  commit(2);
  commit(1);
  // An outbox-only commit writes no revision and sends nothing.
  CommitRequest outbox_only;
  outbox_only.actor = "user:usr_test";
  outbox_only.reason = "test";
  outbox_only.op = "put";
  outbox_only.time = absl::Now();
  outbox_only.outbox.push_back({0, "audit", "{}", absl::Now(), 0});
  ASSERT_TRUE((*store)->Commit(outbox_only).ok());
  // Another writer on the channel with a payload that is not a notice is ignored.
  auto pool = PgPool::Create({.connect = {.url = url}, .max_connections = 1});
  ASSERT_TRUE(pool.ok()) << pool.status();
  ASSERT_TRUE((*pool)->Query("SELECT pg_notify('ev_revisions', 'garbage')").ok());
  commit(1);
  ASSERT_TRUE(heard.Await([](Heard& h) { return h.notices.size() >= 3; }));
  {
    std::lock_guard<std::mutex> lock(heard.mu);
    ASSERT_EQ(heard.notices.size(), 3u);
    EXPECT_EQ(heard.notices[0].workspace_id, "ws_listen");
    EXPECT_EQ(heard.notices[0].first, 1);
    EXPECT_EQ(heard.notices[0].last, 2);
    EXPECT_EQ(heard.notices[1].first, 3);
    EXPECT_EQ(heard.notices[1].last, 3);
    EXPECT_EQ(heard.notices[2].first, 4);
    EXPECT_EQ(heard.notices[2].last, 4);
  }

  // The server drops the connection: the listener connects and LISTENs again, tells its
  // owner to resync, and hears the next commit.
  auto cut = (*pool)->Query(
      "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
      "WHERE application_name = 'edgevault-revision-listener'");
  ASSERT_TRUE(cut.ok()) << cut.status();
  ASSERT_EQ(cut->Rows(), 1);
  ASSERT_TRUE(heard.Await([](Heard& h) { return h.resyncs == 2; }));
  EXPECT_EQ(listener->listens(), 2);
  commit(1);
  ASSERT_TRUE(heard.Await([](Heard& h) { return h.notices.size() == 4; }));
  listener->Stop();
  listener.reset();
}

TEST(WorkspaceListNoticeTest, RoundTripsAndRefusesAnythingElse) {
  std::optional<WorkspaceListNotice> back = ParseWorkspaceListNotice(FormatWorkspaceListNotice({"org_1", "a1b2"}));
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(back->org_id, "org_1");
  EXPECT_EQ(back->sender, "a1b2");
  for (const char* bad : {"", "org_1", "org_1 ", " a1b2", "org_1 a1b2 x"}) {
    EXPECT_FALSE(ParseWorkspaceListNotice(bad).has_value()) << bad;
  }
}

// An api node's workspace-list announcement reaches every listener that asked for them,
// next to the revision notices; a malformed one is dropped; a listener without the
// callback does not listen on that channel at all.
TEST(PgRevisionListenerTest, WorkspaceListNoticesReachTheListenersThatAskedForThem) {
  const std::string url = NewPostgresTestDatabase();
  ASSERT_FALSE(url.empty());
  struct Lists {
    std::mutex mu;
    std::condition_variable cv;
    std::vector<WorkspaceListNotice> heard;
    int resyncs = 0;
  } lists;
  std::vector<RevisionNotice> revisions;
  auto with = PgRevisionListener::Start(
      {.url = url,
       .env = base::Env::Default(),
       .on_notice =
           [&](const RevisionNotice& n) {
             std::lock_guard<std::mutex> lock(lists.mu);
             revisions.push_back(n);
           },
       .on_resync =
           [&] {
             std::lock_guard<std::mutex> lock(lists.mu);
             ++lists.resyncs;
             lists.cv.notify_all();
           },
       .on_workspace_list =
           [&](const WorkspaceListNotice& n) {
             std::lock_guard<std::mutex> lock(lists.mu);
             lists.heard.push_back(n);
             lists.cv.notify_all();
           }});
  ASSERT_TRUE(with.ok()) << with.status();
  Heard plain;
  std::unique_ptr<PgRevisionListener> without = Listen(url, plain);
  ASSERT_NE(without, nullptr);
  auto await = [&](auto done) {
    std::unique_lock<std::mutex> lock(lists.mu);
    return lists.cv.wait_for(lock, std::chrono::seconds(30), done);  // bounds a failing test only
  };
  ASSERT_TRUE(await([&] { return lists.resyncs == 1; }));
  ASSERT_TRUE(plain.Await([](Heard& h) { return h.resyncs == 1; }));

  PgPoolOptions po;
  po.connect.url = url;
  po.max_connections = 1;
  auto pool = PgPool::Create(po);
  ASSERT_TRUE(pool.ok()) << pool.status();
  ASSERT_TRUE((*pool)->Query("SELECT pg_notify($1, $2)", {kWorkspaceListChannel, "no-sender"}).ok());
  ASSERT_TRUE(NotifyWorkspaceListChanged(**pool, {"org_1", "node-a"}).ok());
  ASSERT_TRUE(await([&] { return !lists.heard.empty(); }));
  {
    std::lock_guard<std::mutex> lock(lists.mu);
    ASSERT_EQ(lists.heard.size(), 1u);  // the malformed one, sent first, was dropped
    EXPECT_EQ(lists.heard[0].org_id, "org_1");
    EXPECT_EQ(lists.heard[0].sender, "node-a");
    EXPECT_TRUE(revisions.empty());  // not taken for a revision notice
  }
  // The listener without the callback heard nothing at all (positive control: a revision
  // notice sent after the announcement reaches it).
  ASSERT_TRUE((*pool)->Query("SELECT pg_notify($1, $2)", {kRevisionChannel, "ws_x 1 1"}).ok());
  ASSERT_TRUE(plain.Await([](Heard& h) { return !h.notices.empty(); }));
  {
    std::lock_guard<std::mutex> lock(plain.mu);
    ASSERT_EQ(plain.notices.size(), 1u);
    EXPECT_EQ(plain.notices[0].workspace_id, "ws_x");
  }
  (*with)->Stop();
  without->Stop();
}

TEST(PgRevisionListenerTest, RefusesABadUrlAndMissingCallbacks) {
  EXPECT_FALSE(PgRevisionListener::Start({.url = "mysql://x", .env = base::Env::Default(),
                                          .on_notice = [](const RevisionNotice&) {}, .on_resync = [] {}})
                   .ok());
  EXPECT_FALSE(PgRevisionListener::Start({.url = "postgres://localhost/x", .env = base::Env::Default()}).ok());
}

}  // namespace
}  // namespace edgevault::storage
