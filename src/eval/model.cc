#include "src/eval/model.h"

#include <initializer_list>
#include <utility>

#include <re2/re2.h>

#include "src/base/status.h"
#include "src/eval/values.h"

namespace edgevault::eval {

namespace {

using boost::json::array;
using boost::json::object;
using boost::json::value;

constexpr int64_t kWeightTotal = 100000;

struct OpEntry {
  std::string_view name;
  Op op;
};
constexpr OpEntry kOps[] = {
    {"in", Op::kIn},
    {"starts_with", Op::kStartsWith},
    {"ends_with", Op::kEndsWith},
    {"contains", Op::kContains},
    {"matches", Op::kMatches},
    {"lt", Op::kLt},
    {"lte", Op::kLte},
    {"gt", Op::kGt},
    {"gte", Op::kGte},
    {"before", Op::kBefore},
    {"after", Op::kAfter},
    {"semver_eq", Op::kSemverEq},
    {"semver_lt", Op::kSemverLt},
    {"semver_gt", Op::kSemverGt},
    {"segment_match", Op::kSegmentMatch},
};

std::string Field(const std::string& path, std::string_view name) {
  return path.empty() ? std::string(name) : path + "." + std::string(name);
}
std::string Index(const std::string& path, size_t i) {
  return path + "[" + std::to_string(i) + "]";
}

absl::Status Invalid(const std::string& path, const std::string& message) {
  return absl::InvalidArgumentError(path.empty() ? message : path + ": " + message);
}
absl::Status WrongType(const std::string& path, std::string_view want, const value& got) {
  return Invalid(path, "must be " + std::string(want) + ", got " + std::string(JsonTypeName(got)));
}

// One parse pass. `strict_` adds the write-time checks (docs/design/flags.md
// §Validation): unknown fields, weight sums, uniform variation types, duplicates.
class Parser {
 public:
  explicit Parser(bool strict) : strict_(strict) {}

  absl::Status CheckFields(const object& o, const std::string& path,
                           std::initializer_list<std::string_view> allowed) const {
    if (!strict_) return absl::OkStatus();
    for (const auto& member : o) {
      bool known = false;
      for (std::string_view a : allowed) known = known || member.key() == a;
      if (!known) return Invalid(Field(path, member.key()), "unknown field");
    }
    return absl::OkStatus();
  }

  // A member that must exist (and not be null).
  static absl::StatusOr<const value*> Required(const object& o, std::string_view name,
                                               const std::string& path) {
    const value* v = o.if_contains(name);
    if (v == nullptr || v->is_null()) return Invalid(Field(path, name), "missing required field");
    return v;
  }
  // A member that may be absent; null counts as absent.
  static const value* Optional(const object& o, std::string_view name) {
    const value* v = o.if_contains(name);
    return v == nullptr || v->is_null() ? nullptr : v;
  }

  static absl::StatusOr<const object*> AsObject(const value& v, const std::string& path) {
    if (!v.is_object()) return WrongType(path, "an object", v);
    return &v.get_object();
  }
  static absl::StatusOr<const array*> AsArray(const value& v, const std::string& path) {
    if (!v.is_array()) return WrongType(path, "an array", v);
    return &v.get_array();
  }
  static absl::StatusOr<std::string_view> AsString(const value& v, const std::string& path) {
    if (!v.is_string()) return WrongType(path, "a string", v);
    return std::string_view(v.get_string());
  }

  static absl::StatusOr<int> VariationIndex(const value& v, const std::string& path,
                                            size_t variation_count) {
    std::optional<int64_t> i = IntegerValue(v);
    if (!i) return WrongType(path, "an integer variation index", v);
    if (*i < 0 || static_cast<uint64_t>(*i) >= variation_count) {
      return Invalid(path, std::to_string(*i) + " is not a variation index (the flag has " +
                               std::to_string(variation_count) + " variations)");
    }
    return static_cast<int>(*i);
  }

