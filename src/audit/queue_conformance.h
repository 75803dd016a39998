#pragma once
// The conformance suite of AuditQueue (queue.h): every backend (SQLite file, PostgreSQL
// table) runs these GoogleTest cases, so all keep one contract (idempotent enqueue,
// tombstones until pruned, leases that expire and redeliver oldest first, two handles on
// one queue never handing out the same event twice).
//
// In a backend's test file:
//   INSTANTIATE_AUDIT_QUEUE_CONFORMANCE(Sqlite, [] { return NewSqliteQueue(); });
// Thread-safety: test code.

#include <functional>
#include <memory>
#include <string>

#include "gtest/gtest.h"
#include "src/audit/queue.h"

namespace edgevault::audit {

// A new, empty queue, and a way to open another handle on that same queue (another
// process's connection, another node).
struct QueueUnderTest {
  std::unique_ptr<AuditQueue> queue;
  std::function<std::unique_ptr<AuditQueue>()> open_another;
};
using AuditQueueFactory = std::function<QueueUnderTest()>;

class AuditQueueConformanceTest : public ::testing::TestWithParam<AuditQueueFactory> {
 protected:
  void SetUp() override;
  AuditQueue& queue() { return *under_test_.queue; }
  std::unique_ptr<AuditQueue> OpenAnother() { return under_test_.open_another(); }

  QueueUnderTest under_test_;
};

bool AuditQueueConformanceLinked();

}  // namespace edgevault::audit

#define INSTANTIATE_AUDIT_QUEUE_CONFORMANCE(name, factory)                  \
  namespace edgevault::audit {                                              \
  [[maybe_unused]] static const bool ev_audit_queue_conformance_##name =    \
      AuditQueueConformanceLinked();                                        \
  INSTANTIATE_TEST_SUITE_P(name, AuditQueueConformanceTest,                 \
                           ::testing::Values(AuditQueueFactory(factory)),   \
                           [](const auto&) { return std::string(#name); }); \
  } /* namespace edgevault::audit */
