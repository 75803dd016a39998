#include "src/audit/sqlite_queue.h"

#include <string>

#include "src/audit/queue_conformance.h"
#include "src/audit/test_util.h"

namespace edgevault::audit {
namespace {

// One directory per test binary run; each queue gets its own file in it.
testing::TempDir& Dir() {
  static testing::TempDir dir;
  return dir;
}

QueueUnderTest NewSqliteQueue() {
  static int n = 0;
  const std::string path = Dir().path() + "/queue-" + std::to_string(++n) + ".db";
  auto open = [path]() -> std::unique_ptr<AuditQueue> {
    auto q = SqliteAuditQueue::Open({.path = path});
    EXPECT_TRUE(q.ok()) << q.status();
    return q.ok() ? std::unique_ptr<AuditQueue>(*std::move(q)) : nullptr;
  };
  return {open(), open};
}

}  // namespace
}  // namespace edgevault::audit

INSTANTIATE_AUDIT_QUEUE_CONFORMANCE(Sqlite, &NewSqliteQueue)
