#include "src/storage/sqlite/sqlite_db.h"

#include <sqlite3.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <filesystem>
#include <string>

#include "gtest/gtest.h"
#include "src/base/status.h"
#include "src/base/strings.h"

namespace edgevault::storage {
namespace {

namespace fs = std::filesystem;
using base::StrCat;

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (fs::path(::testing::TempDir()) / "sqlite_db_test.XXXXXX").string();
    EXPECT_NE(::mkdtemp(tmpl.data()), nullptr);
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  std::string Sub(std::string_view name) const { return StrCat(path_, "/", name); }

 private:
  std::string path_;
};

uint32_t ModeOf(const std::string& path) {
  struct stat st;
  EXPECT_EQ(::stat(path.c_str(), &st), 0) << path;
  return st.st_mode & 07777;
}

class SqliteDbTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto db = SqliteDb::Open({.path = dir_.Sub("t.db")});
    ASSERT_TRUE(db.ok()) << db.status();
    db_ = std::move(*db);
  }

  int64_t QueryInt(std::string_view sql) {
    auto st = db_->Prepare(sql);
    EXPECT_TRUE(st.ok()) << st.status();
    if (!st.ok()) return -999;
    auto row = st->Step();
    EXPECT_TRUE(row.ok() && *row) << sql;
    if (!row.ok() || !*row) return -999;
    return st->ColumnInt64(0);
  }

  TempDir dir_;
  std::unique_ptr<SqliteDb> db_;
};

TEST_F(SqliteDbTest, OpenCreatesTheFileWithMode0600AndSetsPragmas) {
  EXPECT_EQ(ModeOf(dir_.Sub("t.db")), 0600u);
  ASSERT_TRUE(db_->Exec("CREATE TABLE t (x BIGINT)").ok());
  ASSERT_TRUE(db_->Exec("INSERT INTO t VALUES (1)").ok());
  // The WAL file exists now and inherits the database's mode.
  ASSERT_TRUE(fs::exists(dir_.Sub("t.db-wal")));
  EXPECT_EQ(ModeOf(dir_.Sub("t.db-wal")), 0600u);
  auto st = db_->Prepare("PRAGMA journal_mode");
  ASSERT_TRUE(st.ok());
  ASSERT_TRUE(*st->Step());
  EXPECT_EQ(st->ColumnText(0), "wal");
  EXPECT_EQ(QueryInt("PRAGMA synchronous"), 2);  // FULL
  EXPECT_EQ(QueryInt("PRAGMA foreign_keys"), 1);
  EXPECT_EQ(QueryInt("PRAGMA busy_timeout"), 5000);
}

TEST_F(SqliteDbTest, CreateModeIsHonouredAndExistingFilesKeepTheirMode) {
  auto other = SqliteDb::Open({.path = dir_.Sub("o.db"), .create_mode = 0640});
  ASSERT_TRUE(other.ok()) << other.status();
  EXPECT_EQ(ModeOf(dir_.Sub("o.db")), 0640u);
  other->reset();
  auto again = SqliteDb::Open({.path = dir_.Sub("o.db"), .create_mode = 0600});
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(ModeOf(dir_.Sub("o.db")), 0640u);
}

