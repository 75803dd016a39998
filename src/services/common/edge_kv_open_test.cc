#include "src/services/common/edge_kv_open.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>
#include <stdlib.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "src/base/testing/poll_until.h"
#include "src/base/testing/scramble.h"
#include "src/base/testing/temp_dir.h"
#include "src/storage/redis/redis_test_server.h"

namespace edgevault::services {
namespace {

using TempDir = base::testing::TempDir;


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
  // As on Redis: absent is "unavailable" until the api has written the populated marker.
  EXPECT_EQ((*reader)->GetVersion("doc/ws/none").status().code(), absl::StatusCode::kUnavailable);
  ASSERT_TRUE((*writer)->PutIfNewer(kPopulatedKey, R"({"format":1})", 1).ok());
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
  ASSERT_TRUE(base::testing::PollUntil([&] { return calls.load() >= 1; }));  // subscribed
  absl::StatusOr<std::unique_ptr<storage::EdgeKv>> writer = OpenEdgeKv(config_, false);
  ASSERT_TRUE(writer.ok()) << writer.status();
  ASSERT_TRUE((*writer)->PutIfNewer("doc/ws/prod", "{}", 1).ok());
  ASSERT_TRUE(base::testing::PollUntil([&] { return calls.load() >= 2; }));
  // After a restart the watch resubscribes (and calls back, so the owner re-checks).
  const int before = calls.load();
  ASSERT_TRUE(server_.Restart());
  ASSERT_TRUE(base::testing::PollUntil([&] { return calls.load() > before; }));
  // A second watch is the positive control: once it saw the next write, the stopped one
  // would have seen it too.
  std::atomic<int> control_calls{0};
  absl::StatusOr<std::unique_ptr<EdgeKvWatch>> control = WatchEdgeKv(config_, [&] { ++control_calls; });
  ASSERT_TRUE(control.ok()) << control.status();
  ASSERT_TRUE(base::testing::PollUntil([&] { return control_calls.load() >= 1; }));  // subscribed
  watch->reset();  // stops: no callback after this
  const int after = calls.load();
  const int control_before = control_calls.load();
  ASSERT_TRUE((*writer)->PutIfNewer("doc/ws/prod", "{}", 2).ok());
  ASSERT_TRUE(base::testing::PollUntil([&] { return control_calls.load() > control_before; }));
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

// ---- The embedded store damaged, deleted or rebuilt (issue 19; docs/delivery.md "A damaged
// or lost store"): the writer (the api) rebuilds, the reader (delivery) follows; neither
// crashes, and reads of a damaged store are Unavailable (answered from memory upstream).

void Scramble(const std::string& path, off_t from) {
  ASSERT_TRUE(base::testing::Scramble(path, from, /*seed=*/11)) << path;
}

bool HasMovedAsideCopy(const std::string& dir) {
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    if (e.path().filename().string().rfind("edge.damaged-", 0) == 0) return true;
  }
  return false;
}

class EdgeKvOpenLmdbTest : public ::testing::Test {
 protected:
  void SetUp() override {
    config_.data_dir = dir_.path();
    auto writer = OpenEdgeKv(config_, false);
    ASSERT_TRUE(writer.ok()) << writer.status();
    writer_ = *std::move(writer);
    Publish("one", 1);
    auto reader = OpenEdgeKv(config_, true);
    ASSERT_TRUE(reader.ok()) << reader.status();
    reader_ = *std::move(reader);
    ASSERT_EQ(reader_->Maintain(), EdgeKvState::kOk) << reader_->StateDetail();
    ASSERT_EQ(writer_->Maintain(), EdgeKvState::kOk) << writer_->StateDetail();
  }
  // What the api's propagation and republisher write.
  void Publish(const std::string& value, int64_t version) {
    ASSERT_TRUE(writer_->PutIfNewer("doc/ws/prod", value, version).ok());
    ASSERT_TRUE(writer_->PutIfNewer(kPopulatedKey, R"({"format":1})", 1).ok());
  }
  std::string Data() const { return dir_.path() + "/edge/data.mdb"; }
  std::string Metrics(ManagedEdgeKv& kv) const {
    std::string out;
    kv.AppendMetrics("t", &out);
    return out;
  }

