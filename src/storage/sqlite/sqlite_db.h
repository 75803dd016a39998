#pragma once
// A small SQLite wrapper shared by every SQLite-backed store (control DB, per-workspace
// stores, audit queue): one connection, prepared statements, RAII transactions, a
// user_version migration runner, and the one place where SQLite result codes become
// absl::Status codes.
//
// Thread-safety: the connection is opened with SQLITE_OPEN_FULLMUTEX, so single calls
// may come from any thread, but a Statement or Transaction belongs to one thread at a
// time and callers serialise multi-statement sequences themselves (stores hold a mutex).
//
//   EV_ASSIGN_OR_RETURN(auto db, SqliteDb::Open({.path = dir + "/x.db"}));
//   EV_RETURN_IF_ERROR(Migrate(*db, {"CREATE TABLE t (id TEXT PRIMARY KEY, n BIGINT)"}));
//   EV_ASSIGN_OR_RETURN(auto tx, Transaction::Begin(*db));
//   EV_ASSIGN_OR_RETURN(Statement st, db->Prepare("INSERT INTO t VALUES (?, ?)"));
//   st.Bind(1, "a").Bind(2, 7);
//   EV_RETURN_IF_ERROR(st.Run());
//   EV_RETURN_IF_ERROR(tx.Commit());
//
// Error translation (every function below that returns a Status uses it):
//   SQLITE_BUSY, SQLITE_LOCKED                      → Unavailable (the caller may retry)
//   SQLITE_CONSTRAINT_UNIQUE / _PRIMARYKEY          → AlreadyExists
//   SQLITE_CONSTRAINT_FOREIGNKEY                    → FailedPrecondition
//   other SQLITE_CONSTRAINT_* (NOT NULL, CHECK, ...) → InvalidArgument
//   SQLITE_FULL                                     → ResourceExhausted
//   anything else                                   → Internal, with sqlite3_errmsg

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

struct sqlite3;
struct sqlite3_stmt;

namespace edgevault::storage {

struct SqliteOptions {
  std::string path;
  absl::Duration busy_timeout = absl::Seconds(5);
  bool wal = true;               // PRAGMA journal_mode=WAL
  bool synchronous_full = true;  // PRAGMA synchronous=FULL (else NORMAL)
  bool read_only = false;
  // Permission bits of the database file when Open creates it (the -wal and -shm files
  // inherit them from the database file). An existing file keeps its mode.
  uint32_t create_mode = 0600;
};

// Maps a SQLite result code (extended or primary) to a Status, see the table above.
// `what` names the operation; `detail` is usually sqlite3_errmsg.
absl::Status SqliteStatus(int rc, std::string_view what, std::string_view detail);

// Marks bytes to be bound as a BLOB rather than TEXT.
struct Blob {
  std::string_view bytes;
};

class SqliteDb;

// A prepared statement. Bind errors are remembered and returned by the next Step/Run, so
// binds chain: st.Bind(1, a).Bind(":name", b). Parameter indexes start at 1, column
// indexes at 0. Move-only; finalized on destruction.
class Statement {
 public:
  // A parameter: a 1-based index or a name with its prefix (":id", "@id", "$id").
  struct Param {
    Param(int i) : index(i) {}              // NOLINT: implicit on purpose
    Param(const char* n) : name(n) {}       // NOLINT
    Param(std::string_view n) : name(n) {}  // NOLINT
    int index = 0;
    std::string_view name;
  };

  Statement(Statement&& other) noexcept;
  Statement& operator=(Statement&& other) noexcept;
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  ~Statement();

  template <typename T>
  requires(std::is_integral_v<T>) Statement& Bind(Param p, T v) {
    return BindInt64(p, static_cast<int64_t>(v));
  }
  Statement& Bind(Param p, double v);
  Statement& Bind(Param p, std::string_view text);
  Statement& Bind(Param p, const char* text) { return Bind(p, std::string_view(text)); }
  Statement& Bind(Param p, const std::string& text) { return Bind(p, std::string_view(text)); }
  Statement& Bind(Param p, Blob blob);
  Statement& Bind(Param p, std::nullopt_t);
  template <typename T>
  Statement& Bind(Param p, const std::optional<T>& v) {
    return v.has_value() ? Bind(p, *v) : Bind(p, std::nullopt);
  }
  Statement& BindInt64(Param p, int64_t v);

