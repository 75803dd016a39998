#include "src/storage/redis/edge_kv_redis.h"

#include <hiredis/hiredis.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "gtest/gtest.h"
#include "src/base/strings.h"
#include "src/storage/edge_kv_conformance.h"
#include "src/storage/redis/redis_test_server.h"

namespace edgevault::storage {
namespace {

using base::StrCat;

#define KV_ASSIGN_CONCAT_(a, b) a##b
#define KV_ASSIGN_CONCAT(a, b) KV_ASSIGN_CONCAT_(a, b)
#define ASSERT_OK_AND_ASSIGN(lhs, expr) \
  ASSERT_OK_AND_ASSIGN_(KV_ASSIGN_CONCAT(kv_tmp_, __LINE__), lhs, expr)
#define ASSERT_OK_AND_ASSIGN_(tmp, lhs, expr) \
  auto tmp = (expr);                          \
  ASSERT_TRUE(tmp.ok()) << tmp.status();      \
  lhs = std::move(tmp).value()

std::unique_ptr<EdgeKv> NewEmptyRedisEdgeKv() {
  RedisServer* server = EmptySharedRedisServer();
  if (server == nullptr) return nullptr;
  auto kv = OpenRedisEdgeKv(server->Options());
  if (!kv.ok()) {
    ADD_FAILURE() << kv.status();
    return nullptr;
  }
  return std::move(*kv);
}

// Collects what a watcher reports, for the test thread to wait on.
class Recorder {
 public:
  void OnChange(std::string key, int64_t version) {
    std::lock_guard<std::mutex> lock(mu_);
    changes_.emplace_back(std::move(key), version);
    cv_.notify_all();
  }
  void OnSubscribed() {
    std::lock_guard<std::mutex> lock(mu_);
    ++subscriptions_;
    cv_.notify_all();
  }
  // The bound only limits how long a failing test waits.
  bool WaitForChanges(size_t n) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, std::chrono::seconds(30), [&] { return changes_.size() >= n; });
  }
  bool WaitForSubscriptions(int n) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, std::chrono::seconds(30), [&] { return subscriptions_ >= n; });
  }
  std::vector<std::pair<std::string, int64_t>> changes() {
    std::lock_guard<std::mutex> lock(mu_);
    return changes_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::pair<std::string, int64_t>> changes_;
  int subscriptions_ = 0;
};

absl::StatusOr<std::unique_ptr<RedisKvWatcher>> NewWatcher(const RedisEdgeKvOptions& o,
                                                           Recorder& r) {
  return RedisKvWatcher::Create(
      o, [&r](std::string key, int64_t version) { r.OnChange(std::move(key), version); },
      [&r] { r.OnSubscribed(); });
}

using Changes = std::vector<std::pair<std::string, int64_t>>;

// Each test gets its own server, so killing or pausing it touches nobody else.
class RedisEdgeKvTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(server_.Start()) << "could not start redis-server"; }
  void TearDown() override { server_.Kill(); }

  RedisServer server_;
};

TEST_F(RedisEdgeKvTest, EntryIsAHashOfValueAndDecimalVersionUnderThePrefix) {
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<EdgeKv> kv, OpenRedisEdgeKv(server_.Options()));
  ASSERT_TRUE(kv->PutIfNewer("doc/ws_1/prod", std::string("a\0b", 3), 42).ok());
  RawReply v = server_.Raw({"HGET", "ev:doc/ws_1/prod", "v"});
  ASSERT_NE(v, nullptr);
  ASSERT_EQ(v->type, REDIS_REPLY_STRING);
  EXPECT_EQ(std::string(v->str, v->len), std::string("a\0b", 3));
  RawReply version = server_.Raw({"HGET", "ev:doc/ws_1/prod", "version"});
  ASSERT_NE(version, nullptr);
  ASSERT_EQ(version->type, REDIS_REPLY_STRING);
  EXPECT_EQ(std::string(version->str, version->len), "42");
  RawReply fields = server_.Raw({"HLEN", "ev:doc/ws_1/prod"});
  ASSERT_NE(fields, nullptr);
  EXPECT_EQ(fields->integer, 2);
}

