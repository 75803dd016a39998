#include "src/workspace/model.h"

#include <algorithm>
#include <cmath>
#include <deque>
#include <limits>
#include <optional>
#include <utility>

#include "absl/strings/ascii.h"
#include "src/base/json_finite.h"
#include "src/base/status.h"
#include "src/eval/evaluator.h"
#include "src/eval/model.h"
#include "src/workspace/json_schema.h"
#include "src/workspace/resolver.h"

namespace edgevault::workspace {

namespace json = boost::json;

namespace {

std::string Str(json::string_view s) { return std::string(s.data(), s.size()); }

std::string Quoted(std::string_view s) {
  return json::serialize(json::string(json::string_view(s.data(), s.size())));
}

absl::Status Invalid(const std::string& path, const std::string& what) {
  return absl::InvalidArgumentError(path + ": " + what);
}

// Numbers must be finite: `1e999` parses as infinity and would be stored as `Infinity`,
// which is not JSON (every later read of the item, and of its workspace's documents,
// would fail).
absl::Status CheckFinite(const json::object& request) {
  std::optional<std::string> at = base::FindNonFiniteNumber(request);
  if (!at) return absl::OkStatus();
  return Invalid(*at, "numbers must be finite (this one is too large for a 64-bit float)");
}

absl::Status CheckFields(const json::object& o, std::initializer_list<std::string_view> allowed) {
  for (const auto& member : o) {
    bool known = false;
    for (std::string_view a : allowed) known = known || member.key() == a;
    if (!known) {
      std::string list;
      for (std::string_view a : allowed) list += (list.empty() ? "" : ", ") + std::string(a);
      return Invalid(Str(member.key()), "unknown field (allowed: " + list + ")");
    }
  }
  return absl::OkStatus();
}

// Copies the members of `o` into a new object in key order.
json::object SortedByKey(const json::object& o) {
  std::vector<const json::key_value_pair*> members;
  members.reserve(o.size());
  for (const auto& m : o) members.push_back(&m);
  std::sort(members.begin(), members.end(),
            [](const auto* a, const auto* b) { return a->key() < b->key(); });
  json::object out;
  out.reserve(members.size());
  for (const auto* m : members) out.emplace(m->key(), m->value());
  return out;
}

}  // namespace

std::optional<absl::Time> ParseCalendarDate(std::string_view text) {
  if (text.size() != 10) return std::nullopt;
  absl::Time t;
  std::string err;
  if (!absl::ParseTime("%Y-%m-%d", std::string(text), absl::UTCTimeZone(), &t, &err)) return std::nullopt;
  // absl normalises 2026-02-30 to March 2: only a date that formats back the same is one.
  if (absl::FormatTime("%Y-%m-%d", t, absl::UTCTimeZone()) != text) return std::nullopt;
  return t;
}

namespace {

// An optional "description": must be a string.
absl::Status CopyDescription(const json::object& request, json::object& out) {
  const json::value* d = request.if_contains("description");
  if (d == nullptr) return absl::OkStatus();
  if (!d->is_string()) return Invalid("description", "must be a string");
  out["description"] = *d;
  return absl::OkStatus();
}

// A flag's lifecycle (docs/design/items.md "Flag lifecycle"): "lifecycle" temporary or
// permanent, "owner" a non-blank string, "remove_after" a calendar date YYYY-MM-DD (not on a
// permanent flag). Each optional; copied when present.
absl::Status CopyLifecycle(const json::object& request, json::object& out) {
  const json::value* lifecycle = request.if_contains("lifecycle");
  if (lifecycle != nullptr) {
    if (!lifecycle->is_string() || (lifecycle->get_string() != "temporary" && lifecycle->get_string() != "permanent")) {
      return Invalid("lifecycle", "must be \"temporary\" or \"permanent\"");
    }
    out["lifecycle"] = *lifecycle;
  }
  if (const json::value* owner = request.if_contains("owner")) {
    if (!owner->is_string() || owner->get_string().size() > 200 ||
        std::string_view(owner->get_string()).find_first_not_of(" \t\r\n") == std::string_view::npos) {
      return Invalid("owner", "must be a non-blank string of at most 200 bytes (a team or a person)");
    }
    out["owner"] = *owner;
  }
  if (const json::value* date = request.if_contains("remove_after")) {
    if (!date->is_string() || !ParseCalendarDate(date->get_string())) {
      return Invalid("remove_after", "must be a date YYYY-MM-DD, e.g. 2026-09-30");
    }
    if (lifecycle != nullptr && lifecycle->get_string() == "permanent") {
      return Invalid("remove_after", "a permanent flag has no removal date (make it temporary, or drop the date)");
    }
    out["remove_after"] = *date;
  }
  return absl::OkStatus();
}

// The normalised value of a config of `type`, or an error naming `path`.
// An optional "client_visible": must be a boolean; kept only when true (the default,
// false, is the absence), so bodies written before it existed keep their bytes.
absl::Status CopyClientVisible(const json::object& request, json::object& out) {
  const json::value* v = request.if_contains("client_visible");
  if (v == nullptr || v->is_null()) return absl::OkStatus();
  if (!v->is_bool()) return Invalid("client_visible", "must be true or false");
  if (v->get_bool()) out["client_visible"] = true;
  return absl::OkStatus();
}

absl::StatusOr<json::value> CheckConfigType(std::string_view type, const json::value& v,
                                            const std::string& path) {
  auto mismatch = [&](std::string_view expected) {
    return Invalid(path, "expected " + std::string(expected) + " (the config's type is " +
                             std::string(type) + ")");
  };
  if (type == "json") return v;
  if (type == "string") {
    if (!v.is_string()) return mismatch("a string");
    return v;
  }
  if (type == "boolean") {
    if (!v.is_bool()) return mismatch("a boolean");
    return v;
  }
  if (type == "number") {
    if (!v.is_number()) return mismatch("a number");
    return v;
  }
  // integer: an integral number within int64; stored as an int64 (5.0 → 5).
  if (!IsIntegral(v)) return mismatch("an integer");
  if (v.is_int64()) return v;
  if (v.is_uint64()) {
    if (v.get_uint64() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      return Invalid(path, "integer out of range (must fit in 64 bits, signed)");
    }
    return json::value(static_cast<int64_t>(v.get_uint64()));
  }
  double d = v.get_double();
  // [-2^63, 2^63): both bounds are exact doubles.
  if (d < -9223372036854775808.0 || d >= 9223372036854775808.0) {
    return Invalid(path, "integer out of range (must fit in 64 bits, signed)");
  }
  return json::value(static_cast<int64_t>(d));
}

// Returns the prerequisites' flag keys of one environment config, with their paths.
std::vector<std::pair<std::string, std::string>> Prerequisites(const json::value& env_config,
                                                               const std::string& env_path) {
  std::vector<std::pair<std::string, std::string>> out;
  const json::object* cfg = env_config.if_object();
  if (cfg == nullptr) return out;
  const json::value* p = cfg->if_contains("prerequisites");
  const json::array* list = p == nullptr ? nullptr : p->if_array();
  if (list == nullptr) return out;
  for (size_t i = 0; i < list->size(); ++i) {
    const json::object* entry = (*list)[i].if_object();
    if (entry == nullptr) continue;
    const json::value* flag = entry->if_contains("flag");
    if (flag == nullptr || !flag->is_string()) continue;
    out.emplace_back(Str(flag->get_string()),
                     env_path + ".prerequisites[" + std::to_string(i) + "].flag");
  }
  return out;
}

}  // namespace

// ---- keys ----

namespace {

// kKeyRule, or with `upper_case` kFlagKeyRule.
bool KeyMatches(std::string_view key, bool upper_case) {
  if (key.empty() || key.size() > kMaxKeyLength) return false;
  for (size_t i = 0; i < key.size(); ++i) {
    char c = key[i];
    bool alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || (upper_case && c >= 'A' && c <= 'Z');
    if (alnum) continue;
    if (i > 0 && (c == '.' || c == '_' || c == '-')) continue;
    return false;
  }
  return true;
}

absl::Status BadKey(std::string_view key, std::string_view what, std::string_view rule, std::string_view letters) {
  return absl::InvalidArgumentError(std::string(what) + " " + Quoted(key) + ": must match " + std::string(rule) +
                                    " (" + std::string(letters) + ", digits, '.', '_', '-'; at most 64 characters)");
}

}  // namespace

bool IsValidKey(std::string_view key) { return KeyMatches(key, false); }
bool IsValidFlagKey(std::string_view key) { return KeyMatches(key, true); }

absl::Status ValidateKey(std::string_view key, std::string_view what) {
  return IsValidKey(key) ? absl::OkStatus() : BadKey(key, what, kKeyRule, "lower-case letters");
}

absl::Status ValidateFlagKey(std::string_view key, std::string_view what) {
  return IsValidFlagKey(key) ? absl::OkStatus() : BadKey(key, what, kFlagKeyRule, "letters");
}

absl::Status ValidateItemKey(storage::ItemKind kind, std::string_view key, std::string_view what) {
  return kind == storage::ItemKind::kFlag ? ValidateFlagKey(key, what) : ValidateKey(key, what);
}

std::optional<std::string> FoldedKeyConflict(std::string_view key,
                                             const std::vector<std::string>& existing) {
  for (const std::string& other : existing) {
    if (other == key || other.size() != key.size()) continue;
    bool same = true;
    for (size_t i = 0; same && i < key.size(); ++i) {
      same = absl::ascii_tolower(static_cast<unsigned char>(other[i])) ==
             absl::ascii_tolower(static_cast<unsigned char>(key[i]));
    }
    if (same) return other;
  }
  return std::nullopt;
}

namespace {
absl::Status FoldedKeyError(std::string_view key, std::string_view other) {
  return absl::InvalidArgumentError(
      "flag key " + Quoted(key) + ": differs only in case from the flag " + Quoted(other) +
      " (flag keys are case-sensitive, but two flags whose keys differ only in case are refused; "
      "rename one)");
}
}  // namespace

absl::StatusOr<json::object> ParseObject(std::string_view json_text, std::string_view what) {
  boost::system::error_code ec;
  json::value v = json::parse(json::string_view(json_text.data(), json_text.size()), ec);
  if (ec) return absl::InvalidArgumentError(std::string(what) + ": invalid JSON: " + ec.message());
  json::object* o = v.if_object();
  if (o == nullptr)
    return absl::InvalidArgumentError(std::string(what) + ": must be a JSON object");
  return std::move(*o);
}

// ---- environments ----

absl::StatusOr<Environment> ParseEnvironmentBody(const json::object& body) {
  EV_RETURN_IF_ERROR(CheckFields(body, {"key", "name", "parent", "protected", "policy"}));
  Environment env;
  const json::value* key = body.if_contains("key");
  if (key == nullptr || key->is_null()) return Invalid("key", "missing required field");
  if (!key->is_string()) return Invalid("key", "must be a string");
  env.key = Str(key->get_string());
  EV_RETURN_IF_ERROR(ValidateKey(env.key, "environment key"));

  env.name = env.key;
  if (const json::value* name = body.if_contains("name"); name != nullptr && !name->is_null()) {
    if (!name->is_string()) return Invalid("name", "must be a string");
    size_t length = CodePointLength(name->get_string());
    if (length == 0 || length > kMaxEnvironmentNameLength) {
      return Invalid(
          "name", "must be 1 to " + std::to_string(kMaxEnvironmentNameLength) + " characters long");
    }
    env.name = Str(name->get_string());
  }
  if (const json::value* parent = body.if_contains("parent");
      parent != nullptr && !parent->is_null()) {
    if (!parent->is_string()) return Invalid("parent", "must be an environment key or null");
    env.parent = Str(parent->get_string());
    EV_RETURN_IF_ERROR(ValidateKey(env.parent, "parent"));
  }
  if (const json::value* p = body.if_contains("protected"); p != nullptr && !p->is_null()) {
    if (!p->is_bool()) return Invalid("protected", "must be a boolean");
    env.is_protected = p->get_bool();
  }
  if (const json::value* p = body.if_contains("policy"); p != nullptr && !p->is_null()) {
    EV_ASSIGN_OR_RETURN(env.policy, ParsePolicy(*p));
  }
  return env;
}

namespace {

// A name sent by a client (create or rename) must not be only whitespace. Stored bodies
// are not held to it, so environments written before this rule still load.
absl::Status CheckNameNotBlank(const json::value& name) {
  std::string_view n(name.get_string().data(), name.get_string().size());
  if (!n.empty() && n.find_first_not_of(" \t\r\n") == std::string_view::npos) {
    return Invalid("name", "must not be blank");
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<json::object> PatchEnvironmentBody(const json::object& stored,
                                                  const json::object& change) {
  if (change.contains("key")) {
    return Invalid("key", "an environment's key cannot change (it names the environment in every "
                          "item, SDK key and resolved document); create a new environment instead");
  }
  EV_RETURN_IF_ERROR(CheckFields(change, {"name", "parent", "protected"}));
  json::object out = stored;
  if (const json::value* name = change.if_contains("name")) {
    if (!name->is_string()) return Invalid("name", "must be a string");
    EV_RETURN_IF_ERROR(CheckNameNotBlank(*name));
    out["name"] = *name;
  }
  if (const json::value* p = change.if_contains("protected")) {
    if (!p->is_bool()) return Invalid("protected", "must be a boolean");
    out["protected"] = *p;
  }
  // The parent is checked against the other environments (unknown, a cycle) by
  // EnvironmentSet::ValidateEnvironmentUpdate; here only its form.
  if (const json::value* parent = change.if_contains("parent")) {
    if (!parent->is_string() && !parent->is_null()) {
      return Invalid("parent", "must be an environment key or null (no parent)");
    }
    out["parent"] = *parent;
  }
  EV_RETURN_IF_ERROR(ParseEnvironmentBody(out).status());
  return out;
}

absl::StatusOr<EnvironmentPolicy> ParsePolicy(const json::value& v) {
  if (!v.is_object()) return Invalid("policy", "must be an object");
  const json::object& o = v.get_object();
  for (const auto& kv : o) {
    if (kv.key() != "required_approvals" && kv.key() != "approver_roles" &&
        kv.key() != "change_requests_required" && kv.key() != "leak_scan") {
      return Invalid("policy." + Str(kv.key()),
                     "unknown field (allowed: required_approvals, approver_roles, change_requests_required, "
                     "leak_scan)");
    }
  }
  EnvironmentPolicy p;
  if (const json::value* n = o.if_contains("required_approvals"); n != nullptr) {
    if (!n->is_int64() || n->get_int64() < 0 || n->get_int64() > kMaxRequiredApprovals) {
      return Invalid("policy.required_approvals",
                     "must be an integer from 0 to " + std::to_string(kMaxRequiredApprovals));
    }
    p.required_approvals = static_cast<int>(n->get_int64());
  }
  if (const json::value* roles = o.if_contains("approver_roles"); roles != nullptr) {
    if (!roles->is_array() || roles->get_array().empty()) {
      return Invalid("policy.approver_roles", "must be a non-empty list of \"developer\", \"admin\", \"owner\"");
    }
    std::set<std::string> seen;
    for (const json::value& r : roles->get_array()) {
      if (!r.is_string() || (r.get_string() != "developer" && r.get_string() != "admin" && r.get_string() != "owner")) {
        return Invalid("policy.approver_roles",
                       "each role must be \"developer\", \"admin\" or \"owner\" (viewers never approve)");
      }
      seen.insert(Str(r.get_string()));
    }
    p.approver_roles.assign(seen.begin(), seen.end());
  }
  if (const json::value* b = o.if_contains("change_requests_required"); b != nullptr) {
    if (!b->is_bool()) return Invalid("policy.change_requests_required", "must be a boolean");
    p.change_requests_required = b->get_bool();
  }
  if (const json::value* m = o.if_contains("leak_scan"); m != nullptr) {
    if (!m->is_string() || (m->get_string() != "off" && m->get_string() != "warn" && m->get_string() != "block")) {
      return Invalid("policy.leak_scan", "must be \"off\", \"warn\" or \"block\"");
    }
    p.leak_scan = Str(m->get_string());
  }
  return p;
}

json::object PolicyToJson(const EnvironmentPolicy& p) {
  json::array roles;
  for (const std::string& r : p.approver_roles) roles.emplace_back(r);
  json::object o{{"required_approvals", p.required_approvals},
                 {"approver_roles", std::move(roles)},
                 {"change_requests_required", p.change_requests_required}};
  if (p.leak_scan) o["leak_scan"] = *p.leak_scan;
  return o;
}

json::object EnvironmentToJson(const Environment& env) {
  json::object o;
  o["key"] = env.key;
  o["name"] = env.name;
  if (env.parent.empty()) {
    o["parent"] = nullptr;
  } else {
    o["parent"] = env.parent;
  }
  o["protected"] = env.is_protected;
  if (env.policy) o["policy"] = PolicyToJson(*env.policy);
  return o;
}

absl::StatusOr<EnvironmentSet> EnvironmentSet::FromItems(const std::vector<storage::Item>& items) {
  std::vector<Environment> envs;
  envs.reserve(items.size());
  for (const storage::Item& item : items) {
    std::string what = "environment " + Quoted(item.key);
    EV_ASSIGN_OR_RETURN(json::object body, ParseObject(item.body, what));
    absl::StatusOr<Environment> env = ParseEnvironmentBody(body);
    if (!env.ok())
      return absl::InvalidArgumentError(what + ": " + std::string(env.status().message()));
    if (env->key != item.key) {
      return absl::InvalidArgumentError(what + ": body has key " + Quoted(env->key));
    }
    envs.push_back(*std::move(env));
  }
  return FromEnvironments(std::move(envs));
}

absl::StatusOr<EnvironmentSet> EnvironmentSet::FromEnvironments(std::vector<Environment> envs) {
  EnvironmentSet set;
  for (Environment& env : envs) {
    std::string key = env.key;
    if (!set.envs_.emplace(key, std::move(env)).second) {
      return absl::InvalidArgumentError("environment " + Quoted(key) + " is listed twice");
    }
  }
  for (const auto& [key, env] : set.envs_) {
    if (env.parent.empty()) continue;
    if (!set.Contains(env.parent)) {
      return absl::InvalidArgumentError("environment " + Quoted(key) + ": unknown parent " +
                                        Quoted(env.parent));
    }
    // Walk up; more steps than environments means a cycle.
    std::string_view at = key;
    for (size_t steps = 0; !at.empty(); ++steps) {
      if (steps > set.envs_.size()) {
        return absl::InvalidArgumentError("environment " + Quoted(key) +
                                          ": its parents form a cycle");
      }
      at = set.Find(at)->parent;
    }
  }
  return set;
}

const Environment* EnvironmentSet::Find(std::string_view key) const {
  auto it = envs_.find(key);
  return it == envs_.end() ? nullptr : &it->second;
}

std::vector<std::string> EnvironmentSet::Keys() const {
  std::vector<std::string> out;
  out.reserve(envs_.size());
  for (const auto& [key, unused] : envs_) out.push_back(key);
  return out;
}

std::vector<std::string> EnvironmentSet::AncestorChain(std::string_view env) const {
  std::vector<std::string> chain;
  const Environment* at = Find(env);
  // The bound guards against a cycle in a set built without FromEnvironments' checks.
  while (at != nullptr && chain.size() <= envs_.size()) {
    chain.push_back(at->key);
    if (at->parent.empty()) break;
    at = Find(at->parent);
  }
  return chain;
}

std::vector<std::string> EnvironmentSet::Children(std::string_view env) const {
  std::vector<std::string> out;
  for (const auto& [key, e] : envs_) {
    if (!env.empty() && e.parent == env) out.push_back(key);  // map order: sorted
  }
  return out;
}

std::vector<std::string> EnvironmentSet::Descendants(std::string_view env) const {
  std::vector<std::string> out;
  if (!Contains(env)) return out;
  std::set<std::string, std::less<>> seen;
  std::deque<std::string> queue{std::string(env)};
  while (!queue.empty()) {
    std::string at = std::move(queue.front());
    queue.pop_front();
    if (!seen.insert(at).second) continue;
    for (std::string& child : Children(at)) queue.push_back(std::move(child));
    out.push_back(std::move(at));
  }
  return out;
}

absl::StatusOr<Environment> EnvironmentSet::ValidateNewEnvironment(const json::object& body) const {
  if (const json::value* name = body.if_contains("name"); name != nullptr && name->is_string()) {
    EV_RETURN_IF_ERROR(CheckNameNotBlank(*name));
  }
  EV_ASSIGN_OR_RETURN(Environment env, ParseEnvironmentBody(body));
  if (Contains(env.key)) {
    return absl::AlreadyExistsError("environment " + Quoted(env.key) + " already exists");
  }
  if (env.parent == env.key) return Invalid("parent", "an environment cannot inherit from itself");
  if (!env.parent.empty() && !Contains(env.parent)) {
    return Invalid("parent", "unknown environment " + Quoted(env.parent));
  }
  return env;
}

absl::StatusOr<Environment> EnvironmentSet::ValidateEnvironmentUpdate(
    const json::object& body) const {
  EV_ASSIGN_OR_RETURN(Environment env, ParseEnvironmentBody(body));
  if (!Contains(env.key))
    return absl::NotFoundError("environment " + Quoted(env.key) + " not found");
  if (env.parent.empty()) return env;
  if (!Contains(env.parent)) return Invalid("parent", "unknown environment " + Quoted(env.parent));
  for (const std::string& d : Descendants(env.key)) {
    if (d == env.parent) {
      return Invalid("parent", "inheriting from " + Quoted(env.parent) +
                                   " would make a cycle (it inherits from " + Quoted(env.key) +
                                   ")");
    }
  }
  return env;
}

EnvironmentSet EnvironmentSet::With(Environment env) const {
  EnvironmentSet copy = *this;
  std::string key = env.key;
  copy.envs_[key] = std::move(env);
  return copy;
}

// ---- configs ----

absl::StatusOr<json::object> ValidateConfigBody(std::string_view key, const json::object& request,
                                                const EnvironmentSet& envs) {
  EV_RETURN_IF_ERROR(ValidateKey(key, "config key"));
  EV_RETURN_IF_ERROR(CheckFields(request, {"type", "description", "client_visible", "schema", "values"}));
  EV_RETURN_IF_ERROR(CheckFinite(request));
  json::object out;

  const json::value* type_v = request.if_contains("type");
  if (type_v == nullptr || type_v->is_null()) return Invalid("type", "missing required field");
  const json::string* type_s = type_v->if_string();
  std::string type = type_s == nullptr ? "" : Str(*type_s);
  if (type != "string" && type != "integer" && type != "number" && type != "boolean" &&
      type != "json") {
    return Invalid("type",
                   "must be one of \"string\", \"integer\", \"number\", \"boolean\", \"json\"");
  }
  out["type"] = type;
  EV_RETURN_IF_ERROR(CopyDescription(request, out));
  EV_RETURN_IF_ERROR(CopyClientVisible(request, out));

  std::optional<JsonSchema> schema;
  const json::value* schema_v = request.if_contains("schema");
  if (schema_v != nullptr && !schema_v->is_null()) {
    if (!schema_v->is_object()) return Invalid("schema", "must be an object or null");
    EV_ASSIGN_OR_RETURN(schema, JsonSchema::Compile(*schema_v));
    out["schema"] = *schema_v;
  } else {
    out["schema"] = nullptr;
  }

  json::object values;
  if (const json::value* values_v = request.if_contains("values");
      values_v != nullptr && !values_v->is_null()) {
    const json::object* given = values_v->if_object();
    if (given == nullptr) return Invalid("values", "must be an object (environment key → value)");
    for (const auto& member : *given) {
      std::string env = Str(member.key());
      std::string path = "values." + env;
      if (!envs.Contains(env)) return Invalid(path, "unknown environment " + Quoted(env));
      if (json::serialize(member.value()).size() > kMaxValueBytes) {
        return Invalid(path, "larger than " + std::to_string(kMaxValueBytes) + " bytes");
      }
      EV_ASSIGN_OR_RETURN(json::value v, CheckConfigType(type, member.value(), path));
      if (schema.has_value()) {
        absl::Status s = schema->Validate(v);
        if (!s.ok()) return Invalid(path, std::string(s.message()));
      }
      values.emplace(env, std::move(v));
    }
  }
  out["values"] = SortedByKey(values);
  return out;
}

// ---- flags ----

FlagInEnvironment FlagConfigFor(const json::object& flag, const std::vector<std::string>& chain) {
  const json::value* variations = flag.if_contains("variations");
  const json::value* environments_v = flag.if_contains("environments");
  const json::object* environments =
      environments_v == nullptr ? nullptr : environments_v->if_object();
  if (variations == nullptr || environments == nullptr) return {};
  for (const std::string& at : chain) {
    const json::value* c = environments->if_contains(at);
    if (c != nullptr && !c->is_null()) return {variations, c};
  }
  return {};
}

json::object ResolveFlagsForEnvironment(const json::object& flags_by_key,
                                        const EnvironmentSet& envs, std::string_view env) {
  std::vector<std::string> chain = envs.AncestorChain(env);
  // Sorted by key through pointers: copying every flag body first (SortedByKey) made
  // this the most expensive step of a write in a large workspace.
  std::vector<const json::key_value_pair*> sorted;
  sorted.reserve(flags_by_key.size());
  for (const auto& m : flags_by_key) sorted.push_back(&m);
  std::sort(sorted.begin(), sorted.end(),
            [](const auto* a, const auto* b) { return a->key() < b->key(); });
  json::object out;
  out.reserve(sorted.size());
  for (const json::key_value_pair* member_ptr : sorted) {
    const json::key_value_pair& member = *member_ptr;
    const json::object* flag = member.value().if_object();
    if (flag == nullptr) continue;
    auto [variations, config] = FlagConfigFor(*flag, chain);
    if (config == nullptr) continue;
    json::object resolved;
    if (const json::value* salt = flag->if_contains("salt")) resolved["salt"] = *salt;
    resolved["variations"] = *variations;
    json::object env_configs;
    env_configs.emplace(json::string_view(env.data(), env.size()), *config);
    resolved["environments"] = std::move(env_configs);
    out.emplace(member.key(), std::move(resolved));
  }
  return out;
}

absl::Status ValidateFlagSet(const json::object& all_flags, const EnvironmentSet& envs) {
  // Keys differing only in case (model.h, kFlagKeyRule): every path that writes several
  // flags at once (change requests, promotions, rollbacks, batches) passes here.
  std::map<std::string, std::string> folded;
  for (const auto& member : all_flags) {
    std::string key = Str(member.key());
    auto [it, inserted] = folded.emplace(absl::AsciiStrToLower(key), key);
    if (!inserted) return FoldedKeyError(key, it->second);
  }
  std::map<std::string, std::vector<std::string>> deps;
  for (const auto& member : all_flags) {
    std::string flag_key = Str(member.key());
    std::vector<std::string>& edges = deps[flag_key];
    const json::object* flag = member.value().if_object();
    if (flag == nullptr)
      return absl::InvalidArgumentError("flag " + Quoted(flag_key) + ": must be an object");
    const json::value* environments_v = flag->if_contains("environments");
    const json::object* environments =
        environments_v == nullptr ? nullptr : environments_v->if_object();
    if (environments == nullptr) continue;
    const bool client_visible = IsClientVisible(*flag);
    for (const auto& env : *environments) {
      for (auto& [required, path] : Prerequisites(env.value(), "environments." + Str(env.key()))) {
        if (!all_flags.contains(required)) {
          return absl::InvalidArgumentError("flag " + Quoted(flag_key) + ": " + path +
                                            ": unknown flag " + Quoted(required));
        }
        // Issue 19: client keys evaluate a client-visible flag from the client document,
        // where a server-only prerequisite is absent; its key would reach browsers (the
        // flag's configuration and failedPrerequisite) and the flag would always fail for
        // them. So a client-visible flag may only require client-visible flags, whichever
        // write breaks that (this flag's, the prerequisite's, a promotion, a rollback).
        const json::value* required_v = all_flags.if_contains(required);
        const json::object* required_body = required_v == nullptr ? nullptr : required_v->if_object();
        if (client_visible && (required_body == nullptr || !IsClientVisible(*required_body))) {
          return absl::InvalidArgumentError(
              "flag " + Quoted(flag_key) + ": " + path + ": flag " + Quoted(required) +
              " is not client_visible, but " + Quoted(flag_key) +
              " is: client keys would see a server-only flag's key and never pass the "
              "prerequisite. Mark " + Quoted(required) + " client_visible too, or remove the "
              "prerequisite, or make " + Quoted(flag_key) + " server-only");
        }
        if (std::find(edges.begin(), edges.end(), required) == edges.end()) {
          edges.push_back(required);
        }
      }
    }
  }
  EV_RETURN_IF_ERROR(eval::CheckPrerequisiteCycles(deps));

  static const json::object kNoSegments;
  for (const std::string& env : envs.Keys()) {
    json::object resolved = ResolveFlagsForEnvironment(all_flags, envs, env);
    absl::StatusOr<std::shared_ptr<const eval::FlagSet>> set =
        eval::FlagSet::Build(resolved, kNoSegments, env);
    if (!set.ok()) {
      return absl::InvalidArgumentError("environment " + Quoted(env) + ": " +
                                        std::string(set.status().message()));
    }
  }
  return absl::OkStatus();
}

namespace {

// The checks of one flag body that need no other flag; returns the normalised body.
absl::StatusOr<json::object> NormaliseFlag(std::string_view key, const json::object& request,
                                           const EnvironmentSet& envs) {
  EV_RETURN_IF_ERROR(ValidateFlagKey(key));
  if (key == "stale") {
    return absl::InvalidArgumentError(
        "flag key \"stale\" is reserved: GET /v1/workspaces/{ws}/flags/stale is the stale-flags report");
  }
  EV_RETURN_IF_ERROR(CheckFields(request, {"description", "client_visible", "lifecycle", "owner", "remove_after", "salt", "variations",
                                           "environments"}));
  EV_RETURN_IF_ERROR(CheckFinite(request));
  EV_RETURN_IF_ERROR(eval::ValidateFlag(request));

  json::object out;
  EV_RETURN_IF_ERROR(CopyDescription(request, out));
  EV_RETURN_IF_ERROR(CopyLifecycle(request, out));
  EV_RETURN_IF_ERROR(CopyClientVisible(request, out));
  if (const json::value* salt = request.if_contains("salt")) out["salt"] = *salt;
  out["variations"] = request.at("variations");  // ValidateFlag: present
  const json::object& environments = request.at("environments").get_object();
  for (const auto& member : environments) {
    std::string env = Str(member.key());
    if (!envs.Contains(env))
      return Invalid("environments." + env, "unknown environment " + Quoted(env));
  }
  out["environments"] = SortedByKey(environments);
  return out;
}

// The nearest non-null configuration of `flag` along `chain` (env, parent, ...), as
// ResolveFlagsForEnvironment picks it; nullptr when the flag is absent from that
// environment (or lacks "variations" / "environments").
const json::value* NearestConfig(const json::object& flag, const std::vector<std::string>& chain) {
  const json::value* environments_v = flag.if_contains("environments");
  const json::object* environments =
      environments_v == nullptr ? nullptr : environments_v->if_object();
  if (flag.if_contains("variations") == nullptr || environments == nullptr) return nullptr;
  for (const std::string& at : chain) {
    const json::value* c = environments->if_contains(at);
    if (c != nullptr && !c->is_null()) return c;
  }
  return nullptr;
}

// The number of variations, or -1 when "variations" is not an array.
int64_t VariationCount(const json::object& flag) {
  const json::value* v = flag.if_contains("variations");
  const json::array* a = v == nullptr ? nullptr : v->if_array();
  return a == nullptr ? -1 : static_cast<int64_t>(a->size());
}

// Every flag key named as a prerequisite in any environment of `flag`.
std::vector<std::string> AllPrerequisites(const json::object& flag) {
  std::vector<std::string> out;
  const json::value* environments_v = flag.if_contains("environments");
  const json::object* environments =
      environments_v == nullptr ? nullptr : environments_v->if_object();
  if (environments == nullptr) return out;
  for (const auto& env : *environments) {
    for (auto& [required, unused_path] : Prerequisites(env.value(), "")) {
      out.push_back(std::move(required));
    }
  }
  return out;
}

// Stored flags read through a FlagLookup, each parsed once per call.
class CachedFlags {
 public:
  explicit CachedFlags(FlagLookup& lookup) : lookup_(lookup) {}
  // nullptr when there is no such flag.
  absl::StatusOr<const json::object*> Get(const std::string& key) {
    auto it = cache_.find(key);
    if (it == cache_.end()) {
      EV_ASSIGN_OR_RETURN(std::optional<json::object> body, lookup_.Find(key));
      it = cache_.emplace(key, std::move(body)).first;
    }
    return it->second ? &*it->second : nullptr;
  }

 private:
  FlagLookup& lookup_;
  std::map<std::string, std::optional<json::object>> cache_;
};

// Whether the change of flag `key` to `after` may break a set that was valid before: a
// cycle through `key`, a prerequisite of `key` out of range, or (when the flag existed)
// a flag requiring `key` that the change could break. false = certainly still valid.
absl::StatusOr<bool> FlagChangeNeedsFullCheck(const std::string& key, const json::object& after,
                                              const EnvironmentSet& envs, FlagLookup& lookup,
                                              CachedFlags& flags) {
  // A client-visible flag with prerequisites: the full check makes sure each is
  // client-visible too (ValidateFlagSet).
  if (IsClientVisible(after) && !AllPrerequisites(after).empty()) return true;
  // Cycles: only one through `key` can be new. Walk what `key` requires, transitively.
  std::set<std::string> visited;
  std::vector<std::string> stack = AllPrerequisites(after);
  while (!stack.empty()) {
    std::string next = std::move(stack.back());
    stack.pop_back();
    if (next == key) return true;
    if (!visited.insert(next).second) continue;
    EV_ASSIGN_OR_RETURN(const json::object* body, flags.Get(next));
    if (body == nullptr) return true;  // an unknown prerequisite: let the full check name it
    for (std::string& p : AllPrerequisites(*body)) stack.push_back(std::move(p));
  }

  // This flag's prerequisites, environment by environment, as FlagSet::Build sees them:
  // the variation must exist in the required flag when that flag is in the environment.
  for (const std::string& env : envs.Keys()) {
    std::vector<std::string> chain = envs.AncestorChain(env);
    const json::value* config = NearestConfig(after, chain);
    const json::object* config_obj = config == nullptr ? nullptr : config->if_object();
    const json::value* list_v = config_obj == nullptr ? nullptr : config_obj->if_contains("prerequisites");
    const json::array* list = list_v == nullptr ? nullptr : list_v->if_array();
    if (list == nullptr) continue;
    for (const json::value& entry_v : *list) {
      const json::object* entry = entry_v.if_object();
      const json::value* flag_v = entry == nullptr ? nullptr : entry->if_contains("flag");
      const json::value* variation = entry == nullptr ? nullptr : entry->if_contains("variation");
      if (flag_v == nullptr || !flag_v->is_string() || variation == nullptr) return true;
      std::string required = Str(flag_v->get_string());
      const json::object* required_body = &after;
      if (required != key) {
        EV_ASSIGN_OR_RETURN(required_body, flags.Get(required));
        if (required_body == nullptr) return true;
      }
      if (NearestConfig(*required_body, chain) == nullptr) continue;
      int64_t count = VariationCount(*required_body);
      if (!variation->is_int64() || variation->get_int64() < 0 ||
          variation->get_int64() >= count) {
        return true;
      }
    }
  }

  // Flags requiring this one: only a change that removes variations or brings the flag
  // into more environments can break them (a new flag has none: every write checks that
  // its prerequisites exist, and a flag others require cannot be deleted).
  EV_ASSIGN_OR_RETURN(const json::object* before, flags.Get(key));
  if (before == nullptr) {
    // A new flag: its key must not differ only in case from a stored one. This reads the
    // stored keys, so creating a flag costs one scan; changing one still does not.
    EV_ASSIGN_OR_RETURN(std::vector<std::string> keys, lookup.Keys());
    if (FoldedKeyConflict(key, keys)) return true;  // the full check names the conflict
    return false;
  }
  bool may_break = VariationCount(after) < VariationCount(*before) ||
                   (IsClientVisible(*before) && !IsClientVisible(after));  // a client-visible flag may require it
  for (const std::string& env : envs.Keys()) {
    if (may_break) break;
    std::vector<std::string> chain = envs.AncestorChain(env);
    may_break = NearestConfig(after, chain) != nullptr && NearestConfig(*before, chain) == nullptr;
  }
  if (!may_break) return false;
  EV_ASSIGN_OR_RETURN(json::object all, lookup.All());
  for (const auto& member : all) {
    if (member.key() == key) continue;
    const json::object* body = member.value().if_object();
    if (body == nullptr) return true;
    for (const std::string& p : AllPrerequisites(*body)) {
      if (p == key) return true;
    }
  }
  return false;
}

}  // namespace

absl::StatusOr<json::object> ValidateFlagBody(std::string_view key, const json::object& request,
                                              const EnvironmentSet& envs,
                                              const json::object& all_flags_after_change) {
  EV_ASSIGN_OR_RETURN(json::object out, ValidateFlagItself(key, request, envs, all_flags_after_change));
  json::object after = all_flags_after_change;
  after[json::string_view(key.data(), key.size())] = out;
  EV_RETURN_IF_ERROR(ValidateFlagSet(after, envs));
  return out;
}

absl::StatusOr<json::object> ValidateFlagItself(std::string_view key, const json::object& request,
                                                const EnvironmentSet& envs,
                                                const json::object& all_flags_after_change) {
  EV_ASSIGN_OR_RETURN(json::object out, NormaliseFlag(key, request, envs));
  const json::object& environments = request.at("environments").get_object();  // NormaliseFlag: present

  // This flag's own prerequisites first, so the message names its path without a prefix.
  for (const auto& member : environments) {
    for (auto& [required, path] :
         Prerequisites(member.value(), "environments." + Str(member.key()))) {
      if (required != key && !all_flags_after_change.contains(required)) {
        return Invalid(path, "unknown flag " + Quoted(required));
      }
    }
  }
  return out;
}

absl::StatusOr<json::object> ValidateFlagWrite(std::string_view key, const json::object& request,
                                               const EnvironmentSet& envs, FlagLookup& lookup) {
  EV_ASSIGN_OR_RETURN(json::object out, NormaliseFlag(key, request, envs));
  const json::object& environments = request.at("environments").get_object();  // NormaliseFlag: present
  std::string self(key);
  CachedFlags flags(lookup);
  for (const auto& member : environments) {
    for (auto& [required, path] :
         Prerequisites(member.value(), "environments." + Str(member.key()))) {
      if (required == self) continue;
      EV_ASSIGN_OR_RETURN(const json::object* body, flags.Get(required));
      if (body == nullptr) return Invalid(path, "unknown flag " + Quoted(required));
    }
  }
  EV_ASSIGN_OR_RETURN(bool full, FlagChangeNeedsFullCheck(self, out, envs, lookup, flags));
  if (!full) return out;
  EV_ASSIGN_OR_RETURN(json::object all, lookup.All());
  return ValidateFlagBody(key, request, envs, all);
}

absl::StatusOr<std::vector<std::string>> FlagLookup::Keys() {
  EV_ASSIGN_OR_RETURN(json::object all, All());
  std::vector<std::string> out;
  out.reserve(all.size());
  for (const auto& member : all) out.push_back(Str(member.key()));
  return out;
}

absl::Status ValidateFlagDelete(std::string_view key, const EnvironmentSet& envs,
                                FlagLookup& lookup) {
  EV_ASSIGN_OR_RETURN(json::object all, lookup.All());
  all.erase(json::string_view(key.data(), key.size()));
  for (const auto& member : all) {
    const json::object* body = member.value().if_object();
    bool required = body == nullptr;
    if (body != nullptr) {
      for (const std::string& p : AllPrerequisites(*body)) required = required || p == key;
    }
    // Removing a flag nobody requires cannot break the others (nothing to compile).
    if (required) return ValidateFlagSet(all, envs);
  }
  return absl::OkStatus();
}

// ---- segments ----

absl::StatusOr<json::object> ValidateSegmentBody(std::string_view key, const json::object& request,
                                                 const json::object& all_segments_after_change) {
  EV_ASSIGN_OR_RETURN(json::object out, ValidateSegmentItself(key, request));
  json::object after = all_segments_after_change;
  after[json::string_view(key.data(), key.size())] = out;
  EV_RETURN_IF_ERROR(ValidateSegmentSet(after));
  return out;
}

absl::Status ValidateSegmentSet(const json::object& all_segments) {
  static const json::object kNoFlags;
  return eval::FlagSet::Build(kNoFlags, all_segments, "").status();
}

absl::StatusOr<json::object> ValidateSegmentItself(std::string_view key, const json::object& request) {
  EV_RETURN_IF_ERROR(ValidateKey(key, "segment key"));
  EV_RETURN_IF_ERROR(CheckFields(request, {"description", "included", "excluded", "rules"}));
  EV_RETURN_IF_ERROR(CheckFinite(request));
  EV_RETURN_IF_ERROR(eval::ValidateSegment(request));
  json::object out;
  EV_RETURN_IF_ERROR(CopyDescription(request, out));
  for (std::string_view field : {"included", "excluded", "rules"}) {
    const json::value* v = request.if_contains(field);
    out[field] = (v == nullptr || v->is_null()) ? json::value(json::array()) : *v;
  }
  return out;
}

// ---- helpers ----

std::set<std::string> EnvironmentsNamed(storage::ItemKind kind, const json::object& body) {
  std::set<std::string> out;
  std::string_view field;
  if (kind == storage::ItemKind::kConfig) field = "values";
  if (kind == storage::ItemKind::kFlag) field = "environments";
  if (field.empty()) return out;
  const json::value* v = body.if_contains(field);
  if (v == nullptr || !v->is_object()) return out;
  for (const auto& member : v->get_object()) out.insert(Str(member.key()));
  return out;
}

}  // namespace edgevault::workspace
