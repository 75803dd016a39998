#pragma once
// Opens the audit queue that audit.queue_url names (DESIGN.md §2: backends are chosen by
// URL): "" or "sqlite:" = the SQLite queue DATA_DIR/audit/queue.db, read by an audit
// consumer on the same host; postgres://... (or postgresql://) = the PostgreSQL queue
// (pg_queue.h), one table that every api and auth node feeds and any number of
// edgevault-audit nodes drain. The one opener the api, auth and audit services use.
// Thread-safety: plain functions; the queue is as AuditQueue.
//
//   EV_ASSIGN_OR_RETURN(std::unique_ptr<AuditQueue> queue,
//                       OpenAuditQueue({.url = config.audit_queue_url,
//                                       .data_dir = config.data_dir, .env = env}));

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "src/audit/queue.h"
#include "src/base/env.h"

namespace edgevault::audit {

struct AuditQueueOpenOptions {
  std::string url;       // "" / "sqlite:" / postgres://...; may hold a password, never logged
  std::string data_dir;  // SQLite: the queue is DATA_DIR/audit/queue.db
  base::Env* env = nullptr;  // SQLite: creates DATA_DIR/audit (0700)
  int pool_size = 4;         // PostgreSQL: the connection pool's limit (at least 1)
};

// Errors: InvalidArgument (another scheme, a malformed postgres URL: the message does not
// echo the URL), and those of Env::CreateDirs, SqliteAuditQueue::Open and
// PgAuditQueue::Open (Unavailable: the server is unreachable; FailedPrecondition: the
// queue table was migrated by a newer binary).
absl::StatusOr<std::unique_ptr<AuditQueue>> OpenAuditQueue(const AuditQueueOpenOptions& options);

// Where the queue is, for logs and /v1/audit/status: "sqlite:DATA_DIR/audit/queue.db" or
// "postgres://host:port/database" (no user, no password, no parameters).
std::string DescribeAuditQueue(const std::string& url, const std::string& data_dir);

}  // namespace edgevault::audit
