#include "src/storage/lmdb/edge_kv_lmdb.h"

#include <lmdb.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "src/base/status.h"
#include "src/base/strings.h"
#include "src/storage/testing/test_util.h"
#include "src/storage/edge_kv_conformance.h"

namespace edgevault::storage {
namespace {

namespace fs = std::filesystem;
using base::StrCat;

using testing::ScratchDir;

[[maybe_unused]] const ScratchDir* const kScratch = ScratchDir::Get();

std::unique_ptr<EdgeKv> NewEmptyLmdbEdgeKv() {
  auto kv = OpenLmdbEdgeKv({.path = ScratchDir::Get()->NewPath("conformance")});
  if (!kv.ok()) {
    ADD_FAILURE() << kv.status();
    return nullptr;
  }
  return std::move(*kv);
}

uint32_t ModeOf(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return 0xffffffff;
  return st.st_mode & 07777;
}

// The value the forked writer stores at `version`: the version repeated.
std::string ChildValue(int64_t version) {
  std::string out;
  while (out.size() < 3000) out += StrCat(version, ",");
  return out;
}

#define KV_ASSIGN_CONCAT_(a, b) a##b
#define KV_ASSIGN_CONCAT(a, b) KV_ASSIGN_CONCAT_(a, b)
#define ASSERT_OK_AND_ASSIGN(lhs, expr) \
  ASSERT_OK_AND_ASSIGN_(KV_ASSIGN_CONCAT(kv_tmp_, __LINE__), lhs, expr)
#define ASSERT_OK_AND_ASSIGN_(tmp, lhs, expr) \
  auto tmp = (expr);                          \
  ASSERT_TRUE(tmp.ok()) << tmp.status();      \
  lhs = std::move(tmp).value()

TEST(LmdbEdgeKvTest, TwoOpensOfOnePathShareTheEnvironment) {
  const std::string dir = ScratchDir::Get()->NewPath("shared");
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<EdgeKv> a, OpenLmdbEdgeKv({.path = dir}));
  // A different spelling of the same directory resolves to the same environment.
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<EdgeKv> b, OpenLmdbEdgeKv({.path = dir + "/./"}));
  ASSERT_TRUE(a->PutIfNewer("doc/ws_1/prod", "from a", 1).ok());
  ASSERT_OK_AND_ASSIGN(KvEntry seen_by_b, b->Get("doc/ws_1/prod"));
  EXPECT_EQ(seen_by_b.value, "from a");
  ASSERT_OK_AND_ASSIGN(bool written, b->PutIfNewer("doc/ws_1/prod", "from b", 2));
  EXPECT_TRUE(written);
  ASSERT_OK_AND_ASSIGN(KvEntry seen_by_a, a->Get("doc/ws_1/prod"));
  EXPECT_EQ(seen_by_a.value, "from b");
  EXPECT_EQ(seen_by_a.version, 2);

  // Dropping one handle leaves the other working; a read-only handle joins the same env.
  a.reset();
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<EdgeKv> ro,
                       OpenLmdbEdgeKv({.path = dir, .read_only = true}));
  ASSERT_OK_AND_ASSIGN(int64_t version, ro->GetVersion("doc/ws_1/prod"));
  EXPECT_EQ(version, 2);
  EXPECT_EQ(ro->PutIfNewer("doc/ws_1/prod", "x", 3).status().code(),
            absl::StatusCode::kFailedPrecondition);
  ASSERT_TRUE(b->PutIfNewer("doc/ws_1/prod", "from b again", 3).ok());
  ASSERT_OK_AND_ASSIGN(KvEntry seen_by_ro, ro->Get("doc/ws_1/prod"));
  EXPECT_EQ(seen_by_ro.value, "from b again");
}

TEST(LmdbEdgeKvTest, ReadWriteOpenWhileOnlyReadOnlyIsOpenIsFailedPrecondition) {
  const std::string dir = ScratchDir::Get()->NewPath("ro-first");
  { ASSERT_TRUE(OpenLmdbEdgeKv({.path = dir}).ok()); }  // creates the files
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<EdgeKv> ro,
                       OpenLmdbEdgeKv({.path = dir, .read_only = true}));
  EXPECT_EQ(OpenLmdbEdgeKv({.path = dir}).status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(ro->DeleteIfNotNewer("k", 1).status().code(), absl::StatusCode::kFailedPrecondition);
  ro.reset();
  EXPECT_TRUE(OpenLmdbEdgeKv({.path = dir}).ok());  // closed: a read-write open works again
}

