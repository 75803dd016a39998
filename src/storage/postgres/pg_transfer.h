#pragma once
// StoreTransfer (src/storage/store_transfer.h) over PostgreSQL: the export, count and
// import of a portable table for the PostgreSQL control DB (tables as named) and
// workspace store (tables prefixed `ws_`, rows scoped by `workspace_id`).
// Thread-safety: the functions lease connections from the pool per call.
//
//   PgTransferScope scope{.prefix = "ws_", .scope_column = "workspace_id", .scope_value = id};
//   EV_ASSIGN_OR_RETURN(auto rows, PgExportRows(pool, table, scope, 0, 500));

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "src/storage/postgres/pg_pool.h"
#include "src/storage/store_transfer.h"

namespace edgevault::storage {

struct PgTransferScope {
  std::string_view prefix;        // prepended to the table name ("ws_")
  std::string_view scope_column;  // "" = the whole table; else rows with scope_value
  std::string scope_value;
  // Runs in the import transaction before the inserts (the control DB's writer lock).
  std::string_view import_lock_sql;
};

// Errors: those of the wrapper (pg_db.h).
absl::StatusOr<int64_t> PgCountRows(PgPool& pool, const TransferTable& table,
                                    const PgTransferScope& scope);
// InvalidArgument for a limit outside 1..1000.
absl::StatusOr<std::vector<TransferRow>> PgExportRows(PgPool& pool, const TransferTable& table,
                                                      const PgTransferScope& scope, int64_t offset,
                                                      int limit);
// One transaction; rows whose primary key exists are skipped (ON CONFLICT DO NOTHING).
// Returns the rows inserted.
absl::StatusOr<int64_t> PgImportRows(PgPool& pool, const TransferTable& table,
                                     const PgTransferScope& scope,
                                     const std::vector<TransferRow>& rows);

}  // namespace edgevault::storage
