// The real binaries with the workspace stores in PostgreSQL (api.workspace_db_url =
// postgres://...; docs/configuration.md): writes through the api land in the database's
// ws_* tables (not in DATA_DIR/workspaces), come back through the api's history, and reach
// delivery through propagation as with SQLite.
#include <chrono>
#include <filesystem>
#include <string>
#include <thread>

#include <boost/json.hpp>

#include "gtest/gtest.h"
#include "src/storage/postgres/pg_pool.h"
#include "src/storage/postgres/postgres_test_server.h"
#include "tests/integration/harness.h"

namespace edgevault {
namespace {

namespace json = boost::json;
using testing::EdgeVaultUp;
using testing::HttpReply;

constexpr int kDeadlineMs = 30000;  // only bounds how long a failure waits

TEST(PostgresWorkspacesTest, WritesLandInPostgresAndReachDelivery) {
  const std::string url = storage::NewPostgresTestDatabase();
  ASSERT_FALSE(url.empty());
  std::unique_ptr<EdgeVaultUp> up = EdgeVaultUp::Start({"--set", "api.workspace_db_url=" + url});
  ASSERT_NE(up, nullptr) << "edgevault up did not start with the workspaces in PostgreSQL";
  auto api = [&](std::string method, std::string target, const json::value& body = nullptr) {
    if (body.is_null()) return up->Call("api", std::move(method), std::move(target), "", up->admin_key());
    return up->Json("api", std::move(method), std::move(target), body, up->admin_key());
  };

  HttpReply created = api("POST", "/v1/workspaces", json::object{{"key", "shop"}, {"name", "Shop"}});
  ASSERT_EQ(created.status, 201) << created.body;
  const std::string base = "/v1/workspaces/shop";
  ASSERT_EQ(api("POST", base + "/environments", json::object{{"key", "prod"}, {"name", "Production"}, {"reason", "setup"}})
                .status,
            201);
  for (std::string value : {"hello", "hello again"}) {
    HttpReply put = api("PUT", base + "/configs/greeting",
                        json::object{{"type", "string"}, {"values", {{"prod", value}}}, {"reason", "test"}});
    ASSERT_EQ(put.status, 200) << put.body;
  }
  HttpReply minted = api("POST", base + "/environments/prod/sdk-keys", json::object{{"name", "web"}});
  ASSERT_EQ(minted.status, 201) << minted.body;
  const std::string sdk_key(minted.json.at("key").as_string());

  // Delivery serves the latest value: propagation read the outbox from PostgreSQL.
  HttpReply doc;
  testing::PollUntil([&] {
    doc = up->Call("delivery", "GET", "/v1/config", "", sdk_key);
    return doc.status == 200 && doc.body.find("hello again") != std::string::npos;
  }, kDeadlineMs);
  ASSERT_EQ(doc.status, 200) << doc.body;
  EXPECT_NE(doc.body.find("hello again"), std::string::npos) << doc.body;

  // The rows are in the database; no workspace file was written.
  auto pool = storage::PgPool::Create({.connect = {.url = url}, .max_connections = 1});
  ASSERT_TRUE(pool.ok()) << pool.status();
  absl::StatusOr<storage::PgResult> revisions = (*pool)->Query(
      "SELECT COUNT(*), MIN(seq), MAX(seq), COUNT(DISTINCT workspace_id) FROM ws_revisions");
  ASSERT_TRUE(revisions.ok()) << revisions.status();
  EXPECT_GE(revisions->Int64(0, 0), 3);  // at least the environment and the two puts
  EXPECT_EQ(revisions->Int64(0, 1), 1);   // gapless from 1
  EXPECT_EQ(revisions->Int64(0, 2), revisions->Int64(0, 0));
  EXPECT_EQ(revisions->Int64(0, 3), 1);   // one workspace
  // Propagation marks its jobs done in the database. The last one may still be finishing
  // when delivery already serves its document (the mark follows the KV write), so wait.
  absl::StatusOr<storage::PgResult> pending;
  testing::PollUntil([&] {
    pending = (*pool)->Query("SELECT COUNT(*) FROM ws_outbox WHERE kind = 'propagate' AND done_at IS NULL");
    return !pending.ok() || pending->Int64(0, 0) == 0;
  }, kDeadlineMs);
  ASSERT_TRUE(pending.ok()) << pending.status();
  EXPECT_EQ(pending->Int64(0, 0), 0);
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(up->data_dir() + "/workspaces", ec)) {
    ADD_FAILURE() << "unexpected workspace file " << entry.path();
  }

  // And the api reads its history back from there.
  HttpReply history = api("GET", base + "/revisions");
  ASSERT_EQ(history.status, 200) << history.body;
  EXPECT_NE(history.body.find("hello again"), std::string::npos) << history.body;

  // `edgevault keys rotate-master` re-wraps the data keys where the api keeps them: in the
  // database named by the same setting (here from the environment), not in the data
  // directory. Were it to miss them, retire-master would delete a key still in use.
  HttpReply secret = api("PUT", base + "/secrets/token",
                         json::object{{"values", {{"prod", "s3cret"}}}, {"reason", "test"}});
  ASSERT_EQ(secret.status, 200) << secret.body;
  auto keys_under = [&](const std::string& master) -> int64_t {
    absl::StatusOr<storage::PgResult> r =
        (*pool)->Query("SELECT COUNT(*) FROM ws_data_keys WHERE master_key_id = $1", {master});
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? r->Int64(0, 0) : -1;
  };
  ASSERT_GE(keys_under("m1"), 1);
  const std::string with_db = "EDGEVAULT_API_WORKSPACE_DB_URL='" + url + "'";
  testing::CommandResult rotated =
      testing::RunEdgevault("keys rotate-master --settle 0 --data-dir " + up->data_dir(), with_db);
  ASSERT_EQ(rotated.code, 0) << rotated.out;
  EXPECT_EQ(keys_under("m1"), 0) << rotated.out;
  EXPECT_GE(keys_under("m2"), 1) << rotated.out;
  testing::CommandResult retired =
      testing::RunEdgevault("keys retire-master m1 --data-dir " + up->data_dir(), with_db);
  ASSERT_EQ(retired.code, 0) << retired.out;
  HttpReply read = api("GET", base + "/environments/prod/secrets/token");
  ASSERT_EQ(read.status, 200) << read.body;
  EXPECT_NE(read.body.find("s3cret"), std::string::npos) << read.body;

  EdgeVaultUp::Stopped stopped = up->Stop();
  EXPECT_EQ(stopped.exit_code, 0) << stopped.output;
}

}  // namespace
}  // namespace edgevault