TEST(LmdbEdgeKvTest, ReadOnlyOpenOfMissingStoreIsNotFoundAndCreatesNothing) {
  const std::string dir = ScratchDir::Get()->NewPath("missing");
  EXPECT_EQ(OpenLmdbEdgeKv({.path = dir, .read_only = true}).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_FALSE(fs::exists(dir));
  ASSERT_EQ(::mkdir(dir.c_str(), 0700), 0);  // a directory without data.mdb
  EXPECT_EQ(OpenLmdbEdgeKv({.path = dir, .read_only = true}).status().code(),
            absl::StatusCode::kNotFound);
}

TEST(LmdbEdgeKvTest, BadOptionsAreRejected) {
  EXPECT_EQ(OpenLmdbEdgeKv({.path = ""}).status().code(), absl::StatusCode::kInvalidArgument);
  const std::string dir = ScratchDir::Get()->NewPath("bad");
  EXPECT_EQ(OpenLmdbEdgeKv({.path = dir, .map_size = 0}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(OpenLmdbEdgeKv({.path = dir, .max_readers = 0}).status().code(),
            absl::StatusCode::kInvalidArgument);
  const std::string file = ScratchDir::Get()->NewPath("a-file");
  std::ofstream(file) << "not a directory";
  EXPECT_EQ(OpenLmdbEdgeKv({.path = file}).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST(LmdbEdgeKvTest, ReopeningKeepsData) {
  const std::string dir = ScratchDir::Get()->NewPath("reopen");
  {
    ASSERT_OK_AND_ASSIGN(std::unique_ptr<EdgeKv> kv, OpenLmdbEdgeKv({.path = dir}));
    ASSERT_TRUE(kv->PutIfNewer("doc/ws_1/prod", std::string("a\0b", 3), 17).ok());
    ASSERT_TRUE(kv->PutIfNewer("sdk/ff", "{}", 3).ok());
    ASSERT_TRUE(kv->Get("sdk/ff").ok());  // leaves this thread a cached read transaction
  }
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<EdgeKv> kv, OpenLmdbEdgeKv({.path = dir}));
  ASSERT_OK_AND_ASSIGN(KvEntry got, kv->Get("doc/ws_1/prod"));
  EXPECT_EQ(got.value, std::string("a\0b", 3));
  EXPECT_EQ(got.version, 17);
  ASSERT_OK_AND_ASSIGN(bool refused, kv->PutIfNewer("doc/ws_1/prod", "old", 16));
  EXPECT_FALSE(refused);
  ASSERT_OK_AND_ASSIGN(std::vector<std::string> keys, kv->ListKeys("", 10));
  EXPECT_EQ(keys, (std::vector<std::string>{"doc/ws_1/prod", "sdk/ff"}));
}

TEST(LmdbEdgeKvTest, StoredRecordIsBigEndianVersionThenValue) {
  const std::string dir = ScratchDir::Get()->NewPath("format");
  {
    ASSERT_OK_AND_ASSIGN(std::unique_ptr<EdgeKv> kv, OpenLmdbEdgeKv({.path = dir}));
    ASSERT_TRUE(kv->PutIfNewer("k", "val", 0x0102030405060708).ok());
  }
  // Our environment is closed now, so this process may open the directory with raw LMDB.
  MDB_env* env = nullptr;
  ASSERT_EQ(mdb_env_create(&env), 0);
  ASSERT_EQ(mdb_env_open(env, dir.c_str(), MDB_RDONLY, 0600), 0);
  MDB_txn* txn = nullptr;
  ASSERT_EQ(mdb_txn_begin(env, nullptr, MDB_RDONLY, &txn), 0);
  MDB_dbi dbi;
  ASSERT_EQ(mdb_dbi_open(txn, nullptr, 0, &dbi), 0);
  MDB_val key{.mv_size = 1, .mv_data = const_cast<char*>("k")};
  MDB_val val;
  ASSERT_EQ(mdb_get(txn, dbi, &key, &val), 0);
  EXPECT_EQ(std::string(static_cast<const char*>(val.mv_data), val.mv_size),
            std::string("\x01\x02\x03\x04\x05\x06\x07\x08val", 11));
  mdb_txn_abort(txn);
  mdb_env_close(env);
}

TEST(LmdbEdgeKvTest, FileModesAre0700And0600) {
  const std::string parent = ScratchDir::Get()->NewPath("modes");
  const std::string dir = parent + "/nested/edge";
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<EdgeKv> kv, OpenLmdbEdgeKv({.path = dir}));
  ASSERT_TRUE(kv->PutIfNewer("k", "v", 1).ok());
  EXPECT_EQ(ModeOf(parent), 0700u);
  EXPECT_EQ(ModeOf(parent + "/nested"), 0700u);
  EXPECT_EQ(ModeOf(dir), 0700u);
  EXPECT_EQ(ModeOf(dir + "/data.mdb"), 0600u);
  EXPECT_EQ(ModeOf(dir + "/lock.mdb"), 0600u);
}

TEST(LmdbEdgeKvTest, MapFullIsResourceExhaustedNamingMapSize) {
  const std::string dir = ScratchDir::Get()->NewPath("tiny");
  constexpr size_t kMapSize = 256 * 1024;
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<EdgeKv> kv,
                       OpenLmdbEdgeKv({.path = dir, .map_size = kMapSize}));
  const std::string value(4096, 'v');
  absl::Status failure;
  int written = 0;
  for (int i = 0; i < 1000 && failure.ok(); ++i) {
    absl::StatusOr<bool> put = kv->PutIfNewer(StrCat("doc/ws_", i, "/prod"), value, 1);
    if (put.ok()) {
      ++written;
    } else {
      failure = put.status();
    }
  }
  ASSERT_FALSE(failure.ok()) << "256 KiB map took 1000 x 4 KiB values";
  EXPECT_EQ(failure.code(), absl::StatusCode::kResourceExhausted) << failure;
  EXPECT_NE(failure.message().find(StrCat(kMapSize)), absl::string_view::npos) << failure;
  EXPECT_NE(failure.message().find("map_size"), absl::string_view::npos) << failure;
  EXPECT_GT(written, 0);
  // The failed write left the store consistent: earlier entries read back, deletes work.
  ASSERT_OK_AND_ASSIGN(KvEntry first, kv->Get("doc/ws_0/prod"));
  EXPECT_EQ(first.value, value);
  EXPECT_EQ(kv->Get(StrCat("doc/ws_", written, "/prod")).status().code(),
            absl::StatusCode::kNotFound);
  ASSERT_OK_AND_ASSIGN(bool removed, kv->DeleteIfNotNewer("doc/ws_0/prod", 1));
  EXPECT_TRUE(removed);
}

TEST(LmdbEdgeKvTest, ExitedReaderThreadsGiveBackTheirReaderSlots) {
  const std::string dir = ScratchDir::Get()->NewPath("slots");
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<EdgeKv> kv,
                       OpenLmdbEdgeKv({.path = dir, .max_readers = 4}));
  ASSERT_TRUE(kv->PutIfNewer("k", "v", 1).ok());
  for (int i = 0; i < 40; ++i) {  // 10x the slots, one thread at a time
    absl::Status status;
    std::thread([&] { status = kv->Get("k").status(); }).join();
    ASSERT_TRUE(status.ok()) << "thread " << i << ": " << status;
  }
}

TEST(LmdbEdgeKvTest, ReadersFullIsUnavailable) {
  const std::string dir = ScratchDir::Get()->NewPath("readers-full");
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<EdgeKv> kv,
                       OpenLmdbEdgeKv({.path = dir, .max_readers = 2}));
  ASSERT_TRUE(kv->PutIfNewer("k", "v", 1).ok());
  std::mutex mu;
  std::condition_variable cv;
  int ready = 0;
  bool release = false;
  std::vector<absl::Status> held(2);
  std::vector<std::thread> holders;
  for (int i = 0; i < 2; ++i) {
    holders.emplace_back([&, i] {
      held[i] = kv->Get("k").status();  // takes a reader slot until the thread exits
      std::unique_lock<std::mutex> lock(mu);
      ++ready;
      cv.notify_all();
      cv.wait(lock, [&] { return release; });
    });
  }
  {
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return ready == 2; });
  }
  absl::Status third = kv->Get("k").status();
  {
    std::lock_guard<std::mutex> lock(mu);
    release = true;
  }
  cv.notify_all();
  for (std::thread& t : holders) t.join();
  EXPECT_TRUE(held[0].ok()) << held[0];
  EXPECT_TRUE(held[1].ok()) << held[1];
  EXPECT_EQ(third.code(), absl::StatusCode::kUnavailable) << third;
  EXPECT_TRUE(kv->Get("k").ok());  // the holders exited: their slots are free again
}

