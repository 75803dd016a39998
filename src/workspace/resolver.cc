#include "src/workspace/resolver.h"

#include <algorithm>
#include <boost/json.hpp>
#include <charconv>
#include <utility>

#include "src/base/status.h"
#include "src/crypto/hash.h"

namespace edgevault::workspace {

namespace json = boost::json;

namespace {

std::string Quoted(std::string_view s) {
  return json::serialize(json::string(json::string_view(s.data(), s.size())));
}

// The document's byte rules (docs/design/resolved-document.md §2): no whitespace, members
// in insertion order (the builder inserts them in the documented order), strings escaped
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
    case json::kind::string:
      out->append(json::serialize(v));
      return;
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
        out->append(json::serialize(json::string(m.key())));
        out->push_back(':');
        AppendJson(m.value(), out);
      }
      out->push_back('}');
      return;
    }
  }
}

// Items sorted by key (ties, which a store never produces, by body) with parsed bodies.
absl::StatusOr<std::vector<std::pair<std::string, json::object>>> ParseSorted(
    const std::vector<storage::Item>& items, std::string_view kind) {
  std::vector<const storage::Item*> sorted;
  sorted.reserve(items.size());
  for (const storage::Item& item : items) sorted.push_back(&item);
  std::sort(sorted.begin(), sorted.end(), [](const storage::Item* a, const storage::Item* b) {
    return std::tie(a->key, a->body) < std::tie(b->key, b->body);
  });
  std::vector<std::pair<std::string, json::object>> out;
  out.reserve(sorted.size());
  for (const storage::Item* item : sorted) {
    if (!out.empty() && out.back().first == item->key) continue;
    absl::StatusOr<json::object> body =
        ParseObject(item->body, std::string(kind) + " " + Quoted(item->key));
    if (!body.ok()) return absl::InternalError(std::string(body.status().message()));
    out.emplace_back(item->key, *std::move(body));
  }
  return out;
}

}  // namespace

absl::StatusOr<std::string> ResolveEnvironment(const WorkspaceSnapshot& snapshot,
                                               std::string_view env) {
  if (!snapshot.envs.Contains(env)) {
    return absl::NotFoundError("environment " + Quoted(env) + " not found");
  }
  std::vector<std::string> chain = snapshot.envs.AncestorChain(env);

  json::object configs;
  EV_ASSIGN_OR_RETURN(auto config_items, ParseSorted(snapshot.configs, "config"));
  for (const auto& [key, body] : config_items) {
    const json::value* values_v = body.if_contains("values");
    const json::object* values = values_v == nullptr ? nullptr : values_v->if_object();
    if (values == nullptr) continue;
    for (const std::string& at : chain) {
      const json::value* v = values->if_contains(at);
      if (v == nullptr) continue;
      json::object entry;
      const json::value* type = body.if_contains("type");
      entry["type"] = type == nullptr ? json::value("json") : *type;
      entry["value"] = *v;
      entry["from"] = at;
      configs.emplace(key, std::move(entry));
      break;
    }
  }

  EV_ASSIGN_OR_RETURN(auto flag_items, ParseSorted(snapshot.flags, "flag"));
  json::object flags_by_key;
  for (auto& [key, body] : flag_items) flags_by_key.emplace(key, std::move(body));
  json::object flags = ResolveFlagsForEnvironment(flags_by_key, snapshot.envs, env);

  json::object segments;
  EV_ASSIGN_OR_RETURN(auto segment_items, ParseSorted(snapshot.segments, "segment"));
  for (const auto& [key, body] : segment_items) {
    json::object entry;
    for (std::string_view field : {"included", "excluded", "rules"}) {
      const json::value* v = body.if_contains(field);
      entry[field] = (v == nullptr || v->is_null()) ? json::value(json::array()) : *v;
    }
    segments.emplace(key, std::move(entry));
  }

  json::object doc;
  doc["format"] = kResolvedDocumentFormat;
  doc["workspace_id"] = snapshot.workspace_id;
  doc["workspace"] = snapshot.workspace_key;
  doc["environment"] = json::string(json::string_view(env.data(), env.size()));
  doc["version"] = snapshot.version;
  doc["configs"] = std::move(configs);
  doc["flags"] = std::move(flags);
  doc["segments"] = std::move(segments);

  std::string out;
  AppendJson(doc, &out);
  return out;
}

std::string ResolvedDocumentEtag(std::string_view doc) {
  // Built by appending: GCC 12 reports a false -Wrestrict for "literal" + std::string.
  std::string etag;
  etag.reserve(34);
  etag.push_back('"');
  etag.append(crypto::Sha256Hex(doc), 0, 32);
  etag.push_back('"');
  return etag;
}

}  // namespace edgevault::workspace
