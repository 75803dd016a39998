#include "src/workspace/change_set.h"

#include <algorithm>
#include <map>
#include <optional>
#include <tuple>

#include "src/base/status.h"
#include "src/base/strings.h"
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

// A computed plan, refused when empty (FailedPrecondition with error code `code` and
// message `nothing`) and validated against the workspace's flags, segments and environments.
absl::StatusOr<PlannedChangeSet> Validated(PlannedChangeSet plan, const ChangeSetInput& in, const std::string& nothing,
                                           std::string_view code = "nothing_to_promote");

// Every stored body of `items` by key.
json::object ByKey(const std::vector<storage::Item>& items) {
  json::object out;
  for (const auto& it : items) {
    if (std::optional<json::object> b = ParseBody(it.body)) out[it.key] = std::move(*b);
  }
  return out;
}

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

namespace {

// One entry of a proposal, checked for shape (docs/design/promotions.md §2b).
struct ProposalEntry {
  ItemKind kind = ItemKind::kConfig;
  std::string key;
  std::string environment;       // per-environment entries
  const json::value* value = nullptr;  // value / configuration (per-environment entries)
  const json::object* body = nullptr;  // whole-item entries
  bool delete_item = false;
};

absl::StatusOr<ProposalEntry> ParseProposalEntry(const json::value& v, const EnvironmentSet& envs) {
  const json::object* o = v.if_object();
  if (o == nullptr) return absl::InvalidArgumentError("must be an object {kind, key, ...}");
  for (const auto& kv : *o) {
    static constexpr std::string_view kKnown[] = {"kind", "key", "environment", "value", "configuration", "body", "delete"};
    if (std::find(std::begin(kKnown), std::end(kKnown), kv.key()) == std::end(kKnown)) {
      return absl::InvalidArgumentError("field '" + std::string(kv.key()) +
                                        "': is not a known field (known: kind, key, environment, value, "
                                        "configuration, body, delete)");
    }
  }
  ProposalEntry e;
  const json::value* kind = o->if_contains("kind");
  absl::StatusOr<ItemKind> k = kind != nullptr && kind->is_string() ? storage::ParseItemKind(kind->get_string())
                                                                    : absl::InvalidArgumentError("");
  if (!k.ok() || *k == ItemKind::kEnvironment) {
    return absl::InvalidArgumentError("field 'kind': must be config, flag, segment or secret");
  }
  e.kind = *k;
  const json::value* key = o->if_contains("key");
  if (key == nullptr || !key->is_string()) return absl::InvalidArgumentError("field 'key': is required");
  e.key = std::string(key->get_string());
  EV_RETURN_IF_ERROR(ValidateItemKey(e.kind, e.key, storage::ItemKindName(e.kind)));
  const json::value* env = o->if_contains("environment");
  const json::value* value = o->if_contains("value");
  const json::value* configuration = o->if_contains("configuration");
  const json::value* body = o->if_contains("body");
  const json::value* del = o->if_contains("delete");
  if (del != nullptr) {
    if (!del->is_bool() || !del->get_bool() || o->size() != 3) {
      return absl::InvalidArgumentError("a delete is {\"kind\", \"key\", \"delete\": true} and nothing else");
    }
    e.delete_item = true;
    return e;
  }
  if (body != nullptr) {
    if (e.kind == ItemKind::kSecret) {
      return absl::InvalidArgumentError("a secret has no body: propose its values per environment");
    }
    if (!body->is_object() || o->size() != 3) {
      return absl::InvalidArgumentError("a whole-item change is {\"kind\", \"key\", \"body\": {...}} and nothing else");
    }
    e.body = &body->get_object();
    return e;
  }
  if (e.kind == ItemKind::kSegment) {
    return absl::InvalidArgumentError("a segment is the same in every environment: propose its whole body");
  }
  if (env == nullptr || !env->is_string()) {
    return absl::InvalidArgumentError("field 'environment': is required (or give a whole 'body', or 'delete')");
  }
  e.environment = std::string(env->get_string());
  if (!envs.Contains(e.environment)) {
    return absl::InvalidArgumentError("field 'environment': unknown environment " + Quoted(e.environment));
  }
  const char* field = e.kind == ItemKind::kFlag ? "configuration" : "value";
  e.value = e.kind == ItemKind::kFlag ? configuration : value;
  if (e.value == nullptr || (e.kind == ItemKind::kFlag ? value : configuration) != nullptr || o->size() != 4) {
    return absl::InvalidArgumentError(std::string("a change of a ") + std::string(storage::ItemKindName(e.kind)) +
                                      " in one environment is {\"kind\", \"key\", \"environment\", \"" + field +
                                      "\"}");
  }
  if (e.kind == ItemKind::kFlag && !e.value->is_null() && !e.value->is_object()) {
    return absl::InvalidArgumentError("field 'configuration': must be an object (or null to remove it)");
  }
  if (e.kind == ItemKind::kSecret && !e.value->is_null()) {
    const json::object* sealed = e.value->if_object();
    const json::value* id = sealed == nullptr ? nullptr : sealed->if_contains("sealed");
    if (id == nullptr || !id->is_string() || sealed->size() != 1) {
      return absl::InvalidArgumentError("field 'value': a secret value must be a string (or null to remove it)");
    }
  }
  return e;
}

}  // namespace

