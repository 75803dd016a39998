#pragma once
// Versioned schema migrations for PostgreSQL stores, applied at start. Each store
// ("component": "control", "workspace", ...) has an ordered list of steps; the table
// schema_migrations (component, version, applied_at) records which are applied, so
// several stores can share one database. The whole run holds a session advisory lock
// (pg_advisory_lock), so when several processes start at once exactly one applies the
// missing steps and the others wait, then find nothing to do. Each step runs in its own
// transaction together with its schema_migrations row: a failed step leaves the schema at
// the previous version. Format: docs/design/postgres-schema.md.
//
// Thread-safety: PgMigrate uses the connection it is given (one thread); concurrent
// callers on different connections or processes are serialised by the advisory lock.
//
//   EV_ASSIGN_OR_RETURN(PgPool::Lease conn, pool->Acquire());
//   EV_ASSIGN_OR_RETURN(int applied, PgMigrate(*conn, "control", ControlPgMigrations()));

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "src/storage/postgres/pg_db.h"

namespace edgevault::storage {

// The advisory lock key every migration run holds (pg_advisory_lock(bigint)).
inline constexpr int64_t kPgMigrationLockKey = 0x4556'4d49'4752'4154;  // "EVMIGRAT"

// Brings `component` to version steps.size(): step i (0-based) is version i + 1. A step
// is one or more ';'-separated statements. Steps must never be edited once released;
// append new ones. Returns how many steps this call applied (0 when up to date).
// Errors: InvalidArgument (empty component), FailedPrecondition when the database is at a
// newer version than `steps` (a downgrade), the codes of pg_db.h (with the failing
// step's number in the message).
absl::StatusOr<int> PgMigrate(PgConnection& conn, std::string_view component,
                              const std::vector<std::string>& steps);

// The version of `component` (0 when none is applied or the table does not exist).
absl::StatusOr<int64_t> PgSchemaVersion(PgConnection& conn, std::string_view component);

}  // namespace edgevault::storage