TEST(LmdbEdgeKvTest, ForkedWriterAndReadOnlyParentSeeOneOrderedHistory) {
  const std::string dir = ScratchDir::Get()->NewPath("fork");
  constexpr int64_t kLast = 200;
  {
    ASSERT_OK_AND_ASSIGN(std::unique_ptr<EdgeKv> kv, OpenLmdbEdgeKv({.path = dir}));
    ASSERT_TRUE(kv->PutIfNewer("doc/ws_1/prod", ChildValue(0), 0).ok());
  }
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<EdgeKv> reader,
                       OpenLmdbEdgeKv({.path = dir, .read_only = true}));
  ASSERT_TRUE(reader->Get("doc/ws_1/prod").ok());  // the parent's env is live across fork

  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    // The child: its own environment (the inherited registry entry belongs to the parent).
    auto writer = OpenLmdbEdgeKv({.path = dir});
    if (!writer.ok()) ::_exit(2);
    for (int64_t v = 1; v <= kLast; ++v) {
      absl::StatusOr<bool> written = (*writer)->PutIfNewer("doc/ws_1/prod", ChildValue(v), v);
      if (!written.ok() || !*written) ::_exit(3);
    }
    ::_exit(0);
  }

  int64_t last_seen = 0;
  int reads = 0;
  int status = 0;
  bool child_exited = false;
  std::string error;
  while (error.empty()) {
    bool final_pass = child_exited;
    absl::StatusOr<KvEntry> got = reader->Get("doc/ws_1/prod");
    ++reads;
    if (!got.ok()) {
      error = got.status().ToString();
    } else if (got->version < last_seen) {
      error = StrCat("version went back from ", last_seen, " to ", got->version);
    } else if (got->value != ChildValue(got->version)) {
      error = StrCat("value does not match version ", got->version);
    } else {
      last_seen = got->version;
    }
    if (final_pass) break;
    pid_t done = ::waitpid(child, &status, WNOHANG);
    if (done == child) child_exited = true;
    if (done < 0) error = "waitpid failed";
  }
  if (!child_exited) ::waitpid(child, &status, 0);
  EXPECT_EQ(error, "");
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
  EXPECT_EQ(last_seen, kLast);
  EXPECT_GT(reads, 1);
  // The parent's read-only env survived the child's exit (its reader slot was not cleared).
  ASSERT_OK_AND_ASSIGN(int64_t version, reader->GetVersion("doc/ws_1/prod"));
  EXPECT_EQ(version, kLast);
}

TEST(LmdbEdgeKvTest, ThreadReadingAcrossCloseAndReopenGetsAFreshTransaction) {
  const std::string dir = ScratchDir::Get()->NewPath("close-reopen");
  for (int round = 1; round <= 3; ++round) {
    ASSERT_OK_AND_ASSIGN(std::unique_ptr<EdgeKv> kv, OpenLmdbEdgeKv({.path = dir}));
    ASSERT_TRUE(kv->PutIfNewer("k", StrCat("round ", round), round).ok());
    std::thread other([&] { ASSERT_TRUE(kv->Get("k").ok()); });  // caches a slot, exits
    other.join();
    ASSERT_OK_AND_ASSIGN(KvEntry got, kv->Get("k"));
    EXPECT_EQ(got.value, StrCat("round ", round));
  }
}

}  // namespace
}  // namespace edgevault::storage

INSTANTIATE_EDGE_KV_CONFORMANCE(Lmdb, ::edgevault::storage::NewEmptyLmdbEdgeKv);
