#pragma once
// The workspace stores a configuration names (api.workspace_db_url, docs/configuration.md):
// one SQLite file per workspace under DATA_DIR/workspaces ("" or "sqlite:"), or every
// workspace in one PostgreSQL database (postgres://...). Used by the api and by the tools
// that must see the same workspaces (`edgevault keys rotate-master`).
// Thread-safety: a plain function; the provider is as WorkspaceStoreProvider.
//
//   EV_ASSIGN_OR_RETURN(auto stores, storage::OpenConfiguredWorkspaceStores(config, env));

#include <memory>

#include "absl/status/statusor.h"
#include "src/base/config.h"
#include "src/base/env.h"
#include "src/storage/workspace_store_provider.h"

namespace edgevault::storage {

// Errors: the backend's open errors, prefixed "config key 'api.workspace_db_url': " for
// PostgreSQL (never with the URL, which may hold a password): InvalidArgument (malformed
// URL), Unavailable (server unreachable, login refused), FailedPrecondition (a database
// migrated by a newer binary).
absl::StatusOr<std::unique_ptr<WorkspaceStoreProvider>> OpenConfiguredWorkspaceStores(
    const base::Config& config, base::Env* env);

}  // namespace edgevault::storage
