#pragma once
// Re-fills an edge KV that is new or lost its data: Redis run without persistence comes back
// empty after a restart, and a damaged or deleted LMDB store is rebuilt empty by the api
// (services::ManagedEdgeKv::Maintain); every resolved document and SDK-key binding is then
// gone, while the api (the system of record) still has them. The republisher watches the
// KV's populated marker (services::kPopulatedKey); when it is absent it writes every
// environment's document at its current version and every live SDK key's binding, calls
// on_published, and then writes the marker. Delivery treats "absent" as "unavailable" while
// the marker is missing, so it serves from memory meanwhile (docs/delivery.md, "Redis" and
// "A damaged or lost store").
//
//   EV_ASSIGN_OR_RETURN(auto republisher, EdgeKvRepublisher::Create({.service = svc, ...}));
//   republisher->Start();   // checks at once, then every check_interval
//
// Thread-safety: CheckOnce may be called from any thread, but not concurrently with itself
// (the background task calls it; tests call it with the task not started). Start/Stop
// from one owner thread.

#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "src/base/env.h"
#include "src/storage/credential_store.h"
#include "src/storage/edge_kv.h"
#include "src/storage/workspace_directory.h"
#include "src/storage/workspace_store_provider.h"
#include "src/workspace/service.h"

namespace edgevault::api {

struct EdgeKvRepublisherOptions {
  workspace::Service* service = nullptr;     // not owned
  storage::WorkspaceDirectory* directory = nullptr;  // workspace rows; not owned
  storage::SdkKeyLister* sdk_keys = nullptr;        // each workspace's SDK keys; not owned
  storage::EdgeKv* kv = nullptr;             // the edge KV; not owned
  // Every workspace store, whatever the backend (the ids come from List()); not owned.
  storage::WorkspaceStoreProvider* stores = nullptr;
  // How often the marker is checked (one GetVersion); also the retry delay after a failed
  // republish.
  absl::Duration check_interval = absl::Seconds(1);
  std::function<void()> on_published;  // after a republish, before the marker; may be empty
  // Runs in the background task before each check (the api: the KV's upkeep, which
  // rebuilds a damaged or deleted LMDB store). May be empty.
  std::function<void()> maintain;
  // Runs the background task (docs/design/periodic-tasks.md); nullptr = base::Env::Default().
  base::Env* env = nullptr;
};

class EdgeKvRepublisher {
 public:
  // InvalidArgument when service, directory, sdk_keys, kv or stores is null or check_interval
  // is not positive.
  static absl::StatusOr<std::unique_ptr<EdgeKvRepublisher>> Create(EdgeKvRepublisherOptions o);
  ~EdgeKvRepublisher();  // Stop()

  // Checks the marker; when it is absent, republishes everything and writes it. Returns
  // whether it republished. Errors: the KV's (Unavailable while Redis is down, ...) and the
  // stores' codes; the marker is then not written, so the next check tries again.
  absl::StatusOr<bool> CheckOnce();

  // Starts / stops the background task: a check at once, then every check_interval
  // (idempotent).
  void Start();
  void Stop();

 private:
  explicit EdgeKvRepublisher(EdgeKvRepublisherOptions o) : options_(std::move(o)) {}
  absl::Status RepublishAll();
  base::NextRun CheckInBackground();

  const EdgeKvRepublisherOptions options_;
  std::unique_ptr<base::PeriodicTask> task_;
  bool failing_ = false;  // the background task's only (a failure is logged once per outage)
};

}  // namespace edgevault::api
