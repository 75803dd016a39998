#include "src/audit/sqlite_queue.h"

#include "gtest/gtest.h"
#include "src/audit/test_util.h"

namespace edgevault::audit {
namespace {

using testing::SampleEvent;
using testing::TempDir;

const absl::Time kT0 = absl::FromUnixSeconds(1'800'000'000);

class SqliteQueueTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto q = SqliteAuditQueue::Open({.path = dir_.path() + "/queue.db"});
    ASSERT_TRUE(q.ok()) << q.status();
    queue_ = *std::move(q);
  }
  std::vector<AuditEvent> Events(int from, int to) {
    std::vector<AuditEvent> out;
    for (int i = from; i < to; ++i) out.push_back(SampleEvent(i, kT0 + absl::Seconds(i)));
    return out;
  }
  TempDir dir_;
  std::unique_ptr<SqliteAuditQueue> queue_;
};

TEST_F(SqliteQueueTest, EnqueueIsIdempotentOnEventId) {
  ASSERT_TRUE(queue_->Enqueue(Events(0, 5), kT0).ok());
  ASSERT_TRUE(queue_->Enqueue(Events(3, 8), kT0).ok());  // 3 and 4 again
  EXPECT_EQ(*queue_->Depth(), 8);
  auto b = queue_->Claim(100, absl::Seconds(30), kT0);
  ASSERT_TRUE(b.ok()) << b.status();
  ASSERT_EQ(b->events.size(), 8u);
  for (int i = 0; i < 8; ++i) EXPECT_EQ(b->events[i], SampleEvent(i, kT0 + absl::Seconds(i)));
}

TEST_F(SqliteQueueTest, AckedIdsAreNotAcceptedAgainUntilPruned) {
  ASSERT_TRUE(queue_->Enqueue(Events(0, 3), kT0).ok());
  auto b = queue_->Claim(10, absl::Seconds(30), kT0);
  ASSERT_TRUE(b.ok());
  ASSERT_TRUE(queue_->Ack(b->ids()).ok());
  EXPECT_EQ(*queue_->Depth(), 0);
  // A relay re-sending after a crash: the tombstones swallow the copies.
  ASSERT_TRUE(queue_->Enqueue(Events(0, 3), kT0 + absl::Minutes(1)).ok());
  EXPECT_EQ(*queue_->Depth(), 0);
  EXPECT_TRUE(queue_->Claim(10, absl::Seconds(30), kT0 + absl::Minutes(1))->events.empty());
  // Pruning forgets tombstones enqueued before the cut-off only.
  EXPECT_EQ(*queue_->Prune(kT0), 0);
  EXPECT_EQ(*queue_->Prune(kT0 + absl::Seconds(1)), 3);
  ASSERT_TRUE(queue_->Enqueue(Events(0, 1), kT0 + absl::Hours(1)).ok());
  EXPECT_EQ(*queue_->Depth(), 1);
}

TEST_F(SqliteQueueTest, ClaimLeasesUntilExpiryThenRedelivers) {
  ASSERT_TRUE(queue_->Enqueue(Events(0, 5), kT0).ok());
  auto first = queue_->Claim(3, absl::Seconds(30), kT0);
  ASSERT_TRUE(first.ok());
  ASSERT_EQ(first->events.size(), 3u);
  EXPECT_EQ(first->lease_until, kT0 + absl::Seconds(30));
  // While leased, the same rows are not handed out again.
  auto second = queue_->Claim(10, absl::Seconds(30), kT0 + absl::Seconds(10));
  ASSERT_TRUE(second.ok());
  ASSERT_EQ(second->events.size(), 2u);
  EXPECT_EQ(second->events[0].id, SampleEvent(3, kT0 + absl::Seconds(3)).id);
  EXPECT_TRUE(queue_->Claim(10, absl::Seconds(30), kT0 + absl::Seconds(29))->events.empty());
  // The consumer of `first` crashed: after its lease the rows come back, oldest first.
  ASSERT_TRUE(queue_->Ack(second->ids()).ok());
  auto again = queue_->Claim(10, absl::Seconds(30), kT0 + absl::Seconds(30));
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->ids(), first->ids());
  EXPECT_EQ(*queue_->Depth(), 3);
  ASSERT_TRUE(queue_->Ack(again->ids()).ok());
  EXPECT_EQ(*queue_->Depth(), 0);
  EXPECT_TRUE(queue_->Claim(10, absl::Seconds(30), kT0 + absl::Hours(1))->events.empty());
}

TEST_F(SqliteQueueTest, SecondConnectionSeesTheSameQueue) {
  auto other = SqliteAuditQueue::Open({.path = dir_.path() + "/queue.db"});
  ASSERT_TRUE(other.ok());
  ASSERT_TRUE((*other)->Enqueue(Events(0, 2), kT0).ok());
  auto b = queue_->Claim(10, absl::Seconds(5), kT0);
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->events.size(), 2u);
  EXPECT_TRUE((*other)->Claim(10, absl::Seconds(5), kT0)->events.empty());
  EXPECT_FALSE(queue_->Claim(0, absl::Seconds(5), kT0).ok());
}

}  // namespace
}  // namespace edgevault::audit