  absl::StatusOr<std::vector<value>> Variations(const object& flag) const {
    EV_ASSIGN_OR_RETURN(const value* v, Required(flag, "variations", ""));
    EV_ASSIGN_OR_RETURN(const array* list, AsArray(*v, "variations"));
    if (list->empty()) return Invalid("variations", "must not be empty");
    std::vector<value> out;
    out.reserve(list->size());
    for (size_t i = 0; i < list->size(); ++i) {
      std::string path = Index("variations", i);
      EV_ASSIGN_OR_RETURN(const object* entry, AsObject((*list)[i], path));
      EV_RETURN_IF_ERROR(CheckFields(*entry, path, {"value", "name", "description"}));
      EV_ASSIGN_OR_RETURN(const value* val, Required(*entry, "value", path));
      if (const value* name = Optional(*entry, "name")) {
        EV_RETURN_IF_ERROR(AsString(*name, Field(path, "name")).status());
      }
      if (strict_ && !out.empty() && JsonTypeName(*val) != JsonTypeName(out.front())) {
        return Invalid(Field(path, "value"), "is a " + std::string(JsonTypeName(*val)) +
                                                 " but variations[0] is a " +
                                                 std::string(JsonTypeName(out.front())) +
                                                 "; all variations must have one type");
      }
      out.push_back(*val);
    }
    return out;
  }

  absl::StatusOr<CompiledClause> Clause(const value& v, const std::string& path) const {
    EV_ASSIGN_OR_RETURN(const object* o, AsObject(v, path));
    EV_RETURN_IF_ERROR(CheckFields(*o, path, {"attribute", "op", "values", "negate"}));
    CompiledClause c;
    EV_ASSIGN_OR_RETURN(const value* op_v, Required(*o, "op", path));
    EV_ASSIGN_OR_RETURN(std::string_view op_name, AsString(*op_v, Field(path, "op")));
    std::optional<Op> op = ParseOp(op_name);
    if (!op) return Invalid(Field(path, "op"), "unknown operator " + Quoted(op_name));
    c.op = *op;

    const value* attr_v = Optional(*o, "attribute");
    if (attr_v == nullptr && c.op != Op::kSegmentMatch) {
      return Invalid(Field(path, "attribute"), "missing required field");
    }
    if (attr_v != nullptr) {
      std::string attr_path = Field(path, "attribute");
      EV_ASSIGN_OR_RETURN(std::string_view attr, AsString(*attr_v, attr_path));
      absl::StatusOr<AttributeRef> ref = AttributeRef::Parse(attr);
      if (!ref.ok()) return Invalid(attr_path, std::string(ref.status().message()));
      c.attribute = *std::move(ref);
    }
    if (const value* neg = Optional(*o, "negate")) {
      if (!neg->is_bool()) return WrongType(Field(path, "negate"), "a boolean", *neg);
      c.negate = neg->get_bool();
    }

    std::string values_path = Field(path, "values");
    EV_ASSIGN_OR_RETURN(const value* values_v, Required(*o, "values", path));
    EV_ASSIGN_OR_RETURN(const array* values, AsArray(*values_v, values_path));
    if (values->empty()) return Invalid(values_path, "must not be empty");
    for (size_t i = 0; i < values->size(); ++i) {
      EV_RETURN_IF_ERROR(ClauseValue(&c, (*values)[i], Index(values_path, i)));
    }
    return c;
  }

