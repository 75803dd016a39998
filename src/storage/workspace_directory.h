#pragma once
// Which workspaces an org has and what the org is entitled to: the slice of the control DB
// the api's workspace service needs (DESIGN.md §2–§3). Two kinds of implementation: the
// control store itself (auth, which owns control.db) and the api's
// RemoteWorkspaceDirectory (src/services/api/remote_workspace_directory.h), which asks
// auth over its signed internal API, so the api never opens control.db.
//
// Thread-safety: every method may be called concurrently; each call is atomic.
//
// Error codes (every implementation):
//   NotFound           no such workspace; for GetEntitlements and
//                      CreateWorkspaceWithinLimit, no such org
//   AlreadyExists      CreateWorkspaceWithinLimit: the org has a workspace with that key
//                      (or the id is taken)
//   ResourceExhausted  CreateWorkspaceWithinLimit: the org already has its
//                      max_workspaces workspaces; the message is exactly
//                      "the org's plan allows N workspaces"
//   InvalidArgument    empty id, org id or key
//   FailedPrecondition MarkWorkspaceDeleted of a deleted workspace; RestoreWorkspace and
//                      PurgeWorkspace of one that is not deleted
//   Unavailable        the database (or the auth service) is busy or unreachable; retry
//   Internal           anything else
//
//   absl::Status st = directory.CreateWorkspaceWithinLimit(ws);
//   if (absl::IsResourceExhausted(st)) { /* the plan's limit: 403 entitlement_exceeded */ }

#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "src/storage/control_types.h"

namespace edgevault::storage {

class WorkspaceDirectory {
 public:
  virtual ~WorkspaceDirectory() = default;

  // Records `ws` unless its org already has entitlements.max_workspaces workspaces. The
  // count and the insert are one atomic step: of parallel creates at the limit exactly
  // one succeeds, however many processes make them.
  virtual absl::Status CreateWorkspaceWithinLimit(const Workspace& ws) = 0;
  virtual absl::StatusOr<Workspace> GetWorkspaceByKey(std::string_view org_id,
                                                      std::string_view key) = 0;
  virtual absl::StatusOr<Workspace> GetWorkspaceById(std::string_view id) = 0;
  // Oldest first.
  virtual absl::StatusOr<std::vector<Workspace>> ListWorkspaces(std::string_view org_id) = 0;
  // Sets the display name of workspace `id` of `org_id` (its key and id never change).
  // NotFound when the org has no such workspace; InvalidArgument for an empty name.
  virtual absl::Status RenameWorkspace(std::string_view org_id, std::string_view id, std::string_view name) = 0;
  virtual absl::StatusOr<Entitlements> GetEntitlements(std::string_view org_id) = 0;

  // ---- deletion with a grace period (docs/design/control-db.md "Deleted workspaces") ----
  // The Get/List methods above return deleted workspaces too (Workspace::deleted()): the
  // workspace service decides who sees them.
  // Marks workspace `id` of `org_id` deleted at `at`; its data may be destroyed from
  // `purge_after` on. Returns the row as it now is. NotFound; FailedPrecondition when it
  // is deleted already.
  virtual absl::StatusOr<Workspace> MarkWorkspaceDeleted(std::string_view org_id, std::string_view id,
                                                         absl::Time at, absl::Time purge_after) = 0;
  // Clears the marks. NotFound; FailedPrecondition when it is not deleted.
  virtual absl::StatusOr<Workspace> RestoreWorkspace(std::string_view org_id, std::string_view id) = 0;
  // Deleted workspaces of every org whose purge_after is at or before `now`, earliest
  // first, at most `limit` (1..1000, else InvalidArgument).
  virtual absl::StatusOr<std::vector<Workspace>> ListWorkspacesDueForPurge(absl::Time now, int limit) = 0;
  // Removes the row of a deleted workspace and its SDK keys (its data is gone already).
  // NotFound; FailedPrecondition when it is not deleted (a restore won the race).
  virtual absl::Status PurgeWorkspace(std::string_view org_id, std::string_view id) = 0;
};

}  // namespace edgevault::storage
