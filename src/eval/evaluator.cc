#include "src/eval/evaluator.h"

#include <charconv>
#include <map>

#include <openssl/evp.h>
#include <re2/re2.h>

#include "src/base/status.h"
#include "src/eval/values.h"

namespace edgevault::eval {

namespace {

using boost::json::value;

constexpr double kWeightTotal = 100000.0;
// segment_match may appear in a flag rule (depth 0) and inside a segment's rules
// (depth 1); a segment referenced from there may not use it again (depth 2).
constexpr int kMaxSegmentDepth = 2;

EvalResult VariationResult(const CompiledFlag& f, int variation, std::string_view reason) {
  EvalResult r;
  r.variation = variation;
  r.value = &f.variations[static_cast<size_t>(variation)];
  r.reason = reason;
  return r;
}

EvalResult OffResult(const CompiledFlag& f, std::string_view reason) {
  if (f.off_variation) return VariationResult(f, *f.off_variation, reason);
  EvalResult r;
  r.reason = reason;
  return r;
}

EvalResult ErrorResult(std::string_view code, std::string message) {
  EvalResult r;
  r.reason = kReasonError;
  r.error_code = code;
  r.error_message = std::move(message);
  return r;
}

bool TypeMatches(const value& v, ValueType expected) {
  switch (expected) {
    case ValueType::kAny:
      return true;
    case ValueType::kBool:
      return v.is_bool();
    case ValueType::kString:
      return v.is_string();
    case ValueType::kInteger:
      return IntegerValue(v).has_value() || v.is_uint64();
    case ValueType::kNumber:
      return v.is_number();
    case ValueType::kObject:
      return v.is_object() || v.is_array();
  }
  return false;
}

std::string_view TypeName(ValueType t) {
  switch (t) {
    case ValueType::kAny:
      return "any";
    case ValueType::kBool:
      return "boolean";
    case ValueType::kString:
      return "string";
    case ValueType::kInteger:
      return "integer";
    case ValueType::kNumber:
      return "number";
    case ValueType::kObject:
      return "object";
  }
  return "?";
}

// A scalar attribute's value parsed as a number, time or semver, each at most once per
// evaluation (the first Evaluation::kParsedSlots slots that need one; the rest parse every
// time). At namespace scope: clang cannot default-construct a nested class with member
// initializers inside std::optional while the enclosing class is incomplete.
struct Parsed {
  int slot = -1;
  bool number_done = false, time_done = false, semver_done = false;
  std::optional<double> number;
  std::optional<absl::Time> time;
  std::optional<Semver> semver;
};

// One evaluation: the set, the context, and the prerequisite chain being evaluated.
class Evaluation {
 public:
  Evaluation(const FlagSet& set, const Context& context) : set_(set), context_(context) {}

  EvalResult Run(const CompiledFlag& flag) {
    chain_[0] = &flag;
    // Only clauses use the memo: a flag without rules or prerequisites (the commonest kind)
    // does not pay for setting it up.
    if (flag.rules.empty() && flag.prerequisites.empty()) return Flag(flag, 0);
    Memo memo;
    memo_ = &memo;
    return Flag(flag, 0);
  }

 private:
  EvalResult Flag(const CompiledFlag& f, int depth) {
    if (!f.on) return OffResult(f, kReasonDisabled);

    for (const Prerequisite& p : f.prerequisites) {
      const CompiledFlag* pf = set_.FindFlag(p.flag);
      if (pf == nullptr) return PrerequisiteFailed(f, p);
      for (int i = 0; i <= depth; ++i) {
        if (chain_[i] == pf) return ErrorResult(kErrorGeneral, CycleMessage(i, depth, *pf));
      }
      if (depth + 1 > kMaxPrerequisiteDepth) {
        return ErrorResult(kErrorGeneral, "prerequisite chain from flag " +
                                              Quoted(chain_[0]->key) + " is deeper than " +
                                              std::to_string(kMaxPrerequisiteDepth));
      }
      chain_[depth + 1] = pf;
      EvalResult pr = Flag(*pf, depth + 1);
      if (pr.reason == kReasonError) {
        return ErrorResult(pr.error_code,
                           "prerequisite " + Quoted(pf->key) + ": " + pr.error_message);
      }
      if (!pf->on || pr.variation != p.variation) return PrerequisiteFailed(f, p);
    }

    if (!f.targets.empty()) {
      if (std::optional<std::string_view> key = context_.Key()) {
        auto it = f.targets.find(*key);
        if (it != f.targets.end()) return VariationResult(f, it->second, kReasonTargetingMatch);
      }
    }

    for (size_t i = 0; i < f.rules.size(); ++i) {
      const CompiledRule& rule = f.rules[i];
      if (!AllMatch(rule.clauses, 0)) continue;
      EvalResult r = Outcome(f, rule.outcome, kReasonTargetingMatch);
      if (r.reason != kReasonError) {
        r.rule_index = static_cast<int>(i);
        r.rule_id = rule.id;
      }
      return r;
    }
    return Outcome(f, f.fallthrough, kReasonDefault);
  }