TEST_F(RedisEdgeKvTest, PrefixesSeparateStoresSharingOneServer) {
  RedisEdgeKvOptions a = server_.Options();
  a.key_prefix = "a*[";  // glob characters must match themselves in SCAN MATCH
  RedisEdgeKvOptions b = server_.Options();
  b.key_prefix = "a";
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<EdgeKv> kv_a, OpenRedisEdgeKv(a));
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<EdgeKv> kv_b, OpenRedisEdgeKv(b));
  ASSERT_TRUE(kv_a->PutIfNewer("k1", "from a", 1).ok());
  ASSERT_TRUE(kv_b->PutIfNewer("zz", "from b", 1).ok());
  ASSERT_OK_AND_ASSIGN(std::vector<std::string> keys_a, kv_a->ListKeys("", 10));
  EXPECT_EQ(keys_a, std::vector<std::string>{"k1"});
  ASSERT_OK_AND_ASSIGN(std::vector<std::string> keys_b, kv_b->ListKeys("z", 10));
  EXPECT_EQ(keys_b, std::vector<std::string>{"zz"});
  EXPECT_EQ(kv_a->Get("zz").status().code(), absl::StatusCode::kNotFound);
}

TEST_F(RedisEdgeKvTest, VersionsAbove2To53AreComparedExactly) {
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<EdgeKv> kv, OpenRedisEdgeKv(server_.Options()));
  constexpr int64_t k2To53 = int64_t{1} << 53;  // as doubles, 2^53 == 2^53 + 1
  ASSERT_OK_AND_ASSIGN(bool first, kv->PutIfNewer("k", "a", k2To53));
  EXPECT_TRUE(first);
  ASSERT_OK_AND_ASSIGN(bool next, kv->PutIfNewer("k", "b", k2To53 + 1));
  EXPECT_TRUE(next);
  ASSERT_OK_AND_ASSIGN(bool refused, kv->DeleteIfNotNewer("k", k2To53));
  EXPECT_FALSE(refused);
  ASSERT_OK_AND_ASSIGN(KvEntry got, kv->Get("k"));
  EXPECT_EQ(got.version, k2To53 + 1);
  EXPECT_EQ(got.value, "b");
}

TEST_F(RedisEdgeKvTest, ForeignEntriesUnderThePrefixAreInternal) {
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<EdgeKv> kv, OpenRedisEdgeKv(server_.Options()));
  ASSERT_NE(server_.Raw({"SET", "ev:string", "x"}), nullptr);
  ASSERT_NE(server_.Raw({"HSET", "ev:hash", "v", "x", "version", "01"}), nullptr);
  EXPECT_EQ(kv->Get("string").status().code(), absl::StatusCode::kInternal);
  EXPECT_EQ(kv->PutIfNewer("string", "v", 1).status().code(), absl::StatusCode::kInternal);
  EXPECT_EQ(kv->Get("hash").status().code(), absl::StatusCode::kInternal);
  EXPECT_EQ(kv->GetVersion("hash").status().code(), absl::StatusCode::kInternal);
  EXPECT_EQ(kv->PutIfNewer("hash", "v", 5).status().code(), absl::StatusCode::kInternal);
  EXPECT_EQ(kv->DeleteIfNotNewer("hash", 5).status().code(), absl::StatusCode::kInternal);
}

TEST_F(RedisEdgeKvTest, FlushedScriptsAreReloaded) {
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<EdgeKv> kv, OpenRedisEdgeKv(server_.Options()));
  RawReply flushed = server_.Raw({"SCRIPT", "FLUSH"});
  ASSERT_NE(flushed, nullptr);
  ASSERT_EQ(flushed->type, REDIS_REPLY_STATUS);
  ASSERT_OK_AND_ASSIGN(bool written, kv->PutIfNewer("k", "v", 1));
  EXPECT_TRUE(written);
  ASSERT_NE(server_.Raw({"SCRIPT", "FLUSH"}), nullptr);
  ASSERT_OK_AND_ASSIGN(bool removed, kv->DeleteIfNotNewer("k", 1));
  EXPECT_TRUE(removed);
}

