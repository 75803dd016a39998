#include "src/storage/workspace_store_open.h"

#include "src/base/strings.h"
#include "src/storage/postgres/workspace_store_postgres.h"
#include "src/storage/sqlite/workspace_store_provider_sqlite.h"

namespace edgevault::storage {

absl::StatusOr<std::unique_ptr<WorkspaceStoreProvider>> OpenConfiguredWorkspaceStores(
    const base::Config& config, base::Env* env) {
  const std::string& url = config.api_settings.workspace_db_url;
  if (url.empty() || url == "sqlite:") {
    return OpenSqliteWorkspaceStoreProvider(
        {.dir = config.data_dir + "/workspaces", .env = env,
         .max_open = static_cast<size_t>(config.api_settings.max_open_workspaces)});
  }
  absl::StatusOr<std::unique_ptr<WorkspaceStoreProvider>> stores =
      OpenPostgresWorkspaceStoreProvider(
          {.url = url, .env = env,
           .max_connections = static_cast<int>(config.api_settings.workspace_db_pool_size)});
  if (!stores.ok()) {
    return absl::Status(stores.status().code(),
                        base::ToAbsl(base::StrCat("config key 'api.workspace_db_url': ",
                                                  base::ToStd(stores.status().message()))));
  }
  return stores;
}

}  // namespace edgevault::storage
