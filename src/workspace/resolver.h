#pragma once
// The resolver: turns a snapshot of a workspace's items into the **resolved document** of
// one environment — every effective config value and flag configuration after
// inheritance, plus the segments those flags use, as deterministic bytes that the edge KV stores and the
// delivery service serves (format: docs/design/resolved-document.md). Secrets are never
// part of it: a snapshot has no field for them. Pure functions; thread-safe.
//
//   WorkspaceSnapshot snap{.workspace_id = "ws_1", .workspace_key = "shop", .version = head,
//                          .envs = envs, .configs = ..., .flags = ..., .segments = ...};
//   EV_ASSIGN_OR_RETURN(std::string doc, ResolveEnvironment(snap, "staging"));
//   std::string etag = ResolvedDocumentEtag(doc);   // "\"3f2a...\"" (strong ETag)

#include <boost/json.hpp>
#include <cstdint>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "src/storage/workspace_store.h"
#include "src/workspace/model.h"

namespace edgevault::workspace {

inline constexpr int kResolvedDocumentFormat = 1;

// What resolution reads: the workspace identity, its head revision, its environments and
// the current bodies of its configs, flags and segments (any order; bodies as stored).
struct WorkspaceSnapshot {
  std::string workspace_id;
  std::string workspace_key;
  int64_t version = 0;  // the head revision the items are taken at
  EnvironmentSet envs;
  std::vector<storage::Item> configs;
  std::vector<storage::Item> flags;
  std::vector<storage::Item> segments;
};

// An item left out of the documents because its stored body cannot be resolved (not
// JSON, not an object, a number that is not finite). Validation refuses such bodies on
// write; a body stored before a check existed must not stop the rest of the workspace.
struct ResolveProblem {
  storage::ItemKind kind = storage::ItemKind::kConfig;
  std::string key;
  std::string message;
};

// The resolved document of `env`:
//   {"format":1,"workspace_id":..,"workspace":..,"environment":..,"version":N,
//    "configs":{"<key>":{"type":..,"value":..,"from":"<env>"}},
//    "flags":{"<key>":{"salt"?,"variations":[..],"environments":{"<env>":{..}}}},
//    "segments":{"<key>":{"included":[..],"excluded":[..],"rules":[..]}}}
// Members in that order, items sorted by key, no whitespace: the same snapshot gives the
// same bytes whatever the order of its item vectors. "segments" holds exactly the
// segments the environment's flags name in segment_match clauses, and those the named
// segments name in turn. eval::FlagSet::Build(flags, segments, env) accepts the
// document's "flags" and "segments". Items that cannot be resolved are left out and, when
// `problems` is given, listed there. Errors: NotFound when `env` is not an environment of
// the snapshot.
//
// Audience::kClient gives the environment's client document instead: the same layout with
// "audience":"client" after "version", only the configs and flags marked client_visible,
// and only the segments those flags reach — what delivery serves to client SDK keys
// (resolved-document.md §7). It never holds a server-only item.
enum class Audience { kServer, kClient };
absl::StatusOr<std::string> ResolveEnvironment(const WorkspaceSnapshot& snapshot,
                                               std::string_view env,
                                               std::vector<ResolveProblem>* problems = nullptr,
                                               Audience audience = Audience::kServer);

// The resolved document of every environment of the snapshot, sorted by environment key:
// for each the same bytes as ResolveEnvironment, with the items parsed once (what
// propagation writes after each commit).
// When `client_docs` is given, each environment's client document is appended to it too
// (same order).
std::vector<std::pair<std::string, std::string>> ResolveAllEnvironments(
    const WorkspaceSnapshot& snapshot, std::vector<ResolveProblem>* problems = nullptr,
    std::vector<std::pair<std::string, std::string>>* client_docs = nullptr);

// ---- one item's part of a document (the effect of a change, effect.h, compares these) ----

// Appends `"key":{...}` as the document of the environment whose ancestor chain (itself
// first) is `chain` holds it, and returns true; returns false and appends nothing when
// the item is absent from that document.
bool AppendConfigEntry(std::string_view key, const boost::json::object& body,
                       const std::vector<std::string>& chain, std::string* out);
// As AppendConfigEntry for a flag in environment `env` (chain[0]). When `segments_used`
// is given, the segment keys its configuration names are added to it.
bool AppendFlagEntry(std::string_view key, const boost::json::object& flag,
                     const std::vector<std::string>& chain, std::string_view env,
                     std::string* out, std::set<std::string>* segments_used = nullptr);
// Appends a segment's entry (it is the same in every document that holds it).
void AppendSegmentEntry(std::string_view key, const boost::json::object& segment,
                        std::string* out);
// Whether an item's stored body is marked "client_visible": true.
bool IsClientVisible(const boost::json::object& body);
// Adds the segment keys that `holder`'s "rules" name in segment_match clauses (a flag's
// environment configuration, or a segment).
void AddSegmentReferences(const boost::json::object& holder, std::set<std::string>* out);

// The strong ETag of a resolved document: "\"" + the first 32 hex digits of
// SHA-256(doc) + "\"".
std::string ResolvedDocumentEtag(std::string_view doc);

}  // namespace edgevault::workspace
