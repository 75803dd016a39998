#include "src/workspace/resolver.h"

#include <algorithm>
#include <boost/json.hpp>
#include <charconv>
#include <memory>
#include <set>
#include <utility>

#include "src/base/json_finite.h"
#include "src/base/status.h"
#include "src/crypto/hash.h"

namespace edgevault::workspace {

namespace json = boost::json;

namespace {

std::string Quoted(std::string_view s) {
  return json::serialize(json::string(json::string_view(s.data(), s.size())));
}

// A JSON string as Boost.JSON's serializer writes it. Most strings need no escape and
// are copied as they are; the rest go through json::serialize, so the bytes are its.
void AppendString(std::string_view s, std::string* out) {
  for (char c : s) {
    if (static_cast<unsigned char>(c) < 0x20 || c == '"' || c == '\\') {
      out->append(json::serialize(json::string(json::string_view(s.data(), s.size()))));
      return;
    }
  }
  out->push_back('"');
  out->append(s);
  out->push_back('"');
}

void AppendKey(std::string_view key, std::string* out) {
  AppendString(key, out);
  out->push_back(':');
}

// The document's byte rules (docs/design/resolved-document.md §2): no whitespace, members
// in insertion order (the writer emits them in the documented order), strings escaped
// as Boost.JSON does, integers in decimal, other numbers as the shortest text that reads
// back as the same double (std::to_chars).
void AppendJson(const json::value& v, std::string* out) {
  switch (v.kind()) {
    case json::kind::null:
      out->append("null");
      return;
    case json::kind::bool_:
      out->append(v.get_bool() ? "true" : "false");
      return;
    case json::kind::int64:
    case json::kind::uint64:
    case json::kind::double_: {
      char buf[64];
      std::to_chars_result r{};
      if (v.is_int64()) {
        r = std::to_chars(buf, buf + sizeof buf, v.get_int64());
      } else if (v.is_uint64()) {
        r = std::to_chars(buf, buf + sizeof buf, v.get_uint64());
      } else {
        r = std::to_chars(buf, buf + sizeof buf, v.get_double());
      }
      out->append(buf, r.ptr);
      return;
    }
    case json::kind::string: {
      const json::string& str = v.get_string();
      AppendString(std::string_view(str.data(), str.size()), out);
      return;
    }
    case json::kind::array: {
      out->push_back('[');
      bool first = true;
      for (const json::value& e : v.get_array()) {
        if (!first) out->push_back(',');
        first = false;
        AppendJson(e, out);
      }
      out->push_back(']');
      return;
    }
    case json::kind::object: {
      out->push_back('{');
      bool first = true;
      for (const auto& m : v.get_object()) {
        if (!first) out->push_back(',');
        first = false;
        AppendKey(std::string_view(m.key().data(), m.key().size()), out);
        AppendJson(m.value(), out);
      }
      out->push_back('}');
      return;
    }
  }
}

// A snapshot's items parsed once (into one arena, freed at once), sorted by key, for
// resolving any number of its environments. Items whose stored body cannot be part of a
// document (not JSON, not an object, a number that is not finite) are left out and
// listed in `problems`: one broken item must not stop the rest of the workspace.
struct ParsedSnapshot {
  std::unique_ptr<json::monotonic_resource> arena = std::make_unique<json::monotonic_resource>();
  std::vector<std::pair<std::string, json::object>> configs;
  std::vector<std::pair<std::string, json::object>> flags;
  std::vector<std::pair<std::string, json::object>> segments;
  std::vector<ResolveProblem> problems;
};

// Items sorted by key (ties, which a store never produces, by body) with parsed bodies.
void ParseSorted(const std::vector<storage::Item>& items, storage::ItemKind kind,
                 json::monotonic_resource& arena,
                 std::vector<std::pair<std::string, json::object>>* out,
                 std::vector<ResolveProblem>* problems) {
  std::vector<const storage::Item*> sorted;
  sorted.reserve(items.size());
  for (const storage::Item& item : items) sorted.push_back(&item);
  std::sort(sorted.begin(), sorted.end(), [](const storage::Item* a, const storage::Item* b) {
    return std::tie(a->key, a->body) < std::tie(b->key, b->body);
  });
  out->reserve(sorted.size());
  json::storage_ptr sp(&arena);
  for (const storage::Item* item : sorted) {
    if (!out->empty() && out->back().first == item->key) continue;
    boost::system::error_code ec;
    json::value v = json::parse(json::string_view(item->body.data(), item->body.size()), ec, sp);
    std::string problem;
    if (ec) {
      problem = "the stored body is not valid JSON (" + ec.message() + ")";
    } else if (!v.is_object()) {
      problem = "the stored body is not a JSON object";
    } else if (std::optional<std::string> at = base::FindNonFiniteNumber(v)) {
      problem = "the stored body holds a number that is not finite at " + *at;
    }
    if (!problem.empty()) {
      problems->push_back({kind, item->key, std::move(problem)});
      continue;
    }
    out->emplace_back(item->key, std::move(v.get_object()));
  }
}

ParsedSnapshot Parse(const WorkspaceSnapshot& snapshot) {
  ParsedSnapshot parsed;
  ParseSorted(snapshot.configs, storage::ItemKind::kConfig, *parsed.arena, &parsed.configs,
              &parsed.problems);
  ParseSorted(snapshot.flags, storage::ItemKind::kFlag, *parsed.arena, &parsed.flags,
              &parsed.problems);
  ParseSorted(snapshot.segments, storage::ItemKind::kSegment, *parsed.arena, &parsed.segments,
              &parsed.problems);
  return parsed;
}

const json::object* FindSorted(const std::vector<std::pair<std::string, json::object>>& items,
                               std::string_view key) {
  auto it = std::lower_bound(items.begin(), items.end(), key,
                             [](const auto& item, std::string_view k) { return item.first < k; });
  return it != items.end() && it->first == key ? &it->second : nullptr;
}

}  // namespace

bool IsClientVisible(const json::object& body) {
  const json::value* v = body.if_contains("client_visible");
  return v != nullptr && v->is_bool() && v->get_bool();
}

void AddSegmentReferences(const json::object& holder, std::set<std::string>* out) {
  const json::value* rules_v = holder.if_contains("rules");
  const json::array* rules = rules_v == nullptr ? nullptr : rules_v->if_array();
  if (rules == nullptr) return;
  for (const json::value& rule : *rules) {
    const json::object* r = rule.if_object();
    const json::value* clauses_v = r == nullptr ? nullptr : r->if_contains("clauses");
    const json::array* clauses = clauses_v == nullptr ? nullptr : clauses_v->if_array();
    if (clauses == nullptr) continue;
    for (const json::value& clause : *clauses) {
      const json::object* c = clause.if_object();
      if (c == nullptr) continue;
      const json::value* op = c->if_contains("op");
      if (op == nullptr || !op->is_string() || op->get_string() != "segment_match") continue;
      const json::value* values_v = c->if_contains("values");
      const json::array* values = values_v == nullptr ? nullptr : values_v->if_array();
      if (values == nullptr) continue;
      for (const json::value& v : *values) {
        if (v.is_string()) out->emplace(v.get_string().data(), v.get_string().size());
      }
    }
  }
}

bool AppendConfigEntry(std::string_view key, const json::object& body,
                       const std::vector<std::string>& chain, std::string* out) {
  const json::value* values_v = body.if_contains("values");
  const json::object* values = values_v == nullptr ? nullptr : values_v->if_object();
  if (values == nullptr) return false;
  for (const std::string& at : chain) {
    const json::value* v = values->if_contains(at);
    if (v == nullptr) continue;
    AppendKey(key, out);
    out->append("{\"type\":");
    const json::value* type = body.if_contains("type");
    if (type == nullptr) {
      out->append("\"json\"");
    } else {
      AppendJson(*type, out);
    }
    out->append(",\"value\":");
    AppendJson(*v, out);
    out->append(",\"from\":");
    AppendString(at, out);
    if (IsClientVisible(body)) out->append(",\"client_visible\":true");
    out->push_back('}');
    return true;
  }
  return false;
}

// As ResolveFlagsForEnvironment: {"salt"?, "variations", "environments": {env: the
// nearest non-null configuration}}; flags without one are left out.
bool AppendFlagEntry(std::string_view key, const json::object& flag,
                     const std::vector<std::string>& chain, std::string_view env,
                     std::string* out, std::set<std::string>* segments_used) {
  auto [variations, config] = FlagConfigFor(flag, chain);
  if (config == nullptr) return false;
  AppendKey(key, out);
  out->push_back('{');
  if (const json::value* salt = flag.if_contains("salt")) {
    out->append("\"salt\":");
    AppendJson(*salt, out);
    out->push_back(',');
  }
  out->append("\"variations\":");
  AppendJson(*variations, out);
  out->append(",\"environments\":{");
  AppendKey(env, out);
  AppendJson(*config, out);
  out->push_back('}');
  if (IsClientVisible(flag)) out->append(",\"client_visible\":true");
  out->push_back('}');
  if (segments_used != nullptr && config->is_object()) {
    AddSegmentReferences(config->get_object(), segments_used);
  }
  return true;
}

void AppendSegmentEntry(std::string_view key, const json::object& segment, std::string* out) {
  AppendKey(key, out);
  bool first_field = true;
  out->push_back('{');
  for (std::string_view field : {"included", "excluded", "rules"}) {
    if (!first_field) out->push_back(',');
    first_field = false;
    AppendKey(field, out);
    const json::value* v = segment.if_contains(field);
    if (v == nullptr || v->is_null()) {
      out->append("[]");
    } else {
      AppendJson(*v, out);
    }
  }
  out->push_back('}');
}

namespace {

// Writes the document straight from the parsed items (no intermediate JSON tree): the
// bytes are those of the object the format describes (tests compare them with
// ResolveFlagsForEnvironment's flags).
std::string Resolve(const WorkspaceSnapshot& snapshot, const ParsedSnapshot& parsed,
                    std::string_view env, size_t size_hint, Audience audience) {
  const bool client = audience == Audience::kClient;
  std::vector<std::string> chain = snapshot.envs.AncestorChain(env);
  std::string out;
  out.reserve(size_hint);
  out.append("{\"format\":").append(std::to_string(kResolvedDocumentFormat));
  out.append(",\"workspace_id\":");
  AppendString(snapshot.workspace_id, &out);
  out.append(",\"workspace\":");
  AppendString(snapshot.workspace_key, &out);
  out.append(",\"environment\":");
  AppendString(env, &out);
  out.append(",\"version\":").append(std::to_string(snapshot.version));
  if (client) out.append(",\"audience\":\"client\"");

  out.append(",\"configs\":{");
  bool first = true;
  for (const auto& [key, body] : parsed.configs) {
    if (client && !IsClientVisible(body)) continue;
    size_t mark = out.size();
    if (!first) out.push_back(',');
    if (AppendConfigEntry(key, body, chain, &out)) {
      first = false;
    } else {
      out.resize(mark);
    }
  }

  out.append("},\"flags\":{");
  first = true;
  std::set<std::string> segments_used;
  for (const auto& [key, flag] : parsed.flags) {
    if (client && !IsClientVisible(flag)) continue;
    size_t mark = out.size();
    if (!first) out.push_back(',');
    if (AppendFlagEntry(key, flag, chain, env, &out, &segments_used)) {
      first = false;
    } else {
      out.resize(mark);
    }
  }

  // Only the segments this environment's flags can reach (directly, or through a
  // segment's own segment_match), so a segment change touches exactly those documents.
  std::set<std::string> reachable;
  std::vector<std::string> todo(segments_used.begin(), segments_used.end());
  while (!todo.empty()) {
    std::string key = std::move(todo.back());
    todo.pop_back();
    if (!reachable.insert(key).second) continue;
    if (const json::object* segment = FindSorted(parsed.segments, key)) {
      std::set<std::string> nested;
      AddSegmentReferences(*segment, &nested);
      for (const std::string& n : nested) {
        if (!reachable.contains(n)) todo.push_back(n);
      }
    }
  }
  out.append("},\"segments\":{");
  first = true;
  for (const std::string& key : reachable) {
    const json::object* segment = FindSorted(parsed.segments, key);
    if (segment == nullptr) continue;  // named but absent: a membership of nobody
    if (!first) out.push_back(',');
    first = false;
    AppendSegmentEntry(key, *segment, &out);
  }
  out.append("}}");
  return out;
}

}  // namespace

absl::StatusOr<std::string> ResolveEnvironment(const WorkspaceSnapshot& snapshot,
                                               std::string_view env,
                                               std::vector<ResolveProblem>* problems,
                                               Audience audience) {
  if (!snapshot.envs.Contains(env)) {
    return absl::NotFoundError("environment " + Quoted(env) + " not found");
  }
  ParsedSnapshot parsed = Parse(snapshot);
  if (problems != nullptr) *problems = std::move(parsed.problems);
  return Resolve(snapshot, parsed, env, 0, audience);
}

std::vector<std::pair<std::string, std::string>> ResolveAllEnvironments(
    const WorkspaceSnapshot& snapshot, std::vector<ResolveProblem>* problems,
    std::vector<std::pair<std::string, std::string>>* client_docs) {
  ParsedSnapshot parsed = Parse(snapshot);
  if (problems != nullptr) *problems = std::move(parsed.problems);
  std::vector<std::pair<std::string, std::string>> out;
  size_t size_hint = 0;  // the previous environment's size: documents are alike
  for (const std::string& env : snapshot.envs.Keys()) {
    out.emplace_back(env, Resolve(snapshot, parsed, env, size_hint, Audience::kServer));
    size_hint = out.back().second.size() + 1024;
    if (client_docs != nullptr) {
      client_docs->emplace_back(env, Resolve(snapshot, parsed, env, 0, Audience::kClient));
    }
  }
  return out;
}

std::string ResolvedDocumentEtag(std::string_view doc) { return crypto::Sha256Etag(doc); }

}  // namespace edgevault::workspace
