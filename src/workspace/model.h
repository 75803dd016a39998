#pragma once
// The workspace domain model: the JSON bodies of environments, configs, flags and segments
// as the workspace store holds them (docs/design/items.md), their write-time validation,
// and EnvironmentSet, the inheritance tree of a workspace's environments.
// Validation is strict (unknown fields are errors) and returns the normalised body to
// store; every error is InvalidArgument (AlreadyExists for a duplicate environment) with
// the JSON path of the offending field, e.g. `values.staging: unknown environment "staging"`.
// Pure functions and immutable values: thread-safe.
//
//   EV_ASSIGN_OR_RETURN(EnvironmentSet envs, EnvironmentSet::FromItems(env_items));
//   EV_ASSIGN_OR_RETURN(boost::json::object body, ValidateConfigBody("db.pool", request, envs));
//   mutation.body = boost::json::serialize(body);

#include <boost/json.hpp>
#include <cstddef>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "src/storage/workspace_store.h"

namespace edgevault::workspace {

// ---- keys ----

// Every key (environment, config, flag, segment) matches this rule: 1 to 64 characters,
// lower-case ASCII letters, digits, '.', '_' and '-', starting with a letter or digit.
inline constexpr std::string_view kKeyRule = "^[a-z0-9][a-z0-9._-]{0,63}$";
inline constexpr size_t kMaxKeyLength = 64;

bool IsValidKey(std::string_view key);
// InvalidArgument `<what> "Key!": must match ^[a-z0-9][a-z0-9._-]{0,63}$ (lower-case
// letters, digits, '.', '_', '-'; at most 64 characters)`.
absl::Status ValidateKey(std::string_view key, std::string_view what);

// Flag keys also allow upper-case letters (LaunchDarkly's key alphabet): the key is part
// of the rollout hash (eval::Bucket), so a flag imported from LaunchDarkly keeps its key
// exactly, or every context would move to another bucket. Keys are case-sensitive
// everywhere (store, documents, OFREP, SDKs); two flags whose keys differ only in case are
// refused (FoldedFlagKeyConflict), so "newCheckout" and "newcheckout" never coexist.
inline constexpr std::string_view kFlagKeyRule = "^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$";
bool IsValidFlagKey(std::string_view key);
// InvalidArgument `flag key "a b": must match ^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$ (...)`.
absl::Status ValidateFlagKey(std::string_view key, std::string_view what = "flag key");
// ValidateFlagKey for flags, ValidateKey for every other kind.
absl::Status ValidateItemKey(storage::ItemKind kind, std::string_view key, std::string_view what);
// The key `key` would collide with: the first of `existing` (other than `key` itself)
// that equals it ignoring ASCII case; nullopt when none does.
std::optional<std::string> FoldedKeyConflict(std::string_view key,
                                             const std::vector<std::string>& existing);

// Parses JSON text that must be an object. InvalidArgument naming `what` otherwise.
absl::StatusOr<boost::json::object> ParseObject(std::string_view json_text, std::string_view what);

// ---- environments ----

// An environment's change-request policy (docs/design/promotions.md §4):
// {"required_approvals": 0..10, "approver_roles": ["developer"|"admin"|"owner", ...],
//  "change_requests_required": bool, "leak_scan"?: "off"|"warn"|"block"}.
struct EnvironmentPolicy {
  int required_approvals = 0;
  std::vector<std::string> approver_roles = {"admin", "owner"};  // sorted, distinct
  bool change_requests_required = false;
  // Secret-leak scanning of config and flag writes touching this environment
  // (docs/secret-scanning.md): "off", "warn" or "block"; unset = "warn".
  std::optional<std::string> leak_scan;
};
inline constexpr int kMaxRequiredApprovals = 10;
// Strict parse (unknown fields, ranges, role names); errors are InvalidArgument naming
// the field, e.g. `policy.required_approvals: must be an integer from 0 to 10`.
absl::StatusOr<EnvironmentPolicy> ParsePolicy(const boost::json::value& v);
boost::json::object PolicyToJson(const EnvironmentPolicy& p);

// Body: {"key": "staging", "name": "Staging", "parent": "production" | null,
//        "protected": false, "policy"?: {...EnvironmentPolicy}}
struct Environment {
  std::string key;
  std::string name;
  std::string parent;  // "" = no parent (a root)
  bool is_protected = false;
  std::optional<EnvironmentPolicy> policy;  // absent: no approvals, direct writes allowed
};

inline constexpr size_t kMaxEnvironmentNameLength = 100;  // code points

// Strict parse of an environment body: key (required, key rule), name (optional string of
// 1..100 characters, defaults to the key), parent (optional key or null), protected
// (optional bool, default false); unknown fields rejected. Errors: InvalidArgument.
absl::StatusOr<Environment> ParseEnvironmentBody(const boost::json::object& body);
// The normalised body: {"key","name","parent","protected","policy"?} in that order.
boost::json::object EnvironmentToJson(const Environment& env);
// Applies a change {"name"?, "parent"?, "protected"?} to the stored body of an existing
// environment; every other member of `stored` is kept as it is. The key cannot change.
// Returns the new body (validated as ParseEnvironmentBody does; whether the parent exists
// and makes no cycle is EnvironmentSet::ValidateEnvironmentUpdate's job).
// Errors: InvalidArgument naming the field: `key: an environment's key cannot change ...`,
// a parent that is neither a key nor null, an unknown field, a name that is not 1..100
// characters or is blank, `protected` not a boolean.
absl::StatusOr<boost::json::object> PatchEnvironmentBody(const boost::json::object& stored,
                                                         const boost::json::object& change);

// A workspace's environments and their inheritance (child → parent). Immutable once built.
class EnvironmentSet {
 public:
  EnvironmentSet() = default;