  static EvalResult PrerequisiteFailed(const CompiledFlag& f, const Prerequisite& p) {
    EvalResult r = OffResult(f, kReasonPrerequisiteFailed);
    r.failed_prerequisite = p.flag;
    return r;
  }

  std::string CycleMessage(int from, int depth, const CompiledFlag& again) const {
    std::string out = "prerequisite cycle: ";
    for (int i = from; i <= depth; ++i) out += chain_[i]->key + " → ";
    return out + again.key;
  }

  EvalResult Outcome(const CompiledFlag& f, const VariationOrRollout& o,
                     std::string_view fixed_reason) {
    if (!o.rollout) return VariationResult(f, o.variation, fixed_reason);
    const Rollout& rollout = *o.rollout;

    double bucket = 0;  // unbucketable or missing attribute: bucket 0
    if (!rollout.bucket_by || rollout.bucket_by->IsKey()) {
      std::optional<std::string_view> key = context_.Key();
      if (!key) {
        return ErrorResult(kErrorTargetingKeyMissing,
                           "flag " + Quoted(f.key) +
                               " has a percentage rollout by targeting key and the context "
                               "has no \"key\"");
      }
      bucket = Bucket(f.key, f.salt, *key, rollout.seed);
    } else if (const value* v = context_.Find(*rollout.bucket_by)) {
      std::string scratch;
      if (std::optional<std::string_view> s = BucketableString(*v, &scratch)) {
        bucket = Bucket(f.key, f.salt, *s, rollout.seed);
      }
    }

    // Weights are out of 100000; past the total (weights summing to less), the last
    // variation takes the rest.
    int variation = rollout.variations.back().variation;
    int64_t sum = 0;
    for (const WeightedVariation& wv : rollout.variations) {
      sum += wv.weight;
      if (bucket * kWeightTotal < static_cast<double>(sum)) {
        variation = wv.variation;
        break;
      }
    }
    EvalResult r = VariationResult(f, variation, kReasonSplit);
    r.in_experiment = true;
    return r;
  }

  bool AllMatch(const std::vector<CompiledClause>& clauses, int segment_depth) {
    for (const CompiledClause& c : clauses) {
      if (!ClauseMatches(c, segment_depth)) return false;
    }
    return true;
  }

  bool ClauseMatches(const CompiledClause& c, int segment_depth) {
    if (c.op == Op::kSegmentMatch) {
      if (segment_depth >= kMaxSegmentDepth) return false;  // Build rejects this
      bool member = false;
      for (const std::string& key : c.strings) {
        const CompiledSegment* s = set_.FindSegment(key);
        if (s != nullptr && InSegment(*s, segment_depth + 1)) {
          member = true;
          break;
        }
      }
      return member != c.negate;
    }
    // A missing attribute never matches, negated or not (LaunchDarkly's rule).
    const value* v = Attribute(c);
    if (v == nullptr) return false;
    bool matched = false;
    if (const boost::json::array* elements = v->if_array()) {
      for (const value& e : *elements) {
        if (ValueMatches(c, e, nullptr)) {
          matched = true;
          break;
        }
      }
    } else {
      matched = ValueMatches(c, *v, ParsedFor(c.slot));
    }
    return matched != c.negate;
  }

  // The clause's attribute in the context, looked up once per slot per evaluation.
  const value* Attribute(const CompiledClause& c) {
    if (c.slot < 0 || memo_ == nullptr) return context_.Find(c.attribute);
    const uint64_t bit = uint64_t{1} << c.slot;
    if ((memo_->found_mask & bit) == 0) {
      memo_->found[c.slot] = context_.Find(c.attribute);
      memo_->found_mask |= bit;
    }
    return memo_->found[c.slot];
  }

