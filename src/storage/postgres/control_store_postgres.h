#pragma once
// The PostgreSQL backend of ControlStore, for running several edgevault-auth nodes on one
// control DB (DESIGN.md §2 "scale-out"). Schema and locking: docs/design/postgres-schema.md
// ("Control DB"). A pool of connections (pg_pool.h); the schema is migrated at open under
// an advisory lock (pg_migrate.h, component "control").
//
// Transactions: WithTransaction holds one connection for the whole function and takes the
// control DB's writer lock (a transaction-scoped advisory lock), so transactions are
// serialised like SQLite's BEGIN IMMEDIATE, across every process sharing the database;
// each call inside it runs in a savepoint, so a failed call fails alone and the function
// may go on. Multi-statement calls outside a transaction (ReplaceRecoveryCodes,
// TakeChallenge, ...) run in a transaction of their own with the same lock.
//
// Thread-safety: as ControlStore (every method from any thread). Calling the store (not
// the ControlStore& it passes) from inside WithTransaction answers FailedPrecondition
// instead of deadlocking on the writer lock.
//
//   EV_ASSIGN_OR_RETURN(std::unique_ptr<ControlStore> store,
//                       OpenPostgresControlStore({.url = "postgres://auth@db/edgevault",
//                                                 .env = env, .totp_sealer = sealer}));

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "src/base/env.h"
#include "src/storage/control_store.h"
#include "src/storage/secret_sealer.h"

namespace edgevault::storage {

struct PostgresControlStoreOptions {
  std::string url;  // postgres://... (pg_db.h); never logged
  base::Env* env = nullptr;  // clock for recovery-code use times; required
  // Seals TOTP secrets at rest (docs/design/sealed-totp.md); not owned. Null: PutTotp and
  // GetTotp answer FailedPrecondition; everything else works.
  const SecretSealer* totp_sealer = nullptr;
  int max_connections = 8;  // the pool's limit
};

// Connects, migrates the schema and returns the store.
// Errors: InvalidArgument (not a postgres:// URL, null env, max_connections < 1),
// Unavailable (cannot connect), FailedPrecondition (the database's control schema is newer
// than this binary), the codes of pg_db.h.
absl::StatusOr<std::unique_ptr<ControlStore>> OpenPostgresControlStore(
    const PostgresControlStoreOptions& options);

// The migration steps of the control DB on PostgreSQL, oldest first.
const std::vector<std::string>& ControlPgMigrations();

}  // namespace edgevault::storage
