#pragma once
// The SQLite backend of ControlStore: one `control.db` file (mode 0600, WAL, synchronous
// FULL), schema in docs/design/control-db.md. One connection guarded by a mutex, so
// writers are serialised inside the process; other processes coordinate through SQLite's
// file locks (BEGIN IMMEDIATE, busy timeout).
//
// Thread-safety: as ControlStore (every method may be called from any thread).
//
//   EV_ASSIGN_OR_RETURN(std::unique_ptr<ControlStore> store,
//                       OpenSqliteControlStore({.path = dir + "/control.db", .env = env}));

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "src/base/env.h"
#include "src/storage/control_store.h"

namespace edgevault::storage {

struct SqliteControlStoreOptions {
  std::string path;
  base::Env* env = nullptr;  // clock for recovery-code use times; required
};

// Opens or creates the database and migrates it to the current schema.
// Errors: InvalidArgument (empty path, null env), FailedPrecondition (the file has a newer
// schema than this binary), Unavailable (locked by another process past the busy
// timeout), PermissionDenied / Internal (the file cannot be created or opened).
absl::StatusOr<std::unique_ptr<ControlStore>> OpenSqliteControlStore(
    const SqliteControlStoreOptions& options);

// The migration steps of the control DB, oldest first (user_version = steps applied).
const std::vector<std::string>& ControlDbMigrations();

}  // namespace edgevault::storage
