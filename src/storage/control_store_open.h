#pragma once
// Opens the control DB backend a URL names (DESIGN.md §2: backends are chosen by URL):
// "" or "sqlite:" = the embedded SQLite file DATA_DIR/control.db; postgres://... (or
// postgresql://) = the PostgreSQL backend, shared by any number of auth nodes
// (docs/configuration.md, `auth.control_db_url`). Only edgevault-auth (and its tests)
// link this: it pulls in both backends.
//
// Thread-safety: a plain function; the returned store is as ControlStore.
//
//   EV_ASSIGN_OR_RETURN(std::unique_ptr<ControlStore> store,
//                       OpenControlStore({.url = config.auth_settings.control_db_url,
//                                         .data_dir = config.data_dir, .env = env,
//                                         .totp_sealer = sealer}));

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "src/base/env.h"
#include "src/storage/control_store.h"
#include "src/storage/secret_sealer.h"

namespace edgevault::storage {

struct ControlStoreOpenOptions {
  std::string url;       // "" / "sqlite:" / postgres://...; may hold a password, never logged
  std::string data_dir;  // where control.db lives for SQLite
  base::Env* env = nullptr;
  const SecretSealer* totp_sealer = nullptr;  // not owned; see the backends' options
  int pool_size = 8;  // PostgreSQL: the connection pool's limit (at least 1); SQLite: unused
};

// The backend's own errors (OpenSqliteControlStore, OpenPostgresControlStore: e.g.
// InvalidArgument for a pool size below 1), and InvalidArgument for any other scheme (the
// message does not echo the URL).
absl::StatusOr<std::unique_ptr<ControlStore>> OpenControlStore(
    const ControlStoreOpenOptions& options);

// A description of where the store is, for logs: "sqlite:DATA_DIR/control.db" or
// "postgres://host:port/database" (no user, no password, no parameters).
std::string DescribeControlStoreUrl(const ControlStoreOpenOptions& options);

}  // namespace edgevault::storage
