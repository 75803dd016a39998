#include "src/storage/postgres/pg_transfer.h"

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

std::string Where(const PgTransferScope& scope) {
  return scope.scope_column.empty() ? std::string()
                                    : StrCat(" WHERE \"", scope.scope_column, "\" = $1");
}

PgParams ScopeParams(const PgTransferScope& scope) {
  PgParams params;
  if (!scope.scope_column.empty()) params.emplace_back(scope.scope_value);
  return params;
}

}  // namespace

absl::StatusOr<int64_t> PgCountRows(PgPool& pool, const TransferTable& table,
                                    const PgTransferScope& scope) {
  EV_ASSIGN_OR_RETURN(PgResult r, pool.Query(StrCat("SELECT COUNT(*) FROM ", scope.prefix,
                                                    table.name, Where(scope)),
                                             ScopeParams(scope)));
  return r.Int64(0, 0);
}

absl::StatusOr<std::vector<TransferRow>> PgExportRows(PgPool& pool, const TransferTable& table,
                                                      const PgTransferScope& scope, int64_t offset,
                                                      int limit) {
  if (limit < 1 || limit > 1000 || offset < 0) {
    return absl::InvalidArgumentError("export: limit must be 1..1000 and offset >= 0");
  }
  PgParams params = ScopeParams(scope);
  const size_t n = params.size();
  params.emplace_back(limit);
  params.emplace_back(offset);
  EV_ASSIGN_OR_RETURN(PgResult r,
                      pool.Query(StrCat("SELECT ", ColumnList(table), " FROM ", scope.prefix,
                                        table.name, Where(scope), " ORDER BY ", table.order_by,
                                        " LIMIT $", n + 1, " OFFSET $", n + 2),
                                 params));
  std::vector<TransferRow> rows;
  rows.reserve(r.Rows());
  for (int i = 0; i < r.Rows(); ++i) {
    TransferRow row;
    row.reserve(table.columns.size());
    for (size_t c = 0; c < table.columns.size(); ++c) {
      const int col = static_cast<int>(c);
      if (r.IsNull(i, col)) {
        row.emplace_back(std::monostate{});
        continue;
      }
      switch (table.columns[c].type) {
        case TransferType::kInt:
          row.emplace_back(r.Int64(i, col));
          break;
        case TransferType::kBool:
          row.emplace_back(static_cast<int64_t>(r.Bool(i, col) ? 1 : 0));
          break;
        case TransferType::kText:
          row.emplace_back(r.String(i, col));
          break;
        case TransferType::kBytes:
          row.emplace_back(r.Bytes(i, col));
          break;
      }
    }
    rows.push_back(std::move(row));
  }
  return rows;
}

absl::StatusOr<int64_t> PgImportRows(PgPool& pool, const TransferTable& table,
                                     const PgTransferScope& scope,
                                     const std::vector<TransferRow>& rows) {
  EV_RETURN_IF_ERROR(CheckTransferRows(table, rows));
  std::string columns = ColumnList(table);
  std::string values;
  int param = 0;
  if (!scope.scope_column.empty()) {
    columns = StrCat("\"", scope.scope_column, "\", ", columns);
    values = StrCat("$", ++param);
  }
  for (size_t c = 0; c < table.columns.size(); ++c) {
    if (!values.empty()) values += ", ";
    values += StrCat("$", ++param);
  }
  const std::string sql = StrCat("INSERT INTO ", scope.prefix, table.name, " (", columns,
                                 ") VALUES (", values, ") ON CONFLICT DO NOTHING");
  int64_t inserted = 0;
  EV_RETURN_IF_ERROR(pool.InTransaction([&](PgConnection& conn) -> absl::Status {
    inserted = 0;
    if (!scope.import_lock_sql.empty()) {
      EV_RETURN_IF_ERROR(conn.Exec(scope.import_lock_sql).status());
    }
    for (const TransferRow& row : rows) {
      PgParams params;
      params.reserve(row.size() + 1);
      if (!scope.scope_column.empty()) params.emplace_back(scope.scope_value);
      for (size_t c = 0; c < row.size(); ++c) {
        const TransferValue& v = row[c];
        if (std::holds_alternative<std::monostate>(v)) {
          params.emplace_back(std::nullopt);
        } else if (const int64_t* i = std::get_if<int64_t>(&v)) {
          if (table.columns[c].type == TransferType::kBool) {
            params.emplace_back(*i != 0);
          } else {
            params.emplace_back(*i);
          }
        } else if (table.columns[c].type == TransferType::kBytes) {
          params.emplace_back(PgBytes{std::get<std::string>(v)});
        } else {
          params.emplace_back(std::get<std::string>(v));
        }
      }
      EV_ASSIGN_OR_RETURN(int64_t n, conn.Exec(sql, params));
      inserted += n;
    }
    return absl::OkStatus();
  }));
  return inserted;
}

}  // namespace edgevault::storage