  static absl::Status ClauseValue(CompiledClause* c, const value& v, const std::string& path) {
    switch (c->op) {
      case Op::kIn:
        if (v.is_null()) return Invalid(path, "null never matches; remove it");
        if (v.is_string()) {
          c->in_strings.emplace(v.get_string());
        } else {
          c->in_others.push_back(v);
        }
        return absl::OkStatus();
      case Op::kStartsWith:
      case Op::kEndsWith:
      case Op::kContains:
      case Op::kSegmentMatch: {
        EV_ASSIGN_OR_RETURN(std::string_view s, AsString(v, path));
        c->strings.emplace_back(s);
        return absl::OkStatus();
      }
      case Op::kMatches: {
        EV_ASSIGN_OR_RETURN(std::string_view s, AsString(v, path));
        RE2::Options options;
        options.set_log_errors(false);
        auto re = std::make_shared<const RE2>(re2::StringPiece(s.data(), s.size()), options);
        if (!re->ok()) {
          return Invalid(path, "invalid regular expression " + Quoted(s) + ": " + re->error());
        }
        c->regexes.push_back(std::move(re));
        return absl::OkStatus();
      }
      case Op::kLt:
      case Op::kLte:
      case Op::kGt:
      case Op::kGte: {
        std::optional<double> n = NumberValue(v);
        if (!n) return WrongType(path, "a number", v);
        c->numbers.push_back(*n);
        return absl::OkStatus();
      }
      case Op::kBefore:
      case Op::kAfter: {
        std::optional<absl::Time> t = TimeValue(v);
        if (!t) {
          if (v.is_string()) {
            return Invalid(path, Quoted(v.get_string()) + " is not an RFC 3339 time");
          }
          return WrongType(path, "an RFC 3339 string or epoch milliseconds", v);
        }
        c->times.push_back(*t);
        return absl::OkStatus();
      }
      case Op::kSemverEq:
      case Op::kSemverLt:
      case Op::kSemverGt: {
        EV_ASSIGN_OR_RETURN(std::string_view s, AsString(v, path));
        std::optional<Semver> sv = Semver::Parse(s);
        if (!sv) return Invalid(path, Quoted(s) + " is not a semantic version");
        c->semvers.push_back(*std::move(sv));
        return absl::OkStatus();
      }
    }
    return Invalid(path, "unsupported operator");
  }

  absl::StatusOr<std::vector<CompiledClause>> Clauses(const object& o,
                                                      const std::string& path) const {
    EV_ASSIGN_OR_RETURN(const value* v, Required(o, "clauses", path));
    std::string clauses_path = Field(path, "clauses");
    EV_ASSIGN_OR_RETURN(const array* list, AsArray(*v, clauses_path));
    std::vector<CompiledClause> out;
    out.reserve(list->size());
    for (size_t i = 0; i < list->size(); ++i) {
      EV_ASSIGN_OR_RETURN(CompiledClause c, Clause((*list)[i], Index(clauses_path, i)));
      out.push_back(std::move(c));
    }
    return out;
  }

  // `o` holds either "variation" or "rollout" (+ optional "bucket_by", "seed").
  absl::StatusOr<VariationOrRollout> Outcome(const object& o, const std::string& path,
                                             size_t variation_count) const {
    const value* variation = Optional(o, "variation");
    const value* rollout = Optional(o, "rollout");
    if ((variation == nullptr) == (rollout == nullptr)) {
      return Invalid(path, "needs exactly one of \"variation\" or \"rollout\"");
    }
    VariationOrRollout out;
    if (variation != nullptr) {
      if (strict_) {
        for (std::string_view f : {"bucket_by", "seed"}) {
          if (o.contains(f)) return Invalid(Field(path, f), "only allowed with \"rollout\"");
        }
      }
      EV_ASSIGN_OR_RETURN(out.variation,
                          VariationIndex(*variation, Field(path, "variation"), variation_count));
      return out;
    }
    Rollout r;
    std::string list_path = Field(path, "rollout");
    EV_ASSIGN_OR_RETURN(const array* list, AsArray(*rollout, list_path));
    if (list->empty()) return Invalid(list_path, "must not be empty");
    int64_t total = 0;
    for (size_t i = 0; i < list->size(); ++i) {
      std::string wv_path = Index(list_path, i);
      EV_ASSIGN_OR_RETURN(const object* wv, AsObject((*list)[i], wv_path));
      EV_RETURN_IF_ERROR(CheckFields(*wv, wv_path, {"variation", "weight"}));
      WeightedVariation w;
      EV_ASSIGN_OR_RETURN(const value* var_v, Required(*wv, "variation", wv_path));
      EV_ASSIGN_OR_RETURN(w.variation,
                          VariationIndex(*var_v, Field(wv_path, "variation"), variation_count));
      EV_ASSIGN_OR_RETURN(const value* weight_v, Required(*wv, "weight", wv_path));
      std::optional<int64_t> weight = IntegerValue(*weight_v);
      std::string weight_path = Field(wv_path, "weight");
      if (!weight) return WrongType(weight_path, "an integer", *weight_v);
      if (*weight < 0 || *weight > kWeightTotal) {
        return Invalid(weight_path, std::to_string(*weight) + " is outside 0..100000");
      }
      w.weight = static_cast<int>(*weight);
      total += *weight;
      r.variations.push_back(w);
    }
    if (strict_ && total != kWeightTotal) {
      return Invalid(list_path, "weights sum to " + std::to_string(total) + ", must be 100000");
    }
    if (const value* b = Optional(o, "bucket_by")) {
      std::string b_path = Field(path, "bucket_by");
      EV_ASSIGN_OR_RETURN(std::string_view attr, AsString(*b, b_path));
      absl::StatusOr<AttributeRef> ref = AttributeRef::Parse(attr);
      if (!ref.ok()) return Invalid(b_path, std::string(ref.status().message()));
      r.bucket_by = *std::move(ref);
    }
    if (const value* s = Optional(o, "seed")) {
      std::optional<int64_t> seed = IntegerValue(*s);
      if (!seed) return WrongType(Field(path, "seed"), "an integer", *s);
      r.seed = *seed;
    }
    out.rollout = std::move(r);
    return out;
  }

