// The audit queue in PostgreSQL (audit.queue_url = postgres://...; docs/configuration.md)
// on the real binaries: api and auth put their events in one table instead of
// DATA_DIR/audit/queue.db, and the table is drained by any edgevault-audit that names it:
// here `up`'s own consumer and a second edgevault-audit with its own node_id and data
// directory (another host, as far as it can tell). While `up`'s consumer is frozen the
// second one alone drains api and auth events; every event lands exactly once across the
// two chains, and `edgevault audit verify` passes on the shared warehouse.
#include <signal.h>

#include <filesystem>
#include <map>
#include <string>

#include <boost/json.hpp>

#include "gtest/gtest.h"
#include "src/base/strings.h"
#include "src/audit/event.h"
#include "src/audit/file_warehouse.h"
#include "src/base/env.h"
#include "src/storage/postgres/pg_pool.h"
#include "src/storage/postgres/postgres_test_server.h"
#include "tests/integration/harness.h"

namespace edgevault {
namespace {

namespace json = boost::json;
using testing::EdgeVaultUp;
using testing::HttpReply;

constexpr int kDeadlineMs = 60000;  // only bounds how long a failure waits (a lease is 30 s)

struct Landed {
  std::map<std::string, int> ids;                      // event id → lines
  std::map<std::string, std::string> file_by_request;  // request id → the file holding it
  std::map<std::string, int> by_request;               // request id → lines
};

Landed ReadWarehouse(const std::string& dir) {
  Landed out;
  audit::FileWarehouseReader reader(dir, base::Env::Default());
  auto files = reader.ListFiles();
  if (!files.ok()) return out;
  for (const audit::WarehouseFile& f : *files) {
    auto content = reader.ReadFile(f.path);
    if (!content.ok()) continue;
    size_t pos = 0;
    for (size_t nl; (nl = content->find('\n', pos)) != std::string::npos; pos = nl + 1) {
      auto line = audit::ParseChainedLine(std::string_view(*content).substr(pos, nl - pos));
      if (!line.ok()) continue;
      auto e = audit::ParseAuditEvent(line->canonical);
      if (!e.ok()) continue;
      ++out.ids[e->id];
      if (!e->request_id.empty()) {
        ++out.by_request[e->request_id];
        out.file_by_request[e->request_id] = f.path;
      }
    }
  }
  return out;
}

TEST(PostgresAuditQueueTest, ApiAndAuthFeedOneQueueThatTwoAuditNodesDrain) {
  const std::string url = storage::NewPostgresTestDatabase();
  ASSERT_FALSE(url.empty());
  std::unique_ptr<EdgeVaultUp> up = EdgeVaultUp::Start(
      {"--set", "audit.queue_url=" + url, "--set", "api.workspace_db_url=" + url,
       "--set", "auth.control_db_url=" + url});
  ASSERT_NE(up, nullptr) << "edgevault up did not start with the audit queue in PostgreSQL";
  const std::string data = up->data_dir();
  const std::string warehouse = data + "/audit/warehouse";
  auto pool = storage::PgPool::Create({.connect = {.url = url}, .max_connections = 1});
  ASSERT_TRUE(pool.ok()) << pool.status();
  auto pending = [&]() -> int64_t {
    absl::StatusOr<storage::PgResult> r = (*pool)->Query("SELECT COUNT(*) FROM audit_queue WHERE NOT acked");
    return r.ok() ? r->Int64(0, 0) : -1;
  };

  // Unknown accounts after the first two, so that the owner's account throttle (5) never
  // answers 429 instead; the failures are audited all the same.
  int logins = 0;
  auto wrong_login = [&](const std::string& request_id) {
    const std::string email = logins++ < 2 ? up->owner_email() : base::StrCat("nobody", logins, "@example.com");
    json::object body{{"email", email}, {"password", "not-the-password"}};
    return up->Json("auth", "POST", "/v1/login", body, "", {{"X-Request-Id", request_id}});
  };
  auto api = [&](std::string method, std::string target, const json::value& body, const std::string& request_id) {
    return up->Json("api", std::move(method), std::move(target), body, up->admin_key(),
                    {{"X-Request-Id", request_id}});
  };
  auto all_landed = [&](const std::vector<std::string>& requests, Landed* view) {
    return testing::PollUntil([&] {
      *view = ReadWarehouse(warehouse);
      for (const std::string& r : requests) {
        if (view->by_request.count(r) == 0) return false;
      }
      return true;
    }, kDeadlineMs);
  };

  // Phase 1: both services' events reach the warehouse through the table.
  ASSERT_EQ(wrong_login("pq-auth-1").status, 401);
  ASSERT_EQ(api("POST", "/v1/workspaces", json::object{{"key", "shop"}, {"name", "Shop"}}, "pq-api-0").status, 201);
  ASSERT_EQ(api("POST", "/v1/workspaces/shop/environments",
                json::object{{"key", "prod"}, {"name", "Production"}, {"reason", "setup"}}, "pq-api-1").status,
            201);
  Landed view;
  ASSERT_TRUE(all_landed({"pq-auth-1", "pq-api-1"}, &view)) << up->Output();
  ASSERT_TRUE(testing::PollUntil([&] { return pending() == 0; }, kDeadlineMs)) << pending();
  std::error_code ec;
  EXPECT_FALSE(std::filesystem::exists(data + "/audit/queue.db", ec)) << "a local queue file was opened";

  // Phase 2: freeze up's consumer (idle: the queue is empty) and start a second audit
  // node on another data directory, draining the same table into the same warehouse.
  const pid_t first = up->ServicePid("audit");
  ASSERT_GT(first, 0);
  ASSERT_EQ(::kill(first, SIGSTOP), 0);
  const std::string second_dir = data + "/../audit-2";
  std::filesystem::create_directories(second_dir, ec);
  testing::Proc second = testing::Spawn(
      {testing::BinDir() + "/edgevault-audit", "--config", data + "/edgevault.toml",
       "--set", "data_dir=" + second_dir, "--set", "keys.dir=" + data + "/keys",
       "--set", "keys.trust_dir=" + data + "/trust", "--set", "node_id=audit-2",
       "--set", "services.audit.port=0", "--set", "audit.queue_url=" + url,
       "--set", base::StrCat("audit.warehouse_url=file:", std::filesystem::weakly_canonical(warehouse).string())},
      second_dir + "/../audit-2.out");
  ASSERT_GT(second.pid, 0);
  testing::KillOnExit second_guard{&second.pid};
  ASSERT_EQ(wrong_login("pq-auth-2").status, 401);
  HttpReply put = api("PUT", "/v1/workspaces/shop/configs/greeting",
                      json::object{{"type", "string"}, {"values", {{"prod", "hi"}}}, {"reason", "test"}},
                      "pq-api-2");
  ASSERT_EQ(put.status, 200) << put.body;
  const bool drained = all_landed({"pq-auth-2", "pq-api-2"}, &view);
  ::kill(first, SIGCONT);
  ASSERT_TRUE(drained) << testing::ReadFile(second.out_file);
  // Written by the second node's chain: up's consumer was frozen all along.
  EXPECT_NE(view.file_by_request["pq-auth-2"].find("audit-2-"), std::string::npos) << view.file_by_request["pq-auth-2"];
  EXPECT_NE(view.file_by_request["pq-api-2"].find("audit-2-"), std::string::npos) << view.file_by_request["pq-api-2"];
  EXPECT_EQ(view.file_by_request["pq-api-1"].find("audit-2-"), std::string::npos) << view.file_by_request["pq-api-1"];

  // Phase 3: both nodes drain together; nothing lands twice.
  std::vector<std::string> burst;
  for (int i = 0; i < 6; ++i) {
    burst.push_back(base::StrCat("pq-burst-auth-", i));
    ASSERT_EQ(wrong_login(burst.back()).status, 401);
    burst.push_back(base::StrCat("pq-burst-api-", i));
    ASSERT_EQ(api("PUT", base::StrCat("/v1/workspaces/shop/configs/c", i),
                  json::object{{"type", "string"}, {"values", {{"prod", "v"}}}, {"reason", "burst"}},
                  burst.back()).status,
              200);
  }
  ASSERT_TRUE(all_landed(burst, &view));
  ASSERT_TRUE(testing::PollUntil([&] { return pending() == 0; }, kDeadlineMs)) << pending();
  view = ReadWarehouse(warehouse);
  for (const auto& [id, n] : view.ids) EXPECT_EQ(n, 1) << id;
  EXPECT_FALSE(std::filesystem::exists(data + "/audit/queue.db", ec));
  EXPECT_FALSE(std::filesystem::exists(second_dir + "/audit/queue.db", ec));

  ::kill(second.pid, SIGTERM);
  EXPECT_EQ(testing::WaitExit(second.pid, 20000), 0) << testing::ReadFile(second.out_file);
  second.pid = -1;
  EdgeVaultUp::Stopped stopped = up->Stop();
  EXPECT_EQ(stopped.exit_code, 0) << stopped.output;
  // Both chains verify (the data dir's config names this warehouse).
  testing::CommandResult verified = testing::RunEdgevault("audit verify --data-dir " + data);
  EXPECT_EQ(verified.code, 0) << verified.out;
  EXPECT_NE(verified.out.find("2 chain(s) intact"), std::string::npos) << verified.out;
}

}  // namespace
}  // namespace edgevault
