#include "src/storage/postgres/pg_migrate.h"

#include "src/base/status.h"
#include "src/base/strings.h"

namespace edgevault::storage {

namespace {

constexpr char kCreateTable[] =
    "CREATE TABLE IF NOT EXISTS schema_migrations ("
    " component TEXT NOT NULL,"
    " version BIGINT NOT NULL,"
    " applied_at TIMESTAMPTZ NOT NULL DEFAULT now(),"
    " PRIMARY KEY (component, version))";

absl::StatusOr<int64_t> CurrentVersion(PgConnection& conn, std::string_view component) {
  EV_ASSIGN_OR_RETURN(PgResult r,
                      conn.Query("SELECT COALESCE(MAX(version), 0) FROM schema_migrations "
                                 "WHERE component = $1",
                                 {component}));
  return r.Int64(0, 0);
}

absl::Status WithStep(absl::Status st, size_t step) {
  if (st.ok()) return st;
  absl::Status out(st.code(), base::ToAbsl(base::StrCat("migration step ", step, ": ",
                                                       base::ToStd(st.message()))));
  st.ForEachPayload([&](absl::string_view key, const absl::Cord& value) {
    out.SetPayload(key, value);
  });
  return out;
}

absl::StatusOr<int> MigrateLocked(PgConnection& conn, std::string_view component,
                                  const std::vector<std::string>& steps) {
  EV_RETURN_IF_ERROR(conn.ExecScript(kCreateTable));
  EV_ASSIGN_OR_RETURN(int64_t current, CurrentVersion(conn, component));
  if (current > static_cast<int64_t>(steps.size())) {
    return absl::FailedPreconditionError(base::ToAbsl(base::StrCat(
        "the database's ", component, " schema is at version ", current,
        ", newer than this binary knows (", steps.size(), "): upgrade EdgeVault")));
  }
  int applied = 0;
  for (size_t i = static_cast<size_t>(current); i < steps.size(); ++i) {
    EV_ASSIGN_OR_RETURN(PgTransaction tx, PgTransaction::Begin(conn));
    EV_RETURN_IF_ERROR(WithStep(conn.ExecScript(steps[i]), i + 1));
    EV_RETURN_IF_ERROR(WithStep(
        conn.Exec("INSERT INTO schema_migrations (component, version) VALUES ($1, $2)",
                  {component, static_cast<int64_t>(i + 1)})
            .status(),
        i + 1));
    EV_RETURN_IF_ERROR(WithStep(tx.Commit(), i + 1));
    ++applied;
  }
  return applied;
}

}  // namespace

absl::StatusOr<int> PgMigrate(PgConnection& conn, std::string_view component,
                              const std::vector<std::string>& steps) {
  if (component.empty()) return absl::InvalidArgumentError("postgres: empty migration component");
  if (conn.InTransaction()) {
    return absl::FailedPreconditionError("postgres: migrations cannot run inside a transaction");
  }
  EV_RETURN_IF_ERROR(conn.Exec("SELECT pg_advisory_lock($1)", {kPgMigrationLockKey}).status());
  absl::StatusOr<int> applied = MigrateLocked(conn, component, steps);
  // Released even after a failure; a lost connection released it with the session.
  absl::Status unlock =
      conn.Exec("SELECT pg_advisory_unlock($1)", {kPgMigrationLockKey}).status();
  if (!applied.ok()) return applied.status();
  EV_RETURN_IF_ERROR(unlock);
  return applied;
}

absl::StatusOr<int64_t> PgSchemaVersion(PgConnection& conn, std::string_view component) {
  EV_ASSIGN_OR_RETURN(PgResult exists,
                      conn.Query("SELECT to_regclass('schema_migrations') IS NOT NULL"));
  if (!exists.Bool(0, 0)) return 0;
  return CurrentVersion(conn, component);
}

}  // namespace edgevault::storage