absl::StatusOr<PlannedChangeSet> ComputeProposal(const json::array& entries, const ChangeSetInput& in,
                                                 size_t max_entries) {
  if (entries.empty() || entries.size() > max_entries) {
    return absl::InvalidArgumentError("field 'changes': must list 1 to " + std::to_string(max_entries) +
                                      " changes");
  }
  // Each item as the entries so far leave it; flags and segments also by key, for the
  // effect of a segment change and the validation of flags.
  struct State {
    std::optional<json::object> body;
    int64_t revision = 0;
    bool deleted = false;
  };
  std::map<std::pair<ItemKind, std::string>, State> items;
  std::map<std::pair<ItemKind, std::string_view>, const storage::Item*> by_kind_key;
  for (auto [kind, list] : {std::pair{ItemKind::kConfig, &in.configs}, std::pair{ItemKind::kFlag, &in.flags},
                            std::pair{ItemKind::kSecret, &in.secrets}, std::pair{ItemKind::kSegment, &in.segments}}) {
    for (const storage::Item& item : *list) by_kind_key.emplace(std::pair{kind, std::string_view(item.key)}, &item);
  }
  json::object flags = ByKey(in.flags);
  json::object segments = ByKey(in.segments);
  // Which segments the flags reach, for the segment entries' effects (built when needed).
  std::optional<SegmentReach> reach;
  std::set<std::tuple<ItemKind, std::string, std::string>> seen;
  PlannedChangeSet plan;
  for (size_t i = 0; i < entries.size(); ++i) {
    const std::string at = "changes[" + std::to_string(i) + "]: ";
    auto fail = [&](const absl::Status& st) { return absl::Status(st.code(), at + std::string(st.message())); };
    absl::StatusOr<ProposalEntry> parsed = ParseProposalEntry(entries[i], in.envs);
    if (!parsed.ok()) return fail(parsed.status());
    const ProposalEntry& e = *parsed;
    auto [it, fresh] = items.try_emplace({e.kind, e.key});
    State& st = it->second;
    if (fresh) {
      if (auto stored = by_kind_key.find({e.kind, e.key}); stored != by_kind_key.end()) {
        st.body = ParseBody(stored->second->body);
        st.revision = stored->second->revision;
      }
    }
    const std::string name = Name(e.kind, e.key);
    if (st.deleted) return fail(absl::InvalidArgumentError(name + " is deleted by an earlier change"));
    if (!seen.emplace(e.kind, e.key, e.environment).second) {
      return fail(absl::InvalidArgumentError(name + (e.environment.empty() ? "" : " in " + Quoted(e.environment)) +
                                             " is changed twice; merge the two changes"));
    }
    PlannedChange c{.kind = e.kind, .key = e.key, .expected_revision = st.revision, .environment = e.environment};
    std::optional<json::object> after;
    if (e.delete_item) {
      if (!st.body) return fail(absl::InvalidArgumentError("no " + name + " to delete"));
      c.delete_item = true;
      if (e.kind != ItemKind::kSecret) c.before = *st.body;
    } else if (e.body != nullptr) {
      absl::StatusOr<json::object> normal;
      if (e.kind == ItemKind::kConfig) {
        normal = ValidateConfigBody(e.key, *e.body, in.envs);
      } else if (e.kind == ItemKind::kFlag) {
        // The set as a whole (cycles, client visibility, nesting) is checked once, when
        // every entry is planned (Validated → ValidateChanges).
        normal = ValidateFlagItself(e.key, *e.body, in.envs, flags);
      } else {
        normal = ValidateSegmentItself(e.key, *e.body);
      }
      if (!normal.ok()) return fail(WithItem(e.kind, e.key, normal.status()));
      if (st.body && *st.body == *normal) continue;
      c.before = st.body ? json::value(*st.body) : json::value(nullptr);
      c.after = *normal;
      c.body = json::serialize(*normal);
      after = std::move(*normal);
    } else {
      if (!st.body && e.kind != ItemKind::kSecret) {
        return fail(absl::InvalidArgumentError(
            "no " + name + "; create it with a whole-item change {\"kind\", \"key\", \"body\"} first"));
      }
      after = st.body ? *st.body : json::object{{"values", json::object()}};
      const char* part = e.kind == ItemKind::kFlag ? "environments" : "values";
      json::value& members = (*after)[part];
      if (!members.is_object()) members = json::object();
      json::object& m = members.as_object();
      const json::value* own = m.if_contains(e.environment);
      if (e.value->is_null()) {
        if (own == nullptr) continue;  // already without one
        if (e.kind == ItemKind::kSecret) c.secret_remove = true;
        if (e.kind != ItemKind::kSecret) c.before = *own;
        m.erase(e.environment);
      } else if (e.kind == ItemKind::kSecret) {
        // Always a change: never compared with the value there.
        c.secret_proposal = std::string(e.value->as_object().at("sealed").get_string());
        m[e.environment] = json::object{{"sealing", true}};
      } else {
        if (own != nullptr && *own == *e.value) continue;
        c.before = own == nullptr ? json::value(nullptr) : *own;
        c.after = *e.value;
        m[e.environment] = *e.value;
      }
      if (e.kind != ItemKind::kSecret) c.body = json::serialize(*after);
    }
    const json::object* before_p = st.body ? &*st.body : nullptr;
    const json::object* after_p = after ? &*after : nullptr;
    switch (e.kind) {
      case ItemKind::kConfig:
        plan.environments.merge(ConfigEffect(e.key, before_p, after_p, in.envs));
        break;
      case ItemKind::kFlag:
        plan.environments.merge(FlagEffect(e.key, before_p, after_p, in.envs));
        break;
      case ItemKind::kSegment:
        if (!reach) reach.emplace(in.envs, flags, segments);
        plan.environments.merge(reach->Effect(e.key, before_p, after_p));
        break;
      default:
        plan.environments.merge(SecretEffect(before_p, after_p, in.envs));
    }
    // What the flags reach changes with any flag, and with a segment's own references.
    if (e.kind == ItemKind::kFlag ||
        (e.kind == ItemKind::kSegment && SegmentReferences(before_p) != SegmentReferences(after_p))) {
      reach.reset();
    }
    // The next entries see the item as this one leaves it.
    json::object* by_key = e.kind == ItemKind::kFlag ? &flags : e.kind == ItemKind::kSegment ? &segments : nullptr;
    if (by_key != nullptr) {
      if (after) {
        (*by_key)[e.key] = *after;
      } else {
        by_key->erase(e.key);
      }
    }
    st.body = std::move(after);
    st.deleted = e.delete_item;
    plan.changes.push_back(std::move(c));
  }
  return Validated(std::move(plan), in, "nothing to change: every item is already as proposed", "nothing_to_change");
}

