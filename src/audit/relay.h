#pragma once
// OutboxRelay moves audit events from a producer's outbox (rows written in the same
// transaction as the change they describe) to the audit queue: peek → parse → Enqueue →
// remove. It is generic over the outbox through two callbacks, so the control DB and the
// per-workspace stores use the same relay. A crash between Enqueue and remove re-sends
// the same ids next time; the queue ignores them (Enqueue is idempotent on the id), so
// nothing is duplicated. An outbox row that is not a valid event is not lost either: it is
// replaced by an `audit.malformed_event` event (see docs/design/audit-event.md).
// The background loop is a periodic task of `env` (docs/design/periodic-tasks.md).
// Thread-safety: RunOnce is not to be called concurrently with itself or with the
// background task; Start/Stop from one owner thread; Wake from any thread.
//
//   OutboxRelayOptions o;
//   o.peek = [&](int n) { ... };  o.remove = [&](const auto& ids) { ... };
//   o.queue = queue.get(); o.env = env; o.source = "control";
//   EV_ASSIGN_OR_RETURN(auto relay, OutboxRelay::Create(o));
//   relay->Start();   // ... relay->Stop();

#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "src/audit/queue.h"
#include "src/base/env.h"

namespace edgevault::audit {

// (outbox row id, event JSON), oldest first.
using OutboxRows = std::vector<std::pair<std::string, std::string>>;

struct OutboxRelayOptions {
  std::function<absl::StatusOr<OutboxRows>(int limit)> peek;
  std::function<absl::Status(const std::vector<std::string>& ids)> remove;
  AuditQueue* queue = nullptr;  // not owned; outlives the relay
  base::Env* env = nullptr;     // clock for enqueue times and malformed-row events
  std::string source = "outbox";  // names the outbox in logs and malformed-row events
  int batch = 256;
  absl::Duration poll_interval = absl::Milliseconds(200);
};

class OutboxRelay {
 public:
  // Errors: InvalidArgument when a callback, the queue or the env is missing, or batch < 1.
  static absl::StatusOr<std::unique_ptr<OutboxRelay>> Create(OutboxRelayOptions options);
  ~OutboxRelay();  // stops the thread

  // One pass: moves at most one batch. Returns the number of outbox rows moved.
  // Errors: whatever peek, Enqueue or remove returned (nothing is removed from the
  // outbox unless the queue accepted the batch).
  absl::StatusOr<int> RunOnce();

  // Starts the background task: RunOnce until the outbox is empty, then wait
  // poll_interval (or Stop). Errors are logged and retried after poll_interval.
  void Start();
  // Stops the background task (waits for a pass in progress); idempotent.
  void Stop();

  // Rows moved since creation (for status and tests).
  int64_t moved() const;

 private:
  explicit OutboxRelay(OutboxRelayOptions options) : options_(std::move(options)) {}
  base::NextRun RunInBackground();
  AuditEvent MalformedEvent(const std::string& row_id, const std::string& raw,
                            const absl::Status& why);

  const OutboxRelayOptions options_;
  mutable std::mutex mu_;
  int64_t moved_ = 0;
  std::unique_ptr<base::PeriodicTask> task_;
};

}  // namespace edgevault::audit
