#include "src/services/common/edge_kv_open.h"

#include <signal.h>
#include <stdlib.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>

#include "gtest/gtest.h"
#include "src/base/testing/temp_dir.h"
#include "src/storage/redis/redis_test_server.h"

namespace edgevault::services {
namespace {

using TempDir = base::testing::TempDir;

// Waits (bounded, for failing tests only) until `done` holds.
template <typename F>
bool Eventually(F done) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (std::chrono::steady_clock::now() < deadline) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

TEST(EdgeKvOpenTest, DefaultIsTheEmbeddedLmdbStoreUnderTheDataDir) {
  TempDir dir;
  base::Config config;
  config.data_dir = dir.path();
  EXPECT_FALSE(EdgeKvIsShared(config));
  absl::StatusOr<std::unique_ptr<storage::EdgeKv>> writer = OpenEdgeKv(config, false);
  ASSERT_TRUE(writer.ok()) << writer.status();
  EXPECT_TRUE(std::filesystem::exists(dir.path() + "/edge"));
  ASSERT_TRUE((*writer)->PutIfNewer("doc/ws/prod", "{}", 3).ok());
  config.kv_url = "lmdb:";
  absl::StatusOr<std::unique_ptr<storage::EdgeKv>> reader = OpenEdgeKv(config, true);
  ASSERT_TRUE(reader.ok()) << reader.status();
  EXPECT_EQ((*reader)->GetVersion("doc/ws/prod").value_or(-1), 3);
  // LMDB's absent means absent: there is no populated marker to consult.
  EXPECT_EQ((*reader)->GetVersion("doc/ws/none").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ((*reader)->PutIfNewer("k", "v", 1).status().code(),
            absl::StatusCode::kFailedPrecondition);
  absl::StatusOr<std::unique_ptr<EdgeKvWatch>> watch = WatchEdgeKv(config, [] {});
  ASSERT_TRUE(watch.ok()) << watch.status();
  EXPECT_EQ(*watch, nullptr);  // nothing to subscribe to
}

TEST(EdgeKvOpenTest, BadUrlInAHandBuiltConfigIsInvalidArgumentNamingTheKey) {
  base::Config config;
  config.data_dir = "/nonexistent";
  config.kv_url = "redis://host:0";
  absl::StatusOr<std::unique_ptr<storage::EdgeKv>> kv = OpenEdgeKv(config, true);
  EXPECT_EQ(kv.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(std::string(kv.status().message()).find("kv.url"), std::string::npos);
  EXPECT_EQ(WatchEdgeKv(config, [] {}).status().code(), absl::StatusCode::kInvalidArgument);
}

class EdgeKvOpenRedisTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ::signal(SIGPIPE, SIG_IGN);
    ASSERT_TRUE(server_.Start()) << "could not start redis-server";
    config_.data_dir = dir_.path();
    config_.kv_url = server_.Url();
  }

  TempDir dir_;
  storage::RedisServer server_;
  base::Config config_;
};

TEST_F(EdgeKvOpenRedisTest, ReaderSeesAbsentAsUnavailableUntilTheKvIsPopulated) {
  EXPECT_TRUE(EdgeKvIsShared(config_));
  absl::StatusOr<std::unique_ptr<storage::EdgeKv>> writer = OpenEdgeKv(config_, false);
  ASSERT_TRUE(writer.ok()) << writer.status();
  absl::StatusOr<std::unique_ptr<storage::EdgeKv>> reader = OpenEdgeKv(config_, true);
  ASSERT_TRUE(reader.ok()) << reader.status();
  EXPECT_FALSE(std::filesystem::exists(dir_.path() + "/edge"));

  // Empty Redis (fresh, or restarted without persistence): delivery must not conclude
  // "unknown SDK key" or "no document"; the writer (the api) does see plain NotFound.
  EXPECT_EQ((*reader)->GetVersion("sdk/abc").status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ((*reader)->Get("doc/ws/prod").status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ((*writer)->GetVersion("sdk/abc").status().code(), absl::StatusCode::kNotFound);

  // Present keys read normally, marker or not.
  ASSERT_TRUE((*writer)->PutIfNewer("doc/ws/prod", "{\"v\":1}", 7).ok());
  absl::StatusOr<storage::KvEntry> doc = (*reader)->Get("doc/ws/prod");
  ASSERT_TRUE(doc.ok()) << doc.status();
  EXPECT_EQ(doc->version, 7);

  ASSERT_TRUE((*writer)->PutIfNewer(kPopulatedKey, R"({"format":1})", 1).ok());
  EXPECT_EQ((*reader)->GetVersion("sdk/abc").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ((*reader)->Get("doc/ws/other").status().code(), absl::StatusCode::kNotFound);

  // Redis restarts empty: unavailable again, until repopulated.
  ASSERT_TRUE(server_.Restart());
  EXPECT_EQ((*reader)->GetVersion("doc/ws/prod").status().code(), absl::StatusCode::kUnavailable);
  server_.Kill();
  EXPECT_EQ((*reader)->GetVersion("doc/ws/prod").status().code(), absl::StatusCode::kUnavailable);
}

TEST_F(EdgeKvOpenRedisTest, WatchCallsBackOnSubscribeAndOnEveryAcceptedWrite) {
  std::atomic<int> calls{0};
  absl::StatusOr<std::unique_ptr<EdgeKvWatch>> watch = WatchEdgeKv(config_, [&] { ++calls; });
  ASSERT_TRUE(watch.ok()) << watch.status();
  ASSERT_NE(*watch, nullptr);
  ASSERT_TRUE(Eventually([&] { return calls.load() >= 1; }));  // subscribed
  absl::StatusOr<std::unique_ptr<storage::EdgeKv>> writer = OpenEdgeKv(config_, false);
  ASSERT_TRUE(writer.ok()) << writer.status();
  ASSERT_TRUE((*writer)->PutIfNewer("doc/ws/prod", "{}", 1).ok());
  ASSERT_TRUE(Eventually([&] { return calls.load() >= 2; }));
  // After a restart the watch resubscribes (and calls back, so the owner re-checks).
  const int before = calls.load();
  ASSERT_TRUE(server_.Restart());
  ASSERT_TRUE(Eventually([&] { return calls.load() > before; }));
  // A second watch is the positive control: once it saw the next write, the stopped one
  // would have seen it too.
  std::atomic<int> control_calls{0};
  absl::StatusOr<std::unique_ptr<EdgeKvWatch>> control = WatchEdgeKv(config_, [&] { ++control_calls; });
  ASSERT_TRUE(control.ok()) << control.status();
  ASSERT_TRUE(Eventually([&] { return control_calls.load() >= 1; }));  // subscribed
  watch->reset();  // stops: no callback after this
  const int after = calls.load();
  const int control_before = control_calls.load();
  ASSERT_TRUE((*writer)->PutIfNewer("doc/ws/prod", "{}", 2).ok());
  ASSERT_TRUE(Eventually([&] { return control_calls.load() > control_before; }));
  EXPECT_EQ(calls.load(), after);
}

TEST_F(EdgeKvOpenRedisTest, PasswordAndDatabaseComeFromTheUrl) {
  storage::RedisServer secured;
  secured.RequirePassword("p@ss/word");
  ASSERT_TRUE(secured.Start());
  config_.kv_url = "redis://127.0.0.1:" + std::to_string(secured.port()) + "/2";
  EXPECT_EQ(OpenEdgeKv(config_, false).status().code(), absl::StatusCode::kPermissionDenied);
  config_.kv_url = "redis://:p%40ss%2Fword@127.0.0.1:" + std::to_string(secured.port()) + "/2";
  absl::StatusOr<std::unique_ptr<storage::EdgeKv>> writer = OpenEdgeKv(config_, false);
  ASSERT_TRUE(writer.ok()) << writer.status();
  ASSERT_TRUE((*writer)->PutIfNewer("k", "v", 1).ok());
  storage::RawReply in_db2 = secured.Raw({"SELECT", "2"});
  ASSERT_NE(in_db2, nullptr);
  storage::RawReply in_db0 = secured.Raw({"EXISTS", "ev:k"});  // a new connection: db 0
  ASSERT_NE(in_db0, nullptr);
  EXPECT_EQ(in_db0->integer, 0);
}

}  // namespace
}  // namespace edgevault::services
