#pragma once
// A verified resolved document as the SDK evaluates it (immutable once built, shared by
// every reading thread), and the snapshot file of docs/design/sdk-snapshot-file.md.
// Thread-safety: a Snapshot is immutable; the functions keep no state.

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json.hpp>

#include "absl/status/statusor.h"
#include "src/eval/document.h"

namespace edgevault::sdk::internal {

struct Snapshot : eval::CompiledDocument {
  std::string bytes;      // the document exactly as signed
  std::string signature;  // its EdgeVault-Signature value
  boost::json::object flags_json, configs_json;  // for change listeners
};

// Builds the snapshot of a document the verifier accepted with eval::CompileDocument, as
// delivery builds its own, so answers match OFREP's.
// InvalidArgument when the bytes are not a JSON object.
absl::StatusOr<std::shared_ptr<const Snapshot>> BuildSnapshot(std::string bytes, std::string signature);

// Keys (flags and configs) whose JSON differs between `old` (may be null) and `now`.
std::vector<std::string> ChangedKeys(const Snapshot* old, const Snapshot& now);

struct SnapshotFile {
  std::string signature;
  std::string document;
};
// InvalidArgument when the text is not "<signature line>\n<document>".
absl::StatusOr<SnapshotFile> ParseSnapshotFile(std::string_view text);
std::string FormatSnapshotFile(std::string_view signature, std::string_view document);

}  // namespace edgevault::sdk::internal
