#include "src/audit/control_outbox_relay.h"

#include "src/base/status.h"

namespace edgevault::audit {

absl::StatusOr<std::unique_ptr<ControlOutboxRelay>> ControlOutboxRelay::Start(
    storage::ControlOutboxStore* store, AuditQueue* queue, base::Env* env,
    absl::Duration poll_interval) {
  if (store == nullptr) return absl::InvalidArgumentError("ControlOutboxRelay: store is required");
  std::unique_ptr<ControlOutboxRelay> r(new ControlOutboxRelay());
  OutboxRelayOptions o;
  o.peek = [store](int limit) -> absl::StatusOr<OutboxRows> {
    EV_ASSIGN_OR_RETURN(std::vector<storage::OutboxEvent> rows, store->PeekOutbox(limit));
    OutboxRows out;
    out.reserve(rows.size());
    for (storage::OutboxEvent& e : rows) out.emplace_back(std::move(e.id), std::move(e.json));
    return out;
  };
  o.remove = [store](const std::vector<std::string>& ids) { return store->DeleteOutbox(ids); };
  o.queue = queue;
  o.env = env;
  o.source = "control";
  o.poll_interval = poll_interval;
  EV_ASSIGN_OR_RETURN(r->relay_, OutboxRelay::Create(std::move(o)));
  r->relay_->Start();
  return r;
}

}  // namespace edgevault::audit
