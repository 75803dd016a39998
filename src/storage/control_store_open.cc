#include "src/storage/control_store_open.h"

#include <string_view>

#include "src/storage/postgres/control_store_postgres.h"
#include "src/storage/postgres/pg_db.h"
#include "src/storage/sqlite/control_store_sqlite.h"

namespace edgevault::storage {

namespace {

bool IsPostgres(std::string_view url) {
  return url.starts_with("postgres://") || url.starts_with("postgresql://");
}

}  // namespace

absl::StatusOr<std::unique_ptr<ControlStore>> OpenControlStore(
    const ControlStoreOpenOptions& options) {
  if (options.url.empty() || options.url == "sqlite:") {
    return OpenSqliteControlStore({.path = options.data_dir + "/control.db",
                                   .env = options.env,
                                   .totp_sealer = options.totp_sealer});
  }
  if (IsPostgres(options.url)) {
    return OpenPostgresControlStore(
        {.url = options.url, .env = options.env, .totp_sealer = options.totp_sealer,
         .max_connections = options.pool_size});
  }
  return absl::InvalidArgumentError(
      "control DB URL: expected \"\", \"sqlite:\" or a postgres:// URL");
}

std::string DescribeControlStoreUrl(const ControlStoreOpenOptions& options) {
  if (!IsPostgres(options.url)) return "sqlite:" + options.data_dir + "/control.db";
  return DescribePostgresUrl(options.url);
}

}  // namespace edgevault::storage
