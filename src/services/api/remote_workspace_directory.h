#pragma once
// The api's view of the control DB: storage::WorkspaceDirectory (and the SDK-key listing
// the edge-KV republisher needs) over auth's signed internal API, so the api never opens
// control.db (docs/api.md "The control DB"; routes in docs/auth.md "Internal endpoints").
//
// A small cache spares auth a call per request:
//  - workspace rows, by id and by (org, key), for workspace_ttl: a rename through another
//    api process shows here at most that long after (its id, org and key never change).
//    A row older than that is asked for again; when auth does not answer, the row cached
//    is used (requests keep working through an auth restart). The cache starts over when it
//    holds max_cached_workspaces rows.
//  - each org's entitlements for entitlements_ttl: a raised or lowered limit takes effect
//    in the api at most that long after it changes in control.db. The workspace-count
//    limit is not cached: auth checks it in the same transaction as the insert.
//  - NotFound is never cached: a workspace created through another api process is found
//    on its first lookup here.
// Lists and creates always ask auth (and fill the row cache).
//
// Errors (storage::WorkspaceDirectory's, mapped from auth's answers): 400 → InvalidArgument,
// 404 → NotFound, 409 "conflict" → AlreadyExists, 409 "failed_precondition" →
// FailedPrecondition, 429 "entitlement_exceeded" →
// ResourceExhausted (auth's message, "the org's plan allows N workspaces"); no answer,
// any other answer, or a body of another shape → Unavailable ("try again").
//
// Thread-safety: every method may be called concurrently (one mutex around the cache;
// never held during a call to auth).
//
//   EV_ASSIGN_OR_RETURN(auto dir, api::RemoteWorkspaceDirectory::Create(
//       {.client = signed_client, .host = "127.0.0.1", .port = 8083, .env = env}));
//   service_options.directory = dir.get();

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json.hpp>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "src/base/env.h"
#include "src/net/http_client.h"
#include "src/storage/credential_store.h"
#include "src/storage/workspace_directory.h"

namespace edgevault::api {

struct RemoteWorkspaceDirectoryOptions {
  net::HttpClient* client = nullptr;  // signs its requests (internal key); not owned
  std::string host;                   // auth's internal address
  uint16_t port = 0;
  base::Env* env = nullptr;  // clock for the entitlements TTL; not owned
  absl::Duration entitlements_ttl = absl::Seconds(5);
  absl::Duration workspace_ttl = absl::Seconds(5);
  size_t max_cached_workspaces = 10000;
};

class RemoteWorkspaceDirectory final : public storage::WorkspaceDirectory,
                                       public storage::SdkKeyLister {
 public:
  // InvalidArgument when client or env is null, the TTL is negative or the
  // cache size is 0.
  static absl::StatusOr<std::unique_ptr<RemoteWorkspaceDirectory>> Create(
      RemoteWorkspaceDirectoryOptions options);

  absl::Status CreateWorkspaceWithinLimit(const storage::Workspace& ws) override;
  absl::StatusOr<storage::Workspace> GetWorkspaceByKey(std::string_view org_id,
                                                       std::string_view key) override;
  absl::StatusOr<storage::Workspace> GetWorkspaceById(std::string_view id) override;
  absl::StatusOr<std::vector<storage::Workspace>> ListWorkspaces(std::string_view org_id) override;
  absl::Status RenameWorkspace(std::string_view org_id, std::string_view id, std::string_view name) override;
  // Deletion (a delete or restore here is cached at once; other api processes see it when
  // their cached row is older than workspace_ttl). FailedPrecondition from auth's 409.
  absl::StatusOr<storage::Workspace> MarkWorkspaceDeleted(std::string_view org_id, std::string_view id,
                                                          absl::Time at, absl::Time purge_after) override;
  absl::StatusOr<storage::Workspace> RestoreWorkspace(std::string_view org_id, std::string_view id) override;
  absl::StatusOr<std::vector<storage::Workspace>> ListWorkspacesDueForPurge(absl::Time now, int limit) override;
  absl::Status PurgeWorkspace(std::string_view org_id, std::string_view id) override;
  absl::StatusOr<storage::Entitlements> GetEntitlements(std::string_view org_id) override;
  // The rights `actor` ("user:<id>" / "key:<id>") holds in the org now: {"role", "scopes"}
  // (auth's /internal/v1/principals/rights; never cached). NotFound when it holds none.
  absl::StatusOr<boost::json::object> CurrentRights(std::string_view org_id, std::string_view actor);
  absl::StatusOr<std::vector<storage::SdkKey>> ListSdkKeys(std::string_view org_id,
                                                          std::string_view workspace_id) override;

 private:
  explicit RemoteWorkspaceDirectory(RemoteWorkspaceDirectoryOptions o) : options_(std::move(o)) {}
  void Remember(const storage::Workspace& ws);
  // The cached row of `id`, when there is one; `fresh` says whether it is younger than
  // workspace_ttl. Holds mu_.
  const storage::Workspace* Cached(std::string_view id, bool* fresh);

  const RemoteWorkspaceDirectoryOptions options_;
  std::mutex mu_;
  struct CachedWorkspace {
    storage::Workspace row;
    absl::Time fetched_at;
  };
  std::map<std::string, CachedWorkspace, std::less<>> by_id_;
  std::map<std::string, std::string, std::less<>> id_by_org_key_;  // org id, NUL, key → id
  struct CachedEntitlements {
    storage::Entitlements value;
    absl::Time fetched_at;
  };
  std::map<std::string, CachedEntitlements, std::less<>> entitlements_;
};

}  // namespace edgevault::api
