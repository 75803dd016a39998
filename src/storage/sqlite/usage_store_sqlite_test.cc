// The usage store on SQLite: the shared conformance suite (usage_store_conformance.h).
#include "gtest/gtest.h"
#include "src/storage/testing/test_util.h"
#include "src/storage/usage_store.h"
#include "src/storage/usage_store_conformance.h"

namespace edgevault::storage {
namespace {

std::unique_ptr<UsageStore> NewStore() {
  auto store = OpenSqliteUsageStore({.path = testing::ScratchDir::Get()->NewPath("usage", ".db")});
  if (!store.ok()) {
    ADD_FAILURE() << store.status();
    return nullptr;
  }
  return std::move(*store);
}

[[maybe_unused]] const testing::ScratchDir* const kScratch = testing::ScratchDir::Get();

TEST(SqliteUsageStoreTest, ReopenKeepsCounts) {
  std::string path = testing::ScratchDir::Get()->NewPath("reopen", ".db");
  const absl::Time t = absl::FromUnixSeconds(1796292000);
  {
    auto store = OpenSqliteUsageStore({.path = path});
    ASSERT_TRUE(store.ok()) << store.status();
    ASSERT_TRUE((*store)->Add("b1", {{1796292000 / 60, "evaluation", "ws", "prod", "f", "on", "STATIC", 3}}, t).ok());
  }
  auto store = OpenSqliteUsageStore({.path = path});
  ASSERT_TRUE(store.ok()) << store.status();
  auto p = (*store)->Query({.workspace_id = "ws", .environment = "prod", .flag = "f",
                            .from_minute = 1796292000 / 60, .to_minute = 1796292000 / 60 + 1});
  ASSERT_TRUE(p.ok()) << p.status();
  ASSERT_EQ(p->size(), 1u);
  EXPECT_EQ((*p)[0].count, 3);
  absl::StatusOr<bool> again = (*store)->Add("b1", {}, t);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_FALSE(*again);
}

}  // namespace
}  // namespace edgevault::storage

INSTANTIATE_USAGE_STORE_CONFORMANCE(Sqlite, &edgevault::storage::NewStore)
