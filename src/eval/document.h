#pragma once
// A resolved document (docs/design/resolved-document.md) compiled for evaluation: the
// environment's FlagSet, each flag's OFREP variant names and the configs' values. Delivery
// builds one per published document to answer OFREP, and the SDKs (sdk/cpp) build the same
// from the same bytes, so an in-process answer is delivery's answer by construction.
// Immutable once built; share it across threads (as delivery's and the SDK's snapshots do).
//
//   eval::CompiledDocument doc;
//   eval::CompileDocument(parsed.as_object(), &doc);
//   if (!doc.flags_error.empty()) { /* every flag answers GENERAL; configs still work */ }

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <boost/json.hpp>

#include "src/eval/evaluator.h"
#include "src/eval/model.h"

namespace edgevault::eval {

struct CompiledDocument {
  int64_t version = 0;  // the document's "version" member
  std::string workspace_id;
  std::string environment;
  std::shared_ptr<const FlagSet> flags;  // never null after CompileDocument
  // Non-empty when FlagSet::Build refused the document's flags: every flag evaluation
  // then answers GENERAL with this message (configs stay evaluable).
  std::string flags_error;
  std::vector<std::string> flag_keys;  // sorted
  // flag key -> variant name per variation index (VariantNames, ofrep.h).
  StringMap<std::vector<std::string>> variant_names;
  StringMap<boost::json::value> configs;  // config key -> effective value
  std::vector<std::string> config_keys;   // sorted
};

// Fills `out` from a document object. Members of the wrong type count as absent; flags that
// do not compile leave an empty FlagSet and the reason in flags_error. Never fails.
void CompileDocument(const boost::json::object& document, CompiledDocument* out);

}  // namespace edgevault::eval
