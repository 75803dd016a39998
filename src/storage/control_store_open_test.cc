// OpenControlStore picks the backend from the URL: SQLite by default, PostgreSQL for
// postgres:// (against a real server), nothing else.

#include "src/storage/control_store_open.h"

#include <filesystem>
#include <string>

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
