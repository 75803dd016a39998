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
#include "src/eval/evaluator.h"
#include "src/eval/model.h"

namespace edgevault::sdk::internal {

struct Snapshot {
  std::string bytes;      // the document exactly as signed
  std::string signature;  // its EdgeVault-Signature value
  int64_t version = 0;
  std::string workspace_id;
  std::string environment;
  std::shared_ptr<const eval::FlagSet> flags;  // never null (empty when flags_error)
  std::string flags_error;  // why the flags did not compile (delivery answers GENERAL too)
  eval::StringMap<std::vector<std::string>> variant_names;  // flag key -> OFREP variant names
  eval::StringMap<boost::json::value> configs;              // config key -> value
  std::vector<std::string> flag_keys, config_keys;          // sorted
  boost::json::object flags_json, configs_json;             // for change listeners
};

// Builds the snapshot of a document the verifier accepted, the way delivery builds its
// own (src/services/delivery/delivery_service.cc), so answers match OFREP's.
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
