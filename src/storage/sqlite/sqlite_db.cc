#include "src/storage/sqlite/sqlite_db.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <utility>

#include "src/base/env.h"
#include "src/base/status.h"
#include "src/base/strings.h"

namespace edgevault::storage {

absl::Status SqliteStatus(int rc, std::string_view what, std::string_view detail) {
  std::string msg = base::StrCat("sqlite: ", what, ": ", detail, " (code ", rc, ")");
  switch (rc) {
    case SQLITE_CONSTRAINT_UNIQUE:
    case SQLITE_CONSTRAINT_PRIMARYKEY:
      return absl::AlreadyExistsError(msg);
    case SQLITE_CONSTRAINT_FOREIGNKEY:
      return absl::FailedPreconditionError(msg);
    default:
      break;
  }
  switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return absl::UnavailableError(msg);
    case SQLITE_CONSTRAINT:
      return absl::InvalidArgumentError(msg);
    case SQLITE_FULL:
      return absl::ResourceExhaustedError(msg);
    default:
      return absl::InternalError(msg);
  }
}

// ---- Statement -----------------------------------------------------------------------

Statement::Statement(Statement&& other) noexcept
    : db_(std::exchange(other.db_, nullptr)),
      stmt_(std::exchange(other.stmt_, nullptr)),
      bind_error_(std::move(other.bind_error_)) {}

Statement& Statement::operator=(Statement&& other) noexcept {
  if (this != &other) {
    if (stmt_ != nullptr) sqlite3_finalize(stmt_);
    db_ = std::exchange(other.db_, nullptr);
    stmt_ = std::exchange(other.stmt_, nullptr);
    bind_error_ = std::move(other.bind_error_);
  }
  return *this;
}

Statement::~Statement() {
  if (stmt_ != nullptr) sqlite3_finalize(stmt_);
}

int Statement::Resolve(const Param& p) {
  if (!p.name.empty()) {
    std::string name(p.name);
    return sqlite3_bind_parameter_index(stmt_, name.c_str());  // 0 when unknown
  }
  return p.index;
}

void Statement::Remember(int rc, const Param& p) {
  if (rc == SQLITE_OK || !bind_error_.ok()) return;
  std::string which = p.name.empty() ? base::StrCat("#", p.index) : std::string(p.name);
  bind_error_ = db_->Error(rc, base::StrCat("bind parameter ", which));
}

Statement& Statement::BindInt64(Param p, int64_t v) {
  Remember(sqlite3_bind_int64(stmt_, Resolve(p), v), p);
  return *this;
}

Statement& Statement::Bind(Param p, double v) {
  Remember(sqlite3_bind_double(stmt_, Resolve(p), v), p);
  return *this;
}

Statement& Statement::Bind(Param p, std::string_view text) {
  // A non-null pointer even for "", so the value is '' and not NULL.
  const char* data = text.data() != nullptr ? text.data() : "";
  Remember(sqlite3_bind_text64(stmt_, Resolve(p), data, text.size(), SQLITE_TRANSIENT, SQLITE_UTF8),
           p);
  return *this;
}

Statement& Statement::Bind(Param p, Blob blob) {
  const char* data = blob.bytes.data() != nullptr ? blob.bytes.data() : "";
  Remember(sqlite3_bind_blob64(stmt_, Resolve(p), data, blob.bytes.size(), SQLITE_TRANSIENT), p);
  return *this;
}

Statement& Statement::Bind(Param p, std::nullopt_t) {
  Remember(sqlite3_bind_null(stmt_, Resolve(p)), p);
  return *this;
}

absl::StatusOr<bool> Statement::Step() {
  if (!bind_error_.ok()) return bind_error_;
  int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  absl::Status status = db_->Error(rc, sqlite3_sql(stmt_));
  // Leave the statement reusable and release any locks its failed run holds.
  sqlite3_reset(stmt_);
  return status;
}

absl::Status Statement::Run() {
  for (;;) {
    EV_ASSIGN_OR_RETURN(bool row, Step());
    if (!row) return absl::OkStatus();
  }
}

void Statement::Reset() {
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
  bind_error_ = absl::OkStatus();
}

int Statement::ColumnCount() const { return sqlite3_column_count(stmt_); }

bool Statement::IsNull(int col) const { return sqlite3_column_type(stmt_, col) == SQLITE_NULL; }

int64_t Statement::ColumnInt64(int col) const { return sqlite3_column_int64(stmt_, col); }

double Statement::ColumnDouble(int col) const { return sqlite3_column_double(stmt_, col); }