TEST_F(SqliteDbTest, ValuesRoundTripThroughBindAndColumns) {
  ASSERT_TRUE(db_->Exec("CREATE TABLE v (i BIGINT, d DOUBLE PRECISION, t TEXT, b BLOB, "
                        "n BIGINT, o BIGINT)")
                  .ok());
  std::string blob("\x00\x01\x02\xff", 4);
  auto ins = db_->Prepare("INSERT INTO v VALUES (?, ?, ?, ?, ?, ?)");
  ASSERT_TRUE(ins.ok()) << ins.status();
  ins->Bind(1, int64_t{-9'000'000'000'000})
      .Bind(2, 2.5)
      .Bind(3, std::string("h\xc3\xa9llo"))
      .Bind(4, Blob{blob})
      .Bind(5, std::nullopt)
      .Bind(6, std::optional<int64_t>(7));
  ASSERT_TRUE(ins->Run().ok());
  ins->Reset();
  ins->Bind(1, 1)
      .Bind(2, 0.0)
      .Bind(3, "")
      .Bind(4, Blob{""})
      .Bind(5, std::nullopt)
      .Bind(6, std::optional<int64_t>());
  ASSERT_TRUE(ins->Run().ok());
  EXPECT_EQ(db_->Changes(), 1);

  auto q = db_->Prepare("SELECT i, d, t, b, n, o FROM v ORDER BY i");
  ASSERT_TRUE(q.ok());
  ASSERT_TRUE(*q->Step());
  EXPECT_EQ(q->ColumnCount(), 6);
  EXPECT_EQ(q->ColumnInt64(0), -9'000'000'000'000);
  EXPECT_EQ(q->ColumnDouble(1), 2.5);
  EXPECT_EQ(q->ColumnText(2), "h\xc3\xa9llo");
  EXPECT_EQ(q->ColumnBlob(3), blob);
  EXPECT_TRUE(q->IsNull(4));
  EXPECT_EQ(q->ColumnOptionalInt64(4), std::nullopt);
  EXPECT_EQ(q->ColumnOptionalInt64(5), std::optional<int64_t>(7));
  ASSERT_TRUE(*q->Step());
  EXPECT_EQ(q->ColumnInt64(0), 1);
  EXPECT_EQ(q->ColumnText(2), "");
  EXPECT_FALSE(q->IsNull(2));  // '' is not NULL
  EXPECT_FALSE(q->IsNull(3));
  EXPECT_EQ(q->ColumnBlob(3), "");
  EXPECT_TRUE(q->IsNull(5));
  EXPECT_FALSE(*q->Step());
}

TEST_F(SqliteDbTest, NamedParameters) {
  ASSERT_TRUE(db_->Exec("CREATE TABLE kv (k TEXT PRIMARY KEY, v TEXT)").ok());
  auto ins = db_->Prepare("INSERT INTO kv (k, v) VALUES (:k, :v)");
  ASSERT_TRUE(ins.ok());
  ins->Bind(":v", "value").Bind(":k", "key");
  ASSERT_TRUE(ins->Run().ok());
  auto q = db_->Prepare("SELECT v FROM kv WHERE k = :k");
  ASSERT_TRUE(q.ok());
  q->Bind(":k", std::string_view("key"));
  ASSERT_TRUE(*q->Step());
  EXPECT_EQ(q->ColumnText(0), "value");
}

TEST_F(SqliteDbTest, BindErrorsSurfaceAtStep) {
  ASSERT_TRUE(db_->Exec("CREATE TABLE kv (k TEXT)").ok());
  auto ins = db_->Prepare("INSERT INTO kv (k) VALUES (?)");
  ASSERT_TRUE(ins.ok());
  ins->Bind(1, "a").Bind(5, "out of range");
  absl::Status s = ins->Run();
  EXPECT_FALSE(s.ok());
  EXPECT_NE(std::string(base::ToStd(s.message())).find("#5"), std::string::npos) << s;
  auto named = db_->Prepare("INSERT INTO kv (k) VALUES (:k)");
  ASSERT_TRUE(named.ok());
  named->Bind(":nope", "x");
  EXPECT_FALSE(named->Run().ok());
  EXPECT_EQ(QueryInt("SELECT COUNT(*) FROM kv"), 0);
}