TEST_F(RedisEdgeKvTest, BadOptionsAreInvalidArgument) {
  auto with = [&](auto mutate) {
    RedisEdgeKvOptions o = server_.Options();
    mutate(o);
    return OpenRedisEdgeKv(o).status().code();
  };
  EXPECT_EQ(with([](RedisEdgeKvOptions& o) { o.host = ""; }), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(with([](RedisEdgeKvOptions& o) { o.port = 0; }), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(with([](RedisEdgeKvOptions& o) { o.pool_size = 0; }),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(with([](RedisEdgeKvOptions& o) { o.timeout = absl::ZeroDuration(); }),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(with([](RedisEdgeKvOptions& o) { o.channel = ""; }),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(RedisKvWatcher::Create(server_.Options(), nullptr).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(RedisEdgeKvTest, OpenWithNoServerIsUnavailable) {
  RedisEdgeKvOptions o = server_.Options();
  server_.Kill();
  EXPECT_EQ(OpenRedisEdgeKv(o).status().code(), absl::StatusCode::kUnavailable);
}

TEST_F(RedisEdgeKvTest, KilledServerIsUnavailable) {
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<EdgeKv> kv, OpenRedisEdgeKv(server_.Options()));
  ASSERT_TRUE(kv->PutIfNewer("k", "v", 1).ok());
  server_.Kill();
  EXPECT_EQ(kv->Get("k").status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(kv->GetVersion("k").status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(kv->PutIfNewer("k", "v", 2).status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(kv->DeleteIfNotNewer("k", 2).status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(kv->ListKeys("", 10).status().code(), absl::StatusCode::kUnavailable);
}

TEST_F(RedisEdgeKvTest, UnresponsiveServerTimesOutAsUnavailable) {
  RedisEdgeKvOptions o = server_.Options();
  o.timeout = absl::Milliseconds(200);
  o.pool_size = 1;
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<EdgeKv> kv, OpenRedisEdgeKv(o));
  ASSERT_TRUE(kv->PutIfNewer("k", "v", 1).ok());
  server_.Pause();  // accepts nothing, answers nothing: only the timeout ends the call
  absl::Status on_pooled = kv->Get("k").status();
  absl::Status on_fresh = kv->PutIfNewer("k", "v2", 2).status();
  server_.Resume();
  EXPECT_EQ(on_pooled.code(), absl::StatusCode::kUnavailable) << on_pooled;
  EXPECT_EQ(on_fresh.code(), absl::StatusCode::kUnavailable) << on_fresh;
  ASSERT_OK_AND_ASSIGN(KvEntry got, kv->Get("k"));  // resumed: works again
  // The timed-out write sat in the server's socket buffer and may have run on resume: a
  // timeout says "unknown", never "not applied". Either way the entry is whole.
  EXPECT_TRUE((got.version == 1 && got.value == "v") || (got.version == 2 && got.value == "v2"))
      << got.version << " " << got.value;
}

TEST_F(RedisEdgeKvTest, RestartedServerServesAgainWithoutReopening) {
  RedisEdgeKvOptions o = server_.Options();
  o.pool_size = 2;
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<EdgeKv> kv, OpenRedisEdgeKv(o));
  ASSERT_TRUE(kv->PutIfNewer("k", "v", 1).ok());
  ASSERT_TRUE(server_.Restart());
  // Every pooled connection is dead; a read is retried on a fresh one. The restarted
  // server kept nothing (no persistence), so the key is gone.
  EXPECT_EQ(kv->Get("k").status().code(), absl::StatusCode::kNotFound);
  ASSERT_OK_AND_ASSIGN(bool written, kv->PutIfNewer("k", "again", 1));  // scripts reloaded
  EXPECT_TRUE(written);

  server_.Kill();
  EXPECT_EQ(kv->Get("k").status().code(), absl::StatusCode::kUnavailable);
  ASSERT_TRUE(server_.Restart());
  ASSERT_OK_AND_ASSIGN(bool rewritten, kv->PutIfNewer("k", "third", 3));
  EXPECT_TRUE(rewritten);
  ASSERT_OK_AND_ASSIGN(KvEntry got, kv->Get("k"));
  EXPECT_EQ(got.value, "third");
}

TEST(RedisEdgeKvAuthTest, PasswordAndDatabaseAreUsedOnEveryConnection) {
  RedisServer server;
  server.RequirePassword("s3cret pass");
  ASSERT_TRUE(server.Start()) << "could not start redis-server";
  RedisEdgeKvOptions o = server.Options();
  o.password.clear();
  EXPECT_EQ(OpenRedisEdgeKv(o).status().code(), absl::StatusCode::kPermissionDenied);
  o.password = "wrong";
  absl::StatusOr<std::unique_ptr<EdgeKv>> refused = OpenRedisEdgeKv(o);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(std::string(refused.status().message()).find("wrong"), std::string::npos);

  o.password = "s3cret pass";
  o.db = 3;
  Recorder recorder;
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<RedisKvWatcher> watcher, NewWatcher(o, recorder));
  ASSERT_TRUE(watcher->Start().ok());
  ASSERT_TRUE(recorder.WaitForSubscriptions(1));
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<EdgeKv> kv, OpenRedisEdgeKv(o));
  ASSERT_TRUE(kv->PutIfNewer("k", "v", 2).ok());
  // The entry is in database 3, not 0.
  RawReply in_db0 = server.Raw({"EXISTS", "ev:k"});
  ASSERT_NE(in_db0, nullptr);
  EXPECT_EQ(in_db0->integer, 0);
  ASSERT_TRUE(recorder.WaitForChanges(1));
  EXPECT_EQ(recorder.changes(), (Changes{{"k", 2}}));

  // After a restart the pooled connections are new ones: AUTH and SELECT again.
  ASSERT_TRUE(server.Restart());
  EXPECT_EQ(kv->Get("k").status().code(), absl::StatusCode::kNotFound);
  ASSERT_TRUE(kv->PutIfNewer("k", "again", 5).ok());
  ASSERT_OK_AND_ASSIGN(KvEntry got, kv->Get("k"));
  EXPECT_EQ(got.value, "again");
  ASSERT_TRUE(recorder.WaitForSubscriptions(2));
}

TEST_F(RedisEdgeKvTest, FirstWriteAfterServerRestartSucceeds) {
  // Regression: the first write after a restart used a dead pooled connection and, writes
  // not being repeated, failed with Unavailable although the server was back.
  RedisEdgeKvOptions o = server_.Options();
  o.pool_size = 1;
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<EdgeKv> kv, OpenRedisEdgeKv(o));
  ASSERT_TRUE(kv->PutIfNewer("k", "v", 1).ok());
  ASSERT_TRUE(server_.Restart());
  absl::StatusOr<bool> written = kv->PutIfNewer("k", "after restart", 2);
  ASSERT_TRUE(written.ok()) << written.status();
  EXPECT_TRUE(*written);
  ASSERT_TRUE(kv->DeleteIfNotNewer("k", 2).ok());
  ASSERT_TRUE(server_.Restart());
  EXPECT_EQ(kv->DeleteIfNotNewer("k", 3).status().code(), absl::StatusCode::kNotFound);
}

TEST_F(RedisEdgeKvTest, WatcherReceivesAcceptedWritesAndDeletesOnly) {
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<EdgeKv> kv, OpenRedisEdgeKv(server_.Options()));
  Recorder recorder;
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<RedisKvWatcher> watcher,
                       NewWatcher(server_.Options(), recorder));
  ASSERT_TRUE(watcher->Start().ok());
  EXPECT_EQ(watcher->Start().code(), absl::StatusCode::kFailedPrecondition);
  ASSERT_TRUE(recorder.WaitForSubscriptions(1));

  const std::string binary_key("sdk/\n\0x", 7);  // the version follows the LAST newline
  ASSERT_TRUE(kv->PutIfNewer("doc/ws_1/prod", "v1", 1).ok());
  ASSERT_TRUE(kv->PutIfNewer("doc/ws_1/prod", "stale", 1).ok());  // refused: not published
  ASSERT_TRUE(kv->DeleteIfNotNewer("doc/ws_1/prod", 0).ok());     // refused: not published
  ASSERT_TRUE(kv->PutIfNewer(binary_key, "x", 7).ok());
  ASSERT_TRUE(kv->DeleteIfNotNewer("doc/ws_1/prod", 5).ok());
  ASSERT_TRUE(server_.Raw({"PUBLISH", "ev:kv", "not an edge KV message"}) != nullptr);
  ASSERT_TRUE(kv->PutIfNewer("last", "x", 9).ok());

  ASSERT_TRUE(recorder.WaitForChanges(4));
  watcher->Stop();
  EXPECT_EQ(recorder.changes(),
            (Changes{{"doc/ws_1/prod", 1}, {binary_key, 7}, {"doc/ws_1/prod", 5}, {"last", 9}}));
  ASSERT_TRUE(kv->PutIfNewer("after-stop", "x", 1).ok());
  watcher.reset();
  EXPECT_EQ(recorder.changes().size(), 4u);
}

TEST_F(RedisEdgeKvTest, WatcherIgnoresOtherChannels) {
  RedisEdgeKvOptions other = server_.Options();
  other.channel = "other";
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<EdgeKv> kv_other, OpenRedisEdgeKv(other));
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<EdgeKv> kv, OpenRedisEdgeKv(server_.Options()));
  Recorder recorder;
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<RedisKvWatcher> watcher,
                       NewWatcher(server_.Options(), recorder));
  ASSERT_TRUE(watcher->Start().ok());
  ASSERT_TRUE(recorder.WaitForSubscriptions(1));
  ASSERT_TRUE(kv_other->PutIfNewer("elsewhere", "x", 1).ok());
  ASSERT_TRUE(kv->PutIfNewer("here", "x", 1).ok());
  ASSERT_TRUE(recorder.WaitForChanges(1));
  watcher->Stop();
  EXPECT_EQ(recorder.changes(), (Changes{{"here", 1}}));
}

