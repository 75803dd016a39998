// A damaged data.mdb must never take the process down (issue 19): LMDB asserts (abort), or
// faults on a bad offset (SIGSEGV) or past the end of a truncated file (SIGBUS); the backend
// turns each into DataLoss. docs/design/edge-kv.md, "Damage".
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "src/base/strings.h"
#include "src/base/testing/scramble.h"
#include "src/storage/lmdb/edge_kv_lmdb.h"
#include "src/storage/testing/test_util.h"

namespace edgevault::storage {
namespace {

namespace fs = std::filesystem;
using base::StrCat;
using testing::ScratchDir;

// LMDB 0.9's layout (lmdb_file_check.cc): meta at offset 16 of pages 0 and 1; its page size
// @24, the main tree's root @72+40, txnid @128. Page header: lower @12.
struct Meta {
  uint32_t page_size = 0;
  uint64_t main_root = 0;
  uint64_t txnid = 0;
};

Meta NewestMeta(const std::string& data_mdb) {
  int fd = ::open(data_mdb.c_str(), O_RDONLY);
  Meta best;
  unsigned char buf[16 + 136];
  uint32_t psize = 0;
  for (int m = 0; m < 2; ++m) {
    if (::pread(fd, buf, sizeof buf, static_cast<off_t>(psize) * m) != static_cast<ssize_t>(sizeof buf)) break;
    Meta meta;
    std::memcpy(&meta.page_size, buf + 16 + 24, 4);
    std::memcpy(&meta.main_root, buf + 16 + 72 + 40, 8);
    std::memcpy(&meta.txnid, buf + 16 + 128, 8);
    psize = meta.page_size;
    if (m == 0 || meta.txnid > best.txnid) best = meta;
  }
  ::close(fd);
  return best;
}

void WriteAt(const std::string& path, off_t offset, const void* bytes, size_t n) {
  int fd = ::open(path.c_str(), O_WRONLY);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::pwrite(fd, bytes, n, offset), static_cast<ssize_t>(n));
  ::close(fd);
}

void Scramble(const std::string& path, off_t from) {
  ASSERT_TRUE(base::testing::Scramble(path, from, /*seed=*/7)) << path;
}

std::string Key(int i) { return StrCat("doc/ws_", 1000 + i, "/prod"); }

// A store deep enough (a branch root over ~10 leaves) to damage one page at a time.
std::string FilledStore(std::unique_ptr<EdgeKv>* kv_out) {
  std::string dir = ScratchDir::Get()->NewPath("damage");
  auto kv = OpenLmdbEdgeKv({.path = dir});
  EXPECT_TRUE(kv.ok()) << kv.status();
  std::string value(200, 'v');
  for (int i = 0; i < 200; ++i) EXPECT_TRUE((*kv)->PutIfNewer(Key(i), value, 1).ok());
  *kv_out = std::move(*kv);
  return dir;
}

TEST(LmdbEdgeKvDamageTest, FailedLmdbAssertionIsDataLossNotAbort) {
  std::unique_ptr<EdgeKv> kv;
  std::string dir = FilledStore(&kv);
  Meta meta = NewestMeta(dir + "/data.mdb");
  ASSERT_EQ(meta.page_size, 4096u);
  // A main-tree branch page with a single node: LMDB's mdb_page_search_root asserts
  // NUMKEYS(mp) > 1 (and then calls abort()).
  uint16_t lower = 16 + 2;
  WriteAt(dir + "/data.mdb", static_cast<off_t>(meta.main_root * meta.page_size + 12), &lower, 2);
  absl::StatusOr<KvEntry> got = kv->Get(Key(5));
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.status().code(), absl::StatusCode::kDataLoss) << got.status();
  EXPECT_NE(got.status().message().find("Assertion"), std::string_view::npos) << got.status();
  // From then on nothing touches the file.
  EXPECT_EQ(kv->GetVersion(Key(6)).status().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(kv->PutIfNewer(Key(6), "x", 2).status().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(kv->ListKeys("doc/", 10).status().code(), absl::StatusCode::kDataLoss);
}

TEST(LmdbEdgeKvDamageTest, ReadOfATruncatedFileIsDataLossNotSigbus) {
  std::unique_ptr<EdgeKv> kv;
  std::string dir = FilledStore(&kv);
  ASSERT_EQ(::truncate((dir + "/data.mdb").c_str(), 4096), 0);
  absl::StatusOr<KvEntry> got = kv->Get(Key(5));
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.status().code(), absl::StatusCode::kDataLoss) << got.status();
  EXPECT_NE(got.status().message().find("SIGBUS"), std::string_view::npos) << got.status();
  EXPECT_EQ(kv->PutIfNewer(Key(1), "x", 2).status().code(), absl::StatusCode::kDataLoss);
}

TEST(LmdbEdgeKvDamageTest, WriteToATruncatedFileIsDataLossAndLaterCallsDoNotWait) {
  std::unique_ptr<EdgeKv> kv;
  std::string dir = FilledStore(&kv);
  ASSERT_EQ(::truncate((dir + "/data.mdb").c_str(), 4096), 0);
  // The write transaction faults while it holds LMDB's writer mutex; it is never released.
  absl::StatusOr<bool> put = kv->PutIfNewer(Key(3), "x", 2);
  ASSERT_FALSE(put.ok());
  EXPECT_EQ(put.status().code(), absl::StatusCode::kDataLoss) << put.status();
  // Later writers (another thread too) and readers answer at once instead of waiting on it.
  std::thread other([&] {
    EXPECT_EQ(kv->DeleteIfNotNewer(Key(4), 9).status().code(), absl::StatusCode::kDataLoss);
    EXPECT_EQ(kv->PutManyIfNewer({{Key(5), "y", 2}}).status().code(), absl::StatusCode::kDataLoss);
  });
  other.join();
  EXPECT_EQ(kv->Get(Key(3)).status().code(), absl::StatusCode::kDataLoss);
}

TEST(LmdbEdgeKvDamageTest, ReadsOfScrambledPagesNeverCrash) {
  std::unique_ptr<EdgeKv> kv;
  std::string dir = FilledStore(&kv);
  Scramble(dir + "/data.mdb", 2 * 4096);
  for (int i = 0; i < 200; ++i) {
    absl::StatusOr<KvEntry> got = kv->Get(Key(i));
    // LMDB may read a scrambled page as a leaf without the key; anything else is damage.
    if (!got.ok() && !absl::IsNotFound(got.status())) {
      EXPECT_EQ(got.status().code(), absl::StatusCode::kDataLoss) << got.status();
    }
  }
  absl::StatusOr<std::vector<std::string>> keys = kv->ListKeys("", 1000);
  if (!keys.ok()) {
    EXPECT_EQ(keys.status().code(), absl::StatusCode::kDataLoss) << keys.status();
  }
}

TEST(LmdbEdgeKvDamageTest, OpeningADamagedFileIsDataLoss) {
  std::string dir;
  {
    std::unique_ptr<EdgeKv> kv;
    dir = FilledStore(&kv);
  }
  struct Damage {
    const char* what;
    std::function<void(const std::string&)> apply;
  };
  const std::string data = dir + "/data.mdb";
  std::vector<char> original;
  {
    std::ifstream f(data, std::ios::binary);
    original.assign(std::istreambuf_iterator<char>(f), {});
  }
  auto restore = [&] {
    std::ofstream f(data, std::ios::binary | std::ios::trunc);
    f.write(original.data(), static_cast<std::streamsize>(original.size()));
  };
  std::vector<Damage> damages = {
      {"meta pages scrambled", [](const std::string& p) { Scramble(p, 0); }},
      {"tree pages scrambled", [](const std::string& p) { Scramble(p, 2 * 4096); }},
      {"truncated to one page", [](const std::string& p) { ASSERT_EQ(::truncate(p.c_str(), 4096), 0); }},
      {"truncated to nothing", [](const std::string& p) { ASSERT_EQ(::truncate(p.c_str(), 0), 0); }},
      {"truncated to half", [&](const std::string& p) {
         ASSERT_EQ(::truncate(p.c_str(), static_cast<off_t>(original.size() / 2 / 4096 * 4096)), 0);
       }},
  };
  for (const Damage& d : damages) {
    restore();
    d.apply(data);
    for (bool read_only : {true, false}) {
      absl::StatusOr<std::unique_ptr<EdgeKv>> kv = OpenLmdbEdgeKv({.path = dir, .read_only = read_only});
      ASSERT_FALSE(kv.ok()) << d.what << (read_only ? " (read-only)" : " (read-write)");
      // A reader cannot tell an empty file from one the writer is creating: not there yet.
      const bool empty = std::string_view(d.what) == "truncated to nothing";
      EXPECT_EQ(kv.status().code(), empty && read_only ? absl::StatusCode::kNotFound : absl::StatusCode::kDataLoss)
          << d.what << ": " << kv.status();
    }
  }
  restore();
  EXPECT_TRUE(OpenLmdbEdgeKv({.path = dir}).ok());
}

// The guard only claims faults of guarded LMDB calls: any other fault still kills the
// process as before (with a core dump), so real bugs are not hidden.
TEST(LmdbEdgeKvDamageTest, FaultsOutsideLmdbStillKillTheProcess) {
  std::unique_ptr<EdgeKv> kv;
  FilledStore(&kv);  // installs the handlers
  for (int sig : {SIGSEGV, SIGBUS}) {
    pid_t child = ::fork();
    if (child == 0) {
      ::signal(SIGABRT, SIG_DFL);
      if (sig == SIGSEGV) {
        volatile int* null = nullptr;
        *null = 1;
      } else {
        ::raise(SIGBUS);
      }
      ::_exit(0);
    }
    int status = 0;
    ASSERT_EQ(::waitpid(child, &status, 0), child);
    EXPECT_TRUE(WIFSIGNALED(status)) << "signal " << sig << ": status " << status;
    if (WIFSIGNALED(status)) {
      EXPECT_EQ(WTERMSIG(status), sig);
    }
  }
}

}  // namespace
}  // namespace edgevault::storage
