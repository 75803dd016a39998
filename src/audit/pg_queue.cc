#include "src/audit/pg_queue.h"

#include <algorithm>
#include <utility>

#include "src/base/status.h"
#include "src/base/strings.h"
#include "src/storage/postgres/pg_migrate.h"
#include "src/storage/postgres/pg_pool.h"

namespace edgevault::audit {

using storage::PgConnection;
using storage::PgPool;
using storage::PgResult;

// Released steps: append only. `seq` orders the queue (a sequence: a rolled-back enqueue
// leaves a gap, which costs nothing here, unlike revision numbers).
const std::vector<std::string>& PgAuditQueueMigrations() {
  static const auto* const kSteps = new std::vector<std::string>{
      R"sql(
CREATE TABLE audit_queue (
  seq            BIGSERIAL PRIMARY KEY,
  id             TEXT COLLATE "C" NOT NULL UNIQUE,
  event          TEXT,
  enqueued_us    BIGINT NOT NULL,
  lease_until_us BIGINT NOT NULL DEFAULT 0,
  attempts       BIGINT NOT NULL DEFAULT 0,
  acked          BOOLEAN NOT NULL DEFAULT false
);
CREATE INDEX audit_queue_pending ON audit_queue (seq) WHERE NOT acked;
)sql",
  };
  return *kSteps;
}

PgAuditQueue::PgAuditQueue(std::unique_ptr<PgPool> pool) : pool_(std::move(pool)) {}
PgAuditQueue::~PgAuditQueue() = default;

absl::StatusOr<std::unique_ptr<PgAuditQueue>> PgAuditQueue::Open(
    const PgAuditQueueOptions& options) {
  EV_ASSIGN_OR_RETURN(
      std::unique_ptr<PgPool> pool,
      PgPool::Create({.connect = {.url = options.url, .application_name = "edgevault-audit-queue"},
                      .max_connections = options.max_connections}));
  {
    EV_ASSIGN_OR_RETURN(PgPool::Lease conn, pool->Acquire());
    EV_RETURN_IF_ERROR(storage::PgMigrate(*conn, "audit_queue", PgAuditQueueMigrations()).status());
  }
  return std::unique_ptr<PgAuditQueue>(new PgAuditQueue(std::move(pool)));
}

absl::Status PgAuditQueue::Enqueue(const std::vector<AuditEvent>& events, absl::Time now) {
  if (events.empty()) return absl::OkStatus();
  const int64_t now_us = absl::ToUnixMicros(now);
  return pool_->InTransaction([&](PgConnection& c) -> absl::Status {
    for (const AuditEvent& e : events) {
      EV_RETURN_IF_ERROR(c.Exec("INSERT INTO audit_queue (id, event, enqueued_us) "
                                "VALUES ($1, $2, $3) ON CONFLICT (id) DO NOTHING",
                                {e.id, CanonicalJson(e), now_us})
                             .status());
    }
    return absl::OkStatus();
  });
}

absl::StatusOr<ClaimedBatch> PgAuditQueue::Claim(int max, absl::Duration lease, absl::Time now) {
  if (max < 1) return absl::InvalidArgumentError("Claim: max must be at least 1");
  ClaimedBatch batch;
  batch.lease_until = now + lease;
  // One statement: the inner SELECT locks the oldest claimable rows, skipping rows another
  // consumer's Claim holds locked right now, and the UPDATE leases them.
  EV_ASSIGN_OR_RETURN(
      PgResult r,
      pool_->Query("UPDATE audit_queue SET lease_until_us = $1, attempts = attempts + 1 "
                   "WHERE seq IN (SELECT seq FROM audit_queue WHERE NOT acked "
                   "AND lease_until_us <= $2 ORDER BY seq LIMIT $3 FOR UPDATE SKIP LOCKED) "
                   "RETURNING seq, id, event",
                   {absl::ToUnixMicros(batch.lease_until), absl::ToUnixMicros(now), max}));
  std::vector<std::pair<int64_t, int>> order;
  for (int i = 0; i < r.Rows(); ++i) order.emplace_back(r.Int64(i, 0), i);
  std::sort(order.begin(), order.end());  // RETURNING has no order
  for (const auto& [seq, i] : order) {
    absl::StatusOr<AuditEvent> e = ParseAuditEvent(r.Text(i, 2));
    if (!e.ok()) {
      return absl::DataLossError(base::StrCat("audit queue row ", r.Text(i, 1), " does not parse: ",
                                              base::ToStd(e.status().message())));
    }
    batch.events.push_back(*std::move(e));
  }
  return batch;
}

absl::Status PgAuditQueue::Ack(const std::vector<std::string>& ids) {
  if (ids.empty()) return absl::OkStatus();
  return pool_->InTransaction([&](PgConnection& c) -> absl::Status {
    for (const std::string& id : ids) {
      EV_RETURN_IF_ERROR(c.Exec("UPDATE audit_queue SET acked = true, event = NULL "
                                "WHERE id = $1 AND NOT acked",
                                {id})
                             .status());
    }
    return absl::OkStatus();
  });
}

absl::StatusOr<int64_t> PgAuditQueue::Depth() {
  EV_ASSIGN_OR_RETURN(PgResult r, pool_->Query("SELECT COUNT(*) FROM audit_queue WHERE NOT acked"));
  return r.Int64(0, 0);
}

absl::StatusOr<int64_t> PgAuditQueue::Prune(absl::Time before) {
  return pool_->Exec("DELETE FROM audit_queue WHERE acked AND enqueued_us < $1",
                     {absl::ToUnixMicros(before)});
}

}  // namespace edgevault::audit
