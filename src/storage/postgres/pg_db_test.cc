// The libpq wrapper, the pool and the migration runner against a real PostgreSQL server
// (postgres_test_server.h), one fresh database per test.

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "src/base/status.h"
#include "src/base/strings.h"
#include "src/storage/postgres/pg_db.h"
#include "src/storage/postgres/pg_migrate.h"
#include "src/storage/postgres/pg_pool.h"
#include "src/storage/postgres/postgres_test_server.h"
#include "src/storage/testing/test_util.h"

namespace edgevault::storage {
namespace {

using base::StrCat;

std::unique_ptr<PgConnection> ConnectTo(const std::string& url) {
  auto conn = PgConnection::Connect({.url = url});
  EXPECT_TRUE(conn.ok()) << conn.status();
  return conn.ok() ? std::move(*conn) : nullptr;
}

class PgDbTest : public ::testing::Test {
 protected:
  void SetUp() override {
    url_ = NewPostgresTestDatabase();
    ASSERT_FALSE(url_.empty());
    conn_ = ConnectTo(url_);
    ASSERT_NE(conn_, nullptr);
  }
  std::string url_;
  std::unique_ptr<PgConnection> conn_;
};

// ---- URLs and connecting -----------------------------------------------------------

TEST(PgUrlTest, OnlyPostgresUrlsAreAccepted) {
  EV_TEST_EXPECT_OK(ValidatePostgresUrl("postgres://u:p@127.0.0.1:5432/db"));
  EV_TEST_EXPECT_OK(ValidatePostgresUrl("postgresql://u@host/db?sslmode=disable"));
  EV_TEST_EXPECT_CODE(ValidatePostgresUrl("sqlite:/tmp/x.db"), kInvalidArgument);
  EV_TEST_EXPECT_CODE(ValidatePostgresUrl(""), kInvalidArgument);
  EV_TEST_EXPECT_CODE(ValidatePostgresUrl("postgres://u:p@host/db?nosuchparam=1"),
                      kInvalidArgument);
}

TEST(PgUrlTest, ConnectFailureIsUnavailableAndNeverEchoesThePassword) {
  PostgresTestServer* server = PostgresTestServer::Shared();
  ASSERT_NE(server, nullptr);
  // A database that does not exist on a running server, then a closed port.
  for (const std::string& url :
       {StrCat("postgres://postgres:hunter2secret@127.0.0.1:", server->port(), "/no_such_db"),
        std::string("postgres://postgres:hunter2secret@127.0.0.1:1/db")}) {
    auto conn = PgConnection::Connect({.url = url, .connect_timeout = absl::Seconds(5)});
    EXPECT_EQ(conn.status().code(), absl::StatusCode::kUnavailable) << conn.status();
    EXPECT_EQ(std::string(conn.status().message()).find("hunter2secret"), std::string::npos);
  }
  auto bad = PgConnection::Connect({.url = "postgres://x:hunter2secret@h/db?bogus=1"});
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(std::string(bad.status().message()).find("hunter2secret"), std::string::npos);
}

// ---- Values round-trip ---------------------------------------------------------------

TEST_F(PgDbTest, ParametersAndResultsRoundTrip) {
  EV_TEST_ASSERT_OK(conn_->ExecScript(
      "CREATE TABLE t (id TEXT PRIMARY KEY, n BIGINT, d DOUBLE PRECISION, b BOOLEAN, "
      "raw BYTEA, opt TEXT)"));
  std::string all_bytes;
  for (int i = 0; i < 256; ++i) all_bytes.push_back(static_cast<char>(i));
  const std::string unicode = "gr\xC3\xBC\xC3\x9F dich \xF0\x9F\x91\x8B 'quoted' $1 \\x00";
  EV_TEST_ASSIGN(int64_t inserted,
                 conn_->Exec("INSERT INTO t VALUES ($1, $2, $3, $4, $5, $6), "
                             "($7, $8, $9, $10, $11, $12)",
                             {unicode, INT64_MIN, 0.1, true, PgBytes{all_bytes}, std::nullopt,
                              "b", INT64_MAX, -1.5e300, false, PgBytes{""},
                              std::optional<std::string>("x")}));
  EXPECT_EQ(inserted, 2);
  EV_TEST_ASSIGN(PgResult r, conn_->Query("SELECT id, n, d, b, raw, opt FROM t ORDER BY n"));
  ASSERT_EQ(r.Rows(), 2);
  ASSERT_EQ(r.Columns(), 6);
  EXPECT_EQ(r.String(0, 0), unicode);
  EXPECT_EQ(r.Int64(0, 1), INT64_MIN);
  EXPECT_EQ(r.Double(0, 2), 0.1);
  EXPECT_TRUE(r.Bool(0, 3));
  EXPECT_EQ(r.Bytes(0, 4), all_bytes);
  EXPECT_TRUE(r.IsNull(0, 5));
  EXPECT_EQ(r.OptionalString(0, 5), std::nullopt);
  EXPECT_EQ(r.Int64(1, 1), INT64_MAX);
  EXPECT_EQ(r.Double(1, 2), -1.5e300);
  EXPECT_FALSE(r.Bool(1, 3));
  EXPECT_EQ(r.Bytes(1, 4), "");
  EXPECT_FALSE(r.IsNull(1, 4));
  EXPECT_EQ(r.OptionalString(1, 5), "x");
  // The same parameter text never becomes SQL.
  EV_TEST_ASSIGN(PgResult q, conn_->Query("SELECT count(*) FROM t WHERE id = $1",
                                          {"' OR '1'='1"}));
  EXPECT_EQ(q.Int64(0, 0), 0);
}

// ---- Error mapping -----------------------------------------------------------------

TEST_F(PgDbTest, ConstraintViolationsMapToDomainCodesWithoutRowValues) {
  EV_TEST_ASSERT_OK(conn_->ExecScript(
      "CREATE TABLE users (id TEXT PRIMARY KEY, email TEXT NOT NULL CONSTRAINT users_email_key "
      "UNIQUE, age INT CHECK (age >= 0));"
      "CREATE TABLE keys (id TEXT PRIMARY KEY, user_id TEXT NOT NULL REFERENCES users(id))"));
  EV_TEST_ASSERT_OK(
      conn_->Exec("INSERT INTO users VALUES ($1, $2, $3)", {"u1", "secret@example.com", 3}));

  auto dup = conn_->Exec("INSERT INTO users VALUES ($1, $2, $3)", {"u2", "secret@example.com", 3});
  EXPECT_EQ(dup.status().code(), absl::StatusCode::kAlreadyExists) << dup.status();
  EXPECT_EQ(PgSqlState(dup.status()), "23505");
  EXPECT_EQ(PgConstraint(dup.status()), "users_email_key");
  EXPECT_EQ(std::string(dup.status().message()).find("secret@example.com"), std::string::npos)
      << dup.status();

  auto fk = conn_->Exec("INSERT INTO keys VALUES ($1, $2)", {"k1", "nobody"});
  EXPECT_EQ(fk.status().code(), absl::StatusCode::kFailedPrecondition) << fk.status();
  auto null = conn_->Exec("INSERT INTO users VALUES ($1, $2, $3)", {"u3", std::nullopt, 1});
  EXPECT_EQ(null.status().code(), absl::StatusCode::kInvalidArgument) << null.status();
  auto check = conn_->Exec("INSERT INTO users VALUES ($1, $2, $3)", {"u3", "c@d", -1});
  EXPECT_EQ(check.status().code(), absl::StatusCode::kInvalidArgument) << check.status();
  auto utf8 = conn_->Exec("INSERT INTO users VALUES ($1, $2, $3)", {"u3", "bad \xff utf8", 1});
  EXPECT_EQ(utf8.status().code(), absl::StatusCode::kInvalidArgument) << utf8.status();
  auto nul = conn_->Exec("INSERT INTO users VALUES ($1, $2, $3)",
                         {"u3", std::string("cut\0here", 8), 1});
  EXPECT_EQ(nul.status().code(), absl::StatusCode::kInvalidArgument) << nul.status();
  auto syntax = conn_->Query("SELEC 1");
  EXPECT_EQ(syntax.status().code(), absl::StatusCode::kInternal) << syntax.status();
  auto missing = conn_->Query("SELECT * FROM no_such_table");
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kInternal) << missing.status();
  // The connection is still usable after every error.
  EV_TEST_ASSIGN(PgResult r, conn_->Query("SELECT count(*) FROM users"));
  EXPECT_EQ(r.Int64(0, 0), 1);
}

TEST_F(PgDbTest, SerializationFailureIsAborted) {
  EV_TEST_ASSERT_OK(conn_->ExecScript("CREATE TABLE oncall (name TEXT PRIMARY KEY)"));
  auto other = ConnectTo(url_);
  ASSERT_NE(other, nullptr);
  // Write skew: both read the empty table, both insert; serializable must refuse one.
  EV_TEST_ASSIGN(PgTransaction t1, PgTransaction::Begin(*conn_, PgIsolation::kSerializable));
  EV_TEST_ASSIGN(PgTransaction t2, PgTransaction::Begin(*other, PgIsolation::kSerializable));
  EV_TEST_ASSERT_OK(conn_->Query("SELECT count(*) FROM oncall"));
  EV_TEST_ASSERT_OK(other->Query("SELECT count(*) FROM oncall"));
  EV_TEST_ASSERT_OK(conn_->Exec("INSERT INTO oncall VALUES ('a')"));
  EV_TEST_ASSERT_OK(other->Exec("INSERT INTO oncall VALUES ('b')"));
  EV_TEST_ASSERT_OK(t1.Commit());
  absl::Status second = t2.Commit();
  EXPECT_EQ(second.code(), absl::StatusCode::kAborted) << second;
  EXPECT_EQ(PgSqlState(second), "40001");
  EXPECT_FALSE(other->InTransaction());
}

TEST_F(PgDbTest, DeadlockIsAborted) {
  EV_TEST_ASSERT_OK(conn_->ExecScript("CREATE TABLE r (id INT PRIMARY KEY, n INT);"
                                      "INSERT INTO r VALUES (1, 0), (2, 0)"));
  auto other = ConnectTo(url_);
  ASSERT_NE(other, nullptr);
  EV_TEST_ASSIGN(PgTransaction t1, PgTransaction::Begin(*conn_));
  EV_TEST_ASSIGN(PgTransaction t2, PgTransaction::Begin(*other));
  EV_TEST_ASSERT_OK(conn_->Exec("UPDATE r SET n = 1 WHERE id = 1"));
  EV_TEST_ASSERT_OK(other->Exec("UPDATE r SET n = 2 WHERE id = 2"));
  absl::Status first;
  std::thread waiter([&] { first = conn_->Exec("UPDATE r SET n = 1 WHERE id = 2").status(); });
  // Blocks behind the waiter's lock until the deadlock detector breaks one side.
  absl::Status second = other->Exec("UPDATE r SET n = 2 WHERE id = 1").status();
  if (second.ok()) t2.Rollback();  // lets the waiter's statement finish if it survived
  waiter.join();
  EXPECT_NE(first.ok(), second.ok()) << first << " / " << second;
  absl::Status loser = first.ok() ? second : first;
  EXPECT_EQ(loser.code(), absl::StatusCode::kAborted) << loser;
  EXPECT_EQ(PgSqlState(loser), "40P01");
}

TEST_F(PgDbTest, LostConnectionIsUnavailable) {
  const int pid = conn_->BackendPid();
  auto admin = ConnectTo(url_);
  ASSERT_NE(admin, nullptr);
  EV_TEST_ASSIGN(PgResult killed,
                 admin->Query("SELECT pg_terminate_backend($1, 10000)", {pid}));
  ASSERT_TRUE(killed.Bool(0, 0));
  auto r = conn_->Query("SELECT 1");
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable) << r.status();
  EXPECT_FALSE(conn_->Healthy());
}

