#pragma once
// Evaluation usage as the api keeps it (docs/design/usage.md §3): counts per series and
// minute, added up from every delivery node's submissions, with a per-minute table kept
// 2 days and a per-hour table kept 90 days, both written by every Add (so the hourly
// roll-up is exact at any time). Backends: SQLite (DATA_DIR/usage.db) and PostgreSQL (the
// workspace database); both pass usage_store_conformance.cc.
//
// Thread-safety: every method may be called concurrently.
//
// Errors (every backend): InvalidArgument for rows the store cannot hold (empty ids,
// count < 1), Unavailable when the database is busy or unreachable, Internal otherwise.
//
//   EV_ASSIGN_OR_RETURN(auto store, OpenSqliteUsageStore({.path = dir + "/usage.db"}));
//   EV_ASSIGN_OR_RETURN(bool added, store->Add(batch_id, rows, env->Now()));
//   EV_ASSIGN_OR_RETURN(auto points, store->Query({.workspace_id = "ws_1", ...}));

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "src/base/config.h"
#include "src/base/env.h"

namespace edgevault::storage {

inline constexpr absl::Duration kUsageMinuteRetention = absl::Hours(48);
inline constexpr absl::Duration kUsageHourRetention = absl::Hours(24 * 90);

// One series' count in one minute (Unix minutes). kind "evaluation": flag, variant,
// reason; kind "sdk_request": flag = endpoint, variant = SDK key kind, reason = "".
struct UsageRow {
  int64_t minute = 0;
  std::string kind;
  std::string workspace_id;
  std::string environment;
  std::string flag;
  std::string variant;
  std::string reason;
  int64_t count = 0;
};

enum class UsageResolution { kMinute, kHour };

struct UsageQuery {
  std::string workspace_id;
  std::string environment;
  std::string kind = "evaluation";
  std::string flag;
  int64_t from_minute = 0;  // inclusive
  int64_t to_minute = 0;    // exclusive
  UsageResolution resolution = UsageResolution::kMinute;
};

// A count at the query's resolution: `bucket` is the Unix minute where the minute or
// hour starts.
struct UsagePoint {
  int64_t bucket = 0;
  std::string variant;
  std::string reason;
  int64_t count = 0;
};

class UsageStore {
 public:
  virtual ~UsageStore() = default;

  // Adds `rows` to their minutes and hours in one transaction, recording `batch_id`;
  // false (and nothing added) when that batch id was added before. Rows older than the
  // hourly retention at `now` are skipped. Errors: see above.
  virtual absl::StatusOr<bool> Add(std::string_view batch_id, const std::vector<UsageRow>& rows,
                                   absl::Time now) = 0;

  // The counts of one series family in [from, to), at the resolution asked, sorted by
  // (bucket, variant, reason). A range with from >= to is empty.
  virtual absl::StatusOr<std::vector<UsagePoint>> Query(const UsageQuery& q) = 0;

  // The last minute each flag of the workspace was evaluated (any environment), as far as
  // the hourly table still knows (the start of that hour's last minute... precisely: the
  // Unix minute at which the last hour with evaluations starts).
  virtual absl::StatusOr<std::map<std::string, int64_t>> LastEvaluated(std::string_view workspace_id) = 0;

  // Deletes minute rows and batch ids older than kUsageMinuteRetention and hour rows older
  // than kUsageHourRetention at `now`.
  virtual absl::Status Prune(absl::Time now) = 0;

  // The AI features' token spend of `org_id` in `month` ("YYYY-MM", UTC), shared by every
  // api node on this store (docs/design/ai.md §5). AddAiTokens adds `tokens` (>= 0) in one
  // statement and returns the new total; AiTokens returns the total (0 when none).
  // InvalidArgument for an empty org, a month not shaped YYYY-MM, negative tokens.
  virtual absl::StatusOr<int64_t> AddAiTokens(std::string_view org_id, std::string_view month, int64_t tokens) = 0;
  virtual absl::StatusOr<int64_t> AiTokens(std::string_view org_id, std::string_view month) = 0;
};

// AddAiTokens' / AiTokens' argument checks (shared by the backends).
absl::Status ValidateAiTokens(std::string_view org_id, std::string_view month, int64_t tokens);

// Validates the rows a store accepts (shared by the backends).
absl::Status ValidateUsageRows(const std::vector<UsageRow>& rows);
// The Unix minute of `t` (floor).
int64_t UsageMinuteOf(absl::Time t);

struct SqliteUsageStoreOptions {
  std::string path;
};
// Errors: SqliteDb::Open's.
absl::StatusOr<std::unique_ptr<UsageStore>> OpenSqliteUsageStore(const SqliteUsageStoreOptions& options);

struct PostgresUsageStoreOptions {
  std::string url;
  int max_connections = 4;
};
// Applies the "usage" migrations. Errors: PgPool's and PgMigrate's.
absl::StatusOr<std::unique_ptr<UsageStore>> OpenPostgresUsageStore(const PostgresUsageStoreOptions& options);

// The usage store the api's configuration names: DATA_DIR/usage.db when
// api.workspace_db_url is "" or "sqlite:", else that PostgreSQL database.
absl::StatusOr<std::unique_ptr<UsageStore>> OpenConfiguredUsageStore(const base::Config& config,
                                                                     base::Env* env);

}  // namespace edgevault::storage
