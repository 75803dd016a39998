#pragma once
// AuditConsumer: the loop edgevault-audit runs: Claim a batch from the queue, Append it
// to the warehouse (durable on return), Ack it. A crash anywhere leaves the batch unacked;
// after the lease it is claimed again and the warehouse skips the records it already has,
// so every event lands exactly once. Acked tombstones are pruned after `tombstone_ttl`.
// The loop is a periodic task of `env` (docs/design/periodic-tasks.md): a full batch runs
// the next at once, else it waits poll_interval.
// Thread-safety: RunOnce must not run concurrently with itself or the task; Start/Stop
// from one owner thread; status() from any thread.
//
//   AuditConsumer c({.queue = q.get(), .warehouse = w.get(), .env = env});
//   c.Start();  ...  c.Stop();

#include <memory>
#include <mutex>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "src/audit/queue.h"
#include "src/audit/warehouse.h"
#include "src/base/env.h"

namespace edgevault::audit {

struct AuditConsumerOptions {
  AuditQueue* queue = nullptr;          // not owned
  AuditWarehouse* warehouse = nullptr;  // not owned
  base::Env* env = nullptr;
  int batch = 256;
  absl::Duration lease = absl::Seconds(30);
  absl::Duration poll_interval = absl::Milliseconds(200);
  absl::Duration tombstone_ttl = absl::Hours(24 * 7);
  absl::Duration prune_every = absl::Hours(1);
};

class AuditConsumer {
 public:
  explicit AuditConsumer(AuditConsumerOptions options) : options_(std::move(options)) {}
  ~AuditConsumer();  // stops the thread

  // One batch: returns how many events were claimed (0 when the queue was empty).
  // Errors: from Claim, Append or Ack (the batch stays unacked and comes back later).
  absl::StatusOr<int> RunOnce();

  void Start();
  void Stop();

  struct Status {
    int64_t batches = 0;
    int64_t events = 0;
    int64_t failures = 0;
    std::string last_error;  // "" after a success
  };
  Status status() const;

 private:
  base::NextRun RunInBackground();

  const AuditConsumerOptions options_;
  mutable std::mutex mu_;
  Status status_;
  absl::Time last_prune_ = absl::InfinitePast();
  std::unique_ptr<base::PeriodicTask> task_;
};

}  // namespace edgevault::audit
