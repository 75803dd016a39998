#pragma once
// StoreTransfer (src/storage/store_transfer.h) over one SQLite database: the export,
// count and import of a portable table that the SQLite control DB and workspace stores
// share. The caller serialises use of the connection (the stores hold their mutex).
//
//   EV_ASSIGN_OR_RETURN(auto rows, SqliteExportRows(db, table, 0, 500));

#include <cstdint>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "src/storage/sqlite/sqlite_db.h"
#include "src/storage/store_transfer.h"

namespace edgevault::storage {

struct SqliteTransferOptions {
  // A column this backend has beyond the portable ones, set to a constant on import
  // (the control DB's totp.sealed = 1: PostgreSQL-born rows are always sealed).
  std::string_view import_extra_column;
  int64_t import_extra_value = 0;
  // Rows that cannot be exported portably: ExportRows fails with FailedPrecondition and
  // this message when any row matches (the control DB's "sealed = 0").
  std::string_view refuse_where;
  std::string_view refuse_message;
};

// Errors: those of the wrapper (sqlite_db.h).
absl::StatusOr<int64_t> SqliteCountRows(SqliteDb& db, const TransferTable& table);
// InvalidArgument for a limit outside 1..1000; FailedPrecondition per refuse_where.
absl::StatusOr<std::vector<TransferRow>> SqliteExportRows(
    SqliteDb& db, const TransferTable& table, int64_t offset, int limit,
    const SqliteTransferOptions& options = {});
// One transaction (a savepoint inside an open one); existing primary keys are skipped.
// Returns the rows inserted.
absl::StatusOr<int64_t> SqliteImportRows(SqliteDb& db, const TransferTable& table,
                                         const std::vector<TransferRow>& rows,
                                         const SqliteTransferOptions& options = {});

}  // namespace edgevault::storage