  absl::StatusOr<CompiledFlag> Environment(std::string_view flag_key, std::string_view salt,
                                           const std::vector<value>& variations,
                                           const value& env_v, const std::string& path) const {
    EV_ASSIGN_OR_RETURN(const object* env, AsObject(env_v, path));
    EV_RETURN_IF_ERROR(CheckFields(
        *env, path,
        {"on", "off_variation", "targets", "rules", "fallthrough", "prerequisites"}));
    CompiledFlag f;
    f.key = std::string(flag_key);
    f.salt = std::string(salt);
    f.variations = variations;
    size_t n = variations.size();

    EV_ASSIGN_OR_RETURN(const value* on, Required(*env, "on", path));
    if (!on->is_bool()) return WrongType(Field(path, "on"), "a boolean", *on);
    f.on = on->get_bool();

    if (const value* off = Optional(*env, "off_variation")) {
      EV_ASSIGN_OR_RETURN(int off_index, VariationIndex(*off, Field(path, "off_variation"), n));
      f.off_variation = off_index;
    }

    if (const value* targets_v = Optional(*env, "targets")) {
      std::string targets_path = Field(path, "targets");
      EV_ASSIGN_OR_RETURN(const array* targets, AsArray(*targets_v, targets_path));
      for (size_t i = 0; i < targets->size(); ++i) {
        std::string t_path = Index(targets_path, i);
        EV_ASSIGN_OR_RETURN(const object* t, AsObject((*targets)[i], t_path));
        EV_RETURN_IF_ERROR(CheckFields(*t, t_path, {"variation", "values"}));
        EV_ASSIGN_OR_RETURN(const value* var_v, Required(*t, "variation", t_path));
        EV_ASSIGN_OR_RETURN(int variation, VariationIndex(*var_v, Field(t_path, "variation"), n));
        EV_ASSIGN_OR_RETURN(const value* keys_v, Required(*t, "values", t_path));
        std::string keys_path = Field(t_path, "values");
        EV_ASSIGN_OR_RETURN(const array* keys, AsArray(*keys_v, keys_path));
        for (size_t k = 0; k < keys->size(); ++k) {
          EV_ASSIGN_OR_RETURN(std::string_view key, AsString((*keys)[k], Index(keys_path, k)));
          bool inserted = f.targets.emplace(std::string(key), variation).second;
          if (!inserted && strict_) {
            return Invalid(Index(keys_path, k), "context key " + Quoted(key) +
                                                    " is already targeted by an earlier entry");
          }
        }
      }
    }

    if (const value* rules_v = Optional(*env, "rules")) {
      std::string rules_path = Field(path, "rules");
      EV_ASSIGN_OR_RETURN(const array* rules, AsArray(*rules_v, rules_path));
      f.rules.reserve(rules->size());
      for (size_t i = 0; i < rules->size(); ++i) {
        std::string r_path = Index(rules_path, i);
        EV_ASSIGN_OR_RETURN(const object* r, AsObject((*rules)[i], r_path));
        EV_RETURN_IF_ERROR(CheckFields(
            *r, r_path,
            {"id", "description", "clauses", "variation", "rollout", "bucket_by", "seed"}));
        CompiledRule rule;
        if (const value* id = Optional(*r, "id")) {
          EV_ASSIGN_OR_RETURN(std::string_view id_text, AsString(*id, Field(r_path, "id")));
          rule.id = std::string(id_text);
        }
        EV_ASSIGN_OR_RETURN(rule.clauses, Clauses(*r, r_path));
        EV_ASSIGN_OR_RETURN(rule.outcome, Outcome(*r, r_path, n));
        f.rules.push_back(std::move(rule));
      }
    }

    EV_ASSIGN_OR_RETURN(const value* ft_v, Required(*env, "fallthrough", path));
    std::string ft_path = Field(path, "fallthrough");
    EV_ASSIGN_OR_RETURN(const object* ft, AsObject(*ft_v, ft_path));
    EV_RETURN_IF_ERROR(CheckFields(*ft, ft_path, {"variation", "rollout", "bucket_by", "seed"}));
    EV_ASSIGN_OR_RETURN(f.fallthrough, Outcome(*ft, ft_path, n));

    if (const value* pre_v = Optional(*env, "prerequisites")) {
      std::string pre_path = Field(path, "prerequisites");
      EV_ASSIGN_OR_RETURN(const array* pres, AsArray(*pre_v, pre_path));
      for (size_t i = 0; i < pres->size(); ++i) {
        std::string p_path = Index(pre_path, i);
        EV_ASSIGN_OR_RETURN(const object* p, AsObject((*pres)[i], p_path));
        EV_RETURN_IF_ERROR(CheckFields(*p, p_path, {"flag", "variation"}));
        Prerequisite pre;
        EV_ASSIGN_OR_RETURN(const value* flag_v, Required(*p, "flag", p_path));
        EV_ASSIGN_OR_RETURN(std::string_view flag, AsString(*flag_v, Field(p_path, "flag")));
        if (flag.empty()) return Invalid(Field(p_path, "flag"), "must not be empty");
        pre.flag = std::string(flag);
        EV_ASSIGN_OR_RETURN(const value* var_v, Required(*p, "variation", p_path));
        std::optional<int64_t> var = IntegerValue(*var_v);
        if (!var || *var < 0 || *var > INT32_MAX) {
          return WrongType(Field(p_path, "variation"), "a non-negative integer", *var_v);
        }
        pre.variation = static_cast<int>(*var);
        if (strict_) {
          for (const Prerequisite& earlier : f.prerequisites) {
            if (earlier.flag == pre.flag) {
              return Invalid(Field(p_path, "flag"), Quoted(flag) + " is listed twice");
            }
          }
        }
        f.prerequisites.push_back(std::move(pre));
      }
    }
    return f;
  }