  // (Parsed: see above the class.)
  static constexpr int kParsedSlots = 4;
  Parsed* ParsedFor(int slot) {
    if (slot < 0 || memo_ == nullptr) return nullptr;
    for (int i = 0; i < memo_->parsed_count; ++i) {
      if (memo_->parsed[i]->slot == slot) return &*memo_->parsed[i];
    }
    if (memo_->parsed_count == kParsedSlots) return nullptr;
    Parsed& p = memo_->parsed[memo_->parsed_count++].emplace();
    p.slot = slot;
    return &p;
  }

  bool InSegment(const CompiledSegment& s, int segment_depth) {
    if (std::optional<std::string_view> key = context_.Key()) {
      if (s.included.find(*key) != s.included.end()) return true;
      if (s.excluded.find(*key) != s.excluded.end()) return false;
    }
    for (const CompiledSegmentRule& rule : s.rules) {
      if (AllMatch(rule.clauses, segment_depth)) return true;
    }
    return false;
  }

  // `parsed` (may be null) memoizes v's typed forms across the clauses naming its slot.
  static bool ValueMatches(const CompiledClause& c, const value& v, Parsed* parsed) {
    switch (c.op) {
      case Op::kIn: {
        if (const boost::json::string* s = v.if_string()) {
          return c.in_strings.find(std::string_view(*s)) != c.in_strings.end();
        }
        for (const value& candidate : c.in_others) {
          if (JsonEqual(v, candidate)) return true;
        }
        return false;
      }
      case Op::kStartsWith:
      case Op::kEndsWith:
      case Op::kContains: {
        const boost::json::string* s = v.if_string();
        if (s == nullptr) return false;
        std::string_view text(*s);
        for (const std::string& want : c.strings) {
          if (c.op == Op::kStartsWith ? text.starts_with(want)
              : c.op == Op::kEndsWith ? text.ends_with(want)
                                      : text.find(want) != std::string_view::npos) {
            return true;
          }
        }
        return false;
      }
      case Op::kMatches: {
        const boost::json::string* s = v.if_string();
        if (s == nullptr) return false;
        re2::StringPiece text(s->data(), s->size());
        for (const auto& re : c.regexes) {
          if (RE2::PartialMatch(text, *re)) return true;
        }
        return false;
      }
      case Op::kLt:
      case Op::kLte:
      case Op::kGt:
      case Op::kGte: {
        std::optional<double> computed;
        const std::optional<double>& n = parsed == nullptr ? (computed = NumberValue(v))
                                         : parsed->number_done
                                             ? parsed->number
                                             : (parsed->number_done = true, parsed->number = NumberValue(v));
        if (!n) return false;
        for (double want : c.numbers) {
          bool hit = c.op == Op::kLt    ? *n < want
                     : c.op == Op::kLte ? *n <= want
                     : c.op == Op::kGt  ? *n > want
                                        : *n >= want;
          if (hit) return true;
        }
        return false;
      }
      case Op::kBefore:
      case Op::kAfter: {
        std::optional<absl::Time> computed;
        const std::optional<absl::Time>& t = parsed == nullptr ? (computed = TimeValue(v))
                                             : parsed->time_done
                                                 ? parsed->time
                                                 : (parsed->time_done = true, parsed->time = TimeValue(v));
        if (!t) return false;
        for (absl::Time want : c.times) {
          if (c.op == Op::kBefore ? *t < want : *t > want) return true;
        }
        return false;
      }
      case Op::kSemverEq:
      case Op::kSemverLt:
      case Op::kSemverGt: {
        const boost::json::string* s = v.if_string();
        if (s == nullptr) return false;
        std::optional<Semver> computed;
        const std::optional<Semver>& version =
            parsed == nullptr ? (computed = Semver::Parse(std::string_view(*s)))
            : parsed->semver_done ? parsed->semver
                                  : (parsed->semver_done = true, parsed->semver = Semver::Parse(std::string_view(*s)));
        if (!version) return false;
        for (const Semver& want : c.semvers) {
          int cmp = Compare(*version, want);
          if (c.op == Op::kSemverEq ? cmp == 0 : c.op == Op::kSemverLt ? cmp < 0 : cmp > 0) {
            return true;
          }
        }
        return false;
      }
      case Op::kSegmentMatch:
        return false;  // handled in ClauseMatches
    }
    return false;
  }