absl::StatusOr<PlannedChangeSet> ComputeRevert(const std::vector<storage::Revision>& applied,
                                               const ChangeSetInput& in) {
  PlannedChangeSet plan;
  // Each item as the changes so far leave it (an apply may change one item several times):
  // nullopt = absent.
  std::map<std::pair<ItemKind, std::string>, std::pair<std::optional<json::object>, int64_t>> items;
  json::object flags = ByKey(in.flags);
  json::object segments = ByKey(in.segments);
  auto effect = [&](ItemKind kind, const std::string& key, const json::object* before, const json::object* after) {
    switch (kind) {
      case ItemKind::kConfig:
        return ConfigEffect(key, before, after, in.envs);
      case ItemKind::kFlag:
        return FlagEffect(key, before, after, in.envs);
      case ItemKind::kSegment:
        return SegmentEffect(key, before, after, in.envs, flags, segments);
      default:
        return SecretEffect(before, after, in.envs);
    }
  };
  // The revisions in reverse order: the last change is undone first.
  for (auto rit = applied.rbegin(); rit != applied.rend(); ++rit) {
    const storage::Revision& rev = *rit;
    const std::vector<storage::Item>* list = rev.kind == ItemKind::kConfig    ? &in.configs
                                             : rev.kind == ItemKind::kFlag    ? &in.flags
                                             : rev.kind == ItemKind::kSecret  ? &in.secrets
                                             : rev.kind == ItemKind::kSegment ? &in.segments
                                                                               : nullptr;
    if (list == nullptr) {
      return absl::InvalidArgumentError(Name(rev.kind, rev.key) + ": revision " + std::to_string(rev.seq) +
                                        " cannot be reverted here");
    }
    auto [slot, fresh] = items.try_emplace({rev.kind, rev.key});
    if (fresh) {
      for (const auto& item : *list) {
        if (item.key != rev.key) continue;
        slot->second = {ParseBody(item.body), item.revision};
      }
    }
    std::optional<json::object>& current = slot->second.first;
    const int64_t expected = slot->second.second;
    std::optional<json::object> before = ParseBody(rev.before);
    PlannedChange c{.kind = rev.kind, .key = rev.key, .expected_revision = expected, .environment = rev.environment};
    std::optional<json::object> after;
    if (rev.environment.empty()) {
      // A change of the whole item (a body or a delete): the whole body goes back.
      if (rev.kind == ItemKind::kSecret) {
        return absl::InvalidArgumentError(Name(rev.kind, rev.key) +
                                          " was deleted by the change; restore it from its history instead");
      }
      if (current == before) continue;  // already as it was
      after = before;
      c.before = current ? json::value(*current) : json::value(nullptr);
      c.after = before ? json::value(*before) : json::value(nullptr);
      if (before) {
        c.body = json::serialize(*before);
      } else {
        c.delete_item = true;
      }
    } else {
      // (A secret created by the change: its value there goes, the item stays.)
      if (!current || (!before && rev.kind != ItemKind::kSecret)) {
        return absl::InvalidArgumentError(Name(rev.kind, rev.key) + " was deleted or created by the change; "
                                          "revert its revisions instead");
      }
      const std::string& env = rev.environment;
      const char* part = rev.kind == ItemKind::kFlag ? "environments" : "values";
      const json::object* before_part = before ? MemberObject(*before, part) : nullptr;
      const json::value* old = before_part == nullptr ? nullptr : before_part->if_contains(env);
      after = *current;
      json::value& members = (*after)[part];
      if (!members.is_object()) members = json::object();
      // A copy: `members` changes below, which may move its elements.
      std::optional<json::value> was_now;
      if (const json::value* v = members.as_object().if_contains(env)) was_now = *v;
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
      } else {
        if (old == nullptr) {
          if (!was_now) continue;
          members.as_object().erase(env);
        } else {
          if (was_now && *was_now == *old) continue;
          members.as_object()[env] = *old;
        }
        c.before = was_now ? *was_now : json::value(nullptr);
        c.after = old == nullptr ? json::value(nullptr) : *old;
        c.body = json::serialize(*after);
      }
    }
    plan.environments.merge(effect(rev.kind, rev.key, current ? &*current : nullptr, after ? &*after : nullptr));
    json::object* by_key = rev.kind == ItemKind::kFlag ? &flags : rev.kind == ItemKind::kSegment ? &segments : nullptr;
    if (by_key != nullptr) {
      if (after) {
        (*by_key)[rev.key] = *after;
      } else {
        by_key->erase(rev.key);
      }
    }
    current = std::move(after);
    plan.changes.push_back(std::move(c));
  }
  return Validated(std::move(plan), in, "nothing to revert: every item is already as it was before");
}

