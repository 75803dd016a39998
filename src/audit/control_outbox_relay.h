#pragma once
// The relay a service runs over the control DB's outbox (storage::ControlOutboxStore:
// PeekOutbox/DeleteOutbox, nothing else of the control DB): opens DATA_DIR/audit/queue.db and runs an
// OutboxRelay thread. Used by edgevault-auth.
// Thread-safety: Start/Stop from one owner thread; the store must outlive the relay.
//
//   EV_ASSIGN_OR_RETURN(auto relay, audit::ControlOutboxRelay::Start(store, env, data_dir));
//   ...  relay->Stop();

#include <memory>
#include <string>

#include "src/audit/relay.h"
#include "src/audit/sqlite_queue.h"
#include "src/storage/control_outbox_store.h"

namespace edgevault::audit {

class ControlOutboxRelay {
 public:
  // Creates DATA_DIR/audit (0700), opens the queue and starts the relay thread.
  // Errors: from Env::CreateDirs and SqliteAuditQueue::Open.
  static absl::StatusOr<std::unique_ptr<ControlOutboxRelay>> Start(
      storage::ControlOutboxStore* store, base::Env* env, const std::string& data_dir,
      absl::Duration poll_interval = absl::Milliseconds(200));
  ~ControlOutboxRelay() { Stop(); }
  void Stop() { relay_->Stop(); }
  OutboxRelay& relay() { return *relay_; }

 private:
  ControlOutboxRelay() = default;
  std::unique_ptr<SqliteAuditQueue> queue_;
  std::unique_ptr<OutboxRelay> relay_;
};

}  // namespace edgevault::audit