  // From the store's environment items (kind kEnvironment). Errors: InvalidArgument for a
  // body that does not parse, a body whose key differs from the item key, a parent that
  // does not exist, or a parent cycle.
  static absl::StatusOr<EnvironmentSet> FromItems(const std::vector<storage::Item>& items);
  // Same checks over parsed environments.
  static absl::StatusOr<EnvironmentSet> FromEnvironments(std::vector<Environment> envs);

  const Environment* Find(std::string_view key) const;  // nullptr when unknown
  bool Contains(std::string_view key) const { return Find(key) != nullptr; }
  size_t size() const { return envs_.size(); }
  std::vector<std::string> Keys() const;  // sorted

  // [env, parent, grandparent, ...] up to the root; empty when env is unknown.
  std::vector<std::string> AncestorChain(std::string_view env) const;
  // env followed by every environment inheriting from it, transitively, parents before
  // their children (breadth-first, siblings by key); empty when env is unknown.
  std::vector<std::string> Descendants(std::string_view env) const;
  // The direct children of env, sorted.
  std::vector<std::string> Children(std::string_view env) const;

  // Validates the body of a new environment against this set. Errors: InvalidArgument
  // (body, unknown parent, parent == key), AlreadyExists (key taken).
  absl::StatusOr<Environment> ValidateNewEnvironment(const boost::json::object& body) const;
  // Validates a changed body of an existing environment (name, parent, protected).
  // Errors: NotFound (key unknown), InvalidArgument (body, unknown parent, a parent that
  // is the environment itself or one of its descendants: a cycle).
  absl::StatusOr<Environment> ValidateEnvironmentUpdate(const boost::json::object& body) const;

  // A copy with `env` added or replaced (no checks: validate first).
  EnvironmentSet With(Environment env) const;