  const FlagSet& set_;
  const Context& context_;
  const CompiledFlag* chain_[kMaxPrerequisiteDepth + 1] = {};
  // What this evaluation has looked up and parsed (set up by Run when the flag has rules
  // or prerequisites, the only ways to reach a clause).
  struct Memo {
    uint64_t found_mask = 0;                 // slots looked up so far
    const value* found[kMaxAttributeSlots];  // valid where found_mask has the bit
    std::optional<Parsed> parsed[kParsedSlots];  // built on first use
    int parsed_count = 0;
  };
  Memo* memo_ = nullptr;
};

const EVP_MD* Sha1() {
  static const EVP_MD* md = [] {
    const EVP_MD* fetched = EVP_MD_fetch(nullptr, "SHA1", nullptr);  // kept for the process
    return fetched != nullptr ? fetched : EVP_sha1();
  }();
  return md;
}

// One digest context per thread, reused: no allocation per bucketing.
struct DigestContext {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  ~DigestContext() { EVP_MD_CTX_free(ctx); }
};

}  // namespace

double Bucket(std::string_view flag_key, std::string_view salt, std::string_view value,
              std::optional<int64_t> seed) {
  thread_local DigestContext holder;
  EVP_MD_CTX* ctx = holder.ctx;
  bool ok = ctx != nullptr && EVP_DigestInit_ex(ctx, Sha1(), nullptr) == 1;
  auto update = [&](std::string_view s) {
    ok = ok && EVP_DigestUpdate(ctx, s.data(), s.size()) == 1;
  };
  if (seed) {
    char buf[24];
    char* end = std::to_chars(buf, buf + sizeof buf, *seed).ptr;
    update(std::string_view(buf, static_cast<size_t>(end - buf)));
  } else {
    update(flag_key);
    update(".");
    update(salt);
  }
  update(".");
  update(value);
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  ok = ok && EVP_DigestFinal_ex(ctx, digest, &len) == 1 && len >= 8;
  if (!ok) return 0;  // only on OpenSSL allocation failure
  // The first 15 hex digits are the first 60 bits of the digest.
  uint64_t head = 0;
  for (int i = 0; i < 8; ++i) head = (head << 8) | digest[i];
  head >>= 4;
  return static_cast<double>(head) / static_cast<double>(0xFFFFFFFFFFFFFFFull);
}

absl::StatusOr<std::shared_ptr<const FlagSet>> FlagSet::Build(
    const boost::json::object& flags_by_key, const boost::json::object& segments_by_key,
    std::string_view env) {
  std::shared_ptr<FlagSet> set(new FlagSet());
  for (const auto& member : flags_by_key) {
    std::string prefix = "flag " + Quoted(member.key()) + ": ";
    const boost::json::object* obj = member.value().if_object();
    if (obj == nullptr) return absl::InvalidArgumentError(prefix + "must be an object");
    absl::StatusOr<CompiledFlag> f = ParseFlagEnvironment(member.key(), *obj, env);
    if (absl::IsNotFound(f.status())) continue;
    if (!f.ok()) return absl::InvalidArgumentError(prefix + std::string(f.status().message()));
    set->flags_.emplace(std::string(member.key()), *std::move(f));
  }
  for (const auto& member : segments_by_key) {
    std::string prefix = "segment " + Quoted(member.key()) + ": ";
    const boost::json::object* obj = member.value().if_object();
    if (obj == nullptr) return absl::InvalidArgumentError(prefix + "must be an object");
    absl::StatusOr<CompiledSegment> s = ParseSegment(member.key(), *obj);
    if (!s.ok()) return absl::InvalidArgumentError(prefix + std::string(s.status().message()));
    set->segments_.emplace(std::string(member.key()), *std::move(s));
  }

  // Cross-flag checks, in document order so the first error reported is stable.
  std::map<std::string, std::vector<std::string>> deps;
  for (const auto& member : flags_by_key) {
    const CompiledFlag* f = set->FindFlag(member.key());
    if (f == nullptr) continue;
    std::vector<std::string>& edges = deps[f->key];
    for (size_t i = 0; i < f->prerequisites.size(); ++i) {
      const Prerequisite& p = f->prerequisites[i];
      edges.push_back(p.flag);
      const CompiledFlag* pf = set->FindFlag(p.flag);
      if (pf != nullptr && static_cast<size_t>(p.variation) >= pf->variations.size()) {
        return absl::InvalidArgumentError(
            "flag " + Quoted(f->key) + ": environments." + std::string(env) + ".prerequisites[" +
            std::to_string(i) + "].variation: " + std::to_string(p.variation) +
            " is not a variation index of flag " + Quoted(pf->key) + " (it has " +
            std::to_string(pf->variations.size()) + " variations)");
      }
    }
  }
  EV_RETURN_IF_ERROR(CheckPrerequisiteCycles(deps));

  auto uses_segment_match = [](const CompiledSegment& s) {
    for (const CompiledSegmentRule& r : s.rules) {
      for (const CompiledClause& c : r.clauses) {
        if (c.op == Op::kSegmentMatch) return true;
      }
    }
    return false;
  };
  for (const auto& member : segments_by_key) {
    const CompiledSegment* s = set->FindSegment(member.key());
    for (size_t i = 0; i < s->rules.size(); ++i) {
      for (size_t j = 0; j < s->rules[i].clauses.size(); ++j) {
        const CompiledClause& c = s->rules[i].clauses[j];
        if (c.op != Op::kSegmentMatch) continue;
        for (const std::string& ref : c.strings) {
          const CompiledSegment* inner = set->FindSegment(ref);
          if (inner != nullptr && uses_segment_match(*inner)) {
            return absl::InvalidArgumentError(
                "segment " + Quoted(s->key) + ": rules[" + std::to_string(i) + "].clauses[" +
                std::to_string(j) + "]: segment " + Quoted(ref) +
                " itself uses segment_match; inside a segment, segment_match may only name "
                "segments that do not");
          }
        }
      }
    }
  }
  set->AssignAttributeSlots();
  return std::shared_ptr<const FlagSet>(std::move(set));
}

void FlagSet::AssignAttributeSlots() {
  StringMap<int> slots;
  auto number = [&](std::vector<CompiledClause>& clauses) {
    for (CompiledClause& c : clauses) {
      c.slot = -1;
      if (c.op == Op::kSegmentMatch) continue;
      auto it = slots.find(c.attribute.text());
      if (it != slots.end()) {
        c.slot = it->second;
      } else if (static_cast<int>(slots.size()) < kMaxAttributeSlots) {
        c.slot = static_cast<int>(slots.size());
        slots.emplace(c.attribute.text(), c.slot);
      }
    }
  };
  for (auto& [key, f] : flags_) {
    for (CompiledRule& r : f.rules) number(r.clauses);
  }
  for (auto& [key, s] : segments_) {
    for (CompiledSegmentRule& r : s.rules) number(r.clauses);
  }
  attribute_slots_ = static_cast<int>(slots.size());
}

std::shared_ptr<const FlagSet> FlagSet::FromCompiled(std::vector<CompiledFlag> flags,
                                                     std::vector<CompiledSegment> segments) {
  std::shared_ptr<FlagSet> set(new FlagSet());
  for (CompiledFlag& f : flags) {
    std::string key = f.key;
    set->flags_.emplace(std::move(key), std::move(f));
  }
  for (CompiledSegment& s : segments) {
    std::string key = s.key;
    set->segments_.emplace(std::move(key), std::move(s));
  }
  set->AssignAttributeSlots();
  return set;
}

const CompiledFlag* FlagSet::FindFlag(std::string_view key) const {
  auto it = flags_.find(key);
  return it == flags_.end() ? nullptr : &it->second;
}

const CompiledSegment* FlagSet::FindSegment(std::string_view key) const {
  auto it = segments_.find(key);
  return it == segments_.end() ? nullptr : &it->second;
}

EvalResult Evaluate(const FlagSet& set, std::string_view flag_key, const Context& context,
                    ValueType expected) {
  const CompiledFlag* flag = set.FindFlag(flag_key);
  if (flag == nullptr) {
    return ErrorResult(kErrorFlagNotFound, "flag " + Quoted(flag_key) + " not found");
  }
  EvalResult r = Evaluation(set, context).Run(*flag);
  if (r.value != nullptr && !TypeMatches(*r.value, expected)) {
    return ErrorResult(kErrorTypeMismatch, "flag " + Quoted(flag_key) + " variation " +
                                               std::to_string(r.variation) + " is a " +
                                               std::string(JsonTypeName(*r.value)) +
                                               ", expected " + std::string(TypeName(expected)));
  }
  return r;
}

EvalResult StaticResult(const boost::json::value& value) {
  EvalResult r;
  r.value = &value;
  r.reason = kReasonStatic;
  return r;
}

}  // namespace edgevault::eval
