#pragma once
// Stale flags (docs/api.md "Stale flags"), computed exactly from the flags and their
// revision history, no model and no sampling:
//  - "serving_one_variation": a temporary flag (lifecycle absent or "temporary") whose every
//    environment configuration serves one variation to everyone (off; or on with no
//    prerequisite and every target, rule and rollout with weight > 0 on the same variation
//    as the fallthrough), continuously for at least `days` days: since the revision that
//    last made it so, by the history's timestamps;
//  - "past_remove_after": a temporary flag whose remove_after date has passed;
//  - "not_evaluated": a temporary flag that existed `days` days ago (days >= 1) and has no
//    evaluation recorded since (by delivery's usage counts, docs/design/usage.md).
// A permanent flag is never reported. A flag configured in no environment is not reported
// as serving one variation (it serves nothing).
//
// Thread-safety: the pure functions are thread-safe; FindStaleFlags reads through the
// Service (thread-safe).
//
//   EV_ASSIGN_OR_RETURN(std::vector<StaleFlag> stale, FindStaleFlags(service, ws, env->Now(), 30));

#include <map>
#include <optional>
#include <string>
#include <vector>

#include <boost/json.hpp>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "src/workspace/service.h"

namespace edgevault::workspace {

// The one variation each configured environment serves to everyone (environment → variation
// index, -1 for "off with no off_variation": the caller's default), or nullopt when some
// environment can serve two (or the body is not a flag body).
std::optional<std::map<std::string, int64_t>> SingleVariationPerEnvironment(const boost::json::object& flag);

struct StaleFlag {
  std::string key;
  std::string reason;  // "serving_one_variation" | "past_remove_after" | "not_evaluated"
  boost::json::object evidence;
};

// One flag's body at a revision (nullopt: deleted by it).
struct FlagVersion {
  int64_t seq = 0;
  absl::Time time;
  std::optional<boost::json::object> body;
};

// The pure core: `flags` are the current bodies by key, `history` each flag's versions in
// ascending seq order (the current body is the last). `days` ≥ 0. Sorted by key, then reason.
std::vector<StaleFlag> StaleFlagsOf(const std::map<std::string, boost::json::object>& flags,
                                    const std::map<std::string, std::vector<FlagVersion>>& history, absl::Time now,
                                    int64_t days);

// "not_evaluated" findings: `created` is each flag's creation time, `last_evaluated` the
// Unix minute of each flag's last recorded evaluation (absent: none recorded). Nothing
// when days < 1. Sorted by key.
std::vector<StaleFlag> NotEvaluatedFlagsOf(const std::map<std::string, boost::json::object>& flags,
                                           const std::map<std::string, absl::Time>& created,
                                           const std::map<std::string, int64_t>& last_evaluated, absl::Time now,
                                           int64_t days);

// Reads the workspace's flags and its revision history (every page) and applies
// StaleFlagsOf, plus NotEvaluatedFlagsOf when `last_evaluated` is given. Errors: the store's.
absl::StatusOr<std::vector<StaleFlag>> FindStaleFlags(Service& service, const storage::Workspace& ws,
                                                      absl::Time now, int64_t days,
                                                      const std::map<std::string, int64_t>* last_evaluated = nullptr);

}  // namespace edgevault::workspace
