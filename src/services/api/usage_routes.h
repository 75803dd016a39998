#pragma once
// The api's side of evaluation usage (docs/design/usage.md): reading delivery's
// submissions (POST /internal/v1/usage, callers: delivery only) into the usage store, and
// answering flag insights (GET /v1/workspaces/{ws}/flags/{key}/insights, docs/api.md).
// Pure functions over a UsageStore; api_service.cc routes them (authorization there).
// Thread-safety: as the UsageStore (thread-safe).
//
//   EV_ASSIGN_OR_RETURN(json::object answer, AcceptUsage(*store, req.body(), env->Now()));
//   EV_ASSIGN_OR_RETURN(InsightsRange range, ParseInsightsRange(from, to, step, env->Now()));
//   EV_ASSIGN_OR_RETURN(json::object series, FlagInsights(*store, ws_id, env, flag, range));

#include <atomic>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json.hpp>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "src/storage/usage_store.h"

namespace edgevault::api {

// A parsed submission body (usage.md §2).
struct UsageSubmission {
  std::string batch;
  std::string node;
  std::vector<storage::UsageRow> rows;
};
inline constexpr size_t kMaxUsageRows = 20000;

// InvalidArgument (a 400 naming the field) for anything but a valid body.
absl::StatusOr<UsageSubmission> ParseUsageSubmission(std::string_view body, absl::Time now);

// Parses and stores one submission; {"accepted": rows, "duplicate": bool}. Prunes the
// store at most once an hour (`last_prune_minute` remembers when). Errors: the parser's,
// the store's.
absl::StatusOr<boost::json::object> AcceptUsage(storage::UsageStore& store, std::string_view body,
                                                absl::Time now, std::atomic<int64_t>* last_prune_minute);

struct InsightsRange {
  int64_t from_minute = 0;  // aligned down to the resolution
  int64_t to_minute = 0;    // exclusive; from + buckets * step
  int64_t step_minutes = 1;
  storage::UsageResolution resolution = storage::UsageResolution::kMinute;
};
inline constexpr int64_t kMaxInsightsBuckets = 2000;

// `from`, `to`: RFC 3339 times (nullopt: to = now, from = to - 24 h); `step`: a duration
// such as "1m", "5m", "1h", "24h" (nullopt: 1h, or 1m when the range is at most 2 h).
// InvalidArgument (400) when a value does not parse, from >= to, the step is not a whole
// number of minutes (below 1 h) or hours (from 1 h), a minute step reaches back past the
// minute retention (2 days), or the range holds more than kMaxInsightsBuckets steps.
absl::StatusOr<InsightsRange> ParseInsightsRange(const std::optional<std::string>& from,
                                                 const std::optional<std::string>& to,
                                                 const std::optional<std::string>& step, absl::Time now);

// The flag's evaluations in `environment` over `range`: per variant and per reason, a count
// per step (usage.md §3 "Reading"). Errors: the store's.
absl::StatusOr<boost::json::object> FlagInsights(storage::UsageStore& store, const std::string& workspace_id,
                                                 const std::string& environment, const std::string& flag,
                                                 const InsightsRange& range);

// The SDK requests delivery answered for `environment` over `range` (usage.md §3
// "Reading"): one series per (endpoint, key kind) with a count per step, endpoints being
// kSdkEndpoints. Errors: the store's.
inline constexpr std::string_view kSdkEndpoints[] = {"config", "stream", "ofrep", "ofrep_bulk"};
absl::StatusOr<boost::json::object> SdkUsage(storage::UsageStore& store, const std::string& workspace_id,
                                             const std::string& environment, const InsightsRange& range);

}  // namespace edgevault::api