// ---- Transactions ---------------------------------------------------------------------

TEST_F(PgDbTest, TransactionsCommitRollBackAndNest) {
  EV_TEST_ASSERT_OK(conn_->ExecScript("CREATE TABLE t (id TEXT PRIMARY KEY)"));
  auto count = [&] {
    auto r = conn_->Query("SELECT count(*) FROM t");
    return r.ok() ? r->Int64(0, 0) : -1;
  };
  {
    EV_TEST_ASSIGN(PgTransaction tx, PgTransaction::Begin(*conn_));
    EV_TEST_ASSERT_OK(conn_->Exec("INSERT INTO t VALUES ('dropped')"));
  }  // destroyed without Commit: rolled back
  EXPECT_FALSE(conn_->InTransaction());
  EXPECT_EQ(count(), 0);
  {
    EV_TEST_ASSIGN(PgTransaction outer, PgTransaction::Begin(*conn_));
    EV_TEST_ASSERT_OK(conn_->Exec("INSERT INTO t VALUES ('kept')"));
    {
      EV_TEST_ASSIGN(PgTransaction inner, PgTransaction::Begin(*conn_));
      EV_TEST_ASSERT_OK(conn_->Exec("INSERT INTO t VALUES ('inner')"));
      // A failed statement inside the savepoint does not doom the outer transaction.
      EXPECT_FALSE(conn_->Exec("INSERT INTO t VALUES ('kept')").ok());
    }
    EV_TEST_ASSIGN(PgTransaction inner2, PgTransaction::Begin(*conn_));
    EV_TEST_ASSERT_OK(conn_->Exec("INSERT INTO t VALUES ('inner2')"));
    EV_TEST_ASSERT_OK(inner2.Commit());
    EV_TEST_ASSERT_OK(outer.Commit());
  }
  EV_TEST_ASSIGN(PgResult r, conn_->Query("SELECT id FROM t ORDER BY id"));
  ASSERT_EQ(r.Rows(), 2);
  EXPECT_EQ(r.String(0, 0), "inner2");
  EXPECT_EQ(r.String(1, 0), "kept");
}

