#pragma once
// The SQLite WorkspaceStoreProvider: one file `<dir>/<workspace id>.db` per workspace
// (docs/design/workspace-db.md), at most `max_open` of them open when nobody holds more
// (held stores never close; the least recently used unheld ones do). Files are opened
// outside the provider's mutex, so a slow open of one workspace never blocks the others.
// Thread-safety: as WorkspaceStoreProvider.
//
//   EV_ASSIGN_OR_RETURN(auto provider, OpenSqliteWorkspaceStoreProvider(
//       {.dir = data_dir + "/workspaces", .env = env, .max_open = 64}));

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "src/base/env.h"
#include "src/storage/workspace_store_provider.h"

namespace edgevault::storage {

struct SqliteWorkspaceStoreProviderOptions {
  std::string dir;           // created (0700) when missing
  base::Env* env = nullptr;  // required
  size_t max_open = 64;      // stores kept open beyond those in use; at least 1
};

// Errors: InvalidArgument (empty dir, null env, max_open 0); the Env's errors creating dir.
absl::StatusOr<std::unique_ptr<WorkspaceStoreProvider>> OpenSqliteWorkspaceStoreProvider(
    SqliteWorkspaceStoreProviderOptions options);

}  // namespace edgevault::storage
