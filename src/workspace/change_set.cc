#include "src/workspace/change_set.h"

#include "src/base/status.h"
#include "src/workspace/effect.h"

namespace edgevault::workspace {

namespace json = boost::json;
using storage::ItemKind;

namespace {

std::string Quoted(std::string_view s) {
  return json::serialize(json::string(json::string_view(s.data(), s.size())));
}

std::string Name(ItemKind kind, std::string_view key) {
  return std::string(storage::ItemKindName(kind)) + " " + Quoted(key);
}

std::optional<json::object> ParseBody(const std::string& text) {
  boost::system::error_code ec;
  json::value v = json::parse(text, ec);
  if (ec || !v.is_object()) return std::nullopt;
  return std::move(v.get_object());
}

json::object* MemberObject(json::object& o, std::string_view name) {
  json::value* v = o.if_contains(name);
  return v == nullptr ? nullptr : v->if_object();
}

const json::object* MemberObject(const json::object& o, std::string_view name) {
  const json::value* v = o.if_contains(name);
  return v == nullptr ? nullptr : v->if_object();
}

// The value an environment serves for a config: the nearest along its chain.
const json::value* ServedValue(const json::object& body, const std::vector<std::string>& chain) {
  const json::object* values = MemberObject(body, "values");
  if (values == nullptr) return nullptr;
  for (const std::string& at : chain) {
    if (const json::value* v = values->if_contains(at)) return v;
  }
  return nullptr;
}

bool Selected(const PromotionRequest& r, ItemKind kind, const std::string& key) {
  if (!r.kinds.empty() && !r.kinds.contains(kind)) return false;
  if (r.items.empty()) return true;
  for (const auto& [k, name] : r.items) {
    if ((!k || *k == kind) && name == key) return true;
  }
  return false;
}

absl::Status WithItem(ItemKind kind, std::string_view key, const absl::Status& st) {
  return absl::Status(st.code(), Name(kind, key) + ": " + std::string(st.message()));
}

// A computed plan, refused when empty (FailedPrecondition "nothing_to_promote" with
// `nothing`) and validated against the workspace's flags and environments.
absl::StatusOr<PlannedChangeSet> Validated(PlannedChangeSet plan, const ChangeSetInput& in, const std::string& nothing);

}  // namespace

absl::StatusOr<PromotionRequest> ParsePromotionRequest(const json::object& body) {
  PromotionRequest r;
  for (const char* field : {"from", "to"}) {
    const json::value* v = body.if_contains(field);
    if (v == nullptr || !v->is_string() || v->get_string().empty()) {
      return absl::InvalidArgumentError(std::string("field '") + field + "': must be an environment key");
    }
    (field[0] == 'f' ? r.from : r.to) = std::string(v->get_string());
  }
  if (const json::value* kinds = body.if_contains("kinds"); kinds != nullptr && !kinds->is_null()) {
    if (!kinds->is_array()) return absl::InvalidArgumentError("field 'kinds': must be a list of config, flag, secret");
    for (const json::value& k : kinds->get_array()) {
      absl::StatusOr<ItemKind> kind = k.is_string() ? storage::ParseItemKind(k.get_string())
                                                    : absl::InvalidArgumentError("not a string");
      if (!kind.ok() || (*kind != ItemKind::kConfig && *kind != ItemKind::kFlag && *kind != ItemKind::kSecret)) {
        return absl::InvalidArgumentError("field 'kinds': each kind must be config, flag or secret");
      }
      r.kinds.insert(*kind);
    }
  }
  if (const json::value* items = body.if_contains("items"); items != nullptr && !items->is_null()) {
    if (!items->is_array()) return absl::InvalidArgumentError("field 'items': must be a list of {kind, key}");
    for (const json::value& it : items->get_array()) {
      const json::object* o = it.if_object();
      const json::value* kind_v = o == nullptr ? nullptr : o->if_contains("kind");
      const json::value* key_v = o == nullptr ? nullptr : o->if_contains("key");
      if (key_v == nullptr || !key_v->is_string() || (kind_v != nullptr && !kind_v->is_string()) ||
          o->size() != (kind_v == nullptr ? 1u : 2u)) {
        return absl::InvalidArgumentError("field 'items': each item must be {\"kind\"?: ..., \"key\": ...}");
      }
      std::optional<ItemKind> kind;
      if (kind_v != nullptr) {
        absl::StatusOr<ItemKind> k = storage::ParseItemKind(kind_v->get_string());
        if (!k.ok() || (*k != ItemKind::kConfig && *k != ItemKind::kFlag && *k != ItemKind::kSecret)) {
          return absl::InvalidArgumentError("field 'items': kind must be config, flag or secret");
        }
        kind = *k;
      }
      r.items.emplace_back(kind, std::string(key_v->get_string()));
    }
  }
  return r;
}

json::object PromotionRequestToJson(const PromotionRequest& r) {
  json::object o{{"from", r.from}, {"to", r.to}};
  if (!r.items.empty()) {
    json::array items;
    for (const auto& [kind, key] : r.items) {
      json::object item{{"key", key}};
      if (kind) item["kind"] = storage::ItemKindName(*kind);
      items.push_back(std::move(item));
    }
    o["items"] = std::move(items);
  }
  if (!r.kinds.empty()) {
    json::array kinds;
    for (ItemKind k : r.kinds) kinds.emplace_back(storage::ItemKindName(k));
    o["kinds"] = std::move(kinds);
  }
  return o;
}

absl::StatusOr<PlannedChangeSet> ComputePromotion(const PromotionRequest& r, const ChangeSetInput& in) {
  for (const std::string* env : {&r.from, &r.to}) {
    if (!in.envs.Contains(*env)) return absl::InvalidArgumentError("unknown environment " + Quoted(*env));
  }
  if (r.from == r.to) return absl::InvalidArgumentError("'from' and 'to' must be different environments");
  // Every named item must exist.
  for (const auto& [kind, key] : r.items) {
    bool found = false;
    for (ItemKind k : {ItemKind::kConfig, ItemKind::kFlag, ItemKind::kSecret}) {
      if (kind && *kind != k) continue;
      const std::vector<storage::Item>& list =
          k == ItemKind::kConfig ? in.configs : k == ItemKind::kFlag ? in.flags : in.secrets;
      for (const auto& item : list) found = found || item.key == key;
    }
    if (!found) {
      return absl::InvalidArgumentError("field 'items': no " + (kind ? Name(*kind, key) : "item " + Quoted(key)));
    }
  }
  const std::vector<std::string> from_chain = in.envs.AncestorChain(r.from);
  const std::vector<std::string> to_chain = in.envs.AncestorChain(r.to);
  PlannedChangeSet plan;
  auto touch = [&](const std::set<std::string>& envs) { plan.environments.insert(envs.begin(), envs.end()); };

  for (const storage::Item& item : in.configs) {
    if (!Selected(r, ItemKind::kConfig, item.key)) continue;
    std::optional<json::object> body = ParseBody(item.body);
    if (!body) continue;
    const json::value* source = ServedValue(*body, from_chain);
    if (source == nullptr) continue;
    const json::value* target = ServedValue(*body, to_chain);
    if (target != nullptr && *target == *source) continue;
    json::object after = *body;
    json::value before_own = nullptr;
    json::object* values = MemberObject(after, "values");
    if (values == nullptr) continue;
    if (const json::value* own = values->if_contains(r.to)) before_own = *own;
    (*values)[r.to] = *source;
    touch(ConfigEffect(item.key, &*body, &after, in.envs));
    PlannedChange c{.kind = ItemKind::kConfig, .key = item.key, .expected_revision = item.revision,
                    .environment = r.to, .body = json::serialize(after)};
    c.before = target == nullptr ? json::value(nullptr) : *target;
    c.after = *source;
    plan.changes.push_back(std::move(c));
  }

  for (const storage::Item& item : in.flags) {
    if (!Selected(r, ItemKind::kFlag, item.key)) continue;
    std::optional<json::object> body = ParseBody(item.body);
    if (!body) continue;
    FlagInEnvironment source = FlagConfigFor(*body, from_chain);
    if (source.config == nullptr) continue;
    FlagInEnvironment target = FlagConfigFor(*body, to_chain);
    if (target.config != nullptr && *target.config == *source.config) continue;
    json::object after = *body;
    json::object* environments = MemberObject(after, "environments");
    if (environments == nullptr) continue;
    (*environments)[r.to] = *source.config;
    touch(FlagEffect(item.key, &*body, &after, in.envs));
    PlannedChange c{.kind = ItemKind::kFlag, .key = item.key, .expected_revision = item.revision,
                    .environment = r.to, .body = json::serialize(after)};
    c.before = target.config == nullptr ? json::value(nullptr) : *target.config;
    c.after = *source.config;
    plan.changes.push_back(std::move(c));
  }

  for (const storage::Item& item : in.secrets) {
    if (!Selected(r, ItemKind::kSecret, item.key)) continue;
    std::optional<json::object> body = ParseBody(item.body);
    if (!body) continue;
    std::string from = SecretSource(*body, in.envs, r.from);
    if (from.empty()) continue;
    const json::object* values = MemberObject(*body, "values");
    const json::object* sealed = values == nullptr ? nullptr : MemberObject(*values, from);
    const json::value* version = sealed == nullptr ? nullptr : sealed->if_contains("version");
    if (version == nullptr || !version->is_int64()) {
      return absl::DataLossError(Name(ItemKind::kSecret, item.key) + ": the stored value in " + Quoted(from) +
                                 " is malformed");
    }
    // Always a change (docs/design/promotions.md §2): never compared with the target's.
    json::object after = *body;
    (*MemberObject(after, "values"))[r.to] = json::object{{"sealing", true}};
    touch(SecretEffect(&*body, &after, in.envs));
    plan.changes.push_back(PlannedChange{.kind = ItemKind::kSecret, .key = item.key,
                                         .expected_revision = item.revision, .environment = r.to,
                                         .secret_from = from, .secret_version = version->get_int64()});
  }

  return Validated(std::move(plan), in,
                   "nothing to promote: every selected item already serves in " + Quoted(r.to) +
                       " what it serves in " + Quoted(r.from));
}

absl::StatusOr<PlannedChangeSet> ComputeRevert(const std::vector<storage::Revision>& applied,
                                               const ChangeSetInput& in) {
  PlannedChangeSet plan;
  for (const storage::Revision& rev : applied) {
    const std::vector<storage::Item>* list = rev.kind == ItemKind::kConfig ? &in.configs
                                             : rev.kind == ItemKind::kFlag ? &in.flags
                                             : rev.kind == ItemKind::kSecret ? &in.secrets
                                                                              : nullptr;
    if (list == nullptr || rev.environment.empty()) {
      return absl::InvalidArgumentError(Name(rev.kind, rev.key) + ": revision " + std::to_string(rev.seq) +
                                        " is not a change of one environment's part; it cannot be reverted here");
    }
    const storage::Item* now = nullptr;
    for (const auto& item : *list) {
      if (item.key == rev.key) now = &item;
    }
    std::optional<json::object> current = now == nullptr ? std::nullopt : ParseBody(now->body);
    std::optional<json::object> before = ParseBody(rev.before);
    if (!current || !before) {
      return absl::InvalidArgumentError(Name(rev.kind, rev.key) + " was deleted or created by the change; "
                                        "revert its revisions instead");
    }
    const std::string& env = rev.environment;
    const char* part = rev.kind == ItemKind::kFlag ? "environments" : "values";
    const json::object* before_part = MemberObject(*before, part);
    const json::value* old = before_part == nullptr ? nullptr : before_part->if_contains(env);
    json::object after = *current;
    json::value& members = after[part];
    if (!members.is_object()) members = json::object();
    // A copy: `members` changes below, which may move its elements.
    std::optional<json::value> was_now;
    if (const json::value* v = members.as_object().if_contains(env)) was_now = *v;
    PlannedChange c{.kind = rev.kind, .key = rev.key, .expected_revision = now->revision, .environment = env};
    if (rev.kind == ItemKind::kSecret) {
      const json::value* version = old != nullptr && old->is_object() ? old->as_object().if_contains("version") : nullptr;
      if (old != nullptr && (version == nullptr || !version->is_int64())) {
        return absl::DataLossError(Name(rev.kind, rev.key) + ": the value before revision " + std::to_string(rev.seq) +
                                   " is malformed");
      }
      if (old == nullptr) {
        if (!was_now) continue;  // already without a value
        c.secret_remove = true;
        members.as_object().erase(env);
      } else {
        c.secret_from = env;
        c.secret_version = version->get_int64();
        c.secret_from_revision = rev.seq;
        members.as_object()[env] = json::object{{"sealing", true}};
      }
      plan.environments.merge(SecretEffect(&*current, &after, in.envs));
      plan.changes.push_back(std::move(c));
      continue;
    }
    if (old == nullptr) {
      if (!was_now) continue;
      members.as_object().erase(env);
    } else {
      if (was_now && *was_now == *old) continue;
      members.as_object()[env] = *old;
    }
    c.before = was_now ? *was_now : json::value(nullptr);
    c.after = old == nullptr ? json::value(nullptr) : *old;
    c.body = json::serialize(after);
    plan.environments.merge(rev.kind == ItemKind::kConfig ? ConfigEffect(rev.key, &*current, &after, in.envs)
                                                          : FlagEffect(rev.key, &*current, &after, in.envs));
    plan.changes.push_back(std::move(c));
  }
  return Validated(std::move(plan), in, "nothing to revert: every item is already as it was before");
}

absl::Status ValidateChanges(const std::vector<PlannedChange>& changes, const EnvironmentSet& envs,
                             const json::object& flags_now) {
  json::object flags = flags_now;
  std::vector<std::pair<const PlannedChange*, json::object>> parsed;
  for (const PlannedChange& c : changes) {
    if (c.kind == ItemKind::kSecret) continue;
    if (!c.body) return absl::InvalidArgumentError(Name(c.kind, c.key) + ": the change has no body");
    std::optional<json::object> body = ParseBody(*c.body);
    if (!body) return absl::InvalidArgumentError(Name(c.kind, c.key) + ": the body is not a JSON object");
    if (c.kind == ItemKind::kFlag) flags[c.key] = *body;
    parsed.emplace_back(&c, std::move(*body));
  }
  bool any_flag = false;
  for (const auto& [c, body] : parsed) {
    absl::Status st;
    if (c->kind == ItemKind::kConfig) {
      st = ValidateConfigBody(c->key, body, envs).status();
    } else if (c->kind == ItemKind::kFlag) {
      any_flag = true;
      st = ValidateFlagBody(c->key, body, envs, flags).status();
    } else {
      st = absl::InvalidArgumentError("only configs, flags and secrets are promoted");
    }
    if (!st.ok()) return WithItem(c->kind, c->key, st);
  }
  if (any_flag) EV_RETURN_IF_ERROR(ValidateFlagSet(flags, envs));
  return absl::OkStatus();
}

json::object PlannedChangeToJson(const PlannedChange& c) {
  json::object o{{"kind", storage::ItemKindName(c.kind)},
                 {"key", c.key},
                 {"expected_revision", c.expected_revision},
                 {"environment", c.environment}};
  if (c.kind == ItemKind::kSecret) {
    if (c.secret_remove) {
      o["remove"] = true;
      return o;
    }
    json::object source{{"environment", c.secret_from}, {"version", c.secret_version}};
    if (c.secret_from_revision > 0) source["before_revision"] = c.secret_from_revision;
    o["source"] = std::move(source);
    return o;
  }
  o["before"] = c.before;
  o["after"] = c.after;
  if (c.body) {
    boost::system::error_code ec;
    o["body"] = json::parse(*c.body, ec);
  }
  return o;
}

absl::StatusOr<PlannedChange> PlannedChangeFromJson(const json::value& v) {
  const json::object* o = v.if_object();
  auto bad = [] { return absl::InvalidArgumentError("a stored change request change is malformed"); };
  if (o == nullptr) return bad();
  const json::value* kind = o->if_contains("kind");
  const json::value* key = o->if_contains("key");
  const json::value* rev = o->if_contains("expected_revision");
  const json::value* env = o->if_contains("environment");
  if (kind == nullptr || !kind->is_string() || key == nullptr || !key->is_string() || rev == nullptr ||
      !rev->is_int64() || env == nullptr || !env->is_string()) {
    return bad();
  }
  PlannedChange c;
  absl::StatusOr<ItemKind> k = storage::ParseItemKind(kind->get_string());
  if (!k.ok()) return bad();
  c.kind = *k;
  c.key = std::string(key->get_string());
  c.expected_revision = rev->get_int64();
  c.environment = std::string(env->get_string());
  if (c.kind == ItemKind::kSecret) {
    if (const json::value* remove = o->if_contains("remove"); remove != nullptr && remove->is_bool() && remove->get_bool()) {
      c.secret_remove = true;
      return c;
    }
    const json::object* source = MemberObject(*o, "source");
    if (const json::value* r = source == nullptr ? nullptr : source->if_contains("before_revision"); r != nullptr && r->is_int64()) {
      c.secret_from_revision = r->get_int64();
    }
    const json::value* from = source == nullptr ? nullptr : source->if_contains("environment");
    const json::value* version = source == nullptr ? nullptr : source->if_contains("version");
    if (from == nullptr || !from->is_string() || version == nullptr || !version->is_int64()) return bad();
    c.secret_from = std::string(from->get_string());
    c.secret_version = version->get_int64();
    return c;
  }
  const json::value* body = o->if_contains("body");
  if (body == nullptr || !body->is_object()) return bad();
  c.body = json::serialize(*body);
  if (const json::value* b = o->if_contains("before")) c.before = *b;
  if (const json::value* a = o->if_contains("after")) c.after = *a;
  return c;
}

namespace {

absl::StatusOr<PlannedChangeSet> Validated(PlannedChangeSet plan, const ChangeSetInput& in, const std::string& nothing) {
  if (plan.changes.empty()) {
    return base::WithErrorCode(absl::FailedPreconditionError(nothing), "nothing_to_promote");
  }
  json::object flags_now;
  for (const auto& f : in.flags) {
    if (std::optional<json::object> b = ParseBody(f.body)) flags_now[f.key] = std::move(*b);
  }
  EV_RETURN_IF_ERROR(ValidateChanges(plan.changes, in.envs, flags_now));
  return plan;
}

}  // namespace

}  // namespace edgevault::workspace
