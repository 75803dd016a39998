#pragma once
// The relay a service runs over the control DB's outbox (storage::ControlOutboxStore:
// PeekOutbox/DeleteOutbox, nothing else of the control DB) into the audit queue
// (queue_open.h: the local file or the fleet's PostgreSQL queue) and runs an OutboxRelay
// thread. Used by edgevault-auth.
// Thread-safety: Start/Stop from one owner thread; the store and the queue must outlive
// the relay.
//
//   EV_ASSIGN_OR_RETURN(auto relay, audit::ControlOutboxRelay::Start(store, queue, env));
//   ...  relay->Stop();

#include <memory>
#include <string>

#include "src/audit/relay.h"
#include "src/audit/queue.h"
#include "src/storage/control_outbox_store.h"

namespace edgevault::audit {

class ControlOutboxRelay {
 public:
  // Starts the relay thread. Errors: InvalidArgument (a missing store, queue or env).
  static absl::StatusOr<std::unique_ptr<ControlOutboxRelay>> Start(
      storage::ControlOutboxStore* store, AuditQueue* queue, base::Env* env,
      absl::Duration poll_interval = absl::Milliseconds(200));
  ~ControlOutboxRelay() { Stop(); }
  void Stop() { relay_->Stop(); }
  OutboxRelay& relay() { return *relay_; }

 private:
  ControlOutboxRelay() = default;
  std::unique_ptr<OutboxRelay> relay_;
};

}  // namespace edgevault::audit
