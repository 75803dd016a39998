// OpenControlStore picks the backend from the URL: SQLite by default, PostgreSQL for
// postgres:// (against a real server), nothing else.

#include "src/storage/control_store_open.h"

#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "src/base/env.h"
#include "src/storage/postgres/pg_db.h"
#include "src/storage/postgres/postgres_test_server.h"
#include "src/storage/testing/test_util.h"

namespace edgevault::storage {
namespace {

using testing::ScratchDir;

Org MakeOrg() {
  Org o;
  o.id = "o1";
  o.name = "default";
  return o;
}

TEST(ControlStoreOpenTest, EmptyOrSqliteUrlIsControlDbInTheDataDir) {
  base::SimulatedEnv env;
  for (std::string url : {"", "sqlite:"}) {
    std::string dir = ScratchDir::Get()->NewPath("data");
    std::filesystem::create_directories(dir);
    EV_TEST_ASSIGN(auto store, OpenControlStore({.url = url, .data_dir = dir, .env = &env}));
    EV_TEST_ASSERT_OK(store->CreateOrg(MakeOrg()));
    EXPECT_TRUE(std::filesystem::exists(dir + "/control.db")) << url;
    EXPECT_EQ(DescribeControlStoreUrl({.url = url, .data_dir = dir}),
              "sqlite:" + dir + "/control.db");
  }
}

TEST(ControlStoreOpenTest, PostgresUrlOpensThePostgresStore) {
  base::SimulatedEnv env;
  std::string url = NewPostgresTestDatabase();
  ASSERT_FALSE(url.empty());
  std::string dir = ScratchDir::Get()->NewPath("data");
  std::filesystem::create_directories(dir);
  EV_TEST_ASSIGN(auto store, OpenControlStore({.url = url, .data_dir = dir, .env = &env}));
  EV_TEST_ASSERT_OK(store->CreateOrg(MakeOrg()));
  EXPECT_FALSE(std::filesystem::exists(dir + "/control.db"));
  // The row is in PostgreSQL.
  EV_TEST_ASSIGN(auto conn, PgConnection::Connect({.url = url}));
  EV_TEST_ASSIGN(PgResult r, conn->Query("SELECT name FROM orgs WHERE id = 'o1'"));
  ASSERT_EQ(r.Rows(), 1);
  EXPECT_EQ(r.String(0, 0), "default");
}

// auth.control_db_pool_size reaches the pool: 8 threads at once never hold more than 2
// server connections, and a size below 1 is refused.
TEST(ControlStoreOpenTest, PoolSizeBoundsTheConnectionsToPostgres) {
  base::SimulatedEnv env;
  std::string url = NewPostgresTestDatabase();
  ASSERT_FALSE(url.empty());
  EXPECT_EQ(OpenControlStore({.url = url, .data_dir = "/nonexistent", .env = &env, .pool_size = 0})
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
  EV_TEST_ASSIGN(auto store, OpenControlStore({.url = url, .data_dir = "/nonexistent", .env = &env,
                                               .pool_size = 2}));
  EV_TEST_ASSERT_OK(store->CreateOrg(MakeOrg()));
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 20; ++i) EXPECT_TRUE(store->GetOrg("o1").ok());
    });
  }
  for (auto& t : threads) t.join();
  const int open = OtherConnectionsTo(url);
  EXPECT_GE(open, 1);
  EXPECT_LE(open, 2);
}

TEST(ControlStoreOpenTest, OtherSchemesAreInvalidArgumentWithoutThePassword) {
  base::SimulatedEnv env;
  auto store = OpenControlStore({.url = "mysql://root:hunter2@db/x", .data_dir = "/nonexistent",
                                 .env = &env});
  EXPECT_EQ(store.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(std::string(store.status().message()).find("hunter2"), std::string::npos);
}

TEST(ControlStoreOpenTest, DescriptionOfAPostgresUrlHasNoCredentialsOrParameters) {
  EXPECT_EQ(DescribeControlStoreUrl(
                {.url = "postgres://auth:p@ss:w@rd@db.internal:5433/ev?sslmode=verify-full"}),
            "postgres://db.internal:5433/ev");
  EXPECT_EQ(DescribeControlStoreUrl({.url = "postgresql://db/ev"}), "postgres://db/ev");
}

}  // namespace
}  // namespace edgevault::storage
