#pragma once
// The SQLite backend of WorkspaceStore: one file per workspace (mode 0600, WAL,
// synchronous FULL), schema in docs/design/workspace-db.md. One connection guarded by a
// mutex, so commits are serialised inside the process; other processes coordinate through
// SQLite's file locks (BEGIN IMMEDIATE, busy timeout).
//
// Thread-safety: as WorkspaceStore (every method may be called from any thread).
//
//   EV_ASSIGN_OR_RETURN(std::unique_ptr<WorkspaceStore> store,
//                       OpenSqliteWorkspaceStore({.path = dir + "/ws_123.db", .env = env,
//                                                 .workspace_id = "ws_123"}));

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "src/base/env.h"
#include "src/storage/workspace_store.h"

namespace edgevault::storage {

struct SqliteWorkspaceStoreOptions {
  std::string path;
  base::Env* env = nullptr;  // clock for outbox done_at times; required
  // Required when the file is created (it is stored in `meta`); when reopening, checked
  // against the stored id if non-empty (a mismatch is FailedPrecondition).
  std::string workspace_id;
};

// Opens or creates the workspace's database and migrates it to the current schema.
// Errors: InvalidArgument (empty path, null env, empty workspace_id for a new file),
// FailedPrecondition (the file belongs to another workspace, or has a newer schema than
// this binary), Unavailable (locked by another process past the busy timeout),
// PermissionDenied / Internal (the file cannot be created or opened, or is corrupt).
absl::StatusOr<std::unique_ptr<WorkspaceStore>> OpenSqliteWorkspaceStore(
    const SqliteWorkspaceStoreOptions& options);

// The migration steps of a workspace DB, oldest first (user_version = steps applied).
const std::vector<std::string>& WorkspaceDbMigrations();

}  // namespace edgevault::storage
