#pragma once
// Copying a store to another backend, row for row (`edgevault migrate`,
// docs/design/migrate.md): every backend of the control DB and of the workspace store
// implements StoreTransfer over the same portable tables (ControlTransferTables(),
// WorkspaceTransferTables()), so a SQLite store exports rows that a PostgreSQL store of
// the same kind imports unchanged. Rows are copied as they are stored: revision numbers,
// ids, times, hashes and wrapped data keys stay what they were (nothing is decrypted).
//
// Thread-safety: as the store that implements it. Exporting while the store is written
// pages through a moving table; the migration tool exports only stopped installations.
//
//   for (const TransferTable& t : WorkspaceTransferTables()) {
//     for (int64_t off = 0;; off += rows.size()) {
//       EV_ASSIGN_OR_RETURN(rows, from.ExportRows(t.name, off, 500));
//       if (rows.empty()) break;
//       EV_RETURN_IF_ERROR(to.ImportRows(t.name, rows).status());
//     }
//   }

#include <cstdint>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace edgevault::storage {

enum class TransferType {
  kText,   // TEXT (valid UTF-8, no NUL)
  kInt,    // BIGINT / INTEGER
  kBool,   // SQLite INTEGER 0/1, PostgreSQL BOOLEAN; carried as 0 or 1
  kBytes,  // BLOB / BYTEA
};

struct TransferColumn {
  std::string_view name;
  TransferType type = TransferType::kText;
};

// One portable table: its name (without a backend's prefix, e.g. PostgreSQL's `ws_`), its
// columns in export order, and the ORDER BY of its primary key (export pages by offset).
// Tables are listed parents first, so importing them in order satisfies foreign keys.
struct TransferTable {
  std::string_view name;
  std::vector<TransferColumn> columns;
  std::string_view order_by;
};

// NULL, an integer (kInt, kBool) or bytes (kText, kBytes).
using TransferValue = std::variant<std::monostate, int64_t, std::string>;
using TransferRow = std::vector<TransferValue>;

const std::vector<TransferTable>& ControlTransferTables();
const std::vector<TransferTable>& WorkspaceTransferTables();
// The table named `name` in `tables`. InvalidArgument ("no table ...") when there is none.
absl::StatusOr<const TransferTable*> FindTransferTable(const std::vector<TransferTable>& tables,
                                                       std::string_view name);

// Checks that every row has the table's arity and each value fits its column's type
// (NULL anywhere: the target's NOT NULL constraints refuse what they must).
// InvalidArgument naming the table, row and column otherwise.
absl::Status CheckTransferRows(const TransferTable& table, const std::vector<TransferRow>& rows);

// A canonical, unambiguous encoding of one row (type tag, length, bytes per value), the
// unit of the migration's table digests: equal on two backends iff the rows are equal.
std::string EncodeTransferRow(const TransferRow& row);

class StoreTransfer {
 public:
  virtual ~StoreTransfer() = default;

  // Rows in `table`. InvalidArgument for a table that is not in the store's list.
  virtual absl::StatusOr<int64_t> CountRows(std::string_view table) = 0;
  // Rows of `table` in primary-key order from position `offset`, at most `limit`
  // (1..1000, else InvalidArgument). FailedPrecondition when a row cannot be exported
  // portably (a SQLite control DB with a TOTP secret not sealed yet: start auth once).
  virtual absl::StatusOr<std::vector<TransferRow>> ExportRows(std::string_view table,
                                                              int64_t offset, int limit) = 0;
  // Inserts the rows in one transaction; a row whose primary key is already there is
  // skipped, so importing a page twice (a resumed migration) changes nothing the second
  // time. Returns how many rows were inserted. InvalidArgument (unknown table, a row that
  // does not fit: CheckTransferRows), the backend's constraint errors (FailedPrecondition
  // for a row whose parent is missing); nothing is written on error.
  virtual absl::StatusOr<int64_t> ImportRows(std::string_view table,
                                             const std::vector<TransferRow>& rows) = 0;
};

}  // namespace edgevault::storage
