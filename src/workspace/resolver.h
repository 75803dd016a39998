#pragma once
// The resolver: turns a snapshot of a workspace's items into the **resolved document** of
// one environment — every effective config value and flag configuration after
// inheritance, plus the segments, as deterministic bytes that the edge KV stores and the
// delivery service serves (format: docs/design/resolved-document.md). Secrets are never
// part of it: a snapshot has no field for them. Pure functions; thread-safe.
//
//   WorkspaceSnapshot snap{.workspace_id = "ws_1", .workspace_key = "shop", .version = head,
//                          .envs = envs, .configs = ..., .flags = ..., .segments = ...};
//   EV_ASSIGN_OR_RETURN(std::string doc, ResolveEnvironment(snap, "staging"));
//   std::string etag = ResolvedDocumentEtag(doc);   // "\"3f2a...\"" (strong ETag)

#include <cstdint>
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

// The resolved document of `env`:
//   {"format":1,"workspace_id":..,"workspace":..,"environment":..,"version":N,
//    "configs":{"<key>":{"type":..,"value":..,"from":"<env>"}},
//    "flags":{"<key>":{"salt"?,"variations":[..],"environments":{"<env>":{..}}}},
//    "segments":{"<key>":{"included":[..],"excluded":[..],"rules":[..]}}}
// Members in that order, items sorted by key, no whitespace: the same snapshot gives the
// same bytes whatever the order of its item vectors. eval::FlagSet::Build(flags,
// segments, env) accepts the document's "flags" and "segments".
// Errors: NotFound when `env` is not an environment of the snapshot; Internal when a
// stored body is not a JSON object (names the item).
absl::StatusOr<std::string> ResolveEnvironment(const WorkspaceSnapshot& snapshot,
                                               std::string_view env);

// The resolved document of every environment of the snapshot, sorted by environment key:
// for each the same bytes as ResolveEnvironment, with the items parsed once (what
// propagation writes after each commit). Errors: Internal as for ResolveEnvironment.
absl::StatusOr<std::vector<std::pair<std::string, std::string>>> ResolveAllEnvironments(
    const WorkspaceSnapshot& snapshot);

// The strong ETag of a resolved document: "\"" + the first 32 hex digits of
// SHA-256(doc) + "\"".
std::string ResolvedDocumentEtag(std::string_view doc);

}  // namespace edgevault::workspace
