#include "src/audit/sqlite_queue.h"

#include "src/base/status.h"
#include "src/base/strings.h"

namespace edgevault::audit {

using storage::SqliteDb;
using storage::Statement;
using storage::Transaction;

namespace {

// Released schema steps: append only (storage::Migrate).
const std::vector<std::string>& Schema() {
  static const std::vector<std::string> steps = {
      "CREATE TABLE audit_queue ("
      "  seq INTEGER PRIMARY KEY,"           // enqueue order
      "  id TEXT NOT NULL UNIQUE,"           // the event id: Enqueue is idempotent on it
      "  event TEXT,"                        // canonical JSON; NULL once acked (tombstone)
      "  enqueued_us INTEGER NOT NULL,"
      "  lease_until_us INTEGER NOT NULL DEFAULT 0,"  // claimable when <= now
      "  attempts INTEGER NOT NULL DEFAULT 0,"
      "  acked INTEGER NOT NULL DEFAULT 0);"
      "CREATE INDEX audit_queue_pending ON audit_queue (acked, seq);",
  };
  return steps;
}

}  // namespace

absl::StatusOr<std::unique_ptr<SqliteAuditQueue>> SqliteAuditQueue::Open(
    const SqliteAuditQueueOptions& options) {
  storage::SqliteOptions so;
  so.path = options.path;
  so.busy_timeout = options.busy_timeout;
  so.wal = true;
  so.synchronous_full = true;
  so.create_mode = 0600;
  EV_ASSIGN_OR_RETURN(std::unique_ptr<SqliteDb> db, SqliteDb::Open(so));
  EV_RETURN_IF_ERROR(storage::Migrate(*db, Schema()));
  return std::unique_ptr<SqliteAuditQueue>(new SqliteAuditQueue(std::move(db)));
}

absl::Status SqliteAuditQueue::Enqueue(const std::vector<AuditEvent>& events, absl::Time now) {
  if (events.empty()) return absl::OkStatus();
  std::lock_guard<std::mutex> lock(mu_);
  EV_ASSIGN_OR_RETURN(Transaction tx, Transaction::Begin(*db_));
  // ON CONFLICT ... DO NOTHING: the same statement works on PostgreSQL.
  EV_ASSIGN_OR_RETURN(Statement st,
                      db_->Prepare("INSERT INTO audit_queue (id, event, enqueued_us) "
                                   "VALUES (?, ?, ?) ON CONFLICT (id) DO NOTHING"));
  const int64_t now_us = absl::ToUnixMicros(now);
  for (const AuditEvent& e : events) {
    st.Reset();
    st.Bind(1, e.id).Bind(2, CanonicalJson(e)).Bind(3, now_us);
    EV_RETURN_IF_ERROR(st.Run());
  }
  return tx.Commit();
}

absl::StatusOr<ClaimedBatch> SqliteAuditQueue::Claim(int max, absl::Duration lease,
                                                     absl::Time now) {
  if (max < 1) return absl::InvalidArgumentError("Claim: max must be at least 1");
  std::lock_guard<std::mutex> lock(mu_);
  ClaimedBatch batch;
  batch.lease_until = now + lease;
  const int64_t now_us = absl::ToUnixMicros(now);
  EV_ASSIGN_OR_RETURN(Transaction tx, Transaction::Begin(*db_));
  std::vector<int64_t> seqs;
  {
    EV_ASSIGN_OR_RETURN(Statement sel,
                        db_->Prepare("SELECT seq, id, event FROM audit_queue "
                                     "WHERE acked = 0 AND lease_until_us <= ? "
                                     "ORDER BY seq LIMIT ?"));
    sel.Bind(1, now_us).Bind(2, max);
    for (;;) {
      EV_ASSIGN_OR_RETURN(bool row, sel.Step());
      if (!row) break;
      absl::StatusOr<AuditEvent> e = ParseAuditEvent(sel.ColumnText(2));
      if (!e.ok()) {
        return absl::DataLossError(base::StrCat("audit queue row ", sel.ColumnText(1),
                                                " does not parse: ", base::ToStd(e.status().message())));
      }
      seqs.push_back(sel.ColumnInt64(0));
      batch.events.push_back(*std::move(e));
    }
  }
  if (seqs.empty()) return batch;
  EV_ASSIGN_OR_RETURN(Statement upd,
                      db_->Prepare("UPDATE audit_queue SET lease_until_us = ?, "
                                   "attempts = attempts + 1 WHERE seq = ?"));
  const int64_t until_us = absl::ToUnixMicros(batch.lease_until);
  for (int64_t seq : seqs) {
    upd.Reset();
    upd.Bind(1, until_us).Bind(2, seq);
    EV_RETURN_IF_ERROR(upd.Run());
  }
  EV_RETURN_IF_ERROR(tx.Commit());
  return batch;
}

absl::Status SqliteAuditQueue::Ack(const std::vector<std::string>& ids) {
  if (ids.empty()) return absl::OkStatus();
  std::lock_guard<std::mutex> lock(mu_);
  EV_ASSIGN_OR_RETURN(Transaction tx, Transaction::Begin(*db_));
  EV_ASSIGN_OR_RETURN(Statement st,
                      db_->Prepare("UPDATE audit_queue SET acked = 1, event = NULL "
                                   "WHERE id = ? AND acked = 0"));
  for (const std::string& id : ids) {
    st.Reset();
    st.Bind(1, id);
    EV_RETURN_IF_ERROR(st.Run());
  }
  return tx.Commit();
}

absl::StatusOr<int64_t> SqliteAuditQueue::Depth() {
  std::lock_guard<std::mutex> lock(mu_);
  EV_ASSIGN_OR_RETURN(Statement st,
                      db_->Prepare("SELECT COUNT(*) FROM audit_queue WHERE acked = 0"));
  EV_ASSIGN_OR_RETURN(bool row, st.Step());
  return row ? st.ColumnInt64(0) : 0;
}

absl::StatusOr<int64_t> SqliteAuditQueue::Prune(absl::Time before) {
  std::lock_guard<std::mutex> lock(mu_);
  EV_ASSIGN_OR_RETURN(Statement st,
                      db_->Prepare("DELETE FROM audit_queue WHERE acked = 1 AND enqueued_us < ?"));
  st.Bind(1, absl::ToUnixMicros(before));
  EV_RETURN_IF_ERROR(st.Run());
  return db_->Changes();
}

}  // namespace edgevault::audit
