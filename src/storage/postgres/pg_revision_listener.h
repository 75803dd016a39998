#pragma once
// Cross-node revision events for the PostgreSQL workspace store
// (docs/design/postgres-workspace-store.md#revision-events-across-api-nodes). Every commit
// that appends revisions also runs NOTIFY ev_revisions '<workspace id> <first> <last>' in
// its transaction (PostgreSQL delivers it at commit, to every listener, in commit order);
// each api node keeps one connection LISTENing and hands every notice to `on_notice`, so
// its event subscribers see revisions written through any node. Notices sent while the
// connection was down are lost: after each (re)connection, once listening again, the
// listener calls `on_resync` and the owner compares heads to catch up.
// Thread-safety: Start/Stop from one owner thread; the callbacks run one at a time on the
// listener's own periodic task (src/base/periodic.h), which blocks in poll() on the
// connection; Stop unblocks it.
//
//   EV_ASSIGN_OR_RETURN(auto listener, PgRevisionListener::Start({
//       .url = url, .env = env,
//       .on_notice = [&](const RevisionNotice& n) { service->RevisionsCommitted(n.workspace_id, n.first, n.last); },
//       .on_resync = [&] { service->CatchUpSubscribers(); }}));

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "src/base/env.h"
#include "src/base/stop_signal.h"

namespace edgevault::storage {

// The channel the workspace store notifies on; its payload is FormatRevisionNotice's.
inline constexpr char kRevisionChannel[] = "ev_revisions";
// The channel an api node notifies on when it created, renamed, deleted or restored a
// workspace (MCP sessions on every node list again): "<org id> <sender>", where sender is
// the announcing process's own id, so it can skip its own notice (it told its sessions
// already).
inline constexpr char kWorkspaceListChannel[] = "ev_workspace_list";

struct WorkspaceListNotice {
  std::string org_id;
  std::string sender;
};
std::string FormatWorkspaceListNotice(const WorkspaceListNotice& n);
std::optional<WorkspaceListNotice> ParseWorkspaceListNotice(std::string_view payload);
class PgPool;
// Sends `n` on kWorkspaceListChannel (every listener, this process's included, hears it).
// Errors: the pool's (Unavailable when PostgreSQL cannot be reached).
absl::Status NotifyWorkspaceListChanged(PgPool& pool, const WorkspaceListNotice& n);

struct RevisionNotice {
  std::string workspace_id;
  int64_t first = 0;  // the commit's first and last revision (first <= last)
  int64_t last = 0;
};

// "<workspace id> <first> <last>".
std::string FormatRevisionNotice(const RevisionNotice& n);
// nullopt for anything else (another writer on the channel must not crash a listener).
std::optional<RevisionNotice> ParseRevisionNotice(std::string_view payload);

struct PgRevisionListenerOptions {
  std::string url;  // postgres://...; never logged
  base::Env* env = nullptr;
  std::function<void(const RevisionNotice&)> on_notice;
  // After every successful LISTEN (the first included): what was sent meanwhile is lost.
  std::function<void()> on_resync;
  // Optional: kWorkspaceListChannel is listened to as well and its notices handed here.
  std::function<void(const WorkspaceListNotice&)> on_workspace_list;
  // An idle connection is checked (SELECT 1) this often, so a silently dead one is
  // noticed and replaced.
  absl::Duration idle_check = absl::Seconds(30);
};

class PgRevisionListener {
 public:
  // Starts the background task (it connects there, and again with back-off after each
  // loss). Errors: InvalidArgument (a malformed URL, missing env or callbacks), Internal
  // (no pipe).
  static absl::StatusOr<std::unique_ptr<PgRevisionListener>> Start(PgRevisionListenerOptions options);
  ~PgRevisionListener();  // Stop()

  // Stops listening and waits for a callback in progress; idempotent.
  void Stop();

  // Successful LISTENs so far (tests: a reconnection happened).
  int64_t listens() const { return listens_.load(); }

 private:
  PgRevisionListener(PgRevisionListenerOptions options, std::unique_ptr<base::StopSignal> stop)
      : options_(std::move(options)), stop_(std::move(stop)) {}
  // Connects, LISTENs and delivers until the connection fails or Stop. True when it got
  // as far as listening (the next attempt then starts without back-off).
  bool RunOneConnection();

  const PgRevisionListenerOptions options_;
  const std::unique_ptr<base::StopSignal> stop_;
  std::atomic<int64_t> listens_{0};
  std::unique_ptr<base::PeriodicTask> task_;  // set by Start before it returns
};

}  // namespace edgevault::storage