TEST_F(PgDbTest, CommittingAFailedTransactionIsAnErrorNotASilentRollback) {
  EV_TEST_ASSERT_OK(conn_->ExecScript("CREATE TABLE t (id TEXT PRIMARY KEY)"));
  EV_TEST_ASSIGN(PgTransaction tx, PgTransaction::Begin(*conn_));
  EV_TEST_ASSERT_OK(conn_->Exec("INSERT INTO t VALUES ('a')"));
  EXPECT_FALSE(conn_->Exec("INSERT INTO t VALUES ('a')").ok());
  EXPECT_FALSE(tx.Commit().ok());
  EXPECT_FALSE(conn_->InTransaction());
  EV_TEST_ASSIGN(PgResult r, conn_->Query("SELECT count(*) FROM t"));
  EXPECT_EQ(r.Int64(0, 0), 0);
}

// ---- Pool ---------------------------------------------------------------------------

TEST_F(PgDbTest, PoolSerialisesConcurrentTransactionsWithinItsLimit) {
  EV_TEST_ASSERT_OK(conn_->ExecScript("CREATE TABLE c (id INT PRIMARY KEY, n BIGINT);"
                                      "INSERT INTO c VALUES (1, 0)"));
  EV_TEST_ASSIGN(auto pool, PgPool::Create({.connect = {.url = url_}, .max_connections = 3}));
  std::atomic<int> most{0}, errors{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 6; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 25; ++i) {
        // A read-modify-write that only serializable isolation (with retries) keeps exact.
        absl::Status st = pool->InTransaction(
            [&](PgConnection& c) -> absl::Status {
              EV_ASSIGN_OR_RETURN(PgResult r, c.Query("SELECT n FROM c WHERE id = 1"));
              int open = pool->OpenConnections();
              int seen = most.load();
              while (open > seen && !most.compare_exchange_weak(seen, open)) {
              }
              return c.Exec("UPDATE c SET n = $1 WHERE id = 1", {r.Int64(0, 0) + 1}).status();
            },
            PgIsolation::kSerializable, /*max_attempts=*/1000);
        if (!st.ok()) {
          ADD_FAILURE() << st;
          ++errors;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(errors.load(), 0);
  EXPECT_LE(most.load(), 3);
  EXPECT_GE(most.load(), 1);
  EV_TEST_ASSIGN(PgResult r, pool->Query("SELECT n FROM c WHERE id = 1"));
  EXPECT_EQ(r.Int64(0, 0), 150);
}

TEST_F(PgDbTest, PoolRetriesOnlySerializationFailures) {
  EV_TEST_ASSIGN(auto pool, PgPool::Create({.connect = {.url = url_}, .max_connections = 2}));
  int calls = 0;
  absl::Status st = pool->InTransaction([&](PgConnection&) -> absl::Status {
    ++calls;
    return absl::AbortedError("domain conflict, not a database one");
  });
  EXPECT_EQ(st.code(), absl::StatusCode::kAborted);
  EXPECT_EQ(calls, 1);
}

TEST_F(PgDbTest, LeaseReturnedInsideATransactionIsClosedAndRolledBack) {
  EV_TEST_ASSERT_OK(conn_->ExecScript("CREATE TABLE t (id TEXT PRIMARY KEY)"));
  EV_TEST_ASSIGN(auto pool, PgPool::Create({.connect = {.url = url_}, .max_connections = 2}));
  EXPECT_EQ(pool->OpenConnections(), 1);
  {
    EV_TEST_ASSIGN(PgPool::Lease lease, pool->Acquire());
    EV_TEST_ASSERT_OK(lease->ExecScript("BEGIN; INSERT INTO t VALUES ('leaked')"));
  }  // a caller bug: the transaction is still open
  EXPECT_EQ(pool->OpenConnections(), 0);
  EV_TEST_ASSIGN(PgResult r, pool->Query("SELECT count(*) FROM t"));
  EXPECT_EQ(r.Int64(0, 0), 0);
}

TEST_F(PgDbTest, PoolDropsConnectionsTheServerTerminated) {
  EV_TEST_ASSIGN(auto pool, PgPool::Create({.connect = {.url = url_}, .max_connections = 2}));
  int pid = 0;
  {
    EV_TEST_ASSIGN(PgPool::Lease lease, pool->Acquire());
    pid = lease->BackendPid();
  }
  EV_TEST_ASSIGN(PgResult killed, conn_->Query("SELECT pg_terminate_backend($1, 10000)", {pid}));
  ASSERT_TRUE(killed.Bool(0, 0));
  EV_TEST_ASSIGN(PgResult r, pool->Query("SELECT pg_backend_pid()"));
  EXPECT_NE(r.Int64(0, 0), pid);
}

TEST(PgPoolRestartTest, PoolSurvivesAServerRestart) {
  PostgresTestServer server;  // a server of its own: restarting the shared one would
  ASSERT_TRUE(server.Start()) << server.error();  // break the other tests' connections
  EV_TEST_ASSIGN(auto pool, PgPool::Create({.connect = {.url = server.Url()}}));
  EV_TEST_ASSERT_OK(pool->Exec("CREATE TABLE t (id INT)"));
  ASSERT_TRUE(server.Restart()) << server.error();
  EV_TEST_ASSIGN(std::unique_ptr<PgConnection> after,
                 PgConnection::Connect({.url = server.Url()}));
  // The pooled connection died with the old server; the pool opens a new one.
  EV_TEST_ASSIGN(int64_t n, pool->Exec("INSERT INTO t VALUES (1)"));
  EXPECT_EQ(n, 1);
  server.Stop();
  EV_TEST_EXPECT_CODE(pool->Query("SELECT 1"), kUnavailable);
}

// ---- Migrations -----------------------------------------------------------------------

const std::vector<std::string> kSteps = {
    "CREATE TABLE a (id TEXT PRIMARY KEY)",
    "CREATE TABLE b (id TEXT PRIMARY KEY); INSERT INTO a VALUES ('from step 2')",
};

TEST_F(PgDbTest, MigrationsApplyOnceAndInOrder) {
  EV_TEST_ASSIGN(int64_t v0, PgSchemaVersion(*conn_, "test"));
  EXPECT_EQ(v0, 0);
  EV_TEST_ASSIGN(int applied, PgMigrate(*conn_, "test", kSteps));
  EXPECT_EQ(applied, 2);
  EV_TEST_ASSIGN(int again, PgMigrate(*conn_, "test", kSteps));
  EXPECT_EQ(again, 0);
  std::vector<std::string> more = kSteps;
  more.push_back("ALTER TABLE b ADD COLUMN n BIGINT NOT NULL DEFAULT 0");
  EV_TEST_ASSIGN(int added, PgMigrate(*conn_, "test", more));
  EXPECT_EQ(added, 1);
  EV_TEST_ASSIGN(int64_t v, PgSchemaVersion(*conn_, "test"));
  EXPECT_EQ(v, 3);
  EV_TEST_ASSIGN(PgResult rows, conn_->Query("SELECT count(*) FROM a"));
  EXPECT_EQ(rows.Int64(0, 0), 1);
  // Another component in the same database keeps its own version.
  EV_TEST_ASSIGN(int other, PgMigrate(*conn_, "other", {"CREATE TABLE o (id INT)"}));
  EXPECT_EQ(other, 1);
  EV_TEST_ASSIGN(int64_t v_test, PgSchemaVersion(*conn_, "test"));
  EXPECT_EQ(v_test, 3);
  // No advisory lock is left behind.
  EV_TEST_ASSIGN(PgResult locks,
                 conn_->Query("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' "
                              "AND pid = pg_backend_pid()"));
  EXPECT_EQ(locks.Int64(0, 0), 0);
}

TEST_F(PgDbTest, AFailedStepLeavesThePreviousVersion) {
  std::vector<std::string> steps = kSteps;
  steps.push_back("CREATE TABLE c (id INT); INSERT INTO nowhere VALUES (1)");
  auto r = PgMigrate(*conn_, "test", steps);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInternal) << r.status();
  EXPECT_NE(std::string(r.status().message()).find("migration step 3"), std::string::npos)
      << r.status();
  EV_TEST_ASSIGN(int64_t v, PgSchemaVersion(*conn_, "test"));
  EXPECT_EQ(v, 2);
  EV_TEST_ASSIGN(PgResult c, conn_->Query("SELECT to_regclass('c') IS NULL"));
  EXPECT_TRUE(c.Bool(0, 0));  // the step's first statement was rolled back with it
  EV_TEST_ASSIGN(PgResult locks,
                 conn_->Query("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'"));
  EXPECT_EQ(locks.Int64(0, 0), 0);
}

TEST_F(PgDbTest, ANewerSchemaIsRefused) {
  EV_TEST_ASSERT_OK(PgMigrate(*conn_, "test", kSteps));
  auto r = PgMigrate(*conn_, "test", {kSteps[0]});
  EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition) << r.status();
}

