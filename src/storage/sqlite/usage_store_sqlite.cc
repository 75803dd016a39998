// The usage store on SQLite (usage_store.h): one file, DATA_DIR/usage.db.
#include <algorithm>
#include <mutex>

#include "src/base/status.h"
#include "src/storage/internal/usage_store_sql.h"
#include "src/storage/sqlite/sqlite_db.h"
#include "src/storage/usage_store.h"

namespace edgevault::storage {
namespace {

using namespace internal;  // NOLINT: the SQL texts

class SqliteUsageStore : public UsageStore {
 public:
  explicit SqliteUsageStore(std::unique_ptr<SqliteDb> db) : db_(std::move(db)) {}

  absl::StatusOr<bool> Add(std::string_view batch_id, const std::vector<UsageRow>& rows,
                           absl::Time now) override {
    if (batch_id.empty()) return absl::InvalidArgumentError("usage batch id must not be empty");
    EV_RETURN_IF_ERROR(ValidateUsageRows(rows));
    const int64_t now_minute = UsageMinuteOf(now);
    const int64_t oldest = UsageMinuteOf(now - kUsageHourRetention);
    const int64_t minute_oldest = UsageMinuteOf(now - kUsageMinuteRetention);
    std::lock_guard<std::mutex> lock(mu_);
    EV_ASSIGN_OR_RETURN(Transaction tx, Transaction::Begin(*db_));
    EV_ASSIGN_OR_RETURN(Statement batch, db_->Prepare(kUsageAddBatch));
    batch.Bind(1, batch_id).Bind(2, now_minute);
    EV_RETURN_IF_ERROR(batch.Run());
    if (db_->Changes() == 0) return false;
    EV_ASSIGN_OR_RETURN(Statement minute, db_->Prepare(kUsageAddMinute));
    EV_ASSIGN_OR_RETURN(Statement hour, db_->Prepare(kUsageAddHour));
    for (const UsageRow& r : rows) {
      if (r.minute < oldest) continue;
      const int64_t hour_start = r.minute - (((r.minute % 60) + 60) % 60);
      if (r.minute >= minute_oldest) {
        minute.Reset();
        minute.Bind(1, r.workspace_id).Bind(2, r.environment).Bind(3, r.kind).Bind(4, r.flag)
            .Bind(5, r.variant).Bind(6, r.reason).Bind(7, r.minute).Bind(8, r.count);
        EV_RETURN_IF_ERROR(minute.Run());
      }
      hour.Reset();
      hour.Bind(1, r.workspace_id).Bind(2, r.environment).Bind(3, r.kind).Bind(4, r.flag)
          .Bind(5, r.variant).Bind(6, r.reason).Bind(7, hour_start).Bind(8, r.count);
      EV_RETURN_IF_ERROR(hour.Run());
    }
    EV_RETURN_IF_ERROR(tx.Commit());
    return true;
  }

  absl::StatusOr<std::vector<UsagePoint>> Query(const UsageQuery& q) override {
    std::vector<UsagePoint> out;
    if (q.from_minute >= q.to_minute) return out;
    std::lock_guard<std::mutex> lock(mu_);
    EV_ASSIGN_OR_RETURN(Statement st, db_->Prepare(q.resolution == UsageResolution::kHour ? kUsageQueryHour
                                                                                           : kUsageQueryMinute));
    st.Bind(1, q.workspace_id).Bind(2, q.environment).Bind(3, q.kind).Bind(4, q.flag).Bind(5, q.from_minute)
        .Bind(6, q.to_minute);
    for (;;) {
      EV_ASSIGN_OR_RETURN(bool row, st.Step());
      if (!row) break;
      out.push_back({st.ColumnInt64(0), st.ColumnText(1), st.ColumnText(2), st.ColumnInt64(3)});
    }
    return out;
  }

  absl::StatusOr<std::map<std::string, int64_t>> LastEvaluated(std::string_view workspace_id) override {
    std::map<std::string, int64_t> out;
    std::lock_guard<std::mutex> lock(mu_);
    for (const char* sql : {kUsageLastHour, kUsageLastMinute}) {
      EV_ASSIGN_OR_RETURN(Statement st, db_->Prepare(sql));
      st.Bind(1, workspace_id);
      for (;;) {
        EV_ASSIGN_OR_RETURN(bool row, st.Step());
        if (!row) break;
        int64_t& last = out[st.ColumnText(0)];
        last = std::max(last, st.ColumnInt64(1));
      }
    }
    return out;
  }

  absl::Status Prune(absl::Time now) override {
    std::lock_guard<std::mutex> lock(mu_);
    EV_ASSIGN_OR_RETURN(Transaction tx, Transaction::Begin(*db_));
    const int64_t minute_oldest = UsageMinuteOf(now - kUsageMinuteRetention);
    for (const char* sql : {kUsagePruneMinute, kUsagePruneBatch}) {
      EV_ASSIGN_OR_RETURN(Statement st, db_->Prepare(sql));
      st.Bind(1, minute_oldest);
      EV_RETURN_IF_ERROR(st.Run());
    }
    EV_ASSIGN_OR_RETURN(Statement st, db_->Prepare(kUsagePruneHour));
    st.Bind(1, UsageMinuteOf(now - kUsageHourRetention));
    EV_RETURN_IF_ERROR(st.Run());
    return tx.Commit();
  }

  absl::StatusOr<int64_t> AddAiTokens(std::string_view org_id, std::string_view month, int64_t tokens) override {
    EV_RETURN_IF_ERROR(ValidateAiTokens(org_id, month, tokens));
    std::lock_guard<std::mutex> lock(mu_);
    EV_ASSIGN_OR_RETURN(Statement st, db_->Prepare(kAiTokensAdd));
    st.Bind(1, org_id).Bind(2, month).Bind(3, tokens);
    EV_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) return absl::InternalError("AI token spend: the upsert returned no row");
    return st.ColumnInt64(0);
  }

  absl::StatusOr<int64_t> AiTokens(std::string_view org_id, std::string_view month) override {
    EV_RETURN_IF_ERROR(ValidateAiTokens(org_id, month, 0));
    std::lock_guard<std::mutex> lock(mu_);
    EV_ASSIGN_OR_RETURN(Statement st, db_->Prepare(kAiTokensGet));
    st.Bind(1, org_id).Bind(2, month);
    EV_ASSIGN_OR_RETURN(bool row, st.Step());
    return row ? st.ColumnInt64(0) : 0;
  }

 private:
  std::mutex mu_;  // one connection: serialise multi-statement sequences
  std::unique_ptr<SqliteDb> db_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<UsageStore>> OpenSqliteUsageStore(const SqliteUsageStoreOptions& options) {
  // Counts, not records: a lost last transaction after a power cut costs one batch.
  EV_ASSIGN_OR_RETURN(std::unique_ptr<SqliteDb> db, SqliteDb::Open({.path = options.path, .synchronous_full = false}));
  std::vector<std::string> steps;
  std::string v1;
  for (const char* s : internal::kUsageSchemaV1) v1.append(s).append(";\n");
  steps.push_back(v1);
  std::string v2;
  for (const char* s : internal::kUsageSchemaV2) v2.append(s).append(";\n");
  steps.push_back(v2);
  EV_RETURN_IF_ERROR(Migrate(*db, steps));
  return std::unique_ptr<UsageStore>(new SqliteUsageStore(std::move(db)));
}

}  // namespace edgevault::storage
