#pragma once
// The audit queue: durable hand-over between producers' outbox relays and the audit
// consumer (docs/design/audit-event.md §Queue). At-least-once: a claimed batch that is
// never acked (the consumer crashed) becomes claimable again when its lease runs out.
// Enqueue is idempotent on the event id, also after the event was acked (acked ids stay
// as tombstones until Prune), so a relay that re-sends after a crash adds nothing.
// Thread-safety: implementations are safe to call from any thread and any process.
//
//   EV_RETURN_IF_ERROR(queue->Enqueue(events));
//   EV_ASSIGN_OR_RETURN(ClaimedBatch b, queue->Claim(100, absl::Seconds(30), env->Now()));
//   EV_RETURN_IF_ERROR(warehouse->Append(b.events));
//   EV_RETURN_IF_ERROR(queue->Ack(b.ids()));

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "src/audit/event.h"

namespace edgevault::audit {

struct ClaimedBatch {
  std::vector<AuditEvent> events;  // in enqueue order
  absl::Time lease_until;

  std::vector<std::string> ids() const {
    std::vector<std::string> out;
    out.reserve(events.size());
    for (const AuditEvent& e : events) out.push_back(e.id);
    return out;
  }
};

class AuditQueue {
 public:
  virtual ~AuditQueue() = default;

  // Adds the events not already known (pending, claimed or acked-and-not-pruned), in
  // vector order, atomically. `now` is stored as the enqueue time.
  // Errors: Unavailable (the store is busy; retry), Internal.
  virtual absl::Status Enqueue(const std::vector<AuditEvent>& events, absl::Time now) = 0;

  // Claims up to `max` pending events whose lease (if any) ended at or before `now`,
  // oldest first, and leases them until now + lease. Empty batch when none.
  // Errors: InvalidArgument (max < 1), Unavailable, Internal, DataLoss (a stored row no
  // longer parses).
  virtual absl::StatusOr<ClaimedBatch> Claim(int max, absl::Duration lease, absl::Time now) = 0;

  // Marks events delivered; unknown ids are ignored. Errors: Unavailable, Internal.
  virtual absl::Status Ack(const std::vector<std::string>& ids) = 0;

  // Pending (unacked) events, claimed or not. Errors: Unavailable, Internal.
  virtual absl::StatusOr<int64_t> Depth() = 0;

  // Forgets acked events enqueued before `before`; returns how many. After that an
  // Enqueue of such an id is accepted again, so keep the window far longer than any
  // relay retry (the consumer uses 7 days). Errors: Unavailable, Internal.
  virtual absl::StatusOr<int64_t> Prune(absl::Time before) = 0;
};

}  // namespace edgevault::audit
