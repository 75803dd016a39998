#include "cli/flag_import.h"

#include <functional>
#include <map>
#include <set>
#include <string_view>
#include <utility>

#include "src/base/json_patch.h"
#include "src/base/status.h"
#include "src/base/strings.h"

namespace edgevault::cli {
namespace {

namespace json = boost::json;

std::string Quoted(std::string_view s) { return base::StrCat("\"", s, "\""); }

// What refuses a flag: InvalidArgument `flag "key": <where>: <why>`.
absl::Status Refuse(std::string_view flag, std::string_view where, std::string_view why) {
  std::string msg = base::StrCat("flag ", Quoted(flag), ": ");
  if (!where.empty()) msg += std::string(where) + ": ";
  return absl::InvalidArgumentError(msg + std::string(why));
}

const json::object* Obj(const json::value* v) { return v == nullptr ? nullptr : v->if_object(); }
const json::array* Arr(const json::value* v) { return v == nullptr ? nullptr : v->if_array(); }
bool IsNullOrAbsent(const json::value* v) { return v == nullptr || v->is_null(); }
std::string Str(json::string_view s) { return std::string(s.data(), s.size()); }

// A LaunchDarkly attribute name or reference as an EdgeVault attribute reference
// (flags.md §2): LaunchDarkly reads "a.b" as the attribute literally named "a.b" (a
// reference starting with '/' is a JSON Pointer in both), EdgeVault reads it as a path,
// so a name with a dot becomes the pointer "/a.b".
std::string AttributeRef(std::string_view ld) {
  if (ld.empty() || ld.front() == '/' || ld.find('.') == std::string_view::npos) return std::string(ld);
  return base::JsonPointer({std::string(ld)});
}

// Only the "user" context kind (or none) maps: EdgeVault contexts have one kind.
absl::Status CheckContextKind(const json::object& o, std::string_view flag, std::string_view where) {
  const json::value* kind = o.if_contains("contextKind");
  if (IsNullOrAbsent(kind) || (kind->is_string() && kind->get_string() == "user")) return absl::OkStatus();
  return Refuse(flag, where,
                base::StrCat("context kind ",
                             kind->is_string() ? Quoted(Str(kind->get_string())) : std::string("(not a string)"),
                             " (EdgeVault contexts have a single kind; only \"user\" imports)"));
}

// {"variation": i} or {"rollout": {...}} → the same members of an EdgeVault rule or
// fallthrough (`variation`, or `rollout` + `bucket_by`? + `seed`?), added to `out`.
absl::Status LdServe(const json::object& in, std::string_view flag, const std::string& where, json::object& out) {
  const json::value* variation = in.if_contains("variation");
  const json::object* rollout = Obj(in.if_contains("rollout"));
  if (!IsNullOrAbsent(variation)) {
    out["variation"] = *variation;
    return absl::OkStatus();
  }
  if (rollout == nullptr) return Refuse(flag, where, "neither a variation nor a rollout");
  EV_RETURN_IF_ERROR(CheckContextKind(*rollout, flag, where + ".rollout"));
  const json::array* variations = Arr(rollout->if_contains("variations"));
  if (variations == nullptr) return Refuse(flag, where + ".rollout", "no \"variations\" list");
  json::array weights;
  for (const json::value& wv : *variations) {
    const json::object* w = wv.if_object();
    if (w == nullptr || !w->contains("variation") || !w->contains("weight")) {
      return Refuse(flag, where + ".rollout.variations", "each entry needs \"variation\" and \"weight\"");
    }
    weights.push_back(json::object{{"variation", w->at("variation")}, {"weight", w->at("weight")}});
  }
  out["rollout"] = std::move(weights);
  if (const json::value* by = rollout->if_contains("bucketBy"); !IsNullOrAbsent(by)) {
    if (!by->is_string()) return Refuse(flag, where + ".rollout.bucketBy", "not a string");
    if (by->get_string() != "key") out["bucket_by"] = AttributeRef(Str(by->get_string()));
  }
  if (const json::value* seed = rollout->if_contains("seed"); !IsNullOrAbsent(seed)) out["seed"] = *seed;
  return absl::OkStatus();
}

const std::map<std::string, std::string, std::less<>>& LdOperators() {
  static const auto* ops = new std::map<std::string, std::string, std::less<>>{
      {"in", "in"},
      {"startsWith", "starts_with"},
      {"endsWith", "ends_with"},
      {"contains", "contains"},
      {"matches", "matches"},
      {"lessThan", "lt"},
      {"lessThanOrEqual", "lte"},
      {"greaterThan", "gt"},
      {"greaterThanOrEqual", "gte"},
      {"before", "before"},
      {"after", "after"},
      {"semVerEqual", "semver_eq"},
      {"semVerLessThan", "semver_lt"},
      {"semVerGreaterThan", "semver_gt"},
  };
  return *ops;
}

absl::StatusOr<json::object> LdClause(const json::object& c, std::string_view flag, const std::string& where) {
  EV_RETURN_IF_ERROR(CheckContextKind(c, flag, where));
  const json::value* op = c.if_contains("op");
  if (op == nullptr || !op->is_string()) return Refuse(flag, where, "no \"op\"");
  if (op->get_string() == "segmentMatch") {
    return Refuse(flag, where, "segmentMatch needs segments, which an import does not bring");
  }
  auto it = LdOperators().find(Str(op->get_string()));
  if (it == LdOperators().end()) return Refuse(flag, where, base::StrCat("unknown operator ", Quoted(Str(op->get_string()))));
  const json::value* attribute = c.if_contains("attribute");
  if (attribute == nullptr || !attribute->is_string()) return Refuse(flag, where, "no \"attribute\"");
  const json::value* values = c.if_contains("values");
  if (values == nullptr || !values->is_array()) return Refuse(flag, where, "no \"values\" list");
  json::object out{{"attribute", AttributeRef(Str(attribute->get_string()))}, {"op", it->second}, {"values", *values}};
  if (const json::value* negate = c.if_contains("negate"); negate != nullptr && negate->is_bool() && negate->get_bool()) {
    out["negate"] = true;
  }
  return out;
}

absl::StatusOr<json::object> LdEnvironment(const json::object& env, std::string_view flag, const std::string& where) {
  json::object out;
  const json::value* on = env.if_contains("on");
  if (on == nullptr || !on->is_bool()) return Refuse(flag, where + ".on", "must be true or false");
  out["on"] = on->get_bool();
  if (const json::value* off = env.if_contains("offVariation"); !IsNullOrAbsent(off)) out["off_variation"] = *off;
  // Individual targets: `targets` holds the user kind's; `contextTargets` mirrors them
  // with empty lists, and holds the other kinds' (which do not map).
  json::array targets;
  if (const json::array* t = Arr(env.if_contains("targets"))) {
    for (size_t i = 0; i < t->size(); ++i) {
      const json::object* target = (*t)[i].if_object();
      const std::string at = where + ".targets[" + std::to_string(i) + "]";
      if (target == nullptr || !target->contains("variation") || !target->contains("values")) {
        return Refuse(flag, at, "needs \"variation\" and \"values\"");
      }
      EV_RETURN_IF_ERROR(CheckContextKind(*target, flag, at));
      const json::array* keys = Arr(target->if_contains("values"));
      if (keys == nullptr || keys->empty()) continue;
      targets.push_back(json::object{{"variation", target->at("variation")}, {"values", *keys}});
    }
  }
  if (const json::array* t = Arr(env.if_contains("contextTargets"))) {
    for (size_t i = 0; i < t->size(); ++i) {
      const json::object* target = (*t)[i].if_object();
      const json::array* keys = target == nullptr ? nullptr : Arr(target->if_contains("values"));
      if (keys == nullptr || keys->empty()) continue;  // the user kind's mirror entries are empty
      EV_RETURN_IF_ERROR(CheckContextKind(*target, flag, where + ".contextTargets[" + std::to_string(i) + "]"));
      targets.push_back(json::object{{"variation", target->at("variation")}, {"values", *keys}});
    }
  }
  if (!targets.empty()) out["targets"] = std::move(targets);
  json::array rules;
  if (const json::array* r = Arr(env.if_contains("rules"))) {
    for (size_t i = 0; i < r->size(); ++i) {
      const std::string at = where + ".rules[" + std::to_string(i) + "]";
      const json::object* rule = (*r)[i].if_object();
      if (rule == nullptr) return Refuse(flag, at, "not an object");
      json::object mapped;
      for (const char* id_field : {"_id", "ref"}) {
        const json::value* id = rule->if_contains(id_field);
        if (id != nullptr && id->is_string() && !id->get_string().empty() && !mapped.contains("id")) mapped["id"] = *id;
      }
      if (const json::value* d = rule->if_contains("description"); d != nullptr && d->is_string() && !d->get_string().empty()) {
        mapped["description"] = *d;
      }
      json::array clauses;
      if (const json::array* cs = Arr(rule->if_contains("clauses"))) {
        for (size_t j = 0; j < cs->size(); ++j) {
          const json::object* c = (*cs)[j].if_object();
          const std::string cat = at + ".clauses[" + std::to_string(j) + "]";
          if (c == nullptr) return Refuse(flag, cat, "not an object");
          EV_ASSIGN_OR_RETURN(json::object clause, LdClause(*c, flag, cat));
          clauses.push_back(std::move(clause));
        }
      }
      mapped["clauses"] = std::move(clauses);
      EV_RETURN_IF_ERROR(LdServe(*rule, flag, at, mapped));
      rules.push_back(std::move(mapped));
    }
  }
  if (!rules.empty()) out["rules"] = std::move(rules);
  const json::object* fallthrough = Obj(env.if_contains("fallthrough"));
  if (fallthrough == nullptr) return Refuse(flag, where + ".fallthrough", "missing");
  json::object ft;
  EV_RETURN_IF_ERROR(LdServe(*fallthrough, flag, where + ".fallthrough", ft));
  out["fallthrough"] = std::move(ft);
  if (const json::array* p = Arr(env.if_contains("prerequisites")); p != nullptr && !p->empty()) {
    json::array prerequisites;
    for (size_t i = 0; i < p->size(); ++i) {
      const json::object* pre = (*p)[i].if_object();
      if (pre == nullptr || !pre->contains("key") || !pre->contains("variation")) {
        return Refuse(flag, where + ".prerequisites[" + std::to_string(i) + "]", "needs \"key\" and \"variation\"");
      }
      prerequisites.push_back(json::object{{"flag", pre->at("key")}, {"variation", pre->at("variation")}});
    }
    out["prerequisites"] = std::move(prerequisites);
  }
  return out;
}

absl::StatusOr<ImportedFlag> LdFlag(const json::object& f, size_t index, const std::string& only_environment) {
  const json::value* key_v = f.if_contains("key");
  if (key_v == nullptr || !key_v->is_string() || key_v->get_string().empty()) {
    return absl::InvalidArgumentError(base::StrCat("items[", index, "]: no \"key\""));
  }
  ImportedFlag out;
  out.key = Str(key_v->get_string());
  const std::string& flag = out.key;
  const json::array* variations = Arr(f.if_contains("variations"));
  if (variations == nullptr || variations->empty()) return Refuse(flag, "variations", "missing or empty");
  json::array vars;
  for (const json::value& v : *variations) {
    const json::object* o = v.if_object();
    if (o == nullptr || !o->contains("value")) return Refuse(flag, "variations", "each needs a \"value\"");
    json::object mapped{{"value", o->at("value")}};
    for (const char* field : {"name", "description"}) {
      const json::value* s = o->if_contains(field);
      if (s != nullptr && s->is_string() && !s->get_string().empty()) mapped[field] = *s;
    }
    vars.push_back(std::move(mapped));
  }
  if (const json::value* d = f.if_contains("description"); d != nullptr && d->is_string() && !d->get_string().empty()) {
    out.body["description"] = *d;
  }
  if (const json::object* csa = Obj(f.if_contains("clientSideAvailability"))) {
    const json::value* env_id = csa->if_contains("usingEnvironmentId");
    if (env_id != nullptr && env_id->is_bool() && env_id->get_bool()) out.body["client_visible"] = true;
  }
  const json::object* environments = Obj(f.if_contains("environments"));
  if (environments == nullptr) return Refuse(flag, "environments", "missing");
  json::object envs;
  std::map<std::string, std::string> salts;  // environment → salt
  for (const auto& member : *environments) {
    std::string env = Str(member.key());
    if (!only_environment.empty() && env != only_environment) continue;
    const std::string where = "environments." + env;
    const json::object* config = member.value().if_object();
    if (config == nullptr) return Refuse(flag, where, "not an object");
    EV_ASSIGN_OR_RETURN(json::object mapped, LdEnvironment(*config, flag, where));
    if (const json::value* salt = config->if_contains("salt"); salt != nullptr && salt->is_string()) {
      salts[env] = Str(salt->get_string());
    }
    envs[env] = std::move(mapped);
  }
  if (envs.empty()) {
    return Refuse(flag, "environments",
                  only_environment.empty() ? std::string("none") : base::StrCat("no environment ", Quoted(only_environment)));
  }
  // One salt per flag in EdgeVault: LaunchDarkly's, when its environments agree.
  std::set<std::string> distinct;
  for (const auto& [env, salt] : salts) distinct.insert(salt);
  if (distinct.size() > 1) {
    std::string names;
    for (const auto& [env, salt] : salts) names += (names.empty() ? "" : ", ") + env;
    return Refuse(flag, "environments",
                  "the environments (" + names + ") hash with different salts, and an EdgeVault flag has one: "
                  "import one environment per workspace (--only-env ENV) to keep every bucket");
  }
  if (distinct.size() == 1) out.body["salt"] = *distinct.begin();
  out.body["variations"] = std::move(vars);
  out.body["environments"] = std::move(envs);
  return out;
}

// The flags with every prerequisite before the flags that require it: a batch validates
// each entry on the workspace as the earlier ones leave it, so a flag listed before its
// prerequisite would name an unknown flag. A cycle keeps the file's order (and is refused
// by the api's validation).
std::vector<ImportedFlag> PrerequisitesFirst(std::vector<ImportedFlag> flags) {
  std::map<std::string, size_t> index;
  for (size_t i = 0; i < flags.size(); ++i) index[flags[i].key] = i;
  std::vector<int> state(flags.size(), 0);  // 0 new, 1 visiting, 2 placed
  std::vector<size_t> order;
  std::function<void(size_t)> visit = [&](size_t i) {
    if (state[i] != 0) return;
    state[i] = 1;
    const json::object* envs = Obj(flags[i].body.if_contains("environments"));
    for (const auto& env : envs == nullptr ? json::object() : *envs) {
      const json::object* config = env.value().if_object();
      const json::array* pres = config == nullptr ? nullptr : Arr(config->if_contains("prerequisites"));
      for (const json::value& p : pres == nullptr ? json::array() : *pres) {
        const json::object* po = p.if_object();
        const json::value* key = po == nullptr ? nullptr : po->if_contains("flag");
        if (key == nullptr || !key->is_string()) continue;
        if (auto it = index.find(Str(key->get_string())); it != index.end()) visit(it->second);
      }
    }
    state[i] = 2;
    order.push_back(i);
  };
  for (size_t i = 0; i < flags.size(); ++i) visit(i);
  std::vector<ImportedFlag> out;
  out.reserve(flags.size());
  for (size_t i : order) out.push_back(std::move(flags[i]));
  return out;
}

}  // namespace

absl::StatusOr<std::vector<ImportedFlag>> FlagsFromLaunchDarkly(const json::value& doc,
                                                                const std::string& only_environment) {
  const json::object* root = doc.if_object();
  if (root == nullptr) return absl::InvalidArgumentError("not a LaunchDarkly flag list: the file is not a JSON object");
  json::array single;
  const json::array* items = Arr(root->if_contains("items"));
  if (items == nullptr) {
    if (!root->contains("key")) {
      return absl::InvalidArgumentError(
          "not a LaunchDarkly flag list: expected {\"items\": [...]} (GET /api/v2/flags/{project}) or one flag");
    }
    single.push_back(*root);
    items = &single;
  }
  std::vector<ImportedFlag> out;
  std::set<std::string> keys;
  for (size_t i = 0; i < items->size(); ++i) {
    const json::object* f = (*items)[i].if_object();
    if (f == nullptr) return absl::InvalidArgumentError(base::StrCat("items[", i, "]: not an object"));
    if (const json::value* archived = f->if_contains("archived"); archived != nullptr && archived->is_bool() &&
                                                                  archived->get_bool()) {
      continue;  // archived flags are not served by LaunchDarkly either
    }
    EV_ASSIGN_OR_RETURN(ImportedFlag flag, LdFlag(*f, i, only_environment));
    if (!keys.insert(flag.key).second) return Refuse(flag.key, "", "listed twice");
    out.push_back(std::move(flag));
  }
  if (out.empty()) return absl::InvalidArgumentError("no flags to import");
  return PrerequisitesFirst(std::move(out));
}

absl::StatusOr<std::vector<ImportedFlag>> FlagsFromUnleash(const json::value& doc) {
  const json::object* root = doc.if_object();
  const json::array* features = root == nullptr ? nullptr : Arr(root->if_contains("features"));
  if (features == nullptr) {
    return absl::InvalidArgumentError("not an Unleash export: expected {\"features\": [...], \"featureStrategies\": [...]}");
  }
  // Per feature: its environments' enabled state and strategies.
  struct Env {
    bool enabled = false;
    bool listed = false;
    std::vector<const json::object*> strategies;
  };
  std::map<std::string, std::map<std::string, Env>> by_feature;
  std::map<std::string, std::string> description;
  std::vector<std::string> order;
  for (size_t i = 0; i < features->size(); ++i) {
    const json::object* f = (*features)[i].if_object();
    const json::value* name = f == nullptr ? nullptr : f->if_contains("name");
    if (name == nullptr || !name->is_string() || name->get_string().empty()) {
      return absl::InvalidArgumentError(base::StrCat("features[", i, "]: no \"name\""));
    }
    std::string key = Str(name->get_string());
    if (by_feature.contains(key)) return Refuse(key, "", "listed twice");
    by_feature[key];
    order.push_back(key);
    if (const json::value* d = f->if_contains("description"); d != nullptr && d->is_string() && !d->get_string().empty()) {
      description[key] = Str(d->get_string());
    }
    if (const json::array* v = Arr(f->if_contains("variants")); v != nullptr && !v->empty()) {
      return Refuse(key, "variants", "Unleash variants are assigned by a murmur3 hash EdgeVault cannot reproduce");
    }
  }
  auto feature_of = [&](const json::object& o, std::string_view what, size_t i) -> absl::StatusOr<std::string> {
    const json::value* name = o.if_contains("featureName");
    if (name == nullptr || !name->is_string() || !by_feature.contains(Str(name->get_string()))) {
      return absl::InvalidArgumentError(std::string(what) + "[" + std::to_string(i) + "]: \"featureName\" names no feature");
    }
    return Str(name->get_string());
  };
  // The export of one environment (GET /api/admin/features-batch/export takes one) names
  // it in featureEnvironments only; its strategies then have no "environment" and apply
  // to every environment the feature is listed in ("default" when none is).
  auto env_of = [](const json::object& o) {
    const json::value* e = o.if_contains("environment");
    return e != nullptr && e->is_string() ? Str(e->get_string()) : std::string();
  };
  std::map<std::string, std::vector<const json::object*>> unplaced;  // feature → strategies
  if (const json::array* fe = Arr(root->if_contains("featureEnvironments"))) {
    for (size_t i = 0; i < fe->size(); ++i) {
      const json::object* o = (*fe)[i].if_object();
      if (o == nullptr) return absl::InvalidArgumentError(base::StrCat("featureEnvironments[", i, "]: not an object"));
      EV_ASSIGN_OR_RETURN(std::string key, feature_of(*o, "featureEnvironments", i));
      std::string env_key = env_of(*o);
      if (env_key.empty()) env_key = "default";
      Env& env = by_feature[key][env_key];
      env.listed = true;
      const json::value* enabled = o->if_contains("enabled");
      env.enabled = enabled != nullptr && enabled->is_bool() && enabled->get_bool();
      if (const json::array* v = Arr(o->if_contains("variants")); v != nullptr && !v->empty()) {
        return Refuse(key, "environments." + env_key + ".variants",
                      "Unleash variants are assigned by a murmur3 hash EdgeVault cannot reproduce");
      }
    }
  }
  const json::array* strategies = Arr(root->if_contains("featureStrategies"));
  if (strategies != nullptr) {
    for (size_t i = 0; i < strategies->size(); ++i) {
      const json::object* o = (*strategies)[i].if_object();
      if (o == nullptr) return absl::InvalidArgumentError(base::StrCat("featureStrategies[", i, "]: not an object"));
      EV_ASSIGN_OR_RETURN(std::string key, feature_of(*o, "featureStrategies", i));
      std::string env_key = env_of(*o);
      if (env_key.empty()) {
        unplaced[key].push_back(o);
        continue;
      }
      Env& env = by_feature[key][env_key];
      env.listed = true;
      env.strategies.push_back(o);
    }
  }
  for (auto& [key, list] : unplaced) {
    std::map<std::string, Env>& envs = by_feature[key];
    if (envs.empty()) envs["default"].listed = true;
    for (auto& [env_key, env] : envs) env.strategies.insert(env.strategies.end(), list.begin(), list.end());
  }
  std::vector<ImportedFlag> out;
  for (const std::string& key : order) {
    ImportedFlag flag;
    flag.key = key;
    if (auto d = description.find(key); d != description.end()) flag.body["description"] = d->second;
    flag.body["variations"] = json::array{json::object{{"value", true}}, json::object{{"value", false}}};
    json::object envs;
    for (const auto& [env_key, env] : by_feature[key]) {
      if (!env.listed) continue;
      const std::string where = "environments." + env_key;
      // Enabled for everyone, nobody, or something an import cannot reproduce.
      bool everyone = env.strategies.empty();  // an enabled feature without strategies is on
      for (size_t i = 0; i < env.strategies.size(); ++i) {
        const json::object& s = *env.strategies[i];
        const std::string at = where + ".strategies[" + std::to_string(i) + "]";
        const json::value* name = s.if_contains("name");
        std::string strategy = name != nullptr && name->is_string() ? Str(name->get_string()) : "";
        if (const json::array* c = Arr(s.if_contains("constraints")); c != nullptr && !c->empty()) {
          return Refuse(key, at, base::StrCat("constraints of strategy ", Quoted(strategy), " do not import (yet)"));
        }
        if (const json::array* g = Arr(s.if_contains("segments")); g != nullptr && !g->empty()) {
          return Refuse(key, at, base::StrCat("segments of strategy ", Quoted(strategy), " do not import"));
        }
        if (strategy == "default") {
          everyone = true;
          continue;
        }
        if (strategy != "flexibleRollout") {
          return Refuse(key, at, base::StrCat("strategy ", Quoted(strategy), " has no EdgeVault equivalent"));
        }
        const json::object* params = Obj(s.if_contains("parameters"));
        const json::value* rollout = params == nullptr ? nullptr : params->if_contains("rollout");
        std::string r = rollout == nullptr ? "" : rollout->is_string() ? Str(rollout->get_string())
                                               : rollout->is_int64()  ? std::to_string(rollout->get_int64())
                                                                      : "";
        if (r == "100") {
          everyone = true;
        } else if (r != "0") {
          return Refuse(key, at,
                        base::StrCat("flexibleRollout of ", r.empty() ? std::string("?") : r) +
                            "%: Unleash buckets users with murmur3(groupId:userId), EdgeVault with "
                            "LaunchDarkly's sha1 scheme, so the same percentage would select other users; "
                            "only 0% and 100% import");
        }
      }
      json::object config{{"on", env.enabled}, {"off_variation", 1},
                          {"fallthrough", json::object{{"variation", everyone ? 0 : 1}}}};
      envs[env_key] = std::move(config);
    }
    if (envs.empty()) return Refuse(key, "environments", "the export lists none for it");
    flag.body["environments"] = std::move(envs);
    out.push_back(std::move(flag));
  }
  if (out.empty()) return absl::InvalidArgumentError("no features to import");
  return out;
}

}  // namespace edgevault::cli
