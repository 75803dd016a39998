#include "sdk/cpp/src/snapshot.h"

#include <algorithm>
#include <set>

#include "src/base/strings.h"
#include "src/eval/ofrep.h"

namespace edgevault::sdk::internal {

namespace json = boost::json;

absl::StatusOr<std::shared_ptr<const Snapshot>> BuildSnapshot(std::string bytes, std::string signature) {
  boost::system::error_code ec;
  json::value doc = json::parse(bytes, ec);
  if (ec || !doc.is_object()) return absl::InvalidArgumentError("the document is not a JSON object");
  const json::object& o = doc.get_object();
  auto snap = std::make_shared<Snapshot>();
  if (const json::value* v = o.if_contains("version"); v != nullptr && v->is_int64()) {
    snap->version = v->get_int64();
  }
  if (const json::value* w = o.if_contains("workspace_id"); w != nullptr && w->is_string()) {
    snap->workspace_id = std::string(w->get_string());
  }
  if (const json::value* e = o.if_contains("environment"); e != nullptr && e->is_string()) {
    snap->environment = std::string(e->get_string());
  }
  auto member_object = [&](std::string_view name) {
    const json::value* v = o.if_contains(name);
    return v != nullptr && v->is_object() ? v->get_object() : json::object();
  };
  snap->flags_json = member_object("flags");
  snap->configs_json = member_object("configs");
  const json::object segments = member_object("segments");
  for (const auto& [key, flag] : snap->flags_json) {
    snap->flag_keys.emplace_back(key);
    snap->variant_names.emplace(std::string(key), eval::VariantNames(flag));
  }
  for (const auto& [key, config] : snap->configs_json) {
    const json::value* value = config.is_object() ? config.get_object().if_contains("value") : nullptr;
    if (value == nullptr) continue;
    snap->config_keys.emplace_back(key);
    snap->configs.emplace(std::string(key), *value);
  }
  std::sort(snap->flag_keys.begin(), snap->flag_keys.end());
  std::sort(snap->config_keys.begin(), snap->config_keys.end());
  absl::StatusOr<std::shared_ptr<const eval::FlagSet>> set =
      eval::FlagSet::Build(snap->flags_json, segments, snap->environment);
  if (set.ok()) {
    snap->flags = std::move(*set);
  } else {
    snap->flags = eval::FlagSet::FromCompiled({}, {});
    snap->flags_error =
        "the environment's flags could not be compiled: " + std::string(set.status().message());
  }
  snap->bytes = std::move(bytes);
  snap->signature = std::move(signature);
  return std::shared_ptr<const Snapshot>(std::move(snap));
}

std::vector<std::string> ChangedKeys(const Snapshot* old, const Snapshot& now) {
  std::set<std::string> out;
  auto diff = [&](const json::object* a, const json::object& b) {
    for (const auto& [k, v] : b) {
      const json::value* before = a != nullptr ? a->if_contains(k) : nullptr;
      if (before == nullptr || *before != v) out.emplace(k);
    }
    if (a == nullptr) return;
    for (const auto& [k, v] : *a) {
      if (!b.contains(k)) out.emplace(k);
    }
  };
  diff(old != nullptr ? &old->flags_json : nullptr, now.flags_json);
  diff(old != nullptr ? &old->configs_json : nullptr, now.configs_json);
  return {out.begin(), out.end()};
}

absl::StatusOr<SnapshotFile> ParseSnapshotFile(std::string_view text) {
  size_t eol = text.find('\n');
  if (eol == std::string_view::npos) {
    return absl::InvalidArgumentError(
        "a snapshot file is the EdgeVault-Signature value, a newline, then the document");
  }
  SnapshotFile out;
  std::string_view sig = text.substr(0, eol);
  if (sig.ends_with("\r")) sig.remove_suffix(1);
  std::string_view doc = text.substr(eol + 1);
  if (doc.ends_with("\r\n")) {
    doc.remove_suffix(2);
  } else if (doc.ends_with("\n")) {
    doc.remove_suffix(1);
  }
  if (sig.empty() || doc.empty()) {
    return absl::InvalidArgumentError("the snapshot file has an empty signature line or document");
  }
  out.signature = std::string(sig);
  out.document = std::string(doc);
  return out;
}

std::string FormatSnapshotFile(std::string_view signature, std::string_view document) {
  return base::StrCat(signature, "\n", document, "\n");
}

}  // namespace edgevault::sdk::internal
