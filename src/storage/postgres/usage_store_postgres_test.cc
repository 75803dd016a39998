// The usage store on PostgreSQL: the same conformance suite as SQLite, on a fresh database
// per test (postgres_test_server.h).
#include "gtest/gtest.h"
#include "src/storage/postgres/postgres_test_server.h"
#include "src/storage/usage_store.h"
#include "src/storage/usage_store_conformance.h"

namespace edgevault::storage {
namespace {

std::unique_ptr<UsageStore> NewStore() {
  std::string url = NewPostgresTestDatabase();
  if (url.empty()) return nullptr;
  auto store = OpenPostgresUsageStore({.url = url, .max_connections = 4});
  if (!store.ok()) {
    ADD_FAILURE() << store.status();
    return nullptr;
  }
  return std::move(*store);
}

TEST(PostgresUsageStoreTest, OpeningTwiceMigratesOnce) {
  std::string url = NewPostgresTestDatabase();
  ASSERT_FALSE(url.empty());
  auto a = OpenPostgresUsageStore({.url = url});
  ASSERT_TRUE(a.ok()) << a.status();
  auto b = OpenPostgresUsageStore({.url = url});
  ASSERT_TRUE(b.ok()) << b.status();
  const absl::Time t = absl::FromUnixSeconds(1796292000);
  ASSERT_TRUE((*a)->Add("x", {{1796292000 / 60, "evaluation", "ws", "prod", "f", "on", "STATIC", 2}}, t).ok());
  ASSERT_TRUE((*b)->Add("y", {{1796292000 / 60, "evaluation", "ws", "prod", "f", "on", "STATIC", 5}}, t).ok());
  auto p = (*b)->Query({.workspace_id = "ws", .environment = "prod", .flag = "f",
                        .from_minute = 1796292000 / 60, .to_minute = 1796292000 / 60 + 1});
  ASSERT_TRUE(p.ok()) << p.status();
  ASSERT_EQ(p->size(), 1u);
  EXPECT_EQ((*p)[0].count, 7);
}

}  // namespace
}  // namespace edgevault::storage

INSTANTIATE_USAGE_STORE_CONFORMANCE(Postgres, &edgevault::storage::NewStore)
