#pragma once
// A small libpq wrapper shared by every PostgreSQL-backed store (control DB, workspace
// store): a connection opened from a postgres:// URL, parameterised queries with text
// parameters (bytea as binary), results, RAII transactions, and the one place where
// PostgreSQL errors become absl::Status codes. Pooling is in pg_pool.h, the migration
// runner in pg_migrate.h.
//
// Thread-safety: a PgConnection, a PgResult and a PgTransaction belong to one thread at a
// time (libpq connections are not shared); share a PgPool instead.
//
//   EV_ASSIGN_OR_RETURN(auto conn, PgConnection::Connect({.url = "postgres://u@db/ev"}));
//   EV_ASSIGN_OR_RETURN(auto tx, PgTransaction::Begin(*conn));
//   EV_RETURN_IF_ERROR(conn->Exec("INSERT INTO t (id, n, b) VALUES ($1, $2, $3)",
//                                 {"a", 7, PgBytes{raw}}));
//   EV_ASSIGN_OR_RETURN(PgResult r, conn->Query("SELECT n FROM t WHERE id = $1", {"a"}));
//   int64_t n = r.Int64(0, 0);
//   EV_RETURN_IF_ERROR(tx.Commit());
//
// Error translation (every function below that returns a Status uses it). The driver's
// message never reaches the Status (it can quote row values, e.g. a duplicate e-mail);
// the message names the operation, the condition and the SQLSTATE, and the SQLSTATE and
// constraint name ride along as payloads (PgSqlState, PgConstraint):
//   23505 unique_violation                               → AlreadyExists
//   23503 foreign_key_violation                          → FailedPrecondition
//   other class 23 (not null, check, exclusion), 22 (data exception, e.g. bad UTF-8)
//                                                        → InvalidArgument
//   40001 serialization_failure, 40P01 deadlock_detected → Aborted (retry the transaction)
//   class 08 (connection exception), 57P01..57P03 (shutdown, cannot connect now),
//   53300 too_many_connections, 55P03 lock_not_available, a lost connection, a failed
//   connect                                              → Unavailable
//   53100 disk_full, other class 53                      → ResourceExhausted
//   57014 query_canceled (statement_timeout)             → DeadlineExceeded
//   anything else (syntax errors, undefined tables: bugs) → Internal
// The driver's primary message is logged (warn) for Unavailable and Internal, without
// its detail line, so operators can see what failed.

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

struct pg_conn;
struct pg_result;

namespace edgevault::storage {

// Payload keys on a Status made by the translation above.
inline constexpr char kPgSqlStatePayload[] = "edgevault.dev/pg-sqlstate";
inline constexpr char kPgConstraintPayload[] = "edgevault.dev/pg-constraint";
// The SQLSTATE ("23505") / violated constraint name of a Status from this wrapper; ""
// when it has none.
std::string PgSqlState(const absl::Status& status);
std::string PgConstraint(const absl::Status& status);
// The code for a SQLSTATE, per the table above (exposed for tests and the pool).
absl::StatusCode PgCodeForSqlState(std::string_view sqlstate);

// Marks bytes to be sent as bytea (binary format) rather than text.
struct PgBytes {
  std::string_view bytes;
};

// One query parameter: NULL, text, or bytea. Implicit conversions make parameter lists
// read like the row: {"id", 7, true, std::nullopt, PgBytes{b}, std::optional<int64_t>()}.
// Integers and doubles are sent as their decimal text; booleans as "true"/"false". Text
// must not contain a NUL byte (InvalidArgument: PostgreSQL text cannot hold one; use
// PgBytes for binary data); invalid UTF-8 is refused by the server (InvalidArgument).
class PgValue {
 public:
  PgValue(std::nullopt_t) {}                                         // NOLINT
  PgValue(std::string_view text) : value_(std::string(text)) {}      // NOLINT
  PgValue(const char* text) : value_(std::string(text)) {}           // NOLINT
  PgValue(const std::string& text) : value_(text) {}                 // NOLINT
  PgValue(std::string&& text) : value_(std::move(text)) {}           // NOLINT
  PgValue(PgBytes b) : value_(std::string(b.bytes)), binary_(true) {}  // NOLINT
  PgValue(bool b) : value_(b ? "true" : "false") {}                  // NOLINT
  PgValue(double d);                                                 // NOLINT
  template <typename T>
  requires(std::is_integral_v<T> && !std::is_same_v<T, bool>) PgValue(T v)  // NOLINT
      : value_(std::to_string(v)) {}
  template <typename T>
  PgValue(const std::optional<T>& v) : PgValue(std::nullopt) {  // NOLINT
    if (v.has_value()) *this = PgValue(*v);
  }

  bool is_null() const { return !value_.has_value(); }
  bool binary() const { return binary_; }
  const std::string& value() const { return *value_; }  // only when !is_null()

 private:
  std::optional<std::string> value_;
  bool binary_ = false;
};

using PgParams = std::vector<PgValue>;

// The rows of one statement, in text format. Row and column indexes start at 0 and must
// be in range (checked in debug builds). Move-only.
class PgResult {
 public:
  PgResult() = default;
  PgResult(PgResult&&) noexcept;
  PgResult& operator=(PgResult&&) noexcept;
  PgResult(const PgResult&) = delete;
  PgResult& operator=(const PgResult&) = delete;
  ~PgResult();