  absl::StatusOr<CompiledSegment> Segment(std::string_view key, const object& s) const {
    // Top-level unknown fields (name, description, ...) are metadata and always allowed.
    CompiledSegment seg;
    seg.key = std::string(key);
    for (auto [name, set] : {std::pair<std::string_view, StringSet*>{"included", &seg.included},
                             {"excluded", &seg.excluded}}) {
      const value* v = Optional(s, name);
      if (v == nullptr) continue;
      std::string path(name);
      EV_ASSIGN_OR_RETURN(const array* keys, AsArray(*v, path));
      for (size_t i = 0; i < keys->size(); ++i) {
        EV_ASSIGN_OR_RETURN(std::string_view k, AsString((*keys)[i], Index(path, i)));
        set->emplace(k);
      }
    }
    if (const value* rules_v = Optional(s, "rules")) {
      EV_ASSIGN_OR_RETURN(const array* rules, AsArray(*rules_v, "rules"));
      for (size_t i = 0; i < rules->size(); ++i) {
        std::string r_path = Index("rules", i);
        EV_ASSIGN_OR_RETURN(const object* r, AsObject((*rules)[i], r_path));
        EV_RETURN_IF_ERROR(CheckFields(*r, r_path, {"id", "description", "clauses"}));
        CompiledSegmentRule rule;
        if (const value* id = Optional(*r, "id")) {
          EV_ASSIGN_OR_RETURN(std::string_view id_text, AsString(*id, Field(r_path, "id")));
          rule.id = std::string(id_text);
        }
        EV_ASSIGN_OR_RETURN(rule.clauses, Clauses(*r, r_path));
        seg.rules.push_back(std::move(rule));
      }
    }
    return seg;
  }