absl::StatusOr<EnvironmentSet> WithNewEnvironments(const EnvironmentSet& envs, const std::vector<json::object>& bodies,
                                                   std::vector<Environment>* created) {
  if (bodies.size() > kMaxBatchEnvironments) {
    return absl::InvalidArgumentError(base::ToAbsl("field 'environments': at most " +
                                                   std::to_string(kMaxBatchEnvironments) + " in one batch"));
  }
  EnvironmentSet out = envs;
  for (size_t i = 0; i < bodies.size(); ++i) {
    const std::string at = "environments[" + std::to_string(i) + "]: ";
    if (const json::value* p = bodies[i].if_contains("policy"); p != nullptr && !p->is_null()) {
      return absl::InvalidArgumentError(base::ToAbsl(
          at + "a batch creates environments without a policy: set it after, with PUT …/environments/{env}/policy"));
    }
    absl::StatusOr<Environment> env = out.ValidateNewEnvironment(bodies[i]);
    if (!env.ok()) return absl::Status(env.status().code(), base::ToAbsl(at + std::string(env.status().message())));
    if (created != nullptr) created->push_back(*env);
    out = out.With(*std::move(env));
  }
  return out;
}

absl::Status ValidateChanges(const std::vector<PlannedChange>& changes, const EnvironmentSet& envs,
                             const json::object& flags_now, const json::object& segments_now) {
  json::object flags = flags_now;
  json::object segments = segments_now;
  std::vector<std::pair<const PlannedChange*, json::object>> parsed;
  bool any_flag = false;
  bool any_segment = false;
  for (const PlannedChange& c : changes) {
    if (c.kind == ItemKind::kSecret) continue;
    if (c.kind != ItemKind::kConfig && c.kind != ItemKind::kFlag && c.kind != ItemKind::kSegment) {
      return WithItem(c.kind, c.key, absl::InvalidArgumentError("only configs, flags, segments and secrets change here"));
    }
    any_flag = any_flag || c.kind == ItemKind::kFlag;
    any_segment = any_segment || c.kind == ItemKind::kSegment;
    if (c.delete_item) {
      if (c.kind == ItemKind::kFlag) flags.erase(c.key);
      if (c.kind == ItemKind::kSegment) segments.erase(c.key);
      continue;
    }
    if (!c.body) return absl::InvalidArgumentError(Name(c.kind, c.key) + ": the change has no body");
    std::optional<json::object> body = ParseBody(*c.body);
    if (!body) return absl::InvalidArgumentError(Name(c.kind, c.key) + ": the body is not a JSON object");
    if (c.kind == ItemKind::kFlag) flags[c.key] = *body;
    if (c.kind == ItemKind::kSegment) segments[c.key] = *body;
    parsed.emplace_back(&c, std::move(*body));
  }
  // Each body by itself, then each set once as every change leaves it: linear in the
  // number of changes (a batch may carry thousands; bench/workspace/batch_plan_bench.cc).
  for (const auto& [c, body] : parsed) {
    absl::Status st;
    if (c->kind == ItemKind::kConfig) {
      st = ValidateConfigBody(c->key, body, envs).status();
    } else if (c->kind == ItemKind::kFlag) {
      st = ValidateFlagItself(c->key, body, envs, flags).status();
    } else {
      st = ValidateSegmentItself(c->key, body).status();
    }
    if (!st.ok()) return WithItem(c->kind, c->key, st);
  }
  if (any_flag) EV_RETURN_IF_ERROR(ValidateFlagSet(flags, envs));
  if (any_segment) EV_RETURN_IF_ERROR(ValidateSegmentSet(segments));
  return absl::OkStatus();
}

