#pragma once
// The flag and segment model: JSON validation (write time, strict) and compilation of
// one environment's flag configuration into immutable structures the evaluator walks
// without re-parsing (regexes compiled, numbers/times/semvers parsed, targets hashed).
// The JSON shape and every rule checked here are specified in docs/design/flags.md.
// Thread-safety: compiled structures are immutable and safe to share across threads.
//
//   absl::Status s = ValidateFlag(flag_json);     // on write: every environment, strict
//   absl::StatusOr<CompiledFlag> f = ParseFlagEnvironment("new-ui", flag_json, "prod");

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include <boost/json.hpp>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "src/eval/context.h"
#include "src/eval/semver.h"

namespace re2 {
class RE2;
}

namespace edgevault::eval {

// Hash maps keyed by std::string that can be probed with a std::string_view.
struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};
template <typename V>
using StringMap = std::unordered_map<std::string, V, StringHash, std::equal_to<>>;
using StringSet = std::unordered_set<std::string, StringHash, std::equal_to<>>;

enum class Op {
  kIn,
  kStartsWith,
  kEndsWith,
  kContains,
  kMatches,
  kLt,
  kLte,
  kGt,
  kGte,
  kBefore,
  kAfter,
  kSemverEq,
  kSemverLt,
  kSemverGt,
  kSegmentMatch,
};

// "in", "starts_with", ... ; nullopt for an unknown name.
std::optional<Op> ParseOp(std::string_view name);
std::string_view OpName(Op op);

// A clause with its values pre-parsed for its operator; only the vector(s) that belong
// to `op` are filled.
struct CompiledClause {
  AttributeRef attribute;  // unused (may be empty) for segment_match
  // The attribute's slot in its FlagSet (FlagSet::Build / FromCompiled number every distinct
  // attribute text of the set, up to kMaxAttributeSlots): one evaluation looks each slot up
  // in the context once and parses its number, time or semver once. -1 = not numbered.
  int slot = -1;
  Op op = Op::kIn;
  bool negate = false;
  // kIn: string values in a hash set, every other value (numbers, bools, objects, arrays)
  // in `in_others`.
  StringSet in_strings;
  std::vector<boost::json::value> in_others;
  // kStartsWith, kEndsWith, kContains, kSegmentMatch (segment keys).
  std::vector<std::string> strings;
  std::vector<std::shared_ptr<const re2::RE2>> regexes;  // kMatches
  std::vector<double> numbers;                           // kLt .. kGte
  std::vector<absl::Time> times;                         // kBefore, kAfter
  std::vector<Semver> semvers;                           // kSemver*
};

struct WeightedVariation {
  int variation = 0;
  int weight = 0;  // out of 100000
};

struct Rollout {
  std::vector<WeightedVariation> variations;  // never empty
  std::optional<AttributeRef> bucket_by;      // nullopt: the targeting key
  std::optional<int64_t> seed;
};

// A rule's or the fallthrough's outcome: a fixed variation, or a percentage rollout.
struct VariationOrRollout {
  int variation = -1;              // >= 0 when fixed
  std::optional<Rollout> rollout;  // set when a rollout
};

struct CompiledRule {
  std::string id;  // may be empty
  std::vector<CompiledClause> clauses;
  VariationOrRollout outcome;
};

struct Prerequisite {
  std::string flag;
  int variation = 0;
};

// One environment's configuration of one flag, ready to evaluate.
struct CompiledFlag {
  std::string key;
  std::string salt;  // defaults to the flag key
  std::vector<boost::json::value> variations;
  bool on = false;
  std::optional<int> off_variation;
  StringMap<int> targets;  // context key -> variation; the first target listing a key wins
  std::vector<CompiledRule> rules;
  VariationOrRollout fallthrough;
  std::vector<Prerequisite> prerequisites;
};

struct CompiledSegmentRule {
  std::string id;
  std::vector<CompiledClause> clauses;
};

struct CompiledSegment {
  std::string key;
  StringSet included;
  StringSet excluded;
  std::vector<CompiledSegmentRule> rules;
};

// Compiles environment `env` of `flag` (the item's JSON). Unknown fields are ignored and
// rollout weights need not sum to 100000 (the evaluator then gives the remainder to the
// last variation), so documents written by newer or older versions still load.
// Errors: NotFound when the flag has no environment `env`; InvalidArgument with a JSON
// path ("environments.prod.rules[2].clauses[0].op: unknown operator \"eq\"") for a
// missing field, wrong type, variation index out of range, unknown operator, bad regex,
// bad number/time/semver value, negative weight, or empty rollout.
absl::StatusOr<CompiledFlag> ParseFlagEnvironment(std::string_view flag_key,
                                                  const boost::json::object& flag,
                                                  std::string_view env);

// Write-time validation of a flag item over every environment: everything
// ParseFlagEnvironment checks, plus unknown fields in nested objects, weights summing to
// exactly 100000, all variations of one JSON type, a context key targeted twice, and a
// prerequisite listed twice. Cross-flag checks (prerequisite cycles,
// prerequisite variation ranges, segment nesting) need the whole set: FlagSet::Build.
// Errors: InvalidArgument with a JSON path.
absl::Status ValidateFlag(const boost::json::object& flag);

// Compiles a segment: {included?: [keys], excluded?: [keys], rules?: [{id?, clauses}]}.
// Errors: InvalidArgument with a JSON path.
absl::StatusOr<CompiledSegment> ParseSegment(std::string_view segment_key,
                                             const boost::json::object& segment);

// Write-time validation of a segment (ParseSegment plus unknown nested fields).
// Nesting (segment_match inside a segment is allowed one level deep) needs all segments:
// FlagSet::Build checks it. Errors: InvalidArgument with a JSON path.
absl::Status ValidateSegment(const boost::json::object& segment);

// Rejects a cycle in the prerequisite graph (flag -> the flags it requires). Edges to
// flags that are not keys of `deps` are leaves. Errors: InvalidArgument
// "prerequisite cycle: a → b → a" naming the first cycle found (keys in map order).
absl::Status CheckPrerequisiteCycles(const std::map<std::string, std::vector<std::string>>& deps);

}  // namespace edgevault::eval