  absl::StatusOr<std::string_view> Salt(const object& flag, std::string_view flag_key) const {
    const value* salt = Optional(flag, "salt");
    if (salt == nullptr) return flag_key;
    return AsString(*salt, "salt");
  }

 private:
  bool strict_;
};

}  // namespace

std::optional<Op> ParseOp(std::string_view name) {
  for (const OpEntry& e : kOps) {
    if (e.name == name) return e.op;
  }
  return std::nullopt;
}

std::string_view OpName(Op op) {
  for (const OpEntry& e : kOps) {
    if (e.op == op) return e.name;
  }
  return "?";
}

absl::StatusOr<CompiledFlag> ParseFlagEnvironment(std::string_view flag_key, const object& flag,
                                                  std::string_view env) {
  Parser parser(/*strict=*/false);
  EV_ASSIGN_OR_RETURN(std::vector<value> variations, parser.Variations(flag));
  EV_ASSIGN_OR_RETURN(std::string_view salt, parser.Salt(flag, flag_key));
  EV_ASSIGN_OR_RETURN(const value* envs_v, Parser::Required(flag, "environments", ""));
  EV_ASSIGN_OR_RETURN(const object* envs, Parser::AsObject(*envs_v, "environments"));
  const value* env_v = envs->if_contains(env);
  if (env_v == nullptr || env_v->is_null()) {
    return absl::NotFoundError("flag " + Quoted(flag_key) + " has no environment " + Quoted(env));
  }
  return parser.Environment(flag_key, salt, variations, *env_v,
                            "environments." + std::string(env));
}

absl::Status ValidateFlag(const object& flag) {
  Parser parser(/*strict=*/true);
  EV_ASSIGN_OR_RETURN(std::vector<value> variations, parser.Variations(flag));
  EV_ASSIGN_OR_RETURN(std::string_view salt, parser.Salt(flag, ""));
  EV_ASSIGN_OR_RETURN(const value* envs_v, Parser::Required(flag, "environments", ""));
  EV_ASSIGN_OR_RETURN(const object* envs, Parser::AsObject(*envs_v, "environments"));
  for (const auto& member : *envs) {
    std::string path = "environments." + std::string(member.key());
    EV_RETURN_IF_ERROR(parser.Environment("", salt, variations, member.value(), path).status());
  }
  return absl::OkStatus();
}

absl::StatusOr<CompiledSegment> ParseSegment(std::string_view segment_key, const object& segment) {
  return Parser(/*strict=*/false).Segment(segment_key, segment);
}

absl::Status ValidateSegment(const object& segment) {
  return Parser(/*strict=*/true).Segment("", segment).status();
}

absl::Status CheckPrerequisiteCycles(const std::map<std::string, std::vector<std::string>>& deps) {
  enum class Color { kWhite, kGray, kBlack };
  std::map<std::string_view, Color> color;
  for (const auto& [key, unused] : deps) color[key] = Color::kWhite;

  // Iterative DFS: a long chain of prerequisites cannot overflow the stack.
  struct Frame {
    std::string_view node;
    const std::vector<std::string>* edges;
    size_t next = 0;
  };
  for (const auto& [start, start_edges] : deps) {
    if (color[start] != Color::kWhite) continue;
    std::vector<Frame> stack;
    stack.push_back({start, &start_edges});
    color[start] = Color::kGray;
    while (!stack.empty()) {
      Frame& top = stack.back();
      if (top.next == top.edges->size()) {
        color[top.node] = Color::kBlack;
        stack.pop_back();
        continue;
      }
      std::string_view next = (*top.edges)[top.next++];
      auto it = deps.find(std::string(next));
      if (it == deps.end()) continue;  // not a flag of this set: a leaf
      Color& c = color[it->first];
      if (c == Color::kGray) {
        std::string cycle;
        bool on_cycle = false;
        for (const Frame& f : stack) {
          on_cycle = on_cycle || f.node == next;
          if (on_cycle) cycle += std::string(f.node) + " → ";
        }
        cycle += std::string(next);
        return absl::InvalidArgumentError("prerequisite cycle: " + cycle);
      }
      if (c == Color::kWhite) {
        c = Color::kGray;
        stack.push_back({it->first, &it->second});
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace edgevault::eval