TEST_F(PgDbTest, ConcurrentMigratorsApplyEachStepExactlyOnce) {
  // The first step sleeps in the server so the other migrators arrive while it runs;
  // without the advisory lock they would apply the steps again (and fail on CREATE).
  std::vector<std::string> steps = {"SELECT pg_sleep(0.3); CREATE TABLE a (id INT)",
                                    "CREATE TABLE b (id INT)", "INSERT INTO a VALUES (1)"};
  constexpr int kMigrators = 4;
  std::vector<std::unique_ptr<PgConnection>> conns;
  for (int i = 0; i < kMigrators; ++i) {
    conns.push_back(ConnectTo(url_));
    ASSERT_NE(conns.back(), nullptr);
  }
  std::vector<absl::StatusOr<int>> results(kMigrators, 0);
  std::vector<std::thread> threads;
  for (int i = 0; i < kMigrators; ++i) {
    threads.emplace_back([&, i] { results[i] = PgMigrate(*conns[i], "race", steps); });
  }
  for (auto& t : threads) t.join();
  int full = 0, none = 0;
  for (const auto& r : results) {
    ASSERT_TRUE(r.ok()) << r.status();
    if (*r == 3) ++full;
    if (*r == 0) ++none;
  }
  EXPECT_EQ(full, 1);
  EXPECT_EQ(none, kMigrators - 1);
  EV_TEST_ASSIGN(PgResult rows, conn_->Query("SELECT count(*) FROM a"));
  EXPECT_EQ(rows.Int64(0, 0), 1);
  EV_TEST_ASSIGN(PgResult versions,
                 conn_->Query("SELECT count(*) FROM schema_migrations WHERE component = 'race'"));
  EXPECT_EQ(versions.Int64(0, 0), 3);
}

}  // namespace
}  // namespace edgevault::storage