 private:
  std::map<std::string, Environment, std::less<>> envs_;
};

// ---- configs ----

// Body: {"type": "string"|"integer"|"number"|"boolean"|"json", "description"?: string,
//        "schema": object|null, "values": {"<env>": value}}
inline constexpr size_t kMaxValueBytes = 64 * 1024;  // one value, serialised

// `request` is the PUT body without "reason". Checks the key, unknown fields, type,
// description, schema (compiled: json_schema.h), and each value: its environment exists,
// it has the config's type (integer: an integral number within int64; 5.0 is stored as 5),
// it satisfies the schema, and it serialises to at most kMaxValueBytes.
// Returns the normalised body: {"type", "description"?, "schema", "values" (sorted)}.
// Errors: InvalidArgument, e.g. `values.staging: unknown environment "staging"`,
// `values.prod: larger than 65536 bytes`, `values.prod: /port: 70000 is greater than the
// maximum 65535`.
absl::StatusOr<boost::json::object> ValidateConfigBody(std::string_view key,
                                                       const boost::json::object& request,
                                                       const EnvironmentSet& envs);

// ---- flags ----

// Body: the flag JSON of docs/design/flags.md ({"salt"?, "variations", "environments"})
// plus optional "description" (string) and lifecycle fields (docs/design/items.md):
// "lifecycle" ("temporary" | "permanent"; absent = temporary), "owner" (non-blank string),
// "remove_after" ("YYYY-MM-DD", not on a permanent flag); other top-level fields are
// rejected. The lifecycle fields are the flag's shared part: they never reach a resolved
// document.
// `all_flags_after_change` maps every flag key of the workspace to its body after the
// change; the entry for `key` is replaced by the request (added when missing), so the
// caller may pass the current bodies. Checks: key, eval::ValidateFlag, every key of
// "environments" is an environment, then ValidateFlagSet over the changed set.
// Returns the normalised body: {"description"?, "lifecycle"?, "owner"?, "remove_after"?,
// "salt"?, "variations", "environments" (sorted)}. Errors: InvalidArgument.
absl::StatusOr<boost::json::object> ValidateFlagBody(
    std::string_view key, const boost::json::object& request, const EnvironmentSet& envs,
    const boost::json::object& all_flags_after_change);
// ValidateFlagBody without the set check: the request itself, and that each of its own
// prerequisites is `key` or in `all_flags_after_change` (same messages). For callers that
// validate several flags at once (change_set.h ValidateChanges, a batch): they check
// each body with this and then ValidateFlagSet ONCE over the set all the changes leave,
// so the cost grows with the number of flags, not with its square.
absl::StatusOr<boost::json::object> ValidateFlagItself(
    std::string_view key, const boost::json::object& request, const EnvironmentSet& envs,
    const boost::json::object& all_flags_after_change);

// Where ValidateFlagWrite / ValidateFlagDelete read the workspace's other flags: their
// stored bodies before the change (the caller implements it over its store; used on one
// thread during one call).
class FlagLookup {
 public:
  virtual ~FlagLookup() = default;
  // The stored body of flag `key`; nullopt when there is no such flag. Errors: the store's.
  virtual absl::StatusOr<std::optional<boost::json::object>> Find(std::string_view key) = 0;
  // Every stored flag by key (the slow path). Errors: the store's.
  virtual absl::StatusOr<boost::json::object> All() = 0;
  // Every stored flag's key (checked when a flag is created: FoldedKeyConflict). The
  // default reads All(). Errors: the store's.
  virtual absl::StatusOr<std::vector<std::string>> Keys();
};

// ValidateFlagBody for the write path: the same result and the same error messages,
// provided the stored flags were valid as a set before the change (every write path
// keeps that true), at a cost that does not grow with the number of flags. It checks
// the request itself, then only what the change can break: its own prerequisites
// (exist, variation in range in every environment), cycles through `key` (a walk of
// the prerequisites reachable from it), and — only when the flag existed and now has
// fewer variations or is configured in more environments — the flags that require it
// (a scan of the stored bodies, no compilation). Whenever one of these finds a problem
// the full ValidateFlagBody over lookup.All() runs, so the error is the one it gives.
// Errors: InvalidArgument; the lookup's errors.
absl::StatusOr<boost::json::object> ValidateFlagWrite(std::string_view key,
                                                      const boost::json::object& request,
                                                      const EnvironmentSet& envs,
                                                      FlagLookup& lookup);

// ValidateFlagSet over the stored flags without `key`, cheaply: when no stored flag names
// `key` as a prerequisite the result is OK without compiling anything; otherwise the full
// ValidateFlagSet runs (and gives its error). Same precondition as ValidateFlagWrite.
// Errors: InvalidArgument; the lookup's errors.
absl::Status ValidateFlagDelete(std::string_view key, const EnvironmentSet& envs,
                                FlagLookup& lookup);

// The checks that need every flag (also run when a flag is deleted): every prerequisite
// names a flag of the set (`flag "a": environments.prod.prerequisites[0].flag: unknown
// flag "gone"`), the prerequisite graph over all environments is acyclic
// (eval::CheckPrerequisiteCycles: `prerequisite cycle: a → b → a`), and
// eval::FlagSet::Build succeeds on the resolved flags of every environment
// (`environment "dev": flag "a": ...`). Errors: InvalidArgument.
absl::Status ValidateFlagSet(const boost::json::object& all_flags, const EnvironmentSet& envs);

// A flag as one environment sees it: its variations and the nearest non-null
// configuration along `chain` (the environment, then its ancestors). Both null when the
// flag has no such configuration (it is then left out of the environment's document).
struct FlagInEnvironment {
  const boost::json::value* variations = nullptr;
  const boost::json::value* config = nullptr;
};
FlagInEnvironment FlagConfigFor(const boost::json::object& flag,
                                const std::vector<std::string>& chain);

// The flags as environment `env` sees them: for each flag (sorted by key) that has a
// configuration in env or an ancestor, {"salt"?, "variations", "environments": {env:
// the nearest configuration}}. Flags without one are left out. Entries that are not
// objects or lack the fields are skipped (stored bodies were validated on write).
boost::json::object ResolveFlagsForEnvironment(const boost::json::object& flags_by_key,
                                               const EnvironmentSet& envs, std::string_view env);

// A calendar date "YYYY-MM-DD" as the UTC midnight starting it; nullopt for anything else
// (also for dates that do not exist, such as 2026-02-30).
std::optional<absl::Time> ParseCalendarDate(std::string_view text);

// ---- segments ----

// Body: {"description"?: string, "included": [context keys], "excluded": [context keys],
//        "rules": [{"id"?, "description"?, "clauses": [...]}]} — one definition for every
// environment. `all_segments_after_change` as for flags (the entry for `key` is
// replaced). Checks: key, unknown top-level fields, eval::ValidateSegment, and segment
// nesting (FlagSet::Build over all segments). Returns the normalised body
// {"description"?, "included", "excluded", "rules"} (absent lists become []).
// Errors: InvalidArgument.
absl::StatusOr<boost::json::object> ValidateSegmentBody(
    std::string_view key, const boost::json::object& request,
    const boost::json::object& all_segments_after_change);
// ValidateSegmentBody without the nesting check, which ValidateSegmentSet then makes once
// over every segment (as ValidateFlagItself / ValidateFlagSet for several changes).
absl::StatusOr<boost::json::object> ValidateSegmentItself(std::string_view key,
                                                         const boost::json::object& request);
// Segment nesting over a whole set (segment_match of unknown segments, cycles, depth):
// FlagSet::Build over `all_segments`. Errors: InvalidArgument.
absl::Status ValidateSegmentSet(const boost::json::object& all_segments);

// ---- helpers for callers ----

// The environments an item body names explicitly: a config's "values" keys, a flag's
// "environments" keys; empty for segments and environments (they apply everywhere).
std::set<std::string> EnvironmentsNamed(storage::ItemKind kind, const boost::json::object& body);

}  // namespace edgevault::workspace