json::object PlannedChangeToJson(const PlannedChange& c) {
  json::object o{{"kind", storage::ItemKindName(c.kind)},
                 {"key", c.key},
                 {"expected_revision", c.expected_revision},
                 {"environment", c.environment}};
  if (c.delete_item) {
    o["delete"] = true;
    if (c.kind != ItemKind::kSecret) o["before"] = c.before;
    return o;
  }
  if (c.kind == ItemKind::kSecret) {
    if (c.secret_remove) {
      o["remove"] = true;
      return o;
    }
    if (!c.secret_proposal.empty()) {
      o["source"] = json::object{{"proposal", c.secret_proposal}};
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
  if (const json::value* del = o->if_contains("delete"); del != nullptr && del->is_bool() && del->get_bool()) {
    c.delete_item = true;
    if (const json::value* b = o->if_contains("before")) c.before = *b;
    return c;
  }
  if (c.kind == ItemKind::kSecret) {
    if (const json::value* remove = o->if_contains("remove"); remove != nullptr && remove->is_bool() && remove->get_bool()) {
      c.secret_remove = true;
      return c;
    }
    const json::object* source = MemberObject(*o, "source");
    if (const json::value* p = source == nullptr ? nullptr : source->if_contains("proposal"); p != nullptr) {
      if (!p->is_string() || p->get_string().empty()) return bad();
      c.secret_proposal = std::string(p->get_string());
      return c;
    }
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

absl::StatusOr<PlannedChangeSet> Validated(PlannedChangeSet plan, const ChangeSetInput& in, const std::string& nothing,
                                           std::string_view code) {
  if (plan.changes.empty()) {
    return base::WithErrorCode(absl::FailedPreconditionError(nothing), code);
  }
  EV_RETURN_IF_ERROR(ValidateChanges(plan.changes, in.envs, ByKey(in.flags), ByKey(in.segments)));
  return plan;
}

}  // namespace

}  // namespace edgevault::workspace
