// OpenConfiguredWorkspaceStores: api.workspace_db_url picks the backend and
// api.workspace_db_pool_size bounds the PostgreSQL connections (against a real server).

#include "src/storage/workspace_store_open.h"

#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "src/base/env.h"
#include "src/base/strings.h"
#include "src/storage/postgres/postgres_test_server.h"
#include "src/storage/testing/test_util.h"

namespace edgevault::storage {
namespace {

TEST(WorkspaceStoreOpenTest, PoolSizeBoundsTheConnectionsToPostgres) {
  base::SimulatedEnv env;
  base::Config config;
  config.api_settings.workspace_db_url = NewPostgresTestDatabase();
  ASSERT_FALSE(config.api_settings.workspace_db_url.empty());
  config.api_settings.workspace_db_pool_size = 0;
  absl::StatusOr<std::unique_ptr<WorkspaceStoreProvider>> refused = OpenConfiguredWorkspaceStores(config, &env);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument) << refused.status();

  config.api_settings.workspace_db_pool_size = 2;
  EV_TEST_ASSIGN(auto stores, OpenConfiguredWorkspaceStores(config, &env));
  EV_TEST_ASSIGN(std::shared_ptr<WorkspaceStore> store, stores->Create("ws_pool"));
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 10; ++i) {
        CommitRequest c;
        c.actor = "user:usr_1";
        c.reason = "pool";
        c.op = "put";
        c.time = env.Now();
        c.mutations.push_back({ItemKind::kConfig, base::StrCat("k", t), base::StrCat("{\"v\":", i, "}"), ""});
        EXPECT_TRUE(store->Commit(c).ok());
        EXPECT_TRUE(store->Head().ok());
      }
    });
  }
  for (auto& t : threads) t.join();
  EV_TEST_ASSIGN(int64_t head, store->Head());
  EXPECT_EQ(head, 80);
  const int open = OtherConnectionsTo(config.api_settings.workspace_db_url);
  EXPECT_GE(open, 1);
  EXPECT_LE(open, 2);
}

}  // namespace
}  // namespace edgevault::storage
