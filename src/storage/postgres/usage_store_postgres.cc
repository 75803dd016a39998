// The usage store on PostgreSQL (usage_store.h): tables in the workspace database,
// migration component "usage" (docs/design/usage.md §3).
#include <algorithm>

#include "src/base/status.h"
#include "src/storage/internal/usage_store_sql.h"
#include "src/storage/postgres/pg_migrate.h"
#include "src/storage/postgres/pg_pool.h"
#include "src/storage/usage_store.h"

namespace edgevault::storage {
namespace {

using namespace internal;  // NOLINT: the SQL texts

class PostgresUsageStore : public UsageStore {
 public:
  explicit PostgresUsageStore(std::unique_ptr<PgPool> pool) : pool_(std::move(pool)) {}

  absl::StatusOr<bool> Add(std::string_view batch_id, const std::vector<UsageRow>& rows,
                           absl::Time now) override {
    if (batch_id.empty()) return absl::InvalidArgumentError("usage batch id must not be empty");
    EV_RETURN_IF_ERROR(ValidateUsageRows(rows));
    const int64_t now_minute = UsageMinuteOf(now);
    const int64_t oldest = UsageMinuteOf(now - kUsageHourRetention);
    const int64_t minute_oldest = UsageMinuteOf(now - kUsageMinuteRetention);
    bool added = false;
    EV_RETURN_IF_ERROR(pool_->InTransaction([&](PgConnection& c) -> absl::Status {
      added = false;
      EV_ASSIGN_OR_RETURN(int64_t inserted, c.Exec(kUsageAddBatch, {std::string(batch_id), now_minute}));
      if (inserted == 0) return absl::OkStatus();
      for (const UsageRow& r : rows) {
        if (r.minute < oldest) continue;
        const int64_t hour_start = r.minute - (((r.minute % 60) + 60) % 60);
        if (r.minute >= minute_oldest) {
          EV_RETURN_IF_ERROR(c.Exec(kUsageAddMinute, {r.workspace_id, r.environment, r.kind, r.flag, r.variant,
                                                       r.reason, r.minute, r.count})
                                 .status());
        }
        EV_RETURN_IF_ERROR(c.Exec(kUsageAddHour, {r.workspace_id, r.environment, r.kind, r.flag, r.variant,
                                                   r.reason, hour_start, r.count})
                               .status());
      }
      added = true;
      return absl::OkStatus();
    }));
    return added;
  }

  absl::StatusOr<std::vector<UsagePoint>> Query(const UsageQuery& q) override {
    std::vector<UsagePoint> out;
    if (q.from_minute >= q.to_minute) return out;
    EV_ASSIGN_OR_RETURN(PgResult r, pool_->Query(q.resolution == UsageResolution::kHour ? kUsageQueryHour
                                                                                         : kUsageQueryMinute,
                                                 {q.workspace_id, q.environment, q.kind, q.flag, q.from_minute,
                                                  q.to_minute}));
    for (int i = 0; i < r.Rows(); ++i) out.push_back({r.Int64(i, 0), r.String(i, 1), r.String(i, 2), r.Int64(i, 3)});
    return out;
  }

  absl::StatusOr<std::map<std::string, int64_t>> LastEvaluated(std::string_view workspace_id) override {
    std::map<std::string, int64_t> out;
    for (const char* sql : {kUsageLastHour, kUsageLastMinute}) {
      EV_ASSIGN_OR_RETURN(PgResult r, pool_->Query(sql, {std::string(workspace_id)}));
      for (int i = 0; i < r.Rows(); ++i) {
        int64_t& last = out[r.String(i, 0)];
        last = std::max(last, r.Int64(i, 1));
      }
    }
    return out;
  }

  absl::Status Prune(absl::Time now) override {
    const int64_t minute_oldest = UsageMinuteOf(now - kUsageMinuteRetention);
    const int64_t hour_oldest = UsageMinuteOf(now - kUsageHourRetention);
    return pool_->InTransaction([&](PgConnection& c) -> absl::Status {
      EV_RETURN_IF_ERROR(c.Exec(kUsagePruneMinute, {minute_oldest}).status());
      EV_RETURN_IF_ERROR(c.Exec(kUsagePruneBatch, {minute_oldest}).status());
      return c.Exec(kUsagePruneHour, {hour_oldest}).status();
    });
  }

 private:
  absl::StatusOr<int64_t> AddAiTokens(std::string_view org_id, std::string_view month, int64_t tokens) override {
    EV_RETURN_IF_ERROR(ValidateAiTokens(org_id, month, tokens));
    EV_ASSIGN_OR_RETURN(PgResult r, pool_->Query(kAiTokensAdd, {std::string(org_id), std::string(month), tokens}));
    if (r.Rows() != 1) return absl::InternalError("AI token spend: the upsert returned no row");
    return r.Int64(0, 0);
  }

  absl::StatusOr<int64_t> AiTokens(std::string_view org_id, std::string_view month) override {
    EV_RETURN_IF_ERROR(ValidateAiTokens(org_id, month, 0));
    EV_ASSIGN_OR_RETURN(PgResult r, pool_->Query(kAiTokensGet, {std::string(org_id), std::string(month)}));
    return r.Rows() == 0 ? 0 : r.Int64(0, 0);
  }

  std::unique_ptr<PgPool> pool_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<UsageStore>> OpenPostgresUsageStore(const PostgresUsageStoreOptions& options) {
  EV_ASSIGN_OR_RETURN(std::unique_ptr<PgPool> pool,
                      PgPool::Create({.connect = {.url = options.url, .application_name = "edgevault-usage"},
                                      .max_connections = std::max(1, options.max_connections)}));
  {
    EV_ASSIGN_OR_RETURN(PgPool::Lease conn, pool->Acquire());
    std::string v1, v2;
    for (const char* s : kUsageSchemaV1) v1.append(s).append(";\n");
    for (const char* s : kUsageSchemaV2) v2.append(s).append(";\n");
    EV_RETURN_IF_ERROR(PgMigrate(*conn, "usage", {v1, v2}).status());
  }
  return std::unique_ptr<UsageStore>(new PostgresUsageStore(std::move(pool)));
}

}  // namespace edgevault::storage
