#include "src/storage/postgres/pg_db.h"

#include <libpq-fe.h>
#include <poll.h>

#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <utility>

#include "absl/strings/cord.h"
#include "src/base/encoding.h"
#include "src/base/log.h"
#include "src/base/status.h"
#include "src/base/strings.h"

namespace edgevault::storage {

using base::StrCat;

// ---- Error translation -------------------------------------------------------------------

absl::StatusCode PgCodeForSqlState(std::string_view s) {
  if (s == "23505") return absl::StatusCode::kAlreadyExists;
  if (s == "23503") return absl::StatusCode::kFailedPrecondition;
  if (s == "40001" || s == "40P01") return absl::StatusCode::kAborted;
  if (s == "57014") return absl::StatusCode::kDeadlineExceeded;
  if (s == "53300" || s == "55P03" || s == "57P01" || s == "57P02" || s == "57P03") {
    return absl::StatusCode::kUnavailable;
  }
  if (s.size() != 5) return absl::StatusCode::kInternal;
  std::string_view cls = s.substr(0, 2);
  if (cls == "23" || cls == "22") return absl::StatusCode::kInvalidArgument;
  if (cls == "08") return absl::StatusCode::kUnavailable;
  if (cls == "53") return absl::StatusCode::kResourceExhausted;
  return absl::StatusCode::kInternal;
}

namespace {

// Short names of the conditions we expect, for readable messages; others show the code.
std::string_view ConditionName(std::string_view s) {
  if (s == "23505") return "unique_violation";
  if (s == "23503") return "foreign_key_violation";
  if (s == "23502") return "not_null_violation";
  if (s == "23514") return "check_violation";
  if (s == "40001") return "serialization_failure";
  if (s == "40P01") return "deadlock_detected";
  if (s == "57014") return "query_canceled";
  if (s == "53300") return "too_many_connections";
  if (s == "53100") return "disk_full";
  if (s == "55P03") return "lock_not_available";
  if (s == "57P01") return "admin_shutdown";
  if (s == "42P01") return "undefined_table";
  if (s == "42601") return "syntax_error";
  if (s.substr(0, 2) == "22") return "data_exception";
  if (s.substr(0, 2) == "08") return "connection_exception";
  return "error";
}

absl::Status MakeStatus(absl::StatusCode code, std::string_view what, std::string_view sqlstate,
                        std::string_view constraint) {
  std::string msg = StrCat("postgres: ", what, ": ", ConditionName(sqlstate));
  if (!sqlstate.empty()) base::StrAppend(&msg, " (SQLSTATE ", sqlstate, ")");
  if (!constraint.empty()) base::StrAppend(&msg, " on ", constraint);
  absl::Status status(code, base::ToAbsl(msg));
  if (!sqlstate.empty()) status.SetPayload(kPgSqlStatePayload, absl::Cord(std::string(sqlstate)));
  if (!constraint.empty()) {
    status.SetPayload(kPgConstraintPayload, absl::Cord(std::string(constraint)));
  }
  return status;
}

void LogDriverMessage(absl::StatusCode code, std::string_view what, std::string_view primary) {
  if (code != absl::StatusCode::kUnavailable && code != absl::StatusCode::kInternal) return;
  EV_LOG(kWarn, "postgres error", {{"op", what}, {"reason", primary}});
}

// The first line of a libpq message, without the trailing newline (libpq's connection
// messages may continue with hints; keep the log line short).
std::string FirstLine(const char* text) {
  if (text == nullptr) return "";
  std::string_view s(text);
  size_t nl = s.find('\n');
  return std::string(s.substr(0, nl));
}

// The Status for a failed statement: from the result's SQLSTATE, or Unavailable when the
// connection is gone (libpq then has no SQLSTATE).
absl::Status ResultStatus(PGconn* conn, const PGresult* res, std::string_view what) {
  const char* state = res != nullptr ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : nullptr;
  if (state == nullptr) {
    // No SQLSTATE: libpq's own failure. A dead connection is Unavailable; anything else
    // (out of memory, too many parameters) is a bug of ours.
    std::string reason = res != nullptr ? FirstLine(PQresultErrorMessage(res)) : "";
    if (reason.empty()) reason = FirstLine(PQerrorMessage(conn));
    if (PQstatus(conn) == CONNECTION_BAD) {
      LogDriverMessage(absl::StatusCode::kUnavailable, what, reason);
      return absl::UnavailableError(
          base::ToAbsl(StrCat("postgres: ", what, ": the connection to the database was lost")));
    }
    LogDriverMessage(absl::StatusCode::kInternal, what, reason);
    return absl::InternalError(
        base::ToAbsl(StrCat("postgres: ", what, ": the client library refused the statement")));
  }
  const char* constraint = PQresultErrorField(res, PG_DIAG_CONSTRAINT_NAME);
  const char* primary = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
  absl::StatusCode code = PgCodeForSqlState(state);
  if (PQstatus(conn) == CONNECTION_BAD) code = absl::StatusCode::kUnavailable;
  LogDriverMessage(code, what, primary != nullptr ? primary : "");
  return MakeStatus(code, what, state, constraint != nullptr ? constraint : "");
}

// A short label for a statement in messages: its first words (our own SQL, never data).
std::string Describe(std::string_view sql) {
  size_t start = sql.find_first_not_of(" \t\r\n");
  if (start == std::string_view::npos) return "empty statement";
  sql.remove_prefix(start);
  std::string out;
  for (char c : sql.substr(0, 48)) out.push_back(c == '\n' || c == '\t' || c == '\r' ? ' ' : c);
  if (sql.size() > 48) out += "...";
  return out;
}

void IgnoreNotice(void*, const char*) {}

std::string PayloadOf(const absl::Status& status, const char* key) {
  auto p = status.GetPayload(key);
  return p ? std::string(*p) : std::string();
}

}  // namespace

std::string PgSqlState(const absl::Status& status) { return PayloadOf(status, kPgSqlStatePayload); }
std::string PgConstraint(const absl::Status& status) {
  return PayloadOf(status, kPgConstraintPayload);
}

// ---- PgValue / PgResult ---------------------------------------------------------------

PgValue::PgValue(double d) {
  char buf[32];
  // Shortest text that round-trips (float8 parses it back exactly).
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, d);
  value_ = ec == std::errc() ? std::string(buf, end) : std::string("NaN");
}