TEST_F(SqliteDbTest, ConstraintViolationsAreTranslated) {
  ASSERT_TRUE(db_->Exec("CREATE TABLE p (id TEXT PRIMARY KEY, u TEXT UNIQUE, "
                        "n BIGINT NOT NULL CHECK (n >= 0));"
                        "CREATE TABLE c (pid TEXT NOT NULL REFERENCES p (id))")
                  .ok());
  ASSERT_TRUE(db_->Exec("INSERT INTO p VALUES ('a', 'x', 1)").ok());
  auto run = [&](std::string_view sql) {
    auto st = db_->Prepare(sql);
    EXPECT_TRUE(st.ok()) << st.status();
    return st.ok() ? st->Run() : st.status();
  };
  EXPECT_EQ(run("INSERT INTO p VALUES ('a', 'y', 1)").code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(run("INSERT INTO p VALUES ('b', 'x', 1)").code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(run("INSERT INTO p VALUES ('b', 'y', NULL)").code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(run("INSERT INTO p VALUES ('b', 'y', -1)").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(run("INSERT INTO c VALUES ('ghost')").code(), absl::StatusCode::kFailedPrecondition);
  // Exec (sqlite3_exec) translates the same way.
  EXPECT_EQ(db_->Exec("INSERT INTO p VALUES ('a', 'z', 1)").code(),
            absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(db_->Exec("INSERT INTO c VALUES ('ghost')").code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST_F(SqliteDbTest, SyntaxErrorIsInternalWithTheDriverMessage) {
  auto st = db_->Prepare("SELEKT 1");
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.status().code(), absl::StatusCode::kInternal);
  EXPECT_NE(std::string(base::ToStd(st.status().message())).find("syntax error"), std::string::npos)
      << st.status();
  EXPECT_EQ(db_->Exec("DROP TABLE nope").code(), absl::StatusCode::kInternal);
}

TEST(SqliteStatusTest, MapsResultCodes) {
  EXPECT_EQ(SqliteStatus(SQLITE_BUSY, "x", "y").code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(SqliteStatus(SQLITE_BUSY_SNAPSHOT, "x", "y").code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(SqliteStatus(SQLITE_LOCKED, "x", "y").code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(SqliteStatus(SQLITE_CONSTRAINT_UNIQUE, "x", "y").code(),
            absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(SqliteStatus(SQLITE_CONSTRAINT_PRIMARYKEY, "x", "y").code(),
            absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(SqliteStatus(SQLITE_CONSTRAINT_FOREIGNKEY, "x", "y").code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(SqliteStatus(SQLITE_CONSTRAINT_NOTNULL, "x", "y").code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(SqliteStatus(SQLITE_FULL, "x", "y").code(), absl::StatusCode::kResourceExhausted);
  absl::Status corrupt =
      SqliteStatus(SQLITE_CORRUPT, "read page", "database disk image is malformed");
  EXPECT_EQ(corrupt.code(), absl::StatusCode::kInternal);
  EXPECT_NE(std::string(base::ToStd(corrupt.message())).find("malformed"), std::string::npos);
}

TEST_F(SqliteDbTest, WriterBlockedByAnotherConnectionIsUnavailable) {
  ASSERT_TRUE(db_->Exec("CREATE TABLE t (x BIGINT)").ok());
  auto other = SqliteDb::Open({.path = dir_.Sub("t.db"), .busy_timeout = absl::Milliseconds(1)});
  ASSERT_TRUE(other.ok()) << other.status();
  auto held = Transaction::Begin(*db_);
  ASSERT_TRUE(held.ok()) << held.status();
  auto blocked = Transaction::Begin(**other);
  ASSERT_FALSE(blocked.ok());
  EXPECT_EQ(blocked.status().code(), absl::StatusCode::kUnavailable) << blocked.status();
  EXPECT_EQ((*other)->Exec("INSERT INTO t VALUES (1)").code(), absl::StatusCode::kUnavailable);
  ASSERT_TRUE(held->Commit().ok());
  EXPECT_TRUE((*other)->Exec("INSERT INTO t VALUES (1)").ok());
}

TEST_F(SqliteDbTest, TransactionRollsBackWhenDestroyedWithoutCommit) {
  ASSERT_TRUE(db_->Exec("CREATE TABLE t (x BIGINT)").ok());
  {
    auto tx = Transaction::Begin(*db_);
    ASSERT_TRUE(tx.ok());
    ASSERT_TRUE(db_->Exec("INSERT INTO t VALUES (1)").ok());
    EXPECT_TRUE(db_->InTransaction());
    EXPECT_EQ(QueryInt("SELECT COUNT(*) FROM t"), 1);
  }
  EXPECT_FALSE(db_->InTransaction());
  EXPECT_EQ(QueryInt("SELECT COUNT(*) FROM t"), 0);
  {
    auto tx = Transaction::Begin(*db_);
    ASSERT_TRUE(tx.ok());
    ASSERT_TRUE(db_->Exec("INSERT INTO t VALUES (2)").ok());
    ASSERT_TRUE(tx->Commit().ok());
    EXPECT_FALSE(tx->Commit().ok());  // only once
  }
  EXPECT_EQ(QueryInt("SELECT COUNT(*) FROM t"), 1);
}

TEST_F(SqliteDbTest, NestedTransactionsAreSavepoints) {
  ASSERT_TRUE(db_->Exec("CREATE TABLE t (x BIGINT)").ok());
  auto outer = Transaction::Begin(*db_);
  ASSERT_TRUE(outer.ok());
  ASSERT_TRUE(db_->Exec("INSERT INTO t VALUES (1)").ok());
  {
    auto inner = Transaction::Begin(*db_);
    ASSERT_TRUE(inner.ok());
    ASSERT_TRUE(db_->Exec("INSERT INTO t VALUES (2)").ok());
    {
      auto innermost = Transaction::Begin(*db_);
      ASSERT_TRUE(innermost.ok());
      ASSERT_TRUE(db_->Exec("INSERT INTO t VALUES (3)").ok());
      ASSERT_TRUE(innermost->Commit().ok());
    }
    // inner is dropped: rolls back 2 and 3
  }
  EXPECT_TRUE(db_->InTransaction());
  {
    auto inner = Transaction::Begin(*db_);
    ASSERT_TRUE(inner.ok());
    ASSERT_TRUE(db_->Exec("INSERT INTO t VALUES (4)").ok());
    ASSERT_TRUE(inner->Commit().ok());
  }
  ASSERT_TRUE(outer->Commit().ok());
  EXPECT_EQ(QueryInt("SELECT COUNT(*) FROM t"), 2);
  EXPECT_EQ(QueryInt("SELECT SUM(x) FROM t"), 5);
}

TEST_F(SqliteDbTest, MigrationsRunOnceInOrderAndAreIdempotent) {
  std::vector<std::string> steps = {
      "CREATE TABLE a (x BIGINT)",
      "INSERT INTO a VALUES (1); CREATE TABLE b (y TEXT)",
  };
  ASSERT_TRUE(Migrate(*db_, steps).ok());
  EXPECT_EQ(*db_->UserVersion(), 2);
  ASSERT_TRUE(Migrate(*db_, steps).ok());  // nothing to do, nothing re-run
  EXPECT_EQ(QueryInt("SELECT COUNT(*) FROM a"), 1);
  steps.push_back("INSERT INTO a VALUES (2)");
  ASSERT_TRUE(Migrate(*db_, steps).ok());
  EXPECT_EQ(*db_->UserVersion(), 3);
  EXPECT_EQ(QueryInt("SELECT COUNT(*) FROM a"), 2);
}

TEST_F(SqliteDbTest, FailedMigrationStepLeavesThePreviousVersion) {
  std::vector<std::string> steps = {
      "CREATE TABLE a (x BIGINT)",
      "INSERT INTO a VALUES (1); CREATE TABLE broken (",  // fails after a write
  };
  absl::Status s = Migrate(*db_, steps);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(std::string(base::ToStd(s.message())).find("migration step 2"), std::string::npos) << s;
  EXPECT_EQ(*db_->UserVersion(), 1);
  EXPECT_EQ(QueryInt("SELECT COUNT(*) FROM a"), 0);  // step 2's insert rolled back
  EXPECT_FALSE(db_->InTransaction());
  steps[1] = "INSERT INTO a VALUES (1)";
  ASSERT_TRUE(Migrate(*db_, steps).ok());
  EXPECT_EQ(*db_->UserVersion(), 2);
}

TEST_F(SqliteDbTest, NewerSchemaIsRefused) {
  ASSERT_TRUE(db_->Exec("PRAGMA user_version = 5").ok());
  absl::Status s = Migrate(*db_, {"CREATE TABLE a (x BIGINT)"});
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << s;
}

TEST(SqliteDbOpenTest, ReadOnlyOpenOfMissingFileIsNotFoundAndWritesFail) {
  TempDir dir;
  auto missing = SqliteDb::Open({.path = dir.Sub("none.db"), .read_only = true});
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound) << missing.status();
  EXPECT_FALSE(fs::exists(dir.Sub("none.db")));
  {
    auto rw = SqliteDb::Open({.path = dir.Sub("r.db")});
    ASSERT_TRUE(rw.ok());
    ASSERT_TRUE((*rw)->Exec("CREATE TABLE t (x BIGINT); INSERT INTO t VALUES (3)").ok());
  }
  auto ro = SqliteDb::Open({.path = dir.Sub("r.db"), .read_only = true});
  ASSERT_TRUE(ro.ok()) << ro.status();
  auto q = (*ro)->Prepare("SELECT x FROM t");
  ASSERT_TRUE(q.ok());
  ASSERT_TRUE(*q->Step());
  EXPECT_EQ(q->ColumnInt64(0), 3);
  EXPECT_FALSE((*ro)->Exec("INSERT INTO t VALUES (4)").ok());
  EXPECT_EQ(SqliteDb::Open({.path = ""}).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace edgevault::storage
