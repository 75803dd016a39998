#pragma once
// A whole workspace as one file (docs/design/workspace-export.md, format
// "edgevault.workspace/1"): what `edgevault export -w WS --all` prints and
// `edgevault import -w WS --from workspace FILE` reads back. Environments (with parent,
// protection and policy), configs, flags and segments whole; secrets by name only (their
// values never leave the api through this path). Pure functions; thread-safe.
//
//   absl::StatusOr<WorkspaceExport> ws = WorkspaceExportFromApi(workspace_reply, lists);
//   std::string yaml = WorkspaceExportToYaml(*ws);                    // stable bytes
//   absl::StatusOr<WorkspaceExport> back = ParseWorkspaceExport(YamlToJson(YAML::Load(yaml)));
//   absl::StatusOr<WorkspaceImportPlan> plan = PlanWorkspaceImport(*back, target_envs);

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "boost/json.hpp"

namespace edgevault::workspace {

inline constexpr char kWorkspaceExportFormat[] = "edgevault.workspace/1";

struct WorkspaceExport {
  struct Environment {
    std::string key;
    std::string name;
    std::string parent;  // "" = a root
    bool is_protected = false;
    std::optional<boost::json::object> policy;  // as PUT .../policy takes it
  };
  std::string workspace_key;
  std::string workspace_name;
  std::vector<Environment> environments;  // parents before their children
  // Item key → the body its PUT takes (no key, revision or timestamps).
  std::map<std::string, boost::json::object> configs;
  std::map<std::string, boost::json::object> flags;
  std::map<std::string, boost::json::object> segments;
  // Secret name → the environments holding a value (values are never exported).
  std::map<std::string, std::vector<std::string>> secrets;
};

// From the api's replies: GET /v1/workspaces/{ws} (key, name, environments) and the
// "items" of GET .../configs, .../flags, .../segments, .../secrets. InvalidArgument when a
// reply is not of that shape.
struct WorkspaceLists {
  boost::json::array configs;
  boost::json::array flags;
  boost::json::array segments;
  boost::json::array secrets;
};
absl::StatusOr<WorkspaceExport> WorkspaceExportFromApi(const boost::json::object& workspace,
                                                       const WorkspaceLists& lists);

// The document: {"format", "workspace": {key, name}, "environments": [...], "configs",
// "flags", "segments", "secrets"}, members in that order, items sorted by key and each
// body's members in the api's (stored) order, so two exports of the same state are
// byte-identical and an import stores the same bytes (the resolved documents keep a
// body's member order).
boost::json::object WorkspaceExportToJson(const WorkspaceExport& ws);
// The same as YAML: every string double-quoted (so "true", "1" or "null" stay strings
// when read back), numbers, booleans and null plain.
std::string WorkspaceExportToYaml(const WorkspaceExport& ws);

// Strict: the format name, known members only, every member of the right type, each
// environment's parent earlier in the list, no key twice. InvalidArgument naming the
// path inside the file (`flags.beta: must be an object`). Bodies are not validated here
// (the api does, as one batch).
absl::StatusOr<WorkspaceExport> ParseWorkspaceExport(const boost::json::value& doc);

struct WorkspaceImportPlan {
  std::vector<WorkspaceExport::Environment> create;  // missing in the target, parents first
  std::vector<std::string> existing;                 // already there with the same parent
  // The batch's changes (POST .../batch): segments, then flags (each after the flags it
  // requires), then configs, each a whole item {kind, key, body}.
  boost::json::array changes;
  std::vector<std::string> secrets_not_imported;
};
// `target_environments`: the target's "environments" (GET /v1/workspaces/{ws}).
// InvalidArgument when an environment exists there with another parent. Prerequisites on
// flags the file lacks, and cycles, are left for the api to judge (the batch refuses them).
absl::StatusOr<WorkspaceImportPlan> PlanWorkspaceImport(const WorkspaceExport& ws,
                                                        const boost::json::array& target_environments);

}  // namespace edgevault::workspace
