#include "src/audit/queue_conformance.h"

#include <atomic>
#include <set>
#include <thread>
#include <vector>

#include "src/audit/test_util.h"

namespace edgevault::audit {

bool AuditQueueConformanceLinked() { return true; }

void AuditQueueConformanceTest::SetUp() {
  under_test_ = GetParam()();
  ASSERT_NE(under_test_.queue, nullptr) << "the factory returned no queue";
}

namespace {

using testing::SampleEvent;

const absl::Time kT0 = absl::FromUnixSeconds(1'800'000'000);

std::vector<AuditEvent> Events(int from, int to) {
  std::vector<AuditEvent> out;
  for (int i = from; i < to; ++i) out.push_back(SampleEvent(i, kT0 + absl::Seconds(i)));
  return out;
}

TEST_P(AuditQueueConformanceTest, EnqueueIsIdempotentOnEventId) {
  ASSERT_TRUE(queue().Enqueue(Events(0, 5), kT0).ok());
  ASSERT_TRUE(queue().Enqueue(Events(3, 8), kT0).ok());  // 3 and 4 again
  EXPECT_EQ(*queue().Depth(), 8);
  auto b = queue().Claim(100, absl::Seconds(30), kT0);
  ASSERT_TRUE(b.ok()) << b.status();
  ASSERT_EQ(b->events.size(), 8u);
  for (int i = 0; i < 8; ++i) EXPECT_EQ(b->events[i], SampleEvent(i, kT0 + absl::Seconds(i)));
}

TEST_P(AuditQueueConformanceTest, AckedIdsAreNotAcceptedAgainUntilPruned) {
  ASSERT_TRUE(queue().Enqueue(Events(0, 3), kT0).ok());
  auto b = queue().Claim(10, absl::Seconds(30), kT0);
  ASSERT_TRUE(b.ok());
  ASSERT_TRUE(queue().Ack(b->ids()).ok());
  EXPECT_EQ(*queue().Depth(), 0);
  // A relay re-sending after a crash: the tombstones swallow the copies.
  ASSERT_TRUE(queue().Enqueue(Events(0, 3), kT0 + absl::Minutes(1)).ok());
  EXPECT_EQ(*queue().Depth(), 0);
  EXPECT_TRUE(queue().Claim(10, absl::Seconds(30), kT0 + absl::Minutes(1))->events.empty());
  // Pruning forgets tombstones enqueued before the cut-off only.
  EXPECT_EQ(*queue().Prune(kT0), 0);
  EXPECT_EQ(*queue().Prune(kT0 + absl::Seconds(1)), 3);
  ASSERT_TRUE(queue().Enqueue(Events(0, 1), kT0 + absl::Hours(1)).ok());
  EXPECT_EQ(*queue().Depth(), 1);
}

TEST_P(AuditQueueConformanceTest, ClaimLeasesUntilExpiryThenRedelivers) {
  ASSERT_TRUE(queue().Enqueue(Events(0, 5), kT0).ok());
  auto first = queue().Claim(3, absl::Seconds(30), kT0);
  ASSERT_TRUE(first.ok());
  ASSERT_EQ(first->events.size(), 3u);
  EXPECT_EQ(first->lease_until, kT0 + absl::Seconds(30));
  // While leased, the same rows are not handed out again.
  auto second = queue().Claim(10, absl::Seconds(30), kT0 + absl::Seconds(10));
  ASSERT_TRUE(second.ok());
  ASSERT_EQ(second->events.size(), 2u);
  EXPECT_EQ(second->events[0].id, SampleEvent(3, kT0 + absl::Seconds(3)).id);
  EXPECT_TRUE(queue().Claim(10, absl::Seconds(30), kT0 + absl::Seconds(29))->events.empty());
  // The consumer of `first` crashed: after its lease the rows come back, oldest first.
  ASSERT_TRUE(queue().Ack(second->ids()).ok());
  auto again = queue().Claim(10, absl::Seconds(30), kT0 + absl::Seconds(30));
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->ids(), first->ids());
  EXPECT_EQ(*queue().Depth(), 3);
  ASSERT_TRUE(queue().Ack(again->ids()).ok());
  EXPECT_EQ(*queue().Depth(), 0);
  EXPECT_TRUE(queue().Claim(10, absl::Seconds(30), kT0 + absl::Hours(1))->events.empty());
}

TEST_P(AuditQueueConformanceTest, SecondHandleSeesTheSameQueue) {
  std::unique_ptr<AuditQueue> other = OpenAnother();
  ASSERT_NE(other, nullptr);
  ASSERT_TRUE(other->Enqueue(Events(0, 2), kT0).ok());
  auto b = queue().Claim(10, absl::Seconds(5), kT0);
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->events.size(), 2u);
  EXPECT_TRUE(other->Claim(10, absl::Seconds(5), kT0)->events.empty());
  EXPECT_FALSE(queue().Claim(0, absl::Seconds(5), kT0).ok());
}

// Two consumers (another node's handle) claiming at once: every event is handed out
// exactly once, however the claims interleave.
TEST_P(AuditQueueConformanceTest, ConcurrentClaimsFromTwoHandlesAreDisjoint) {
  ASSERT_TRUE(queue().Enqueue(Events(0, 200), kT0).ok());
  std::unique_ptr<AuditQueue> other = OpenAnother();
  ASSERT_NE(other, nullptr);
  std::vector<std::string> got[2];
  std::atomic<bool> failed{false};
  auto consume = [&](AuditQueue* q, std::vector<std::string>* out) {
    for (;;) {
      absl::StatusOr<ClaimedBatch> b = q->Claim(7, absl::Minutes(5), kT0);
      if (!b.ok()) {
        if (absl::IsUnavailable(b.status())) continue;  // SQLite: the other handle's write lock
        failed = true;
        return;
      }
      if (b->events.empty()) return;
      for (const std::string& id : b->ids()) out->push_back(id);
    }
  };
  std::thread a(consume, &queue(), &got[0]);
  std::thread b(consume, other.get(), &got[1]);
  a.join();
  b.join();
  ASSERT_FALSE(failed.load());
  std::set<std::string> all(got[0].begin(), got[0].end());
  all.insert(got[1].begin(), got[1].end());
  EXPECT_EQ(all.size(), 200u);
  EXPECT_EQ(got[0].size() + got[1].size(), 200u) << "an event was handed out twice";
}

}  // namespace
}  // namespace edgevault::audit
