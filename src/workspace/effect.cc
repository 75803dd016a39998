#include "src/workspace/effect.h"

#include <map>
#include <vector>

namespace edgevault::workspace {

namespace json = boost::json;

namespace {

// Each environment's entry for one item, before and after; the touched ones differ.
template <typename Entry>
std::set<std::string> EntriesDiffer(const EnvironmentSet& envs, Entry entry) {
  std::set<std::string> out;
  for (const std::string& env : envs.Keys()) {
    std::vector<std::string> chain = envs.AncestorChain(env);
    if (entry(env, chain, true) != entry(env, chain, false)) out.insert(env);
  }
  return out;
}

std::string SegmentBytes(std::string_view key, const json::object* segment) {
  std::string out;
  if (segment != nullptr) AppendSegmentEntry(key, *segment, &out);
  return out;
}

// The secret value an environment serves: the nearest value along its chain.
const json::value* ServedSecret(const json::object* body, const std::vector<std::string>& chain,
                                std::string* from) {
  if (body == nullptr) return nullptr;
  const json::value* values_v = body->if_contains("values");
  const json::object* values = values_v == nullptr ? nullptr : values_v->if_object();
  if (values == nullptr) return nullptr;
  for (const std::string& at : chain) {
    if (const json::value* v = values->if_contains(at)) {
      if (from != nullptr) *from = at;
      return v;
    }
  }
  return nullptr;
}

}  // namespace

std::set<std::string> ConfigEffect(std::string_view key, const json::object* before,
                                   const json::object* after, const EnvironmentSet& envs) {
  return EntriesDiffer(envs, [&](std::string_view, const std::vector<std::string>& chain, bool is_before) {
    const json::object* body = is_before ? before : after;
    std::string out;
    if (body != nullptr) AppendConfigEntry(key, *body, chain, &out);
    return out;
  });
}

std::set<std::string> FlagEffect(std::string_view key, const json::object* before,
                                 const json::object* after, const EnvironmentSet& envs) {
  return EntriesDiffer(envs, [&](std::string_view env, const std::vector<std::string>& chain, bool is_before) {
    const json::object* body = is_before ? before : after;
    std::string out;
    if (body != nullptr) AppendFlagEntry(key, *body, chain, env, &out);
    return out;
  });
}

std::set<std::string> SegmentEffect(std::string_view key, const json::object* before,
                                    const json::object* after, const EnvironmentSet& envs,
                                    const json::object& flags_by_key,
                                    const json::object& segments_by_key) {
  if (SegmentBytes(key, before) == SegmentBytes(key, after)) return {};
  return SegmentReach(envs, flags_by_key, segments_by_key).Effect(key, before, after);
}

SegmentReach::SegmentReach(const EnvironmentSet& envs, const json::object& flags_by_key,
                           const json::object& segments_by_key) {
  for (const std::string& env : envs.Keys()) {
    std::vector<std::string> chain = envs.AncestorChain(env);
    std::set<std::string> named;
    for (const auto& member : flags_by_key) {
      const json::object* flag = member.value().if_object();
      if (flag == nullptr) continue;
      FlagInEnvironment in = FlagConfigFor(*flag, chain);
      if (in.config != nullptr && in.config->is_object()) {
        AddSegmentReferences(in.config->get_object(), &named);
      }
    }
    // The closure through the segments' own segment_match.
    std::set<std::string>& reached = reached_[env];
    std::vector<std::string> todo(named.begin(), named.end());
    while (!todo.empty()) {
      std::string s = std::move(todo.back());
      todo.pop_back();
      if (!reached.insert(s).second) continue;
      const json::value* body = segments_by_key.if_contains(s);
      if (body != nullptr && body->is_object()) {
        std::set<std::string> nested;
        AddSegmentReferences(body->get_object(), &nested);
        for (const std::string& n : nested) {
          if (!reached.contains(n)) todo.push_back(n);
        }
      }
    }
  }
}

std::set<std::string> SegmentReach::Effect(std::string_view key, const json::object* before,
                                           const json::object* after) const {
  std::set<std::string> out;
  if (SegmentBytes(key, before) == SegmentBytes(key, after)) return out;
  for (const auto& [env, reached] : reached_) {
    if (reached.contains(std::string(key))) out.insert(env);
  }
  return out;
}

std::set<std::string> SegmentReferences(const json::object* segment) {
  std::set<std::string> out;
  if (segment != nullptr) AddSegmentReferences(*segment, &out);
  return out;
}

std::set<std::string> SecretEffect(const json::object* before, const json::object* after,
                                   const EnvironmentSet& envs) {
  return EntriesDiffer(envs, [&](std::string_view, const std::vector<std::string>& chain, bool is_before) {
    std::string from;
    const json::value* v = ServedSecret(is_before ? before : after, chain, &from);
    return v == nullptr ? std::string() : from + "\n" + json::serialize(*v);
  });
}

std::string SecretSource(const json::object& body, const EnvironmentSet& envs, std::string_view env) {
  std::string from;
  ServedSecret(&body, envs.AncestorChain(env), &from);
  return from;
}

std::set<std::string> DocumentsEffect(const WorkspaceSnapshot& before, const WorkspaceSnapshot& after) {
  WorkspaceSnapshot b = before;
  WorkspaceSnapshot a = after;
  b.version = a.version = 0;
  std::map<std::string, std::string> docs_before;
  for (auto& [env, doc] : ResolveAllEnvironments(b)) docs_before[env] = std::move(doc);
  std::set<std::string> out;
  for (auto& [env, doc] : ResolveAllEnvironments(a)) {
    auto it = docs_before.find(env);
    if (it == docs_before.end() || it->second != doc) out.insert(env);
  }
  for (const auto& [env, doc] : docs_before) {
    if (!a.envs.Contains(env)) out.insert(env);
  }
  return out;
}

}  // namespace edgevault::workspace
