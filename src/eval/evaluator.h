#pragma once
// The flag evaluator: an immutable FlagSet (one environment's compiled flags and
// segments, built once per published document) and Evaluate(), a pure function of
// (FlagSet, flag key, context): no I/O, no clock, no randomness, no allocation on the
// common path. A FlagSet is immutable: share it across threads as
// std::shared_ptr<const FlagSet>; Evaluate() may run concurrently on one set.
//
//   EV_ASSIGN_OR_RETURN(std::shared_ptr<const FlagSet> set,
//                       FlagSet::Build(flags_json, segments_json, "prod"));
//   EvalResult r = Evaluate(*set, "new-checkout", context, ValueType::kBool);
//   if (r.reason == kReasonError) { /* r.error_code, r.error_message; use the default */ }
//   else if (r.value != nullptr) { /* *r.value is the variation's value */ }
//
// Semantics (reasons, bucketing, prerequisites): docs/design/flags.md.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json.hpp>

#include "absl/status/statusor.h"
#include "src/eval/context.h"
#include "src/eval/model.h"

namespace edgevault::eval {

// Reasons (OpenFeature's names, plus LaunchDarkly's PREREQUISITE_FAILED).
inline constexpr std::string_view kReasonTargetingMatch = "TARGETING_MATCH";
inline constexpr std::string_view kReasonSplit = "SPLIT";
inline constexpr std::string_view kReasonDefault = "DEFAULT";
inline constexpr std::string_view kReasonDisabled = "DISABLED";
inline constexpr std::string_view kReasonStatic = "STATIC";
inline constexpr std::string_view kReasonPrerequisiteFailed = "PREREQUISITE_FAILED";
inline constexpr std::string_view kReasonError = "ERROR";

// Error codes (OpenFeature's names) set when reason == kReasonError.
inline constexpr std::string_view kErrorFlagNotFound = "FLAG_NOT_FOUND";
inline constexpr std::string_view kErrorTypeMismatch = "TYPE_MISMATCH";
inline constexpr std::string_view kErrorTargetingKeyMissing = "TARGETING_KEY_MISSING";
inline constexpr std::string_view kErrorGeneral = "GENERAL";

// The type a caller expects; a variation of another type gives ERROR/TYPE_MISMATCH.
enum class ValueType {
  kAny,
  kBool,
  kString,
  kInteger,  // a number with no fractional part
  kNumber,   // any number
  kObject,   // a JSON object or array (OpenFeature "structure")
};

struct EvalResult {
  // Variation index, or -1 when there is none (error; flag off or prerequisite failed
  // without an off variation): the caller then uses its default value.
  int variation = -1;
  // The variation's value, or nullptr with variation == -1. Points into the FlagSet.
  const boost::json::value* value = nullptr;
  std::string_view reason;  // one of kReason*
  int rule_index = -1;      // index of the matching rule, else -1
  std::string_view rule_id;  // that rule's id (may be empty); points into the FlagSet
  std::string_view error_code;  // one of kError* when reason == kReasonError
  std::string error_message;    // human-readable detail for errors
  std::string_view failed_prerequisite;  // with kReasonPrerequisiteFailed: which flag
  bool in_experiment = false;  // the variation came from a percentage rollout (SPLIT)
};

class FlagSet {
 public:
  // Compiles every flag's environment `env` (flags without it are absent from the set:
  // FLAG_NOT_FOUND) and every segment, then checks what needs the whole set:
  // prerequisite cycles, prerequisite variation indexes within the required flag's
  // variations, and segment_match nested more than one level inside segments.
  // Errors: InvalidArgument naming the flag or segment and the JSON path; a flag or
  // segment that is not a JSON object is InvalidArgument too.
  static absl::StatusOr<std::shared_ptr<const FlagSet>> Build(
      const boost::json::object& flags_by_key, const boost::json::object& segments_by_key,
      std::string_view env);

  // Assembles a set from compiled parts WITHOUT Build's cross-flag checks (for tests and
  // for SDKs that trust their server). Evaluation stays safe: runtime guards turn a
  // prerequisite cycle or an over-deep chain into ERROR. A later duplicate key is dropped.
  static std::shared_ptr<const FlagSet> FromCompiled(std::vector<CompiledFlag> flags,
                                                     std::vector<CompiledSegment> segments);

  const CompiledFlag* FindFlag(std::string_view key) const;
  const CompiledSegment* FindSegment(std::string_view key) const;
  size_t flag_count() const { return flags_.size(); }
  size_t segment_count() const { return segments_.size(); }
  // Distinct attributes the set's clauses name that got a slot (CompiledClause::slot).
  int attribute_slots() const { return attribute_slots_; }

 private:
  FlagSet() = default;
  // Numbers the clauses' attributes: equal texts share a slot; past kMaxAttributeSlots
  // distinct texts, clauses keep slot -1 (looked up every time, still correct).
  void AssignAttributeSlots();
  int attribute_slots_ = 0;
  StringMap<CompiledFlag> flags_;
  StringMap<CompiledSegment> segments_;
};

// Evaluates `flag_key` for `context`. Never fails: problems are results with reason
// ERROR (FLAG_NOT_FOUND, TYPE_MISMATCH, TARGETING_KEY_MISSING, GENERAL for a prerequisite
// chain deeper than kMaxPrerequisiteDepth or a cycle). The result may point into `set`.
EvalResult Evaluate(const FlagSet& set, std::string_view flag_key, const Context& context,
                    ValueType expected = ValueType::kAny);

// The result for a config item (not a flag): reason STATIC, variation -1.
EvalResult StaticResult(const boost::json::value& value);

inline constexpr int kMaxPrerequisiteDepth = 32;
// Attributes per FlagSet whose lookups and parses an evaluation memoizes (one bit each).
inline constexpr int kMaxAttributeSlots = 64;

// The rollout bucket in [0, 1]: the first 15 hex digits of
// sha1(flag_key + "." + salt + "." + value), or of sha1(seed + "." + value) when a seed
// is given, as an integer divided by 0xFFFFFFFFFFFFFFF (LaunchDarkly's scheme).
double Bucket(std::string_view flag_key, std::string_view salt, std::string_view value,
              std::optional<int64_t> seed);

}  // namespace edgevault::eval
