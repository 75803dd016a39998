#pragma once
// The audit queue on SQLite (DATA_DIR/audit/queue.db, WAL): one table, rows claimed with
// a lease, acked rows kept as tombstones until Prune. Several processes may open the same
// file (the auth service's relay enqueues, edgevault-audit claims and acks); SQLite's
// locking and the busy timeout serialise them. Schema: docs/design/audit-event.md.
// Thread-safety: every method may be called from any thread (a mutex serialises them).
//
//   EV_ASSIGN_OR_RETURN(auto queue, SqliteAuditQueue::Open({.path = dir + "/queue.db"}));

#include <memory>
#include <mutex>
#include <string>

#include "src/audit/queue.h"
#include "src/storage/sqlite/sqlite_db.h"

namespace edgevault::audit {

struct SqliteAuditQueueOptions {
  std::string path;  // the parent directory must exist
  absl::Duration busy_timeout = absl::Seconds(10);
};

class SqliteAuditQueue : public AuditQueue {
 public:
  // Opens (creating, mode 0600) and migrates. Errors: from SqliteDb::Open and Migrate.
  static absl::StatusOr<std::unique_ptr<SqliteAuditQueue>> Open(
      const SqliteAuditQueueOptions& options);

  absl::Status Enqueue(const std::vector<AuditEvent>& events, absl::Time now) override;
  absl::StatusOr<ClaimedBatch> Claim(int max, absl::Duration lease, absl::Time now) override;
  absl::Status Ack(const std::vector<std::string>& ids) override;
  absl::StatusOr<int64_t> Depth() override;
  absl::StatusOr<int64_t> Prune(absl::Time before) override;

 private:
  explicit SqliteAuditQueue(std::unique_ptr<storage::SqliteDb> db) : db_(std::move(db)) {}

  std::mutex mu_;
  std::unique_ptr<storage::SqliteDb> db_;
};

}  // namespace edgevault::audit
