#include "src/audit/consumer.h"

#include "gtest/gtest.h"
#include "src/audit/file_warehouse.h"
#include "src/audit/sqlite_queue.h"
#include "src/audit/test_util.h"
#include "src/audit/verify.h"

namespace edgevault::audit {
namespace {

using testing::SampleEvent;
using testing::TempDir;

// Delegates to a real queue; the first `fail_acks` Acks fail (the consumer "crashes"
// after the warehouse made the batch durable and before the queue heard of it).
class FlakyAckQueue : public AuditQueue {
 public:
  explicit FlakyAckQueue(AuditQueue* q) : q_(q) {}
  absl::Status Enqueue(const std::vector<AuditEvent>& e, absl::Time now) override {
    return q_->Enqueue(e, now);
  }
  absl::StatusOr<ClaimedBatch> Claim(int max, absl::Duration lease, absl::Time now) override {
    return q_->Claim(max, lease, now);
  }
  absl::Status Ack(const std::vector<std::string>& ids) override {
    if (fail_acks > 0) {
      --fail_acks;
      return absl::UnavailableError("simulated crash before ack");
    }
    return q_->Ack(ids);
  }
  absl::StatusOr<int64_t> Depth() override { return q_->Depth(); }
  absl::StatusOr<int64_t> Prune(absl::Time before) override { return q_->Prune(before); }
  int fail_acks = 0;

 private:
  AuditQueue* q_;
};

TEST(AuditConsumerTest, LostAckIsRedeliveredAndWrittenOnce) {
  TempDir dir;
  base::SimulatedEnv env;
  auto queue = SqliteAuditQueue::Open({.path = dir.path() + "/queue.db"});
  ASSERT_TRUE(queue.ok());
  FlakyAckQueue flaky(queue->get());
  std::vector<AuditEvent> events;
  for (int i = 0; i < 10; ++i) events.push_back(SampleEvent(i, env.Now() + absl::Seconds(i)));
  ASSERT_TRUE(flaky.Enqueue(events, env.Now()).ok());

  const std::string wdir = dir.path() + "/warehouse";
  {
    auto w = FileWarehouse::Create({.dir = wdir, .node = "node-1", .env = &env});
    ASSERT_TRUE(w.ok());
    AuditConsumer c({.queue = &flaky, .warehouse = w->get(), .env = &env, .batch = 4,
                     .lease = absl::Seconds(30)});
    flaky.fail_acks = 1;
    EXPECT_FALSE(c.RunOnce().ok());     // batch 0..3 written, ack lost
    EXPECT_EQ(*c.RunOnce(), 4);         // 4..7 (0..3 still leased)
    EXPECT_EQ(c.status().failures, 1);
  }
  // The audit service restarts; the lease of 0..3 runs out.
  env.AdvanceBy(absl::Seconds(31));
  auto w = FileWarehouse::Create({.dir = wdir, .node = "node-1", .env = &env});
  ASSERT_TRUE(w.ok());
  AuditConsumer c({.queue = &flaky, .warehouse = w->get(), .env = &env, .batch = 4});
  int total = 0;
  for (;;) {
    auto n = c.RunOnce();
    ASSERT_TRUE(n.ok()) << n.status();
    if (*n == 0) break;
    total += *n;
  }
  EXPECT_EQ(total, 6);  // 0..3 again and 8..9
  EXPECT_EQ((*w)->stats().duplicates_skipped, 4);
  EXPECT_EQ(*flaky.Depth(), 0);
  FileWarehouseReader reader(wdir, &env);
  auto r = VerifyWarehouse(reader, {});
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->ok) << r->problem;
  EXPECT_EQ(r->events, 10);
}

TEST(AuditConsumerTest, BackgroundTaskDrainsTheQueueThenPolls) {
  TempDir dir;
  base::SimulatedEnv env;
  auto queue = SqliteAuditQueue::Open({.path = dir.path() + "/queue.db"});
  ASSERT_TRUE(queue.ok());
  std::vector<AuditEvent> events;
  for (int i = 0; i < 25; ++i) events.push_back(SampleEvent(i, env.Now()));
  ASSERT_TRUE((*queue)->Enqueue(events, env.Now()).ok());
  auto w = FileWarehouse::Create({.dir = dir.path() + "/w", .node = "n", .env = &env});
  ASSERT_TRUE(w.ok());
  AuditConsumer c({.queue = queue->get(), .warehouse = w->get(), .env = &env, .batch = 10,
                   .poll_interval = absl::Seconds(1)});
  c.Start();
  EXPECT_EQ(c.status().events, 0);  // runs only when the simulated Env says so
  // Two full batches run back to back; the third (5 events) is not full, so the consumer
  // then waits for the poll interval.
  EXPECT_EQ(env.RunDueTasks(), 3);
  EXPECT_EQ(c.status().events, 25);
  EXPECT_EQ(c.status().batches, 3);
  EXPECT_EQ(*(*queue)->Depth(), 0);
  ASSERT_TRUE((*queue)->Enqueue({SampleEvent(100, env.Now())}, env.Now()).ok());
  EXPECT_EQ(env.RunDueTasks(), 0);
  EXPECT_EQ(env.RunFor(absl::Seconds(1)), 1);
  EXPECT_EQ(c.status().events, 26);
  c.Stop();
  ASSERT_TRUE((*queue)->Enqueue({SampleEvent(101, env.Now())}, env.Now()).ok());
  EXPECT_EQ(env.RunFor(absl::Minutes(1)), 0);  // stopped: never runs again
  EXPECT_EQ(c.status().events, 26);
}

}  // namespace
}  // namespace edgevault::audit
