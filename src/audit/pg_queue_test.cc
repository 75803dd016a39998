// The PostgreSQL audit queue runs the AuditQueue conformance suite against a real
// PostgreSQL 15 started by the test (a fresh database per test): two handles on one
// database are two api/audit nodes on different hosts.
#include "src/audit/pg_queue.h"

#include <string>

#include "src/audit/queue_conformance.h"
#include "src/storage/postgres/postgres_test_server.h"

namespace edgevault::audit {
namespace {

QueueUnderTest NewPostgresQueue() {
  const std::string url = storage::NewPostgresTestDatabase();
  if (url.empty()) return {};
  auto open = [url]() -> std::unique_ptr<AuditQueue> {
    auto q = PgAuditQueue::Open({.url = url});
    EXPECT_TRUE(q.ok()) << q.status();
    return q.ok() ? std::unique_ptr<AuditQueue>(*std::move(q)) : nullptr;
  };
  return {open(), open};
}

}  // namespace
}  // namespace edgevault::audit

INSTANTIATE_AUDIT_QUEUE_CONFORMANCE(Postgres, &NewPostgresQueue)
