#include "src/storage/sqlite/sqlite_transfer.h"

#include <string>
#include <utility>

#include "src/base/status.h"
#include "src/base/strings.h"

namespace edgevault::storage {

namespace {

using base::StrCat;

std::string ColumnList(const TransferTable& table) {
  std::string out;
  for (const TransferColumn& c : table.columns) {
    if (!out.empty()) out += ", ";
    out += '"';
    out += c.name;
    out += '"';
  }
  return out;
}

}  // namespace

absl::StatusOr<int64_t> SqliteCountRows(SqliteDb& db, const TransferTable& table) {
  EV_ASSIGN_OR_RETURN(Statement st, db.Prepare(StrCat("SELECT COUNT(*) FROM ", table.name)));
  EV_ASSIGN_OR_RETURN(bool row, st.Step());
  return row ? st.ColumnInt64(0) : 0;
}

absl::StatusOr<std::vector<TransferRow>> SqliteExportRows(SqliteDb& db, const TransferTable& table,
                                                          int64_t offset, int limit,
                                                          const SqliteTransferOptions& options) {
  if (limit < 1 || limit > 1000 || offset < 0) {
    return absl::InvalidArgumentError("export: limit must be 1..1000 and offset >= 0");
  }
  if (!options.refuse_where.empty()) {
    EV_ASSIGN_OR_RETURN(Statement check, db.Prepare(StrCat("SELECT COUNT(*) FROM ", table.name,
                                                           " WHERE ", options.refuse_where)));
    EV_ASSIGN_OR_RETURN(bool has, check.Step());
    if (has && check.ColumnInt64(0) > 0) {
      return absl::FailedPreconditionError(std::string(options.refuse_message));
    }
  }
  EV_ASSIGN_OR_RETURN(Statement st,
                      db.Prepare(StrCat("SELECT ", ColumnList(table), " FROM ", table.name,
                                        " ORDER BY ", table.order_by, " LIMIT ? OFFSET ?")));
  st.Bind(1, limit).Bind(2, offset);
  std::vector<TransferRow> rows;
  while (true) {
    EV_ASSIGN_OR_RETURN(bool has, st.Step());
    if (!has) break;
    TransferRow row;
    row.reserve(table.columns.size());
    for (size_t c = 0; c < table.columns.size(); ++c) {
      const int col = static_cast<int>(c);
      if (st.IsNull(col)) {
        row.emplace_back(std::monostate{});
        continue;
      }
      switch (table.columns[c].type) {
        case TransferType::kInt:
        case TransferType::kBool:
          row.emplace_back(st.ColumnInt64(col));
          break;
        case TransferType::kText:
          row.emplace_back(st.ColumnText(col));
          break;
        case TransferType::kBytes:
          row.emplace_back(st.ColumnBlob(col));
          break;
      }
    }
    rows.push_back(std::move(row));
  }
  return rows;
}

absl::StatusOr<int64_t> SqliteImportRows(SqliteDb& db, const TransferTable& table,
                                         const std::vector<TransferRow>& rows,
                                         const SqliteTransferOptions& options) {
  EV_RETURN_IF_ERROR(CheckTransferRows(table, rows));
  std::string columns = ColumnList(table);
  std::string values;
  for (size_t c = 0; c < table.columns.size(); ++c) values += c == 0 ? "?" : ", ?";
  if (!options.import_extra_column.empty()) {
    columns += StrCat(", \"", options.import_extra_column, "\"");
    values += StrCat(", ", options.import_extra_value);
  }
  EV_ASSIGN_OR_RETURN(Transaction tx, Transaction::Begin(db));
  EV_ASSIGN_OR_RETURN(int64_t before, SqliteCountRows(db, table));
  EV_ASSIGN_OR_RETURN(Statement st,
                      db.Prepare(StrCat("INSERT INTO ", table.name, " (", columns, ") VALUES (",
                                        values, ") ON CONFLICT DO NOTHING")));
  for (const TransferRow& row : rows) {
    st.Reset();
    for (size_t c = 0; c < row.size(); ++c) {
      const int param = static_cast<int>(c) + 1;
      const TransferValue& v = row[c];
      if (std::holds_alternative<std::monostate>(v)) {
        st.Bind(param, std::nullopt);
      } else if (const int64_t* i = std::get_if<int64_t>(&v)) {
        st.Bind(param, *i);
      } else if (table.columns[c].type == TransferType::kBytes) {
        st.Bind(param, Blob{std::get<std::string>(v)});
      } else {
        st.Bind(param, std::get<std::string>(v));
      }
    }
    EV_RETURN_IF_ERROR(st.Run());
  }
  EV_ASSIGN_OR_RETURN(int64_t after, SqliteCountRows(db, table));
  EV_RETURN_IF_ERROR(tx.Commit());
  return after - before;
}

}  // namespace edgevault::storage
