#include "sdk/cpp/src/snapshot.h"

#include <set>

#include "src/base/strings.h"

namespace edgevault::sdk::internal {

namespace json = boost::json;

absl::StatusOr<std::shared_ptr<const Snapshot>> BuildSnapshot(std::string bytes, std::string signature) {
  boost::system::error_code ec;
  json::value doc = json::parse(bytes, ec);
  if (ec || !doc.is_object()) return absl::InvalidArgumentError("the document is not a JSON object");
  const json::object& o = doc.get_object();
  auto snap = std::make_shared<Snapshot>();
  eval::CompileDocument(o, snap.get());
  auto member_object = [&](std::string_view name) {
    const json::value* v = o.if_contains(name);
    return v != nullptr && v->is_object() ? v->get_object() : json::object();
  };
  snap->flags_json = member_object("flags");
  snap->configs_json = member_object("configs");
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
  // A document has no raw line break (resolved-document.md §2), nor does a signature: one
  // here means the file was edited or damaged.
  if (sig.find('\r') != std::string_view::npos || doc.find_first_of("\r\n") != std::string_view::npos) {
    return absl::InvalidArgumentError("the snapshot file has a line break inside its signature or document");
  }
  out.signature = std::string(sig);
  out.document = std::string(doc);
  return out;
}

std::string FormatSnapshotFile(std::string_view signature, std::string_view document) {
  return base::StrCat(signature, "\n", document, "\n");
}

}  // namespace edgevault::sdk::internal
