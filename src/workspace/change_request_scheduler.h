#pragma once
// The api's scheduler of change requests (docs/design/promotions.md §5a): applies every
// "scheduled" request at its apply_at, as the user who scheduled it.
//
// Durability lives in the workspace stores, not here: the schedule is the request's row
// (state "scheduled", apply_at, the scheduler's grant), written in one transaction with
// its audit event. This class keeps only an in-memory index (apply_at, workspace, id)
// so a tick never opens a workspace that has nothing due:
//  - Rebuild() fills it from every store the provider lists (at start, once);
//  - Add() is called by ChangeRequests::Schedule (its listener) for every new schedule;
//  - entries are never removed when a request is unscheduled, rebased, closed or applied
//    by hand: at its time the row is read again, and an entry whose row is no longer
//    scheduled, or scheduled later (rescheduled: that has its own entry), is dropped. So the index may hold stale entries, never miss
//    a schedule made through this process.
// One api process serves a data directory, so every schedule goes through it.
//
// Never twice: ChangeRequests::ApplyScheduled applies with the same compare-and-set as
// apply (the row moves to "applied" in the item commit), so a restart, a manual apply or
// a second tick racing it finds the row applied and does nothing.
//
// Timing: RunDue() handles what is due at env->Now(); a periodic task of env calls it,
// then waits until the next entry is due or `max_wait` passes (Add wakes it), so a request
// applies within about max_wait of its time. Tests drive RunDue() (or the task, with
// SimulatedEnv::RunFor) on a SimulatedEnv.
//
// Thread-safety: every method may be called concurrently; RunDue runs one at a time.

#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <tuple>

#include "absl/status/statusor.h"
#include "src/base/env.h"
#include "src/storage/workspace_directory.h"
#include "src/storage/workspace_store_provider.h"
#include "src/workspace/change_requests.h"

namespace edgevault::workspace {

struct ChangeRequestSchedulerOptions {
  ChangeRequests* change_requests = nullptr;     // not owned
  storage::WorkspaceStoreProvider* stores = nullptr;  // not owned
  storage::WorkspaceDirectory* directory = nullptr;   // the workspace rows; not owned
  base::Env* env = nullptr;
  // The write right, now, in workspace `ws`, of `by` who scheduled with `grant` (what the
  // api recorded). Called before each apply, outside every lock: it may ask auth for the
  // rights `by` holds today.
  std::function<WriteAuthorizer(const storage::Workspace& ws, const std::string& by,
                                const boost::json::object& grant)>
      authorizer;
  absl::Duration max_wait = absl::Milliseconds(250);
  // After an error a retry could fix (Unavailable, Aborted, ...), the entry is due again
  // this much later.
  absl::Duration retry_after = absl::Seconds(2);
  // A request of a deleted workspace (in its grace period) waits: it is looked at again
  // this much later, and applies once the workspace is restored (late, as after any
  // downtime of the scheduler), or is gone with it when it is purged.
  absl::Duration deleted_recheck = absl::Minutes(1);
};

class ChangeRequestScheduler {
 public:
  // InvalidArgument when a pointer or the authorizer is missing. Installs itself as the
  // change requests' schedule listener.
  static absl::StatusOr<std::unique_ptr<ChangeRequestScheduler>> Create(ChangeRequestSchedulerOptions options);
  ~ChangeRequestScheduler();  // Stop()s

  // Rebuilds the index from every store, then starts the thread. A store that cannot be
  // read is logged and skipped (its schedules run after the next restart that reads it).
  absl::Status Start();
  void Stop();  // idempotent

  // Reads every store's scheduled requests into the index (adds to it).
  absl::Status Rebuild();
  void Add(const std::string& workspace_id, int64_t id, absl::Time apply_at);

  // What happened to each due entry in one RunDue.
  struct Outcome {
    std::string workspace_id;
    int64_t id = 0;
    std::string result;  // "applied", "failed", "skipped" (no longer scheduled then), "retry",
                         // "waiting" (its workspace is deleted)
    std::string detail;
  };
  // Handles every entry due at env->Now(), soonest first.
  std::vector<Outcome> RunDue();
  std::optional<absl::Time> NextDue();
  size_t Size();

 private:
  explicit ChangeRequestScheduler(ChangeRequestSchedulerOptions o) : o_(std::move(o)) {}
  base::NextRun RunInBackground();
  Outcome RunOne(const std::string& workspace_id, int64_t id, absl::Time now);

  const ChangeRequestSchedulerOptions o_;
  std::mutex run_mu_;  // one RunDue at a time
  std::mutex mu_;
  std::set<std::tuple<absl::Time, std::string, int64_t>> index_;
  bool stop_ = false;
  std::unique_ptr<base::PeriodicTask> task_;  // set once by Start, under mu_
};

}  // namespace edgevault::workspace
