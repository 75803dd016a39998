#pragma once
// The per-org monthly token budget of the AI features (docs/design/ai.md §5): input plus
// output tokens as providers report them, per calendar month (UTC). Counted in the usage
// store (usage.db, or the shared PostgreSQL), so a restart forgets nothing and every api
// node on one store counts against the same budget; without a store (unit tests), in
// memory.
//
// Thread-safety: every method may be called concurrently.

#include <cstdint>
#include <map>
#include <mutex>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "src/storage/usage_store.h"

namespace edgevault::api {

class AiBudget {
 public:
  // `store` (not owned) counts the spend; nullptr = this object's memory.
  explicit AiBudget(int64_t monthly_tokens, storage::UsageStore* store = nullptr)
      : limit_(monthly_tokens), store_(store) {}

  // ResourceExhausted (code "ai_budget_exhausted") when `org` has spent its budget for the
  // month of `now`; OK when the budget is unlimited (0). Unavailable (code
  // "ai_budget_unavailable") when the store cannot say: no call is made then (fail closed).
  absl::Status Check(const std::string& org, absl::Time now) const;
  // Adds `tokens`; a store error is logged (the call was made: its tokens are lost to the
  // count, never the answer to the caller).
  void Spend(const std::string& org, absl::Time now, int64_t tokens);
  absl::StatusOr<int64_t> Spent(const std::string& org, absl::Time now) const;
  int64_t limit() const { return limit_; }

 private:
  static std::string Month(absl::Time now);
  const int64_t limit_;
  storage::UsageStore* const store_;
  mutable std::mutex mu_;
  std::map<std::pair<std::string, std::string>, int64_t> spent_;  // (org, "YYYY-MM") → tokens
};

}  // namespace edgevault::api