PgResult::PgResult(PgResult&& other) noexcept : res_(std::exchange(other.res_, nullptr)) {}

PgResult& PgResult::operator=(PgResult&& other) noexcept {
  if (this != &other) {
    if (res_ != nullptr) PQclear(res_);
    res_ = std::exchange(other.res_, nullptr);
  }
  return *this;
}

PgResult::~PgResult() {
  if (res_ != nullptr) PQclear(res_);
}

int PgResult::Rows() const { return res_ != nullptr ? PQntuples(res_) : 0; }
int PgResult::Columns() const { return res_ != nullptr ? PQnfields(res_) : 0; }

int64_t PgResult::AffectedRows() const {
  if (res_ == nullptr) return 0;
  const char* n = PQcmdTuples(res_);
  int64_t v = 0;
  if (n != nullptr) std::from_chars(n, n + std::char_traits<char>::length(n), v);
  return v;
}

bool PgResult::IsNull(int row, int col) const { return PQgetisnull(res_, row, col) != 0; }

std::string_view PgResult::Text(int row, int col) const {
  if (IsNull(row, col)) return {};
  return std::string_view(PQgetvalue(res_, row, col),
                          static_cast<size_t>(PQgetlength(res_, row, col)));
}

int64_t PgResult::Int64(int row, int col) const {
  std::string_view t = Text(row, col);
  int64_t v = 0;
  std::from_chars(t.data(), t.data() + t.size(), v);
  return v;
}

double PgResult::Double(int row, int col) const {
  std::string t(Text(row, col));
  if (t.empty()) return 0;
  return std::strtod(t.c_str(), nullptr);  // also "Infinity", "NaN"
}

bool PgResult::Bool(int row, int col) const { return Text(row, col) == "t"; }

std::string PgResult::Bytes(int row, int col) const {
  std::string_view t = Text(row, col);
  if (t.size() >= 2 && t[0] == '\\' && t[1] == 'x') {
    auto raw = base::HexDecode(t.substr(2));
    return raw.ok() ? std::move(*raw) : std::string();
  }
  return std::string(t);  // not bytea (a text column): as it is
}

std::optional<int64_t> PgResult::OptionalInt64(int row, int col) const {
  if (IsNull(row, col)) return std::nullopt;
  return Int64(row, col);
}

std::optional<std::string> PgResult::OptionalString(int row, int col) const {
  if (IsNull(row, col)) return std::nullopt;
  return String(row, col);
}

// ---- PgConnection ----------------------------------------------------------------------

