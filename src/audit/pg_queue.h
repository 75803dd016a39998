#pragma once
// The audit queue on PostgreSQL (DESIGN.md §2 "scale-out"): one table shared by every
// api node that enqueues and every audit consumer that claims, on any host. Claim leases
// rows with `FOR UPDATE SKIP LOCKED`, so consumers claiming at the same time get disjoint
// batches and never wait for each other; a lease that runs out (its consumer died) makes
// the rows claimable again. Same contract as SqliteAuditQueue (queue.h), same
// conformance tests (queue_conformance.h). Schema: docs/design/audit-event.md#queue.
// Thread-safety: every method may be called from any thread (a pool of connections).
//
//   EV_ASSIGN_OR_RETURN(auto queue, PgAuditQueue::Open({.url = "postgres://ev@db/ev"}));
//   EV_ASSIGN_OR_RETURN(ClaimedBatch b, queue->Claim(100, absl::Seconds(30), now));

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "src/audit/queue.h"

namespace edgevault::storage {
class PgPool;
}

namespace edgevault::audit {

struct PgAuditQueueOptions {
  std::string url;          // postgres://... (any libpq URI); never logged
  int max_connections = 4;  // the pool's limit
};

// The migration steps of component "audit_queue" (postgres-schema.md#migrations).
const std::vector<std::string>& PgAuditQueueMigrations();

class PgAuditQueue : public AuditQueue {
 public:
  // Connects and migrates. Errors: InvalidArgument (URL), Unavailable (unreachable),
  // FailedPrecondition (migrated by a newer binary).
  static absl::StatusOr<std::unique_ptr<PgAuditQueue>> Open(const PgAuditQueueOptions& options);
  ~PgAuditQueue() override;

  absl::Status Enqueue(const std::vector<AuditEvent>& events, absl::Time now) override;
  absl::StatusOr<ClaimedBatch> Claim(int max, absl::Duration lease, absl::Time now) override;
  absl::Status Ack(const std::vector<std::string>& ids) override;
  absl::StatusOr<int64_t> Depth() override;
  absl::StatusOr<int64_t> Prune(absl::Time before) override;

 private:
  explicit PgAuditQueue(std::unique_ptr<storage::PgPool> pool);
  std::unique_ptr<storage::PgPool> pool_;
};

}  // namespace edgevault::audit
