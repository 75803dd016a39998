#include "src/workspace/resolver.h"

#include <algorithm>
#include <boost/json.hpp>
#include <charconv>
#include <memory>
#include <utility>

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
// resolving any number of its environments.
struct ParsedSnapshot {
  std::unique_ptr<json::monotonic_resource> arena = std::make_unique<json::monotonic_resource>();
  std::vector<std::pair<std::string, json::object>> configs;
  std::vector<std::pair<std::string, json::object>> flags;
  std::vector<std::pair<std::string, json::object>> segments;
};

// Items sorted by key (ties, which a store never produces, by body) with parsed bodies.
absl::Status ParseSorted(const std::vector<storage::Item>& items, std::string_view kind,
                         json::monotonic_resource& arena,
                         std::vector<std::pair<std::string, json::object>>* out) {
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
    std::string what = std::string(kind) + " " + Quoted(item->key);
    boost::system::error_code ec;
    json::value v = json::parse(json::string_view(item->body.data(), item->body.size()), ec, sp);
    if (ec) return absl::InternalError(what + ": invalid JSON: " + ec.message());
    json::object* o = v.if_object();
    if (o == nullptr) return absl::InternalError(what + ": must be a JSON object");
    out->emplace_back(item->key, std::move(*o));
  }
  return absl::OkStatus();
}

absl::StatusOr<ParsedSnapshot> Parse(const WorkspaceSnapshot& snapshot) {
  ParsedSnapshot parsed;
  EV_RETURN_IF_ERROR(ParseSorted(snapshot.configs, "config", *parsed.arena, &parsed.configs));
  EV_RETURN_IF_ERROR(ParseSorted(snapshot.flags, "flag", *parsed.arena, &parsed.flags));
  EV_RETURN_IF_ERROR(ParseSorted(snapshot.segments, "segment", *parsed.arena, &parsed.segments));
  return parsed;
}

// Writes the document straight from the parsed items (no intermediate JSON tree): the
// bytes are those of the object the format describes (tests compare them with
// ResolveFlagsForEnvironment's flags).
std::string Resolve(const WorkspaceSnapshot& snapshot, const ParsedSnapshot& parsed,
                    std::string_view env, size_t size_hint) {
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

  out.append(",\"configs\":{");
  bool first = true;
  for (const auto& [key, body] : parsed.configs) {
    const json::value* values_v = body.if_contains("values");
    const json::object* values = values_v == nullptr ? nullptr : values_v->if_object();
    if (values == nullptr) continue;
    for (const std::string& at : chain) {
      const json::value* v = values->if_contains(at);
      if (v == nullptr) continue;
      if (!first) out.push_back(',');
      first = false;
      AppendKey(key, &out);
      out.append("{\"type\":");
      const json::value* type = body.if_contains("type");
      if (type == nullptr) {
        out.append("\"json\"");
      } else {
        AppendJson(*type, &out);
      }
      out.append(",\"value\":");
      AppendJson(*v, &out);
      out.append(",\"from\":");
      AppendString(at, &out);
      out.push_back('}');
      break;
    }
  }

  // As ResolveFlagsForEnvironment: {"salt"?, "variations", "environments": {env: the
  // nearest non-null configuration}}; flags without one are left out.
  out.append("},\"flags\":{");
  first = true;
  for (const auto& [key, flag] : parsed.flags) {
    auto [variations, config] = FlagConfigFor(flag, chain);
    if (config == nullptr) continue;
    if (!first) out.push_back(',');
    first = false;
    AppendKey(key, &out);
    out.push_back('{');
    if (const json::value* salt = flag.if_contains("salt")) {
      out.append("\"salt\":");
      AppendJson(*salt, &out);
      out.push_back(',');
    }
    out.append("\"variations\":");
    AppendJson(*variations, &out);
    out.append(",\"environments\":{");
    AppendKey(env, &out);
    AppendJson(*config, &out);
    out.append("}}");
  }

  out.append("},\"segments\":{");
  first = true;
  for (const auto& [key, body] : parsed.segments) {
    if (!first) out.push_back(',');
    first = false;
    AppendKey(key, &out);
    bool first_field = true;
    out.push_back('{');
    for (std::string_view field : {"included", "excluded", "rules"}) {
      if (!first_field) out.push_back(',');
      first_field = false;
      AppendKey(field, &out);
      const json::value* v = body.if_contains(field);
      if (v == nullptr || v->is_null()) {
        out.append("[]");
      } else {
        AppendJson(*v, &out);
      }
    }
    out.push_back('}');
  }
  out.append("}}");
  return out;
}

}  // namespace

absl::StatusOr<std::string> ResolveEnvironment(const WorkspaceSnapshot& snapshot,
                                               std::string_view env) {
  if (!snapshot.envs.Contains(env)) {
    return absl::NotFoundError("environment " + Quoted(env) + " not found");
  }
  EV_ASSIGN_OR_RETURN(ParsedSnapshot parsed, Parse(snapshot));
  return Resolve(snapshot, parsed, env, 0);
}

absl::StatusOr<std::vector<std::pair<std::string, std::string>>> ResolveAllEnvironments(
    const WorkspaceSnapshot& snapshot) {
  EV_ASSIGN_OR_RETURN(ParsedSnapshot parsed, Parse(snapshot));
  std::vector<std::pair<std::string, std::string>> out;
  size_t size_hint = 0;  // the previous environment's size: documents are alike
  for (const std::string& env : snapshot.envs.Keys()) {
    out.emplace_back(env, Resolve(snapshot, parsed, env, size_hint));
    size_hint = out.back().second.size() + 1024;
  }
  return out;
}

std::string ResolvedDocumentEtag(std::string_view doc) { return crypto::Sha256Etag(doc); }

}  // namespace edgevault::workspace
