#pragma once
// The SQL both usage store backends run (docs/design/usage.md §3). Parameters are written
// $1..$n in order of first appearance, which PostgreSQL reads as positions and SQLite as
// named parameters numbered in that same order, so one text serves both.

namespace edgevault::storage::internal {

// usage_hour.at_minute is the Unix minute where the hour starts.
inline constexpr const char* kUsageSchemaV1[] = {
    "CREATE TABLE usage_minute (workspace_id TEXT NOT NULL, environment TEXT NOT NULL, kind TEXT NOT NULL, "
    "flag TEXT NOT NULL, variant TEXT NOT NULL, reason TEXT NOT NULL, at_minute BIGINT NOT NULL, n BIGINT NOT NULL, "
    "PRIMARY KEY (workspace_id, environment, kind, flag, at_minute, variant, reason))",
    "CREATE INDEX usage_minute_age ON usage_minute (at_minute)",
    "CREATE TABLE usage_hour (workspace_id TEXT NOT NULL, environment TEXT NOT NULL, kind TEXT NOT NULL, "
    "flag TEXT NOT NULL, variant TEXT NOT NULL, reason TEXT NOT NULL, at_minute BIGINT NOT NULL, n BIGINT NOT NULL, "
    "PRIMARY KEY (workspace_id, environment, kind, flag, at_minute, variant, reason))",
    "CREATE INDEX usage_hour_age ON usage_hour (at_minute)",
    "CREATE INDEX usage_hour_flags ON usage_hour (workspace_id, kind, flag, at_minute)",
    "CREATE TABLE usage_batch (id TEXT PRIMARY KEY, at_minute BIGINT NOT NULL)",
    "CREATE INDEX usage_batch_age ON usage_batch (at_minute)",
};

// Step 2: the AI features' token spend per org and calendar month (docs/design/ai.md §5),
// so the budget holds across restarts and api nodes.
inline constexpr const char* kUsageSchemaV2[] = {
    "CREATE TABLE ai_token_spend (org_id TEXT NOT NULL, month TEXT NOT NULL, tokens BIGINT NOT NULL, "
    "PRIMARY KEY (org_id, month))",
};
inline constexpr const char kAiTokensAdd[] =
    "INSERT INTO ai_token_spend (org_id, month, tokens) VALUES ($1, $2, $3) ON CONFLICT (org_id, month) "
    "DO UPDATE SET tokens = ai_token_spend.tokens + excluded.tokens RETURNING tokens";
inline constexpr const char kAiTokensGet[] = "SELECT tokens FROM ai_token_spend WHERE org_id = $1 AND month = $2";

inline constexpr const char kUsageAddBatch[] =
    "INSERT INTO usage_batch (id, at_minute) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING";

#define EV_USAGE_ADD(table)                                                                              \
  "INSERT INTO " table " (workspace_id, environment, kind, flag, variant, reason, at_minute, n) "         \
  "VALUES ($1, $2, $3, $4, $5, $6, $7, $8) "                                                            \
  "ON CONFLICT (workspace_id, environment, kind, flag, at_minute, variant, reason) "                     \
  "DO UPDATE SET n = " table ".n + excluded.n"
inline constexpr const char kUsageAddMinute[] = EV_USAGE_ADD("usage_minute");
inline constexpr const char kUsageAddHour[] = EV_USAGE_ADD("usage_hour");
#undef EV_USAGE_ADD

#define EV_USAGE_QUERY(table)                                                                     \
  "SELECT at_minute, variant, reason, n FROM " table                                              \
  " WHERE workspace_id = $1 AND environment = $2 AND kind = $3 AND flag = $4 AND at_minute >= $5" \
  " AND at_minute < $6 ORDER BY at_minute, variant, reason"
inline constexpr const char kUsageQueryMinute[] = EV_USAGE_QUERY("usage_minute");
inline constexpr const char kUsageQueryHour[] = EV_USAGE_QUERY("usage_hour");
#undef EV_USAGE_QUERY

inline constexpr const char kUsageLastMinute[] =
    "SELECT flag, MAX(at_minute) FROM usage_minute WHERE workspace_id = $1 AND kind = 'evaluation' GROUP BY flag";
inline constexpr const char kUsageLastHour[] =
    "SELECT flag, MAX(at_minute) FROM usage_hour WHERE workspace_id = $1 AND kind = 'evaluation' GROUP BY flag";

inline constexpr const char kUsagePruneMinute[] = "DELETE FROM usage_minute WHERE at_minute < $1";
inline constexpr const char kUsagePruneBatch[] = "DELETE FROM usage_batch WHERE at_minute < $1";
inline constexpr const char kUsagePruneHour[] = "DELETE FROM usage_hour WHERE at_minute < $1";

}  // namespace edgevault::storage::internal
