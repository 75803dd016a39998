// The real binaries with the control DB on PostgreSQL (auth.control_db_url = postgres://...,
// docs/configuration.md): auth bootstraps the owner into PostgreSQL (no control.db is
// made), the owner logs in, and a second `edgevault up` on the same database (a second
// auth node) finds the owner and lets them log in, without bootstrapping another.
#include <filesystem>
#include <string>

#include "gtest/gtest.h"
#include "src/base/testing/temp_dir.h"
#include "src/storage/postgres/pg_db.h"
#include "src/storage/postgres/postgres_test_server.h"
#include "tests/integration/harness.h"

namespace edgevault {
namespace {

namespace json = boost::json;
using testing::EdgeVaultUp;
using testing::HttpReply;

int64_t CountRows(const std::string& url, const std::string& sql, const std::string& param) {
  auto conn = storage::PgConnection::Connect({.url = url});
  if (!conn.ok()) return -1;
  auto r = (*conn)->Query(sql, {param});
  return r.ok() && r->Rows() == 1 ? r->Int64(0, 0) : -1;
}

TEST(PostgresControlDbIntegrationTest, AuthNodesShareTheControlDbInPostgres) {
  const std::string url = storage::NewPostgresTestDatabase();
  ASSERT_FALSE(url.empty());
  auto first = EdgeVaultUp::Start({"--set", "auth.control_db_url=" + url});
  ASSERT_NE(first, nullptr);
  ASSERT_FALSE(first->owner_password().empty()) << first->Output();
  EXPECT_FALSE(std::filesystem::exists(first->data_dir() + "/control.db"));
  EXPECT_EQ(CountRows(url, "SELECT count(*) FROM users WHERE email = $1", first->owner_email()), 1);

  HttpReply login = first->Json("auth", "POST", "/v1/login",
                                {{"email", first->owner_email()},
                                 {"password", first->owner_password()}});
  EXPECT_EQ(login.status, 200) << login.body;
  EXPECT_GE(CountRows(url,
                      "SELECT count(*) FROM sessions s JOIN users u ON u.id = s.user_id "
                      "WHERE u.email = $1",
                      first->owner_email()),
            1);
  // The bootstrap API key (its hash is in PostgreSQL) creates a user and gets a token.
  EXPECT_FALSE(first->TokenForNewUser("dev@example.com", "developer").empty());

  // A second node on the same database: nothing to bootstrap, the same accounts.
  auto second = EdgeVaultUp::Start({"--set", "auth.control_db_url=" + url});
  ASSERT_NE(second, nullptr);
  EXPECT_TRUE(second->owner_password().empty()) << second->Output();
  HttpReply again = second->Json("auth", "POST", "/v1/login",
                                 {{"email", first->owner_email()},
                                  {"password", first->owner_password()}});
  EXPECT_EQ(again.status, 200) << again.body;
  HttpReply wrong = second->Json("auth", "POST", "/v1/login",
                                 {{"email", first->owner_email()}, {"password", "not it"}});
  EXPECT_EQ(wrong.status, 401) << wrong.body;
  EXPECT_EQ(CountRows(url, "SELECT count(*) FROM users WHERE email <> $1", ""), 2);
}

TEST(PostgresControlDbIntegrationTest, BadOrUnreachableControlDbStopsAuthStartup) {
  base::testing::TempDir temp("ev-pgurl");
  ASSERT_FALSE(temp.path().empty());
  const std::string& dir = temp.path();
  // A malformed URL is a configuration error (exit 2) naming the key, not the password.
  auto [bad_code, bad_out] = testing::RunShell(
      testing::BinDir() + "/edgevault-auth --set data_dir=" + dir +
      " --set 'auth.control_db_url=mysql://root:hunter2@db/ev'");
  EXPECT_EQ(bad_code, 2) << bad_out;
  EXPECT_NE(bad_out.find("auth.control_db_url"), std::string::npos) << bad_out;
  EXPECT_EQ(bad_out.find("hunter2"), std::string::npos) << bad_out;
  // A server that is not there stops start-up (exit 1), without the password either.
  auto [init_code, init_out] =
      testing::RunShell(testing::BinDir() + "/edgevault keys init-services --data-dir " + dir);
  ASSERT_EQ(init_code, 0) << init_out;
  testing::RefusingPort refusing;  // nobody listens there, and nobody can start to
  ASSERT_NE(refusing.port(), 0);
  auto [code, out] = testing::RunShell(
      testing::BinDir() + "/edgevault-auth --set data_dir=" + dir +
      " --set auth.control_db_url=postgres://auth:hunter2@127.0.0.1:" +
      std::to_string(refusing.port()) + "/ev?connect_timeout=5");
  EXPECT_EQ(code, 1) << out;
  EXPECT_NE(out.find("cannot connect"), std::string::npos) << out;
  EXPECT_EQ(out.find("hunter2"), std::string::npos) << out;
}

}  // namespace
}  // namespace edgevault
