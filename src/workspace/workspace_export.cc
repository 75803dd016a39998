#include "src/workspace/workspace_export.h"

#include <functional>
#include <set>
#include <string_view>

#include "yaml-cpp/yaml.h"

namespace edgevault::workspace {

namespace json = boost::json;

namespace {

std::string Str(json::string_view s) { return std::string(s.data(), s.size()); }

absl::Status Invalid(const std::string& path, const std::string& problem) {
  return absl::InvalidArgumentError(path + ": " + problem);
}

// An item reply without what the api adds to the body (key, kind, revision, updated_at).
json::object BodyOf(const json::object& item) {
  json::object body;
  for (const auto& kv : item) {
    if (kv.key() == "key" || kv.key() == "kind" || kv.key() == "revision" || kv.key() == "updated_at") continue;
    body[kv.key()] = kv.value();
  }
  return body;
}

absl::StatusOr<std::map<std::string, json::object>> ItemsByKey(const json::array& items, const std::string& what) {
  std::map<std::string, json::object> out;
  for (const json::value& v : items) {
    const json::object* o = v.if_object();
    const json::value* key = o == nullptr ? nullptr : o->if_contains("key");
    if (key == nullptr || !key->is_string()) return Invalid(what, "an item without a key in the api's reply");
    out[Str(key->get_string())] = BodyOf(*o);
  }
  return out;
}

// Parents before children; among equals, by key (the api's list order is by key).
std::vector<WorkspaceExport::Environment> ParentsFirst(std::vector<WorkspaceExport::Environment> envs) {
  std::vector<WorkspaceExport::Environment> out;
  std::set<std::string> placed;
  while (!envs.empty()) {
    size_t before = envs.size();
    for (auto it = envs.begin(); it != envs.end();) {
      if (it->parent.empty() || placed.contains(it->parent)) {
        placed.insert(it->key);
        out.push_back(std::move(*it));
        it = envs.erase(it);
      } else {
        ++it;
      }
    }
    if (envs.size() == before) {  // a parent that is not there: keep them, the api judges
      for (auto& e : envs) out.push_back(std::move(e));
      break;
    }
  }
  return out;
}

void EmitYaml(YAML::Emitter& out, const json::value& v) {
  switch (v.kind()) {
    case json::kind::object:
      out << YAML::BeginMap;
      for (const auto& kv : v.get_object()) {
        out << YAML::Key << YAML::DoubleQuoted << Str(kv.key()) << YAML::Value;
        EmitYaml(out, kv.value());
      }
      out << YAML::EndMap;
      return;
    case json::kind::array:
      out << YAML::BeginSeq;
      for (const json::value& x : v.get_array()) EmitYaml(out, x);
      out << YAML::EndSeq;
      return;
    case json::kind::string:
      out << YAML::DoubleQuoted << Str(v.get_string());
      return;
    case json::kind::null:
      out << YAML::Null;
      return;
    case json::kind::bool_:
      out << YAML::TrueFalseBool << v.get_bool();
      return;
    default:  // numbers: JSON's spelling, which YamlToJson reads back as the same number
      out << json::serialize(v);
      return;
  }
}

absl::Status CheckMembers(const json::object& o, const std::string& path, std::initializer_list<std::string_view> known) {
  for (const auto& kv : o) {
    bool ok = false;
    for (std::string_view k : known) ok = ok || kv.key() == k;
    if (!ok) return Invalid(path.empty() ? Str(kv.key()) : path + "." + Str(kv.key()), "unknown member");
  }
  return absl::OkStatus();
}

absl::StatusOr<std::map<std::string, json::object>> ParseItems(const json::object& doc, const std::string& name) {
  std::map<std::string, json::object> out;
  const json::value* v = doc.if_contains(name);
  if (v == nullptr || v->is_null()) return out;
  if (!v->is_object()) return Invalid(name, "must be a map of key to body");
  for (const auto& kv : v->get_object()) {
    if (!kv.value().is_object()) return Invalid(name + "." + Str(kv.key()), "must be an object (the item's body)");
    out[Str(kv.key())] = kv.value().get_object();
  }
  return out;
}

// Every flag key a flag's environments name as a prerequisite.
std::set<std::string> Prerequisites(const json::object& flag) {
  std::set<std::string> out;
  const json::value* envs = flag.if_contains("environments");
  if (envs == nullptr || !envs->is_object()) return out;
  for (const auto& env : envs->get_object()) {
    const json::value* pre = env.value().is_object() ? env.value().get_object().if_contains("prerequisites") : nullptr;
    if (pre == nullptr || !pre->is_array()) continue;
    for (const json::value& p : pre->get_array()) {
      const json::value* f = p.is_object() ? p.get_object().if_contains("flag") : nullptr;
      if (f != nullptr && f->is_string()) out.insert(Str(f->get_string()));
    }
  }
  return out;
}

}  // namespace

absl::StatusOr<WorkspaceExport> WorkspaceExportFromApi(const json::object& workspace, const WorkspaceLists& lists) {
  WorkspaceExport ws;
  const json::value* key = workspace.if_contains("key");
  const json::value* name = workspace.if_contains("name");
  const json::value* envs = workspace.if_contains("environments");
  if (key == nullptr || !key->is_string() || envs == nullptr || !envs->is_array()) {
    return absl::InvalidArgumentError("the workspace reply has no key or environments");
  }
  ws.workspace_key = Str(key->get_string());
  ws.workspace_name = name != nullptr && name->is_string() ? Str(name->get_string()) : ws.workspace_key;
  std::vector<WorkspaceExport::Environment> list;
  for (const json::value& v : envs->get_array()) {
    const json::object* o = v.if_object();
    const json::value* k = o == nullptr ? nullptr : o->if_contains("key");
    if (k == nullptr || !k->is_string()) return absl::InvalidArgumentError("an environment without a key in the reply");
    WorkspaceExport::Environment e{.key = Str(k->get_string())};
    const json::value* n = o->if_contains("name");
    e.name = n != nullptr && n->is_string() ? Str(n->get_string()) : e.key;
    const json::value* p = o->if_contains("parent");
    if (p != nullptr && p->is_string()) e.parent = Str(p->get_string());
    const json::value* pr = o->if_contains("protected");
    e.is_protected = pr != nullptr && pr->is_bool() && pr->get_bool();
    const json::value* policy = o->if_contains("policy");
    if (policy != nullptr && policy->is_object()) e.policy = policy->get_object();
    list.push_back(std::move(e));
  }
  ws.environments = ParentsFirst(std::move(list));
  absl::StatusOr<std::map<std::string, json::object>> configs = ItemsByKey(lists.configs, "configs");
  absl::StatusOr<std::map<std::string, json::object>> flags = ItemsByKey(lists.flags, "flags");
  absl::StatusOr<std::map<std::string, json::object>> segments = ItemsByKey(lists.segments, "segments");
  absl::StatusOr<std::map<std::string, json::object>> secrets = ItemsByKey(lists.secrets, "secrets");
  for (const auto* r : {&configs, &flags, &segments, &secrets}) {
    if (!r->ok()) return r->status();
  }
  ws.configs = *std::move(configs);
  ws.flags = *std::move(flags);
  ws.segments = *std::move(segments);
  for (const auto& [name_, body] : *secrets) {
    std::vector<std::string>& where = ws.secrets[name_];
    const json::value* values = body.if_contains("values");
    if (values != nullptr && values->is_object()) {
      for (const auto& kv : values->get_object()) where.push_back(Str(kv.key()));
    }
  }
  return ws;
}

json::object WorkspaceExportToJson(const WorkspaceExport& ws) {
  json::object out;
  out["format"] = kWorkspaceExportFormat;
  out["workspace"] = json::object{{"key", ws.workspace_key}, {"name", ws.workspace_name}};
  json::array envs;
  for (const auto& e : ws.environments) {
    json::object o{{"key", e.key}, {"name", e.name}};
    if (!e.parent.empty()) o["parent"] = e.parent;
    if (e.is_protected) o["protected"] = true;
    if (e.policy) o["policy"] = *e.policy;
    envs.push_back(std::move(o));
  }
  out["environments"] = std::move(envs);
  for (const auto& [name, items] : {std::pair{"configs", &ws.configs}, std::pair{"flags", &ws.flags},
                                    std::pair{"segments", &ws.segments}}) {
    json::object o;
    for (const auto& [key, body] : *items) o[key] = body;  // members as stored: the documents keep that order
    out[name] = std::move(o);
  }
  json::object secrets;
  for (const auto& [key, where] : ws.secrets) {
    json::array envs_with_value;
    for (const std::string& e : where) envs_with_value.push_back(json::string(e));
    secrets[key] = json::object{{"environments", std::move(envs_with_value)}};
  }
  out["secrets"] = std::move(secrets);
  return out;
}

std::string WorkspaceExportToYaml(const WorkspaceExport& ws) {
  YAML::Emitter out;
  out << YAML::Comment(std::string("EdgeVault workspace export (") + kWorkspaceExportFormat +
                       "): read back by `edgevault import --from workspace`. Secrets are listed by name only.");
  EmitYaml(out, WorkspaceExportToJson(ws));
  return std::string(out.c_str()) + "\n";
}

absl::StatusOr<WorkspaceExport> ParseWorkspaceExport(const json::value& doc_v) {
  const json::object* doc = doc_v.if_object();
  if (doc == nullptr) return absl::InvalidArgumentError("the file must hold an object");
  const json::value* format = doc->if_contains("format");
  if (format == nullptr || !format->is_string() || format->get_string() != kWorkspaceExportFormat) {
    return Invalid("format", std::string("must be \"") + kWorkspaceExportFormat +
                                 "\" (a file `edgevault export --all` wrote)");
  }
  if (absl::Status st = CheckMembers(*doc, "", {"format", "workspace", "environments", "configs", "flags", "segments",
                                                 "secrets"});
      !st.ok()) {
    return st;
  }
  WorkspaceExport ws;
  if (const json::value* w = doc->if_contains("workspace"); w != nullptr && !w->is_null()) {
    if (!w->is_object()) return Invalid("workspace", "must be an object {key, name}");
    if (absl::Status st = CheckMembers(w->get_object(), "workspace", {"key", "name"}); !st.ok()) return st;
    const json::value* k = w->get_object().if_contains("key");
    const json::value* n = w->get_object().if_contains("name");
    if (k != nullptr && !k->is_string()) return Invalid("workspace.key", "must be a string");
    if (n != nullptr && !n->is_string()) return Invalid("workspace.name", "must be a string");
    if (k != nullptr) ws.workspace_key = Str(k->get_string());
    if (n != nullptr) ws.workspace_name = Str(n->get_string());
  }
  std::set<std::string> seen_envs;
  if (const json::value* envs = doc->if_contains("environments"); envs != nullptr && !envs->is_null()) {
    if (!envs->is_array()) return Invalid("environments", "must be a list");
    for (size_t i = 0; i < envs->get_array().size(); ++i) {
      const std::string path = "environments[" + std::to_string(i) + "]";
      const json::object* o = envs->get_array()[i].if_object();
      if (o == nullptr) return Invalid(path, "must be an object {key, name?, parent?, protected?, policy?}");
      if (absl::Status st = CheckMembers(*o, path, {"key", "name", "parent", "protected", "policy"}); !st.ok()) return st;
      WorkspaceExport::Environment e;
      const json::value* k = o->if_contains("key");
      if (k == nullptr || !k->is_string() || k->get_string().empty()) return Invalid(path + ".key", "must be a non-empty string");
      e.key = Str(k->get_string());
      if (!seen_envs.insert(e.key).second) return Invalid(path + ".key", "\"" + e.key + "\" is listed twice");
      const json::value* n = o->if_contains("name");
      if (n != nullptr && !n->is_string()) return Invalid(path + ".name", "must be a string");
      e.name = n != nullptr ? Str(n->get_string()) : e.key;
      if (const json::value* p = o->if_contains("parent"); p != nullptr && !p->is_null()) {
        if (!p->is_string()) return Invalid(path + ".parent", "must be an environment key");
        e.parent = Str(p->get_string());
        if (e.parent == e.key || !seen_envs.contains(e.parent)) {
          return Invalid(path + ".parent", "\"" + e.parent + "\" must be listed before \"" + e.key + "\"");
        }
      }
      if (const json::value* pr = o->if_contains("protected"); pr != nullptr) {
        if (!pr->is_bool()) return Invalid(path + ".protected", "must be true or false");
        e.is_protected = pr->get_bool();
      }
      if (const json::value* policy = o->if_contains("policy"); policy != nullptr && !policy->is_null()) {
        if (!policy->is_object()) return Invalid(path + ".policy", "must be an object (as PUT .../policy takes it)");
        e.policy = policy->get_object();
      }
      ws.environments.push_back(std::move(e));
    }
  }
  absl::StatusOr<std::map<std::string, json::object>> configs = ParseItems(*doc, "configs");
  absl::StatusOr<std::map<std::string, json::object>> flags = ParseItems(*doc, "flags");
  absl::StatusOr<std::map<std::string, json::object>> segments = ParseItems(*doc, "segments");
  absl::StatusOr<std::map<std::string, json::object>> secrets = ParseItems(*doc, "secrets");
  for (const auto* r : {&configs, &flags, &segments, &secrets}) {
    if (!r->ok()) return r->status();
  }
  ws.configs = *std::move(configs);
  ws.flags = *std::move(flags);
  ws.segments = *std::move(segments);
  for (const auto& [key, meta] : *secrets) {
    std::vector<std::string>& where = ws.secrets[key];
    const json::value* envs = meta.if_contains("environments");
    if (envs == nullptr || envs->is_null()) continue;
    if (!envs->is_array()) return Invalid("secrets." + key + ".environments", "must be a list of environment keys");
    for (const json::value& e : envs->get_array()) {
      if (!e.is_string()) return Invalid("secrets." + key + ".environments", "must be a list of environment keys");
      where.push_back(Str(e.get_string()));
    }
  }
  return ws;
}

absl::StatusOr<WorkspaceImportPlan> PlanWorkspaceImport(const WorkspaceExport& ws,
                                                        const json::array& target_environments) {
  std::map<std::string, std::string> target;  // key → parent
  for (const json::value& v : target_environments) {
    const json::object* o = v.if_object();
    const json::value* k = o == nullptr ? nullptr : o->if_contains("key");
    if (k == nullptr || !k->is_string()) continue;
    const json::value* p = o->if_contains("parent");
    target[Str(k->get_string())] = p != nullptr && p->is_string() ? Str(p->get_string()) : "";
  }
  WorkspaceImportPlan plan;
  for (const auto& e : ws.environments) {
    auto it = target.find(e.key);
    if (it == target.end()) {
      plan.create.push_back(e);
      continue;
    }
    if (it->second != e.parent) {
      return absl::InvalidArgumentError(
          "environment \"" + e.key + "\" exists in the target with parent " +
          (it->second.empty() ? std::string("none") : "\"" + it->second + "\"") + ", the file says " +
          (e.parent.empty() ? std::string("none") : "\"" + e.parent + "\"") +
          "; change one of them (edgevault env parent) and import again");
    }
    plan.existing.push_back(e.key);
  }
  for (const auto& [key, body] : ws.segments) {
    plan.changes.push_back(json::object{{"kind", "segment"}, {"key", key}, {"body", body}});
  }
  // Flags after the flags of the file they require (a batch checks each flag's
  // prerequisites against the ones before it).
  std::set<std::string> placed;
  std::set<std::string> visiting;
  std::function<void(const std::string&)> place = [&](const std::string& key) {
    if (placed.contains(key) || visiting.contains(key)) return;  // a cycle: the api names it
    visiting.insert(key);
    const json::object& body = ws.flags.at(key);
    for (const std::string& required : Prerequisites(body)) {
      if (ws.flags.contains(required)) place(required);
    }
    visiting.erase(key);
    placed.insert(key);
    plan.changes.push_back(json::object{{"kind", "flag"}, {"key", key}, {"body", body}});
  };
  for (const auto& [key, body] : ws.flags) place(key);
  for (const auto& [key, body] : ws.configs) {
    plan.changes.push_back(json::object{{"kind", "config"}, {"key", key}, {"body", body}});
  }
  for (const auto& [key, where] : ws.secrets) plan.secrets_not_imported.push_back(key);
  return plan;
}

}  // namespace edgevault::workspace
