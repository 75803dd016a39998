#pragma once
// The per-org monthly token budget of the AI features (docs/design/ai.md §5): input plus
// output tokens as providers report them, per calendar month (UTC). Kept in this api
// node's memory: a restart or another api node starts from zero (documented limitation).
//
// Thread-safety: every method may be called concurrently.

#include <cstdint>
#include <map>
#include <mutex>
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"

namespace edgevault::api {

class AiBudget {
 public:
  explicit AiBudget(int64_t monthly_tokens) : limit_(monthly_tokens) {}

  // ResourceExhausted (code "ai_budget_exhausted") when `org` has spent its budget for the
  // month of `now`; OK when the budget is unlimited (0).
  absl::Status Check(const std::string& org, absl::Time now) const;
  void Spend(const std::string& org, absl::Time now, int64_t tokens);
  int64_t Spent(const std::string& org, absl::Time now) const;
  int64_t limit() const { return limit_; }

 private:
  static std::string Month(absl::Time now);
  const int64_t limit_;
  mutable std::mutex mu_;
  std::map<std::pair<std::string, std::string>, int64_t> spent_;  // (org, "YYYY-MM") → tokens
};

}  // namespace edgevault::api
