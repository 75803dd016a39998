#include "src/storage/usage_store.h"

#include <algorithm>

#include "src/base/strings.h"

namespace edgevault::storage {

int64_t UsageMinuteOf(absl::Time t) {
  const int64_t s = absl::ToUnixSeconds(t);
  return s >= 0 ? s / 60 : -((-s + 59) / 60);
}

absl::Status ValidateUsageRows(const std::vector<UsageRow>& rows) {
  for (const UsageRow& r : rows) {
    if (r.kind != "evaluation" && r.kind != "sdk_request") {
      return absl::InvalidArgumentError("usage row: kind must be evaluation or sdk_request");
    }
    if (r.workspace_id.empty() || r.environment.empty() || r.flag.empty()) {
      return absl::InvalidArgumentError("usage row: workspace_id, environment and flag must not be empty");
    }
    if (r.count < 1) return absl::InvalidArgumentError("usage row: count must be at least 1");
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<UsageStore>> OpenConfiguredUsageStore(const base::Config& config,
                                                                     base::Env* env) {
  (void)env;
  const std::string& url = config.api_settings.workspace_db_url;
  if (url.empty() || url == "sqlite:") return OpenSqliteUsageStore({.path = config.data_dir + "/usage.db"});
  absl::StatusOr<std::unique_ptr<UsageStore>> store = OpenPostgresUsageStore(
      {.url = url, .max_connections = std::max<int>(1, static_cast<int>(config.api_settings.workspace_db_pool_size / 2))});
  if (!store.ok()) {
    return absl::Status(store.status().code(),
                        base::ToAbsl(base::StrCat("config key 'api.workspace_db_url' (usage): ",
                                                  base::ToStd(store.status().message()))));
  }
  return store;
}

absl::Status ValidateAiTokens(std::string_view org_id, std::string_view month, int64_t tokens) {
  if (org_id.empty() || org_id.size() > 128) return absl::InvalidArgumentError("AI token spend: org id of 1..128 bytes");
  const bool shaped = month.size() == 7 && month[4] == '-' &&
                      std::all_of(month.begin(), month.begin() + 4, [](char c) { return c >= '0' && c <= '9'; }) &&
                      month[5] >= '0' && month[5] <= '1' && month[6] >= '0' && month[6] <= '9';
  if (!shaped) return absl::InvalidArgumentError("AI token spend: the month is YYYY-MM");
  if (tokens < 0) return absl::InvalidArgumentError("AI token spend: tokens must not be negative");
  return absl::OkStatus();
}

}  // namespace edgevault::storage