absl::Status ValidatePostgresUrl(std::string_view url) {
  if (!url.starts_with("postgres://") && !url.starts_with("postgresql://")) {
    return absl::InvalidArgumentError(
        "postgres: the database URL must start with postgres:// or postgresql://");
  }
  char* err = nullptr;
  std::string copy(url);
  PQconninfoOption* opts = PQconninfoParse(copy.c_str(), &err);
  if (opts == nullptr) {
    if (err != nullptr) PQfreemem(err);  // may quote the URL: not returned
    return absl::InvalidArgumentError(
        "postgres: the database URL is not a valid connection URI "
        "(postgres://user:password@host:port/database?param=value)");
  }
  PQconninfoFree(opts);
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<PgConnection>> PgConnection::Connect(
    const PgConnectOptions& options) {
  EV_RETURN_IF_ERROR(ValidatePostgresUrl(options.url));
  std::string timeout = std::to_string(
      std::max<int64_t>(1, absl::ToInt64Seconds(options.connect_timeout + absl::Seconds(1) -
                                                absl::Nanoseconds(1))));
  // Defaults first, then the URL (expanded because expand_dbname = 1), whose own
  // parameters override them.
  const char* keys[] = {"connect_timeout", "fallback_application_name", "dbname", nullptr};
  const char* values[] = {timeout.c_str(), options.application_name.c_str(), options.url.c_str(),
                          nullptr};
  PGconn* conn = PQconnectdbParams(keys, values, /*expand_dbname=*/1);
  if (conn == nullptr) return absl::ResourceExhaustedError("postgres: out of memory");
  if (PQstatus(conn) != CONNECTION_OK) {
    EV_LOG(kWarn, "postgres connect failed", {{"reason", FirstLine(PQerrorMessage(conn))}});
    PQfinish(conn);
    return absl::UnavailableError(
        "postgres: cannot connect to the database server (the log says why)");
  }
  PQsetNoticeProcessor(conn, &IgnoreNotice, nullptr);
  std::unique_ptr<PgConnection> c(new PgConnection(conn));
  // UTC timestamps and UTF-8 text whatever the server's defaults.
  EV_RETURN_IF_ERROR(c->ExecScript("SET TIME ZONE 'UTC'; SET client_encoding = 'UTF8'"));
  return c;
}

PgConnection::~PgConnection() {
  if (conn_ != nullptr) PQfinish(conn_);
}

absl::StatusOr<PgResult> PgConnection::Run(std::string_view sql, const PgParams* params) {
  std::string text(sql);
  PGresult* res = nullptr;
  if (params == nullptr) {
    res = PQexec(conn_, text.c_str());
  } else {
    std::vector<const char*> values(params->size());
    std::vector<int> lengths(params->size());
    std::vector<int> formats(params->size());
    for (size_t i = 0; i < params->size(); ++i) {
      const PgValue& v = (*params)[i];
      if (v.is_null()) continue;  // values[i] stays null: SQL NULL
      if (!v.binary() && v.value().find('\0') != std::string::npos) {
        // libpq sends text parameters as C strings: the text would be cut at the NUL.
        return absl::InvalidArgumentError(base::ToAbsl(
            StrCat("postgres: ", Describe(sql), ": parameter $", i + 1,
                   " is text with a NUL byte, which PostgreSQL text cannot hold")));
      }
      values[i] = v.value().c_str();
      lengths[i] = static_cast<int>(v.value().size());
      formats[i] = v.binary() ? 1 : 0;
    }
    res = PQexecParams(conn_, text.c_str(), static_cast<int>(params->size()), nullptr,
                       values.data(), lengths.data(), formats.data(), /*resultFormat=*/0);
  }
  PgResult result(res);
  ExecStatusType st = res != nullptr ? PQresultStatus(res) : PGRES_FATAL_ERROR;
  if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK || st == PGRES_EMPTY_QUERY) return result;
  return ResultStatus(conn_, res, Describe(sql));
}

absl::StatusOr<PgResult> PgConnection::Query(std::string_view sql, const PgParams& params) {
  return Run(sql, &params);
}

absl::StatusOr<int64_t> PgConnection::Exec(std::string_view sql, const PgParams& params) {
  EV_ASSIGN_OR_RETURN(PgResult r, Run(sql, &params));
  return r.AffectedRows();
}

absl::Status PgConnection::ExecScript(std::string_view sql) { return Run(sql, nullptr).status(); }