  int Rows() const;
  int Columns() const;
  // Rows touched by an INSERT/UPDATE/DELETE (also with RETURNING); 0 for others.
  int64_t AffectedRows() const;

  bool IsNull(int row, int col) const;
  // Valid while this result lives; "" for NULL.
  std::string_view Text(int row, int col) const;
  std::string String(int row, int col) const { return std::string(Text(row, col)); }
  // Integers (int2/int4/int8), doubles (float8) and booleans (bool); 0 / false for NULL
  // or text that is not one.
  int64_t Int64(int row, int col) const;
  double Double(int row, int col) const;
  bool Bool(int row, int col) const;
  // A bytea column (its text form, \x followed by hex, decoded); "" for NULL.
  std::string Bytes(int row, int col) const;
  std::optional<int64_t> OptionalInt64(int row, int col) const;
  std::optional<std::string> OptionalString(int row, int col) const;

 private:
  friend class PgConnection;
  explicit PgResult(pg_result* res) : res_(res) {}
  pg_result* res_ = nullptr;
};

struct PgConnectOptions {
  // postgres://user[:password]@host[:port]/dbname[?param=value...] (postgresql:// too):
  // any libpq connection URI. Never logged or returned in an error (it may hold a
  // password).
  std::string url;
  // Default for the URL's connect_timeout parameter (the URL's own value wins).
  absl::Duration connect_timeout = absl::Seconds(10);
  // Default for application_name (pg_stat_activity); the URL's own value wins.
  std::string application_name = "edgevault";
};

// "postgres://host:port/database" for logs and messages: the URL without user, password
// and parameters.
std::string DescribePostgresUrl(std::string_view url);

// Checks that `url` is a postgres:// or postgresql:// URL that libpq can parse.
// Errors: InvalidArgument (says what is wrong, without echoing the URL).
absl::Status ValidatePostgresUrl(std::string_view url);

class PgConnection {
 public:
  // Connects (blocking). Errors: InvalidArgument (not a postgres:// URL), Unavailable
  // (server unreachable, refused, authentication failed, database missing: the log has
  // libpq's reason).
  static absl::StatusOr<std::unique_ptr<PgConnection>> Connect(const PgConnectOptions& options);

  PgConnection(const PgConnection&) = delete;
  PgConnection& operator=(const PgConnection&) = delete;
  ~PgConnection();

  // Runs one statement with $1..$n parameters and returns its rows.
  // Errors: the table above.
  absl::StatusOr<PgResult> Query(std::string_view sql, const PgParams& params = {});
  // Runs one statement, ignoring rows; returns the affected row count.
  absl::StatusOr<int64_t> Exec(std::string_view sql, const PgParams& params = {});
  // Runs one or more ';'-separated statements without parameters (schema scripts).
  absl::Status ExecScript(std::string_view sql);

  // False once libpq has seen the connection fail (it is then useless: drop it).
  bool Healthy() const;
  // Reads whatever the server sent while the connection sat idle (without blocking), so
  // that a server restart or an administrator's pg_terminate_backend is noticed before
  // the connection is used; then Healthy().
  bool CheckIdle();
  // True while a transaction block is open (or failed and not yet rolled back).
  bool InTransaction() const;
  // The server process serving this connection (pg_backend_pid), e.g. to terminate it.
  int BackendPid() const;

  pg_conn* raw() { return conn_; }

 private:
  friend class PgTransaction;
  explicit PgConnection(pg_conn* conn) : conn_(conn) {}
  absl::StatusOr<PgResult> Run(std::string_view sql, const PgParams* params);

  pg_conn* conn_;
  int savepoint_depth_ = 0;
};

enum class PgIsolation { kReadCommitted, kRepeatableRead, kSerializable };

// RAII transaction: BEGIN ISOLATION LEVEL ... COMMIT at the outermost level, SAVEPOINT ...
// RELEASE inside an open one. Destroying it without Commit() rolls back (ROLLBACK /
// ROLLBACK TO SAVEPOINT). Transactions on one connection end in reverse order.
class PgTransaction {
 public:
  // Errors: the table above (Unavailable when the connection is gone).
  static absl::StatusOr<PgTransaction> Begin(PgConnection& conn,
                                             PgIsolation isolation = PgIsolation::kReadCommitted);

  PgTransaction(PgTransaction&& other) noexcept;
  PgTransaction& operator=(PgTransaction&&) = delete;
  PgTransaction(const PgTransaction&) = delete;
  PgTransaction& operator=(const PgTransaction&) = delete;
  ~PgTransaction();

  // Errors: the table above; Aborted when a serializable transaction cannot commit.
  // After an error the transaction is rolled back.
  absl::Status Commit();
  void Rollback();

 private:
  PgTransaction(PgConnection* conn, int savepoint) : conn_(conn), savepoint_(savepoint) {}
  PgConnection* conn_;
  int savepoint_;  // 0: top level; N: savepoint ev_sp_N
  bool done_ = false;
};

}  // namespace edgevault::storage