std::string Statement::ColumnText(int col) const {
  const unsigned char* p = sqlite3_column_text(stmt_, col);
  int n = sqlite3_column_bytes(stmt_, col);
  if (p == nullptr) return std::string();
  return std::string(reinterpret_cast<const char*>(p), static_cast<size_t>(n));
}

std::string Statement::ColumnBlob(int col) const {
  const void* p = sqlite3_column_blob(stmt_, col);
  int n = sqlite3_column_bytes(stmt_, col);
  if (p == nullptr) return std::string();
  return std::string(static_cast<const char*>(p), static_cast<size_t>(n));
}

std::optional<int64_t> Statement::ColumnOptionalInt64(int col) const {
  if (IsNull(col)) return std::nullopt;
  return ColumnInt64(col);
}

// ---- SqliteDb --------------------------------------------------------------------------

namespace {

// Creates `path` with exactly `mode` when it does not exist yet, so that SQLite (which
// would use 0644 minus the umask) never creates a world-readable database.
absl::Status CreateWithMode(const std::string& path, uint32_t mode) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
  if (fd < 0) {
    if (errno == EEXIST) return absl::OkStatus();
    return base::ErrnoStatus("create", path, errno);
  }
  int rc = ::fchmod(fd, mode);  // open() applied the umask
  int err = errno;
  ::close(fd);
  if (rc != 0) return base::ErrnoStatus("chmod", path, err);
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<SqliteDb>> SqliteDb::Open(const SqliteOptions& options) {
  if (options.path.empty()) return absl::InvalidArgumentError("sqlite: empty database path");
  int flags = SQLITE_OPEN_FULLMUTEX | SQLITE_OPEN_NOFOLLOW;
  if (options.read_only) {
    struct stat st;
    if (::stat(options.path.c_str(), &st) != 0) {
      return base::ErrnoStatus("open", options.path, errno);
    }
    flags |= SQLITE_OPEN_READONLY;
  } else {
    EV_RETURN_IF_ERROR(CreateWithMode(options.path, options.create_mode));
    flags |= SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
  }
  sqlite3* raw = nullptr;
  int rc = sqlite3_open_v2(options.path.c_str(), &raw, flags, nullptr);
  if (rc != SQLITE_OK) {
    std::string detail = raw != nullptr ? sqlite3_errmsg(raw) : sqlite3_errstr(rc);
    sqlite3_close_v2(raw);
    return SqliteStatus(rc, base::StrCat("open ", options.path), detail);
  }
  std::unique_ptr<SqliteDb> db(new SqliteDb(raw, options.path));
  sqlite3_extended_result_codes(raw, 1);
  sqlite3_busy_timeout(raw, static_cast<int>(absl::ToInt64Milliseconds(options.busy_timeout)));
  EV_RETURN_IF_ERROR(db->Exec("PRAGMA foreign_keys = ON"));
  if (!options.read_only) {
    if (options.wal) {
      EV_ASSIGN_OR_RETURN(Statement st, db->Prepare("PRAGMA journal_mode = WAL"));
      EV_ASSIGN_OR_RETURN(bool row, st.Step());
      if (!row || st.ColumnText(0) != "wal") {
        return absl::InternalError(
            base::StrCat("sqlite: ", options.path, ": could not switch to WAL journal mode"));
      }
    }
  }
  EV_RETURN_IF_ERROR(db->Exec(options.synchronous_full ? "PRAGMA synchronous = FULL"
                                                       : "PRAGMA synchronous = NORMAL"));
  return db;
}

SqliteDb::~SqliteDb() { sqlite3_close_v2(db_); }

absl::Status SqliteDb::Error(int rc, std::string_view what) const {
  return SqliteStatus(rc, what, sqlite3_errmsg(db_));
}

absl::Status SqliteDb::Exec(std::string_view sql) {
  std::string text(sql);
  char* err = nullptr;
  int rc = sqlite3_exec(db_, text.c_str(), nullptr, nullptr, &err);
  if (rc == SQLITE_OK) return absl::OkStatus();
  std::string detail = err != nullptr ? err : sqlite3_errstr(rc);
  sqlite3_free(err);
  // sqlite3_exec reports the primary code; the connection has the extended one.
  int extended = sqlite3_extended_errcode(db_);
  if ((extended & 0xff) == (rc & 0xff)) rc = extended;
  return SqliteStatus(rc, sql.size() > 200 ? sql.substr(0, 200) : sql, detail);
}

absl::StatusOr<Statement> SqliteDb::Prepare(std::string_view sql) {
  sqlite3_stmt* stmt = nullptr;
  const char* tail = nullptr;
  int rc = sqlite3_prepare_v2(db_, sql.data(), static_cast<int>(sql.size()), &stmt, &tail);
  if (rc != SQLITE_OK) {
    absl::Status status = Error(rc, base::StrCat("prepare ", sql));
    sqlite3_finalize(stmt);
    return status;
  }
  if (stmt == nullptr) {
    return absl::InvalidArgumentError(base::StrCat("sqlite: prepare: empty statement: ", sql));
  }
  return Statement(this, stmt);
}

int64_t SqliteDb::Changes() const { return sqlite3_changes64(db_); }

bool SqliteDb::InTransaction() const { return sqlite3_get_autocommit(db_) == 0; }

absl::StatusOr<int64_t> SqliteDb::UserVersion() {
  EV_ASSIGN_OR_RETURN(Statement st, Prepare("PRAGMA user_version"));
  EV_ASSIGN_OR_RETURN(bool row, st.Step());
  if (!row) return absl::InternalError("sqlite: PRAGMA user_version returned no row");
  return st.ColumnInt64(0);
}

// ---- Transaction ---------------------------------------------------------------------

absl::StatusOr<Transaction> Transaction::Begin(SqliteDb& db, Mode mode) {
  if (db.InTransaction()) {
    int n = db.savepoint_depth_ + 1;
    EV_RETURN_IF_ERROR(db.Exec(base::StrCat("SAVEPOINT ev_sp_", n)));
    db.savepoint_depth_ = n;
    return Transaction(&db, n);
  }
  EV_RETURN_IF_ERROR(db.Exec(mode == Mode::kImmediate ? "BEGIN IMMEDIATE" : "BEGIN DEFERRED"));
  return Transaction(&db, 0);
}

Transaction::Transaction(Transaction&& other) noexcept
    : db_(other.db_), savepoint_(other.savepoint_), done_(std::exchange(other.done_, true)) {}

Transaction::~Transaction() { Rollback(); }

absl::Status Transaction::Commit() {
  if (done_) return absl::FailedPreconditionError("sqlite: transaction already finished");
  absl::Status status;
  if (savepoint_ == 0) {
    status = db_->Exec("COMMIT");
    // A failed COMMIT (e.g. SQLITE_BUSY) may leave the transaction open; end it.
    if (!status.ok() && db_->InTransaction()) db_->Exec("ROLLBACK").IgnoreError();
  } else {
    status = db_->Exec(base::StrCat("RELEASE ev_sp_", savepoint_));
    if (status.ok()) db_->savepoint_depth_ = savepoint_ - 1;
    if (!status.ok()) {
      Rollback();
      return status;
    }
  }
  done_ = true;
  return status;
}

void Transaction::Rollback() {
  if (done_) return;
  done_ = true;
  if (savepoint_ == 0) {
    // SQLite may already have rolled back on its own (e.g. after SQLITE_FULL).
    if (db_->InTransaction()) db_->Exec("ROLLBACK").IgnoreError();
    db_->savepoint_depth_ = 0;
  } else {
    std::string name = base::StrCat("ev_sp_", savepoint_);
    if (db_->InTransaction()) {
      db_->Exec(base::StrCat("ROLLBACK TO ", name)).IgnoreError();
      db_->Exec(base::StrCat("RELEASE ", name)).IgnoreError();
    }
    db_->savepoint_depth_ = savepoint_ - 1;
  }
}

// ---- Migrations ----------------------------------------------------------------------

absl::Status Migrate(SqliteDb& db, const std::vector<std::string>& steps) {
  const int64_t target = static_cast<int64_t>(steps.size());
  EV_ASSIGN_OR_RETURN(int64_t version, db.UserVersion());
  if (version > target) {
    return absl::FailedPreconditionError(base::StrCat(
        "sqlite: ", db.path(), " has schema version ", version, " but this binary knows only ",
        target, "; run a newer EdgeVault or restore a backup taken before the upgrade"));
  }
  while (version < target) {
    EV_ASSIGN_OR_RETURN(Transaction tx, Transaction::Begin(db));
    // Re-read inside the write lock: another process may have migrated meanwhile.
    EV_ASSIGN_OR_RETURN(version, db.UserVersion());
    if (version >= target) break;
    absl::Status status = db.Exec(steps[static_cast<size_t>(version)]);
    if (!status.ok()) {
      return absl::Status(status.code(), base::StrCat("migration step ", version + 1, ": ",
                                                      base::ToStd(status.message())));
    }
    EV_RETURN_IF_ERROR(db.Exec(base::StrCat("PRAGMA user_version = ", version + 1)));
    EV_RETURN_IF_ERROR(tx.Commit());
    ++version;
  }
  return absl::OkStatus();
}

}  // namespace edgevault::storage
