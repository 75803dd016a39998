#include "src/audit/consumer.h"

#include "src/base/log.h"
#include "src/base/status.h"
#include "src/base/strings.h"

namespace edgevault::audit {

AuditConsumer::~AuditConsumer() { Stop(); }

absl::StatusOr<int> AuditConsumer::RunOnce() {
  absl::Time now = options_.env->Now();
  if (now - last_prune_ >= options_.prune_every) {
    absl::StatusOr<int64_t> pruned = options_.queue->Prune(now - options_.tombstone_ttl);
    if (pruned.ok()) last_prune_ = now;
  }
  absl::StatusOr<ClaimedBatch> batch = options_.queue->Claim(options_.batch, options_.lease, now);
  absl::Status st = batch.status();
  if (st.ok() && !batch->events.empty()) {
    st = options_.warehouse->Append(batch->events);
    // A crash here (after Append, before Ack) re-delivers the batch after the lease;
    // the warehouse recognises the ids and writes nothing twice.
    if (st.ok()) st = options_.queue->Ack(batch->ids());
  }
  std::lock_guard<std::mutex> lock(mu_);
  if (!st.ok()) {
    ++status_.failures;
    status_.last_error = std::string(base::ToStd(st.message()));
    return st;
  }
  status_.last_error.clear();
  if (batch->events.empty()) return 0;
  ++status_.batches;
  status_.events += static_cast<int64_t>(batch->events.size());
  return static_cast<int>(batch->events.size());
}

base::NextRun AuditConsumer::RunInBackground() {
  absl::StatusOr<int> n = RunOnce();
  if (!n.ok()) {
    EV_LOG(kError, "audit consumer batch failed; it stays queued and is retried",
           {{"error", n.status().message()}});
    return base::NextRun::Interval();
  }
  return *n == options_.batch ? base::NextRun::Immediately() : base::NextRun::Interval();
}

void AuditConsumer::Start() {
  if (task_ != nullptr) return;
  task_ = options_.env->Schedule("audit consumer",
                                 {.interval = options_.poll_interval, .run_at_start = true},
                                 [this] { return RunInBackground(); });
}

void AuditConsumer::Stop() {
  if (task_ != nullptr) task_->Stop();
  task_.reset();
}

AuditConsumer::Status AuditConsumer::status() const {
  std::lock_guard<std::mutex> lock(mu_);
  return status_;
}

}  // namespace edgevault::audit
