#include "src/services/api/ai_budget.h"

#include "src/base/log.h"
#include "src/base/status.h"
#include "src/base/strings.h"

namespace edgevault::api {

std::string AiBudget::Month(absl::Time now) { return absl::FormatTime("%Y-%m", now, absl::UTCTimeZone()); }

absl::Status AiBudget::Check(const std::string& org, absl::Time now) const {
  if (limit_ <= 0) return absl::OkStatus();
  absl::StatusOr<int64_t> read = Spent(org, now);
  if (!read.ok()) {
    return base::WithErrorCode(
        absl::UnavailableError(base::ToAbsl("the AI token budget cannot be read (" +
                                            std::string(read.status().message()) + "); try again shortly")),
        "ai_budget_unavailable");
  }
  const int64_t spent = *read;
  if (spent < limit_) return absl::OkStatus();
  return base::WithErrorCode(
      absl::ResourceExhaustedError(base::ToAbsl(
          "this org has used its AI token budget for the month (" + std::to_string(spent) + " of " +
          std::to_string(limit_) + " tokens, ai.org_monthly_token_budget); it renews on the 1st (UTC)")),
      "ai_budget_exhausted");
}

void AiBudget::Spend(const std::string& org, absl::Time now, int64_t tokens) {
  if (tokens <= 0) return;
  if (store_ != nullptr) {
    absl::StatusOr<int64_t> added = store_->AddAiTokens(org, Month(now), tokens);
    if (!added.ok()) {
      EV_LOG(kWarn, "AI tokens spent could not be counted in the usage store",
             {{"org", org}, {"tokens", std::to_string(tokens)}, {"error", added.status().ToString()}});
    }
    return;
  }
  std::lock_guard<std::mutex> lock(mu_);
  int64_t& s = spent_[{org, Month(now)}];
  s = tokens > INT64_MAX - s ? INT64_MAX : s + tokens;
}

absl::StatusOr<int64_t> AiBudget::Spent(const std::string& org, absl::Time now) const {
  if (store_ != nullptr) return store_->AiTokens(org, Month(now));
  std::lock_guard<std::mutex> lock(mu_);
  auto it = spent_.find({org, Month(now)});
  return it == spent_.end() ? 0 : it->second;
}

}  // namespace edgevault::api