bool PgConnection::Healthy() const { return PQstatus(conn_) == CONNECTION_OK; }

bool PgConnection::CheckIdle() {
  if (!Healthy()) return false;
  // Whatever arrived while idle: a terminating server first sends a FATAL message (which
  // libpq files as a notice on an idle connection) and then closes; reading until the
  // socket has nothing more lets libpq see the EOF and mark the connection bad.
  for (int i = 0; i < 8; ++i) {
    pollfd p{.fd = PQsocket(conn_), .events = POLLIN, .revents = 0};
    if (p.fd < 0) return false;
    if (::poll(&p, 1, 0) <= 0) break;
    if (PQconsumeInput(conn_) == 0) return false;
    while (PGresult* r = PQgetResult(conn_)) PQclear(r);
  }
  return Healthy();
}

bool PgConnection::InTransaction() const {
  PGTransactionStatusType t = PQtransactionStatus(conn_);
  return t == PQTRANS_INTRANS || t == PQTRANS_INERROR || t == PQTRANS_ACTIVE;
}

int PgConnection::BackendPid() const { return PQbackendPID(conn_); }

// ---- PgTransaction ---------------------------------------------------------------------

absl::StatusOr<PgTransaction> PgTransaction::Begin(PgConnection& conn, PgIsolation isolation) {
  if (conn.savepoint_depth_ > 0 || conn.InTransaction()) {
    int sp = conn.savepoint_depth_ + 1;
    EV_RETURN_IF_ERROR(conn.ExecScript(StrCat("SAVEPOINT ev_sp_", sp)));
    conn.savepoint_depth_ = sp;
    return PgTransaction(&conn, sp);
  }
  const char* sql = "BEGIN ISOLATION LEVEL READ COMMITTED";
  if (isolation == PgIsolation::kRepeatableRead) sql = "BEGIN ISOLATION LEVEL REPEATABLE READ";
  if (isolation == PgIsolation::kSerializable) sql = "BEGIN ISOLATION LEVEL SERIALIZABLE";
  EV_RETURN_IF_ERROR(conn.ExecScript(sql));
  return PgTransaction(&conn, 0);
}

PgTransaction::PgTransaction(PgTransaction&& other) noexcept
    : conn_(other.conn_), savepoint_(other.savepoint_), done_(std::exchange(other.done_, true)) {}

PgTransaction::~PgTransaction() { Rollback(); }

absl::Status PgTransaction::Commit() {
  if (done_) return absl::FailedPreconditionError("postgres: transaction already ended");
  absl::Status st;
  if (savepoint_ > 0) {
    st = conn_->ExecScript(StrCat("RELEASE SAVEPOINT ev_sp_", savepoint_));
    if (!st.ok()) {
      Rollback();
      return st;
    }
    conn_->savepoint_depth_ = savepoint_ - 1;
    done_ = true;
    return absl::OkStatus();
  }
  // COMMIT of a transaction that already failed answers ROLLBACK without an error; the
  // transaction status tells.
  const bool failed = PQtransactionStatus(conn_->conn_) == PQTRANS_INERROR;
  st = conn_->ExecScript("COMMIT");
  done_ = true;
  if (!st.ok()) {
    if (conn_->InTransaction()) conn_->ExecScript("ROLLBACK").IgnoreError();
    return st;
  }
  if (failed) {
    return absl::AbortedError("postgres: commit: the transaction had failed and was rolled back");
  }
  return absl::OkStatus();
}

void PgTransaction::Rollback() {
  if (done_) return;
  done_ = true;
  if (savepoint_ > 0) {
    conn_->ExecScript(StrCat("ROLLBACK TO SAVEPOINT ev_sp_", savepoint_, "; RELEASE SAVEPOINT ev_sp_",
                             savepoint_))
        .IgnoreError();
    conn_->savepoint_depth_ = savepoint_ - 1;
    return;
  }
  if (conn_->Healthy()) conn_->ExecScript("ROLLBACK").IgnoreError();
}

std::string DescribePostgresUrl(std::string_view url) {
  std::string_view rest = url;
  const size_t scheme = rest.find("://");
  if (scheme != std::string_view::npos) rest.remove_prefix(scheme + 3);
  rest = rest.substr(0, rest.find_first_of("?#"));
  const size_t at = rest.rfind('@');
  if (at != std::string_view::npos) rest.remove_prefix(at + 1);
  return "postgres://" + std::string(rest);
}

}  // namespace edgevault::storage
