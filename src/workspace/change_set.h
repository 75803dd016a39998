#pragma once
// Change sets: the exact item changes a change request applies (docs/design/promotions.md
// §1–§2), how a promotion computes them from a source to a target environment, and their
// validation against a workspace. Pure functions over stored, normalised bodies; no I/O,
// no key handling (a secret change is a reference to a sealed value, opened and re-sealed
// only by Service::ApplyChangeSet). Thread-safe.
//
//   EV_ASSIGN_OR_RETURN(ChangeSetInput in, service.ReadChangeSetInput(ws));
//   EV_ASSIGN_OR_RETURN(PlannedChangeSet plan,
//                       ComputePromotion({.from = "staging", .to = "prod"}, in));
//   // plan.changes: one PlannedChange per item; plan.environments: touched by effect.

#include <boost/json.hpp>
#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "src/storage/workspace_store.h"
#include "src/workspace/model.h"

namespace edgevault::workspace {

// One item's change. `expected_revision` is the item's revision when the change was
// planned (0 = the item did not exist); apply refuses when it moved.
struct PlannedChange {
  storage::ItemKind kind = storage::ItemKind::kConfig;
  std::string key;
  int64_t expected_revision = 0;
  std::string environment;  // the environment whose value changes
  // Configs and flags: the whole new normalised body (JSON text).
  std::optional<std::string> body;
  // Secrets: copy the sealed value set in `secret_from` at envelope version
  // `secret_version` into `environment`.
  std::string secret_from;
  int64_t secret_version = 0;
  // A revert restores a value the item no longer holds: the sealed value is the one
  // `secret_from` had in the `before` of revision `secret_from_revision` (0: in the
  // item's current body).
  int64_t secret_from_revision = 0;
  // Secrets: remove `environment`'s own value instead (a revert to "no value").
  bool secret_remove = false;
  // Secrets: the value proposed by a change request (type "change"): the id of its sealed
  // proposal (docs/design/promotions.md §2b), opened only by Service::ApplyChangeSet.
  std::string secret_proposal;
  // Deletes the item (`body` is then empty, `environment` "").
  bool delete_item = false;
  // For display: the target's value / configuration before and after (configs, flags).
  boost::json::value before;
  boost::json::value after;
};

// The stored state a change set is planned against (read in one consistent step).
struct ChangeSetInput {
  int64_t head = 0;
  EnvironmentSet envs;
  std::vector<storage::Item> configs;
  std::vector<storage::Item> flags;
  std::vector<storage::Item> secrets;
  std::vector<storage::Item> segments;
};

struct PromotionRequest {
  std::string from;
  std::string to;
  // Exact items to consider (a key without a kind: every kind that has it); empty =
  // every item of `kinds`.
  std::vector<std::pair<std::optional<storage::ItemKind>, std::string>> items;
  // Kinds to consider (config, flag, secret); empty = all three. Both filters apply.
  std::set<storage::ItemKind> kinds;
};

struct PlannedChangeSet {
  std::vector<PlannedChange> changes;
  std::set<std::string> environments;  // touched by effect (effect.h)
};

// Parses {from, to, items?: [{kind?, key}], kinds?: [...]} (other members of `body` are
// ignored: the caller checks unknown fields). InvalidArgument naming the field.
absl::StatusOr<PromotionRequest> ParsePromotionRequest(const boost::json::object& body);
boost::json::object PromotionRequestToJson(const PromotionRequest& r);

// The diff of §2, validated (ValidateChanges). Errors: InvalidArgument for an unknown
// environment, from == to, an unknown item or kind, or a change that does not validate
// (naming the item); FailedPrecondition with error code "nothing_to_promote" when
// nothing differs.
absl::StatusOr<PlannedChangeSet> ComputePromotion(const PromotionRequest& request,
                                                  const ChangeSetInput& in);

// The changes that undo an applied change set, given the revisions it wrote: each
// item's part for the revision's environment (a config's value, a flag's configuration,
// a secret's value) goes back to what it was before, the rest of the item stays as it is
// now. InvalidArgument naming an item deleted since, or a change that does not validate;
// FailedPrecondition "nothing_to_promote" when everything is already as before.
absl::StatusOr<PlannedChangeSet> ComputeRevert(const std::vector<storage::Revision>& applied,
                                               const ChangeSetInput& in);

// The diff of proposed changes (docs/design/promotions.md §2b), validated. `entries` are
// in their stored form: a secret's value is null or {"sealed": "<proposal id>"} (the caller
// seals plaintext first). Each entry applies on top of the previous ones; entries that
// change nothing are dropped. Errors: InvalidArgument naming the entry (`changes[2]: ...`)
// or the item; FailedPrecondition with error code "nothing_to_change" when nothing differs.
// At most this many entries in one proposal (a change request), and in one batch
// (POST .../batch, ChangeRequests::Batch: an import of a whole file).
inline constexpr size_t kMaxProposedChanges = 100;
inline constexpr size_t kMaxBatchChanges = 2000;
absl::StatusOr<PlannedChangeSet> ComputeProposal(const boost::json::array& entries, const ChangeSetInput& in,
                                                 size_t max_entries = kMaxProposedChanges);

// Validates every config, flag and segment body of `changes` as a write would, against
// `envs` and the workspace's flags and segments after all the changes (`flags_now`,
// `segments_now`: every stored one by key, before the changes). A change of one item
// after another of it replaces it; a deleted flag or segment leaves the sets.
// InvalidArgument `config "db.port": values.prod: ...` / `flag "a": ...`.
absl::Status ValidateChanges(const std::vector<PlannedChange>& changes, const EnvironmentSet& envs,
                             const boost::json::object& flags_now, const boost::json::object& segments_now);

// `envs` with the environments of a batch's "environments" added in order (each may
// name an earlier one as its parent), each validated as POST .../environments validates a
// new one, except that "policy" is refused (a policy is set after, with PUT …/policy: it
// would govern the very batch that creates it). InvalidArgument / AlreadyExists naming
// the entry (`environments[1]: ...`). `created` (optional) gets them, parsed.
inline constexpr size_t kMaxBatchEnvironments = 100;
absl::StatusOr<EnvironmentSet> WithNewEnvironments(const EnvironmentSet& envs,
                                                   const std::vector<boost::json::object>& bodies,
                                                   std::vector<Environment>* created = nullptr);

// JSON of a change for storage and display; secrets carry only the source reference.
boost::json::object PlannedChangeToJson(const PlannedChange& c);
// InvalidArgument for a body that is not one of PlannedChangeToJson's.
absl::StatusOr<PlannedChange> PlannedChangeFromJson(const boost::json::value& v);

}  // namespace edgevault::workspace
