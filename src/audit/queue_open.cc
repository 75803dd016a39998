#include "src/audit/queue_open.h"

#include <string_view>

#include "src/audit/paths.h"
#include "src/audit/pg_queue.h"
#include "src/audit/sqlite_queue.h"
#include "src/base/status.h"
#include "src/storage/postgres/pg_db.h"

namespace edgevault::audit {

namespace {

bool IsPostgres(std::string_view url) {
  return url.starts_with("postgres://") || url.starts_with("postgresql://");
}

}  // namespace

absl::StatusOr<std::unique_ptr<AuditQueue>> OpenAuditQueue(const AuditQueueOpenOptions& options) {
  if (options.url.empty() || options.url == "sqlite:") {
    if (options.env == nullptr) return absl::InvalidArgumentError("OpenAuditQueue: env is required");
    EV_RETURN_IF_ERROR(options.env->CreateDirs(AuditDir(options.data_dir), 0700));
    EV_ASSIGN_OR_RETURN(std::unique_ptr<SqliteAuditQueue> q,
                        SqliteAuditQueue::Open({.path = AuditQueuePath(options.data_dir)}));
    return std::unique_ptr<AuditQueue>(std::move(q));
  }
  if (IsPostgres(options.url)) {
    EV_RETURN_IF_ERROR(storage::ValidatePostgresUrl(options.url));
    EV_ASSIGN_OR_RETURN(std::unique_ptr<PgAuditQueue> q,
                        PgAuditQueue::Open({.url = options.url, .max_connections = options.pool_size}));
    return std::unique_ptr<AuditQueue>(std::move(q));
  }
  return absl::InvalidArgumentError("audit queue URL: expected \"\", \"sqlite:\" or a postgres:// URL");
}

std::string DescribeAuditQueue(const std::string& url, const std::string& data_dir) {
  if (!IsPostgres(url)) return "sqlite:" + AuditQueuePath(data_dir);
  return storage::DescribePostgresUrl(url);
}

}  // namespace edgevault::audit