TEST_F(RedisEdgeKvTest, WatcherResubscribesAfterServerRestart) {
  Recorder recorder;
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<RedisKvWatcher> watcher,
                       NewWatcher(server_.Options(), recorder));
  ASSERT_TRUE(watcher->Start().ok());
  ASSERT_TRUE(recorder.WaitForSubscriptions(1));
  ASSERT_TRUE(server_.Restart());
  ASSERT_TRUE(recorder.WaitForSubscriptions(2));
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<EdgeKv> kv, OpenRedisEdgeKv(server_.Options()));
  ASSERT_TRUE(kv->PutIfNewer("k", "v", 3).ok());
  ASSERT_TRUE(recorder.WaitForChanges(1));
  EXPECT_EQ(recorder.changes(), (Changes{{"k", 3}}));
}

TEST_F(RedisEdgeKvTest, WatcherStopsPromptlyWhileServerIsDown) {
  Recorder recorder;
  RedisEdgeKvOptions o = server_.Options();
  server_.Kill();
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<RedisKvWatcher> watcher, NewWatcher(o, recorder));
  ASSERT_TRUE(watcher->Start().ok());
  watcher->Stop();  // interrupts the backoff wait; must return
  EXPECT_EQ(watcher->Start().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(recorder.changes().empty());
}

}  // namespace
}  // namespace edgevault::storage

INSTANTIATE_EDGE_KV_CONFORMANCE(Redis, ::edgevault::storage::NewEmptyRedisEdgeKv);
