#pragma once
// Where workspace stores come from: opens, creates and lists the system-of-record stores
// of every workspace (one WorkspaceStore per workspace), independently of the backend
// (the SQLite provider keeps one file per workspace; a PostgreSQL provider would hand out
// views of one database). A provider bounds what it keeps open: stores nobody holds are
// closed least-recently-used first once more than its limit are open, so a host with
// thousands of workspaces does not hold thousands of files open.
//
// At most one store instance per workspace exists at a time: Open returns the same
// instance to every caller while anyone holds it, and a held store is never closed.
//
// Thread-safety: every method may be called concurrently.
//
//   EV_ASSIGN_OR_RETURN(std::shared_ptr<WorkspaceStore> store, provider.Open("ws_123"));
//   EV_ASSIGN_OR_RETURN(int64_t head, store->Head());

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "src/storage/workspace_store.h"

namespace edgevault::storage {

class WorkspaceStoreProvider {
 public:
  virtual ~WorkspaceStoreProvider() = default;

  // The store of an existing workspace. Errors: NotFound (no such workspace store),
  // InvalidArgument (an id that cannot name one), the backend's open errors.
  virtual absl::StatusOr<std::shared_ptr<WorkspaceStore>> Open(std::string_view workspace_id) = 0;
  // Creates the (empty) store of a new workspace and returns it; the store of an id that
  // already exists is returned as it is. Errors: InvalidArgument, the backend's errors.
  virtual absl::StatusOr<std::shared_ptr<WorkspaceStore>> Create(std::string_view workspace_id) = 0;
  // The ids of every workspace store, sorted. Errors: the backend's.
  virtual absl::StatusOr<std::vector<std::string>> List() = 0;
  // Destroys the store of `workspace_id` and everything in it, its data keys included
  // (the purge of a deleted workspace, docs/api.md "Deleting a workspace"): the SQLite file with its
  // journal, or the workspace's rows in PostgreSQL. OK when there is no such store.
  // FailedPrecondition while someone holds the store (try again once they let go);
  // InvalidArgument; the backend's errors.
  virtual absl::Status Destroy(std::string_view workspace_id) = 0;
  // How many stores are open now (held or cached); for tests and metrics.
  virtual size_t OpenCount() = 0;
};

}  // namespace edgevault::storage
