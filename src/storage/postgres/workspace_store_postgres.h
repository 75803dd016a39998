#pragma once
// The PostgreSQL backend of WorkspaceStore and WorkspaceStoreProvider: every workspace in
// one database, one schema keyed by workspace_id (docs/design/postgres-workspace-store.md).
// Any number of processes ("api nodes") may write any workspace: writers of one workspace
// are serialised by a row lock on its ws_stores row (SELECT ... FOR NO KEY UPDATE), so
// revisions stay gapless and in commit order across nodes. A store holds no connection of
// its own: each call leases one from the shared pool for its statement or transaction.
//
// Thread-safety: as WorkspaceStore / WorkspaceStoreProvider (every method may be called
// from any thread, in any number of processes).
//
//   EV_ASSIGN_OR_RETURN(auto provider, OpenPostgresWorkspaceStoreProvider(
//       {.url = "postgres://edgevault@db/edgevault", .env = env}));
//   EV_ASSIGN_OR_RETURN(std::shared_ptr<WorkspaceStore> store, provider->Create("ws_123"));
//
// Errors, besides those of WorkspaceStore: Unavailable when the server is unreachable or a
// writer waited longer than the lock timeout for the workspace (nothing was written);
// InvalidArgument for text PostgreSQL cannot hold (a NUL byte, invalid UTF-8).

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "src/base/env.h"
#include "src/storage/postgres/pg_pool.h"
#include "src/storage/workspace_store.h"
#include "src/storage/workspace_store_provider.h"

namespace edgevault::storage {

struct PostgresWorkspaceStoreProviderOptions {
  // postgres://user[:password]@host[:port]/dbname[?...] (any libpq URI). Never logged.
  std::string url;
  base::Env* env = nullptr;  // clock for outbox done_at and ws_stores.created_at; required
  int max_connections = 8;   // the pool's size; at least 1
  // How long a writer waits for another writer of the same workspace before giving up
  // with Unavailable (SET LOCAL lock_timeout). At least 1 ms.
  absl::Duration lock_timeout = absl::Seconds(5);
};

// Connects, applies the missing migration steps (component "workspace", under the
// runner's advisory lock) and returns the provider. Unheld stores are dropped at once
// (they hold nothing but the shared pool), so OpenCount() is the number held now.
// Errors: InvalidArgument (bad URL, null env, max_connections < 1, lock_timeout < 1 ms),
// Unavailable (cannot connect), FailedPrecondition (the database was migrated by a newer
// binary), the codes of pg_db.h.
absl::StatusOr<std::unique_ptr<WorkspaceStoreProvider>> OpenPostgresWorkspaceStoreProvider(
    const PostgresWorkspaceStoreProviderOptions& options);

// The store of `workspace_id` on an already migrated database reached through `pool`
// (tests and tools; the provider is the usual way). NotFound when the workspace has no
// ws_stores row. `lock_timeout` as above.
absl::StatusOr<std::unique_ptr<WorkspaceStore>> OpenPostgresWorkspaceStore(
    std::shared_ptr<PgPool> pool, base::Env* env, std::string_view workspace_id,
    absl::Duration lock_timeout = absl::Seconds(5));

// The migration steps of the workspace schema, oldest first (PgMigrate component
// "workspace").
const std::vector<std::string>& PostgresWorkspaceDbMigrations();

}  // namespace edgevault::storage
