#pragma once
// The SQLite backend of ControlStore: one `control.db` file (mode 0600, WAL, synchronous
// FULL), schema in docs/design/control-db.md. Only edgevault-auth opens it (the api asks
// auth, docs/design/control-db.md "Who opens it"). One connection guarded by a mutex, so
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
#include "src/storage/secret_sealer.h"

namespace edgevault::storage {

struct SqliteControlStoreOptions {
  std::string path;
  base::Env* env = nullptr;  // clock for recovery-code use times; required
  // Seals TOTP secrets at rest (docs/design/sealed-totp.md); not owned, outlives the store.
  // Null (tools, tests of other parts): PutTotp and reading a sealed secret answer
  // FailedPrecondition; everything else works.
  const SecretSealer* totp_sealer = nullptr;
};

// Opens or creates the database and migrates it to the current schema. With a
// totp_sealer it then seals every TOTP secret still stored raw (rows an older version
// wrote), in one transaction, before it returns.
// Errors: InvalidArgument (empty path, null env), FailedPrecondition (the file has a newer
// schema than this binary), Unavailable (locked by another process past the busy
// timeout), PermissionDenied / Internal (the file cannot be created or opened), the
// sealer's errors.
absl::StatusOr<std::unique_ptr<ControlStore>> OpenSqliteControlStore(
    const SqliteControlStoreOptions& options);

// The migration steps of the control DB, oldest first (user_version = steps applied).
const std::vector<std::string>& ControlDbMigrations();

}  // namespace edgevault::storage