  TempDir dir_;
  base::Config config_;
  std::unique_ptr<ManagedEdgeKv> writer_;
  std::unique_ptr<ManagedEdgeKv> reader_;
};

TEST_F(EdgeKvOpenLmdbTest, ReaderSeesAbsentAsUnavailableUntilTheStoreIsPopulated) {
  EXPECT_EQ(reader_->GetVersion("sdk/none").status().code(), absl::StatusCode::kNotFound);
  ASSERT_TRUE(writer_->DeleteIfNotNewer(kPopulatedKey, 1).ok());
  EXPECT_EQ(reader_->GetVersion("sdk/none").status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(writer_->GetVersion("sdk/none").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(reader_->GetVersion("doc/ws/prod").value_or(-1), 1);  // present keys read normally
  EXPECT_EQ(reader_->Maintain(), EdgeKvState::kUnpopulated);
  EXPECT_NE(reader_->NotReadyReason(), "");
}

TEST_F(EdgeKvOpenLmdbTest, WriterRebuildsADamagedStoreAndTheReaderFollows) {
  Scramble(Data(), 0);
  absl::StatusOr<storage::KvEntry> got = reader_->Get("doc/ws/prod");
  EXPECT_EQ(got.status().code(), absl::StatusCode::kUnavailable) << got.status();
  EXPECT_EQ(reader_->Maintain(), EdgeKvState::kDamaged);
  EXPECT_NE(reader_->NotReadyReason().find("damaged"), std::string::npos) << reader_->NotReadyReason();
  EXPECT_NE(Metrics(*reader_).find("edgevault_edge_kv_state{service=\"t\",state=\"damaged\"} 1"),
            std::string::npos)
      << Metrics(*reader_);

  // The api: moves it aside, opens a fresh one; the marker is missing until it republishes.
  EXPECT_EQ(writer_->Maintain(), EdgeKvState::kUnpopulated) << writer_->StateDetail();
  EXPECT_TRUE(HasMovedAsideCopy(dir_.path()));
  EXPECT_EQ(writer_->GetVersion(kPopulatedKey).status().code(), absl::StatusCode::kNotFound);

  // Delivery opens the new store; until the republish, absent is "unavailable".
  EXPECT_EQ(reader_->Maintain(), EdgeKvState::kUnpopulated) << reader_->StateDetail();
  EXPECT_EQ(reader_->Get("doc/ws/prod").status().code(), absl::StatusCode::kUnavailable);
  Publish("two", 2);
  EXPECT_EQ(reader_->Maintain(), EdgeKvState::kOk) << reader_->StateDetail();
  EXPECT_EQ(reader_->NotReadyReason(), "");
  absl::StatusOr<storage::KvEntry> fresh = reader_->Get("doc/ws/prod");
  ASSERT_TRUE(fresh.ok()) << fresh.status();
  EXPECT_EQ(fresh->value, "two");
  std::string m = Metrics(*reader_);
  EXPECT_NE(m.find("edgevault_edge_kv_damage_detected_total{service=\"t\"} 1"), std::string::npos) << m;
  EXPECT_NE(m.find("edgevault_edge_kv_reopened_total{service=\"t\"} 1"), std::string::npos) << m;
  EXPECT_NE(Metrics(*writer_).find("edgevault_edge_kv_reopened_total{service=\"t\"} 1"), std::string::npos);
}

TEST_F(EdgeKvOpenLmdbTest, WriterChecksEveryPageWhenSomeoneElseWroteTheFile) {
  // The head of a large value's overflow pages: no read below touches it, only a walk of
  // every page finds it damaged.
  ASSERT_TRUE(writer_->PutIfNewer("doc/ws/big", std::string(20000, 'x'), 1).ok());
  ASSERT_EQ(writer_->Maintain(), EdgeKvState::kOk);
  std::string file;
  {
    std::ifstream f(Data(), std::ios::binary);
    file.assign(std::istreambuf_iterator<char>(f), {});
  }
  size_t at = file.find(std::string("\0\0\0\0\0\0\0\1", 8) + std::string(64, 'x'));
  ASSERT_NE(at, std::string::npos);
  const off_t page = static_cast<off_t>((at - 16) / 4096 * 4096);
  {
    int fd = ::open(Data().c_str(), O_WRONLY);
    std::string garbage(4096, '\x5a');
    ASSERT_EQ(::pwrite(fd, garbage.data(), garbage.size(), page), 4096);
    ::close(fd);
  }
  EXPECT_EQ(writer_->Maintain(), EdgeKvState::kUnpopulated) << writer_->StateDetail();
  EXPECT_TRUE(HasMovedAsideCopy(dir_.path()));
}

TEST_F(EdgeKvOpenLmdbTest, WriterRecreatesADeletedDirectory) {
  std::filesystem::remove_all(dir_.path() + "/edge");
  EXPECT_EQ(reader_->Maintain(), EdgeKvState::kMissing);
  EXPECT_EQ(reader_->GetVersion("doc/ws/prod").value_or(-1), 1);  // the old files still serve
  EXPECT_EQ(writer_->Maintain(), EdgeKvState::kUnpopulated);
  EXPECT_TRUE(std::filesystem::exists(Data()));
  Publish("again", 3);
  EXPECT_EQ(reader_->Maintain(), EdgeKvState::kOk);
  EXPECT_EQ(reader_->GetVersion("doc/ws/prod").value_or(-1), 3);
}

TEST_F(EdgeKvOpenLmdbTest, ReaderStartsOnADamagedStoreAndWriterStartsByRebuildingIt) {
  reader_.reset();
  writer_.reset();
  Scramble(Data(), 0);
  absl::StatusOr<std::unique_ptr<ManagedEdgeKv>> reader = OpenEdgeKv(config_, true);
  ASSERT_TRUE(reader.ok()) << reader.status();
  EXPECT_EQ((*reader)->state(), EdgeKvState::kDamaged) << (*reader)->StateDetail();
  EXPECT_EQ((*reader)->GetVersion("doc/ws/prod").status().code(), absl::StatusCode::kUnavailable);
  absl::StatusOr<std::unique_ptr<ManagedEdgeKv>> writer = OpenEdgeKv(config_, false);
  ASSERT_TRUE(writer.ok()) << writer.status();
  EXPECT_EQ((*writer)->state(), EdgeKvState::kUnpopulated) << (*writer)->StateDetail();
  EXPECT_TRUE(HasMovedAsideCopy(dir_.path()));
  ASSERT_TRUE((*writer)->PutIfNewer(kPopulatedKey, R"({"format":1})", 1).ok());
  EXPECT_EQ((*reader)->Maintain(), EdgeKvState::kOk) << (*reader)->StateDetail();
}

}  // namespace
}  // namespace edgevault::services