  // Runs one step: true when a row is available, false when the statement is done.
  // Errors: any code from the table above, or the first failed Bind.
  absl::StatusOr<bool> Step();
  // Steps until done, ignoring rows. Same errors as Step.
  absl::Status Run();
  // Makes the statement runnable again and clears bindings and any remembered error.
  void Reset();

  int ColumnCount() const;
  bool IsNull(int col) const;
  int64_t ColumnInt64(int col) const;
  double ColumnDouble(int col) const;
  std::string ColumnText(int col) const;
  std::string ColumnBlob(int col) const;
  std::optional<int64_t> ColumnOptionalInt64(int col) const;

 private:
  friend class SqliteDb;
  Statement(SqliteDb* db, sqlite3_stmt* stmt) : db_(db), stmt_(stmt) {}
  int Resolve(const Param& p);
  void Remember(int rc, const Param& p);

  SqliteDb* db_ = nullptr;
  sqlite3_stmt* stmt_ = nullptr;
  absl::Status bind_error_;
};

class SqliteDb {
 public:
  // Opens (creating unless read_only) the database and applies the pragmas:
  // journal_mode=WAL (when wal), synchronous=FULL|NORMAL, foreign_keys=ON, busy_timeout.
  // Errors: NotFound (read_only and the file is missing), PermissionDenied or Internal
  // (creating the file), any code from the table above.
  static absl::StatusOr<std::unique_ptr<SqliteDb>> Open(const SqliteOptions& options);

  SqliteDb(const SqliteDb&) = delete;
  SqliteDb& operator=(const SqliteDb&) = delete;
  ~SqliteDb();

  // Runs one or more ';'-separated statements that return no rows of interest.
  absl::Status Exec(std::string_view sql);
  // Compiles one statement. Errors: Internal on a syntax error (with the message).
  absl::StatusOr<Statement> Prepare(std::string_view sql);

  // Rows changed by the last INSERT/UPDATE/DELETE on this connection.
  int64_t Changes() const;
  // True while a transaction is open on this connection.
  bool InTransaction() const;
  // PRAGMA user_version.
  absl::StatusOr<int64_t> UserVersion();

  const std::string& path() const { return path_; }
  sqlite3* raw() { return db_; }

  // The Status for `rc` with this connection's error message.
  absl::Status Error(int rc, std::string_view what) const;

 private:
  friend class Transaction;
  SqliteDb(sqlite3* db, std::string path) : db_(db), path_(std::move(path)) {}

  sqlite3* db_;
  std::string path_;
  int savepoint_depth_ = 0;  // open nested Transactions (savepoints)
};

// RAII transaction. At the outermost level it is BEGIN IMMEDIATE (or DEFERRED) ... COMMIT;
// inside an open transaction it is a SAVEPOINT ... RELEASE, so nested units of work can
// fail alone. Destroying it without Commit() rolls back (ROLLBACK / ROLLBACK TO).
// Transactions on one connection must be destroyed in reverse order of creation.
class Transaction {
 public:
  enum class Mode { kImmediate, kDeferred };

  // Errors: Unavailable when another connection holds the write lock past busy_timeout.
  static absl::StatusOr<Transaction> Begin(SqliteDb& db, Mode mode = Mode::kImmediate);

  Transaction(Transaction&& other) noexcept;
  Transaction& operator=(Transaction&&) = delete;
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;
  ~Transaction();

  // Errors: Unavailable (busy), Internal. After an error the transaction is rolled back.
  absl::Status Commit();
  // Rolls back now (the destructor then does nothing).
  void Rollback();

 private:
  Transaction(SqliteDb* db, int savepoint) : db_(db), savepoint_(savepoint) {}

  SqliteDb* db_;
  int savepoint_;  // 0: a top-level transaction; N: savepoint ev_sp_N
  bool done_ = false;
};

// Brings the schema to version steps.size(): step i (0-based) moves user_version from i
// to i+1 and runs in its own transaction together with the version bump, so a failed step
// leaves the database at the previous version. Running it again is a no-op.
// Steps must never be edited once released; append new ones.
// Errors: FailedPrecondition when the database is newer than `steps` (a downgrade),
// any code from the table above (with the failing step's number).
absl::Status Migrate(SqliteDb& db, const std::vector<std::string>& steps);

}  // namespace edgevault::storage
