#include "src/storage/sqlite/workspace_store_provider_sqlite.h"


#include <atomic>
#include <filesystem>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "src/base/testing/descriptors.h"
#include "src/base/testing/temp_dir.h"

namespace edgevault::storage {
namespace {

using base::testing::OpenDescriptors;

class ProviderTest : public ::testing::Test {
 protected:
  std::unique_ptr<WorkspaceStoreProvider> NewProvider(size_t max_open) {
    auto p = OpenSqliteWorkspaceStoreProvider({.dir = dir_.path() + "/workspaces",
                                              .env = base::Env::Default(), .max_open = max_open});
    EXPECT_TRUE(p.ok()) << p.status();
    return p.ok() ? std::move(*p) : nullptr;
  }
  // On tmpfs when there is one: these tests are about descriptors, not fsync.
  base::testing::TempDir dir_{"ev-provider", std::filesystem::is_directory("/dev/shm") ? "/dev/shm" : "/tmp"};
};

TEST_F(ProviderTest, CreateOpenListAndNotFound) {
  auto p = NewProvider(4);
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(p->Open("ws_missing").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(p->OpenCount(), 0u);  // a failed open leaves nothing behind
  EXPECT_EQ(p->Open("../etc").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(p->Create("a/b").status().code(), absl::StatusCode::kInvalidArgument);
  ASSERT_TRUE(p->Create("ws_b").ok());
  ASSERT_TRUE(p->Create("ws_a").ok());
  absl::StatusOr<std::vector<std::string>> ids = p->List();
  ASSERT_TRUE(ids.ok()) << ids.status();
  EXPECT_EQ(*ids, (std::vector<std::string>{"ws_a", "ws_b"}));
  absl::StatusOr<std::shared_ptr<WorkspaceStore>> a = p->Open("ws_a");
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(*(*a)->WorkspaceId(), "ws_a");
}

TEST_F(ProviderTest, DestroyRemovesTheFileOnlyWhenNobodyHoldsTheStore) {
  auto p = NewProvider(4);
  ASSERT_NE(p, nullptr);
  const std::string file = dir_.path() + "/workspaces/ws_a.db";
  {
    absl::StatusOr<std::shared_ptr<WorkspaceStore>> a = p->Create("ws_a");
    ASSERT_TRUE(a.ok()) << a.status();
    ASSERT_TRUE(p->Create("ws_b").ok());
    EXPECT_EQ(p->Destroy("ws_a").code(), absl::StatusCode::kFailedPrecondition);  // held
    EXPECT_TRUE(std::filesystem::exists(file));
  }
  EXPECT_EQ(p->Destroy("../x").code(), absl::StatusCode::kInvalidArgument);
  ASSERT_TRUE(p->Destroy("ws_a").ok());
  EXPECT_FALSE(std::filesystem::exists(file));
  EXPECT_FALSE(std::filesystem::exists(file + "-wal"));
  EXPECT_TRUE(p->Destroy("ws_a").ok());  // gone already
  EXPECT_EQ(p->Open("ws_a").status().code(), absl::StatusCode::kNotFound);
  absl::StatusOr<std::vector<std::string>> ids = p->List();
  ASSERT_TRUE(ids.ok());
  EXPECT_EQ(*ids, std::vector<std::string>{"ws_b"});
}

TEST_F(ProviderTest, OneInstancePerWorkspaceWhileHeldEvenAcrossEviction) {
  auto p = NewProvider(2);
  ASSERT_NE(p, nullptr);
  std::shared_ptr<WorkspaceStore> held = *p->Create("ws_held");
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(p->Create("ws_" + std::to_string(i)).ok());
  // ws_held is the least recently used, but held: never closed, never opened twice.
  EXPECT_EQ(p->Open("ws_held")->get(), held.get());
  EXPECT_LE(p->OpenCount(), 3u);
}

TEST_F(ProviderTest, KeepsAtMostMaxOpenUnheldStores) {
  auto p = NewProvider(8);
  ASSERT_NE(p, nullptr);
  int before = OpenDescriptors();
  for (int i = 0; i < 200; ++i) {
    std::string id = "ws_" + std::to_string(i);
    absl::StatusOr<std::shared_ptr<WorkspaceStore>> s = p->Create(id);
    ASSERT_TRUE(s.ok()) << s.status();
    ASSERT_TRUE((*s)->Head().ok());
    EXPECT_LE(p->OpenCount(), 8u);
  }
  // Each open SQLite store holds three descriptors (db, -wal, -shm).
  EXPECT_LE(OpenDescriptors() - before, 8 * 3 + 2);
  // Reopening an evicted store works and sees its data.
  for (int i = 0; i < 200; i += 37) {
    absl::StatusOr<std::shared_ptr<WorkspaceStore>> s = p->Open("ws_" + std::to_string(i));
    ASSERT_TRUE(s.ok()) << s.status();
    EXPECT_EQ(*(*s)->WorkspaceId(), "ws_" + std::to_string(i));
  }
}

TEST_F(ProviderTest, ParallelOpensOfOneWorkspaceShareOneInstance) {
  auto p = NewProvider(1);
  ASSERT_NE(p, nullptr);
  ASSERT_TRUE(p->Create("ws_x").ok());
  ASSERT_TRUE(p->Create("ws_y").ok());  // evicts ws_x
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  std::vector<std::shared_ptr<WorkspaceStore>> got(8);
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      absl::StatusOr<std::shared_ptr<WorkspaceStore>> s = p->Open("ws_x");
      if (!s.ok()) {
        ++failures;
        return;
      }
      got[t] = *s;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  std::set<WorkspaceStore*> distinct;
  for (const auto& s : got) distinct.insert(s.get());
  EXPECT_EQ(distinct.size(), 1u);
}

}  // namespace
}  // namespace edgevault::storage
